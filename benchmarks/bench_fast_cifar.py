"""Benchmark: the fast CIFAR-10 recipe of ``pythonlibs.fast_cifar``, timed as airbench times it.

Loads CIFAR-10 onto the device (full mode: 50,000 / 10,000 images; ``DLNB_QUICK=1``: the small
subset), then trains one fresh net per seed with :func:`run_seeds` and prints each seed's test
accuracy (with TTA) and seconds from data-on-the-device to final accuracy, then their mean.
On CUDA one untimed warm-up run comes first (cuDNN's kernel search, ``torch.compile``).

``--airbench`` (CUDA only) then runs the *airbench* package (Keller Jordan's ``train94``,
installed from PyPI, or from a folder of wheels with ``--airbench-wheels`` on a machine without
network) in the same process, on the same images and the same seeds, after its own untimed
warm-up, and prints the ratio of the mean times.  airbench reads ``cifar10/train.pt`` and
``cifar10/test.pt`` from the working folder; they are written from our data into a temporary
folder, so both runs see the same pixels (the mirror's JPEGs offline).  Its clock, as ours,
starts with the data loaded and stops when the TTA accuracy is known; it also counts airbench
reading its 10,000 test images from that file, which ours does not.

Run from the project root (CI does not run it; it is a measurement, not a test):

    DLNB_DATA_MIRROR=../shared/datasets .venv/bin/python benchmarks/bench_fast_cifar.py --seeds 0 1 2
    DLNB_DATA_MIRROR=../shared/datasets .venv/bin/python benchmarks/bench_fast_cifar.py --airbench

Measured on 2026-11-23 on this project's 2-core CPU development machine (commit 982490a, torch
2.13.0, float32, seed 0, one run, the JPEG mirror): 90.66% with TTA, 4,076 s.
"""

import argparse
import contextlib
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pythonlibs.datasets import load_cifar10
from pythonlibs.fast_cifar import (Recipe, ResidualGroup, images_to_tensor, make_fast_net,
                                   run_seeds, synchronize)
from pythonlibs.torch_lib1 import get_device

from evidence import run_metadata, save_record

NETS = {"airbench": make_fast_net,
        "resnet9": lambda: make_fast_net(group=ResidualGroup)}
AIRBENCH_VERSION = "0.1.8"


def parse_args():
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--net", choices=sorted(NETS), default="airbench")
    parser.add_argument("--epochs", type=float, default=Recipe.epochs)
    parser.add_argument("--compile", action="store_true", help="torch.compile our net")
    parser.add_argument("--airbench", action="store_true",
                        help=f"also run the airbench package ({AIRBENCH_VERSION}, CUDA only)")
    parser.add_argument("--airbench-wheels", help="install airbench from this folder (no network)")
    parser.add_argument("--json", help="also write the results to benchmarks/results/<JSON>.json")
    return parser.parse_args()


def summary(results: list[dict]) -> dict:
    """Mean and spread of accuracy and seconds over the seeds."""
    accuracy = np.array([r["accuracy"] for r in results])
    seconds = np.array([r["seconds"] for r in results])

    def spread(values):
        return float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return dict(accuracy_mean=float(accuracy.mean()), accuracy_std=spread(accuracy),
                seconds_mean=float(seconds.mean()), seconds_std=spread(seconds))


def run_ours(args, train: tuple, test: tuple, device) -> list[dict]:
    """``run_seeds`` of our recipe on the uint8 images ``train`` / ``test`` moved to ``device``."""
    train_x, train_y = images_to_tensor(*train, device)
    test_x, test_y = images_to_tensor(*test, device)
    recipe = Recipe(epochs=args.epochs, batch_size=min(1024, len(train_y) // 8),
                    compile=args.compile)
    results = run_seeds(NETS[args.net], train_x, train_y, test_x, test_y, recipe, args.seeds)
    for r in results:
        r["history"] = r["history"].tolist()
    return results


def import_airbench(wheels: str | None):
    """The airbench package, installed first with pip when it is missing."""
    try:
        return importlib.import_module("airbench")
    except ImportError:
        source = ["--no-index", "--find-links", wheels] if wheels else []
        command = [sys.executable, "-m", "pip", "install", "--no-deps", *source,
                   f"airbench=={AIRBENCH_VERSION}"]
        print("airbench を入れます:", " ".join(command))
        subprocess.run(command, check=True)
        return importlib.import_module("airbench")


def write_airbench_data(folder: Path, train: tuple, test: tuple, classes) -> None:
    """``folder/cifar10/{train,test}.pt`` as airbench's ``CifarLoader`` reads them (uint8 NHWC)."""
    (folder / "cifar10").mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in (("train", train), ("test", test)):
        torch.save({"images": torch.from_numpy(np.ascontiguousarray(images)),
                    "labels": torch.as_tensor(np.asarray(labels), dtype=torch.long),
                    "classes": list(classes)}, folder / "cifar10" / f"{name}.pt")


@contextlib.contextmanager
def working_folder(folder):
    """Run a block in ``folder`` (airbench reads ``cifar10/`` from the working folder)."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def run_airbench(args, train: tuple, test: tuple, classes) -> list[dict]:
    """airbench's ``train94`` per seed (after one untimed warm-up) on the same images."""
    airbench = import_airbench(args.airbench_wheels)
    with tempfile.TemporaryDirectory() as folder, working_folder(folder):
        write_airbench_data(Path(folder), train, test, classes)
        batch_size = min(1024, len(train[1]) // 8)
        # train94 starts each run from the loader's first epoch (``train_loader.epoch = 0``)
        train_loader = airbench.CifarLoader("cifar10", train=True, batch_size=batch_size,
                                            aug=dict(flip=True, translate=2), altflip=True)
        test_loader = airbench.CifarLoader("cifar10", train=False, batch_size=2000)
        airbench.train94(train_loader, epochs=args.epochs, verbose=False)
        results = []
        for seed in args.seeds:
            torch.manual_seed(seed)
            synchronize("cuda")
            start = time.perf_counter()
            model = airbench.train94(train_loader, epochs=args.epochs, verbose=False)
            accuracy = airbench.evaluate(model, test_loader, tta_level=2)
            synchronize("cuda")
            results.append(dict(seed=seed, accuracy=accuracy, seconds=time.perf_counter() - start))
            print(f"airbench シード {seed}: 精度 {accuracy:.4f}, {results[-1]['seconds']:.2f} 秒")
    return results


def main():
    args = parse_args()
    device = get_device()
    if args.airbench and device.type != "cuda":
        sys.exit("--airbench は CUDA の GPU でだけ動きます (airbench は .cuda() と半精度を前提にしています)。")
    train_set, test_set = load_cifar10(train=True, transform=None), load_cifar10(train=False, transform=None)
    train, test = (train_set.data, train_set.targets), (test_set.data, test_set.targets)
    print(f"data: train {len(train[1]):,} / test {len(test[1]):,} on {device}")
    meta = run_metadata(device)
    runs = {args.net: run_ours(args, train, test, device)}
    if args.airbench:
        runs["airbench package"] = run_airbench(args, train, test, train_set.classes)
    record = dict(seeds=args.seeds, epochs=args.epochs, compile=args.compile, **meta)
    for name, results in runs.items():
        record[name] = dict(results=results, **summary(results))
        s = record[name]
        print(f"{name} on {device} ({meta['device_name']}), seeds {args.seeds}: accuracy "
              f"{s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}, {s['seconds_mean']:.2f} ± "
              f"{s['seconds_std']:.2f} s per run (commit {meta['commit']}, torch {meta['torch']})")
    if args.airbench:
        ratio = record[args.net]["seconds_mean"] / record["airbench package"]["seconds_mean"]
        record["time_ratio_ours_to_airbench"] = ratio
        print(f"時間の比 (ours / airbench): {ratio:.2f}")
    if args.json:
        save_record(record, args.json)


if __name__ == "__main__":
    main()
