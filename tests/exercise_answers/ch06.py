"""Wrong answers to chapter 6's exercises, each with the hint its check must give."""

import torch
from torch import nn


def bce_sum(probs, labels):
    return -(labels * torch.log(probs) + (1 - labels) * torch.log(1 - probs)).sum()


def bce_without_minus(probs, labels):
    return (labels * torch.log(probs) + (1 - labels) * torch.log(1 - probs)).mean()


def bce_only_positive_term(probs, labels):
    return -(labels * torch.log(probs)).mean()


def bce_as_number(probs, labels):
    return nn.BCELoss()(probs, labels).item()


def step_with_sigmoid_twice(net, inputs, labels, optimizer):
    optimizer.zero_grad()
    loss = nn.BCEWithLogitsLoss()(torch.sigmoid(net(inputs)), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_without_zero_grad(net, inputs, labels, optimizer):
    loss = nn.BCEWithLogitsLoss()(net(inputs), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_without_update(net, inputs, labels, optimizer):
    optimizer.zero_grad()
    loss = nn.BCEWithLogitsLoss()(net(inputs), labels)
    loss.backward()
    return loss.item()


def accuracy_threshold_half(logits, labels):
    return ((logits > 0.5).float() == labels).float().mean().item()


def accuracy_count(logits, labels):
    return ((logits > 0).float() == labels).float().sum().item()


def accuracy_broadcast(logits, labels):
    return ((logits > 0).float().view(-1) == labels).float().mean().item()


def accuracy_not_reduced(logits, labels):
    return (logits > 0).float() == labels


WRONG = {
    "6.1": [(bce_sum, "合計"), (bce_without_minus, "符号が逆"), (bce_only_positive_term, "(1 - y)"),
            (bce_as_number, "テンソルではありません")],
    "6.2": [(step_with_sigmoid_twice, "シグモイドを 2 回"), (step_without_zero_grad, "zero_grad"),
            (step_without_update, "optimizer.step()")],
    "6.3": [(accuracy_threshold_half, "しきい値が 0.5"), (accuracy_count, "件数"),
            (accuracy_broadcast, "ブロードキャスト"), (accuracy_not_reduced, "1 つの数")],
}
