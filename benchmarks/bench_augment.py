"""Chapter 10's augmentation (flip + ToTensor + Normalize + RandomErasing) on real CIFAR-10:
one epoch of batches image by image in DataLoader workers vs batch by batch (make_loader now).

    python benchmarks/bench_augment.py            # the training images of the mode (quick: 1,000)

Prints the seconds per epoch of each and their ratio, measured in this one run, and saves them
to ``benchmarks/results/augment_*.json``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from torch.utils.data import DataLoader  # noqa: E402
from torchvision import transforms  # noqa: E402

from evidence import run_metadata, save_record  # noqa: E402  (benchmarks/ is not a package)
from pythonlibs.data import default_num_workers, make_loader  # noqa: E402
from pythonlibs.datasets import load_cifar10  # noqa: E402

CH10_TRAIN = transforms.Compose([
    transforms.RandomHorizontalFlip(p=0.5), transforms.ToTensor(), transforms.Normalize(0.5, 0.5),
    transforms.RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False)])


def epoch_seconds(loader, repeats: int = 2) -> float:
    """The fastest of ``repeats`` full passes over ``loader`` (the first one warms the workers up)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _inputs, _labels in loader:
            pass
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    dataset = load_cifar10(train=True, transform=CH10_TRAIN)
    workers = default_num_workers()
    per_image = DataLoader(dataset, batch_size=100, shuffle=True, num_workers=workers,
                           persistent_workers=workers > 0)
    batched = make_loader(dataset, 100, shuffle=True)
    slow, fast = epoch_seconds(per_image), epoch_seconds(batched)
    print(f"{len(dataset):,} 枚の 1 エポック: 1 枚ずつ (DataLoader、ワーカー {workers}) {slow:.2f} 秒、"
          f"バッチごと ({type(batched).__name__}) {fast:.2f} 秒 → {slow / fast:.1f} 倍速い")
    record = {**run_metadata("cpu"), "images": len(dataset), "workers": workers,
              "per_image_seconds": round(slow, 3), "batched_seconds": round(fast, 3), "speedup": round(slow / fast, 2)}
    save_record(record, f"augment_{record['date']}_{len(dataset)}")


if __name__ == "__main__":
    main()
