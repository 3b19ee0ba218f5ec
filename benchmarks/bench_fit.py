"""Benchmark: the shared ``fit`` against the book's original training loop.

Both train the book's chapter-9 CNN on the same CIFAR-10 subset with the same seed, optimizer and
number of epochs, and both start from the same uint8 images in memory, so the difference is the
data pipeline and the loop:

* book: a dataset that converts each image to PIL and runs ``ToTensor`` + ``Normalize`` on every
  access, like ``torchvision.datasets.CIFAR10``, through ``DataLoader(num_workers=0)``; evaluation
  in ``eval()`` mode but outside ``torch.no_grad()`` (the book's version);
* ours: ``load_cifar10`` + ``make_loader`` + ``fit`` (images transformed once, batches sliced from
  tensors, evaluation without gradients, ``non_blocking`` copies).

Run from the project root (CI does not run it; it is a measurement, not a test):

    DLNB_DATA_MIRROR=../shared/datasets .venv/bin/python benchmarks/bench_fit.py --per-class 200
"""

import argparse
import io
import json
import time
from contextlib import redirect_stdout

import numpy as np
import torch
from PIL import Image
from torch import nn, optim
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import pythonlibs.torch_lib1 as lib
from pythonlibs.data import stratified_indices

from evidence import notebook_class, run_metadata

CNN = notebook_class("ch09_cnn", "CNN")   # the book's chapter-9 CNN, as the notebook defines it


class PerItemDataset(Dataset):
    """What ``torchvision.datasets.CIFAR10`` does: PIL conversion and transform on every access."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def book_fit(net, optimizer, criterion, num_epochs, train_loader, test_loader, device, history):
    """The book's ``fit``, kept as it is (including evaluation outside ``torch.no_grad()``)."""
    base_epochs = len(history)
    for epoch in range(base_epochs, num_epochs + base_epochs):
        train_loss = train_acc = val_loss = val_acc = 0
        net.train()
        count = 0
        for inputs, labels in train_loader:
            count += len(labels)
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            train_loss += loss.item()
            loss.backward()
            optimizer.step()
            train_acc += (torch.max(outputs, 1)[1] == labels).sum().item()
        avg_train_loss, avg_train_acc = train_loss / count, train_acc / count
        net.eval()
        count = 0
        for inputs, labels in test_loader:
            count += len(labels)
            inputs, labels = inputs.to(device), labels.to(device)
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            val_loss += loss.item()
            val_acc += (torch.max(outputs, 1)[1] == labels).sum().item()
        avg_val_loss, avg_val_acc = val_loss / count, val_acc / count
        item = np.array([epoch + 1, avg_train_loss, avg_train_acc, avg_val_loss, avg_val_acc])
        history = np.vstack((history, item))
    return history


def subset(dataset, per_class):
    index = stratified_indices(dataset.targets, per_class)
    return dataset.data[index], np.asarray(dataset.targets)[index]


def train(name, make_loaders, fit_function, epochs, device):
    """Seed, build loaders and model, train; return (seconds, final validation accuracy)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    lib.torch_seed(123)
    train_loader, test_loader = make_loaders()
    net = CNN(10, 128).to(device)
    optimizer = optim.SGD(net.parameters(), lr=0.01)
    history = fit_function(net, optimizer, nn.CrossEntropyLoss(), epochs, train_loader,
                           test_loader, device, np.zeros((0, 5)))
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"{name:>5}: {seconds:7.2f} s, final val_acc {history[-1, 4]:.4f}")
    return seconds, history[-1, 4]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-class", type=int, default=200,
                        help="training images per class (test: half as many); 0 = all")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()

    device = lib.get_device()
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    train_raw, test_raw = lib.load_cifar10(True), lib.load_cifar10(False)
    if args.per_class:
        train_images, train_labels = subset(train_raw, args.per_class)
        test_images, test_labels = subset(test_raw, max(1, args.per_class // 2))
    else:
        train_images, train_labels = train_raw.data, train_raw.targets
        test_images, test_labels = test_raw.data, test_raw.targets
    print(f"CIFAR-10: {len(train_images)} train / {len(test_images)} test images, "
          f"{args.epochs} epochs, batch {args.batch_size}, device {device}, "
          f"{torch.get_num_threads()} CPU threads")

    def book_loaders():
        return (DataLoader(PerItemDataset(train_images, train_labels, transform),
                           batch_size=args.batch_size, shuffle=True),
                DataLoader(PerItemDataset(test_images, test_labels, transform),
                           batch_size=args.batch_size, shuffle=False))

    def our_loaders():
        classes = lib.CIFAR10_CLASSES
        train_set = lib.ImageArrayDataset(train_images, train_labels, classes, transform)
        test_set = lib.ImageArrayDataset(test_images, test_labels, classes, transform)
        return (lib.make_loader(train_set, args.batch_size, shuffle=True),
                lib.make_loader(test_set, args.batch_size, shuffle=False))

    def quiet_fit(*fit_args):
        with redirect_stdout(io.StringIO()):
            return lib.fit(*fit_args)

    book_seconds, book_acc = train("book", book_loaders, book_fit, args.epochs, device)
    our_seconds, our_acc = train("fit", our_loaders, quiet_fit, args.epochs, device)
    print(f"ratio book / fit: {book_seconds / our_seconds:.2f}x "
          f"(accuracy {book_acc:.4f} vs {our_acc:.4f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(images=len(train_images), epochs=args.epochs, runs=1,
                           book_seconds=book_seconds, fit_seconds=our_seconds,
                           ratio=book_seconds / our_seconds, book_accuracy=book_acc,
                           fit_accuracy=our_acc, **run_metadata(device)), f, indent=1)


if __name__ == "__main__":
    main()
