"""Explorable views of the image chapters (9-12), computed on the chapters' real images.

- ``make_kernel_view`` (chapter 9): a 3x3 kernel the learner types (or picks from presets),
  with padding and stride, applied to the MNIST digit of the chapter; shows the output size.
- ``make_dropout_view`` (chapter 10): ``nn.Dropout(p)`` in training mode on real CIFAR-10
  images; what share becomes 0 and that the mean is kept by the 1/(1-p) scaling.
- ``make_augmentation_view`` (chapter 10): the strength of the chapter's data augmentation
  (flip probability, RandomErasing probability and area, RandomCrop padding) on real images.
- ``make_adaptive_pool_view`` (chapter 11): ``nn.AdaptiveAvgPool2d`` with any input and
  output size on a real image: its windows, and the fixed number of values it hands on.
- ``make_resized_crop_view`` (chapter 12): ``RandomResizedCrop``'s ``scale`` and ``ratio`` on a
  real ants/bees photo: where the crops come from and what the model sees.

Each view is a pure compute function (unit-tested, Japanese ``ValueError`` for values that make
no sense) and a factory returning ``draw(fig, **values)`` for ``pythonlibs.interactive.explore``.
Random draws use a fixed seed inside ``torch.random.fork_rng``: moving a control changes only
what the control changes, and the global random state of the notebook is left alone.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms
from torchvision.transforms import functional as TF

from pythonlibs.interactive import show_message

__all__ = [
    "KERNEL_PRESETS", "KERNEL_CHOICES", "parse_kernel", "conv_output_length", "convolve_image",
    "make_kernel_view", "dropout_images", "make_dropout_view", "augment_images",
    "make_augmentation_view", "adaptive_windows", "adaptive_pool_image", "make_adaptive_pool_view",
    "random_resized_crops", "make_resized_crop_view", "benchmark_views",
]

KERNEL_PRESETS = {
    "縦のエッジ": "-1 0 1 / -1 0 1 / -1 0 1",
    "横のエッジ": "-1 -1 -1 / 0 0 0 / 1 1 1",
    "本書の対角線": "0 0 1 / 0 1 0 / 1 0 0",
    "ぼかし (平均)": "1/9 1/9 1/9 / 1/9 1/9 1/9 / 1/9 1/9 1/9",
    "シャープ": "0 -1 0 / -1 5 -1 / 0 -1 0",
    "輪郭 (ラプラシアン)": "0 1 0 / 1 -4 1 / 0 1 0",
    "何もしない (恒等)": "0 0 0 / 0 1 0 / 0 0 0",
}
# The options of a Combobox: pick one or type 9 numbers of your own.
KERNEL_CHOICES = [f"{name}: {text}" for name, text in KERNEL_PRESETS.items()]

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?(/[+-]?(\d+(\.\d*)?|\.\d+))?$")


def _number(token: str) -> float:
    """One kernel entry: a decimal number or a fraction such as ``1/9``."""
    if not _NUMBER.match(token):
        raise ValueError(f"カーネルの「{token}」は数として読めません。"
                         "9 個の数を空白かカンマで区切って書いてください (例: -1 0 1 / -1 0 1 / -1 0 1)。")
    if "/" in token:
        top, bottom = token.split("/")
        if float(bottom) == 0:
            raise ValueError(f"カーネルの「{token}」は 0 で割っています。")
        return float(top) / float(bottom)
    return float(token)


def parse_kernel(text: str) -> np.ndarray:
    """A 3x3 kernel from text: 9 numbers, rows optionally separated by `` / `` or ``;``.

    A preset's label before ``:`` is ignored, so ``"縦のエッジ: -1 0 1 / ..."`` works too.
    """
    if not isinstance(text, str):
        raise ValueError("カーネルは「-1 0 1 / -1 0 1 / -1 0 1」のような文字列で書いてください。")
    body = text.split(":", 1)[1] if ":" in text else text
    tokens = [t for t in re.split(r"[\s,;]+|\s/\s", body.replace("\u3000", " ")) if t and t != "/"]
    if len(tokens) != 9:
        raise ValueError(f"3×3 のカーネルには数が 9 個必要です (いまは {len(tokens)} 個)。"
                         "例: -1 0 1 / -1 0 1 / -1 0 1")
    values = np.array([_number(t) for t in tokens], dtype=np.float32).reshape(3, 3)
    if not np.isfinite(values).all():
        raise ValueError("カーネルの数が大きすぎます (有限の数にしてください)。")
    return values


def conv_output_length(size: int, kernel: int, padding: int, stride: int) -> int:
    """The formula of section 9.1: ``(size + 2 * padding - kernel) // stride + 1``."""
    if int(padding) != padding or padding < 0:
        raise ValueError(f"パディングは 0 以上の整数です (padding={padding})。")
    if int(stride) != stride or stride < 1:
        raise ValueError(f"ストライドは 1 以上の整数です (stride={stride}): 0 では窓が進みません。")
    if size + 2 * padding < kernel:
        raise ValueError(f"パディングした画像 ({size + 2 * padding} 画素) がカーネル ({kernel}) より小さく、"
                         "窓が 1 つも置けません。")
    return (size + 2 * padding - kernel) // stride + 1


def convolve_image(image, kernel, padding: int = 0, stride: int = 1) -> np.ndarray:
    """``F.conv2d`` of a one-channel image (H, W) with a 3x3 kernel (no bias): an (H', W') array."""
    weight = torch.as_tensor(np.asarray(kernel, dtype=np.float32)).view(1, 1, 3, 3)
    picture = torch.as_tensor(np.asarray(image, dtype=np.float32))
    if picture.dim() != 2:
        raise ValueError(f"1 チャネルの画像 (高さ, 幅) を渡してください (形 {tuple(picture.shape)})。")
    conv_output_length(picture.shape[-1], 3, padding, stride)   # a clear message for impossible values
    out = F.conv2d(picture.view(1, 1, *picture.shape), weight, padding=int(padding), stride=int(stride))
    return out[0, 0].numpy()


def _signed_limits(values: np.ndarray):
    """Colour map and limits: red/blue around 0 when there are negative values, else grey."""
    limit = float(np.abs(values).max()) or 1.0
    return ("bwr", -limit, limit) if values.min() < 0 else ("gray_r", 0.0, limit)


def make_kernel_view(digit):
    """``draw(fig, kernel, padding, stride)``: the digit, the kernel and the convolved output.

    ``digit`` is the chapter's MNIST digit, any shape holding 28x28 values (a (1, 1, 28, 28)
    tensor works).
    """
    image = np.asarray(torch.as_tensor(digit, dtype=torch.float32).detach().reshape(28, 28))

    def draw(fig, kernel="縦のエッジ: -1 0 1 / -1 0 1 / -1 0 1", padding=0, stride=1):
        try:
            weights = parse_kernel(kernel)
            output = convolve_image(image, weights, padding, stride)
        except ValueError as error:
            show_message(fig, str(error))
            return
        ax_in, ax_k, ax_out = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 0.7, 1]})
        padded = np.pad(image, int(padding))
        ax_in.imshow(padded, cmap="gray_r", vmin=0, vmax=1)
        if padding:
            edge = padding - 0.5
            ax_in.add_patch(_rectangle(edge, edge, 28, 28))
        ax_in.set_title(f"入力 28×28 + パディング {padding} (点線の外)", fontsize=10)
        cmap, low, high = _signed_limits(weights)
        ax_k.imshow(weights, cmap=cmap, vmin=low, vmax=high)
        for (i, j), w in np.ndenumerate(weights):
            ax_k.text(j, i, f"{w:.3g}", ha="center", va="center", fontsize=11)
        ax_k.set_title(f"カーネル (合計 {weights.sum():.3g})", fontsize=10)
        cmap, low, high = _signed_limits(output)
        ax_out.imshow(output, cmap=cmap, vmin=low, vmax=high)
        size = output.shape[0]
        ax_out.set_title(f"出力 {size}×{size} = (28 + 2×{padding} - 3) // {stride} + 1\n"
                         f"値 {output.min():.2f} 〜 {output.max():.2f}", fontsize=10)
        for ax in (ax_in, ax_k, ax_out):
            ax.set_axis_off()
    return draw


def _rectangle(x, y, width, height, color="tab:orange", style="--"):
    from matplotlib.patches import Rectangle
    return Rectangle((x, y), width, height, fill=False, edgecolor=color, linestyle=style, linewidth=1.5)


# ---------------------------------------------------------------------------------------------
# Chapter 10: dropout and data augmentation
# ---------------------------------------------------------------------------------------------

def _probability(value, name: str) -> float:
    if not (isinstance(value, (int, float)) and 0 <= value <= 1):
        raise ValueError(f"{name}は 0 以上 1 以下の確率です ({name}={value})。")
    return float(value)


def dropout_images(images: torch.Tensor, p: float, seed: int = 0) -> dict:
    """``nn.Dropout(p)`` in training mode on a batch of images (values >= 0, e.g. pixels in [0, 1]).

    Returns the output, the share of values set to 0, the factor 1/(1-p) of the survivors (None
    for p = 1: nothing survives) and the batch means before and after.
    """
    p = _probability(p, "ドロップアウトの確率 p ")
    images = torch.as_tensor(images, dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out = nn.Dropout(p).train()(images)
    nonzero = images != 0   # black pixels are 0 before dropout: count only the values it could zero
    dropped = ((out == 0) & nonzero).sum().item() / max(nonzero.sum().item(), 1)
    return {"output": out, "zero_rate": dropped, "scale": None if p == 1 else 1 / (1 - p),
            "mean_in": images.mean().item(), "mean_out": out.mean().item(),
            "image_means": (images.mean(dim=(1, 2, 3)).numpy(), out.mean(dim=(1, 2, 3)).numpy())}


def _mosaic(rows, gap: int = 2) -> np.ndarray:
    """A grid of (H, W, 3) pictures in [0, 1] as one array (white gaps): one imshow, fast to draw."""
    height, width = rows[0][0].shape[:2]
    grid = np.ones((len(rows) * (height + gap) - gap, max(len(r) for r in rows) * (width + gap) - gap, 3))
    for i, row in enumerate(rows):
        for j, picture in enumerate(row):
            top, left = i * (height + gap), j * (width + gap)
            grid[top:top + height, left:left + width] = picture
    return grid


def _pictures(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) tensor in [0, 1] -> (N, H, W, 3) array clipped to [0, 1] for display."""
    return images.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def _unnormalize(images: torch.Tensor, normalize) -> torch.Tensor:
    mean, std = normalize
    return images * torch.as_tensor(std).view(-1, 1, 1) + torch.as_tensor(mean).view(-1, 1, 1)


def make_dropout_view(images: torch.Tensor, normalize=(0.5, 0.5), n_show: int = 6):
    """``draw(fig, p)``: real images before/after ``nn.Dropout(p)`` and each image's mean before/after.

    ``images`` is a batch (N, 3, H, W) as the chapter's dataset gives it (normalised); dropout is
    applied to the pixel values in [0, 1] (non-negative, like activations after ReLU).
    """
    pixels = _unnormalize(torch.as_tensor(images, dtype=torch.float32), normalize).clamp(0, 1)
    originals = list(_pictures(pixels[:n_show]))

    def draw(fig, p=0.5):
        try:
            result = dropout_images(pixels, p)
        except ValueError as error:
            show_message(fig, str(error))
            return
        ax_img, ax_mean = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
        ax_img.imshow(_mosaic([originals, list(_pictures(result["output"][:n_show]))]))
        ax_img.set_axis_off()
        scale = "残る値なし" if result["scale"] is None else f"残った値は ×{result['scale']:.2f}"
        ax_img.set_title(f"上: 元の画像 / 下: nn.Dropout(p={p:.2f}) の訓練モード\n"
                         f"0 になった値 {result['zero_rate']:.1%}、{scale} (表示は 1 で切り詰め)", fontsize=10)
        before, after = result["image_means"]
        ax_mean.scatter(before, after, s=8)
        top = max(float(before.max()), float(after.max()), 1e-3) * 1.05
        ax_mean.plot([0, top], [0, top], color="gray", linewidth=1)
        ax_mean.set_xlim(0, top)
        ax_mean.set_ylim(0, top)
        ax_mean.set_xlabel("元の画像の平均")
        ax_mean.set_ylabel("ドロップアウト後の平均")
        ax_mean.set_title(f"{len(before)} 枚の平均\n全体 {result['mean_in']:.3f} → {result['mean_out']:.3f}",
                          fontsize=10)
    return draw


def augment_images(images: torch.Tensor, flip_p: float = 0.5, erase_p: float = 0.5, erase_max: float = 0.33,
                   crop_padding: int = 0, draws: int = 2, seed: int = 0) -> torch.Tensor:
    """The chapter's augmentation with the given strength, ``draws`` times: (draws, N, C, H, W).

    ``images`` are normalised tensors (N, C, H, W).  The transform is ``RandomCrop(H,
    padding=crop_padding)`` (only when ``crop_padding`` > 0; the border is 0 after
    normalisation, i.e. grey), ``RandomHorizontalFlip(flip_p)`` and ``RandomErasing(erase_p,
    scale=(min(0.02, erase_max), erase_max), ratio=(0.3, 3.3), value=0)`` as in chapter 10.
    """
    flip_p = _probability(flip_p, "左右反転の確率 ")
    erase_p = _probability(erase_p, "RandomErasing の確率 ")
    if not (isinstance(erase_max, (int, float)) and 0 < erase_max <= 1):
        raise ValueError(f"塗りつぶす面積の上限は 0 より大きく 1 以下の割合です (erase_max={erase_max})。")
    images = torch.as_tensor(images, dtype=torch.float32)
    size = images.shape[-1]
    if int(crop_padding) != crop_padding or not 0 <= crop_padding < size:
        raise ValueError(f"RandomCrop の padding は 0 以上 {size} 未満の整数です (padding={crop_padding})。")
    steps = [transforms.RandomCrop(size, padding=int(crop_padding))] if crop_padding else []
    steps += [transforms.RandomHorizontalFlip(p=flip_p),
              transforms.RandomErasing(p=erase_p, scale=(min(0.02, erase_max), erase_max), ratio=(0.3, 3.3),
                                       value=0)]
    augment = transforms.Compose(steps)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.stack([torch.stack([augment(image) for image in images]) for _ in range(draws)])


def make_augmentation_view(images: torch.Tensor, titles, normalize=(0.5, 0.5), draws: int = 2):
    """``draw(fig, flip_p, erase_p, erase_max, crop_padding)``: originals (top) and ``draws`` augmentations."""
    images = torch.as_tensor(images, dtype=torch.float32)
    originals = list(_pictures(_unnormalize(images, normalize)))
    titles = list(titles)

    def draw(fig, flip_p=0.5, erase_p=0.5, erase_max=0.33, crop_padding=0):
        try:
            augmented = augment_images(images, flip_p, erase_p, erase_max, crop_padding, draws)
        except ValueError as error:
            show_message(fig, str(error))
            return
        rows = [originals] + [list(_pictures(_unnormalize(batch, normalize))) for batch in augmented]
        ax = fig.subplots()
        grid = _mosaic(rows)
        ax.imshow(grid)
        step = (grid.shape[1] + 2) / len(originals)
        for j, title in enumerate(titles):
            ax.text(j * step + step / 2 - 1, -2, title, ha="center", va="bottom", fontsize=9)
        height = grid.shape[0] / len(rows)
        for i, label in enumerate(["元の画像"] + [f"拡張 {k} 回目" for k in range(1, draws + 1)]):
            ax.text(-3, i * height + height / 2, label, ha="right", va="center", fontsize=9)
        ax.set_axis_off()
        low = min(0.02, erase_max)
        ax.set_title(f"左右反転 p={flip_p:.2f}、RandomErasing p={erase_p:.2f} (面積 {low:.0%}〜{erase_max:.0%})、"
                     f"RandomCrop padding={crop_padding}", fontsize=10, pad=16)
    return draw


# ---------------------------------------------------------------------------------------------
# Chapter 11: nn.AdaptiveAvgPool2d
# ---------------------------------------------------------------------------------------------

def _size(value, name: str) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name}は 1 以上の整数です ({name}={value})。")
    return int(value)


def adaptive_windows(n_in: int, n_out: int) -> list[tuple[int, int]]:
    """PyTorch's windows of ``AdaptiveAvgPool`` along one axis: [floor(i n/m), ceil((i+1) n/m))."""
    n_in, n_out = _size(n_in, "入力の大きさ"), _size(n_out, "出力の大きさ")
    return [((i * n_in) // n_out, -(-((i + 1) * n_in) // n_out)) for i in range(n_out)]


def adaptive_pool_image(image: torch.Tensor, in_size: int, out_size: int):
    """The image resized to ``in_size`` (as ``Resize`` would) and its ``nn.AdaptiveAvgPool2d(out_size)``."""
    in_size, out_size = _size(in_size, "入力の大きさ"), _size(out_size, "出力の大きさ")
    image = torch.as_tensor(image, dtype=torch.float32)
    resized = F.interpolate(image[None], size=(in_size, in_size), mode="bilinear", antialias=True,
                            align_corners=False)[0]
    return resized, nn.AdaptiveAvgPool2d(out_size)(resized[None])[0]


def make_adaptive_pool_view(image: torch.Tensor, normalize=(0.5, 0.5)):
    """``draw(fig, in_size, out_size)``: the input with the pooling windows, and the pooled output."""
    picture = _unnormalize(torch.as_tensor(image, dtype=torch.float32), normalize).clamp(0, 1)
    channels = picture.shape[0]

    def draw(fig, in_size=112, out_size=7):
        try:
            resized, pooled = adaptive_pool_image(picture, in_size, out_size)
            windows = adaptive_windows(in_size, out_size)
        except ValueError as error:
            show_message(fig, str(error))
            return
        ax_in, ax_out = fig.subplots(1, 2)
        ax_in.imshow(_pictures(resized[None])[0], extent=(0, in_size, in_size, 0), interpolation="nearest")
        for start, end in windows[:40]:   # the windows' edges (at most 40 lines per axis)
            for edge in (start, end):
                ax_in.axvline(edge, color="tab:orange", linewidth=0.8)
                ax_in.axhline(edge, color="tab:orange", linewidth=0.8)
        widths = sorted({end - start for start, end in windows})
        ax_in.set_title(f"入力 {channels}×{in_size}×{in_size}\n窓の幅 {' または '.join(map(str, widths))} 画素"
                        " (オレンジの線)", fontsize=10)
        ax_out.imshow(_pictures(pooled[None])[0], interpolation="nearest")
        ax_out.set_title(f"AdaptiveAvgPool2d({out_size}) の出力 {channels}×{out_size}×{out_size}\n"
                         f"次の層に渡る数 {channels * out_size * out_size} (入力の大きさによらない)", fontsize=10)
        for ax in (ax_in, ax_out):
            ax.set_axis_off()
    return draw


# ---------------------------------------------------------------------------------------------
# Chapter 12: RandomResizedCrop
# ---------------------------------------------------------------------------------------------

def _range(values, name: str, upper: float | None):
    try:
        low, high = (float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name}は (最小, 最大) の 2 つの数です ({name}={values})。") from None
    if not (0 < low <= high) or (upper is not None and high > upper) or not math.isfinite(high):
        limit = f" {upper} 以下" if upper is not None else ""
        raise ValueError(f"{name}は 0 < 最小 <= 最大{limit} の範囲です ({name}={values})。")
    return low, high


def random_resized_crops(image, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), n: int = 6, size: int = 224,
                         seed: int = 0):
    """``n`` draws of ``RandomResizedCrop(size, scale, ratio)`` on a PIL image.

    Returns a list of ``(box, crop)``: ``box = (top, left, height, width)`` in the original
    image, ``crop`` the (size, size) PIL image the model would get.  Where no box with the
    asked area and ratio fits in 10 tries, torchvision falls back to a central crop, as here.
    """
    scale = _range(scale, "scale (面積の割合)", 1.0)
    ratio = _range(ratio, "ratio (縦横比)", None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        boxes = [transforms.RandomResizedCrop.get_params(image, list(scale), list(ratio)) for _ in range(n)]
    return [(box, TF.resized_crop(image, *box, [size, size], antialias=True)) for box in boxes]


_COLORS = ("tab:red", "tab:orange", "tab:green", "tab:blue", "tab:purple", "tab:pink", "tab:cyan", "tab:olive")


def make_resized_crop_view(image, n: int = 6, size: int = 224):
    """``draw(fig, scale, ratio)``: the photo with the crops' boxes, and the crops as the model sees them."""
    width, height = image.size

    def draw(fig, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
        try:
            crops = random_resized_crops(image, scale, ratio, n, size)
        except ValueError as error:
            show_message(fig, str(error))
            return
        ax_photo, ax_crops = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1.5]})
        ax_photo.imshow(image)
        for k, ((top, left, h, w), _) in enumerate(crops):
            ax_photo.add_patch(_rectangle(left, top, w, h, _COLORS[k % len(_COLORS)], "-"))
        ax_photo.set_title(f"元の写真 {width}×{height} と切り出す領域\n"
                           f"scale=({scale[0]:.2f}, {scale[1]:.2f}), ratio=({ratio[0]:.2f}, {ratio[1]:.2f})",
                           fontsize=10)
        pictures = [np.asarray(crop, dtype=np.float32) / 255 for _, crop in crops]
        columns = math.ceil(len(pictures) / 2)
        ax_crops.imshow(_mosaic([pictures[:columns], pictures[columns:]], gap=6))
        areas = [f"{h * w / (width * height):.0%}" for (_, _, h, w), _ in crops]
        ax_crops.set_title(f"{size}×{size} に拡大縮小した結果 (モデルが見る画像)\n面積の割合 " + ", ".join(areas),
                           fontsize=10)
        for ax in (ax_photo, ax_crops):
            ax.set_axis_off()
    return draw


# ---------------------------------------------------------------------------------------------
# Benchmark: each view on the chapters' real data
# ---------------------------------------------------------------------------------------------

def benchmark_views() -> dict:
    """View name -> (draw on the chapter's real data, values to time), loaded as the notebooks do."""
    from pythonlibs.datasets import load_cifar10, load_hymenoptera, load_mnist
    from pythonlibs.data import quick_subset

    mnist = load_mnist(train=True, transform=transforms.ToTensor())
    digit = mnist[int(np.flatnonzero(np.asarray(mnist.targets) == 5)[0])][0]
    normalize = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    cifar = quick_subset(load_cifar10(train=True, transform=normalize), per_class=50)
    batch = torch.stack([cifar[i][0] for i in range(100)])
    first = [int(np.flatnonzero(np.asarray(cifar.targets) == c)[0]) for c in range(10)]
    ten = torch.stack([cifar[i][0] for i in first])
    photo = load_hymenoptera(train=True, quick_per_class=3)[0][0]
    return {
        "ch09 kernel": (make_kernel_view(digit), [
            {"kernel": KERNEL_CHOICES[0], "padding": 0, "stride": 1},
            {"kernel": KERNEL_CHOICES[3], "padding": 3, "stride": 3},
            {"kernel": "100 -100 0 0 0 0 0 0 1e6", "padding": 1, "stride": 2},
            {"kernel": "1 2 3", "padding": 0, "stride": 1}]),
        "ch10 dropout": (make_dropout_view(batch), [{"p": 0.0}, {"p": 0.5}, {"p": 0.95}, {"p": 1.0}]),
        "ch10 augmentation": (make_augmentation_view(ten, cifar.classes), [
            {"flip_p": 0.5, "erase_p": 0.5, "erase_max": 0.33, "crop_padding": 0},
            {"flip_p": 1.0, "erase_p": 1.0, "erase_max": 1.0, "crop_padding": 8},
            {"flip_p": 0.0, "erase_p": 0.0, "erase_max": 0.02, "crop_padding": 4}]),
        "ch11 adaptive pool": (make_adaptive_pool_view(torch.nn.functional.interpolate(
            ten[:1], size=(112, 112), mode="bilinear")[0]), [
            {"in_size": 112, "out_size": 7}, {"in_size": 112, "out_size": 1},
            {"in_size": 3, "out_size": 16}, {"in_size": 224, "out_size": 40}]),
        "ch12 resized crop": (make_resized_crop_view(photo), [
            {"scale": (0.08, 1.0), "ratio": (3 / 4, 4 / 3)}, {"scale": (0.01, 0.05), "ratio": (0.2, 5.0)},
            {"scale": (1.0, 1.0), "ratio": (1.0, 1.0)}]),
    }
