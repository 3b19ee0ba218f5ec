"""Benchmark: preparing CIFAR-10 images once, image by image (PIL + ToTensor) or all at once.

``ImageArrayDataset`` transforms every image once when its transform is deterministic.  For the
common ``ToTensor() + Normalize(...)`` pipeline it converts the whole uint8 array in a few tensor
operations instead of one PIL round trip per image; both give the same tensors bit for bit
(tests/test_data.py, tests/test_datasets.py).  This script measures the two paths on the same
images in one run and prints their ratio.

Run from the project root (CI does not run it; it is a measurement, not a test):

    DLNB_DATA_MIRROR=../shared/datasets .venv/bin/python benchmarks/bench_precompute.py --runs 3
"""

import argparse
import json
import statistics
import time

import torch
from PIL import Image
from torchvision import transforms

from pythonlibs.data import ImageArrayDataset
from pythonlibs.datasets import CIFAR10_MEAN, CIFAR10_STD, load_cifar10

from evidence import run_metadata


def per_image(images, transform) -> torch.Tensor:
    """The old path: one PIL image and one transform call per image."""
    return torch.stack([transform(Image.fromarray(image)) for image in images])


def all_at_once(images, labels, transform) -> torch.Tensor:
    """The library's path: ImageArrayDataset prepares the whole array."""
    return ImageArrayDataset(images, labels, range(10), transform).tensors[0]


def seconds(function, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()
    train = load_cifar10(train=True)
    transform = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    assert torch.equal(per_image(train.data[:500], transform),
                       all_at_once(train.data[:500], train.targets[:500], transform))
    old = seconds(lambda: per_image(train.data, transform), args.runs)
    new = seconds(lambda: all_at_once(train.data, train.targets, transform), args.runs)
    result = {
        "images": len(train), "runs": args.runs,
        "per_image_s": statistics.median(old), "all_at_once_s": statistics.median(new),
        "per_image_spread_s": [min(old), max(old)], "all_at_once_spread_s": [min(new), max(new)],
        "ratio": statistics.median(old) / statistics.median(new),
        **run_metadata("cpu"),
    }
    print(f"{result['images']:,} 枚: 1 枚ずつ {result['per_image_s']:.2f} 秒, まとめて "
          f"{result['all_at_once_s']:.2f} 秒 → {result['ratio']:.1f} 倍速い "
          f"(中央値, {args.runs} 回, torch {result['torch']}, {result['cpu_threads']} スレッド)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
