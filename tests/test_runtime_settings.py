"""Tests of pythonlibs.settings (paths, quick mode) and pythonlibs.runtime (device, seeds)."""

import pytest
import torch

from pythonlibs.runtime import get_device, torch_seed
from pythonlibs.settings import (PROJECT_ROOT, QUICK_MAX_EPOCHS, data_dir, epochs, is_quick,
                                 mirror_dir)


def test_epochs_full_and_quick(monkeypatch):
    monkeypatch.setenv("DLNB_QUICK", "0")
    assert not is_quick() and epochs(50) == 50
    monkeypatch.setenv("DLNB_QUICK", "1")
    assert is_quick()
    assert epochs(50) == QUICK_MAX_EPOCHS and epochs(50, quick=5) == 5 and epochs(1) == 1
    with pytest.raises(ValueError):
        epochs(0)


def test_data_folders_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("DLNB_DATA_DIR", raising=False)
    assert data_dir() == PROJECT_ROOT / "data"
    monkeypatch.setenv("DLNB_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.setenv("DLNB_DATA_MIRROR", "../shared/datasets")   # relative: from the project root
    assert mirror_dir() == (PROJECT_ROOT.parent / "shared" / "datasets").resolve()
    monkeypatch.delenv("DLNB_DATA_MIRROR")
    assert mirror_dir() is None


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device(verbose=False).type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device(verbose=False).type == "mps"


def test_torch_seed_calls_use_deterministic_algorithms():
    try:
        torch_seed(1)
        assert callable(torch.use_deterministic_algorithms)  # the book overwrote it with True
        assert torch.are_deterministic_algorithms_enabled()
        a = torch.rand(3)
        torch_seed(1)
        assert torch.equal(a, torch.rand(3))
        assert not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)


def test_torch_seed_repairs_what_the_books_own_torch_seed_broke(monkeypatch):
    monkeypatch.setattr(torch, "use_deterministic_algorithms", True)   # the book's ch08/ch09 cell
    try:
        torch_seed(2)
        assert callable(torch.use_deterministic_algorithms)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_torch_seed_without_determinism_lets_cudnn_choose_and_still_repeats_on_the_cpu(digits_dataset):
    """deterministic=False frees cuDNN (GPU speed) and changes nothing of a CPU training run."""
    from torch import nn, optim

    from pythonlibs.data import make_loader
    from pythonlibs.training import fit

    def trained_weights(deterministic):
        torch_seed(3, deterministic=deterministic)
        net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
        loader = make_loader(digits_dataset, 64, shuffle=True)
        fit(net, optim.SGD(net.parameters(), lr=0.05), nn.CrossEntropyLoss(), 1, loader, loader, "cpu", live=False)
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    try:
        fast = trained_weights(False)
        assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.equal(fast, trained_weights(True)), "on the CPU the determinism switch changed the result"
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = False
