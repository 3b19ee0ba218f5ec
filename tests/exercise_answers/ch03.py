"""Wrong answers to chapter 3's exercises, each with the hint its check must give."""

import torch


def mae_squares(yp, y):
    return ((yp - y) ** 2).mean()


def mae_sum(yp, y):
    return (yp - y).abs().sum()


def mae_as_number(yp, y):
    return (yp - y).abs().mean().item()


def gradients_without_the_2(x, y, w, b):
    error = w * x + b - y
    return (error * x).mean().item(), error.mean().item()


def gradients_reversed(x, y, w, b):
    error = y - (w * x + b)
    return (2 * error * x).mean().item(), (2 * error).mean().item()


def gd_step_without_zero_grad(W, B, x, y, lr):
    loss = ((W * x + B - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        W -= lr * W.grad
        B -= lr * B.grad
    return loss.item()


def gd_step_uphill(W, B, x, y, lr):
    loss = ((W * x + B - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        W += lr * W.grad
        B += lr * B.grad
        W.grad.zero_()
        B.grad.zero_()
    return loss.item()


WRONG = {
    "3.1": [(mae_squares, "2 乗"), (mae_sum, "合計"), (mae_as_number, "テンソルではありません")],
    "3.2": [(gradients_without_the_2, "2 倍"), (gradients_reversed, "符号が逆")],
    "3.3": [(gd_step_without_zero_grad, "zero_()"), (gd_step_uphill, "逆向き")],
}
