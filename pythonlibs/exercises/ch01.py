"""Checks of chapter 1's exercises: a copy that stays put, a composite function, a callable class."""

import numpy as np
import torch

from pythonlibs.exercises import Wrong, exercise, expect_close

_SHARED = ("元のテンソルを書き換えたら、返した配列も変わってしまいました。.numpy() の結果はテンソルと"
           "メモリを共有します。.numpy().copy() のようにコピーを取ってください。")


def _expect_array(answer, tensor):
    """``answer`` must be a NumPy array holding ``tensor``'s current values."""
    if torch.is_tensor(answer):
        raise Wrong("テンソルのまま返しています。.numpy() で NumPy 配列 (np.ndarray) にしてください。")
    if not isinstance(answer, np.ndarray):
        raise Wrong(f"NumPy 配列 (np.ndarray) を返してください (あなたの答えは {type(answer).__name__})。")
    if answer.shape != tuple(tensor.shape):
        raise Wrong(f"配列の形が違います: 正しくは {tuple(tensor.shape)}、あなたの答えは {answer.shape}。")
    expect_close(answer, tensor.detach(), "記録した値")


@exercise("1.1", "値を記録する snapshot(t)")
def check_snapshot(snapshot):
    generator = torch.Generator().manual_seed(11)
    t = torch.randn(6, generator=generator)
    answer = snapshot(t)
    _expect_array(answer, t)
    t[2] = 100.0                       # change the tensor in place, as a training step does
    if answer[2] == 100.0:
        raise Wrong(_SHARED)
    w = torch.randn(4, generator=generator, requires_grad=True)   # like a model's parameter
    try:
        answer = snapshot(w)
    except RuntimeError as error:
        if "requires grad" in str(error) or "detach" in str(error):
            raise Wrong("requires_grad=True のテンソル (モデルのパラメータなど) は、そのままでは .numpy() に"
                        "できません。先に .detach() で計算グラフから切り離してください。") from None
        raise
    _expect_array(answer, w)
    with torch.no_grad():
        w[0] = 50.0
    if answer[0] == 50.0:
        raise Wrong(_SHARED)


@exercise("1.2", "合成関数を返す compose(f, g)")
def check_compose(compose):
    rng = np.random.default_rng(12)
    a, b = rng.uniform(1.5, 3.0, size=2).round(2)
    pairs = [(lambda v: v ** 2, lambda v: a * v - b),
             (np.sin, lambda v: b * v + a)]
    x = rng.normal(size=5)
    for f, g in pairs:
        try:
            h = compose(f, g)
        except NameError as error:
            raise Wrong(f"compose の中で定義していない名前を使っています ({error})。compose(f, g) は関数を"
                        "作って返すだけで、x を受け取るのは返した関数のほうです (第1章の fdiff と同じ形)。") from None
        if not callable(h):
            raise Wrong("関数を返してください。compose の中で def h(x): ... を定義し、"
                        "h を (呼ばずに) return h と返します。")
        got = h(x)
        if np.allclose(got, g(f(x))) and not np.allclose(got, f(g(x))):
            raise Wrong("順番が逆です。f(g(x)) は、先に g(x) を計算し、その結果を f に渡します。")
        expect_close(got, f(g(x)), "compose(f, g)(x)")


@exercise("1.3", "関数のように呼べるクラス Quadratic(a, b, c)")
def check_quadratic(cls):
    rng = np.random.default_rng(13)
    a, b, c = rng.uniform(-3, 3, size=3).round(2)
    x = rng.normal(size=6)
    q = cls(a, b, c)
    if not isinstance(cls, type):
        raise Wrong("クラスそのもの (class Quadratic: ... で定義した Quadratic) を渡してください。"
                    "インスタンスや関数ではありません。")
    if not callable(q):
        raise Wrong("インスタンスを関数のように q(x) と呼べません。__call__(self, x) メソッドを定義してください。")
    got = q(x)
    if np.allclose(got, 2 * x ** 2 + 2):
        raise Wrong("2x² + 2 を計算しています (クラス H の写し)。__init__ で受け取った a, b, c を "
                    "self.a = a のように保存し、__call__ の中で self.a などを使ってください。")
    expect_close(got, a * x ** 2 + b * x + c, "q(x)")
    other = cls(c, a, b)               # a second instance with other parameters
    expect_close(other(x), c * x ** 2 + a * x + b, "2 つ目のインスタンスの結果")
    if not np.allclose(q(x), got):
        raise Wrong("2 つ目のインスタンスを作ったら、1 つ目の結果が変わりました。パラメータは self.a = a のように"
                    "インスタンスの属性に保存してください (クラスの変数に入れると全インスタンスで共有されます)。")
