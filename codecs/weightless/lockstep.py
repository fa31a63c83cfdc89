"""Encoder and decoder as one procedure: code a chunk with the model as it stands, then update it.

Both directions run `Lockstep.code_chunk` and `Lockstep.update` with the same calls on tensors of
the same shapes; the only difference is whether the entropy coder takes the true pixels (encode)
or produces them (decode). That is what keeps the two models bit-identical: the encoder never
takes a shortcut (such as scoring a whole chunk in one batched pass) that the decoder could not
take too, because a batched product may sum in a different order and round differently.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import zlib

import numpy as np
import torch

from bench.coding import entropy
from bench.coding.reproducible import torch_threads

from .models import BINS, PIXELS, SIDE, build_model, prior_tables


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
        self.ideal_bits = 0.0

    def code(self, freqs: np.ndarray, truth: np.ndarray) -> np.ndarray:
        self.coder.encode(truth, freqs)
        self.ideal_bits += entropy.ideal_bits(truth, freqs)
        return truth

    def finish(self) -> bytes:
        return self.coder.finish()


class DecodeSide:
    """Ignores `truth` (None) and returns what the stream says."""

    def __init__(self, data: bytes):
        self.coder = entropy.Decoder(data, "constriction")

    def code(self, freqs: np.ndarray, truth: None) -> np.ndarray:
        return self.coder.decode(freqs)


def _tables(probs: torch.Tensor) -> np.ndarray:
    """Model probabilities -> integer frequency tables (bench.coding.entropy.quantize is the only rounding)."""
    return entropy.quantize(probs.detach().to("cpu", torch.float64).numpy())


class Lockstep:
    """One side's model, optimiser, random stream and the images coded so far."""

    def __init__(self, config: dict, n_images: int, device: str):
        self.config = config
        self.device = device
        self.model = build_model(config, device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config["lr"])
        # Mini-batch order comes from this generator alone, so both sides draw the same batches.
        self.generator = torch.Generator().manual_seed(config["seed"])
        self.coded = torch.zeros((n_images, SIDE, SIDE), dtype=torch.uint8, device=device)
        self.n_coded = 0
        self.update_seconds = 0.0

    # -- coding ------------------------------------------------------------------------------
    def code_prior_chunk(self, side, images: np.ndarray | None, count: int) -> np.ndarray:
        """The first chunk, with the fixed prior: no model has seen anything yet."""
        coarse_p, fine_p = prior_tables()
        n = count * PIXELS
        truth = None if images is None else images.reshape(-1).astype(np.int64)
        coarse = side.code(np.tile(entropy.quantize(coarse_p), (n, 1)), None if truth is None else truth // BINS)
        fine_tables = entropy.quantize(fine_p)[coarse]
        fine = side.code(fine_tables, None if truth is None else truth % BINS)
        return self._store((coarse * BINS + fine).reshape(count, SIDE, SIDE))

    @torch.no_grad()
    def code_chunk(self, side, images: np.ndarray | None, count: int) -> np.ndarray:
        """Code `count` images pixel position by pixel position, all images of the chunk at once."""
        model = self.model
        state = model.start(count, self.device)
        truth = None if images is None else images.reshape(count, PIXELS).astype(np.int64)
        out = np.empty((count, PIXELS), dtype=np.int64)
        for t in range(PIXELS):
            hidden = model.step_hidden(state, t)
            coarse = side.code(_tables(model.step_coarse_probs(hidden)), None if truth is None else truth[:, t] // BINS)
            coarse_t = torch.from_numpy(coarse).to(self.device)
            fine = side.code(_tables(model.step_fine_probs(hidden, coarse_t)), None if truth is None else truth[:, t] % BINS)
            out[:, t] = coarse * BINS + fine
            model.step_commit(state, t, torch.from_numpy(out[:, t]).to(self.device))
        return self._store(out.reshape(count, SIDE, SIDE))

    def _store(self, pixels: np.ndarray) -> np.ndarray:
        pixels = pixels.astype(np.uint8)
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
        for start in range(0, len(order), cfg["batch"]):
            batch = self.coded[order[start : start + cfg["batch"]].to(self.device)]
            loss = self.model.loss(batch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        self.model.eval()
        self.update_seconds += time.perf_counter() - started

    def weights_crc(self) -> int:
        crc = 0
        for p in self.model.parameters():
            crc = zlib.crc32(p.detach().to("cpu").numpy().tobytes(), crc)
        return crc


def pixels_crc(pixels: np.ndarray) -> int:
    """Per-chunk check: cheap, and it names the chunk where a decode went wrong."""
    return zlib.crc32(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())


def min_bits_per_image() -> float:
    """The fewest bits any image can cost: every symbol's table gives it at most 1 - 15/2**16."""
    most_likely = 1.0 - (BINS - 1) / (1 << entropy.PRECISION_BITS)
    return -2 * PIXELS * math.log2(most_likely)


@torch.no_grad()
def one_pass_differences(model, images: torch.Tensor) -> tuple[int, int]:
    """How many coarse-stage tables differ between scoring known images in one batched pass and
    the lockstep computation the decoder must do: (differing table rows, rows compared).

    The encoder never relies on this being 0 (it always runs the lockstep computation); this is a
    measurement of whether a one-pass encoder would be safe on this machine."""
    count = len(images)
    one_pass = model.step_coarse_probs(model.hidden_all(images))
    state = model.start(count, images.device.type)
    truth = images.reshape(count, PIXELS)
    differing = 0
    for t in range(PIXELS):
        step = model.step_coarse_probs(model.step_hidden(state, t))
        differing += int((_tables(step) != _tables(one_pass[:, t])).any(axis=1).sum())
        model.step_commit(state, t, truth[:, t])
    return differing, count * PIXELS
