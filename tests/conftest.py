"""Shared fixtures of the unit tests: small real data (scikit-learn's digits), thread count, GPU marker."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn
from torchvision import transforms

from pythonlibs.data import ImageArrayDataset


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tiny models on one CPU thread (faster than several for such small work),
    then restore the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    """Skip the tests marked ``gpu`` where there is no CUDA GPU (``pytest -m gpu`` runs them on one)."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def digits_uint8():
    """scikit-learn's 1,797 real 8x8 digit images as uint8 (0..255), and their labels."""
    data = load_digits()
    return (data.images * (255 / 16)).round().astype(np.uint8), data.target


@pytest.fixture(scope="session")
def digits32_rgb(digits_uint8):
    """The same digits as colour images (N, 32, 32, 3): each pixel 4x4, grey copied to R, G, B."""
    images, labels = digits_uint8
    images = np.kron(images, np.ones((1, 4, 4), dtype=np.uint8))
    return np.repeat(images[..., None], 3, axis=3), labels


@pytest.fixture
def small_cnn():
    """Makes a small CNN for 32x32 RGB images (conv, BatchNorm, ReLU, pooling, linear; 10 classes)."""
    def make():
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 10))
    return make


@pytest.fixture
def digits_dataset(digits_uint8):
    """The digits as an ImageArrayDataset with ToTensor + Normalize(0.5, 0.5) (prepared once)."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    return ImageArrayDataset(*digits_uint8, [str(d) for d in range(10)], transform)


BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark("full_mode")``: a script of ``benchmarks/`` as a module (that folder is not
    a package; its scripts import ``evidence`` from beside them)."""
    def load(name: str):
        sys.path.insert(0, str(BENCHMARKS))
        try:
            spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        finally:
            sys.path.remove(str(BENCHMARKS))
    return load
