"""bench.learn.training: seeded training loops and batched inference shared by the learned lossy codecs."""

import numpy as np
import pytest

from bench.api.codec import RunContext
from bench.learn.training import (
    TrainingBudget,
    apply_in_batches,
    images_to_tensor,
    seeded_training,
    to_uint8_images,
    train_with_random_steps,
)


def _train_tiny_model(seed: int, drawn: list | None = None):
    """A linear model fitted to 200 random targets with `train_with_random_steps`; its weights and record."""
    import torch

    targets = torch.tensor(np.random.default_rng(0).normal(size=(200, 3)), dtype=torch.float32)
    budget = TrainingBudget(epochs=1, batch=10, lr=1e-2)
    with seeded_training(RunContext(profile="smoke", seed=seed)) as run:
        model = torch.nn.Linear(1, 3)  # initialised from the seeded global generator

        def batch_loss(indices, step):
            if drawn is not None:
                drawn.append(step)
            return ((model(step[:, None].log()) - targets[indices]) ** 2).mean()

        steps = train_with_random_steps(model.parameters(), len(targets), budget, (0.5, 2.0), run, batch_loss)
        record = run.record(steps, len(targets))
    return [p.detach().clone() for p in model.parameters()], record


def test_a_trained_model_is_a_function_of_the_seed():
    import torch

    drawn = []
    first, record = _train_tiny_model(seed=0, drawn=drawn)
    again, _ = _train_tiny_model(seed=0)
    other, _ = _train_tiny_model(seed=1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
    assert record["steps"] == 20 and record["train_images"] == 200 and record["train_s"] >= 0
    steps = torch.cat(drawn)
    assert len(steps) == 200 and 0.5 <= steps.min() and steps.max() <= 2.0  # log-uniform over the range
    assert (steps < 1).float().mean() == pytest.approx(0.5, abs=0.15)


def test_batched_inference_equals_one_pass_and_handles_no_items():
    items = np.arange(23 * 4, dtype=np.float32).reshape(23, 4)
    doubled = apply_in_batches(lambda chunk: chunk * 2, items, 5, np.zeros((0, 4), np.float32))
    assert np.array_equal(doubled, items * 2)
    empty = np.zeros((0, 4), np.float32)
    assert apply_in_batches(lambda chunk: chunk * 2, items[:0], 5, empty) is empty


def test_uint8_images_survive_the_float_conversion(test_images):
    tensor = images_to_tensor(test_images, "cpu")
    assert tuple(tensor.shape) == (len(test_images), 1, 28, 28) and float(tensor.max()) <= 1.0
    assert np.array_equal(to_uint8_images(tensor), test_images)
    assert to_uint8_images(tensor * 3 - 1).min() == 0  # out-of-range values are clipped, not wrapped
