"""The book's library, made correct: ``from pythonlibs.torch_lib1 import *``.

Gives every name the notebooks of 「最短コースでわかる PyTorch&深層学習プログラミング」 use from the
book's ``torch_lib1`` (``README``, ``fit``, ``eval_loss``, ``evaluate_history``,
``show_images_labels``, ``torch_seed``), with the book's signatures and meaning, plus what every
chapter of this course needs (device, quick mode, real datasets, pretrained models).  Compared
with the book's library at makaishi2/pythonlibs 9f3d931 (2023-03-24, which already averages the
loss per sample):

* evaluation runs under ``model.eval()`` and ``torch.no_grad()``;
* ``torch_seed`` calls ``torch.use_deterministic_algorithms`` instead of overwriting it;
* accuracy is right for one-logit, multi-label and smoothed targets, and for ``reduction='sum'``;
* shapes that would only broadcast, and an optimizer that trains nothing, stop with a message;
* images are shown correctly for 1-channel data and for any ``Normalize``;
* pretrained models use torchvision's ``weights=`` API.

This module only gathers names; each concern lives in its own module:
``settings`` (paths, quick mode), ``runtime`` (device, seeds), ``training`` (fit, evaluate,
checkpoints), ``plotting`` (curves, images, Japanese font), ``data`` (in-memory datasets,
loaders), ``datasets`` (MNIST, CIFAR-10, image folders), ``pretrained`` (torchvision weights).
"""

from pythonlibs.data import ImageArrayDataset, TensorBatchLoader, make_loader, quick_subset
from pythonlibs.datasets import (CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, extract_archive_once,
                                 load_cifar10, load_hymenoptera, load_image_folder, load_mnist,
                                 write_image_folder)
from pythonlibs.plotting import evaluate_history, show_images_labels, to_picture
from pythonlibs.pretrained import load_pretrained
from pythonlibs.runtime import get_device, torch_seed
from pythonlibs.settings import DATA_DIR, PROJECT_ROOT, epochs, is_quick
from pythonlibs.training import (eval_loss, eval_mode, evaluate, fit, load_checkpoint,
                                 save_checkpoint)

# The book's notebooks print this right after the import to see that the library is there.
README = "Common Library for PyTorch (book-compatible, pythonlibs of this course)\nAuthor: M. Akaishi"

__all__ = [
    # the book's names
    "README", "fit", "eval_loss", "evaluate_history", "show_images_labels", "torch_seed",
    # environment and quick mode
    "PROJECT_ROOT", "DATA_DIR", "is_quick", "epochs", "get_device",
    # training and evaluation
    "evaluate", "eval_mode", "save_checkpoint", "load_checkpoint",
    # data
    "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD",
    "ImageArrayDataset", "TensorBatchLoader", "make_loader", "quick_subset",
    "load_mnist", "load_cifar10", "load_image_folder", "load_hymenoptera",
    "extract_archive_once", "write_image_folder",
    # display and pretrained models
    "to_picture", "load_pretrained",
]
