"""Training local-ar's network: its profile (window, network, budget) and the fit to random (image,
position) pixels of the training images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.api.profiles import Profile
from bench.coding.reproducible import torch_threads
from bench.data.mnist import PIXELS

from .network import CPU_THREADS, CausalWindow, build_network, log_probs, weights_to_bytes


@dataclass(frozen=True, kw_only=True)
class LocalArProfile(Profile):
    """Architecture and training budget of one profile."""

    rows_above: int
    half_width: int
    left: int
    hidden: int
    layers: int  # residual hidden layers after the masked layer
    steps: int
    batch: int  # pixels per training step
    learning_rate: float
    busy_share: float | None = None  # share of each batch with a nonzero window (None: as drawn)


def _training_batch(frame, window: CausalWindow, settings: LocalArProfile, sampler):
    """Random (image, position) pixels and their windows; `busy_share` of them with a nonzero window.

    A pixel whose window is all zero is easy (its distribution depends on the position alone) and
    40% of MNIST's pixels are such; drawing more of the others spends the training budget where
    the bits are. Maximum likelihood still fits each kind (the network tells them apart).
    """
    import torch

    draw = settings.batch if settings.busy_share is None else 2 * settings.batch
    image_index = torch.randint(0, len(frame), (draw,), generator=sampler).to(frame.device)
    positions = torch.randint(0, PIXELS, (draw,), generator=sampler).numpy()
    windows = window.gather(frame, image_index, positions)
    if settings.busy_share is None:
        return image_index, positions, windows
    busy = windows.any(dim=1)
    order = torch.cat([torch.nonzero(busy).squeeze(1), torch.nonzero(~busy).squeeze(1)])
    n_busy = min(int(busy.sum()), round(settings.batch * settings.busy_share))
    n_blank = min(draw - int(busy.sum()), settings.batch - n_busy)
    keep = torch.cat([order[:n_busy], order[int(busy.sum()) : int(busy.sum()) + n_blank]])
    keep = torch.cat([keep, order[n_busy : n_busy + settings.batch - len(keep)]])  # if blanks ran short
    return image_index[keep], positions[keep.cpu().numpy()], windows[keep]


def train_network(images: np.ndarray, settings: LocalArProfile, head: str, seed: int, device: str) -> bytes:
    """Fit the network to random (image, position) pixels of the training images; its bytes."""
    import torch
    from torch.nn import functional as F

    with torch_threads(device, CPU_THREADS):
        torch.manual_seed(seed)
        sampler = torch.Generator(device="cpu").manual_seed(seed)
        window = CausalWindow(settings.rows_above, settings.half_width, settings.left)
        frame = window.pad(torch.from_numpy(np.array(images, dtype=np.uint8)).to(device))
        net = build_network(window.size, settings.hidden, settings.layers, head).to(device)
        optimiser = torch.optim.Adam(net.parameters(), lr=settings.learning_rate)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, settings.learning_rate, total_steps=settings.steps)
        for step in range(settings.steps):
            image_index, positions, windows = _training_batch(frame, window, settings, sampler)
            rows, cols = window.frame_index(positions)
            target = frame[image_index, torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device)]
            outputs = net(windows, torch.as_tensor(positions, device=device))
            loss = F.nll_loss(log_probs(outputs, head), target.long())
            if step % 100 == 0 and not torch.isfinite(loss):  # checked now and then: it waits for a GPU
                raise RuntimeError("local-ar training diverged (loss is not finite)")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
    config = {"window": [settings.rows_above, settings.half_width, settings.left], "window_size": window.size,
              "hidden": settings.hidden, "layers": settings.layers, "head": head}
    return weights_to_bytes(config, net)
