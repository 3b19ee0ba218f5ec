"""Where things are and how much to run: project paths, the data folders, quick mode.

Nothing here imports torch, so these answers are cheap to get anywhere.

* ``DLNB_DATA_DIR``: where datasets are downloaded and extracted (default: ``data/`` of the
  project); point it elsewhere when ``data/`` is read-only or full.
* ``DLNB_DATA_MIRROR``: a folder laid out like ``../shared/datasets`` to read datasets from when
  they cannot be downloaded (relative paths count from the project root).
* ``DLNB_QUICK=1``: quick mode, the same code on small real subsets and few epochs.

Quick mode is announced by one line at import, except in processes whose parent already did
(``run_torchrun`` of :mod:`pythonlibs.distributed` sets ``DLNB_QUICK_ANNOUNCED`` for its children).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "PROJECT_ROOT", "DATA_DIR", "QUICK_TRAIN_PER_CLASS", "QUICK_TEST_PER_CLASS", "QUICK_MAX_EPOCHS",
    "is_quick", "epochs", "quick_per_class", "data_dir", "mirror_dir",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

QUICK_TRAIN_PER_CLASS = 100   # e.g. 1,000 training images for MNIST or CIFAR-10
QUICK_TEST_PER_CLASS = 50     # e.g. 500 test images
QUICK_MAX_EPOCHS = 2


def _project_path(value: str) -> Path:
    """A path from an environment variable; a relative one counts from the project root."""
    path = Path(value).expanduser()
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def data_dir() -> Path:
    """The folder datasets are downloaded and extracted into: ``DLNB_DATA_DIR``, else ``data/``."""
    value = os.environ.get("DLNB_DATA_DIR", "").strip()
    return _project_path(value) if value else PROJECT_ROOT / "data"


def mirror_dir() -> Path | None:
    """The offline mirror folder from ``DLNB_DATA_MIRROR``, or None when it is not set."""
    value = os.environ.get("DLNB_DATA_MIRROR", "").strip()
    return _project_path(value) if value else None


def is_quick() -> bool:
    """True when the course runs in quick mode (``DLNB_QUICK=1``)."""
    return os.environ.get("DLNB_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}


def epochs(full: int, quick: int = QUICK_MAX_EPOCHS) -> int:
    """Number of epochs to train: ``full`` normally, at most ``quick`` in quick mode."""
    if full < 1:
        raise ValueError(f"エポック数は 1 以上にしてください (full={full})")
    return min(full, quick) if is_quick() else full


def quick_per_class(train: bool) -> int | None:
    """Images per class that quick mode keeps of a training or test set (None: keep all)."""
    if not is_quick():
        return None
    return QUICK_TRAIN_PER_CLASS if train else QUICK_TEST_PER_CLASS


DATA_DIR = data_dir()   # the data folder as it was when the course was imported (for notebooks)

if is_quick() and not os.environ.get("DLNB_QUICK_ANNOUNCED"):
    print(f"⚡ クイックモード (DLNB_QUICK=1): データは各クラス {QUICK_TRAIN_PER_CLASS} 枚 (テスト "
          f"{QUICK_TEST_PER_CLASS} 枚) の実データ部分集合、エポック数は最大 {QUICK_MAX_EPOCHS}。"
          "結果の数値は本番 (フルモード) より低くなります。")
