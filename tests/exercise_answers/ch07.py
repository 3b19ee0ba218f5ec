"""Wrong answers to chapter 7's exercises, each with the hint its check must give."""

import torch
import torch.nn.functional as F
from torch import nn


def softmax_columns(logits):
    e = torch.exp(logits - logits.max(dim=0, keepdim=True).values)
    return e / e.sum(dim=0, keepdim=True)


def softmax_without_exp(logits):
    return logits / logits.sum(dim=1, keepdim=True)


def softmax_that_overflows(logits):
    e = torch.exp(logits)
    return e / e.sum(dim=1, keepdim=True)


def cross_entropy_after_softmax(logits, labels):
    return nn.CrossEntropyLoss()(torch.softmax(logits, dim=1), labels)


def cross_entropy_wrong_dim(logits, labels):
    return -torch.log_softmax(logits, dim=0)[torch.arange(len(labels)), labels].mean()


def cross_entropy_sum(logits, labels):
    return -torch.log_softmax(logits, dim=1)[torch.arange(len(labels)), labels].sum()


def cross_entropy_without_log(logits, labels):
    return -torch.softmax(logits, dim=1)[torch.arange(len(labels)), labels].mean()


def predict_wrong_dim(net, inputs):
    net.eval()
    with torch.no_grad():
        return net(inputs).argmax(dim=0)


def predict_max_values(net, inputs):
    net.eval()
    with torch.no_grad():
        return torch.max(net(inputs), 1)[0]


def predict_without_eval(net, inputs):
    with torch.no_grad():
        return net(inputs).argmax(dim=1)


def predict_with_grad(net, inputs):
    net.eval()
    return net(inputs).argmax(dim=1)


WRONG = {
    "7.1": [(softmax_columns, "dim=0"), (softmax_without_exp, "exp を取らずに"),
            (softmax_that_overflows, "最大値を引いて")],
    "7.2": [(cross_entropy_after_softmax, "ソフトマックスの結果を CrossEntropyLoss"),
            (cross_entropy_wrong_dim, "dim=0"), (cross_entropy_sum, "合計"),
            (cross_entropy_without_log, "log を取っていません")],
    "7.3": [(predict_wrong_dim, "dim=0"), (predict_max_values, "最大値そのもの"),
            (predict_without_eval, "net.eval()"), (predict_with_grad, "torch.no_grad()")],
}
