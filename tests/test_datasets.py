"""Tests of pythonlibs.datasets: real data from the mirror, safe extraction, clear messages.

Tests marked ``needs_mirror`` read the offline mirror (``DLNB_DATA_MIRROR``, set by CI).
"""

import multiprocessing
import os
import resource
import shutil
import signal
import subprocess
import sys
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

import pythonlibs.datasets as ds
from pythonlibs.settings import QUICK_TEST_PER_CLASS, QUICK_TRAIN_PER_CLASS, is_quick, mirror_dir

MIRROR = mirror_dir()
needs_mirror = pytest.mark.skipif(MIRROR is None or not MIRROR.is_dir(),
                                  reason="DLNB_DATA_MIRROR (e.g. ../shared/datasets) is not set; CI sets it")


def save_images(folder: Path, images, prefix="img", suffix=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{prefix}_{i:04d}{suffix}")


# --- real data from the mirror: order, quick mode, no shared state ------------------------------

@needs_mirror
def test_load_mnist_from_mirror_in_a_mixed_fixed_order():
    test_set = ds.load_mnist(train=False, transform=transforms.ToTensor())
    assert len(test_set) == (10 * QUICK_TEST_PER_CLASS if is_quick() else 10_000)
    image, label = test_set[0]
    assert image.shape == (1, 28, 28) and 0 <= label <= 9 and 0 <= image.min() <= image.max() <= 1
    train_set = ds.load_mnist(train=True)   # the mirror's training subset is sorted by digit
    assert len(np.unique(train_set.targets[:30])) >= 8
    assert np.array_equal(train_set.targets, ds.load_mnist(train=True).targets)
    if is_quick():
        assert np.bincount(train_set.targets).tolist() == [QUICK_TRAIN_PER_CLASS] * 10


@needs_mirror
def test_load_cifar10_from_mirror_in_a_mixed_fixed_order():
    train_set = ds.load_cifar10(train=True)
    assert train_set.classes == list(ds.CIFAR10_CLASSES) and train_set.data.shape[1:] == (32, 32, 3)
    assert len(train_set) == (10 * QUICK_TRAIN_PER_CLASS if is_quick() else 50_000)
    assert len(np.unique(train_set.targets[:100])) == 10   # e.g. whitening fitted on train[:100]
    assert len(np.unique(ds.load_cifar10(train=False).targets[:50])) >= 8
    assert np.array_equal(train_set.targets, ds.load_cifar10(train=True).targets)
    assert (ds.data_dir() / "cifar10-images" / "test").is_dir()   # extracted into data/ once


@needs_mirror
def test_each_loaded_dataset_has_its_own_labels_and_read_only_images():
    first = ds.load_cifar10(train=False)
    labels = first.targets.copy()
    first.targets[:] = 0                   # e.g. a label-noise experiment
    first.data = first.data[:10]
    with pytest.raises(ValueError, match="read-only"):
        first.data[0] = 0
    second = ds.load_cifar10(train=False)
    assert np.array_equal(second.targets, labels) and len(second) == len(labels)


@needs_mirror
def test_vectorised_preparation_equals_per_image_on_real_cifar10():
    normalise = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize(ds.CIFAR10_MEAN, ds.CIFAR10_STD)])
    test_set = ds.load_cifar10(train=False, transform=normalise)
    per_image = torch.stack([normalise(Image.fromarray(image)) for image in test_set.data[:200]])
    assert torch.equal(test_set.tensors[0][:200], per_image)


@needs_mirror
def test_load_hymenoptera_from_mirror():
    transform = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64),
                                    transforms.ToTensor()])
    val = ds.load_hymenoptera(train=False, transform=transform)
    assert val.classes == ["ants", "bees"]
    assert len(val) == (40 if is_quick() else 153)
    image, label = val[0]
    assert image.shape == (3, 64, 64) and label in (0, 1)


# --- image folders -------------------------------------------------------------------------------

def test_hidden_folders_and_files_are_not_classes(tmp_path, digits32_rgb):
    images, labels = digits32_rgb
    save_images(tmp_path / "cat", images[labels == 3][:5])
    save_images(tmp_path / "dog", images[labels == 7][:4])
    save_images(tmp_path / ".ipynb_checkpoints", images[:2])    # JupyterLab makes these
    (tmp_path / "cat" / "._img_0000.png").write_bytes(b"\x00\x05\x16\x07")   # macOS metadata
    folder = ds.load_image_folder(tmp_path)
    assert folder.classes == ["cat", "dog"] and len(folder) == 9


def test_an_unreadable_image_is_named(tmp_path, digits32_rgb):
    save_images(tmp_path / "cat", digits32_rgb[0][:2])
    save_images(tmp_path / "dog", digits32_rgb[0][2:4])
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"not a jpeg at all")
    folder = ds.load_image_folder(tmp_path, transforms.ToTensor())
    with pytest.raises(ValueError, match=r"broken\.jpg を読めません"):
        [folder[i] for i in range(len(folder))]


def test_load_image_folder_rejects_missing_or_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="見つかりません"):
        ds.load_image_folder(tmp_path / "nothing")
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="画像がありません"):
        ds.load_image_folder(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    with pytest.raises(FileNotFoundError, match="クラスのフォルダがありません"):
        ds.load_image_folder(tmp_path / "flat")


def test_write_image_folder_never_touches_what_it_did_not_write(tmp_path, digits32_rgb):
    images, labels = digits32_rgb
    splits = {"train": (images[:30], labels[:30] % 2), "val": (images[30:40], labels[30:40] % 2)}
    root = tmp_path / "cats_dogs"
    own = root / "train" / "cat" / "my_cat.jpg"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"a learner's own photo")
    with pytest.raises(FileExistsError, match="何も変更しません"):
        ds.write_image_folder(root, splits, ["cat", "dog"])
    assert own.read_bytes() == b"a learner's own photo"

    fresh = tmp_path / "generated"
    ds.write_image_folder(fresh, splits, ["cat", "dog"])
    assert len(ds.load_image_folder(fresh / "train")) == 30
    added = fresh / "train" / "dog" / "my_dog.jpg"      # added later by the learner
    added.write_bytes(b"mine")
    ds.write_image_folder(fresh, {"train": (images[:6], labels[:6] % 2)}, ["cat", "dog"])
    assert added.read_bytes() == b"mine"
    assert not (fresh / "val").exists()                  # what it wrote before is replaced
    assert len(list((fresh / "train").rglob("*.jpg"))) == 6 + 1


# --- archives: concurrency, interruptions, damage -----------------------------------------------

def _make_archive(tmp_path, digits32_rgb, marker="digits"):
    tree = tmp_path / "src" / marker
    for digit in range(10):
        save_images(tree / str(digit), digits32_rgb[0][digits32_rgb[1] == digit])
    archive = tmp_path / f"{marker}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(tree.rglob("*.png")):
            zf.write(path, path.relative_to(tree.parent))
    return archive, len(digits32_rgb[0])


def _extract_and_count(args):
    archive, dest = args
    tree = ds.extract_archive_once(archive, dest, "digits")
    return len(list(tree.rglob("*.png")))


def test_extract_archive_once(tmp_path, digits32_rgb):
    archive, n_files = _make_archive(tmp_path, digits32_rgb)
    dest = tmp_path / "data"
    tree = ds.extract_archive_once(archive, dest, "digits")
    assert len(list(tree.rglob("*.png"))) == n_files
    archive.unlink()  # a second call must not need the archive any more
    assert ds.extract_archive_once(archive, dest, "digits") == tree
    with pytest.raises(FileNotFoundError):
        ds.extract_archive_once(archive, dest, "other")


def test_several_processes_extracting_at_once_all_get_the_whole_tree(tmp_path, digits32_rgb):
    archive, n_files = _make_archive(tmp_path, digits32_rgb)
    dest = tmp_path / "data"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        counts = pool.map(_extract_and_count, [(archive, dest)] * 4)
    assert counts == [n_files] * 4
    assert sorted(p.name for p in dest.iterdir()) == [".digits.lock", "digits"]   # no leftovers


def test_an_interrupted_extraction_is_completed_not_trusted(tmp_path, digits32_rgb):
    archive, n_files = _make_archive(tmp_path, digits32_rgb)
    dest = tmp_path / "data"
    partial = dest / "digits" / "0"                 # a run stopped after the first folder
    save_images(partial, digits32_rgb[0][:3], prefix="img")
    (dest / ".digits.tmp-abc").mkdir()              # and its temporary folder
    tree = ds.extract_archive_once(archive, dest, "digits")
    assert len(list(tree.rglob("*.png"))) == n_files
    assert not (dest / ".digits.tmp-abc").exists()


def test_a_damaged_mirror_archive_is_named(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    damaged = mirror / "cifar10-images.zip"
    damaged.write_bytes(b"PK\x03\x04" + os.urandom(4096))   # a copy that stopped after 4 KB
    monkeypatch.setenv("DLNB_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("DLNB_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(RuntimeError, match=r"cifar10-images\.zip が壊れています"):
        ds.load_cifar10(train=False)
    assert not list((tmp_path / "data").glob(".cifar10-images.tmp-*"))


@needs_mirror
def test_an_interrupted_hymenoptera_download_is_not_trusted(tmp_path, monkeypatch):
    data = tmp_path / "data"
    with zipfile.ZipFile(MIRROR / "hymenoptera_data.zip") as zf:
        ants = [n for n in zf.namelist() if n.startswith("hymenoptera_data/train/ants/")
                and n.endswith(".jpg")][:3]
        for name in ants:                             # what an interrupted extraction left
            zf.extract(name, data)
    half = (MIRROR / "hymenoptera_data.zip").read_bytes()[:1_000_000]
    (data / "hymenoptera_data.zip").write_bytes(half)  # what an interrupted download left
    monkeypatch.setenv("DLNB_DATA_DIR", str(data))
    calls = []

    def offline(*args, **kwargs):
        calls.append(args)
        raise urllib.error.URLError("offline")
    monkeypatch.setattr(ds, "download_url", offline)
    train = ds.load_hymenoptera(train=True)
    assert calls, "the download was not tried"
    assert train.classes == ["ants", "bees"]
    assert len(train) == (40 if is_quick() else 244)


def _run_loader(code: str, env: dict, preexec=None, bounding_set=None):
    """Run ``code`` in a fresh Python (with limits the test process itself must not take on)."""
    command = [sys.executable, "-c", code]
    if bounding_set:
        command = ["setpriv", f"--bounding-set={bounding_set}"] + command
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True,
                          preexec_fn=preexec, timeout=300, cwd=Path(__file__).parent.parent)


@needs_mirror
def test_a_read_only_data_folder_says_use_dlnb_data_dir(tmp_path):
    read_only = tmp_path / "data"
    read_only.mkdir()
    read_only.chmod(0o555)
    bounding = None
    if os.geteuid() == 0:   # root ignores file permissions unless it gives up that power
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv (util-linux) is needed to test permissions as root")
        bounding = "-dac_override,-dac_read_search"
    result = _run_loader("from pythonlibs.datasets import load_cifar10\nload_cifar10(train=False)",
                         {"DLNB_DATA_DIR": str(read_only)}, bounding_set=bounding)
    read_only.chmod(0o755)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "書き込めません" in last_line and "DLNB_DATA_DIR" in last_line, result.stderr


def _limit_file_size():
    """Files may not grow beyond 20 KB: the writes fail as on a full disk (EFBIG, not a signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


@needs_mirror
def test_a_full_data_folder_says_use_dlnb_data_dir(tmp_path):
    result = _run_loader("from pythonlibs.datasets import load_hymenoptera\nload_hymenoptera()",
                         {"DLNB_DATA_DIR": str(tmp_path / "data")}, preexec=_limit_file_size)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert "書き込めません" in last_line and "DLNB_DATA_DIR" in last_line, result.stderr


def test_missing_data_stops_with_a_message_that_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("DLNB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DLNB_DATA_MIRROR", str(tmp_path / "no-mirror"))
    calls = []

    def offline(*args, **kwargs):
        calls.append(args)
        raise urllib.error.URLError("offline")
    for module in ("torchvision.datasets.mnist", "torchvision.datasets.cifar"):
        monkeypatch.setattr(f"{module}.download_and_extract_archive", offline)
    monkeypatch.setattr(ds, "download_url", offline)
    for load in (ds.load_mnist, ds.load_cifar10, ds.load_hymenoptera):
        with pytest.raises(RuntimeError, match="DLNB_DATA_MIRROR"):
            load()
    assert len(calls) >= 3, "each loader must have tried its download"
    assert not list((tmp_path / "data").glob(".*.tmp-*"))
