"""`RayExecutor`: every cell a Ray task, on a local Ray instance or a cluster (`bench run --executor ray`).

It yields the rows the local executors yield (same cell keys, same columns, plus the `node` every row
has), so one results store takes them whatever ran them. What a cluster changes, and how:

- Data: the driver loads the train and test arrays once and puts them in Ray's object store; each
  node fetches them once and each worker process installs them once (`bench.data.mnist.use_loaded`):
  no worker reads a data folder.
- Trained models: the cells of a learned codec with several configurations wait for one training
  task (its first configuration's `fit`), which fills the model cache; they then load the model from
  there. `bench.learn.model_cache.training_lock` makes any other model or classifier that two cells
  need at once be trained once. On a cluster the cache folder (`--cache-dir`) must be shared storage.
- Failures: a cell whose code raises gives its failed row inside its task, as `run_cell` always does.
  A worker process or node that dies mid-cell is retried once by Ray (`max_retries=1`); dying again,
  or a failed training task, gives a failed row that says so. Never a missing row.
- Ctrl-C cancels every outstanding task; the rows already yielded are in the store, and `--resume`
  skips them whichever executor wrote them.
- Codecs registered at run time (tests, notebooks) travel with the tasks: each task carries its
  codec's registry entry, and a worker registers what it lacks.
- The local instance (no `--address`) listens on loopback only: Ray's APIs run arbitrary code, so a
  node reachable from the network is a remote shell. Ray binds its GCS, raylet, object manager and
  workers to the node's address, and picks the machine's network address for a node unless it runs
  single-machine (its `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` mode, loopback), which this module sets
  before Ray is imported; a local instance that reports any other address is shut down and refused.

Ray is an optional extra (`pip install .[ray]`); nothing else in the bench imports this module.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable, Iterator

from bench.api.codec import Codec, RunContext
from bench.api.registry import CodecEntry, adopt_entry, get_entry
from bench.errors import BenchError, one_line
from bench.run.cell import Cell, cell_context, failed_cell_row, run_cell
from bench.run.executor import Overlaps, group_by_codec, use_threads

#: A worker that dies mid-cell is retried this many times before the cell's row says failed.
RETRIES = 1
#: Seconds between checks for finished tasks and started cells.
POLL_S = 1.0


#: Ray's single-machine mode: node address 127.0.0.1, so every server of the node binds to loopback.
#: Read by Ray when it is imported; a joined cluster (`--address`) is not affected by it.
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _import_ray(local: bool = False):
    if local:
        os.environ[SINGLE_MACHINE_ENV] = "0"
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs Ray: pip install '.[ray]' (scripts/setup.sh installs it)") from None
    return ray


# -- what runs on a worker -----------------------------------------------------------------------
_INSTALLED_DATA: set[str] = set()  # object ids of the data this worker process has installed


def _prepare_worker(data: list, ctx: RunContext, entry: CodecEntry, threads: int) -> None:
    """Install the run's data (once per worker process), the codec's entry and this task's CPU share."""
    import ray

    from bench.data import mnist

    ref = data[0]  # nested in a list, so Ray hands over the reference and the data is fetched once
    if ref.hex() not in _INSTALLED_DATA:
        mnist.use_loaded(ray.get(ref), ctx.data_dir)
        _INSTALLED_DATA.add(ref.hex())
    adopt_entry(entry)
    use_threads(threads)  # this task's CPUs


def _runner() -> tuple[str, int]:
    """Who runs a task: (machine, worker process), which runs one task at a time."""
    import socket

    return socket.gethostname(), os.getpid()


def _cell_task(cell: Cell, ctx: RunContext, data: list, entry: CodecEntry, threads: int, starts,
               trained=None) -> tuple[dict, tuple, float, float]:
    """One cell on a worker: (its row, runner, start, end). `trained`: the training task's result,
    which Ray waits for before it starts this task."""
    _prepare_worker(data, ctx, entry, threads)
    runner, start = _runner(), time.time()
    starts.add.remote(runner, start, cell.key)
    row = run_cell(cell, ctx)
    return row, runner, start, time.time()


def _training_task(cell: Cell, ctx: RunContext, data: list, entry: CodecEntry, threads: int,
                   starts) -> tuple[float, tuple, float, float]:
    """Train (into the model cache) what `cell`'s codec fits on the train split: (seconds, runner,
    start, end)."""
    from bench.api.registry import create_codec

    _prepare_worker(data, ctx, entry, threads)
    runner, start = _runner(), time.time()
    starts.add.remote(runner, start, f"training:{cell.key}")
    started = time.perf_counter()
    ctx = cell_context(cell, ctx)  # the model the cell's seed trains
    create_codec(cell.codec, ctx, **cell.param_dict).fit(ctx.split("train"))
    return time.perf_counter() - started, runner, start, time.time()


class _Starts:
    """A small actor the tasks tell when they start, so the driver can count the cells running at once."""

    def __init__(self):
        self.pending: list[tuple[tuple, float, str]] = []

    def add(self, runner: tuple, start: float, task: str) -> None:
        self.pending.append((runner, start, task))

    def drain(self) -> list[tuple[tuple, float, str]]:
        pending, self.pending = self.pending, []
        return pending


# -- the driver ----------------------------------------------------------------------------------
class RayExecutor:
    """Cells as Ray tasks. `address`: None starts a local Ray instance on this machine (every core,
    shut down afterwards); "auto" or "HOST:PORT" joins a running cluster.

    `gpus_per_cell`: GPUs a torch cell asks for (default 1 when the run's device is CUDA, else 0);
    `cpus_per_cell`: CPUs a torch cell asks for (default 1; its torch threads). Classical cells ask
    for one CPU."""

    def __init__(self, address: str | None = None, *, gpus_per_cell: float | None = None, cpus_per_cell: int = 1,
                 num_cpus: int | None = None, poll_s: float = POLL_S):
        if gpus_per_cell is not None and gpus_per_cell < 0:
            raise BenchError(f"--gpus-per-cell must be 0 or more, got {gpus_per_cell}")
        if cpus_per_cell < 1:
            raise BenchError(f"--cpus-per-cell must be 1 or more, got {cpus_per_cell}")
        self.address, self.gpus_per_cell, self.cpus_per_cell = address, gpus_per_cell, cpus_per_cell
        self.num_cpus, self.poll_s = num_cpus, poll_s
        self._started_here = False
        #: The address a local instance this executor started reports (always 127.0.0.1).
        self.local_address = ""

    def connect(self) -> dict:
        """Start or join Ray (once); the cluster's resources (CPU, GPU, ...)."""
        local = self.address is None
        ray = _import_ray(local)
        if not ray.is_initialized():
            try:
                ray.init(address="local" if local else self.address, num_cpus=self.num_cpus if local else None,
                         include_dashboard=False, logging_level="warning")
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise BenchError(f"cannot {'start a local Ray instance' if local else f'join Ray at {self.address}'}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
            self._started_here = True
        if local:
            self._refuse_a_network_address(ray)
        return ray.cluster_resources()

    def _refuse_a_network_address(self, ray) -> None:
        addresses = {ray.util.get_node_ip_address()} | {node["NodeManagerAddress"] for node in ray.nodes()}
        self.local_address = ", ".join(sorted(addresses))
        if addresses != {"127.0.0.1"}:
            self.shutdown()
            raise BenchError(f"the local Ray instance chose {self.local_address}, not loopback only: "
                             f"import ray after the bench sets {SINGLE_MACHINE_ENV}=0, or start it yourself "
                             "and pass --address")

    def shutdown(self) -> None:
        """Stop the local Ray instance this executor started (a joined cluster keeps running)."""
        if self._started_here:
            _import_ray().shutdown()
            self._started_here = False

    def device_for(self, requested: str) -> str:
        """`--device` on a cluster: `auto` is CUDA when the cluster has GPUs (the driver may have none)."""
        gpus = self.connect().get("GPU", 0)
        if requested == "auto":
            return "cuda" if gpus else "cpu"
        if requested.startswith("cuda") and not gpus:
            raise BenchError("--device cuda: the Ray cluster has no GPU")
        return requested

    def _gpus(self, ctx: RunContext) -> float:
        gpus = self.gpus_per_cell if self.gpus_per_cell is not None else (1 if ctx.device.startswith("cuda") else 0)
        if ctx.device.startswith("cuda") and gpus == 0:
            raise BenchError("--gpus-per-cell 0 with --device cuda: torch cells would find no GPU")
        return gpus

    def run(self, cells: Iterable[Cell], ctx: RunContext) -> Iterator[dict]:
        cells = list(cells)
        if not cells:
            return
        self.connect()
        ray = _import_ray()
        try:
            yield from self._run(ray, cells, ctx)
        finally:
            self.shutdown()

    def _run(self, ray, cells: list[Cell], ctx: RunContext) -> Iterator[dict]:
        from bench.data.mnist import loaded_pairs

        gpus = self._gpus(ctx)
        if ctx.device.startswith("cuda"):
            ctx = dataclasses.replace(ctx, device="cuda")  # each task sees its own GPU as cuda:0
        data = [ray.put(loaded_pairs(ctx.data_dir))]
        starts = ray.remote(num_cpus=0)(_Starts).remote()
        cell_task = ray.remote(_cell_task)
        training_task = ray.remote(_training_task)

        def options(name: str) -> tuple[dict, int]:
            torch_codec = get_entry(name).cls.uses_torch
            cpus = self.cpus_per_cell if torch_codec else 1
            return {"num_cpus": cpus, "num_gpus": gpus if torch_codec else 0, "max_retries": RETRIES}, cpus

        outstanding: dict = {}  # cell task reference -> cell
        trainings: dict = {}  # training task reference -> the cell its time is reported with
        for group in group_by_codec(cells):
            entry = get_entry(group[0].codec)
            opts, threads = options(group[0].codec)
            trained = None
            if len(group) > 1 and entry.cls.fit is not Codec.fit:
                trained = training_task.options(**opts).remote(group[0], ctx, data, entry, threads, starts)
                trainings[trained] = group[0].key
            for cell in group:
                outstanding[cell_task.options(**opts).remote(cell, ctx, data, entry, threads, starts, trained)] = cell
        overlaps = Overlaps()  # runners: (machine, worker process)
        runners: dict[str, list] = {}  # task -> the runners it started on (a retried task has two)
        training_s: dict[str, float] = {}  # cell key -> the training seconds its row carries
        def collect_training(ref) -> None:
            key = trainings.pop(ref)
            try:
                seconds, runner, start, end = ray.get(ref)
            except ray.exceptions.RayError:
                _forget(overlaps, runners, f"training:{key}")
                return  # its cells report it
            overlaps.finished(runner, end, start)
            training_s[key] = seconds

        try:
            while outstanding:
                ready, _ = ray.wait([*outstanding, *trainings], num_returns=1, timeout=self.poll_s)
                for runner, start, task in ray.get(starts.drain.remote()):
                    overlaps.started(runner, start)
                    runners.setdefault(task, []).append(runner)
                for ref in ready:
                    if ref in trainings:
                        collect_training(ref)
                        continue
                    cell = outstanding.pop(ref)
                    # A cell only starts once its training finished, but `wait` may hand over the cell
                    # first: take the training's time now, so the first cell's row carries it.
                    for training in [t for t, key in trainings.items() if key == cell.key]:
                        collect_training(training)
                    row = self._row(ray, ref, cell, ctx, overlaps, training_s)
                    _forget(overlaps, runners, cell.key)  # a worker that died never says it finished
                    yield row
        finally:
            for ref in [*outstanding, *trainings]:  # Ctrl-C or a closed generator: nothing left running
                ray.cancel(ref, force=True)

    @staticmethod
    def _row(ray, ref, cell: Cell, ctx: RunContext, overlaps: Overlaps, training_s: dict) -> dict:
        try:
            row, runner, start, end = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the training task it waited for raised
            return failed_cell_row(cell, ctx, f"its model's training task failed: {_cause(exc)}")
        except ray.exceptions.RayError as exc:  # the worker or node died, again after the retry
            return failed_cell_row(cell, ctx, f"the Ray worker running this cell died ({type(exc).__name__}), "
                                              f"{RETRIES + 1} attempt(s)")
        row["concurrent_cells"] = overlaps.finished(runner, end, start)
        if cell.key in training_s and row["status"] == "ok":
            # The group's training ran in its own task: the first cell carries its time, as in a local run.
            seconds = training_s.pop(cell.key)
            row["fit_s"] = (row.get("fit_s") or 0.0) + seconds
            row["wall_s"] += seconds
            row["training_task_s"] = seconds
        return row


def _forget(overlaps: Overlaps, runners: dict, task: str) -> None:
    for runner in runners.pop(task, []):
        overlaps.running.pop(runner, None)


def _cause(exc) -> str:
    """The training's own error, in one line (Ray wraps it with the remote traceback)."""
    cause = getattr(exc, "cause", None)
    return one_line(cause) if isinstance(cause, BaseException) else one_line(exc)
