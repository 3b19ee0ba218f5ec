"""check_training on the course's own models with real MNIST / CIFAR-10 (quick-mode subsets).

Healthy set-ups of chapters 6-15 must get no warning and no error in any seed; the broken
set-ups of chapter 13 must get the finding that names their bug.  The full calibration
(more seeds and models, ResNet-18 and VGG-19-BN included) is in the project's issue note;
these tests keep a cheap, representative part of it in CI.
"""

import os

import pytest
import torch
from torch import nn, optim
from torchvision import transforms

from pythonlibs.diagnostics import check_training
from pythonlibs.torch_lib1 import load_cifar10, load_mnist, make_loader

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.skipif(not os.environ.get("DLNB_DATA_MIRROR"),
                       reason="DLNB_DATA_MIRROR (e.g. ../shared/datasets) is not set; CI sets it"),
]

DEVICE = torch.device("cpu")


@pytest.fixture(scope="module")
def cifar():
    """CIFAR-10 training images (quick mode: 100 per class) normalised as in chapters 13-14."""
    tf = transforms.Compose([transforms.ToTensor(),
                             transforms.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))])
    return load_cifar10(train=True, transform=tf)


@pytest.fixture(scope="module")
def mnist():
    """MNIST training images (quick mode: 100 per class) normalised and flattened as in ch13."""
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,)),
                             transforms.Lambda(lambda x: x.view(-1))])
    return load_mnist(train=True, transform=tf)


def make_mlp(n_out=10, n_in=784, n_hidden=128):
    """Chapter 13's MLP: 784 -> 128 -> ReLU -> n_out."""
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_out))


def diagnose(net, loader, optimizer, criterion=None, **kwargs):
    """check_training without printing."""
    return check_training(net, loader, criterion or nn.CrossEntropyLoss(), optimizer, DEVICE,
                          verbose=False, **kwargs)


def conv_block(c_in, c_out, bias=True):
    """Chapter 13's block: conv -> BatchNorm -> ReLU -> max-pool."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.MaxPool2d(2)]


def bn_net(bias=True):
    """Chapter 13's bn_net (13.7): three conv blocks, dropout, linear."""
    return nn.Sequential(*conv_block(3, 16, bias), *conv_block(16, 32, bias),
                         *conv_block(32, 64, bias), nn.Flatten(), nn.Dropout(0.5),
                         nn.Linear(64 * 4 * 4, 10))


# ---------------------------------------------------------------------------------------------
# A bias right before a BatchNorm: ~0 gradient by design (ch10 CNN_v4, ch13 bn_net, ch14)
# ---------------------------------------------------------------------------------------------

def test_conv_bias_before_batchnorm_is_info_not_vanishing_gradient(cifar):
    torch.manual_seed(0)
    net = bn_net()
    report = diagnose(net, make_loader(cifar, 32, shuffle=True),
                      optim.Adam(net.parameters(), lr=1e-3))
    assert not report.has("grad_flow"), [str(f) for f in report.problems]
    details = report.details("grad_flow")
    assert details["redundant_biases"] == ["0.bias", "4.bias", "8.bias"]
    assert max(details["norms"][n] for n in details["redundant_biases"]) < 1e-4
    (info,) = [f for f in report.get("grad_flow") if f.severity == "info"]
    assert "bias=False" in info.message and "0.bias" in info.message

    torch.manual_seed(0)
    without_bias = bn_net(bias=False)
    report = diagnose(without_bias, make_loader(cifar, 32, shuffle=True),
                      optim.Adam(without_bias.parameters(), lr=1e-3))
    assert report.details("grad_flow")["redundant_biases"] == []
    assert not report.has("grad_flow", "info")


# ---------------------------------------------------------------------------------------------
# Dead ReLU at batch size 1: judged on enough samples
# ---------------------------------------------------------------------------------------------

def test_dead_relu_is_judged_on_64_samples_at_batch_size_1(mnist):
    for seed in range(10):
        torch.manual_seed(seed)
        net = make_mlp()
        report = diagnose(net, make_loader(mnist, 1, shuffle=True),
                          optim.SGD(net.parameters(), lr=0.05, momentum=0.9))
        assert not report.has("dead_relu"), (seed, [str(f) for f in report.get("dead_relu")])
        assert report.details("dead_relu")["n_samples"] == 64
