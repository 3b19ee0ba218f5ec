"""Wrong answers to chapter 1's exercises, each with the hint its check must give."""

import numpy as np


def snapshot_shared(t):
    return t.detach().numpy()


def snapshot_without_detach(t):
    return t.numpy().copy()


def snapshot_as_tensor(t):
    return t.detach().clone()


def compose_reversed(f, g):
    def h(x):
        return g(f(x))
    return h


def compose_calls_it(f, g):
    return f(g(x))  # noqa: F821 - the mistake: x is not an argument of compose


def compose_value(f, g):
    return f(g(np.zeros(1)))


class QuadraticWithoutCall:
    def __init__(self, a, b, c):
        self.a, self.b, self.c = a, b, c

    def forward(self, x):
        return self.a * x ** 2 + self.b * x + self.c


class QuadraticCopiedFromH:
    def __init__(self, a, b, c):
        pass

    def __call__(self, x):
        return 2 * x ** 2 + 2


class QuadraticSharedParameters:
    def __init__(self, a, b, c):
        QuadraticSharedParameters.params = (a, b, c)

    def __call__(self, x):
        a, b, c = QuadraticSharedParameters.params
        return a * x ** 2 + b * x + c


WRONG = {
    "1.1": [(snapshot_shared, "メモリを共有"), (snapshot_without_detach, ".detach()"),
            (snapshot_as_tensor, "テンソルのまま")],
    "1.2": [(compose_reversed, "順番が逆"), (compose_calls_it, "x を受け取るのは"),
            (compose_value, "関数を返してください")],
    "1.3": [(QuadraticWithoutCall, "__call__"), (QuadraticCopiedFromH, "クラス H"),
            (QuadraticSharedParameters, "インスタンスの属性")],
}
