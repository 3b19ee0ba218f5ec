"""The course's datasets, always real: torchvision's download, else the offline mirror.

Each loader first downloads with torchvision into the data folder (``data/``, or
``DLNB_DATA_DIR``); without internet it reads the mirror named by ``DLNB_DATA_MIRROR``
(extracting an archive into the data folder once); failing both it stops with one message
that says what to do.  Never a synthetic stand-in.

Order: MNIST and CIFAR-10 keep the order of the original files where the source has one
(torchvision's downloads are mixed); a source sorted by class (the mirror's CIFAR-10 folders and
MNIST training subset) is mixed by one fixed permutation, so "the first N images" are never all
of one class.  Quick mode then keeps a fixed stratified subset, in that order.

Everything that writes into the data folder is safe when two notebooks (or a classroom on a
shared drive) load the same dataset at once: a file lock, a private temporary folder, then an
atomic rename; an interrupted download or extraction is never trusted later.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import urllib.error
import zipfile
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
from filelock import FileLock
from PIL import Image, UnidentifiedImageError
from torchvision import datasets as tv_datasets
from torchvision.datasets.utils import check_integrity, download_url

from pythonlibs.data import ImageArrayDataset, quick_subset, stratified_indices
from pythonlibs.settings import PROJECT_ROOT, data_dir, mirror_dir
from pythonlibs.settings import quick_per_class as quick_mode_per_class   # not the parameter below

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "MNIST_CLASSES", "HYMENOPTERA_URL",
    "load_mnist", "load_cifar10", "load_image_folder", "load_hymenoptera",
    "extract_archive_once", "write_image_folder", "VisibleImageFolder",
    "MIRROR_DATASETS", "download_datasets", "describe_datasets",
]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
# Per-channel mean and standard deviation of the CIFAR-10 training images (pixels scaled to [0, 1]).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
MNIST_CLASSES = tuple(str(d) for d in range(10))

HYMENOPTERA_URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
HYMENOPTERA_MD5 = "a7ae121c8579aa62930f51651ae2f3f8"

EXTRACTED_STAMP = ".dlnb-extracted"   # written last into a tree whose extraction completed
GENERATED_STAMP = ".dlnb-generated"   # lists the files write_image_folder created
MIXING_SEED = 0

# errno values that mean "this folder cannot take the data" rather than "the data is bad"
UNWRITABLE = {getattr(errno, name) for name in ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT", "EFBIG")
              if hasattr(errno, name)}   # EDQUOT is not defined on Windows


# ---------------------------------------------------------------------------------------------
# Writing into the data folder: clear messages, locks
# ---------------------------------------------------------------------------------------------

@contextmanager
def _writing_into(folder: Path):
    """Turn "read-only / full / not allowed" errors while writing into ``folder`` into one message."""
    try:
        yield
    except OSError as error:
        if error.errno not in UNWRITABLE:
            raise
        raise RuntimeError(
            f"データ用フォルダ {folder} に書き込めません ({os.strerror(error.errno)})。読み取り専用か、"
            "ディスクがいっぱいです。書き込めて空きのあるフォルダを環境変数 DLNB_DATA_DIR に指定して"
            "ください (例: DLNB_DATA_DIR=~/dlnb-data ./course lab)。") from None


@contextmanager
def _exclusive(folder: Path, name: str):
    """Hold a file lock on ``name`` in ``folder``, so only one process writes it at a time.

    Errors of a read-only or full folder, inside the block too, become one clear message."""
    with _writing_into(folder):
        folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(folder / f".{name}.lock")):
            yield


def _download_errors():
    """Exceptions that mean "the download did not work" (no network, server gone, bad file)."""
    return (urllib.error.URLError, OSError, RuntimeError)


def _data_missing(name: str, error: Exception | None, expected: str) -> RuntimeError:
    mirror = mirror_dir()
    failed = f"失敗 ({type(error).__name__}: {error})" if error else "未実行"
    return RuntimeError(
        f"{name} を用意できませんでした。\n"
        f"  ダウンロード先 {data_dir()}: {failed}\n"
        f"  オフラインミラー DLNB_DATA_MIRROR: {mirror or '未設定'} ({expected} が見つかりません)\n"
        "対処: インターネットにつないで再実行するか、教室用ミラー (インターネットのあるマシンで "
        "./course mirror フォルダ で作れます) のフォルダを DLNB_DATA_MIRROR に設定してください。"
        "データ用フォルダに書き込めない場合は DLNB_DATA_DIR で別のフォルダを指定します。"
        "README の「オフラインで使う」「データの置き場所」を参照。")


# ---------------------------------------------------------------------------------------------
# Archives and downloads that are never half trusted
# ---------------------------------------------------------------------------------------------

@contextmanager
def _open_zip(archive: Path):
    """Open ``archive``; a damaged one stops with a message that names the file."""
    try:
        with zipfile.ZipFile(archive) as zf:
            yield zf
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as error:
        raise RuntimeError(
            f"アーカイブ {archive} が壊れています ({type(error).__name__}: {error})。ダウンロードや"
            "コピーが途中で止まった可能性があります。このファイルを正しいものに置き換えてください "
            "(ミラーなら元の場所からコピーし直す)。") from None


def _missing_members(zf: zipfile.ZipFile, dest: Path) -> list[zipfile.ZipInfo]:
    """Files of the archive that are absent under ``dest`` or have another size."""
    missing = []
    for member in zf.infolist():
        path = dest / member.filename
        if not member.is_dir() and (not path.is_file() or path.stat().st_size != member.file_size):
            missing.append(member)
    return missing


def _extract(zf: zipfile.ZipFile, dest: Path, marker: str) -> None:
    """Extract into a private temporary folder, then rename ``marker`` into place at once."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{marker}.tmp-", dir=dest))
    try:
        zf.extractall(tmp)
        (tmp / marker / EXTRACTED_STAMP).write_text("complete\n")
        os.replace(tmp / marker, dest / marker)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract_archive_once(archive, dest, marker: str) -> Path:
    """Extract the zip ``archive`` (whose top folder is ``marker``) into ``dest`` once.

    The tree appears at ``dest / marker`` only when complete (a private temporary folder is
    renamed into place), and several processes extracting at once wait for the first.  A tree
    left incomplete by an older version or an interruption is completed from the archive
    without deleting anything in it.  Returns ``dest / marker``.
    """
    dest = Path(dest)
    target = dest / marker
    if (target / EXTRACTED_STAMP).is_file():
        return target
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"アーカイブが見つかりません: {archive}")
    with _exclusive(dest, marker):
        if (target / EXTRACTED_STAMP).is_file():   # another process finished it meanwhile
            return target
        for leftover in dest.glob(f".{marker}.tmp-*"):   # our own, from an interrupted run
            shutil.rmtree(leftover, ignore_errors=True)
        print(f"{archive.name} をデータ用フォルダに展開しています (初回だけ)…")
        with _open_zip(archive) as zf:
            if target.exists():
                zf.extractall(dest, members=_missing_members(zf, dest))
                (target / EXTRACTED_STAMP).write_text("complete\n")
            else:
                _extract(zf, dest, marker)
    return target


def _download_verified(url: str, path: Path, md5: str) -> Path:
    """Download ``url`` to ``path`` unless a file with the right MD5 is there already.

    The download goes to a private temporary folder, is checked against ``md5`` and only then
    renamed to ``path``: a broken download never takes the name of a good one.
    """
    if check_integrity(str(path), md5):
        return path
    with _exclusive(path.parent, path.name):
        if check_integrity(str(path), md5):
            return path
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            download_url(url, str(tmp), filename=path.name, md5=md5)
            os.replace(tmp / path.name, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _mirror_tree(archive_name: str, marker: str, name: str, error: Exception | None) -> Path:
    """Extract ``archive_name`` from the mirror into the data folder once; return the tree."""
    mirror = mirror_dir()
    if mirror is None or not (mirror / archive_name).is_file():
        raise _data_missing(name, error, archive_name)
    return extract_archive_once(mirror / archive_name, data_dir(), marker)


# ---------------------------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------------------------

def _open_rgb(path) -> Image.Image:
    """The image at ``path`` in RGB, or a message that names the file it could not read."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise ValueError(f"画像ファイル {path} を読めません ({type(error).__name__})。壊れているか、"
                         "画像ではないファイルです。削除するか、正しい画像に置き換えてください。") from None


def _visible(name: str) -> bool:
    return not name.startswith(".")


class VisibleImageFolder(tv_datasets.ImageFolder):
    """``ImageFolder`` that ignores hidden folders and files (``.ipynb_checkpoints``, ``._x.jpg``)
    and names the file it cannot read."""

    def __init__(self, root, transform=None):
        super().__init__(root, transform=transform, loader=_open_rgb,
                         is_valid_file=lambda path: _visible(Path(path).name)
                         and path.lower().endswith(tv_datasets.folder.IMG_EXTENSIONS))

    def find_classes(self, directory):
        classes = sorted(e.name for e in os.scandir(directory) if e.is_dir() and _visible(e.name))
        if not classes:
            raise FileNotFoundError(f"{directory} にクラスのフォルダがありません。クラスごとのサブフォルダ "
                                    "(例: cat/, dog/) に画像を置いてください。")
        return classes, {name: i for i, name in enumerate(classes)}


def load_image_folder(root, transform=None, quick_per_class: int | None = None):
    """An ``ImageFolder`` on ``root`` (one sub-folder per class), hidden folders left out.

    In quick mode, when ``quick_per_class`` is given, only that many images of each class are
    kept (a fixed stratified choice).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"画像フォルダが見つかりません: {root}")
    try:
        folder = VisibleImageFolder(root, transform=transform)
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{root} に画像がありません: {error}。クラスごとのサブフォルダに画像 "
                                "(.jpg, .png など) を置いてください。") from None
    return folder if quick_per_class is None else quick_subset(folder, quick_per_class)


def write_image_folder(root, splits: dict, classes) -> Path:
    """Write images as JPEG files in the ImageFolder layout ``root/split/class/class_0000.jpg``.

    ``splits`` maps a split name to ``(images, labels)`` (uint8 arrays, labels index
    ``classes``).  The files written are listed in ``root/.dlnb-generated``; calling again
    replaces exactly those and nothing else.  A folder that exists without that list (your own
    photos, say) is never changed: it stops with a message instead.
    """
    root = Path(root)
    record = root / GENERATED_STAMP
    if root.exists() and any(root.iterdir()) and not record.is_file():
        raise FileExistsError(
            f"{root} にはこのコースが作ったのではないファイルがあります。中身を守るため何も変更しません。"
            "別のフォルダ名を指定するか、中身を別の場所へ移してから実行してください。")
    with _writing_into(root):
        _remove_listed(root, record)
        written = []
        for split, (images, labels) in splits.items():
            counts = {}
            for image, label in zip(np.asarray(images), np.asarray(labels)):
                name = classes[int(label)]
                counts[name] = counts.get(name, -1) + 1
                path = root / split / name / f"{name}_{counts[name]:04d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(path, quality=95)
                written.append(str(path.relative_to(root)))
        record.write_text(json.dumps(written, ensure_ascii=False, indent=0))
    return root


def _remove_listed(root: Path, record: Path) -> None:
    """Delete the files an earlier write_image_folder listed, then the folders it left empty."""
    if not record.is_file():
        return
    for relative in json.loads(record.read_text()):
        (root / relative).unlink(missing_ok=True)
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()


# ---------------------------------------------------------------------------------------------
# MNIST and CIFAR-10 as arrays
# ---------------------------------------------------------------------------------------------

def _chosen_order(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Indices of the items a loader returns, in order: mixed if the source is sorted by class,
    then (``per_class`` given: quick mode) a stratified subset, which keeps that order."""
    order = np.arange(len(labels))
    if len(labels) > 1 and np.all(np.diff(labels) >= 0):
        order = np.random.default_rng(MIXING_SEED).permutation(len(labels))
    if per_class is not None:
        order = order[stratified_indices(labels[order], per_class)]
    return order


def _read_only(*arrays):
    for array in arrays:
        array.setflags(write=False)
    return arrays


def _torchvision_dataset(cls, root: Path, train: bool):
    """A torchvision dataset from ``root``, downloaded (under a lock) only when not there yet."""
    try:
        return cls(root=str(root), train=train, download=False)
    except RuntimeError:   # not downloaded yet (or damaged): torchvision checks the files
        with _exclusive(root, cls.__name__):
            return cls(root=str(root), train=train, download=True)


@lru_cache(maxsize=None)
def _mnist_arrays(train: bool, root: Path, mirror: Path | None, per_class: int | None):
    """MNIST as read-only uint8 arrays (the cache key holds every input that changes them)."""
    try:
        ds = _torchvision_dataset(tv_datasets.MNIST, root, train)
    except _download_errors() as error:
        try:
            if mirror is None:
                raise RuntimeError("DLNB_DATA_MIRROR is not set")
            ds = tv_datasets.MNIST(root=str(mirror), train=train, download=False)
        except RuntimeError:
            raise _data_missing("MNIST", error, "MNIST/raw/") from None
        print(f"MNIST: ダウンロードできないため、オフラインミラー (DLNB_DATA_MIRROR) から読み込みました "
              f"({'訓練' if train else 'テスト'} {len(ds)} 枚)。")
        if train and per_class is None and len(ds) < MNIST_TRAIN_SIZE:
            print(_small_mnist_banner(len(ds)))
    images, labels = ds.data.numpy(), ds.targets.numpy()
    order = _chosen_order(labels, per_class)
    return _read_only(images[order], labels[order])


MNIST_TRAIN_SIZE = 60_000


def _small_mnist_banner(n: int) -> str:
    """The loud notice of a full-mode run on the mirror's smaller MNIST training set."""
    line = "!" * 78
    return (f"{line}\n!! 注意: このミラーの MNIST 訓練データは {n:,} 枚です (本来は {MNIST_TRAIN_SIZE:,} 枚)。\n"
            f"!! フルモードでも {n:,} 枚で学習するので、精度は本書やダウンロードしたときより低くなります。\n"
            f"!! 全部で学習するには、インターネットにつなぐか、教室用ミラー (README「オフラインで使う」) を使ってください。\n{line}")


def load_mnist(train: bool = True, transform=None) -> ImageArrayDataset:
    """The MNIST training (``train=True``) or test set, each item ``(transform(image), label)``.

    Class names are the digits ``"0"`` … ``"9"`` (short titles for ``show_images_labels``).

    Downloads with torchvision into the data folder; without internet it reads the mirror given
    by ``DLNB_DATA_MIRROR`` (whose training set has 5,000 real images, not 60,000).  In quick
    mode it returns a fixed stratified subset.
    """
    images, labels = _mnist_arrays(train, data_dir(), mirror_dir(), quick_mode_per_class(train))
    return ImageArrayDataset(images, labels, MNIST_CLASSES, transform)


def _decode_folder(root: Path, classes, per_class: int | None):
    """Decode the JPEGs of an ImageFolder tree (in the loader's order and subset) into arrays."""
    folder = VisibleImageFolder(root)
    if list(folder.classes) != list(classes):
        raise RuntimeError(f"{root} のクラスフォルダが想定と違います: {folder.classes}")
    targets = np.asarray(folder.targets)
    order = _chosen_order(targets, per_class)
    images = np.stack([np.asarray(_open_rgb(folder.samples[i][0])) for i in order])
    return images, targets[order]


def _original_cifar10_in_mirror(mirror: Path | None, train: bool):
    """(images, labels) of torchvision's original CIFAR-10 in the mirror (a classroom mirror has
    it; the JPEG archive is the fallback), or None."""
    if mirror is None:
        return None
    try:
        ds = tv_datasets.CIFAR10(root=str(mirror), train=train, download=False)
    except RuntimeError:   # not there (torchvision checks every file's MD5)
        return None
    print(f"CIFAR-10: ダウンロードできないため、オフラインミラーの元データから読み込みました "
          f"({'訓練' if train else 'テスト'} {len(ds)} 枚)。")
    return np.asarray(ds.data), np.asarray(ds.targets)


@lru_cache(maxsize=None)
def _cifar10_arrays(train: bool, root: Path, mirror: Path | None, per_class: int | None):
    """CIFAR-10 as read-only uint8 arrays (N, 32, 32, 3): torchvision's download, else the mirror."""
    try:
        ds = _torchvision_dataset(tv_datasets.CIFAR10, root, train)
        images, labels = np.asarray(ds.data), np.asarray(ds.targets)
        order = _chosen_order(labels, per_class)
        return _read_only(images[order], labels[order])
    except _download_errors() as error:
        original = _original_cifar10_in_mirror(mirror, train)
        if original is not None:
            order = _chosen_order(original[1], per_class)
            return _read_only(original[0][order], original[1][order])
        tree = _mirror_tree("cifar10-images.zip", "cifar10-images", "CIFAR-10", error)
    images, labels = _decode_folder(tree / ("train" if train else "test"), CIFAR10_CLASSES, per_class)
    print(f"CIFAR-10: ダウンロードできないため、オフラインミラーの JPEG 版から読み込みました "
          f"({'訓練' if train else 'テスト'} {len(images)} 枚)。")
    return _read_only(images, labels)


def load_cifar10(train: bool = True, transform=None) -> ImageArrayDataset:
    """The CIFAR-10 training (50,000) or test (10,000) set, items ``(transform(image), label)``.

    Downloads with torchvision into the data folder; without internet it extracts
    ``cifar10-images.zip`` from ``DLNB_DATA_MIRROR`` (once) and reads the JPEGs.  In quick mode
    it returns a fixed stratified subset.
    """
    images, labels = _cifar10_arrays(train, data_dir(), mirror_dir(), quick_mode_per_class(train))
    return ImageArrayDataset(images, labels, CIFAR10_CLASSES, transform)


# ---------------------------------------------------------------------------------------------
# Ants and bees (PyTorch's transfer-learning tutorial)
# ---------------------------------------------------------------------------------------------

def _hymenoptera_root() -> Path:
    """The extracted ``hymenoptera_data`` tree: downloaded and verified, else from the mirror."""
    root = data_dir()
    tree = root / "hymenoptera_data"
    if (tree / EXTRACTED_STAMP).is_file():
        return tree
    try:
        archive = _download_verified(HYMENOPTERA_URL, root / "hymenoptera_data.zip", HYMENOPTERA_MD5)
    except _download_errors() as error:
        try:
            return _mirror_tree("hymenoptera_data.zip", "hymenoptera_data", "hymenoptera_data", error)
        except RuntimeError:
            if not tree.is_dir():
                raise
            print(f"注意: {tree} が完全かどうか確かめられないまま使います (ダウンロードもミラーも使えません)。")
            return tree
    return extract_archive_once(archive, root, "hymenoptera_data")


def load_hymenoptera(train: bool = True, transform=None, quick_per_class: int = 20):
    """The ants/bees data set of the PyTorch transfer-learning tutorial as an ``ImageFolder``.

    ``train=True`` gives ``hymenoptera_data/train`` (244 images), ``False`` gives ``val`` (153).
    Quick mode keeps ``quick_per_class`` images of each class.
    """
    root = _hymenoptera_root() / ("train" if train else "val")
    return load_image_folder(root, transform, quick_per_class)



# ---------------------------------------------------------------------------------------------
# A classroom mirror (pythonlibs.mirror builds and checks it)
# ---------------------------------------------------------------------------------------------

MIRROR_DATASETS = ("MNIST", "CIFAR-10", "hymenoptera_data", "boston_housing.csv")


def _fetch_dataset(name: str, folder: Path) -> None:
    """Download one dataset into ``folder`` in the layout the loaders read from a mirror."""
    if name == "MNIST":
        for train in (True, False):
            tv_datasets.MNIST(root=str(folder), train=train, download=True)
    elif name == "CIFAR-10":
        for train in (True, False):
            tv_datasets.CIFAR10(root=str(folder), train=train, download=True)
    elif name == "hymenoptera_data":
        _download_verified(HYMENOPTERA_URL, folder / "hymenoptera_data.zip", HYMENOPTERA_MD5)
    elif name == "boston_housing.csv":   # shipped with the course (data/), not downloaded
        shutil.copy2(PROJECT_ROOT / "data" / name, folder / name)


def download_datasets(folder) -> list[str]:
    """Download every dataset of the course into ``folder``, laid out as ``DLNB_DATA_MIRROR``
    reads it (MNIST/raw, cifar-10-batches-py, hymenoptera_data.zip, boston_housing.csv).

    Returns the problems (empty when everything arrived); a dataset that is already there and
    intact is not downloaded again.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    for name in MIRROR_DATASETS:
        try:
            _fetch_dataset(name, folder)
            print(f"✅ {name}")
        except _download_errors() as error:
            problems.append(f"{name}: {type(error).__name__}: {error}")
            print(f"❌ {name}: ダウンロードできませんでした ({type(error).__name__})")
    return problems


def _dataset_size(cls, folder: Path, train: bool) -> int | None:
    try:
        return len(cls(root=str(folder), train=train, download=False))
    except RuntimeError:
        return None


def describe_datasets(folder) -> list[tuple[str, bool, str]]:
    """What a mirror folder holds, per dataset: (name, usable, how it differs from a download)."""
    folder = Path(folder)
    rows = []
    n_train, n_test = (_dataset_size(tv_datasets.MNIST, folder, t) for t in (True, False))
    if n_train is None or n_test is None:
        rows.append(("MNIST", False, "MNIST/raw/ がありません"))
    elif n_train < MNIST_TRAIN_SIZE:
        rows.append(("MNIST", True, f"訓練 {n_train:,} 枚 (ダウンロードでは {MNIST_TRAIN_SIZE:,} 枚): "
                                    "フルモードでもこの枚数で学習し、精度は本書より低くなります"))
    else:
        rows.append(("MNIST", True, f"訓練 {n_train:,} 枚、テスト {n_test:,} 枚 (ダウンロードと同じ)"))
    if _dataset_size(tv_datasets.CIFAR10, folder, True) is not None:
        rows.append(("CIFAR-10", True, "元データ (ダウンロードと同じ)"))
    elif (folder / "cifar10-images.zip").is_file():
        rows.append(("CIFAR-10", True, "JPEG 版 (品質 75、色は 4:2:0): 画素が元データと少し違い、"
                                       "精度も下がります (第 15 章 15.12・15.13 節)"))
    else:
        rows.append(("CIFAR-10", False, "cifar-10-batches-py/ も cifar10-images.zip もありません"))
    archive = folder / "hymenoptera_data.zip"
    rows.append(("hymenoptera_data", archive.is_file(),
                 "ダウンロードと同じ" if check_integrity(str(archive), HYMENOPTERA_MD5)
                 else ("MD5 が元のファイルと違います" if archive.is_file() else "hymenoptera_data.zip がありません")))
    csv = folder / "boston_housing.csv"
    rows.append(("boston_housing.csv", csv.is_file(), "あり" if csv.is_file() else "ありません"))
    return rows
