"""Batched augmentation (pythonlibs.augment) and make_loader's use of it, on real digit images.

Each batched transform must do, image by image, what the torchvision transform of the same name
does (same kinds of outputs, same probabilities and sizes), and a pipeline without batched twins
must keep the per-image path.
"""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms

from pythonlibs.augment import random_crop, random_erasing, random_flip
from pythonlibs.data import AugmentedBatchLoader, ImageArrayDataset, batched_augmentation, make_loader
from pythonlibs.runtime import torch_seed

NORMALIZE = transforms.Normalize(0.5, 0.5)
CH10_TRAIN = transforms.Compose([   # chapter 10's augmentation, as the book writes it
    transforms.RandomHorizontalFlip(p=0.5), transforms.ToTensor(), NORMALIZE,
    transforms.RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False)])


@pytest.fixture
def images(digits32_rgb):
    """The 1,797 digits as normalised (N, 3, 32, 32) tensors: no pixel is exactly 0."""
    data, _ = digits32_rgb
    return (torch.tensor(data).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5


def test_flip_mirrors_about_p_of_the_images_and_nothing_else(images):
    torch.manual_seed(0)
    for p in (0.5, 0.2):
        out = random_flip(images, p)
        same = (out == images).flatten(1).all(1)
        mirrored = (out == images.flip(3)).flatten(1).all(1)
        assert bool((same | mirrored).all()), "an image came out neither as it was nor mirrored"
        symmetric = same & mirrored
        assert abs(mirrored[~symmetric].float().mean().item() - p) < 0.05


def _window_offset(output, padded, size):
    for dy in range(padded.shape[1] - size + 1):
        for dx in range(padded.shape[2] - size + 1):
            if torch.equal(output, padded[:, dy:dy + size, dx:dx + size]):
                return dy, dx
    return None


def test_crop_cuts_a_window_of_the_image_padded_with_the_given_fill(images):
    torch.manual_seed(1)
    batch, pad, fill = images[:200], 4, torch.tensor([-1.0, -0.5, 0.25])
    out = random_crop(batch, pad, "constant", fill)
    offsets = []
    for original, cropped in zip(batch, out):
        padded = torch.nn.functional.pad(original - fill.view(3, 1, 1), (pad,) * 4) + fill.view(3, 1, 1)
        offset = _window_offset(cropped, padded, 32)
        assert offset is not None, "a crop is not a window of the image padded with the fill"
        offsets += offset
    assert min(offsets) == 0 and max(offsets) == 2 * pad, "the offsets do not reach both ends of 0..2·pad"


def _erased_box(original, erased):
    """(rows, cols) of the one rectangle where the image changed, or None where nothing changed."""
    changed = (original != erased).any(0)
    if not changed.any():
        return None
    rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
    box = changed[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    assert bool(box.all()), "the erased pixels do not form one rectangle"
    return rows.max().item() - rows.min().item() + 1, cols.max().item() - cols.min().item() + 1


def _erasing_sizes(original, erased):
    boxes = [_erased_box(a, b) for a, b in zip(original, erased)]
    return [box for box in boxes if box is not None], len([b for b in boxes if b is None])


def test_erasing_fills_one_box_of_the_right_size_in_about_p_of_the_images(images):
    torch.manual_seed(2)
    scale, ratio = (0.02, 0.33), (0.3, 3.3)
    out = random_erasing(images, 0.5, scale, ratio, value=0.0)
    boxes, untouched = _erasing_sizes(images, out)
    assert abs(untouched / len(images) - 0.5) < 0.05
    assert bool((out[(out != images)] == 0).all()), "the box is not filled with the value"
    areas = np.array([h * w for h, w in boxes]) / (32 * 32)
    aspects = np.array([h / w for h, w in boxes])
    assert areas.min() > scale[0] * 0.7 and areas.max() < scale[1] * 1.2
    assert aspects.min() > ratio[0] * 0.7 and aspects.max() < ratio[1] * 1.4


def test_erasing_has_torchvisions_distribution_of_box_sizes(images):
    """Mean box area and the share of wide boxes, ours (batched) vs torchvision's, image by image."""
    torch.manual_seed(3)
    erasing = transforms.RandomErasing(p=1.0, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0)
    theirs, _ = _erasing_sizes(images, torch.stack([erasing(image) for image in images]))
    ours, _ = _erasing_sizes(images, random_erasing(images, 1.0, (0.02, 0.33), (0.3, 3.3), 0.0))
    mean_area = lambda boxes: np.mean([h * w for h, w in boxes]) / 1024
    wide = lambda boxes: np.mean([w > h for h, w in boxes])
    assert abs(mean_area(ours) - mean_area(theirs)) < 0.02
    assert abs(wide(ours) - wide(theirs)) < 0.06


def test_make_loader_augments_chapter_10s_pipeline_batch_by_batch_and_repeats(digits32_rgb):
    data, labels = digits32_rgb
    dataset = ImageArrayDataset(data, labels, [str(d) for d in range(10)], CH10_TRAIN)
    loader = make_loader(dataset, 100, shuffle=True)
    assert isinstance(loader, AugmentedBatchLoader) and loader.dataset is dataset
    assert loader.inputs.dtype == torch.uint8, "the images are not kept as uint8"
    assert torch.equal(loader.inputs[5], torch.from_numpy(data[5]).permute(2, 0, 1))
    torch_seed(4)
    first = [x for x, _ in loader]
    torch_seed(4)
    again = [x for x, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(first, again)), "the augmentation does not repeat after torch_seed"
    plain = transforms.Compose([transforms.ToTensor(), NORMALIZE])
    assert first[0].dtype == torch.float32 and first[0].shape == (100, 3, 32, 32)
    assert not torch.equal(first[0], torch.stack([plain(image) for image in data[:100]])), \
        "the batches were not augmented"


@pytest.mark.parametrize("transform", [CH10_TRAIN, transforms.Compose([
    transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(), NORMALIZE]),
    transforms.Compose([transforms.ToTensor(), NORMALIZE])], ids=["ch10", "ch15", "prepared-once"])
def test_batches_are_made_on_the_loaders_device_without_reading_back_from_it(transform, digits32_rgb):
    """On PyTorch's "meta" device (shapes without values) a CPU tensor mixed into the batch, or a
    value read back to the CPU (which on a GPU would stall every step), raises: so the GPU path
    of make_loader(..., device=) is checked on a CPU."""
    data, labels = digits32_rgb
    dataset = ImageArrayDataset(data[:300], labels[:300], [str(d) for d in range(10)], transform)
    loader = make_loader(dataset, 100, shuffle=True, device="meta")
    batches = list(loader)
    assert len(batches) == 3
    assert all(x.device.type == "meta" and y.device.type == "meta" for x, y in batches)
    assert all(x.shape == (100, 3, 32, 32) and x.dtype == torch.float32 for x, _ in batches)


def test_a_normalize_that_divides_by_zero_is_refused_with_a_message(digits32_rgb):
    data, labels = digits32_rgb
    transform = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.0, 0.5))])
    dataset = ImageArrayDataset(data[:20], labels[:20], [str(d) for d in range(10)], transform)
    with pytest.raises(ValueError, match="std に 0"):
        make_loader(dataset, 10)


# Pipelines whose random steps are switched off (p=0) or certain (p=1): batch by batch they must
# give exactly what torchvision gives image by image.
NOTHING_RANDOM = {
    "ch10-off": transforms.Compose([
        transforms.RandomHorizontalFlip(p=0), transforms.ToTensor(), NORMALIZE,
        transforms.RandomErasing(p=0, value=0)]),
    "flip-on": transforms.Compose([transforms.RandomHorizontalFlip(p=1), transforms.ToTensor(), NORMALIZE]),
    "resize-first": transforms.Compose([transforms.Resize(20), transforms.RandomHorizontalFlip(p=1),
                                        transforms.ToTensor(), NORMALIZE]),
    "normalize-after-erasing": transforms.Compose([
        transforms.ToTensor(), transforms.RandomErasing(p=0), NORMALIZE]),
    "flip-after-normalize": transforms.Compose([transforms.ToTensor(), NORMALIZE,
                                                transforms.RandomHorizontalFlip(p=1)]),
}


@pytest.mark.parametrize("name", NOTHING_RANDOM)
def test_batched_pipeline_gives_torchvisions_result_where_nothing_is_random(name, digits32_rgb):
    data, labels = digits32_rgb
    transform = NOTHING_RANDOM[name]
    dataset = ImageArrayDataset(data[:300], labels[:300], [str(d) for d in range(10)], transform)
    loader = make_loader(dataset, 64)
    assert isinstance(loader, AugmentedBatchLoader)
    ours = torch.cat([x for x, _ in loader])
    theirs = torch.stack([transform(Image.fromarray(image)) for image in data[:300]])
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert torch.allclose(ours, theirs, atol=1e-6), f"{name}: the batches differ from torchvision's"


def test_crop_with_padding_before_totensor_pads_with_the_fill_and_keeps_torchvisions_size(digits32_rgb):
    data, labels = digits32_rgb
    for size, fill in ((32, 255), (28, 0)):
        transform = transforms.Compose([transforms.RandomCrop(size, padding=4, fill=fill),
                                        transforms.ToTensor(), NORMALIZE])
        dataset = ImageArrayDataset(data[:200], labels[:200], [str(d) for d in range(10)], transform)
        loader = make_loader(dataset, 50)
        assert isinstance(loader, AugmentedBatchLoader)
        batch = torch.cat([x for x, _ in loader])
        assert batch.shape == (200,) + transform(Image.fromarray(data[0])).shape
        border_value = (fill / 255 - 0.5) / 0.5
        columns = torch.cat([batch[..., 0], batch[..., -1]]).flatten()
        assert (columns == border_value).float().mean() > 0.3, "the padding is not the fill colour"


def test_random_crop_to_a_smaller_window(images):
    torch.manual_seed(5)
    out = random_crop(images[:100], 2, "reflect", size=(28, 30))
    assert out.shape == (100, 3, 28, 30)
    padded = torch.nn.functional.pad(images[:100], (2,) * 4, mode="reflect")
    for original, cropped in zip(padded, out):
        assert any(torch.equal(cropped, original[:, dy:dy + 28, dx:dx + 30])
                   for dy in range(9) for dx in range(7)), "a crop is not a window of the padded image"
    with pytest.raises(ValueError, match="切り出す大きさ"):
        random_crop(images[:2], 1, size=40)


@pytest.mark.parametrize("transform", [
    transforms.Compose([transforms.ColorJitter(0.2), transforms.ToTensor()]),
    transforms.Compose([transforms.ToTensor(), transforms.RandomErasing(value="random")]),
    transforms.Compose([transforms.RandomErasing(), transforms.ToTensor()]),
    transforms.Compose([transforms.RandomResizedCrop(32), transforms.ToTensor()]),
    transforms.Compose([transforms.Lambda(lambda x: x), transforms.RandomHorizontalFlip(), transforms.ToTensor()]),
    transforms.Compose([transforms.RandomHorizontalFlip()]),
    transforms.Compose([transforms.RandomHorizontalFlip(), NORMALIZE, transforms.ToTensor()]),
    transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(), transforms.ToTensor()]),
], ids=["jitter", "random-value", "erasing-a-pil-image", "resized-crop", "lambda", "no-totensor",
        "normalize-a-pil-image", "two-totensors"])
def test_pipelines_without_a_batched_twin_keep_the_per_image_path(transform, digits32_rgb):
    data, labels = digits32_rgb
    assert batched_augmentation(transform) is None
    dataset = ImageArrayDataset(data[:50], labels[:50], [str(d) for d in range(10)], transform)
    assert isinstance(make_loader(dataset, 10, num_workers=0), DataLoader)


def test_deterministic_pipelines_are_not_augmentations():
    assert batched_augmentation(transforms.Compose([transforms.ToTensor(), NORMALIZE])) is None
