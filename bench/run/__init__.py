"""Running and measuring cells: the cell and its key (`runner`), the one measurement of a configuration
(`measure`), the executor that runs cells (`executor`), the results store (`results`), the report's
per-cell samples (`artifacts`), metrics, timing and provenance (`environment`).

May import: every package below it (`api`, `data`, `coding`, `learn`). Never the report.
"""
