"""Executors run planned cells and yield their rows as they finish; `bench.run.runner.run` stores them.

An executor is anything with `run(cells, ctx) -> Iterator[row]` that yields exactly one row per cell
(a failed row for a cell that could not run, never none). `LocalExecutor` runs them one after
another in this process; a cluster executor goes beside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bench.api.codec import RunContext
from bench.run.runner import Cell, run_cell


class LocalExecutor:
    """Every cell in this process, in plan order: timings are of a cell alone on the machine."""

    def run(self, cells: Iterable[Cell], ctx: RunContext) -> Iterator[dict]:
        for cell in cells:
            yield run_cell(cell, ctx)
