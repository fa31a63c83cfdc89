"""The entropy-coding and stream toolkit for codec authors: integer probability tables and the range
coder (`entropy`), the one sealed stream format and byte containers (`container`), range-coded latent
streams with factorised tables (`latent_stream`), digits tiled into one picture (`mosaic`), per-image
parallel coding (`parallel`), float settings a stream records (`reproducible`).

May import: `bench.errors`, `bench.api`, `bench.data`. Never the runner or the report.
"""
