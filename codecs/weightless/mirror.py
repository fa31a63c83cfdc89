"""Encoder and decoder as one procedure: code a chunk with the model as it stands, then update it.

Both directions code every chunk with a `Coder` (a frozen copy of the model before that chunk) and
learn with `MirroredLearner.update`, making the same calls on tensors of the same shapes; the only
difference is whether the entropy coder takes the true pixels (encode) or produces them (decode).
That is what keeps the two models bit-identical: the encoder never takes a shortcut (such as
scoring a whole chunk in one batched pass) that the decoder could not take too, because a batched
product may sum in a different order and round differently.

What the encoder may do is reorder in time: it knows every pixel, so `learn_ahead` runs the chain
of updates on a second thread while the main thread codes, each chunk with the coder of the model
the decoder will have rebuilt by then. The decoder cannot: chunk i+1's model needs chunk i decoded.
"""

from __future__ import annotations

import contextlib
import copy
import os
import queue
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from bench.coding import entropy
from bench.coding.reproducible import torch_threads

from .models import BINS, PIXELS, SIDE, CausalMLP, CausalSteps, build_model, prior_tables


def chunk_sizes(n_images: int, first: int, largest: int) -> list[int]:
    """First chunk `first` images, then doubling up to `largest`: the model learns fastest early."""
    sizes, size, done = [], first, 0
    while done < n_images:
        sizes.append(min(size, n_images - done))
        done += sizes[-1]
        size = min(largest, size * 2)
    return sizes


@contextlib.contextmanager
def pinned_float_settings(device: str, threads: int = 1, deterministic: bool = True):
    """Thread count, deterministic algorithms and full-precision matmuls for the duration, restored after.

    On CUDA also a fixed cuBLAS workspace (its summation order depends on it). cuBLAS reads the
    setting when it starts, so it is set here, before this codec's first CUDA work, and only for
    runs that code on CUDA; a process that started cuBLAS earlier keeps its own, which the weight
    checks after every chunk would then report."""
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.get_float32_matmul_precision(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.allow_tf32,
    )
    torch.use_deterministic_algorithms(deterministic)
    torch.set_float32_matmul_precision("highest")
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.backends.cudnn.allow_tf32 = False
    try:
        with torch_threads(device, threads):
            yield
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.set_float32_matmul_precision(saved[2])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[3], saved[4]
        torch.backends.cudnn.allow_tf32 = saved[5]


class EncodeSide:
    """Codes the true symbols and returns them."""

    def __init__(self):
        self.coder = entropy.Encoder("constriction")
        self._chosen: list[np.ndarray] = []  # each coded symbol's model probability, for the ideal code length
        self._prior_bits = 0.0

    def code(self, tables: np.ndarray, truth: np.ndarray) -> np.ndarray:
        chosen = tables[np.arange(len(truth)), truth]
        if tables.dtype == np.float32:  # the model's probabilities (`_probabilities`), no copy
            self.coder.encode_tables(truth, tables)
            self._chosen.append(chosen)  # the logarithms wait for `ideal_bits`: off the coding loop
        else:  # the prior's integer tables (twice per stream), each summing to 2**PRECISION_BITS
            self.coder.encode(truth, tables)
            self._prior_bits += float(entropy.PRECISION_BITS * len(chosen) - np.log2(chosen.astype(np.float64)).sum())
        return truth

    @property
    def ideal_bits(self) -> float:
        """What the coded symbols cost under the tables or probabilities they were coded with."""
        if not self._chosen:
            return self._prior_bits
        return self._prior_bits - float(np.log2(np.concatenate(self._chosen).astype(np.float64)).sum())

    def finish(self) -> bytes:
        return self.coder.finish()


class DecodeSide:
    """Ignores `truth` (None) and returns what the stream says."""

    def __init__(self, data: bytes):
        self.coder = entropy.Decoder(data, "constriction")

    def code(self, tables: np.ndarray, truth: None) -> np.ndarray:
        if tables.dtype == np.float32:
            return self.coder.decode_tables(tables).astype(np.int64)  # int64: torch's one_hot takes no other
        return self.coder.decode(tables)


def _probabilities(probs: torch.Tensor) -> np.ndarray:
    """The model's softmax rows as float32 numpy, without a copy: the range coder quantises each row
    itself (constriction's `Categorical(perfect=False)`, deterministic), so both sides, holding the
    same floats, code with the same integer tables; 1,568 calls per chunk."""
    probs = probs.detach()
    return (probs if probs.device.type == "cpu" else probs.cpu()).numpy()


class _GenericSteps:
    """Any model's own `step_*` methods, on a frozen copy of it (the LSTM's path)."""

    def __init__(self, model, batch: int, device: str):
        self.model, self.state, self.device = model, model.start(batch, device), device

    def coarse_probs(self, t: int) -> torch.Tensor:
        self.t, self.hidden = t, self.model.step_hidden(self.state, t)
        return self.model.step_coarse_probs(self.hidden)

    def fine_probs(self, coarse: torch.Tensor) -> torch.Tensor:
        return self.model.step_fine_probs(self.hidden, coarse)

    def commit(self, t: int, pixels: torch.Tensor) -> None:
        self.model.step_commit(self.state, t, pixels)


class Coder:
    """The model as it stood before one chunk, frozen: what codes that chunk, on either side.

    Taking the weights out of the learner lets the encoder, which knows every pixel, run the next
    update while this chunk is still being coded; the decoder uses the same object serially."""

    def __init__(self, model, device: str, count: int):
        self.device = device
        # CausalSteps copies (transposes) the weights it needs; the LSTM is copied whole.
        self._steps = CausalSteps(model, count) if isinstance(model, CausalMLP) else (
            _GenericSteps(copy.deepcopy(model).eval(), count, device))

    @torch.no_grad()
    def code(self, side, images: np.ndarray | None, count: int) -> np.ndarray:
        """Code `count` images pixel position by pixel position, all images of the chunk at once."""
        steps, self._steps = self._steps, None  # one chunk per coder
        if images is not None:
            truth = images.reshape(count, PIXELS).T.astype(np.int64)  # position-major: one row per step
            coarse_truth, fine_truth = truth // BINS, truth % BINS
        out = np.empty((PIXELS, count), dtype=np.int64)
        for t in range(PIXELS):
            coarse = side.code(_probabilities(steps.coarse_probs(t)), None if images is None else coarse_truth[t])
            coarse_t = torch.from_numpy(coarse).to(self.device)
            fine = side.code(_probabilities(steps.fine_probs(coarse_t)), None if images is None else fine_truth[t])
            out[t] = coarse * BINS + fine
            steps.commit(t, torch.from_numpy(out[t]).to(self.device))
        return out.T.reshape(count, SIDE, SIDE).astype(np.uint8)


def code_prior_chunk(side, images: np.ndarray | None, count: int) -> np.ndarray:
    """The first chunk, with the fixed prior: no model has seen anything yet."""
    coarse_p, fine_p = prior_tables()
    n = count * PIXELS
    truth = None if images is None else images.reshape(-1).astype(np.int64)
    coarse = side.code(np.tile(entropy.quantize(coarse_p), (n, 1)), None if truth is None else truth // BINS)
    fine_tables = entropy.quantize(fine_p)[coarse]
    fine = side.code(fine_tables, None if truth is None else truth % BINS)
    return (coarse * BINS + fine).reshape(count, SIDE, SIDE).astype(np.uint8)


_HELPER: ThreadPoolExecutor | None = None
#: The helper thread's share of a batch's merged rows. It also merges the next batch while this
#: thread sums the parts and makes the Adam step, so both threads finish together (per batch of 8:
#: merging ~1.0 ms, all rows' gradients ~3.7 ms, sum and step ~0.3 ms on this machine's cores).
HELPER_SHARE = 0.4


def batch_gradients(model, batches: list[torch.Tensor]):
    """Each batch's mean-loss gradient, in order, each computed in two parts side by side.

    The first part on this thread, the second on a helper thread, each with the one pinned torch
    thread, then summed in a fixed order: the same floats on either side and whatever the machine's
    load (the update is the decoder's serial half). The causal MLP's rows are merged first
    (`CausalMLP.merged_rows`: it reads images, not weights, so the helper merges batch k+1 while
    the caller steps on batch k) and the merged rows are split; another model's images are split,
    each half's gradient weighted by its share. On CUDA one pass per batch."""
    global _HELPER
    if not batches:
        return
    if batches[0].device.type != "cpu":
        yield from (model.gradients(batch) for batch in batches)
        return
    if _HELPER is None:
        _HELPER = ThreadPoolExecutor(1, thread_name_prefix="weightless-helper")
    if not isinstance(model, CausalMLP):
        for batch in batches:
            half = len(batch) // 2
            if not half:
                yield model.gradients(batch)
                continue
            second = _HELPER.submit(model.gradients, batch[half:])
            first, share = model.gradients(batch[:half]), half / len(batch)
            yield [a.mul_(share).add_(b, alpha=1.0 - share) for a, b in zip(first, second.result(), strict=True)]
        return
    merging = _HELPER.submit(model.merged_rows, batches[0])
    for k in range(len(batches)):
        merged = merging.result()
        rows = len(merged.weight)
        cut = rows - int(rows * HELPER_SHARE)
        second = _HELPER.submit(model.row_gradients, merged, slice(cut, rows))
        if k + 1 < len(batches):
            merging = _HELPER.submit(model.merged_rows, batches[k + 1])
        first = model.row_gradients(merged, slice(0, cut))
        yield [a.add_(b) for a, b in zip(first, second.result(), strict=True)]


class MirroredLearner:
    """One side's learner: model, optimiser, random stream and the images coded so far."""

    def __init__(self, config: dict, n_images: int, device: str):
        self.config = config
        self.device = device
        self.model = build_model(config, device)
        # fused: the whole Adam step in one kernel per tensor, about a quarter of foreach's time
        # (itself a dozen list operations instead of a dozen per tensor); on CPU and CUDA alike.
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config["lr"], fused=True)
        # Mini-batch order comes from this generator alone, so both sides draw the same batches.
        self.generator = torch.Generator().manual_seed(config["seed"])
        self.coded = torch.zeros((n_images, SIDE, SIDE), dtype=torch.uint8, device=device)
        self.n_coded = 0
        self.update_seconds = 0.0

    def coder(self, count: int) -> Coder:
        return Coder(self.model, self.device, count)

    # -- coding (one side, serially) ---------------------------------------------------------
    def code_prior_chunk(self, side, images: np.ndarray | None, count: int) -> np.ndarray:
        return self.store(code_prior_chunk(side, images, count))

    def code_chunk(self, side, images: np.ndarray | None, count: int) -> np.ndarray:
        return self.store(self.coder(count).code(side, images, count))

    def store(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.array(pixels, dtype=np.uint8)  # a copy torch may own
        self.coded[self.n_coded : self.n_coded + len(pixels)] = torch.from_numpy(pixels).to(self.device)
        self.n_coded += len(pixels)
        return pixels

    # -- learning ----------------------------------------------------------------------------
    def update(self, chunk_start: int) -> None:
        """Train on the chunk just coded, topped up with earlier images to at least `min_update`."""
        started = time.perf_counter()
        cfg = self.config
        end = self.n_coded
        pool = torch.arange(chunk_start, end).repeat(cfg["epochs"])
        short = cfg["min_update"] - len(pool)
        if short > 0:
            pool = torch.cat([pool, torch.randint(0, end, (short,), generator=self.generator)])
        order = pool[torch.randperm(len(pool), generator=self.generator)]
        self.model.train()
        params = list(self.model.parameters())
        batches = [self.coded[order[start : start + cfg["batch"]].to(self.device)]
                   for start in range(0, len(order), cfg["batch"])]
        for grads in batch_gradients(self.model, batches):
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad
            self.optimizer.step()
        self.model.eval()
        self.update_seconds += time.perf_counter() - started

    def weights_crc(self) -> int:
        crc = 0
        for p in self.model.parameters():
            crc = zlib.crc32(p.detach().to("cpu").numpy().tobytes(), crc)
        return crc


class learn_ahead:
    """The encoder's learner on a thread of its own: it stores each chunk's true pixels, makes the
    update after it and hands the coding thread a frozen `Coder` of every model from model_1 on.

    Both threads run torch with the pinned single intra-op thread, so each computation is the one
    the decoder makes serially; only their timing overlaps. At most two coders wait, which bounds
    memory when learning runs ahead of coding."""

    def __init__(self, lock: MirroredLearner, images: np.ndarray, sizes: list[int]):
        self.lock, self.images, self.sizes = lock, images, sizes
        self.ready: queue.Queue = queue.Queue(maxsize=2)
        self.stopped = threading.Event()
        self.crcs: list[int] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="weightless-learner", daemon=True)

    def _put(self, item) -> bool:
        while not self.stopped.is_set():
            try:
                self.ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        lock, start = self.lock, 0
        try:
            for i, count in enumerate(self.sizes):
                if i and not self._put(lock.coder(count)):
                    return
                lock.store(self.images[start : start + count])
                if i + 1 < len(self.sizes):  # nothing follows the last chunk: no one would use that update
                    lock.update(start)
                self.crcs.append(lock.weights_crc())
                start += count
        except BaseException as exc:  # handed to the coding thread, which raises it
            self.error = exc
            self._put(exc)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()

    def __iter__(self):
        return self

    def __next__(self) -> Coder:
        item = self.ready.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def weight_crcs(self) -> list[int]:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.crcs


def pixels_crc(pixels: np.ndarray) -> int:
    """Per-chunk check: cheap, and it names the chunk where a decode went wrong."""
    return zlib.crc32(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())


@torch.no_grad()
def one_pass_differences(model, images: torch.Tensor) -> tuple[int, int]:
    """How many coarse-stage probability rows differ between scoring known images in one batched pass
    and the lockstep computation the decoder must do: (differing rows, rows compared).

    The encoder never relies on this being 0 (it always runs the lockstep computation); this is a
    measurement of whether a one-pass encoder would be safe on this machine."""
    count = len(images)
    one_pass = model.step_coarse_probs(model.hidden_all(images))
    state = model.start(count, images.device.type)
    truth = images.reshape(count, PIXELS)
    differing = 0
    for t in range(PIXELS):
        step = model.step_coarse_probs(model.step_hidden(state, t))
        differing += int((_probabilities(step) != _probabilities(one_pass[:, t])).any(axis=1).sum())
        model.step_commit(state, t, truth[:, t])
    return differing, count * PIXELS
