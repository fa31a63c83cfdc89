"""The whole run: plan the cells, skip the finished ones (`resume`), hand the rest to an executor and
append each row to the results store as it arrives. The cell itself is `bench.run.cell`; this module
sits above the executors, which run cells and know nothing of the store.
"""

from __future__ import annotations

from bench.api.codec import RunContext
from bench.api.registry import BrokenConfig
from bench.run import artifacts
from bench.run.cell import broken_row, plan, summary_line
from bench.run.executor import LocalExecutor
from bench.run.results import ResultsStore


def run(configs, *, split: str, limit: int | None, repeat: int, ctx: RunContext, out_dir, resume: bool,
        echo=print, executor=None, seeding=None) -> ResultsStore:
    """Run every cell not already done (with `resume`), appending each row as it finishes.

    `configs`: `(name, params)` pairs and `BrokenConfig` placeholders (`parse_spec(..., broken=True)`),
    which become failed rows at once. `seeding`: the seeds each configuration runs under (`plan`)."""
    store = ResultsStore(out_dir, resume=resume)
    done = store.done_keys() if resume else set()
    for broken in (c for c in configs if isinstance(c, BrokenConfig)):
        row = broken_row(broken, split, ctx)
        store.append(row)
        echo(summary_line(row))
    cells = plan([c for c in configs if not isinstance(c, BrokenConfig)], split, limit, repeat, ctx, seeding)
    todo = [cell for cell in cells if cell.key not in done]
    store.order = [cell.key for cell in cells]
    for row in (executor or LocalExecutor()).run(todo, ctx):
        artifacts.save(store.dir, row)
        store.append(row)
        echo(summary_line(row))
    if len(todo) < len(cells):
        echo(f"resumed: {len(cells) - len(todo)} finished cell(s) skipped")
    return store
