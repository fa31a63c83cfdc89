"""Project a sweep's wall time onto more machines from its measured per-cell costs (feeds
docs/results.md, "On a cluster").

    python benchmarks/studies/cluster_projection.py runs/full/results.csv [--gpu-table results/lossy-gpu.csv]

The model is the Ray executor's: one task per cell, and per learned codec with several configurations
one training task that its cells wait for. A cell costs what its row measured (`wall_s`, less the
training its row carries: `training_task_s`, or on a local run the first cell's `fit_s`); the training
task costs that training. Tasks are list-scheduled on identical slots, the ready task with the longest
remaining chain first (a training task's chain is itself plus its longest cell). Printed per scenario:
the projected wall, and what bounds it: the work over the slots, or the longest chain of dependent
tasks (no number of machines goes below it).

Scenarios: this machine (2 slots); 8 such machines (16 slots); 8 GPUs, where torch cells take one GPU
each and cost what `--gpu-table` measured for their family (mean over its rows, training as measured
there, at that table's profile: results/lossy-gpu.csv is `--profile full`), families it lacks keep
their CPU cost here (named: no GPU measurement, so not a bound either way), and every other cell
takes one of 16 CPU slots. Data transfer, Ray's start and the report are not counted.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Task:
    name: str
    seconds: float
    pool: str = "cpu"  # which slots it runs on
    after: list[str] = field(default_factory=list)  # tasks it waits for


def tasks_of(table, gpu_costs: dict | None = None) -> list[Task]:
    """Training and cell tasks of a results table (one row per cell); with `gpu_costs` (codec ->
    (training s, cell s without training)), that codec's cells on the GPU pool at those costs, a cell
    that trained its own model here (its `fit_s` over a second) training there too."""
    tasks: list[Task] = []
    for codec, rows in table.groupby("codec", sort=False):
        rows = rows.reset_index(drop=True)
        carried = rows["training_task_s"] if "training_task_s" in rows else None
        training = float(carried.fillna(0).max()) if carried is not None else 0.0
        if not training and len(rows) > 1 and float(rows["fit_s"].iloc[0]) > 1.0:
            training = float(rows["fit_s"].iloc[0])  # a local run: the first cell trained the shared model
        costs = [float(w) for w in rows["wall_s"]]
        costs[0] = max(0.0, costs[0] - training)
        own_training = [float(f) > 1.0 for f in rows["fit_s"]]
        own_training[0] = float(rows["fit_s"].iloc[0]) - training > 1.0
        pool = "cpu"
        if gpu_costs is not None and codec in TORCH_CODECS:
            pool = "gpu"
            if codec in gpu_costs:
                gpu_training, cell_s = gpu_costs[codec]
                training = gpu_training if training else 0.0
                costs = [cell_s + (gpu_training if own else 0.0) for own in own_training]
        after = []
        if training and len(rows) > 1:
            tasks.append(Task(f"train {codec}", training, pool))
            after = [f"train {codec}"]
        elif training:
            costs[0] += training  # a single cell trains for itself
        tasks += [Task(f"{config}", cost, pool, list(after)) for config, cost in zip(rows["config"], costs, strict=True)]
    return tasks


#: Codecs whose cells compute in torch (the registry's `uses_torch`), read once.
TORCH_CODECS: set[str] = set()


def chains(tasks: list[Task]) -> dict[str, float]:
    """Each task's longest chain of dependent tasks from its start (itself plus its longest follower)."""
    followers: dict[str, list[Task]] = {}
    for task in tasks:
        for before in task.after:
            followers.setdefault(before, []).append(task)
    return {t.name: t.seconds + max((f.seconds for f in followers.get(t.name, [])), default=0.0) for t in tasks}


def schedule(tasks: list[Task], slots: dict[str, int]) -> float:
    """Makespan of list scheduling: whenever a slot of a pool is free, the ready task of that pool
    with the longest chain starts."""
    chain = chains(tasks)
    waiting = {t.name: set(t.after) for t in tasks}
    by_name = {t.name: t for t in tasks}
    ready = {pool: [] for pool in slots}
    for t in tasks:
        if not t.after:
            heapq.heappush(ready[t.pool], (-chain[t.name], t.name))
    free = dict(slots)
    running: list[tuple[float, str]] = []
    now, done = 0.0, 0
    while done < len(tasks):
        for pool in slots:
            while free[pool] and ready[pool]:
                _, name = heapq.heappop(ready[pool])
                free[pool] -= 1
                heapq.heappush(running, (now + by_name[name].seconds, name))
        if not running:
            raise ValueError("a task waits for one that never runs")
        now, name = heapq.heappop(running)
        free[by_name[name].pool] += 1
        done += 1
        for other, needs in waiting.items():
            if name in needs:
                needs.discard(name)
                if not needs:
                    heapq.heappush(ready[by_name[other].pool], (-chain[other], other))
    return now


def describe(label: str, tasks: list[Task], slots: dict[str, int]) -> str:
    wall = schedule(tasks, slots)
    chain = chains(tasks)
    longest = max(chain, key=chain.get)
    work = {pool: sum(t.seconds for t in tasks if t.pool == pool) / n for pool, n in slots.items()}
    bound = "the longest chain" if chain[longest] >= max(work.values()) * 0.999 else "the work per slot"
    per_pool = ", ".join(f"{pool} work / {n} slots = {work[pool] / 60:.1f} min" for pool, n in slots.items())
    return (f"{label}: {wall / 60:6.1f} min  ({per_pool}; longest chain {chain[longest] / 60:.1f} min: "
            f"{longest}; bound: {bound})")


def gpu_costs_of(path: Path) -> dict[str, tuple[float, float]]:
    """codec -> (training s, mean cell s without training) from a GPU results table."""
    import pandas as pd

    gpu = pd.read_csv(path)
    gpu = gpu[gpu["status"] == "ok"]
    return {codec: (float(rows["fit_s"].max()), float((rows["wall_s"] - rows["fit_s"]).mean()))
            for codec, rows in gpu.groupby("codec")}


def main(argv=None) -> None:
    sys.path.insert(0, str(ROOT))
    import pandas as pd

    from bench.api.registry import get_entry, list_codecs

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("table", type=Path, help="results table of the sweep (one row per cell)")
    parser.add_argument("--gpu-table", type=Path, default=ROOT / "results" / "lossy-gpu.csv")
    args = parser.parse_args(argv)
    TORCH_CODECS.update(n for n in list_codecs() if get_entry(n).cls.uses_torch)
    table = pd.read_csv(args.table)
    table = table[table["status"] == "ok"]
    tasks = tasks_of(table)
    total = sum(t.seconds for t in tasks)
    print(f"{args.table}: {len(table)} cells, {len(tasks) - len(table)} training tasks, "
          f"{total / 3600:.2f} h of task time")
    print(describe("one 2-core machine (2 slots)", tasks, {"cpu": 2}))
    print(describe("8 such machines (16 slots)  ", tasks, {"cpu": 16}))
    gpu_costs = gpu_costs_of(args.gpu_table)
    gpu_tasks = tasks_of(table, gpu_costs)
    measured = sorted(c for c in TORCH_CODECS & set(table["codec"]) if c in gpu_costs)
    unmeasured = sorted(c for c in TORCH_CODECS & set(table["codec"]) if c not in gpu_costs)
    print(describe("8 GPUs + 16 CPU slots       ", gpu_tasks, {"gpu": 8, "cpu": 16}))
    print(f"  GPU costs measured ({args.gpu_table.name}, its profile and split): {', '.join(measured)}; "
          f"no GPU measurement, at their CPU cost here (not a bound): {', '.join(unmeasured) or 'none'}")


if __name__ == "__main__":
    main()
