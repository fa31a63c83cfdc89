"""`--executor ray` on a local Ray instance this module starts (loopback only, 2 CPUs, shut down at the end):
the rows a local run gives, failed rows for raising cells and dying workers (from inside the codec and
killed from outside), resume after an interrupt."""

import os
import signal
import threading
import time

# Before Ray is imported: a local instance on the loopback address, never this machine's network one.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import numpy as np
import psutil
import pytest
import ray
import torch

from bench import ImageCodec, register_codec
from bench.api.codec import RunContext
from bench.cli import main as bench_main
from bench.run.cell import plan
from bench.run.executor import LocalExecutor
from bench.run.ray_executor import RayExecutor
from bench.run.results import ResultsStore
from bench.run.runner import run
from benchmarks.gates.golden import ACCURACY_ABS_TOL, LEARNED_REL_TOL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    yield
    ray.shutdown()


def _grid():
    return [("gzip", {"framing": "whole"}), ("raw", {"framing": "per-image"}), ("pca", {}),
            ("pca", {"components": 784, "step": 0.5}), ("conv-ae", {"latent_dims": 8}),
            ("conv-ae", {"latent_dims": 39})]


def test_ray_cells_give_the_rows_the_local_executor_gives(local_ray, tmp_path):
    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "local-cache")
    cells = plan(_grid(), "test", 200, 1, ctx)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a Ray task asking for one CPU: the same float arithmetic
    try:
        alone = {row["cell_key"]: row for row in LocalExecutor().run(cells, ctx)}
    finally:
        torch.set_num_threads(threads)
    on_ray = {row["cell_key"]: row for row in RayExecutor().run(cells, RunContext(profile="smoke",
                                                                               cache_dir=tmp_path / "ray-cache"))}
    assert on_ray.keys() == alone.keys() == {cell.key for cell in cells}
    for key, row in on_ray.items():
        local = alone[key]
        assert row["status"] == local["status"] == "ok", row["error"]
        assert row["payload_bytes"] == local["payload_bytes"], row["config"]
        assert row["lossless_ok"] == local["lossless_ok"]
        assert row["mse"] == pytest.approx(local["mse"], rel=LEARNED_REL_TOL, abs=1e-12)
        if local.get("accuracy") is not None:
            assert abs(row["accuracy"] - local["accuracy"]) <= ACCURACY_ABS_TOL, row["config"]
        assert row["node"] and 1 <= row["concurrent_cells"] <= 2
    # Each learned codec trained once, in its own task; the first cell of the codec carries the time.
    trained = [row["config"] for row in on_ray.values() if row.get("training_task_s")]
    assert sorted(trained) == ["conv-ae:latent_dims=8", "pca"]
    assert ray.is_initialized()  # a Ray the executor joined is left running


def _register_test_codecs():
    """Codecs defined here, not in an importable module: the tasks carry them to the workers."""

    @register_codec("test-ray-raises")
    class Raises(ImageCodec):
        def compress(self, images):
            raise ValueError("this codec always fails")

    @register_codec("test-ray-dies")
    class Dies(ImageCodec):
        """Kills its worker process mid-cell; with `marker`, only the first time (marker written first)."""

        def __init__(self, marker: str = ""):
            self.marker = marker

        def compress(self, images):
            if not self.marker or not os.path.exists(self.marker):
                if self.marker:
                    open(self.marker, "w").close()
                os.kill(os.getpid(), 9)
            return np.ascontiguousarray(images).tobytes()

        def decompress(self, data):
            return np.frombuffer(data, np.uint8).reshape(-1, 28, 28)


def test_a_raising_cell_and_a_dying_worker_leave_rows_never_none(local_ray, tmp_path, temporary_codecs):
    _register_test_codecs()
    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "cache")
    marker = str(tmp_path / "died-once")
    configs = [("test-ray-raises", {}), ("test-ray-dies", {"marker": marker}), ("test-ray-dies", {}),
               ("raw", {"framing": "whole"})]
    rows = {row["config"]: row for row in RayExecutor().run(plan(configs, "test", 20, 1, ctx), ctx)}
    assert len(rows) == 4
    assert rows["test-ray-raises"]["status"] == "failed"
    assert rows["test-ray-raises"]["error"] == "ValueError: this codec always fails"
    retried = rows[f"test-ray-dies:marker={marker}"]
    assert os.path.exists(marker) and retried["status"] == "ok" and retried["lossless_ok"]  # died once, retried
    assert rows["test-ray-dies"]["status"] == "failed"
    assert rows["test-ray-dies"]["error"].startswith("the Ray worker running this cell died (")
    assert rows["raw"]["status"] == "ok"


def _register_slow_codec():
    @register_codec("test-ray-waits")
    class Waits(ImageCodec):
        """Writes its worker's pid to `pid_file` and waits to be killed; once the file exists (the retry),
        it codes at once."""

        def __init__(self, pid_file: str = ""):
            self.pid_file = pid_file

        def compress(self, images):
            if not os.path.exists(self.pid_file):
                with open(self.pid_file + ".part", "w") as f:
                    f.write(str(os.getpid()))
                os.replace(self.pid_file + ".part", self.pid_file)
                time.sleep(120)  # killed from outside long before this ends
            return np.ascontiguousarray(images).tobytes()

        def decompress(self, data):
            return np.frombuffer(data, np.uint8).reshape(-1, 28, 28)


def _kill_when_written(pid_file: str, killed: list) -> None:
    deadline = time.monotonic() + 90
    while not os.path.exists(pid_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(open(pid_file).read())
    killed.append(psutil.Process(pid).name())
    os.kill(pid, signal.SIGKILL)


def test_a_worker_killed_from_outside_mid_cell_is_retried_and_every_row_comes_once(
        local_ray, tmp_path, temporary_codecs):
    _register_slow_codec()
    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "cache")
    pid_file = str(tmp_path / "worker.pid")
    configs = [("test-ray-waits", {"pid_file": pid_file}), ("raw", {"framing": "whole"}),
               ("gzip", {"framing": "whole"})]
    killed: list[str] = []
    killer = threading.Thread(target=_kill_when_written, args=(pid_file, killed), daemon=True)
    killer.start()
    rows = list(RayExecutor().run(plan(configs, "test", 20, 1, ctx), ctx))
    killer.join(timeout=5)
    assert killed and killed[0].startswith("ray::"), killed  # a Ray worker process, SIGKILLed by this test
    assert sorted(row["config"] for row in rows) == sorted(["gzip", "raw", f"test-ray-waits:pid_file={pid_file}"])
    assert all(row["status"] == "ok" and row["lossless_ok"] for row in rows), [row["error"] for row in rows]


class _Interrupt:
    """An echo that raises KeyboardInterrupt after the first row, as Ctrl-C would."""

    def __init__(self):
        self.lines = 0

    def __call__(self, line):
        self.lines += 1
        raise KeyboardInterrupt


def test_an_interrupted_ray_run_keeps_its_rows_and_resumes(local_ray, tmp_path):
    ctx = RunContext(profile="smoke", cache_dir=tmp_path / "cache")
    configs = [("gzip", {"framing": "whole"}), ("bz2", {"framing": "whole"}), ("lzma", {"framing": "whole"}),
               ("raw", {"framing": "whole"})]
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run(configs, split="test", limit=200, repeat=1, ctx=ctx, out_dir=out, resume=False, echo=_Interrupt(),
            executor=RayExecutor())
    kept = ResultsStore(out).table()
    assert len(kept) == 1 and ray.is_initialized()
    lines = []
    store = run(configs, split="test", limit=200, repeat=1, ctx=ctx, out_dir=out, resume=True, echo=lines.append,
                executor=RayExecutor())
    table = store.table()
    assert sorted(table["config"]) == ["bz2", "gzip", "lzma", "raw"] and (table["status"] == "ok").all()
    assert len(lines) == 4 and lines[-1] == "resumed: 1 finished cell(s) skipped"  # three run, one kept


def test_the_cli_runs_on_ray_and_refuses_mixed_flags(local_ray, tmp_path, capsys):
    out = tmp_path / "out"
    code = bench_main(["run", "--executor", "ray", "--codecs", "gzip,raw", "--split", "test", "--limit", "50",
                       "--out", str(out), "--no-report", "--cache-dir", str(tmp_path / "cache")])
    printed = capsys.readouterr().out
    assert code == 0 and "Ray (local instance on 127.0.0.1:" in printed and "4 row(s), 0 failed" in printed
    assert bench_main(["run", "--address", "auto", "--codecs", "raw", "--out", str(out)]) == 2
    assert "--address need --executor ray" in capsys.readouterr().err
    assert bench_main(["run", "--executor", "ray", "--jobs", "2", "--codecs", "raw", "--out", str(out)]) == 2
    assert "--jobs is for --executor local" in capsys.readouterr().err
