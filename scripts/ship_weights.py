"""Train a learned codec's profile and write it as a shipped model file with its card (codecs/weights/):

    .venv/bin/python scripts/ship_weights.py deep-ar --profile default       # this CPU: about 23 minutes
    .venv/bin/python scripts/ship_weights.py learned-cm --profile default    # this CPU: about 20 minutes
    .venv/bin/python scripts/ship_weights.py deep-ar --profile full --device cuda

The card records the file's SHA-256, the recipe the codec will look for, and the device, torch and
seconds of the training; commit both files. `bench run --retrain` trains instead of taking them.
"""

import argparse
import importlib

#: Codecs that ship weights, and the module whose `ship(profile, seed, device)` trains and writes them.
SHIPPING = {"deep-ar": "bench_codecs.deep_ar", "learned-cm": "bench_codecs.learned_cm"}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("codec", choices=SHIPPING)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    print(importlib.import_module(SHIPPING[args.codec]).ship(args.profile, args.seed, args.device))
