"""Wrong answers to chapter 5's exercises, each with the hint its check must give."""

import numpy as np
from torch import nn, optim


def standardize_with_own_statistics(x_train, x):
    return (x - x.mean(axis=0)) / x.std(axis=0)


def standardize_whole_array(x_train, x):
    return (x - x_train.mean()) / x_train.std()


def standardize_by_rows(x_train, x):
    return (x - x_train.mean(axis=1)) / x_train.std(axis=1)


def standardize_unbiased(x_train, x):
    return (x - x_train.mean(axis=0)) / x_train.std(axis=0, ddof=1)


def standardize_by_variance(x_train, x):
    return (x - x_train.mean(axis=0)) / x_train.var(axis=0)


def standardize_without_mean(x_train, x):
    return x / x_train.std(axis=0)


def _loop(net, inputs, labels, lr, num_epochs, zero_grad=True, view=True, criterion=None, factor=1.0,
          step=True):
    criterion = criterion or nn.MSELoss()
    optimizer = optim.SGD(net.parameters(), lr=lr)
    target = labels.view(-1, 1) if view else labels
    losses = []
    for _ in range(num_epochs):
        if zero_grad:
            optimizer.zero_grad()
        loss = criterion(net(inputs), target) * factor
        loss.backward()
        if step:
            optimizer.step()
        losses.append(loss.item())
    return losses


def train_without_zero_grad(net, inputs, labels, lr, num_epochs):
    return _loop(net, inputs, labels, lr, num_epochs, zero_grad=False)


def train_without_view(net, inputs, labels, lr, num_epochs):
    return _loop(net, inputs, labels, lr, num_epochs, view=False)


def train_half_loss(net, inputs, labels, lr, num_epochs):
    return _loop(net, inputs, labels, lr, num_epochs, factor=0.5)


def train_l1(net, inputs, labels, lr, num_epochs):
    return _loop(net, inputs, labels, lr, num_epochs, criterion=nn.L1Loss())


def train_sum(net, inputs, labels, lr, num_epochs):
    return _loop(net, inputs, labels, lr, num_epochs, criterion=nn.MSELoss(reduction="sum"))


def train_without_step(net, inputs, labels, lr, num_epochs):
    return _loop(net, inputs, labels, lr, num_epochs, step=False)


def train_returns_last_loss(net, inputs, labels, lr, num_epochs):
    return _loop(net, inputs, labels, lr, num_epochs)[-1]


def r2_without_one_minus(y_pred, y_true):
    return (((y_true - y_pred) ** 2).sum() / ((y_true - y_true.mean()) ** 2).sum()).item()


def r2_swapped_arguments(y_pred, y_true):
    return (1 - ((y_true - y_pred) ** 2).sum() / ((y_pred - y_pred.mean()) ** 2).sum()).item()


def r2_is_mse(y_pred, y_true):
    return ((y_true - y_pred) ** 2).mean().item()


def r2_squared_correlation(y_pred, y_true):
    return float(np.corrcoef(y_pred.numpy(), y_true.numpy())[0, 1] ** 2)


WRONG = {
    "5.1": [(standardize_with_own_statistics, "x_train の平均と標準偏差"), (standardize_whole_array, "列ごと"),
            (standardize_by_rows, "axis=0"), (standardize_unbiased, "N - 1"),
            (standardize_by_variance, "分散で割って"), (standardize_without_mean, "平均を引いていません")],
    "5.2": [(train_without_zero_grad, "zero_grad"), (train_without_view, "view(-1, 1)"),
            (train_half_loss, "2 で割って"), (train_l1, "nn.MSELoss()"), (train_sum, "合計"),
            (train_without_step, "optimizer.step()"), (train_returns_last_loss, "リスト")],
    "5.3": [(r2_without_one_minus, "1 -"), (r2_swapped_arguments, "引数の順"), (r2_is_mse, "平均二乗誤差"),
            (r2_squared_correlation, "相関係数")],
}
