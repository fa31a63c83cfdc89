"""How this bench's judge relates to the dataset-distillation papers' ConvNet judge, on one set (feeds
docs/results.md, "Dataset codecs at equal bytes").

The papers score a distilled set with a ConvNet (three blocks of 3x3 conv at width 128, instance norm,
ReLU, 2x2 average pooling; a linear classifier) trained from scratch with augmentation: SGD (lr 0.01,
momentum 0.9, weight decay 5e-4, lr / 10 at half way), batch 256, a few hundred epochs. This script
trains that judge and the bench's own (bench.learn.classifier, the run's profile) on the same random
10-per-class subset (random-subset, seed 0) and scores both on the real 10,000 test images, so a
reader knows what a point of difference between this bench's accuracies and the papers' means.

    .venv/bin/python -m benchmarks.studies.judge_comparison --epochs 300 --out results/judge-comparison.csv
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from bench import create_codec
from bench.api.codec import RunContext
from bench.api.registry import get_entry
from bench.learn.classifier import SMALL_SET_AUGMENTATION, predict, random_affine, score_training_set


def train_convnet(images: np.ndarray, labels: np.ndarray, epochs: int, seed: int, width: int = 128):
    """The papers' ConvNet, trained their way (augmentation: the bench's random affine)."""
    import torch
    from torch import nn

    build_embedder = __import__(get_entry("distilled").cls.__module__, fromlist=["build_embedder"]).build_embedder
    torch.manual_seed(seed)
    model = nn.Sequential(build_embedder(width, 3), nn.Linear(width * 3 * 3, 10))
    x = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 255.0
    y = torch.tensor(labels, dtype=torch.int64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[epochs // 2], gamma=0.1)
    generator = torch.Generator().manual_seed(seed + 1)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 256):
            idx = order[start:start + 256]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(random_affine(x[idx], generator, *SMALL_SET_AUGMENTATION)), y[idx]).backward()
            optimizer.step()
        schedule.step()
    return model.eval()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="ConvNet training epochs (the papers: 300 to 1000)")
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--profile", default="default", help="the bench judge's profile")
    parser.add_argument("--seeds", type=int, default=1, help="ConvNet trainings (seeds 0..N-1)")
    parser.add_argument("--out", default=None, help="write the rows to this CSV")
    args = parser.parse_args(argv)
    ctx = RunContext(profile=args.profile)
    train, test = ctx.split("train"), ctx.split("test")
    subset = create_codec("random-subset", ctx, per_class=args.per_class, seed=0)
    images, labels = subset.decompress_dataset(subset.compress_dataset(train.images, train.labels))
    rows = []
    started = time.perf_counter()
    score = score_training_set(images, labels, ctx)
    rows.append({"judge": f"bench classifier ({args.profile} profile)", "seed": ctx.seed, "n_train": len(images),
                 "accuracy": score.accuracy, "train_s": score.train_s if not score.cached else np.nan,
                 "cached": score.cached, "wall_s": time.perf_counter() - started})
    print(rows[-1], flush=True)
    for seed in range(args.seeds):
        started = time.perf_counter()
        model = train_convnet(images, labels, args.epochs, seed)
        accuracy = float((predict(model, test.images, "cpu") == test.labels).mean())
        rows.append({"judge": f"ConvNet-128 (papers' judge, {args.epochs} epochs)", "seed": seed,
                     "n_train": len(images), "accuracy": accuracy, "train_s": time.perf_counter() - started,
                     "cached": False, "wall_s": time.perf_counter() - started})
        print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    print(frame.to_string(index=False))
    if args.out:
        frame.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
