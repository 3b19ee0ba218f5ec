"""Benchmark: the fast CIFAR-10 recipe of ``pythonlibs.fast_cifar``, timed as airbench times it.

Loads CIFAR-10 onto the device (full mode: 50,000 / 10,000 images; ``DLNB_QUICK=1``: the small
subset), then trains one fresh net per seed with :func:`run_seeds` and prints each seed's test
accuracy (with TTA) and seconds from data-on-the-device to final accuracy, then their mean.
On CUDA one untimed warm-up run comes first (cuDNN's kernel search, ``torch.compile``).

Run from the project root (CI does not run it; it is a measurement, not a test):

    DLNB_DATA_MIRROR=../shared/datasets .venv/bin/python benchmarks/bench_fast_cifar.py --seeds 0 1 2

Measured on 2026-11-23 on this project's 2-core CPU development machine (commit 982490a, torch
2.13.0, float32, seed 0, one run, the JPEG mirror): 90.66% with TTA, 4,076 s.
"""

import argparse
import json
import time

import numpy as np

from pythonlibs.fast_cifar import (Recipe, ResidualGroup, load_cifar10_tensors, make_fast_net,
                                   run_seeds)
from pythonlibs.torch_lib1 import get_device

from evidence import run_metadata

NETS = {"airbench": make_fast_net,
        "resnet9": lambda: make_fast_net(group=ResidualGroup)}


def parse_args():
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--net", choices=sorted(NETS), default="airbench")
    parser.add_argument("--epochs", type=float, default=Recipe.epochs)
    parser.add_argument("--compile", action="store_true", help="torch.compile (CUDA only)")
    parser.add_argument("--json", help="also write the results to this file")
    return parser.parse_args()


def main():
    args = parse_args()
    device = get_device()
    start = time.perf_counter()
    train_x, train_y = load_cifar10_tensors(train=True, device=device)
    test_x, test_y = load_cifar10_tensors(train=False, device=device)
    print(f"data: train {len(train_y):,} / test {len(test_y):,} on {device} "
          f"({time.perf_counter() - start:.1f} s to load)")
    recipe = Recipe(epochs=args.epochs, batch_size=min(1024, len(train_y) // 8),
                    compile=args.compile)
    results = run_seeds(NETS[args.net], train_x, train_y, test_x, test_y, recipe, args.seeds)
    accuracy = np.array([r["accuracy"] for r in results])
    seconds = np.array([r["seconds"] for r in results])
    spread = lambda values: values.std(ddof=1) if len(values) > 1 else 0.0  # noqa: E731
    meta = run_metadata(device)
    print(f"{args.net} on {device} ({meta['device_name']}), seeds {args.seeds}: accuracy "
          f"{accuracy.mean():.4f} ± {spread(accuracy):.4f}, {seconds.mean():.2f} ± "
          f"{spread(seconds):.2f} s per run (commit {meta['commit']}, torch {meta['torch']})")
    if args.json:
        for r in results:
            r["history"] = r["history"].tolist()
        with open(args.json, "w") as f:
            json.dump(dict(net=args.net, runs=len(results), recipe=vars(recipe),
                           accuracy_mean=accuracy.mean(), accuracy_std=spread(accuracy),
                           seconds_mean=seconds.mean(), seconds_std=spread(seconds),
                           results=results, **meta), f, indent=1)


if __name__ == "__main__":
    main()
