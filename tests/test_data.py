"""Tests of pythonlibs.data: in-memory datasets, what may be prepared once, fast loaders."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms
from torchvision.transforms import v2

from pythonlibs.data import (ImageArrayDataset, TensorBatchLoader, is_deterministic_transform,
                             make_loader, quick_subset, stratified_indices)

pytestmark = pytest.mark.usefixtures("one_thread")

NORMALISED = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])


@pytest.fixture(scope="module")
def colour_digits(digits_uint8):
    """The digits as 16x16 colour images, each channel scaled differently (so channels differ)."""
    images = np.kron(digits_uint8[0], np.ones((1, 2, 2), dtype=np.uint8))
    colour = np.stack([images, images // 2, 255 - images], axis=3)
    return colour, digits_uint8[1]


class AddNoise:
    """A learner's own transform: random, although nothing in its name says so."""

    def __call__(self, x):
        return x + 0.1 * torch.randn_like(x)


RANDOM_PIPELINES = {
    "v1 flip": transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor()]),
    "v1 RandomApply": transforms.Compose([transforms.RandomApply([transforms.ColorJitter(0.9)]),
                                          transforms.ToTensor()]),
    "v1 ColorJitter": transforms.Compose([transforms.ColorJitter(brightness=0.9), transforms.ToTensor()]),
    "v1 RandAugment": transforms.Compose([transforms.RandAugment(num_ops=3, magnitude=15),
                                          transforms.ToTensor()]),
    "v2 RandAugment": v2.Compose([v2.RandAugment(num_ops=3, magnitude=15), v2.ToImage(),
                                  v2.ToDtype(torch.float32, scale=True)]),
    "v2 RandomErasing": v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                                    v2.RandomErasing(p=1.0)]),
    "Lambda randn": transforms.Compose([transforms.ToTensor(),
                                       transforms.Lambda(lambda x: x + 0.1 * torch.randn_like(x))]),
    "own class": transforms.Compose([transforms.ToTensor(), AddNoise()]),
    "nn.Sequential": transforms.Compose([transforms.ToTensor(),
                                         nn.Sequential(v2.RandomErasing(p=1.0), nn.Identity())]),
}


@pytest.mark.parametrize("name", RANDOM_PIPELINES)
def test_random_or_unknown_transforms_run_afresh_every_epoch(colour_digits, name):
    images, labels = colour_digits
    dataset = ImageArrayDataset(images[:50], labels[:50], range(10), RANDOM_PIPELINES[name])
    assert dataset.tensors is None
    assert not is_deterministic_transform(RANDOM_PIPELINES[name])
    torch.manual_seed(0)
    epochs = [torch.stack([dataset[i][0] for i in range(50)]) for _ in range(2)]
    assert not torch.equal(*epochs), f"{name}: the same augmented images in two epochs"


DETERMINISTIC_PIPELINES = {
    "ToTensor + Normalize": NORMALISED,
    "Resize + CenterCrop": transforms.Compose([transforms.Resize(20), transforms.CenterCrop(16),
                                               transforms.ToTensor()]),
    "v2": v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5], [0.5])]),
    "Grayscale 3": transforms.Compose([transforms.Grayscale(3), transforms.ToTensor()]),
    "flattened": transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5),
                                     nn.Flatten(0)]),
}


@pytest.mark.parametrize("name", DETERMINISTIC_PIPELINES)
def test_known_deterministic_transforms_are_prepared_once(digits_uint8, name):
    transform = DETERMINISTIC_PIPELINES[name]
    dataset = ImageArrayDataset(digits_uint8[0][:100], digits_uint8[1][:100], range(10), transform)
    assert dataset.tensors is not None
    expected = torch.stack([transform(Image.fromarray(image)) for image in digits_uint8[0][:100]])
    assert torch.equal(dataset.tensors[0], expected)
    x, y = dataset[5]
    assert torch.equal(x, expected[5]) and y == digits_uint8[1][5]


CIFAR_NORMALISED_FLAT = transforms.Compose([
    transforms.ToTensor(), transforms.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)),
    nn.Flatten(0)])


@pytest.mark.parametrize("images, transform", [
    ("digits_uint8", transforms.ToTensor()), ("digits_uint8", NORMALISED),
    ("colour_digits", transforms.ToTensor()), ("colour_digits", NORMALISED),
    ("colour_digits", CIFAR_NORMALISED_FLAT),
])
def test_vectorised_preparation_equals_the_per_image_path(request, images, transform):
    images, labels = request.getfixturevalue(images)
    dataset = ImageArrayDataset(images, labels, range(10), transform)
    per_image = torch.stack([transform(Image.fromarray(image)) for image in images])
    assert torch.equal(dataset.tensors[0], per_image)   # bit for bit


def test_data_is_read_only_and_reassigning_prepares_again(digits_dataset, digits_uint8):
    with pytest.raises(ValueError, match="read-only"):
        digits_dataset.data[0] = 0
    first = digits_dataset.tensors[0][0].clone()
    digits_dataset.data = digits_uint8[0][::-1].copy()
    digits_dataset.targets = digits_uint8[1][::-1]
    assert not torch.equal(digits_dataset.tensors[0][0], first)
    assert torch.equal(digits_dataset.tensors[0][-1], first)
    assert digits_uint8[0].flags.writeable   # the caller's own array is left as it was


def test_image_array_dataset_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        ImageArrayDataset(np.zeros((4, 8, 8), dtype=np.float32), [0] * 4, ["a"])
    with pytest.raises(ValueError, match="ラベル"):
        ImageArrayDataset(np.zeros((4, 8, 8), dtype=np.uint8), [0] * 3, ["a"])


def test_make_loader_uses_a_dataloader_for_random_transforms_without_a_batched_twin(digits_uint8):
    dataset = ImageArrayDataset(*digits_uint8, range(10), RANDOM_PIPELINES["v1 ColorJitter"])
    assert isinstance(make_loader(dataset, 64, num_workers=0), DataLoader)


def test_make_loader_augments_a_flip_afresh_every_epoch_batch_by_batch(digits_uint8):
    """A flip has a batched twin (tests/test_augment.py): no DataLoader, and still no frozen cache."""
    dataset = ImageArrayDataset(*digits_uint8, range(10), RANDOM_PIPELINES["v1 flip"])
    loader = make_loader(dataset, 2000, num_workers=0)
    assert not isinstance(loader, DataLoader)
    torch.manual_seed(0)
    epochs = [next(iter(loader))[0] for _ in range(2)]
    assert not torch.equal(*epochs), "the same augmented images in two epochs"


def test_tensor_batch_loader_visits_every_sample_once(digits_dataset):
    loader = make_loader(digits_dataset, batch_size=100, shuffle=True)
    assert isinstance(loader, TensorBatchLoader)
    assert len(loader) == math.ceil(len(digits_dataset) / 100)
    labels = torch.cat([y for _, y in loader])
    assert sorted(labels.tolist()) == sorted(digits_dataset.targets.tolist())
    first = next(iter(loader))[1]
    assert not torch.equal(first, next(iter(loader))[1])  # reshuffled every epoch


def test_make_loader_rejects_empty_data_and_bad_batch_size(digits_dataset):
    empty = ImageArrayDataset(np.zeros((0, 8, 8), dtype=np.uint8), [], ["a"])
    with pytest.raises(ValueError, match="空"):
        make_loader(empty, 10)
    with pytest.raises(ValueError, match="batch_size"):
        make_loader(digits_dataset, 0)


def test_stratified_subset_is_fixed_and_balanced():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    chosen = stratified_indices(labels, 10)
    assert np.array_equal(chosen, stratified_indices(labels, 10))
    assert np.bincount(labels[chosen]).tolist() == [10, 10, 10]


def test_quick_subset_only_shrinks_in_quick_mode(digits_dataset, monkeypatch):
    monkeypatch.setenv("DLNB_QUICK", "0")
    assert quick_subset(digits_dataset, 5) is digits_dataset
    monkeypatch.setenv("DLNB_QUICK", "1")
    small = quick_subset(digits_dataset, 5)
    assert isinstance(small, ImageArrayDataset) and small.tensors is not None
    assert np.bincount(small.targets).tolist() == [5] * 10
