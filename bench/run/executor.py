"""Executors run planned cells (`bench.run.cell`) and yield their rows as they finish; `bench.run.runner.run` stores them.

An executor is anything with `run(cells, ctx) -> Iterator[row]` that yields exactly one row per cell
(a failed row for a cell that could not run, never none). Two live here:

- `LocalExecutor`: every cell in this process, one after another: each cell's timings are of a
  cell alone on the machine.
- `ProcessExecutor(jobs)`: cells side by side in `jobs` worker processes. The cells of one codec
  run in one worker, one after another, so configurations that share a trained model train it once
  and never race for the model cache; configurations with models of their own (the codec's
  `model_params`, e.g. hyperprior's one model per `lam`) are groups of their own. Torch threads and per-image coding workers are split between
  the jobs, so the machine is used but not oversubscribed.

Every row says how many cells ran at once while it ran (`concurrent_cells`: 1 = alone), so a
reader can tell a timing taken beside another cell from one taken alone.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Iterable, Iterator

from bench.api.codec import RunContext
from bench.api.registry import get_entry
from bench.errors import CodecError
from bench.run.cell import Cell, failed_cell_row, run_cell


class LocalExecutor:
    """Every cell in this process, in plan order: timings are of a cell alone on the machine."""

    def run(self, cells: Iterable[Cell], ctx: RunContext) -> Iterator[dict]:
        for cell in cells:
            row = run_cell(cell, ctx)
            row["concurrent_cells"] = 1
            yield row


class Overlaps:
    """How many cells ran at once: for each finished cell, itself plus every other runner (a worker
    process, a cluster task) whose cell overlapped it in time, finished or still running."""

    def __init__(self):
        self.running: dict[object, float] = {}  # runner -> start of its current cell
        self.spans: list[tuple[object, float, float]] = []  # finished cells: (runner, start, end)

    def started(self, runner, start: float) -> None:
        self.running[runner] = start

    def finished(self, runner, end: float, start: float | None = None) -> int:
        """`concurrent_cells` of the cell `runner` just finished (`start`: if it was not `started`)."""
        start = self.running.pop(runner, end if start is None else start)
        others = {r for r, s, e in self.spans if r != runner and s < end and e > start}
        others |= {r for r, s in self.running.items() if r != runner and s < end}
        self.spans.append((runner, start, end))
        return 1 + len(others)


def default_jobs() -> int:
    """One job per core, at most 8 (each job holds the dataset and its own torch)."""
    return max(1, min(os.cpu_count() or 1, 8))


def group_by_codec(cells: Iterable[Cell]) -> list[list[Cell]]:
    """The cells of each codec together, codecs in the order they first appear (the suite's order); a
    codec's configurations that differ in its `model_params` (separate models) are groups of their own."""
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        # Another seed trains another model: its cells may run beside the first seed's.
        groups.setdefault((cell.codec, cell.seed, *_model_choice(cell)), []).append(cell)
    return list(groups.values())


def _model_choice(cell: Cell) -> tuple:
    try:
        names = get_entry(cell.codec).cls.model_params
    except CodecError:  # an unknown or broken codec: its cells fail on their own, one group is enough
        return ()
    params = cell.param_dict
    return tuple(repr(params.get(name)) for name in names)


def use_threads(threads: int) -> None:
    """Give this worker process its share of the machine: torch threads, BLAS threads (numpy's PCA,
    scikit-learn) and per-image coding pools (`BENCH_WORKERS`). Every executor's workers call it, so
    a cell computes with the same thread counts, hence the same floats, whichever ran it."""
    import torch
    from threadpoolctl import threadpool_limits

    os.environ["BENCH_WORKERS"] = str(threads)
    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)  # for the rest of the process


def _worker(index: int, tasks, results, ctx: RunContext, threads: int) -> None:
    """A worker process: take a group of cells, run them one by one, report each start and row."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops us
    use_threads(threads)
    while (task := tasks.get()) is not None:
        group_index, group = task
        results.put(("group", index, group_index))
        for cell in group:
            results.put(("start", index, cell.key, time.time()))
            try:
                row = run_cell(cell, ctx, position=index)
            except KeyboardInterrupt:  # a SIGINT sent to this process itself: the run is interrupted
                results.put(("interrupted", index))
                return
            results.put(("row", index, cell.key, time.time(), row))
    results.put(("exit", index))


class ProcessExecutor:
    """Cells side by side in `jobs` worker processes."""

    def __init__(self, jobs: int | None = None, poll_s: float = 2.0):
        self.jobs = jobs or default_jobs()
        self.poll_s = poll_s

    def run(self, cells: Iterable[Cell], ctx: RunContext) -> Iterator[dict]:
        groups = group_by_codec(cells)
        if not groups:
            return
        jobs = min(self.jobs, len(groups))
        if jobs == 1:  # nothing to run beside: no worker process needed
            yield from LocalExecutor().run([cell for group in groups for cell in group], ctx)
            return
        threads = max(1, (os.cpu_count() or 1) // jobs)
        # Fork on the CPU: workers inherit the loaded data and the registry, codecs registered at run
        # time included (torch's thread pool is rebuilt in the child, as for DataLoader workers). A
        # process that has touched CUDA cannot fork a child that uses it: spawn there.
        fork = not ctx.device.startswith("cuda") and "fork" in multiprocessing.get_all_start_methods()
        mp = multiprocessing.get_context("fork" if fork else "spawn")
        tasks, results = mp.Queue(), mp.Queue()
        for task in enumerate(groups):
            tasks.put(task)
        for _ in range(jobs):
            tasks.put(None)
        workers = {index: mp.Process(target=_worker, args=(index, tasks, results, ctx, threads), daemon=True,
                                     name=f"bench-job-{index}") for index in range(jobs)}
        for process in workers.values():
            process.start()
        pending = {cell.key: cell for group in groups for cell in group}
        held: dict[int, int] = {}  # worker -> the group it runs
        overlaps = Overlaps()  # runners are the worker indices
        exited: set[int] = set()
        try:
            while pending:
                try:
                    message = results.get(timeout=self.poll_s)
                except queue.Empty:
                    yield from _rows_of_dead_workers(workers, exited, held, overlaps.running, groups, pending, ctx)
                    continue
                kind, index = message[0], message[1]
                if kind == "group":
                    held[index] = message[2]
                elif kind == "start":
                    overlaps.started(index, message[3])
                elif kind == "row":
                    key, end, row = message[2], message[3], message[4]
                    row["concurrent_cells"] = overlaps.finished(index, end)
                    if pending.pop(key, None) is not None:
                        yield row
                elif kind == "interrupted":
                    raise KeyboardInterrupt
                elif kind == "exit":
                    exited.add(index)
                    held.pop(index, None)
        finally:
            for process in workers.values():
                if process.is_alive():
                    process.terminate()
            for process in workers.values():
                process.join(timeout=10)


def _rows_of_dead_workers(workers, exited, held, running, groups, pending, ctx) -> Iterator[dict]:
    """A worker that died (killed, out of memory) fails its cell and the rest of its group."""
    for index, process in list(workers.items()):
        if process.is_alive() or index in exited:
            continue
        exited.add(index)
        running.pop(index, None)
        reason = f"worker process died (exit code {process.exitcode}) while running this codec's cells"
        for cell in groups[held.pop(index)] if index in held else []:
            if pending.pop(cell.key, None) is not None:
                yield failed_cell_row(cell, ctx, reason)
    if pending and all(i in exited for i in workers):  # nobody is left to run what is queued
        for key in list(pending):
            yield failed_cell_row(pending.pop(key), ctx, "no worker process was left to run this cell")
