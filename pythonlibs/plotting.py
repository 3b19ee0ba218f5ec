"""Figures: learning curves, images with their labels and predictions, Japanese text.

Importing this module registers the IPAexGothic font of japanize-matplotlib with matplotlib, so
that Japanese titles and labels are drawn instead of empty boxes.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import font_manager
from matplotlib.ticker import MaxNLocator
from torch import nn
from torchvision import transforms
from torchvision.transforms import v2

from pythonlibs.training import (check_loader, eval_mode, model_outputs, predicted_classes,
                                 split_batch)

__all__ = ["setup_japanese_font", "JAPANESE_FONT", "evaluate_history", "draw_learning_curves",
           "show_images_labels", "to_picture", "find_normalize"]

NORMALIZE_TYPES = (transforms.Normalize, v2.Normalize)


def setup_japanese_font() -> str | None:
    """Make matplotlib draw Japanese text with the IPAexGothic font of japanize-matplotlib.

    The font file is registered directly, without importing ``japanize_matplotlib`` itself,
    whose ``distutils`` import fails on Python 3.12+.  Returns the font name, or None (with a
    notice) when the package is not installed.
    """
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


def evaluate_history(history, title: str | None = None) -> None:
    """Print the first and last validation figures and plot the loss and accuracy curves.

    The first row of ``history`` is the state after the first epoch, and is labelled so (the
    book calls it 初期状態, which it is not).

    ``title`` (optional, not in the book) names the run in the two plot titles.

    Returns nothing, as in the book: a returned figure would be drawn a second time when the
    call is the last line of a notebook cell.
    """
    history = np.asarray(history, dtype=float)
    if history.ndim != 2 or history.shape[1] != 5 or len(history) == 0:
        raise ValueError("history は fit が返す (エポック数, 5) の配列にしてください "
                         f"(受け取った形: {history.shape})。")
    first, last = int(history[0, 0]), int(history[-1, 0])
    print(f"最初の記録 (エポック {first} の後) 検証: 損失: {history[0, 3]:.5f} 精度: {history[0, 4]:.5f}")
    print(f"最後の記録 (エポック {last} の後) 検証: 損失: {history[-1, 3]:.5f} 精度: {history[-1, 4]:.5f}")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    draw_learning_curves(axes, history, title)
    fig.tight_layout()
    plt.show()


def draw_learning_curves(axes, history, title: str | None = None) -> None:
    """Draw the loss (``axes[0]``) and accuracy (``axes[1]``) curves of a ``fit`` history.

    Training is blue, validation black; a short history gets markers so that its few points
    can be seen.  Used by ``evaluate_history`` and by the live curves of ``fit``.
    """
    history = np.asarray(history, dtype=float)
    marker = "o" if len(history) < 10 else None
    for ax, col, name in ((axes[0], 1, "損失"), (axes[1], 2, "精度")):
        ax.plot(history[:, 0], history[:, col], "b", marker=marker, label="訓練")
        ax.plot(history[:, 0], history[:, col + 2], "k", marker=marker, label="検証")
        ax.set_xlabel("繰り返し回数 (エポック)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(name)
        ax.set_title(f"学習曲線 ({name})" if title is None else f"{title}: {name}")
        ax.grid(True, alpha=0.3)
        ax.legend()


def _parts(transform):
    """The transforms inside a pipeline (Compose of torchvision v1 or v2, nn.Sequential)."""
    if isinstance(transform, nn.Sequential):
        return list(transform)
    return list(getattr(transform, "transforms", None) or [])


def find_normalize(dataset):
    """The ``Normalize`` inside a dataset's transform (following Subset/.dataset), or None."""
    while dataset is not None:
        stack = [getattr(dataset, "transform", None)]
        while stack:
            t = stack.pop()
            if isinstance(t, NORMALIZE_TYPES):
                return t
            stack.extend(_parts(t))
        dataset = getattr(dataset, "dataset", None)
    return None


def to_picture(image: torch.Tensor, normalize=None) -> np.ndarray:
    """An image tensor as matplotlib shows it: a (H, W) or (H, W, 3) array in [0, 1].

    ``normalize`` is what the image went through, undone for display: a ``Normalize``
    transform or a ``(mean, std)`` pair such as ``(0.5, 0.5)``.  Without it, values outside
    [0, 1] are stretched to fit.  Flattened MLP inputs (784 or 3072 values) are made square
    again.
    """
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
    if image.dim() != 3:
        raise ValueError(f"to_picture は画像 1 枚 (C, H, W) を受け取ります (形 {tuple(image.shape)})。")
    if normalize is not None:
        mean, std = ((normalize.mean, normalize.std) if isinstance(normalize, NORMALIZE_TYPES)
                     else normalize)
        image = (image * torch.as_tensor(std, dtype=image.dtype).view(-1, 1, 1)
                 + torch.as_tensor(mean, dtype=image.dtype).view(-1, 1, 1))
    elif image.min() < 0 or image.max() > 1:  # unknown scaling: stretch to [0, 1]
        image = (image - image.min()) / (image.max() - image.min() + 1e-12)
    image = image.clamp(0, 1)
    return image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()


def _ends_with_sigmoid(net: nn.Module) -> bool:
    """True when the last module registered in ``net`` is a Sigmoid (outputs are probabilities)."""
    leaves = [m for m in net.modules() if not list(m.children())]
    return bool(leaves) and isinstance(leaves[-1], nn.Sigmoid)


def show_images_labels(loader, classes, net, device, max_images: int = 50) -> None:
    """Show up to 50 images of the first batch with "true:predicted" titles.

    With ``net=None`` only the true labels are shown.  Wrong predictions are drawn in blue, right
    ones in black.  Works for colour and grayscale images, flattened images, any ``Normalize``
    in the dataset's transform (it is undone for display), and one-output binary models (class 1
    where the logit is > 0, or the probability > 0.5 after a final Sigmoid).
    """
    check_loader(loader, "loader")
    images, labels = split_batch(next(iter(loader)))
    n = min(max_images, len(images))
    predicted = None
    if net is not None:
        with eval_mode(net):
            outputs = model_outputs(net, images[:n].to(device))
        predicted = predicted_classes(outputs, sigmoid_applied=_ends_with_sigmoid(net)).cpu()
    names = (lambda i: classes[i]) if classes is not None else str
    normalize = find_normalize(getattr(loader, "dataset", None))
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
        picture = to_picture(images[i], normalize)
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_axis_off()
    fig.tight_layout()
    plt.show()
