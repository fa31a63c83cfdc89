"""The cluster projection's scheduler: dependencies respected, slots never oversubscribed."""

import pandas as pd
import pytest

from benchmarks.studies.cluster_projection import TORCH_CODECS, Task, chains, schedule, tasks_of


def test_list_scheduling_waits_for_training_and_fills_every_slot():
    tasks = [Task("train a", 10), Task("a1", 5, after=["train a"]), Task("a2", 5, after=["train a"]),
             Task("b", 12), Task("c", 3)]
    assert chains(tasks)["train a"] == 15
    assert schedule(tasks, {"cpu": 1}) == 35  # one slot: the sum
    assert schedule(tasks, {"cpu": 2}) == 18  # train a + a1 (15) beside b, then c and a2 behind them
    assert schedule(tasks, {"cpu": 10}) == 15  # bounded by the longest chain


def test_a_results_table_becomes_a_training_task_and_the_cells_that_wait_for_it():
    table = pd.DataFrame({
        "codec": ["conv-ae", "conv-ae", "gzip"], "config": ["conv-ae", "conv-ae:step=1", "gzip"],
        "fit_s": [80.0, 0.01, 0.0], "wall_s": [100.0, 20.0, 4.0], "training_task_s": [80.0, None, None],
        "device": ["cpu"] * 3})
    TORCH_CODECS.add("conv-ae")
    tasks = {t.name: t for t in tasks_of(table)}
    assert tasks["train conv-ae"].seconds == 80.0
    assert tasks["conv-ae"].seconds == pytest.approx(20.0) and tasks["conv-ae"].after == ["train conv-ae"]
    assert tasks["gzip"].after == [] and tasks["gzip"].seconds == 4.0
    on_gpu = {t.name: t for t in tasks_of(table, {"conv-ae": (30.0, 5.0)})}
    assert on_gpu["train conv-ae"].seconds == 30.0 and on_gpu["conv-ae:step=1"].seconds == 5.0
    assert on_gpu["conv-ae"].pool == "gpu" and on_gpu["gzip"].pool == "cpu"
