"""Random augmentation of a whole batch of image tensors at once, on whatever device they live.

torchvision's transforms augment one image at a time, in ``DataLoader`` worker processes; on a
machine with two cores (Colab) that, not the model, sets the pace.  These functions draw one set
of random numbers per image, like the transforms of the same name, for a whole ``(N, C, H, W)``
batch in a few tensor operations.  They draw from PyTorch's generator on the batch's device, so
``torch_seed`` makes them repeat.

* :func:`random_flip`: ``RandomHorizontalFlip(p)``
* :func:`random_crop`: ``RandomCrop(size, padding=pad)`` (constant or reflect padding)
* :func:`random_erasing`: ``RandomErasing(p, scale, ratio, value)``
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["random_flip", "random_crop", "random_erasing"]


def random_flip(images: torch.Tensor, p: float = 0.5) -> torch.Tensor:
    """Mirror each image of a batch left-right with probability ``p`` (one draw per image)."""
    flip = torch.rand(len(images), device=images.device) < p
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)


def random_crop(images: torch.Tensor, pad: int, padding_mode: str = "reflect", fill=0.0,
                size=None) -> torch.Tensor:
    """Pad every image by ``pad`` pixels and cut a random window (one per image).

    Equivalent to ``transforms.RandomCrop(size, padding=pad)`` applied image by image, but done
    for the whole batch with two ``gather`` calls.  ``size``: the window's (height, width), or
    one number for a square; by default the images' own size.  ``padding_mode``: ``"reflect"``
    or ``"constant"``, which pads with ``fill`` (a number, or one value per channel: for
    normalised images, the value a black pixel became).  uint8 images work as well.
    """
    n, c, h, w = images.shape
    out_h, out_w = (h, w) if size is None else (size, size) if isinstance(size, int) else size
    if out_h > h + 2 * pad or out_w > w + 2 * pad:
        raise ValueError(f"切り出す大きさ {out_h}x{out_w} が、{pad} 画素ずつ足した画像 "
                         f"{h + 2 * pad}x{w + 2 * pad} より大きくなっています。")
    if pad <= 0 and (out_h, out_w) == (h, w):
        return images
    if pad <= 0:
        padded = images
    elif padding_mode == "constant" and isinstance(fill, (int, float)):
        padded = F.pad(images, (pad, pad, pad, pad), value=fill)
    elif padding_mode == "constant":                                  # one fill per channel
        fill = torch.as_tensor(fill, dtype=images.dtype, device=images.device).reshape(-1, 1, 1)
        padded = F.pad(images - fill, (pad, pad, pad, pad)) + fill   # zeros around, shifted to fill
    else:
        padded = F.pad(images, (pad, pad, pad, pad), mode=padding_mode)
    dy = torch.randint(0, h + 2 * pad - out_h + 1, (n,), device=images.device)
    dx = torch.randint(0, w + 2 * pad - out_w + 1, (n,), device=images.device)
    rows = dy.view(n, 1) + torch.arange(out_h, device=images.device)      # (N, out_h)
    cols = dx.view(n, 1) + torch.arange(out_w, device=images.device)      # (N, out_w)
    padded = padded.gather(2, rows.view(n, 1, out_h, 1).expand(n, c, out_h, w + 2 * pad))
    return padded.gather(3, cols.view(n, 1, 1, out_w).expand(n, c, out_h, out_w))


def _erasing_boxes(n: int, height: int, width: int, scale, ratio, device, attempts: int = 10):
    """Top, left, height and width of one box per image, drawn as ``RandomErasing`` draws them.

    Each image tries up to 10 (area, aspect ratio) pairs and keeps the first whose box fits;
    an image where none fits gets an empty box (it is left as it is, as torchvision does).
    """
    area = height * width * torch.empty(n, attempts, device=device).uniform_(*scale)
    log_ratio = torch.empty(n, attempts, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    aspect = torch.exp(log_ratio)
    box_h = torch.sqrt(area * aspect).round().long()
    box_w = torch.sqrt(area / aspect).round().long()
    fits = (box_h < height) & (box_w < width)
    first = fits.float().argmax(dim=1, keepdim=True)          # the first attempt that fits
    found = fits.any(dim=1)
    box_h = torch.where(found, box_h.gather(1, first).squeeze(1), 0)
    box_w = torch.where(found, box_w.gather(1, first).squeeze(1), 0)
    top = (torch.rand(n, device=device) * (height - box_h + 1)).long()
    left = (torch.rand(n, device=device) * (width - box_w + 1)).long()
    return top, left, box_h, box_w


def random_erasing(images: torch.Tensor, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3),
                   value=0.0) -> torch.Tensor:
    """With probability ``p`` per image, fill a random rectangle with ``value`` (``RandomErasing``).

    The rectangle covers a fraction of the image drawn uniformly from ``scale``, with an aspect
    ratio (height / width) drawn log-uniformly from ``ratio``.  ``value``: a number or one value
    per channel.
    """
    n, c, h, w = images.shape
    top, left, box_h, box_w = _erasing_boxes(n, h, w, scale, ratio, images.device)
    erase = torch.rand(n, device=images.device) < p
    rows = torch.arange(h, device=images.device)
    cols = torch.arange(w, device=images.device)
    inside_rows = (rows >= top.view(n, 1)) & (rows < (top + box_h).view(n, 1))      # (N, H)
    inside_cols = (cols >= left.view(n, 1)) & (cols < (left + box_w).view(n, 1))    # (N, W)
    mask = inside_rows.view(n, 1, h, 1) & inside_cols.view(n, 1, 1, w) & erase.view(n, 1, 1, 1)
    value = torch.as_tensor(value, dtype=images.dtype, device=images.device).reshape(-1, 1, 1)
    return torch.where(mask, value, images)
