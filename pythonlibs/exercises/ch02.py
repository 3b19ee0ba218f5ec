"""Checks of chapter 2's exercises: view, the predicted class, broadcasting, a gradient by autograd."""

import numpy as np
import torch

from pythonlibs.exercises import Wrong, exercise, expect_tensor


def _tensor(answer, name: str) -> torch.Tensor:
    if not torch.is_tensor(answer):
        raise Wrong(f"{name}がテンソルではありません ({type(answer).__name__})。PyTorch の演算の結果をそのまま返してください。")
    return answer.detach()


@exercise("2.1", "画像を 1 列に並べる flatten_images(images)")
def check_flatten_images(flatten_images):
    generator = torch.Generator().manual_seed(21)
    for shape in ((5, 3, 4, 6), (1, 1, 7, 2)):
        images = torch.randn(shape, generator=generator)
        n, rest = shape[0], int(np.prod(shape[1:]))
        try:
            answer = _tensor(flatten_images(images), "答え")
        except RuntimeError as error:
            if "invalid for input of size" in str(error):
                raise Wrong(f"形の指定がデータの要素数と合いません ({error})。784 のような数を決め打ちせず、"
                            "images.view(len(images), -1) のように -1 で自動計算させてください。") from None
            raise
        if answer.shape == (n * rest,) and n > 1:
            raise Wrong("全部を 1 列に並べています。先頭の「件数」の軸は残して、画像ごとに 1 列にしてください "
                        "(形は (件数, チャネル×高さ×幅))。")
        if answer.shape == (rest, n) and n > 1:
            raise Wrong(f"軸が逆です: 形が (要素数, 件数) = {tuple(answer.shape)} になっています。"
                        "先頭が件数の (件数, チャネル×高さ×幅) にしてください。")
        expect_tensor(answer, images.reshape(n, rest), "平らにした画像")


@exercise("2.2", "予測クラスを求める predict_labels(outputs)")
def check_predict_labels(predict_labels):
    generator = torch.Generator().manual_seed(22)
    outputs = torch.randn(7, 4, generator=generator)       # 7 data, 4 classes
    answer = _tensor(predict_labels(outputs), "答え")
    want = outputs.argmax(dim=1)
    if answer.shape == (4,) and torch.equal(answer.long(), outputs.argmax(dim=0)):
        raise Wrong("列ごと (dim=0) の最大の位置になっています。データ (行) ごとに、クラス (列) の中で"
                    "最大のものを選ぶので torch.max(outputs, 1) のように dim=1 です。")
    if answer.numel() == 1:
        raise Wrong("全要素の中の最大 (1 個) になっています。軸を指定して torch.max(outputs, 1) とし、"
                    "データごとの予測クラスを求めてください。")
    if answer.shape == want.shape and torch.allclose(answer.float(), outputs.max(dim=1).values):
        raise Wrong("最大「値」を返しています。予測クラスは最大値の「位置」(indices) で、"
                    "torch.max(outputs, 1)[1] です。")
    expect_tensor(answer, want, "予測クラス")
    if answer.dtype != torch.int64:
        raise Wrong(f"予測クラスは整数 (int64) にしてください (あなたの答えは {answer.dtype})。")


@exercise("2.3", "列ごとの標準化 standardize(x)")
def check_standardize(standardize):
    generator = torch.Generator().manual_seed(23)
    x = torch.randn(6, 3, generator=generator) * torch.tensor([1.0, 10.0, 100.0]) + torch.tensor([5.0, -20.0, 300.0])
    x_before = x.clone()
    try:
        answer = standardize(x)
    except RuntimeError as error:
        if "must match the size" in str(error):
            raise Wrong(f"形が合わず、ブロードキャストできません ({error})。列ごとの平均は x.mean(dim=0) で、"
                        "形 (列数,) になり、(件数, 列数) の x から各行で引けます。") from None
        raise
    if not torch.equal(x, x_before):
        raise Wrong("引数の x を書き換えています (x -= ... などの「その場で書き換える」演算)。"
                    "x - x.mean(dim=0) のように新しいテンソルを作ってください (第1章)。")
    answer = _tensor(answer, "答え")
    want = (x - x.mean(dim=0)) / x.std(dim=0)
    if answer.shape == want.shape:
        rows = (x - x.mean(dim=1, keepdim=True)) / x.std(dim=1, keepdim=True)
        if torch.allclose(answer, rows, atol=1e-5):
            raise Wrong("行ごと (dim=1) に標準化しています。特徴量は列なので、平均も標準偏差も dim=0 で求めます。")
        if torch.allclose(answer, (x - x.mean()) / x.std(), atol=1e-5):
            raise Wrong("全要素の平均と標準偏差を使っています。列ごとに x.mean(dim=0)、x.std(dim=0) としてください。")
        if torch.allclose(answer, x - x.mean(dim=0), atol=1e-5):
            raise Wrong("平均を引いただけです。さらに列ごとの標準偏差 x.std(dim=0) で割ってください。")
    expect_tensor(answer, want, "標準化した x")


def _functions():
    """Functions of a tensor, with their derivatives, that the learner's derivative() is asked about."""
    return [(lambda t: t ** 3 - 2 * t, lambda t: 3 * t ** 2 - 2),
            (lambda t: torch.sin(2 * t) * t, lambda t: 2 * torch.cos(2 * t) * t + torch.sin(2 * t)),
            (lambda t: torch.exp(-t ** 2), lambda t: -2 * t * torch.exp(-t ** 2))]


@exercise("2.4", "自動微分で導関数の値を求める derivative(f, x_np)")
def check_derivative(derivative):
    rng = np.random.default_rng(24)
    x_np = rng.uniform(-2, 2, size=9).round(3)
    x_t = torch.tensor(x_np, dtype=torch.float32)
    for f, df in _functions():
        try:
            answer = derivative(f, x_np.copy())
        except RuntimeError as error:
            text = str(error)
            if "does not require grad" in text:
                raise Wrong("x が勾配計算の対象になっていません。torch.tensor(x_np, requires_grad=True, "
                            "dtype=torch.float32) のように requires_grad=True を付けて作ってください。") from None
            if "scalar outputs" in text:
                raise Wrong("ベクトルのまま backward() しています。y.sum() でスカラーにしてから backward() を"
                            "呼んでください (2.2 節「なぜ sum() するのか」)。") from None
            if "floating point" in text:
                raise Wrong("整数のテンソルは勾配を持てません。dtype=torch.float32 を指定してください。") from None
            raise
        if answer is None:
            raise Wrong("None が返りました。backward() を呼んでから x.grad を返していますか? "
                        "(requires_grad=True で作ったテンソルの .grad です)")
        answer = _tensor(answer, "答え")
        want = df(x_t)
        if answer.shape == want.shape:
            if torch.allclose(answer.float(), f(x_t), atol=1e-5):
                raise Wrong("関数の値 f(x) を返しています。backward() のあとの x.grad (勾配) を返してください。")
            if torch.allclose(answer.float(), want / len(x_np), atol=1e-5):
                raise Wrong(f"値が要素数 ({len(x_np)}) 分の 1 です。mean() ではなく sum() でスカラーにすると、"
                            "各要素の導関数がそのまま得られます。")
        expect_tensor(answer, want, "導関数の値")
