"""Checks of chapter 6's exercises: binary cross-entropy by hand, one training step with
BCEWithLogitsLoss, the accuracy of one-logit outputs."""

import copy

import torch
from torch import nn

from pythonlibs.exercises import Wrong, exercise, expect_number, expect_tensor


def _probs_and_labels(seed: int, n: int = 9):
    """Probabilities in (0, 1) and 0/1 labels of shape (n, 1) that the notebook never showed."""
    generator = torch.Generator().manual_seed(seed)
    probs = torch.rand(n, 1, generator=generator) * 0.9 + 0.05
    labels = (torch.rand(n, 1, generator=generator) < 0.5).float()
    labels[0], labels[1] = 1.0, 0.0   # both classes occur
    return probs, labels


@exercise("6.1", "2 値交差エントロピーを式で計算する bce(probs, labels)")
def check_bce(bce):
    probs, labels = _probs_and_labels(61)
    probs.requires_grad_()   # like a model's output: the loss must keep its computation graph
    answer = bce(probs, labels)
    p, y = probs.detach(), labels
    terms = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))
    if torch.is_tensor(answer) and answer.numel() == 1:
        got = answer.item()
        if abs(got + terms.mean().item()) < 1e-5:
            raise Wrong("符号が逆です (損失が負)。log は 1 未満で負になるので、式の先頭に - を付けます。")
        if abs(got - terms.sum().item()) < 1e-4:
            raise Wrong(f"{len(p)} 件の「合計」になっています。件数で割って平均にしてください (.mean())。")
        if abs(got - (-(y * torch.log(p))).mean().item()) < 1e-5:
            raise Wrong("正解が 0 の項 (1 - y) * log(1 - p) が抜けています。y = 0 のデータも損失に入るように、"
                        "2 つの項を足してください。")
        if abs(got - (-((1 - y) * torch.log(1 - p))).mean().item()) < 1e-5:
            raise Wrong("正解が 1 の項 y * log(p) が抜けています。2 つの項を足してください。")
    expect_tensor(answer, terms.mean(), "損失")
    if not answer.requires_grad:
        raise Wrong("損失に計算グラフがありません (backward() できません)。.item() や NumPy を使わず、"
                    "テンソルの演算だけで計算してください。")


def _logit_model(seed: int):
    """A one-logit model (2 inputs) with known weights, and data for it."""
    generator = torch.Generator().manual_seed(seed)
    net = nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.copy_(torch.randn(1, 2, generator=generator))
        net.bias.copy_(torch.randn(1, generator=generator))
    inputs = torch.randn(12, 2, generator=generator) * 2
    labels = (inputs[:, :1] - inputs[:, 1:] > 0).float()
    return net, inputs, labels


def _reference_steps(net, inputs, labels, lr: float, steps: int, wrong_loss=None):
    """Parameters of a copy of ``net`` after ``steps`` SGD steps on BCEWithLogitsLoss."""
    net = copy.deepcopy(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    criterion = nn.BCEWithLogitsLoss()
    for _ in range(steps):
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(torch.sigmoid(outputs) if wrong_loss == "sigmoid" else outputs, labels)
        loss.backward()
        optimizer.step()
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def _parameters(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


@exercise("6.2", "ロジットを返すモデルの学習 1 ステップ train_step_logits(net, inputs, labels, optimizer)")
def check_train_step_logits(train_step_logits):
    net, inputs, labels = _logit_model(62)
    start = copy.deepcopy(net)
    lr = 0.1
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = train_step_logits(net, inputs, labels, optimizer)
    with torch.no_grad():
        logits = start(inputs)
        right = nn.BCEWithLogitsLoss()(logits, labels).item()
        twice = nn.BCEWithLogitsLoss()(torch.sigmoid(logits), labels).item()
    got = loss.item() if torch.is_tensor(loss) and loss.numel() == 1 else loss
    if isinstance(got, float) and abs(got - twice) < 1e-5:
        raise Wrong("シグモイドを 2 回かけています。BCEWithLogitsLoss は中でシグモイドを計算するので、"
                    "モデルの出力 (ロジット) をそのまま渡してください (torch.sigmoid は不要)。")
    expect_number(got, right, "返した損失 (更新する前の損失)")
    if torch.equal(_parameters(net), _parameters(start)):
        raise Wrong("パラメータが変わっていません。loss.backward() のあとで optimizer.step() を呼んでください。")
    if torch.allclose(_parameters(net), _reference_steps(start, inputs, labels, lr, 1, "sigmoid"), atol=1e-6):
        raise Wrong("シグモイドを 2 回かけています (勾配がシグモイド + BCEWithLogitsLoss のもの)。"
                    "モデルの出力 (ロジット) をそのまま損失関数に渡してください。")
    expect_tensor(_parameters(net), _reference_steps(start, inputs, labels, lr, 1), "1 ステップ後のパラメータ")
    train_step_logits(net, inputs, labels, optimizer)   # a second step shows whether grads were reset
    if not torch.allclose(_parameters(net), _reference_steps(start, inputs, labels, lr, 2), atol=1e-5):
        raise Wrong("2 回目のステップがずれています。最初に optimizer.zero_grad() を呼んでいますか? "
                    "呼ばないと、前のステップの勾配に新しい勾配が足し込まれます。")


@exercise("6.3", "ロジット 1 個の出力から精度を求める binary_accuracy(logits, labels)")
def check_binary_accuracy(binary_accuracy):
    generator = torch.Generator().manual_seed(63)
    n = 20
    logits = torch.randn(n, 1, generator=generator) * 1.5
    logits[:4, 0] = torch.tensor([0.3, 0.2, 0.45, 0.1])   # 0 < logit < 0.5: class 1 (p > 0.5)
    labels = (torch.rand(n, 1, generator=generator) < 0.5).float()
    labels[:4, 0] = 1.0
    right = ((logits > 0).float() == labels).float().mean().item()
    answer = binary_accuracy(logits, labels)
    if torch.is_tensor(answer):
        if answer.numel() != 1:
            raise Wrong(f"答えが 1 つの数になっていません (形 {tuple(answer.shape)})。比較した結果の平均 "
                        "(.float().mean().item()) を返してください。")
        answer = answer.item()
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        got = float(answer)
        if abs(got - ((logits > 0.5).float() == labels).float().mean().item()) < 1e-6:
            raise Wrong("しきい値が 0.5 になっています。0.5 は確率のしきい値です。ロジットのまま判定するなら "
                        "logits > 0 (確率にしてからなら torch.sigmoid(logits) > 0.5) です。")
        if abs(got - right * n) < 1e-6:
            raise Wrong(f"正解した件数 ({right * n:.0f}) を返しています。件数 {n} で割って割合にしてください。")
        wide = ((logits > 0).float().view(-1) == labels).float().mean().item()
        if abs(got - wide) < 1e-6 and abs(wide - right) > 1e-6:
            raise Wrong("形 (N,) と (N, 1) を比べて、ブロードキャストで (N, N) の表ができています。"
                        "予測と正解を同じ形にそろえて比べてください。")
    expect_number(answer, right, "精度")
