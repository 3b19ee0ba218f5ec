"""Data-parallel scaling of chapter 16's script: 1 vs N processes, same global batch, same data.

    python benchmarks/bench_ddp.py                       # 1 vs 2 processes, 500 images per class, 2 epochs
    python benchmarks/bench_ddp.py --per-class 0 --epochs 5 --nproc 2   # all of CIFAR-10 (full mode)

Runs ``notebooks/ch16_ddp_train.py`` under torchrun with 1 and with N processes on this machine
(one GPU per process where there are enough GPUs, else the CPU with the cores shared out),
and prints and saves (``benchmarks/results/ddp_*.json``) the median seconds per training epoch,
their ratio, and the final validation accuracy of each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from evidence import run_metadata, save_record  # noqa: E402  (benchmarks/ is not a package)
from pythonlibs.distributed import read_run, run_torchrun  # noqa: E402

SCRIPT = ROOT / "notebooks" / "ch16_ddp_train.py"


def measure(nproc: int, args: list, use_gpus: bool) -> dict:
    """One training run with ``nproc`` processes: its per-epoch seconds and final accuracy."""
    with tempfile.TemporaryDirectory() as out:
        result = run_torchrun(SCRIPT, ["--out", out, *args], nproc_per_node=nproc, use_gpus=use_gpus, echo=False)
        if result.returncode != 0:
            raise RuntimeError(f"{nproc} プロセスの学習が失敗しました:\n{result.output[-3000:]}")
        run = read_run(out)
    return {"processes": nproc, "threads_per_process": run["info"]["threads"], "device": run["info"]["device"],
            "backend": run["info"]["backend"], "train_samples": run["info"]["train_samples"],
            "epoch_seconds": run["seconds"].round(3).tolist(), "median_epoch_seconds": float(np.median(run["seconds"])),
            "final_val_acc": float(run["history"][-1, 4]), "launch_seconds": round(result.seconds, 1)}


def main() -> None:
    import torch
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--per-class", type=int, default=500, help="各クラスの訓練画像の枚数 (0: 全部)")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    use_gpus = torch.cuda.device_count() >= args.nproc
    script_args = ["--epochs", args.epochs] + (["--per-class", args.per_class] if args.per_class else [])
    runs = [measure(n, script_args, use_gpus) for n in (1, args.nproc)]
    ratio = runs[0]["median_epoch_seconds"] / runs[1]["median_epoch_seconds"]
    for run in runs:
        print(f"{run['processes']} プロセス ({run['device']}、{run['backend']}、スレッド {run['threads_per_process']}): "
              f"1 エポック {run['median_epoch_seconds']:.2f} 秒 (中央値)、検証精度 {run['final_val_acc']:.4f}")
    print(f"{args.nproc} プロセスは 1 プロセスの {ratio:.2f} 倍の速さ (訓練 {runs[0]['train_samples']:,} 枚)")
    record = {**run_metadata("cuda" if use_gpus else "cpu"), "speedup": round(ratio, 3), "runs": runs}
    save_record(record, f"ddp_{record['date']}_{'gpu' if use_gpus else 'cpu'}_{args.nproc}proc")


if __name__ == "__main__":
    main()
