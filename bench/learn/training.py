"""Training and batched-inference pieces shared by the learned lossy codecs (conv-ae, pca-cnn, bican).

- `TrainingBudget`: the `Profile` fields every gradient-trained codec has (epochs, batch, learning
  rate, train slice).
- `seeded_training(ctx)`: CPU thread limit, the global seed (weight initialisation) and a private
  generator for everything drawn during training, plus the record a cached model keeps.
- `train_with_random_steps`: Adam with a one-cycle schedule; each step draws a batch of image
  indices and, per image, a quantiser step log-uniform over a range, so one model serves every
  step of a rate sweep.
- `apply_in_batches`, `images_to_tensor`, `to_uint8_images`: inference in fixed-size batches
  without autograd, and the uint8 <-> [0, 1] float conversions.

The random draws are made in a fixed order from one generator (batch indices, then the steps, then
whatever the codec's loss draws), so a trained model is a function of the seed and the data alone.
A model cache keyed by a codec's module must also see this file: `TRAINING_CODE_VERSION`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from bench.api.codec import RunContext
from bench.api.identity import source_digest
from bench.api.profiles import Profile
from bench.coding.reproducible import torch_threads

#: Hash of this file: codecs put it in their model-cache parameters, since the cache key hashes only
#: the codec's own module and a change here changes what training produces.
TRAINING_CODE_VERSION = source_digest([__file__])


#: Threads for CPU training. Measured on the 2-core machine these codecs were built on, with other
#: jobs running: one thread took 83 ms per batch, two took 1,072 ms (OpenMP workers spin-waiting
#: for a core). Training is the long part; coding keeps torch's own setting.
CPU_TRAIN_THREADS = 1


def training_threads(device: str):
    """Limit torch's CPU threads for the duration of a training run (restored afterwards)."""
    return torch_threads(device, CPU_TRAIN_THREADS)


#: The one-cycle schedule's warm-up (10% of the steps) must span at least two steps.
MIN_STEPS = 20


@dataclass(frozen=True, kw_only=True)
class TrainingBudget(Profile):
    """The fields every gradient-trained codec's profile has; codecs subclass it with their network sizes."""

    epochs: float
    batch: int = 64
    lr: float = 1e-3
    max_images: int | None = None  # smoke: a slice of the train split


class TrainingRun:
    """The generator for a training's random draws, and the record stored with the trained model."""

    def __init__(self, ctx: RunContext):
        import torch

        self.ctx = ctx
        self.started = time.perf_counter()
        self.generator = torch.Generator().manual_seed(ctx.seed)

    def record(self, steps: int, train_images: int, **extra) -> dict:
        return {"train_s": time.perf_counter() - self.started, "steps": steps, "train_images": train_images,
                "profile": self.ctx.profile, "device": self.ctx.device, **extra}


@contextmanager
def seeded_training(ctx: RunContext) -> Iterator[TrainingRun]:
    """Seed torch's global generator (networks built inside are initialised from it) and limit threads."""
    import torch

    with training_threads(ctx.device):
        torch.manual_seed(ctx.seed)
        yield TrainingRun(ctx)


def train_with_random_steps(parameters, n_images: int, budget: TrainingBudget, step_range: tuple[float, float],
                            run: TrainingRun, batch_loss: Callable) -> int:
    """Minimise `batch_loss(indices, steps)` over epochs * n_images / batch steps; returns their number.

    Each step draws `budget.batch` indices into the training set (with replacement) and, per image, a
    quantiser step log-uniform over `step_range`, both from `run.generator` and in that order; the
    loss may draw more from the generator after them.
    """
    import torch

    device = run.ctx.device
    optimizer = torch.optim.Adam(parameters, lr=budget.lr)
    steps = max(MIN_STEPS, int(budget.epochs * n_images / budget.batch))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=budget.lr, total_steps=steps, pct_start=0.1)
    log_lo, log_hi = math.log(step_range[0]), math.log(step_range[1])
    for _ in range(steps):
        indices = torch.randint(0, n_images, (budget.batch,), generator=run.generator).to(device)
        log_step = torch.rand(budget.batch, generator=run.generator) * (log_hi - log_lo) + log_lo
        loss = batch_loss(indices, torch.exp(log_step).to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return steps


def apply_in_batches(function: Callable, items: np.ndarray, batch_size: int, empty: np.ndarray) -> np.ndarray:
    """`function` (returning numpy) applied to consecutive slices of `items`, concatenated, without autograd.

    Fixed-size batches bound the memory of a large split; `empty` is the result for no items.
    """
    import torch

    with torch.no_grad():
        parts = [function(items[start:start + batch_size]) for start in range(0, len(items), batch_size)]
    return np.concatenate(parts) if parts else empty


def images_to_tensor(images: np.ndarray, device: str):
    """uint8 (n, 28, 28) -> float32 (n, 1, 28, 28) in [0, 1]."""
    import torch

    return torch.tensor(images, dtype=torch.float32, device=device).unsqueeze(1).div_(255.0)


def to_uint8_images(pixels) -> np.ndarray:
    """Float (n, 1, h, w) on a [0, 1] scale -> uint8 (n, h, w) numpy, rounded and clipped."""
    import torch

    return pixels.mul(255.0).round_().clamp_(0, 255).to(torch.uint8)[:, 0].cpu().numpy()
