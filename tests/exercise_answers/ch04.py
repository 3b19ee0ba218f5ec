"""Wrong answers to chapter 4's exercises, each with the hint its check must give."""

import torch
from torch import nn


def linear_not_transposed(x, weight, bias):
    return x @ weight + bias


def linear_without_bias(x, weight, bias):
    return x @ weight.T


def linear_weight_first(x, weight, bias):
    return weight @ x.T


class MLP3WithoutSuper(nn.Module):
    def __init__(self, n_input, n_hidden1, n_hidden2, n_output):
        self.l1 = nn.Linear(n_input, n_hidden1)

    def forward(self, x):
        return self.l1(x)


class MLP3WithoutReLU(nn.Module):
    def __init__(self, n_input, n_hidden1, n_hidden2, n_output):
        super().__init__()
        self.l1 = nn.Linear(n_input, n_hidden1)
        self.l2 = nn.Linear(n_hidden1, n_hidden2)
        self.l3 = nn.Linear(n_hidden2, n_output)

    def forward(self, x):
        return self.l3(self.l2(self.l1(x)))


class MLP3ReLUAtTheEnd(MLP3WithoutReLU):
    def forward(self, x):
        return torch.relu(self.l3(torch.relu(self.l2(torch.relu(self.l1(x))))))


class MLP3OneReLU(MLP3WithoutReLU):
    def forward(self, x):
        return self.l3(self.l2(torch.relu(self.l1(x))))


class MLP3InAList(nn.Module):
    def __init__(self, n_input, n_hidden1, n_hidden2, n_output):
        super().__init__()
        self.layers = [nn.Linear(n_input, n_hidden1), nn.Linear(n_hidden1, n_hidden2),
                       nn.Linear(n_hidden2, n_output)]

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == len(self.layers) - 1 else torch.relu(layer(x))
        return x


class MLP3FixedSizes(MLP3WithoutReLU):
    def __init__(self, n_input, n_hidden1, n_hidden2, n_output):
        super().__init__(n_input, 8, 6, n_output)

    def forward(self, x):
        return self.l3(torch.relu(self.l2(torch.relu(self.l1(x)))))


def count_without_bias(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def count_bias_by_input(sizes):
    return sum(a * b + a for a, b in zip(sizes[:-1], sizes[1:]))


def count_tensors(sizes):
    return 2 * (len(sizes) - 1)


def count_first_layer(sizes):
    return sizes[0] * sizes[1] + sizes[1]


WRONG = {
    "4.1": [(linear_not_transposed, "転置"), (linear_without_bias, "バイアス"),
            (linear_weight_first, "x @ weight.T の順")],
    "4.2": [(MLP3WithoutSuper, "super().__init__()"), (MLP3WithoutReLU, "ReLU が入っていません"),
            (MLP3ReLUAtTheEnd, "最後の線形層の後"), (MLP3OneReLU, "1 か所"),
            (MLP3InAList, "リスト"), (MLP3FixedSizes, "引数の大きさ")],
    "4.3": [(count_without_bias, "バイアスを数えていません"), (count_bias_by_input, "入力の数"),
            (count_tensors, "テンソルの数"), (count_first_layer, "最初の層")],
}
