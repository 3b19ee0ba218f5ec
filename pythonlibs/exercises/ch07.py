"""Checks of chapter 7's exercises: softmax by hand, cross-entropy from logits by hand,
predicted classes of a model."""

import torch
import torch.nn.functional as F
from torch import nn

from pythonlibs.exercises import Wrong, exercise, expect_number, expect_tensor


def _logits(seed: int, n: int = 6, classes: int = 4):
    """Logits of ``n`` items in ``classes`` classes (not square, so a wrong dim shows)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, classes, generator=generator) * 2


@exercise("7.1", "ソフトマックスを式で計算する softmax_rows(logits)")
def check_softmax_rows(softmax_rows):
    logits = _logits(71)
    answer = softmax_rows(logits)
    right = torch.softmax(logits, dim=1)
    if torch.is_tensor(answer) and answer.shape == right.shape:
        if torch.allclose(answer, torch.softmax(logits, dim=0), atol=1e-6):
            raise Wrong("列ごと (dim=0) に合計 1 になっています。1 件 = 1 行なので、各行の合計が 1 になるように "
                        "dim=1 で合計してください (sum(dim=1, keepdim=True))。")
        if torch.allclose(answer, logits / logits.sum(dim=1, keepdim=True), atol=1e-6):
            raise Wrong("exp を取らずに割っています。まず torch.exp(logits) を計算し、それを行の合計で割ります。")
        if torch.allclose(answer, torch.exp(logits), atol=1e-6):
            raise Wrong("exp を取っただけで、行の合計で割っていません。")
    expect_tensor(answer, right, "確率")
    big = logits * 400   # logits of several hundred: exp() overflows to inf in float32
    answer = softmax_rows(big)
    if torch.is_tensor(answer) and not torch.isfinite(answer).all():
        raise Wrong("ロジットが数百になると exp() があふれて inf / nan になります。各行から行の最大値を引いてから "
                    "exp を取ってください (logits - logits.max(dim=1, keepdim=True).values)。結果は同じで、"
                    "あふれなくなります。")
    expect_tensor(answer, torch.softmax(big, dim=1), "大きなロジットの確率")


@exercise("7.2", "交差エントロピーをロジットから式で計算する cross_entropy(logits, labels)")
def check_cross_entropy(cross_entropy):
    logits = _logits(72, n=7, classes=3).requires_grad_()
    labels = torch.tensor([0, 2, 1, 1, 0, 2, 2])
    answer = cross_entropy(logits, labels)
    z = logits.detach()
    right = F.cross_entropy(z, labels)
    if torch.is_tensor(answer) and answer.numel() == 1:
        got = answer.item()
        if abs(got - F.cross_entropy(torch.softmax(z, dim=1), labels).item()) < 1e-5:
            raise Wrong("ソフトマックスの結果を CrossEntropyLoss に渡しています。CrossEntropyLoss は中で "
                        "ソフトマックスを計算するので、2 回かかります。ロジットをそのまま渡してください。")
        if abs(got - F.nll_loss(torch.log_softmax(z, dim=0), labels).item()) < 1e-5:
            raise Wrong("log_softmax (またはソフトマックス) を dim=0 (列ごと) で計算しています。1 件 = 1 行なので "
                        "dim=1 です。")
        if abs(got - F.cross_entropy(z, labels, reduction="sum").item()) < 1e-4:
            raise Wrong(f"{len(labels)} 件の「合計」になっています。件数で割って平均にしてください。")
        if abs(got + right.item()) < 1e-5:
            raise Wrong("符号が逆です。log(確率) は負なので、- を付けて正の損失にします。")
        if abs(got - F.nll_loss(torch.softmax(z, dim=1), labels).item()) < 1e-5:
            raise Wrong("log を取っていません。正解クラスの確率の「対数」に - を付けて平均します。")
    expect_tensor(answer, right, "損失")
    if not answer.requires_grad:
        raise Wrong("損失に計算グラフがありません (backward() できません)。.item() や NumPy を使わず、"
                    "テンソルの演算だけで計算してください。")


class _ModeProbe(nn.Module):
    """A linear classifier that records, at each forward, whether it was in training mode."""

    def __init__(self, weight, bias):
        super().__init__()
        self.l1 = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.l1.weight.copy_(weight)
            self.l1.bias.copy_(bias)
        self.modes = []

    def forward(self, x):
        self.modes.append((self.training, torch.is_grad_enabled()))
        return self.l1(x)


@exercise("7.3", "モデルの予測クラスを求める predict_classes(net, inputs)")
def check_predict_classes(predict_classes):
    generator = torch.Generator().manual_seed(73)
    net = _ModeProbe(torch.randn(3, 4, generator=generator), torch.randn(3, generator=generator))
    inputs = torch.randn(5, 4, generator=generator) * 2
    net.train()
    answer = predict_classes(net, inputs)
    with torch.no_grad():
        logits = net.l1(inputs)
    right = logits.argmax(dim=1)
    if torch.is_tensor(answer):
        if answer.shape == (3,) and torch.equal(answer.long(), logits.argmax(dim=0)):
            raise Wrong("dim=0 (列ごと) で最大を取っています。1 件 = 1 行なので、各行の最大の位置 "
                        "(argmax(dim=1)) がその件の予測クラスです。")
        if answer.shape == right.shape and answer.is_floating_point():
            if torch.allclose(answer, logits.max(dim=1).values):
                raise Wrong("最大値そのものを返しています。torch.max(outputs, 1) が返す (値, 位置) のうち、"
                            "クラス番号は「位置」の [1] です (または argmax(dim=1))。")
    expect_tensor(answer, right, "予測クラス")
    if answer.dtype != torch.long:
        raise Wrong(f"予測クラスの型が {answer.dtype} です。クラス番号は整数 (torch.long) で返してください。")
    if not net.modes:
        raise Wrong("モデルを呼んでいません。net(inputs) でロジットを計算してください。")
    if any(training for training, _ in net.modes):
        raise Wrong("予測の前に net.eval() を呼んでいません。予測 (推論) は評価モードで行います "
                    "(ドロップアウトなど、学習時と推論時で動きが変わる層のため)。")
    if any(grad for _, grad in net.modes):
        raise Wrong("with torch.no_grad(): の中で予測していません。予測には勾配がいらないので、"
                    "計算グラフを作らないようにします。")
