"""Train a deep-ar profile and write it as a shipped model file with its card (codecs/weights/):

    .venv/bin/python scripts/ship_deep_ar.py --profile default            # this CPU: about 23 minutes
    .venv/bin/python scripts/ship_deep_ar.py --profile full --device cuda

The card records the file's SHA-256, the recipe the codec will look for, and the device, torch and
seconds of the training; commit both files.
"""

import argparse

from bench_codecs.deep_ar import ship

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(ship(args.profile, args.seed, args.device))
