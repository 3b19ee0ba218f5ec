"""The classroom mirror (./course mirror): what a mirror holds and how it differs from a download,
weights taken from a mirror so that full mode works offline, and a loud notice when full mode
trains on the development mirror's 5,000 MNIST images.

The download step itself (MNIST, CIFAR-10, the ants/bees archive, ImageNet weights) cannot run
on these offline machines; it is tested here only for what it does offline: it names every
missing item and leaves nothing half written.
"""

import socket
import urllib.error
from pathlib import Path

import pytest
import torch
from torchvision import models

import pythonlibs.datasets as ds
from pythonlibs.mirror import build_mirror, describe_mirror, main
from pythonlibs.pretrained import MIRROR_WEIGHTS, load_pretrained, weights_file_name
from pythonlibs.settings import mirror_dir

MIRROR = mirror_dir()
needs_mirror = pytest.mark.skipif(MIRROR is None or not MIRROR.is_dir(),
                                  reason="DLNB_DATA_MIRROR (e.g. ../shared/datasets) is not set; CI sets it")


def online() -> bool:
    try:
        socket.create_connection(("download.pytorch.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


offline_only = pytest.mark.skipif(online(), reason="would download about 1 GB: runs offline only")


@needs_mirror
def test_the_development_mirror_is_described_with_its_differences(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLNB_DATA_DIR", str(tmp_path))
    rows = {item: (usable, note) for item, usable, note in describe_mirror(MIRROR)}
    assert rows["MNIST"][0] and "5,000" in rows["MNIST"][1] and "60,000" in rows["MNIST"][1]
    assert rows["CIFAR-10"][0] and "JPEG" in rows["CIFAR-10"][1]
    assert rows["hymenoptera_data"] == (True, "ダウンロードと同じ")
    for name in MIRROR_WEIGHTS:
        usable, note = rows[f"重み {name}"]
        assert not usable and "フルモード" in note
    assert main(["check", str(MIRROR)]) == 1, "an incomplete mirror is not reported as complete"
    assert "❌ 重み resnet18" in capsys.readouterr().out


def fake_weights(folder: Path, name: str) -> dict:
    """A real state_dict of ``name`` (random initialisation: no ImageNet weights offline here),
    saved under the file name torchvision downloads."""
    torch.manual_seed(0)
    state = models.get_model(name, weights=None).state_dict()
    (folder / "weights").mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "weights" / weights_file_name(name))
    return state


def test_full_mode_takes_the_weights_from_the_mirror(tmp_path, monkeypatch, capsys):
    mirror = tmp_path / "mirror"
    saved = fake_weights(mirror, "resnet18")
    monkeypatch.setenv("DLNB_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("DLNB_QUICK", raising=False)
    net = load_pretrained("resnet18")
    assert net.pretrained_weights_loaded
    assert all(torch.equal(net.state_dict()[k], v) for k, v in saved.items())
    assert "オフラインミラーから" in capsys.readouterr().out
    cached = tmp_path / "torch" / "hub" / "checkpoints" / weights_file_name("resnet18")
    assert cached.is_file(), "copied into torch.hub's cache, so torchvision's own calls find it too"


def test_without_weights_in_the_mirror_full_mode_says_where_they_come_from(tmp_path, monkeypatch):
    monkeypatch.setenv("DLNB_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("DLNB_QUICK", raising=False)

    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("offline")
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    with pytest.raises(RuntimeError, match="教室用ミラー"):
        load_pretrained("resnet18")


@needs_mirror
def test_a_kit_layout_mirror_is_complete(tmp_path, monkeypatch):
    """The layout a classroom mirror has, assembled from the real data here (weights excepted)."""
    monkeypatch.setenv("DLNB_DATA_DIR", str(tmp_path / "data"))
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "MNIST").symlink_to(MIRROR / "MNIST", target_is_directory=True)
    for name in ("cifar10-images.zip", "hymenoptera_data.zip", "boston_housing.csv"):
        (kit / name).symlink_to(MIRROR / name)
    for name in MIRROR_WEIGHTS:
        fake_weights(kit, name)
    assert all(usable for _, usable, _ in describe_mirror(kit))
    assert main(["check", str(kit)]) == 0


@needs_mirror
@offline_only
def test_full_mode_on_the_5000_image_mnist_says_so_loudly(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLNB_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DLNB_QUICK", raising=False)
    train_set = ds.load_mnist(train=True)
    out = capsys.readouterr().out
    assert len(train_set) == 5_000
    assert "!! 注意: このミラーの MNIST 訓練データは 5,000 枚です (本来は 60,000 枚)" in out


@offline_only
def test_building_a_mirror_offline_names_what_is_missing_and_leaves_no_partial_file(tmp_path):
    folder = tmp_path / "kit"
    problems = build_mirror(folder)
    missing = " ".join(problems)
    for item in ("MNIST", "CIFAR-10", "hymenoptera_data", "重み resnet18", "重み vgg19_bn"):
        assert item in missing
    assert (folder / "boston_housing.csv").is_file(), "the CSV shipped with the course is copied"
    leftovers = [p.name for p in folder.rglob("*") if p.is_file() and p.name not in
                 ("boston_housing.csv",) and not p.name.endswith(".lock")]
    assert leftovers == [], f"half-written files: {leftovers}"
