"""Datasets held in memory and fast mini-batch loaders.

:class:`ImageArrayDataset` keeps images as a uint8 array and returns ``(transform(image),
label)`` like torchvision's datasets.  When every step of the transform is *known* to be
deterministic (``ToTensor``, ``Normalize``, ``Resize`` ...), each image is transformed once and
reused: no per-image work in any epoch.  Random flips, crops and erasing after such steps are
prepared the same way up to the random part, which then runs on whole batches as they are handed
out (:func:`batched_augmentation`).  Anything else (other augmentation, ``Lambda``, a transform
class of your own) runs afresh for every item in every epoch.  Augmentation is never frozen
into a cache.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms
from torchvision.transforms import v2

from pythonlibs.augment import random_crop, random_erasing, random_flip
from pythonlibs.settings import is_quick

__all__ = [
    "ImageArrayDataset", "TensorBatchLoader", "AugmentedBatchLoader", "make_loader",
    "batched_augmentation", "default_num_workers", "is_deterministic_transform",
    "stratified_indices", "per_class_subset", "quick_subset", "PRECOMPUTE_LIMIT_BYTES",
]

PRECOMPUTE_LIMIT_BYTES = 1 << 30  # cache transformed images only while they fit in 1 GiB

# Transforms known to give the same output for the same image every time.  Exact types only:
# a subclass may add randomness of its own.
DETERMINISTIC_TRANSFORMS = frozenset({
    transforms.ToTensor, transforms.PILToTensor, transforms.Normalize, transforms.Resize,
    transforms.CenterCrop, transforms.Grayscale, transforms.ConvertImageDtype, transforms.Pad,
    transforms.ToPILImage,
    v2.ToImage, v2.ToDtype, v2.ToPureTensor, v2.PILToTensor, v2.Normalize, v2.Resize,
    v2.CenterCrop, v2.Grayscale, v2.ConvertImageDtype, v2.Pad, v2.ToPILImage, v2.RGB, v2.Identity,
    nn.Flatten, nn.Identity,
})
PIPELINES = (transforms.Compose, v2.Compose, nn.Sequential)
NORMALIZE_TYPES = (transforms.Normalize, v2.Normalize)


def _pipeline_steps(transform) -> list:
    """The single transforms of a pipeline, in order (Compose and nn.Sequential unpacked)."""
    if transform is None:
        return []
    if type(transform) in PIPELINES:
        parts = transform if isinstance(transform, nn.Sequential) else transform.transforms
        return [step for part in parts for step in _pipeline_steps(part)]
    return [transform]


def is_deterministic_transform(transform) -> bool:
    """True only when every step of ``transform`` is a transform known to be deterministic.

    Unknown steps count as random: ``Lambda`` (it may call ``torch.randn``), transforms of
    your own, and every augmentation of torchvision (v1 and v2).
    """
    return all(type(step) in DETERMINISTIC_TRANSFORMS for step in _pipeline_steps(transform))


def _pil_to_tensor_batch(images: np.ndarray) -> torch.Tensor:
    """What ``PILToTensor`` does to each uint8 image, for all at once: (N, C, H, W) uint8."""
    batch = torch.tensor(images)   # a copy: the dataset's array is read-only
    batch = batch.unsqueeze(3) if batch.dim() == 3 else batch
    return batch.permute(0, 3, 1, 2).contiguous()


class ImageArrayDataset(Dataset):
    """Images held in memory as a uint8 array, returned through ``transform`` like torchvision's.

    ``images`` is (N, H, W) for grayscale or (N, H, W, 3) for colour; item ``i`` is
    ``(transform(PIL image), label)``.  When the transform is known to be deterministic and the
    result fits in memory, every image is transformed once and kept in ``tensors``; that is
    where most of the book's CIFAR-10 time went.  ``ToTensor`` (+ ``Normalize``) or
    ``PILToTensor`` at the start of the pipeline is done for all images at once.

    ``data`` is read-only (change it by assigning a new array, which prepares the images again);
    ``targets`` is this dataset's own copy.
    """

    def __init__(self, images, labels, classes, transform=None):
        self.data = images
        self.targets = labels
        self.classes = list(classes)
        self.transform = transform
        self.tensors  # noqa: B018  (prepare now, before DataLoader workers are forked)

    @property
    def data(self) -> np.ndarray:
        return self._data

    @data.setter
    def data(self, images) -> None:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise ValueError("images は uint8 の (N, H, W) または (N, H, W, 3) 配列にしてください "
                             f"(受け取った形: {images.shape}, 型: {images.dtype})。")
        images = images.view()
        images.setflags(write=False)   # the prepared tensors could not follow in-place changes
        self._data, self._prepared = images, False

    @property
    def targets(self) -> np.ndarray:
        return self._targets

    @targets.setter
    def targets(self, labels) -> None:
        self._targets, self._prepared = np.array(labels, dtype=np.int64).reshape(-1), False

    @property
    def transform(self):
        return self._transform_fn

    @transform.setter
    def transform(self, transform) -> None:
        self._transform_fn, self._prepared = transform, False

    @property
    def tensors(self):
        """``(inputs, labels)`` prepared once, or None when the transform must run per item."""
        if not self._prepared:
            if len(self._targets) != len(self._data):
                raise ValueError(f"画像 {len(self._data)} 枚に対してラベルが {len(self._targets)} 個です。")
            self._tensors = self._precompute() if self._can_precompute() else None
            self._prepared = True
        return self._tensors

    def _can_precompute(self) -> bool:
        if len(self._data) == 0 or not is_deterministic_transform(self.transform):
            return False
        sample = self._transform_one(0)
        return isinstance(sample, torch.Tensor) and (
            sample.numel() * sample.element_size() * len(self._data) <= PRECOMPUTE_LIMIT_BYTES)

    def _precompute(self):
        steps = _pipeline_steps(self.transform)
        if steps and type(steps[0]) in (transforms.ToTensor, transforms.PILToTensor):
            inputs = _pil_to_tensor_batch(self._data)
            if type(steps[0]) is transforms.ToTensor:
                inputs = inputs.float().div_(255)
            steps = steps[1:]
            while steps and type(steps[0]) in NORMALIZE_TYPES:   # per channel: the same for a batch
                normalize, steps = steps[0], steps[1:]
                inputs = transforms.functional.normalize(inputs, normalize.mean, normalize.std,
                                                         inplace=True)
            if steps:
                rest = transforms.Compose(steps)
                inputs = torch.stack([rest(image) for image in inputs])
        else:
            inputs = torch.stack([self._transform_one(i) for i in range(len(self._data))])
        return inputs, torch.from_numpy(self._targets)

    def _transform_one(self, index: int):
        image = Image.fromarray(self._data[index])
        return self.transform(image) if self.transform is not None else image

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, index: int):
        tensors = self.tensors
        if tensors is not None:
            return tensors[0][index], int(self._targets[index])
        return self._transform_one(index), int(self._targets[index])

    def __repr__(self) -> str:
        return (f"ImageArrayDataset(画像 {len(self)} 枚, 形 {self._data.shape[1:]}, "
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


# Steps that torchvision accepts only after ToTensor (on tensors, not on PIL images).
TENSOR_ONLY_TRANSFORMS = frozenset({transforms.Normalize, transforms.ConvertImageDtype,
                                    transforms.RandomErasing})


def _normalize_batch(mean, std):
    """``Normalize(mean, std)`` for batches on any device, computed as torchvision computes it.

    torchvision's ``normalize`` checks ``(std == 0).any()`` on the batch's device at every call,
    which makes the CPU wait for a GPU; here ``std`` is checked once and ``mean`` / ``std`` are
    moved to each device once.
    """
    if np.any(np.asarray(std, dtype=float) == 0):
        raise ValueError(f"Normalize の std に 0 があります (std={std})。0 で割ることになります。")
    moved = {}

    def normalize(images: torch.Tensor) -> torch.Tensor:
        key = (images.device, images.dtype)
        if key not in moved:
            moved[key] = tuple(torch.as_tensor(v, dtype=images.dtype, device=images.device).view(-1, 1, 1)
                               for v in (mean, std))
        mean_here, std_here = moved[key]
        return (images - mean_here).div_(std_here)
    return normalize


def _batched_step(step):
    """The batched version of one step of a pipeline, or None where it has none."""
    kind = type(step)
    if kind is transforms.ToTensor:
        return lambda x: x.float().div_(255)            # uint8 (N, C, H, W) -> floats in [0, 1]
    if kind is transforms.Normalize:
        return _normalize_batch(step.mean, step.std)
    if kind is transforms.ConvertImageDtype:
        return lambda x: transforms.functional.convert_image_dtype(x, step.dtype)
    if kind is transforms.RandomHorizontalFlip:
        return lambda x: random_flip(x, step.p)
    if kind is transforms.RandomErasing and isinstance(step.value, (int, float, tuple, list)):
        return lambda x: random_erasing(x, step.p, step.scale, step.ratio, step.value)
    if (kind is transforms.RandomCrop and isinstance(step.padding, (int, type(None)))
            and not step.pad_if_needed and step.padding_mode in ("constant", "reflect")
            and isinstance(step.fill, (int, float))):
        return lambda x: random_crop(x, step.padding or 0, step.padding_mode, step.fill, step.size)
    return None


def batched_augmentation(transform):
    """``(image_transform, augment_batch)`` for a pipeline that can run batch by batch, else None.

    The pipeline is split where its first random step or its ``ToTensor`` comes.  What comes
    before must be known deterministic steps on the image (``Resize``, ``CenterCrop`` ...):
    ``image_transform`` (those steps, then ``PILToTensor``) prepares every image once, as uint8.
    What comes after runs on whole uint8 batches, step by step in the pipeline's order
    (``augment_batch``): ``ToTensor``, ``Normalize``, ``ConvertImageDtype``, and the random
    ``RandomHorizontalFlip``, ``RandomCrop`` (an int ``padding`` or none, constant padding with
    a number as ``fill``, or reflect) and ``RandomErasing`` (a number as ``value``) of
    :mod:`pythonlibs.augment`.  ``ToTensor`` must be among them, once, with no tensor-only step
    before it (torchvision would refuse such a pipeline; the per-image path shows its error).
    The result has the same distribution as the per-image pipeline, not the same random draws.
    """
    steps = _pipeline_steps(transform)
    kinds = [type(s) for s in steps]
    first_random = next((i for i, k in enumerate(kinds) if k not in DETERMINISTIC_TRANSFORMS), None)
    if first_random is None or kinds.count(transforms.ToTensor) != 1:
        return None
    to_tensor = kinds.index(transforms.ToTensor)
    if TENSOR_ONLY_TRANSFORMS & set(kinds[:to_tensor]):
        return None
    split = min(first_random, to_tensor)
    batch_steps = [_batched_step(s) for s in steps[split:]]
    if any(step is None for step in batch_steps):
        return None

    def augment_batch(images: torch.Tensor) -> torch.Tensor:
        for step in batch_steps:
            images = step(images)
        return images
    return transforms.Compose(steps[:split] + [transforms.PILToTensor()]), augment_batch


class AugmentedBatchLoader(TensorBatchLoader):
    """:class:`TensorBatchLoader` whose batches go through ``augment_batch`` as they are handed out.

    ``inputs`` may be uint8 images kept as they are (4x less memory than floats) that
    ``augment_batch`` converts, batch by batch, on whatever device they live.
    """

    def __init__(self, inputs, labels, batch_size, augment_batch, shuffle=False, drop_last=False,
                 dataset=None):
        super().__init__(inputs, labels, batch_size, shuffle, drop_last, dataset)
        self.augment_batch = augment_batch

    def transform_batch(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.augment_batch(inputs)


def _augmented_loader(dataset, batch_size: int, shuffle: bool, device):
    """An :class:`AugmentedBatchLoader` over uint8 images on ``device`` for an ``ImageArrayDataset``
    whose pipeline runs batch by batch (:func:`batched_augmentation`) and fits in memory, else None."""
    if not isinstance(dataset, ImageArrayDataset):
        return None
    plan = batched_augmentation(dataset.transform)
    if plan is None:
        return None
    prepared = ImageArrayDataset(dataset.data, dataset.targets, dataset.classes, plan[0]).tensors
    if prepared is None:
        return None
    inputs, labels = _on_device(prepared, device)
    return AugmentedBatchLoader(inputs, labels, batch_size, plan[1], shuffle, dataset=dataset)


def _on_device(tensors, device):
    """The tensors moved to ``device`` (as they are when it is None)."""
    return tuple(tensors) if device is None else tuple(t.to(device) for t in tensors)


def default_num_workers() -> int:
    """Worker processes for a ``DataLoader`` that decodes images: some on Linux, none elsewhere.

    On macOS and Windows workers are started with ``spawn`` and cannot pickle the ``Lambda``
    transforms that notebooks define, so decoding stays in the main process there.
    """
    if not sys.platform.startswith("linux"):
        return 0
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def make_loader(dataset, batch_size: int, shuffle: bool = False, num_workers: int | None = None,
                device=None):
    """A mini-batch loader for ``dataset``: what ``DataLoader(dataset, batch_size, shuffle)`` does,
    only faster.

    * A dataset whose images were transformed in advance (``ImageArrayDataset`` with a
      deterministic transform) is sliced batch by batch: no per-image work at all.
    * An ``ImageArrayDataset`` whose random augmentation can run on batches (flip, crop,
      erasing: :func:`batched_augmentation`) is kept as uint8 images and converted and
      augmented batch by batch.
    * Otherwise a ``DataLoader`` decodes in worker processes (Linux), with pinned memory when a
      GPU is present, so the GPU does not wait for the CPU.

    ``device`` (not in ``DataLoader``): in the first two cases, keep the images on this device
    (e.g. the GPU) and slice, convert and augment them there, so that no batch is copied from
    the CPU during training; the batches then live on that device.  By default they stay in
    the computer's memory and ``fit`` moves each batch.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size は 1 以上にしてください (batch_size={batch_size})")
    if len(dataset) == 0:
        raise ValueError("データセットが空です。読み込み元のフォルダを確認してください。")
    if getattr(dataset, "tensors", None) is not None:
        inputs, labels = _on_device(dataset.tensors, device)
        return TensorBatchLoader(inputs, labels, batch_size, shuffle, dataset=dataset)
    augmented = _augmented_loader(dataset, batch_size, shuffle, device)
    if augmented is not None:
        return augmented
    workers = default_num_workers() if num_workers is None else num_workers
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                      multiprocessing_context="fork" if workers > 0 else None)


def stratified_indices(labels, per_class: int, seed: int = 0) -> np.ndarray:
    """A fixed, seeded choice of ``per_class`` indices of every class, in their original order."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(chosen))


def per_class_subset(dataset, per_class: int):
    """A fixed stratified subset with ``per_class`` items of every class (the same in every run)."""
    labels = np.asarray(dataset.targets)
    index = stratified_indices(labels, per_class)
    if isinstance(dataset, ImageArrayDataset):
        return ImageArrayDataset(dataset.data[index], labels[index], dataset.classes,
                                 dataset.transform)
    subset = Subset(dataset, index.tolist())
    subset.classes, subset.transform = dataset.classes, dataset.transform
    subset.targets = labels[index]
    return subset


def quick_subset(dataset, per_class: int):
    """In quick mode, :func:`per_class_subset` with ``per_class`` items of every class.

    In full mode the dataset is returned unchanged.  For chapters whose models are too heavy for
    a CPU even on the usual quick-mode data (e.g. VGG at 112 px).
    """
    return per_class_subset(dataset, per_class) if is_quick() else dataset
