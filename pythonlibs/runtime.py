"""The machine a notebook runs on: the device, seeds that make runs repeat.

Importing this module sets ``CUBLAS_WORKSPACE_CONFIG`` (unless already set): cuBLAS reads it
at its first call, so ``torch_seed`` alone would come too late in a notebook that has already
multiplied a matrix on the GPU.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["get_device", "torch_seed"]

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

# Kept at import: the book's own ``torch_seed`` assigns True to ``torch.use_deterministic_algorithms``,
# which replaces PyTorch's function with a bool for the rest of the session.
_deterministic_switch = torch.use_deterministic_algorithms


def get_device(verbose: bool = True) -> torch.device:
    """The best available device: ``cuda``, then ``mps`` (Apple silicon), then ``cpu``."""
    if torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        name = torch.cuda.get_device_name(0) if device.type == "cuda" else ""
        print(f"デバイス: {device} {name}".rstrip())
    return device


def torch_seed(seed: int = 123, deterministic: bool = True) -> None:
    """Seed every random number generator so that a run repeats.

    Sets Python's, NumPy's and PyTorch's (CPU and all GPUs) generators.  With
    ``deterministic=True`` (the book's behaviour) it also turns off cuDNN's benchmark mode and
    asks for deterministic algorithms, so that a GPU run repeats bit for bit.  The book assigned
    ``True`` to the attribute ``torch.use_deterministic_algorithms``, which replaces the function
    with a bool and does nothing; here the function is called (and put back if the book's code
    replaced it).  ``warn_only=True`` lets the few operations that have no deterministic GPU
    kernel (e.g. the backward of ``AdaptiveAvgPool2d``) run with a warning instead of stopping.

    ``deterministic=False`` (not in the book) lets cuDNN pick its fastest kernels instead: on a
    GPU the runs then repeat only up to tiny floating-point differences, and deep BatchNorm
    networks train faster.  On the CPU the results are the same either way.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    setattr(torch, "use_deterministic_algorithms", _deterministic_switch)   # undo the book's overwrite
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
