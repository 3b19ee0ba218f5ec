"""Shared helpers for the course notebooks.

The names and call signatures follow the book 「最短コースでわかる PyTorch&深層学習プログラミング」
(``fit``, ``eval_loss``, ``evaluate_history``, ``show_images_labels``, ``torch_seed``), with the
book's defects fixed:

* evaluation runs under ``model.eval()`` and ``torch.no_grad()``;
* the loss is averaged per sample over the whole epoch (a short last batch counts for what it is);
* ``torch_seed`` calls ``torch.use_deterministic_algorithms`` instead of overwriting it;
* images are shown correctly for 1-channel data and for any ``Normalize``;
* pretrained models use torchvision's ``weights=`` API.

It also holds what every chapter needs: the device choice, quick mode (``DLNB_QUICK=1``), and the
dataset loaders that download with torchvision or fall back to the offline mirror
(``DLNB_DATA_MIRROR``).

Usage in a notebook::

    from pythonlibs.torch_lib1 import *
"""

from __future__ import annotations

import math
import os
import random
import shutil
import sys
import urllib.error
import zipfile
from functools import lru_cache
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import font_manager
from matplotlib.ticker import MaxNLocator
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import datasets, transforms
from tqdm.auto import tqdm

__all__ = [
    "PROJECT_ROOT", "DATA_DIR", "QUICK", "CIFAR10_CLASSES",
    "is_quick", "epochs", "get_device", "torch_seed", "setup_japanese_font",
    "fit", "evaluate", "eval_loss", "evaluate_history", "show_images_labels",
    "ImageArrayDataset", "TensorBatchLoader", "make_loader",
    "load_mnist", "load_cifar10", "load_image_folder", "load_hymenoptera",
    "quick_subset", "extract_archive_once", "load_pretrained",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DLNB_DATA_DIR", PROJECT_ROOT / "data"))

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

# Quick mode: small real subsets, few epochs.  Decided here and nowhere else.
QUICK = os.environ.get("DLNB_QUICK", "").strip().lower() in {"1", "true", "yes", "on"}
QUICK_TRAIN_PER_CLASS = 100   # e.g. 1,000 training images for MNIST or CIFAR-10
QUICK_TEST_PER_CLASS = 50     # e.g. 500 test images
QUICK_MAX_EPOCHS = 2

if QUICK:
    print(f"⚡ クイックモード (DLNB_QUICK=1): データは各クラス {QUICK_TRAIN_PER_CLASS} 枚 (テスト "
          f"{QUICK_TEST_PER_CLASS} 枚) の実データ部分集合、エポック数は最大 {QUICK_MAX_EPOCHS}。"
          "結果の数値は本番 (フルモード) より低くなります。")


def is_quick() -> bool:
    """True when the course runs in quick mode (``DLNB_QUICK=1``)."""
    return QUICK


def epochs(full: int, quick: int = QUICK_MAX_EPOCHS) -> int:
    """Number of epochs to train: ``full`` normally, at most ``quick`` in quick mode."""
    if full < 1:
        raise ValueError(f"エポック数は 1 以上にしてください (full={full})")
    return min(full, quick) if QUICK else full


# ---------------------------------------------------------------------------------------------
# Environment: Japanese font, device, seeds
# ---------------------------------------------------------------------------------------------

def setup_japanese_font() -> str | None:
    """Make matplotlib draw Japanese text with the IPAexGothic font of japanize-matplotlib.

    The font file is registered directly, without importing ``japanize_matplotlib`` itself,
    whose ``distutils`` import fails on Python 3.12+.  Returns the font name, or None (with a
    notice) when the package is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        print("注意: japanize-matplotlib が見つかりません。グラフの日本語が □ になる場合は "
              "`pip install japanize-matplotlib` を実行してください。")
        return None
    font_path = Path(list(spec.submodule_search_locations)[0]) / "fonts" / "ipaexg.ttf"
    font_manager.fontManager.addfont(str(font_path))
    name = font_manager.FontProperties(fname=str(font_path)).get_name()
    plt.rcParams["font.family"] = name
    plt.rcParams["axes.unicode_minus"] = False  # IPAexGothic has no U+2212 minus sign
    return name


JAPANESE_FONT = setup_japanese_font()


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


def torch_seed(seed: int = 123) -> None:
    """Seed every random number generator so that a run repeats.

    Sets Python's, NumPy's and PyTorch's (CPU and all GPUs) generators, turns off cuDNN's
    benchmark mode and asks for deterministic algorithms.  The book assigned ``True`` to the
    attribute ``torch.use_deterministic_algorithms``, which replaces the function with a bool
    and does nothing; here the function is called.  ``warn_only=True`` lets the few operations that have no
    deterministic GPU kernel (e.g. the backward of ``AdaptiveAvgPool2d``) run with a warning
    instead of stopping the notebook.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    # cuBLAS needs this workspace setting to be deterministic; it must be set before the first
    # cuBLAS call, which is why it is also set when this module is imported.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


# ---------------------------------------------------------------------------------------------
# Training and evaluation
# ---------------------------------------------------------------------------------------------

def _check_loader(loader, name: str) -> None:
    """Raise a clear error for a loader that yields no batch."""
    try:
        n_batches = len(loader)
    except TypeError:  # an iterable without len(): cannot check in advance
        return
    if n_batches == 0:
        raise ValueError(f"{name} が空です (バッチが 1 つもありません)。データセットの中身と "
                         f"batch_size / drop_last を確認してください。")


def _check_shapes(outputs: torch.Tensor, labels: torch.Tensor, criterion) -> None:
    """Raise a clear error when the model's outputs do not match the labels."""
    if outputs.shape[0] != labels.shape[0]:
        raise ValueError(
            f"出力と正解のバッチサイズが違います: outputs {tuple(outputs.shape)}, labels "
            f"{tuple(labels.shape)}。モデルの forward (view / flatten) を確認してください。")
    if isinstance(criterion, nn.CrossEntropyLoss) and labels.dtype == torch.long:
        if outputs.dim() != 2 or labels.dim() != 1:
            raise ValueError(
                f"CrossEntropyLoss には outputs (N, クラス数) と labels (N,) が必要ですが、outputs "
                f"{tuple(outputs.shape)}, labels {tuple(labels.shape)} でした。")
    if isinstance(criterion, (nn.BCELoss, nn.BCEWithLogitsLoss)) and outputs.shape != labels.shape:
        raise ValueError(
            f"{type(criterion).__name__} には同じ形の outputs と labels が必要ですが、outputs "
            f"{tuple(outputs.shape)}, labels {tuple(labels.shape)} でした "
            "(labels.view(-1, 1) などで形をそろえてください)。")


def _count_correct(outputs: torch.Tensor, labels: torch.Tensor, criterion) -> torch.Tensor | None:
    """Number of correct predictions in a batch, as a tensor (None for a criterion without classes)."""
    if isinstance(criterion, nn.BCEWithLogitsLoss):
        return ((outputs > 0).float() == labels).sum()
    if isinstance(criterion, nn.BCELoss):
        return ((outputs > 0.5).float() == labels).sum()
    if outputs.dim() == 2 and labels.dim() == 1 and not torch.is_floating_point(labels):
        return (outputs.argmax(dim=1) == labels).sum()
    return None


def _run_epoch(net, loader, criterion, device, optimizer=None, desc: str = ""):
    """One pass over ``loader``: trains when ``optimizer`` is given, else only evaluates.

    Returns (mean loss per sample, accuracy).  The sums stay on the device and are read once at
    the end of the epoch: calling ``.item()`` on every batch would make the CPU wait for the GPU.
    """
    non_blocking = torch.device(device).type == "cuda"
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device)
    n_samples, has_accuracy = 0, True
    for inputs, labels in tqdm(loader, desc=desc, leave=False, disable=not desc):
        inputs = inputs.to(device, non_blocking=non_blocking)
        labels = labels.to(device, non_blocking=non_blocking)
        outputs = net(inputs)
        _check_shapes(outputs, labels, criterion)
        loss = criterion(outputs, labels)
        if optimizer is not None:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        batch = len(labels)
        total_loss += loss.detach() * batch       # criterion averages over the batch
        correct = _count_correct(outputs.detach(), labels, criterion)
        if correct is None:
            has_accuracy = False
        else:
            total_correct += correct
        n_samples += batch
    if n_samples == 0:
        raise ValueError("ローダが 1 件もデータを返しませんでした。データセットを確認してください。")
    accuracy = total_correct.item() / n_samples if has_accuracy else math.nan
    return total_loss.item() / n_samples, accuracy


def evaluate(net: nn.Module, loader, criterion, device) -> tuple[float, float]:
    """Mean loss per sample and accuracy of ``net`` over ``loader``.

    Runs in ``eval()`` mode (dropout off, BatchNorm uses its running statistics) and under
    ``torch.no_grad()`` (no computation graph is kept: faster, less memory).
    """
    _check_loader(loader, "loader")
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            return _run_epoch(net, loader, criterion, device)
    finally:
        net.train(was_training)


def fit(net, optimizer, criterion, num_epochs, train_loader, test_loader, device, history):
    """Train ``net`` for ``num_epochs`` and record loss and accuracy after every epoch.

    Same signature as the book.  ``history`` is an array of rows
    ``[epoch, train_loss, train_acc, val_loss, val_acc]`` (start with ``np.zeros((0, 5))``);
    the returned array continues it, so calling ``fit`` again trains further.

    The training loss and accuracy are averaged per sample over the epoch while the weights
    change; the validation figures are computed afterwards in ``eval()`` mode without gradients.
    """
    if num_epochs < 0:
        raise ValueError(f"num_epochs は 0 以上にしてください (num_epochs={num_epochs})")
    history = np.asarray(history, dtype=float).reshape(-1, 5)
    _check_loader(train_loader, "train_loader")
    _check_loader(test_loader, "test_loader")
    net.to(device)
    base_epoch = int(history[-1, 0]) if len(history) else 0
    rows = [history]
    for epoch in range(base_epoch + 1, base_epoch + num_epochs + 1):
        net.train()
        train_loss, train_acc = _run_epoch(net, train_loader, criterion, device, optimizer,
                                           desc=f"Epoch {epoch}/{base_epoch + num_epochs}")
        val_loss, val_acc = evaluate(net, test_loader, criterion, device)
        print(f"Epoch [{epoch}/{base_epoch + num_epochs}], loss: {train_loss:.5f} "
              f"acc: {train_acc:.5f} val_loss: {val_loss:.5f}, val_acc: {val_acc:.5f}")
        rows.append(np.array([[epoch, train_loss, train_acc, val_loss, val_acc]]))
    return np.vstack(rows)


def eval_loss(loader, device, net, criterion):
    """Loss of the first batch of ``loader``, with its computation graph (for ``make_dot``).

    As in the book, this is for drawing the graph, so it deliberately keeps gradients.  For a
    proper evaluation over the whole loader use ``evaluate``.
    """
    _check_loader(loader, "loader")
    for images, labels in loader:
        inputs, labels = images.to(device), labels.to(device)
        outputs = net(inputs)
        _check_shapes(outputs, labels, criterion)
        return criterion(outputs, labels)
    raise ValueError("loader が空です (バッチが 1 つもありません)。")


def evaluate_history(history, title: str | None = None) -> None:
    """Print the first and last validation figures and plot the loss and accuracy curves.

    ``title`` (optional, not in the book) names the run in the two plot titles.

    Returns nothing, as in the book: a returned figure would be drawn a second time when the
    call is the last line of a notebook cell.
    """
    history = np.asarray(history, dtype=float)
    if history.ndim != 2 or history.shape[1] != 5 or len(history) == 0:
        raise ValueError("history は fit が返す (エポック数, 5) の配列にしてください "
                         f"(受け取った形: {history.shape})。")
    print(f"初期状態: 損失: {history[0, 3]:.5f} 精度: {history[0, 4]:.5f}")
    print(f"最終状態: 損失: {history[-1, 3]:.5f} 精度: {history[-1, 4]:.5f}")
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4))
    marker = "o" if len(history) < 10 else None  # a short history would be hard to see
    for ax, col, name in ((ax_loss, 1, "損失"), (ax_acc, 2, "精度")):
        ax.plot(history[:, 0], history[:, col], "b", marker=marker, label="訓練")
        ax.plot(history[:, 0], history[:, col + 2], "k", marker=marker, label="検証")
        ax.set_xlabel("繰り返し回数 (エポック)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.set_title(f"学習曲線 ({name})" if title is None else f"{title}: {name}")
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.tight_layout()
    plt.show()


# ---------------------------------------------------------------------------------------------
# Showing images
# ---------------------------------------------------------------------------------------------

def _find_normalize(dataset):
    """The ``Normalize`` inside a dataset's transform (following Subset/.dataset), or None."""
    while dataset is not None:
        transform = getattr(dataset, "transform", None)
        stack = [transform]
        while stack:
            t = stack.pop()
            if isinstance(t, transforms.Normalize):
                return t
            stack.extend(getattr(t, "transforms", []) or [])
        dataset = getattr(dataset, "dataset", None)
    return None


def _image_for_display(image: torch.Tensor, normalize) -> np.ndarray:
    """A (H, W) or (H, W, 3) array in [0, 1] from a transformed image tensor."""
    image = image.detach().cpu().float()
    if image.dim() == 1:  # flattened for an MLP: 784 -> 1x28x28, 3072 -> 3x32x32
        for channels in (1, 3):
            side = math.isqrt(image.numel() // channels)
            if channels * side * side == image.numel():
                image = image.view(channels, side, side)
                break
        else:
            raise ValueError(f"平らな画像 ({image.numel()} 要素) を正方形に戻せません。")
    if image.dim() == 2:
        image = image.unsqueeze(0)
    if normalize is not None:
        mean = torch.as_tensor(normalize.mean, dtype=image.dtype).view(-1, 1, 1)
        std = torch.as_tensor(normalize.std, dtype=image.dtype).view(-1, 1, 1)
        image = image * std + mean
    elif image.min() < 0 or image.max() > 1:  # unknown scaling: stretch to [0, 1]
        image = (image - image.min()) / (image.max() - image.min() + 1e-12)
    image = image.clamp(0, 1)
    return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()


def show_images_labels(loader, classes, net, device, max_images: int = 50) -> None:
    """Show up to 50 images of the first batch with "true:predicted" titles.

    With ``net=None`` only the true labels are shown.  Wrong predictions are drawn in blue, right
    ones in black.  Works for colour and grayscale images, flattened images, and any
    ``Normalize`` in the dataset's transform (it is undone for display).
    """
    _check_loader(loader, "loader")
    images, labels = next(iter(loader))
    n = min(max_images, len(images))
    predicted = None
    if net is not None:
        was_training = net.training
        net.eval()
        with torch.no_grad():
            predicted = net(images[:n].to(device)).argmax(dim=1).cpu()
        net.train(was_training)
    names = (lambda i: classes[i]) if classes is not None else str
    normalize = _find_normalize(getattr(loader, "dataset", None))
    n_cols = 10
    n_rows = math.ceil(n / n_cols)
    fig = plt.figure(figsize=(15, 1.7 * n_rows + 0.3))
    for i in range(n):
        ax = fig.add_subplot(n_rows, n_cols, i + 1)
        label = names(int(labels[i]))
        if predicted is None:
            ax.set_title(label, fontsize=10)
        else:
            pred = names(int(predicted[i]))
            ax.set_title(f"{label}:{pred}", fontsize=10,
                         color="k" if int(predicted[i]) == int(labels[i]) else "b")
        picture = _image_for_display(images[i], normalize)
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_axis_off()
    fig.tight_layout()
    plt.show()


# ---------------------------------------------------------------------------------------------
# Datasets and loaders
# ---------------------------------------------------------------------------------------------

PRECOMPUTE_LIMIT_BYTES = 1 << 30  # cache transformed images only while they fit in 1 GiB


# Transforms that draw random numbers although their names do not start with "Random".
RANDOM_TRANSFORMS_WITHOUT_RANDOM_PREFIX = (
    transforms.ColorJitter, transforms.GaussianBlur, transforms.ElasticTransform,
    transforms.AutoAugment, transforms.RandAugment, transforms.TrivialAugmentWide,
    transforms.AugMix)


def _is_random_transform(transform) -> bool:
    """True when ``transform``, or anything inside it (Compose, RandomApply, ...), is random.

    A transform's own kind is checked before its contents: ``RandomApply([ColorJitter()])``
    is random even if what it wraps were not.
    """
    if transform is None:
        return False
    if type(transform).__name__.startswith("Random") or isinstance(
            transform, RANDOM_TRANSFORMS_WITHOUT_RANDOM_PREFIX):
        return True
    return any(_is_random_transform(t) for t in getattr(transform, "transforms", None) or [])


class ImageArrayDataset(Dataset):
    """Images held in memory as a uint8 array, returned through ``transform`` like torchvision's.

    ``images`` is (N, H, W) for grayscale or (N, H, W, 3) for colour; item ``i`` is
    ``(transform(PIL image), label)``.  When the transform is deterministic (no ``Random...``)
    and the result fits in memory, every image is transformed once here and reused, so each
    epoch costs no decoding at all.  That is where most of the book's CIFAR-10 time went.
    """

    def __init__(self, images: np.ndarray, labels, classes, transform=None):
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise ValueError("images は uint8 の (N, H, W) または (N, H, W, 3) 配列にしてください "
                             f"(受け取った形: {images.shape}, 型: {images.dtype})。")
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) != len(images):
            raise ValueError(f"画像 {len(images)} 枚に対してラベルが {len(labels)} 個です。")
        self.data, self.targets = images, labels
        self.classes = list(classes)
        self.transform = transform
        self.tensors = self._precompute() if self._can_precompute() else None

    def _can_precompute(self) -> bool:
        if len(self.data) == 0 or _is_random_transform(self.transform):
            return False
        sample = self._transform(0)
        return isinstance(sample, torch.Tensor) and (
            sample.numel() * sample.element_size() * len(self.data) <= PRECOMPUTE_LIMIT_BYTES)

    def _precompute(self):
        inputs = torch.stack([self._transform(i) for i in range(len(self.data))])
        return inputs, torch.from_numpy(self.targets)

    def _transform(self, index: int):
        image = Image.fromarray(self.data[index])
        return self.transform(image) if self.transform is not None else image

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        if self.tensors is not None:
            return self.tensors[0][index], int(self.targets[index])
        return self._transform(index), int(self.targets[index])

    def __repr__(self) -> str:
        return (f"ImageArrayDataset(画像 {len(self)} 枚, 形 {self.data.shape[1:]}, "
                f"クラス {len(self.classes)}, transform={self.transform})")


class TensorBatchLoader:
    """Mini-batches sliced from tensors already in memory: a fast stand-in for ``DataLoader``.

    Iterating gives ``(inputs, labels)`` batches; ``len()`` is the number of batches
    (``drop_last=True`` leaves out a last incomplete batch).  The order is drawn on the tensors'
    device from PyTorch's generator, so ``torch_seed`` makes it repeat.  ``dataset`` is kept as
    ``.dataset`` (``show_images_labels`` reads its ``Normalize`` from there).
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 shuffle: bool = False, drop_last: bool = False, dataset=None):
        if batch_size < 1:
            raise ValueError(f"batch_size は 1 以上にしてください (batch_size={batch_size})")
        if len(inputs) != len(labels) or len(inputs) == 0:
            raise ValueError(f"入力 {len(inputs)} 件とラベル {len(labels)} 個: 空でない同数にしてください。")
        self.inputs, self.labels, self.dataset = inputs, labels, dataset
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def transform_batch(self, inputs: torch.Tensor) -> torch.Tensor:
        """The inputs of one batch as they are handed out (subclasses augment them here)."""
        return inputs

    def __iter__(self):
        n, device = len(self.labels), self.labels.device
        order = torch.randperm(n, device=device) if self.shuffle else torch.arange(n, device=device)
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.transform_batch(self.inputs[index]), self.labels[index]


def default_num_workers() -> int:
    """Worker processes for a ``DataLoader`` that decodes images: some on Linux, none elsewhere.

    On macOS and Windows workers are started with ``spawn`` and cannot pickle the ``Lambda``
    transforms that notebooks define, so decoding stays in the main process there.
    """
    if not sys.platform.startswith("linux"):
        return 0
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def make_loader(dataset, batch_size: int, shuffle: bool = False, num_workers: int | None = None):
    """A mini-batch loader for ``dataset``: what ``DataLoader(dataset, batch_size, shuffle)`` does,
    only faster.

    * A dataset whose images were transformed in advance (``ImageArrayDataset`` with a
      deterministic transform) is sliced batch by batch: no per-image work at all.
    * Otherwise a ``DataLoader`` decodes in worker processes (Linux), with pinned memory when a
      GPU is present, so the GPU does not wait for the CPU.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size は 1 以上にしてください (batch_size={batch_size})")
    if len(dataset) == 0:
        raise ValueError("データセットが空です。読み込み元のフォルダを確認してください。")
    if getattr(dataset, "tensors", None) is not None:
        return TensorBatchLoader(*dataset.tensors, batch_size, shuffle, dataset=dataset)
    workers = default_num_workers() if num_workers is None else num_workers
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                      multiprocessing_context="fork" if workers > 0 else None)


def _mirror_dir() -> Path | None:
    """The offline mirror folder from ``DLNB_DATA_MIRROR`` (relative paths: from the project root)."""
    mirror = os.environ.get("DLNB_DATA_MIRROR")
    if not mirror:
        return None
    path = Path(mirror).expanduser()
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve()


def _data_missing(name: str, error: Exception | None, expected: str) -> RuntimeError:
    mirror = _mirror_dir()
    return RuntimeError(
        f"{name} を用意できませんでした。\n"
        f"  ダウンロード: {'失敗 (' + type(error).__name__ + ': ' + str(error) + ')' if error else '未実行'}\n"
        f"  オフラインミラー DLNB_DATA_MIRROR: {mirror or '未設定'} ({expected} が見つかりません)\n"
        "対処: インターネットにつないで再実行するか、データセットのミラー (例: ../shared/datasets) を "
        "DLNB_DATA_MIRROR に設定してください。README の「オフラインミラー」を参照。")


def _stratified_indices(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    """A fixed, seeded choice of ``per_class`` indices of every class, in their original order."""
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def _quick_per_class(train: bool) -> int | None:
    """Images per class that quick mode keeps of a training or test set (None: keep all)."""
    if not QUICK:
        return None
    return QUICK_TRAIN_PER_CLASS if train else QUICK_TEST_PER_CLASS


def _quick_subset(images: np.ndarray, labels: np.ndarray, train: bool):
    """The quick-mode stratified subset of image and label arrays (unchanged in full mode)."""
    per_class = _quick_per_class(train)
    if per_class is None:
        return images, labels
    index = _stratified_indices(labels, per_class)
    return images[index], labels[index]


def quick_subset(dataset, per_class: int):
    """In quick mode, a fixed stratified subset with ``per_class`` items of every class.

    In full mode the dataset is returned unchanged.  For chapters whose models are too heavy for
    a CPU even on the usual quick-mode data (e.g. VGG at 112 px).
    """
    if not QUICK:
        return dataset
    labels = np.asarray(dataset.targets)
    index = _stratified_indices(labels, per_class)
    if isinstance(dataset, ImageArrayDataset):
        return ImageArrayDataset(dataset.data[index], labels[index], dataset.classes,
                                 dataset.transform)
    subset = Subset(dataset, index.tolist())
    subset.classes, subset.transform = dataset.classes, dataset.transform
    subset.targets = labels[index]
    return subset


def _download_errors():
    """Exceptions that mean "the download did not work" (no network, server gone, bad file)."""
    return (urllib.error.URLError, OSError, RuntimeError)


@lru_cache(maxsize=None)
def _mnist_arrays(train: bool):
    """MNIST as uint8 arrays, downloaded into ``data/`` or read from the mirror."""
    try:
        ds = datasets.MNIST(root=DATA_DIR, train=train, download=True)
    except _download_errors() as error:
        mirror = _mirror_dir()
        try:
            if mirror is None:
                raise RuntimeError("DLNB_DATA_MIRROR is not set")
            ds = datasets.MNIST(root=mirror, train=train, download=False)
        except RuntimeError:
            raise _data_missing("MNIST", error, "MNIST/raw/") from error
        print(f"MNIST: ダウンロードできないため、オフラインミラー {mirror} から読み込みました "
              f"({'訓練' if train else 'テスト'} {len(ds)} 枚)。")
    return ds.data.numpy(), ds.targets.numpy(), tuple(str(d) for d in range(10))


def load_mnist(train: bool = True, transform=None) -> ImageArrayDataset:
    """The MNIST training (``train=True``) or test set, each item ``(transform(image), label)``.

    Class names are the digits ``"0"`` … ``"9"`` (short titles for ``show_images_labels``).

    Downloads with torchvision into ``data/``; without internet it reads the mirror given by
    ``DLNB_DATA_MIRROR`` (whose training set has 5,000 real images, not 60,000).  In quick mode
    it returns a fixed stratified subset.
    """
    images, labels, classes = _mnist_arrays(train)
    images, labels = _quick_subset(images, labels, train)
    return ImageArrayDataset(images, labels, classes, transform)


def extract_archive_once(archive: Path, dest: Path, marker: str) -> Path:
    """Extract a zip ``archive`` into ``dest`` unless ``dest/marker`` already exists.

    Extraction goes to a temporary folder first, so an interrupted run never leaves a half
    extracted tree behind that later runs would trust.  Returns ``dest / marker``.
    """
    target = Path(dest) / marker
    if target.exists():
        return target
    archive = Path(archive)
    if not archive.is_file():
        raise FileNotFoundError(f"アーカイブが見つかりません: {archive}")
    tmp = Path(dest) / f".{marker}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    print(f"{archive.name} を {dest} に展開しています…")
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp)
    (tmp / marker).rename(target)
    tmp.rmdir()
    return target


def _mirror_archive(archive_name: str, marker: str, name: str, error: Exception | None) -> Path:
    """Extract ``archive_name`` from the mirror into ``data/`` once; return the extracted tree."""
    if (DATA_DIR / marker).exists():
        return DATA_DIR / marker
    mirror = _mirror_dir()
    if mirror is None or not (mirror / archive_name).is_file():
        raise _data_missing(name, error, archive_name)
    return extract_archive_once(mirror / archive_name, DATA_DIR, marker)


def _decode_folder(root: Path, classes, per_class: int | None):
    """Decode the JPEGs of an ImageFolder tree (optionally a stratified subset) into arrays."""
    folder = datasets.ImageFolder(root)
    if list(folder.classes) != list(classes):
        raise RuntimeError(f"{root} のクラスフォルダが想定と違います: {folder.classes}")
    targets = np.asarray(folder.targets)
    index = (_stratified_indices(targets, per_class) if per_class is not None
             else np.arange(len(targets)))
    images = np.stack([np.asarray(Image.open(folder.samples[i][0]).convert("RGB"))
                       for i in index])
    return images, targets[index]


@lru_cache(maxsize=None)
def _cifar10_arrays(train: bool):
    """CIFAR-10 as uint8 arrays (N, 32, 32, 3): torchvision's download, else the JPEG mirror."""
    try:
        ds = datasets.CIFAR10(root=DATA_DIR, train=train, download=True)
        images, labels = _quick_subset(np.asarray(ds.data), np.asarray(ds.targets), train)
        return images, labels
    except _download_errors() as error:
        tree = _mirror_archive("cifar10-images.zip", "cifar10-images", "CIFAR-10", error)
    images, labels = _decode_folder(tree / ("train" if train else "test"), CIFAR10_CLASSES,
                                    _quick_per_class(train))
    print(f"CIFAR-10: ダウンロードできないため、オフラインミラーの JPEG 版から読み込みました "
          f"({'訓練' if train else 'テスト'} {len(images)} 枚)。")
    return images, labels


def load_cifar10(train: bool = True, transform=None) -> ImageArrayDataset:
    """The CIFAR-10 training (50,000) or test (10,000) set, items ``(transform(image), label)``.

    Downloads with torchvision into ``data/``; without internet it extracts
    ``cifar10-images.zip`` from ``DLNB_DATA_MIRROR`` into ``data/`` (once) and reads the JPEGs.
    In quick mode it returns a fixed stratified subset.
    """
    images, labels = _cifar10_arrays(train)
    return ImageArrayDataset(images, labels, CIFAR10_CLASSES, transform)


HYMENOPTERA_URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"


def load_image_folder(root, transform=None, quick_per_class: int | None = None):
    """A ``datasets.ImageFolder`` on ``root`` (one sub-folder per class).

    In quick mode, when ``quick_per_class`` is given, only that many images of each class are
    kept (a fixed stratified choice).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"画像フォルダが見つかりません: {root}")
    folder = datasets.ImageFolder(root, transform=transform)
    if len(folder) == 0:
        raise ValueError(f"{root} に画像がありません。クラスごとのサブフォルダに画像を置いてください。")
    return folder if quick_per_class is None else quick_subset(folder, quick_per_class)


def _hymenoptera_root() -> Path:
    """Download (or take from the mirror) and extract ``hymenoptera_data`` into ``data/``."""
    if (DATA_DIR / "hymenoptera_data").exists():
        return DATA_DIR / "hymenoptera_data"
    try:
        from torchvision.datasets.utils import download_and_extract_archive
        download_and_extract_archive(HYMENOPTERA_URL, download_root=str(DATA_DIR))
        return DATA_DIR / "hymenoptera_data"
    except _download_errors() as download_error:
        return _mirror_archive("hymenoptera_data.zip", "hymenoptera_data", "hymenoptera_data",
                               download_error)


def load_hymenoptera(train: bool = True, transform=None, quick_per_class: int = 20):
    """The ants/bees data set of the PyTorch transfer-learning tutorial as an ``ImageFolder``.

    ``train=True`` gives ``hymenoptera_data/train`` (244 images), ``False`` gives ``val`` (153).
    Quick mode keeps ``quick_per_class`` images of each class.
    """
    root = _hymenoptera_root() / ("train" if train else "val")
    return load_image_folder(root, transform, quick_per_class)


# ---------------------------------------------------------------------------------------------
# Pretrained models
# ---------------------------------------------------------------------------------------------

def load_pretrained(name: str, weights: str = "DEFAULT") -> nn.Module:
    """A torchvision model with ImageNet weights, e.g. ``load_pretrained("resnet18")``.

    Uses the ``weights=`` API (the older boolean ``pretrained`` argument is deprecated).  When the weights cannot be
    downloaded, quick mode falls back to random initialisation with a loud notice, so the rest
    of the notebook still runs; full mode stops with a clear message.
    """
    from torchvision import models

    try:
        return models.get_model(name, weights=weights)
    except _download_errors() as error:
        if not QUICK:
            raise RuntimeError(
                f"{name} の学習済み重み ({weights}) をダウンロードできませんでした: {error}\n"
                "インターネットにつないで再実行してください (重みは ~/.cache/torch に保存されます)。"
            ) from error
        banner = "!" * 78
        print(f"{banner}\n!! 注意: {name} の学習済み重みをダウンロードできませんでした "
              f"({type(error).__name__})。\n!! クイックモードなので【ランダム初期化】のモデルで続けます。"
              f"\n!! 以下の結果は「学習済みモデル」の結果ではありません。\n{banner}")
        return models.get_model(name, weights=None)
