"""The codec API: what a codec is (`codec`), the one table of codecs (`registry`), their budgets
(`profiles`) and their identity (`identity`: the content hash a cache or a result is keyed by).

May import: `bench.errors`, `bench.data` (the run's data: `RunContext.split`). Everything else in
`bench` builds on this; `tests/test_layout.py` checks every layer's imports.
"""
