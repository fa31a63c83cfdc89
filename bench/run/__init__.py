"""Running and measuring cells: the one measurement of a configuration (`measure`), one cell and its
row (`cell`), the executors that run cells (`executor`, `ray_executor`), the whole run around them
(`runner`), the results store and its columns (`results`, `schema`), the report's per-cell samples
(`artifacts`), metrics, timing and provenance (`environment`).

May import: every package below it (`api`, `data`, `coding`, `learn`). Never the report.
"""
