"""The book's notebooks (chapters 9-12 of makaishi2/pytorch_book_info) run against our torch_lib1.

What they use from the book's library (read from the notebooks at d950bcf): ``print(README)``
right after ``from pythonlibs.torch_lib1 import *``; ``torch_seed()``; positional
``fit(net, optimizer, criterion, num_epochs, train_loader, test_loader, device, history)`` with
``history = np.zeros((0, 5))`` and its columns; ``evaluate_history(history)``;
``show_images_labels(loader, classes, net or None, device or None)``; ``eval_loss(loader,
device, net, criterion)`` for ``make_dot``; and, after ``fit``, ``net(image)`` in eval mode
(ch10's last cells).  The reference below is the book's training loop (makaishi2/pythonlibs
9f3d931): ours must train the same weights from the same seed.
"""

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn, optim
from torch.utils.data import DataLoader
from torchvision import transforms
from torchviz import make_dot

matplotlib.use("Agg")

from pythonlibs.settings import mirror_dir  # noqa: E402

needs_mirror = pytest.mark.skipif(mirror_dir() is None or not mirror_dir().is_dir(),
                                  reason="DLNB_DATA_MIRROR is not set; CI sets it")
pytestmark = pytest.mark.usefixtures("one_thread")


class CNN_v4(nn.Module):  # noqa: N801 (the book's name)
    """A small version of the book's chapter-10 CNN: convolutions, BatchNorm, Dropout."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(0.2), nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten())
        self.classifier = nn.Sequential(nn.Dropout(0.3), nn.Linear(16 * 8 * 8, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def book_fit(net, optimizer, criterion, num_epochs, train_loader, test_loader, device, history):
    """The book's fit (9f3d931), without its progress bar: train, then validate in eval mode."""
    base_epochs = len(history)
    for epoch in range(base_epochs, num_epochs + base_epochs):
        n_train_acc, n_val_acc, train_loss, val_loss, n_train, n_test = 0, 0, 0, 0, 0, 0
        net.train()
        for inputs, labels in train_loader:
            n_train += len(labels)
            optimizer.zero_grad()
            outputs = net(inputs.to(device))
            loss = criterion(outputs, labels.to(device))
            loss.backward()
            optimizer.step()
            train_loss += loss.item() * len(labels)
            n_train_acc += (torch.max(outputs, 1)[1] == labels).sum().item()
        net.eval()
        for inputs_test, labels_test in test_loader:
            n_test += len(labels_test)
            outputs_test = net(inputs_test.to(device))
            val_loss += criterion(outputs_test, labels_test).item() * len(labels_test)
            n_val_acc += (torch.max(outputs_test, 1)[1] == labels_test).sum().item()
        item = np.array([epoch + 1, train_loss / n_train, n_train_acc / n_train,
                         val_loss / n_test, n_val_acc / n_test])
        history = np.vstack((history, item))
    return history


def test_star_import_gives_every_name_the_books_notebooks_use():
    namespace = {}
    exec("from pythonlibs.torch_lib1 import *", namespace)
    for name in ("README", "fit", "eval_loss", "evaluate_history", "show_images_labels",
                 "torch_seed"):
        assert name in namespace, name
    assert "Common Library for PyTorch" in namespace["README"]


@needs_mirror
def test_the_books_chapter_10_cells_train_what_the_books_library_trains():
    from pythonlibs.torch_lib1 import (eval_loss, evaluate_history, fit, load_cifar10,
                                       show_images_labels, torch_seed)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    transform_train = transforms.Compose([
        transforms.RandomHorizontalFlip(p=0.5), transforms.ToTensor(), transforms.Normalize(0.5, 0.5),
        transforms.RandomErasing(p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0)])
    train_set = load_cifar10(train=True, transform=transform_train)
    test_set = load_cifar10(train=False, transform=transform)
    train_loader = DataLoader(torch.utils.data.Subset(train_set, range(200)), batch_size=50,
                              shuffle=True)
    test_loader = DataLoader(torch.utils.data.Subset(test_set, range(100)), batch_size=50,
                             shuffle=False)
    classes = train_set.classes

    def run(fit_function):
        torch_seed()
        net = CNN_v4()
        optimizer = optim.Adam(net.parameters())
        history = np.zeros((0, 5))
        history = fit_function(net, optimizer, nn.CrossEntropyLoss(), 2, train_loader,
                               test_loader, "cpu", history)
        return net, history

    try:
        book_net, book_history = run(book_fit)
        net, history = run(fit)
    finally:
        torch.use_deterministic_algorithms(False)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(),
                                                 book_net.state_dict().values()))
    np.testing.assert_allclose(history, book_history, rtol=1e-6)
    assert not net.training   # ch10's last cells call net(image) right after fit
    evaluate_history(history)
    show_images_labels(test_loader, classes, None, None)
    show_images_labels(test_loader, classes, net, "cpu")
    loss = eval_loss(test_loader, "cpu", net, nn.CrossEntropyLoss())
    assert make_dot(loss, params=dict(net.named_parameters())).source.startswith("digraph")
    matplotlib.pyplot.close("all")
