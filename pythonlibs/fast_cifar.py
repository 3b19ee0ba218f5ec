"""A fast CIFAR-10 training recipe: data on the device, augmentation in batches, a small ResNet-9-like net.

The recipe follows the public *airbench* scripts (Keller Jordan, airbench94: 94% on CIFAR-10 in
under 4 seconds on one A100) and David Page's "How to train your ResNet" (ResNet-9):

* the whole data set lives on the device as one tensor (:func:`images_to_tensor`) and the
  loader (:class:`DeviceLoader`) slices mini-batches from it; random crop with padding and
  horizontal flip are done on a whole batch at once (:func:`random_crop`, :func:`random_flip`),
  so the CPU never decodes an image during training;
* the net (:func:`make_fast_net`) is a VGG/ResNet-9-like stack of three conv groups after a
  frozen 2x2 *whitening* convolution initialised from the data (:func:`init_whitening`);
* training (:func:`train_fast`) uses SGD with Nesterov momentum and weight decay, a one-cycle
  (linear warm-up / linear decay) or cosine learning-rate schedule, label smoothing, Lookahead
  weight averaging, mixed precision on CUDA (bf16 where the GPU has it natively, else fp16 with
  loss scaling: ``training.autocast_for``), the
  ``channels_last`` memory layout (CUDA and CPU), optional ``torch.compile`` (for CUDA), and
  test-time augmentation (flip, translation).

On a CPU everything runs in float32 without ``torch.compile``; the code is the same.

Usage::

    from pythonlibs.fast_cifar import *
    train_x, train_y = load_cifar10_tensors(train=True, device=device)
    test_x, test_y = load_cifar10_tensors(train=False, device=device)
    result = train_fast(make_fast_net(), train_x, train_y, test_x, test_y, Recipe(), seed=0)
    print(result["accuracy"], result["seconds"])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pythonlibs.augment import random_crop, random_flip
from pythonlibs.data import AugmentedBatchLoader
from pythonlibs.datasets import CIFAR10_MEAN, CIFAR10_STD, load_cifar10
from pythonlibs.runtime import torch_seed
from pythonlibs.training import autocast_for, eval_mode, grad_scaler_for

__all__ = [
    "CIFAR10_MEAN", "CIFAR10_STD",
    "images_to_tensor", "load_cifar10_tensors", "random_flip", "random_crop", "DeviceLoader",
    "ScaleOutput", "BatchNormNoScale", "DiracConv", "ConvGroup", "ResidualGroup", "FastNet",
    "make_fast_net",
    "init_whitening", "Recipe", "lr_factor", "make_optimizer", "make_scheduler", "Lookahead",
    "autocast_for", "grad_scaler_for", "prepare_model", "to_model_layout", "seed_fast",
    "predict_tta", "evaluate_tta", "train_fast", "run_seeds", "synchronize",
]


# ---------------------------------------------------------------------------------------------
# Data on the device
# ---------------------------------------------------------------------------------------------

def images_to_tensor(data, targets, device, mean=CIFAR10_MEAN, std=CIFAR10_STD):
    """uint8 images ``(N, H, W, C)`` or ``(N, H, W)`` and labels -> normalised tensors on ``device``.

    Returns ``(images, labels)``: float32 ``(N, C, H, W)`` with ``(x / 255 - mean) / std`` per
    channel, and int64 ``(N,)``.  The uint8 array is moved first (4x less to copy than floats)
    and converted on the device.
    """
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim not in (3, 4):
        raise ValueError(f"data は uint8 の (N, H, W[, C]) 配列にしてください (形 {data.shape}, "
                         f"型 {data.dtype})。")
    images = torch.tensor(data, device=device)
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    channels = images.shape[1]
    mean = torch.as_tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    if mean.shape[1] not in (1, channels) or std.shape[1] not in (1, channels):
        raise ValueError(f"mean/std の要素数がチャネル数 {channels} と合いません。")
    images = (images.float() / 255 - mean) / std
    labels = torch.as_tensor(np.asarray(targets), dtype=torch.long, device=device)
    if len(labels) != len(images):
        raise ValueError(f"画像 {len(images)} 枚に対してラベルが {len(labels)} 個です。")
    return images.contiguous(), labels


def load_cifar10_tensors(train: bool, device):
    """CIFAR-10 from ``load_cifar10`` (quick mode: the small subset) as normalised device tensors."""
    dataset = load_cifar10(train=train, transform=None)
    return images_to_tensor(dataset.data, dataset.targets, device)


class DeviceLoader(AugmentedBatchLoader):
    """Mini-batches sliced from tensors that already live on the device, augmented on the device.

    Use it like a ``DataLoader`` (``for x, y in loader``; ``len(loader)`` batches), also with
    ``fit`` of ``torch_lib1``.  Each epoch visits every sample exactly once (``drop_last=True``
    leaves out the last incomplete batch, so every step has the same shape, which
    ``torch.compile`` likes).  Shuffling and augmentation draw from PyTorch's generator on the
    device, so ``torch_seed`` makes them repeat.  The slicing is ``AugmentedBatchLoader``'s; the
    augmentation is :meth:`crop_and_flip`.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int,
                 shuffle: bool = False, drop_last: bool = False, crop_pad: int = 0,
                 flip: bool = False, padding_mode: str = "reflect"):
        super().__init__(images, labels, batch_size, self.crop_and_flip, shuffle, drop_last)
        self.crop_pad, self.flip, self.padding_mode = crop_pad, flip, padding_mode

    def crop_and_flip(self, images: torch.Tensor) -> torch.Tensor:
        """Augment one batch: random crop with padding, then random flip (each if enabled)."""
        if self.crop_pad:
            images = random_crop(images, self.crop_pad, self.padding_mode)
        if self.flip:
            images = random_flip(images)
        return images


# ---------------------------------------------------------------------------------------------
# The net
# ---------------------------------------------------------------------------------------------

class ScaleOutput(nn.Module):
    """Multiply the output by a constant (scales the logits down; acts like a lower learning rate on them)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


class BatchNormNoScale(nn.BatchNorm2d):
    """BatchNorm with a frozen scale of 1 and a trainable shift (airbench's choice).

    ``momentum`` is airbench's: the weight of the *old* running statistics (0.6), i.e.
    PyTorch's ``momentum = 1 - 0.6``.
    """

    def __init__(self, num_features: int, momentum: float = 0.6, eps: float = 1e-12):
        super().__init__(num_features, eps=eps, momentum=1 - momentum)
        self.weight.requires_grad = False


class DiracConv(nn.Conv2d):
    """3x3 'same' convolution without bias whose first filters start as identity (Dirac) maps.

    Starting close to the identity lets the signal pass through at initialisation, which
    speeds up the first steps of training.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3):
        super().__init__(in_channels, out_channels, kernel_size, padding="same", bias=False)

    def reset_parameters(self):
        super().reset_parameters()
        n = min(self.in_channels, self.out_channels)
        nn.init.dirac_(self.weight.data[:n])


class ConvGroup(nn.Module):
    """conv -> max-pool (halves H, W) -> BN -> GELU -> conv -> BN -> GELU."""

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float = 0.6):
        super().__init__()
        self.conv1 = DiracConv(in_channels, out_channels)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = BatchNormNoScale(out_channels, bn_momentum)
        self.conv2 = DiracConv(out_channels, out_channels)
        self.norm2 = BatchNormNoScale(out_channels, bn_momentum)
        self.act = nn.GELU()

    def forward(self, x):
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        return self.act(self.norm2(self.conv2(x)))


class ResidualGroup(ConvGroup):
    """ResNet-9's stage (David Page): conv -> max-pool -> BN -> GELU, then ``x + F(x)`` with
    ``F`` = (conv -> BN -> GELU) twice.

    The identity shortcut ``x +`` lets the gradient reach earlier layers unchanged; with the
    Dirac initialisation ``F`` starts close to the identity as well.
    """

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float = 0.6):
        super().__init__(in_channels, out_channels, bn_momentum)
        self.conv3 = DiracConv(out_channels, out_channels)
        self.norm3 = BatchNormNoScale(out_channels, bn_momentum)

    def forward(self, x):
        x = self.act(self.norm1(self.pool(self.conv1(x))))
        residual = self.act(self.norm2(self.conv2(x)))
        return x + self.act(self.norm3(self.conv3(residual)))


class FastNet(nn.Module):
    """whitening conv (2x2, frozen) -> GELU -> 3 conv groups -> max-pool -> linear -> x scale.

    ``group(in_channels, out_channels, bn_momentum)`` builds each group (default
    :class:`ConvGroup`, airbench94's); pass another block, e.g. :class:`ResidualGroup`
    (ResNet-9-like) or a Shake-Shake group, to change the body and keep the rest of the recipe.
    """

    def __init__(self, widths=(64, 256, 256), num_classes: int = 10, in_channels: int = 3,
                 bn_momentum: float = 0.6, scale: float = 1 / 9,
                 group: Callable[[int, int, float], nn.Module] = ConvGroup):
        super().__init__()
        whiten_width = 2 * in_channels * 2 * 2          # +/- each of the 12 eigen-patches
        self.whiten = nn.Conv2d(in_channels, whiten_width, kernel_size=2, padding=0, bias=True)
        self.whiten.weight.requires_grad = False
        self.act = nn.GELU()
        channels = (whiten_width, *widths)
        self.groups = nn.Sequential(*[group(channels[i], channels[i + 1], bn_momentum)
                                      for i in range(len(widths))])
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(widths[-1], num_classes, bias=False)
        self.scale = ScaleOutput(scale)

    def forward(self, x):
        x = self.groups(self.act(self.whiten(x)))
        return self.scale(self.head(torch.flatten(self.pool(x), 1)))


def make_fast_net(widths=(64, 256, 256), num_classes: int = 10, **kwargs) -> FastNet:
    """airbench94's net: about 2 M parameters.

    airbench reports 94% on the original CIFAR-10 with this net and :class:`Recipe`. Measured
    here: one CPU run (float32, seed 0) on the offline mirror, whose JPEGs are quality 75 with
    4:2:0 chroma subsampling, reached 90.7% with TTA (89.7% without).
    """
    return FastNet(widths, num_classes, **kwargs)


@torch.no_grad()
def init_whitening(conv: nn.Conv2d, images: torch.Tensor, eps: float = 5e-4) -> None:
    """Set a 2x2 conv to ZCA-like whitening of 2x2 patches of ``images`` (airbench).

    The covariance of all 2x2x3 patches is diagonalised; each eigenvector divided by the square
    root of its eigenvalue becomes a filter, once with + and once with - sign, so that the
    following GELU keeps both halves.  After this layer the 12 patch directions have equal
    variance: no direction dominates the first gradient steps.
    """
    c, (h, w) = images.shape[1], conv.weight.shape[2:]
    if conv.weight.shape[0] != 2 * c * h * w:
        raise ValueError(f"ホワイトニング層の出力チャネルは 2*{c}*{h}*{w} が必要です。")
    patches = images.float().unfold(2, h, 1).unfold(3, w, 1)             # N,C,H',W',h,w
    patches = patches.transpose(1, 3).reshape(-1, c * h * w)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.T.flip(0)   # largest first
    filters = (eigenvectors / torch.sqrt(eigenvalues.view(-1, 1) + eps)).view(-1, c, h, w)
    conv.weight.copy_(torch.cat([filters, -filters]).to(conv.weight.dtype))
    if conv.bias is not None:
        conv.bias.zero_()


# ---------------------------------------------------------------------------------------------
# The training recipe
# ---------------------------------------------------------------------------------------------

@dataclass
class Recipe:
    """Hyper-parameters of :func:`train_fast` (defaults: airbench94's, tuned for :func:`make_fast_net`).

    ``lr`` and ``weight_decay`` are per 1,024 samples and independent of the momentum, as in
    airbench: the loss is *summed* over the batch, so the step per sample does not change when
    ``batch_size`` does.  BatchNorm shifts learn ``bias_scaler`` times faster.
    """

    epochs: float = 9.9
    batch_size: int = 1024
    lr: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0
    label_smoothing: float = 0.2
    schedule: str = "onecycle"          # "onecycle" (linear up, linear down) or "cosine"
    warmup_frac: float = 0.23
    whiten_bias_epochs: int = 3         # train the whitening bias only this many epochs
    whiten_images: int = 5000           # images used to estimate the patch covariance
    crop_pad: int = 2
    flip: bool = True
    padding_mode: str = "reflect"
    lookahead: bool = True
    tta_level: int = 2                  # 0: none, 1: + mirror, 2: + mirror and 1-pixel shifts
    amp: bool = True                    # mixed precision (CUDA only)
    channels_last: bool = True          # CUDA and CPU (faster on both), not MPS
    compile: bool = False               # torch.compile (meant for CUDA; a CPU needs a C++ compiler)
    eval_batch_size: int = 2000


def lr_factor(step: int, total_steps: int, schedule: str = "onecycle", warmup_frac: float = 0.23,
              start: float = 0.2, end: float = 0.07) -> float:
    """Multiplier of the learning rate at ``step``: rises linearly ``start -> 1`` during warm-up,
    then falls to ``end`` linearly (``"onecycle"``) or along a half cosine (``"cosine"``)."""
    warmup = int(total_steps * warmup_frac)
    if step < warmup:
        return start + (1 - start) * step / warmup
    frac = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    if schedule == "onecycle":
        return 1 + (end - 1) * frac
    if schedule == "cosine":
        return end + (1 - end) * 0.5 * (1 + math.cos(math.pi * frac))
    raise ValueError(f"schedule は 'onecycle' か 'cosine' です (受け取った値: {schedule!r})")


def _whiten_bias(net: nn.Module):
    """The trainable bias of ``net.whiten`` when that is a ``Conv2d`` (the whitening layer), else None."""
    whiten = getattr(net, "whiten", None)
    bias = whiten.bias if isinstance(whiten, nn.Conv2d) else None
    return bias if bias is not None and bias.requires_grad else None


def make_optimizer(net: nn.Module, recipe: Recipe) -> torch.optim.SGD:
    """SGD with Nesterov momentum; BatchNorm parameters in a group with a larger learning rate.

    PyTorch multiplies ``weight_decay`` by the learning rate, so it is divided by it here:
    every weight then shrinks by the same ``recipe.weight_decay`` per 1,024 samples whatever
    its group's learning rate (decoupled weight decay, scaled by the schedule).  Each group has
    a ``"name"``: ``"norm"``, ``"other"`` and ``"whiten_bias"`` (the whitening layer's bias,
    which :func:`make_scheduler` stops after ``recipe.whiten_bias_epochs``).
    """
    kilostep_scale = 1024 * (1 + 1 / (1 - recipe.momentum))
    lr = recipe.lr / kilostep_scale
    wd = recipe.weight_decay * recipe.batch_size / kilostep_scale
    lr_norm = lr * recipe.bias_scaler
    norm_ids = {id(p) for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                for p in m.parameters()}
    whiten_bias = _whiten_bias(net)
    params = [p for p in net.parameters() if p.requires_grad and p is not whiten_bias]
    groups = [dict(name="norm", params=[p for p in params if id(p) in norm_ids],
                   lr=lr_norm, weight_decay=wd / lr_norm),
              dict(name="other", params=[p for p in params if id(p) not in norm_ids],
                   lr=lr, weight_decay=wd / lr),
              dict(name="whiten_bias", params=[] if whiten_bias is None else [whiten_bias],
                   lr=lr, weight_decay=wd / lr)]
    return torch.optim.SGD([g for g in groups if g["params"]], momentum=recipe.momentum,
                           nesterov=True)


def make_scheduler(optimizer: torch.optim.Optimizer, total_steps: int, whiten_bias_steps: int,
                   recipe: Recipe) -> torch.optim.lr_scheduler.LambdaLR:
    """The learning-rate schedule of every group (:func:`lr_factor`); the ``"whiten_bias"``
    group's rate drops to 0 after ``whiten_bias_steps`` steps, which freezes that bias.

    Freezing by the learning rate, as airbench does, rather than by switching
    ``requires_grad`` off keeps the traced graph the same in every epoch, so ``torch.compile``
    does not compile the net a second time.
    """
    def factor(step: int) -> float:
        return lr_factor(step, total_steps, recipe.schedule, recipe.warmup_frac)

    def whiten_bias_factor(step: int) -> float:
        return factor(step) if step < whiten_bias_steps else 0.0

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, [whiten_bias_factor if group.get("name") == "whiten_bias" else factor
                    for group in optimizer.param_groups])


class Lookahead:
    """Lookahead / EMA of the weights: every few steps both copies move to their weighted mean.

    ``update(net, decay)`` sets ``ema = decay * ema + (1 - decay) * net`` and copies ``ema``
    back into ``net`` (float tensors only, BatchNorm statistics included), each as one
    ``foreach`` call over all tensors rather than two small operations per tensor.
    """

    def __init__(self, net: nn.Module):
        self.ema = [v.detach().clone() for v in self._float_tensors(net)]

    @staticmethod
    def _float_tensors(net: nn.Module) -> list[torch.Tensor]:
        return [v for v in net.state_dict().values() if v.dtype.is_floating_point]

    @torch.no_grad()
    def update(self, net: nn.Module, decay: float) -> None:
        current = self._float_tensors(net)
        torch._foreach_lerp_(self.ema, current, 1 - decay)
        torch._foreach_copy_(current, self.ema)


def synchronize(device) -> None:
    """Wait for the GPU to finish its queued work (for honest timings); no-op on a CPU."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def seed_fast(seed: int, device) -> None:
    """``torch_seed(seed)``, with cuDNN's fastest (non-deterministic) kernels on CUDA.

    The runs then repeat up to tiny floating-point differences; the price of bitwise
    reproducibility on a GPU is speed.
    """
    torch_seed(seed, deterministic=torch.device(device).type != "cuda")


def _use_channels_last(device, recipe: Recipe) -> bool:
    """``channels_last`` where it is fast: CUDA (Tensor Cores) and CPU (oneDNN), not MPS.

    Measured on a 2-core CPU: a training step of :func:`make_fast_net` takes about 25% less
    time in ``channels_last`` than in the default layout.
    """
    return recipe.channels_last and torch.device(device).type in ("cuda", "cpu")


def prepare_model(net: nn.Module, device, recipe: Recipe):
    """Move ``net`` to the device (``channels_last`` where it helps, compiled if asked) and
    return ``(net, model to call in training)``.

    The compiled ``model`` is only for training steps, which all look alike (same batch shape,
    layout and grad mode), so it is compiled once.  Evaluation calls the plain ``net``: in
    ``no_grad``, with TTA's flipped and shifted views and a smaller last batch, each would make
    ``torch.compile`` compile again, for a few forward passes that gain nothing from it.
    """
    net = net.to(device)
    if _use_channels_last(device, recipe):
        net = net.to(memory_format=torch.channels_last)
    if recipe.compile:
        return net, torch.compile(net)
    return net, net


def to_model_layout(x: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    """A batch in the memory layout the net was prepared for."""
    if _use_channels_last(x.device, recipe):
        return x.contiguous(memory_format=torch.channels_last)
    return x


@torch.no_grad()
def predict_tta(model, images: torch.Tensor, level: int = 2) -> torch.Tensor:
    """Logits averaged over test-time augmentations of one batch.

    level 0: the images; 1: mean with their mirror images; 2: half of that plus half the
    mirror-averaged logits of the images shifted by one pixel up-left and down-right.
    """
    def mirror(x):
        logits = model(x)
        return logits if level == 0 else 0.5 * (logits + model(x.flip(3)))

    logits = mirror(images)
    if level < 2:
        return logits
    padded = F.pad(images, (1, 1, 1, 1), mode="reflect")
    h, w = images.shape[2:]
    shifted = [padded[:, :, :h, :w], padded[:, :, 2:, 2:]]
    return 0.5 * logits + 0.5 * torch.stack([mirror(x) for x in shifted]).mean(0)


@torch.no_grad()
def evaluate_tta(model, images: torch.Tensor, labels: torch.Tensor, recipe: Recipe,
                 level: int | None = None) -> float:
    """Accuracy of ``model`` (eval mode) with test-time augmentation ``level``."""
    level = recipe.tta_level if level is None else level
    correct = 0
    with eval_mode(model):
        for start in range(0, len(images), recipe.eval_batch_size):
            x = to_model_layout(images[start:start + recipe.eval_batch_size], recipe)
            with autocast_for(images.device, recipe.amp):
                logits = predict_tta(model, x, level)
            correct += (logits.argmax(1) == labels[start:start + len(x)]).sum()
    return correct.item() / len(images)


def _train_step(model, x, y, optimizer, scaler, criterion, recipe: Recipe):
    """One SGD step; returns the summed loss and the number correct (tensors, no sync)."""
    with autocast_for(x.device, recipe.amp):
        outputs = model(to_model_layout(x, recipe))
        loss = criterion(outputs, y).sum()
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), (outputs.detach().argmax(1) == y).sum()


def train_fast(net: nn.Module, train_images: torch.Tensor, train_labels: torch.Tensor,
               test_images: torch.Tensor, test_labels: torch.Tensor,
               recipe: Recipe | None = None, seed: int | None = None, verbose: bool = True) -> dict:
    """Train ``net`` with ``recipe`` on device tensors and return its test accuracy and time.

    ``seed`` fixes what happens in here (the order of the batches, the augmentation); the
    initial weights are those ``net`` was built with, so seed before building it too (as
    :func:`run_seeds` does) for a run that repeats.

    The clock starts with the data already on the device and stops after the final test
    accuracy (with TTA) is known, with ``torch.cuda.synchronize()`` on a GPU.  Returns a dict:
    ``accuracy`` (with TTA), ``accuracy_no_tta``, ``seconds``, ``epochs``, ``steps`` and
    ``history`` (per epoch: train loss and accuracy, computed on the augmented batches).
    """
    recipe = recipe or Recipe()
    device = train_images.device
    if seed is not None:
        seed_fast(seed, device)
    synchronize(device)
    start = time.perf_counter()
    net, model = prepare_model(net, device, recipe)
    if isinstance(getattr(net, "whiten", None), nn.Conv2d):
        init_whitening(net.whiten, train_images[:recipe.whiten_images])
    loader = DeviceLoader(train_images, train_labels, recipe.batch_size, shuffle=True,
                          drop_last=True, crop_pad=recipe.crop_pad, flip=recipe.flip,
                          padding_mode=recipe.padding_mode)
    if len(loader) == 0:
        raise ValueError(f"訓練画像 {len(train_labels)} 枚は batch_size={recipe.batch_size} に満たず、"
                         "1 ステップも学習できません。batch_size を小さくしてください。")
    total_steps = math.ceil(len(loader) * recipe.epochs)
    optimizer = make_optimizer(net, recipe)
    scheduler = make_scheduler(optimizer, total_steps, recipe.whiten_bias_epochs * len(loader),
                               recipe)
    # fp16 (a T4): the loss is summed over the batch, which makes the gradients batch-size times
    # larger, as a loss scale would.  No further scale: PyTorch's default (2**16, for a mean loss)
    # or even 2**16 / batch size overflows the first steps on some data (tests/test_amp_emulated.py).
    scaler = grad_scaler_for(device, recipe.amp, init_scale=1.0)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing, reduction="none")
    lookahead = Lookahead(net) if recipe.lookahead else None
    ema_decay = 0.95 ** 5 * (torch.arange(total_steps + 1) / total_steps) ** 3
    history, step = [], 0
    model.train()
    for epoch in range(math.ceil(recipe.epochs)):
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for x, y in loader:
            loss, right = _train_step(model, x, y, optimizer, scaler, criterion, recipe)
            loss_sum, correct, seen = loss_sum + loss, correct + right, seen + len(y)
            scheduler.step()
            step += 1
            if lookahead is not None and step % 5 == 0:
                lookahead.update(net, decay=ema_decay[step].item())
            if step >= total_steps:
                break
        history.append((epoch + 1, loss_sum.item() / seen, correct.item() / seen))
        if verbose:
            print(f"エポック {epoch + 1}: 訓練損失 {history[-1][1]:.4f} 訓練精度 {history[-1][2]:.4f}")
        if step >= total_steps:
            break
    if lookahead is not None:
        lookahead.update(net, decay=1.0)
    accuracy = evaluate_tta(net, test_images, test_labels, recipe)   # eager: see prepare_model
    synchronize(device)
    seconds = time.perf_counter() - start
    no_tta = evaluate_tta(net, test_images, test_labels, recipe, level=0)
    if verbose:
        print(f"テスト精度 {accuracy:.4f} (TTA なし {no_tta:.4f}), {seconds:.1f} 秒")
    return dict(accuracy=accuracy, accuracy_no_tta=no_tta, seconds=seconds,
                epochs=recipe.epochs, steps=step, history=np.array(history))


def _seeded_net(make_net: Callable[[], nn.Module], seed: int, device) -> nn.Module:
    """``make_net()`` right after :func:`seed_fast`: its initial weights depend on ``seed`` only."""
    seed_fast(seed, device)
    return make_net()


def run_seeds(make_net: Callable[[], nn.Module], train_images, train_labels, test_images,
              test_labels, recipe: Recipe | None = None, seeds=(0, 1, 2),
              warmup: bool | None = None, verbose: bool = False) -> list[dict]:
    """:func:`train_fast` once per seed (a fresh net each time); returns one dict per seed.

    Each seed is set before its net is built, so a seed's run (initial weights included)
    repeats on its own, whatever ran before it.

    ``warmup`` (default: on CUDA only) first runs one untimed training, so that
    ``torch.compile`` and cuDNN's kernel search are not counted in the timings, as airbench
    does.  On a CPU there is nothing to warm up.
    """
    recipe = recipe or Recipe()
    if warmup is None:
        warmup = train_images.device.type == "cuda"
    if warmup:
        train_fast(_seeded_net(make_net, seeds[0], train_images.device), train_images,
                   train_labels, test_images, test_labels, recipe, seed=seeds[0], verbose=False)
    results = []
    for seed in seeds:
        result = train_fast(_seeded_net(make_net, seed, train_images.device), train_images,
                            train_labels, test_images, test_labels, recipe, seed=seed,
                            verbose=verbose)
        results.append(dict(seed=seed, **result))
        print(f"シード {seed}: 精度 {result['accuracy']:.4f}, {result['seconds']:.2f} 秒")
    return results
