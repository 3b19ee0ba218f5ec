"""Wrong answers to chapter 10's exercises, each with the hint its check must give."""

import torch
from torch import nn


def accuracy_in_train_mode(net, inputs, labels):
    outputs = net(inputs)
    return (outputs.argmax(dim=1) == labels).float().mean().item()


def accuracy_with_gradients(net, inputs, labels):
    net.eval()
    outputs = net(inputs)
    net.train()
    return (outputs.argmax(dim=1) == labels).float().mean().item()


def accuracy_left_in_eval_mode(net, inputs, labels):
    net.eval()
    with torch.no_grad():
        outputs = net(inputs)
    return (outputs.argmax(dim=1) == labels).float().mean().item()


def accuracy_always_back_to_train(net, inputs, labels):
    net.eval()
    with torch.no_grad():
        outputs = net(inputs)
    net.train()
    return (outputs.argmax(dim=1) == labels).float().mean().item()


def correct_count(net, inputs, labels):
    was_training = net.training
    net.eval()
    with torch.no_grad():
        outputs = net(inputs)
    net.train(was_training)
    return (outputs.argmax(dim=1) == labels).sum().item()


def block_with_shared_batchnorm(in_channels, out_channels, p):
    bn = nn.BatchNorm2d(out_channels)
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), bn, nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, 3, padding=1), bn, nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(p))


def block_with_dropout_before_pooling(in_channels, out_channels, p):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels),
                         nn.ReLU(), nn.Conv2d(out_channels, out_channels, 3, padding=1),
                         nn.BatchNorm2d(out_channels), nn.ReLU(), nn.Dropout(p), nn.MaxPool2d(2))


def block_with_batchnorm_of_in_channels(in_channels, out_channels, p):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(in_channels),
                         nn.ReLU(), nn.Conv2d(out_channels, out_channels, 3, padding=1),
                         nn.BatchNorm2d(out_channels), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(p))


def block_with_batchnorm_after_relu(in_channels, out_channels, p):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(),
                         nn.BatchNorm2d(out_channels), nn.Conv2d(out_channels, out_channels, 3, padding=1),
                         nn.ReLU(), nn.BatchNorm2d(out_channels), nn.MaxPool2d(2), nn.Dropout(p))


def block_without_padding(in_channels, out_channels, p):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3), nn.BatchNorm2d(out_channels), nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, 3), nn.BatchNorm2d(out_channels), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Dropout(p))


def plain_sgd_step(w, grad, velocity, lr, momentum):
    return w - lr * grad, velocity


def averaged_momentum_step(w, grad, velocity, lr, momentum):
    velocity = momentum * velocity + (1 - momentum) * grad
    return w - lr * velocity, velocity


def uphill_momentum_step(w, grad, velocity, lr, momentum):
    velocity = momentum * velocity + grad
    return w + lr * velocity, velocity


WRONG = {
    "10.1": [(accuracy_in_train_mode, "net.eval()"), (accuracy_with_gradients, "no_grad"),
             (accuracy_left_in_eval_mode, "訓練モードに戻していません"),
             (accuracy_always_back_to_train, "was_training"), (correct_count, "「数」")],
    "10.2": [(block_with_shared_batchnorm, "使い回して"), (block_with_dropout_before_pooling, "プーリングの後"),
             (block_with_batchnorm_of_in_channels, "出力チャネル数"),
             (block_with_batchnorm_after_relu, "ReLU の前"), (block_without_padding, "padding=1")],
    "10.3": [(plain_sgd_step, "素の SGD"), (averaged_momentum_step, "(1 - momentum)"),
             (uphill_momentum_step, "逆向き")],
}
