"""A classroom mirror: every dataset and pretrained weight file of the course in one folder.

On a machine with internet, ``./course mirror FOLDER`` (``python -m pythonlibs.mirror build
FOLDER``) downloads them.  Copy the folder to the classroom machines or a shared drive and set
``DLNB_DATA_MIRROR`` to it there: the loaders read the datasets from it and ``load_pretrained``
the weights, so full mode works offline.  ``./course mirror --check FOLDER`` says what a mirror
holds and how it differs from a download (e.g. the development mirror's 5,000 MNIST training
images and JPEG CIFAR-10).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pythonlibs.datasets import describe_datasets, download_datasets
from pythonlibs.pretrained import describe_weights, download_weights

__all__ = ["build_mirror", "describe_mirror", "main"]


def build_mirror(folder) -> list[str]:
    """Download every dataset and weight file into ``folder``; returns the problems."""
    folder = Path(folder)
    print(f"==> 教室用ミラーを {folder} に作ります (データセット約 400 MB、重み約 600 MB)")
    return download_datasets(folder) + download_weights(folder)


def describe_mirror(folder) -> list[tuple[str, bool, str]]:
    """(item, usable, note) for every dataset and weight file the course uses."""
    return describe_datasets(folder) + describe_weights(folder)


def _print_report(folder: Path) -> bool:
    """Print what ``folder`` holds; True when everything the course uses is there."""
    rows = describe_mirror(folder)
    print(f"ミラー {folder} の中身:")
    for item, usable, note in rows:
        print(f"  {'✅' if usable else '❌'} {item}: {note}")
    return all(usable for _, usable, _ in rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pythonlibs.mirror",
                                     description="教室用ミラー (DLNB_DATA_MIRROR) を作る / 確かめる")
    parser.add_argument("action", choices=["build", "check"])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    if args.action == "build":
        problems = build_mirror(args.folder)
        complete = _print_report(args.folder)
        if problems:
            print("ダウンロードできなかったもの (インターネットにつないだマシンで、もう一度実行してください):\n  "
                  + "\n  ".join(problems), file=sys.stderr)
        return 0 if complete and not problems else 1
    if not args.folder.is_dir():
        print(f"フォルダ {args.folder} がありません。", file=sys.stderr)
        return 1
    return 0 if _print_report(args.folder) else 1


if __name__ == "__main__":
    sys.exit(main())
