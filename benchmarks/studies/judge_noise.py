"""How much the judge's accuracy moves with its seed alone (feeds docs/results.md, "What the noise is").

    .venv/bin/python -m benchmarks.studies.judge_noise --seeds 5 --out results/judge-noise.csv

The same training set, the judge trained under each seed (default profile, one thread: JUDGE_THREADS),
scored on the real test images: the real 60,000 train images; their lossy reconstruction by JPEG at
quality 5 as one stream (a deterministic classical decode, so only the judge varies); and random subsets
of 10, 100 and 1,000 images (one, ten and a hundred a class, selection seed 0). Each (set, seed) is one
row; the summary prints mean, standard deviation and the 95% t interval per set.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench import create_codec
from bench.api.codec import RunContext
from bench.data.mnist import load_split
from bench.learn.classifier import score_training_set
from bench.report.rows import t_half_width


def training_sets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    train = load_split("train")
    jpeg = create_codec("jpeg", quality=5, framing="stream")
    sets = {"real train images (60,000)": (train.images, train.labels),
            "JPEG q5 reconstruction (60,000)": (jpeg.decompress(jpeg.compress(train.images)), train.labels)}
    for per_class in (1, 10, 100):
        subset = create_codec("random-subset", per_class=per_class, seed=0)
        images, labels = subset.decompress_dataset(subset.compress_dataset(train.images, train.labels))
        sets[f"random subset, {per_class} a class ({10 * per_class:,})"] = (images, labels)
    return sets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--cache-dir", default=".cache/judge-noise")
    parser.add_argument("--out", default=None, help="CSV of the rows (one per set and seed)")
    args = parser.parse_args(argv)
    rows = []
    for name, (images, labels) in training_sets().items():
        for seed in range(args.seeds):
            ctx = RunContext(profile=args.profile, seed=seed, cache_dir=Path(args.cache_dir))
            started = time.perf_counter()
            score = score_training_set(images, labels, ctx)
            rows.append({"set": name, "n_train": len(images), "seed": seed, "accuracy": score.accuracy,
                         "train_s": score.train_s, "seconds": time.perf_counter() - started})
            print(f"{name:40s} seed {seed}: {100 * score.accuracy:.2f}%", flush=True)
    frame = pd.DataFrame(rows)
    if args.out:
        frame.to_csv(args.out, index=False)
    summary = frame.groupby("set", sort=False)["accuracy"].agg(["mean", "std", "count", "min", "max"])
    summary["ci"] = t_half_width(summary["std"], summary["count"])
    for name, r in summary.iterrows():
        print(f"{name:40s} {100 * r['mean']:.2f} ± {100 * r['std']:.2f} ({int(r['count'])}), 95% interval "
              f"± {100 * r['ci']:.2f}, range {100 * r['min']:.2f}-{100 * r['max']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
