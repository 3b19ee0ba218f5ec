"""Checks of chapter 5's exercises: standardising new data with the training data's statistics,
a training loop of linear regression with an optimizer, and the coefficient of determination R²."""

import copy
import warnings

import numpy as np
import torch
from torch import nn, optim

from pythonlibs.exercises import Wrong, exercise, expect_number


def _as_array(answer, name):
    if torch.is_tensor(answer):
        return answer.detach().cpu().numpy()
    if isinstance(answer, np.ndarray):
        return answer
    raise Wrong(f"{name}は NumPy の配列 (またはテンソル) で返してください (あなたの答えは {type(answer).__name__})。")


def _same(a, b) -> bool:
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-5, atol=1e-8)


@exercise("5.1", "学習データの平均と標準偏差で標準化する standardize(x_train, x)")
def check_standardize(standardize):
    rng = np.random.default_rng(51)
    scale, offset = np.array([0.5, 8.0, 120.0]), np.array([6.0, 12.0, 400.0])   # columns of very different size
    x_train = rng.normal(size=(20, 3)) * scale + offset
    x = rng.normal(size=(6, 3)) * scale * 1.5 + offset + scale
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    want = (x - mean) / std
    mistakes = [
        ((x - x.mean(axis=0)) / x.std(axis=0),
         "新しいデータ x 自身の平均と標準偏差を使っています。x_train の平均と標準偏差で変換してください "
         "(学習したときと同じ変換でないと、モデルには別の値に見えます)。"),
        ((x - x_train.mean()) / x_train.std(),
         "配列全体で 1 つの平均・標準偏差を使っています。列ごとに x_train.mean(axis=0), x_train.std(axis=0) を使ってください。"),
        ((x - mean) / x_train.std(axis=0, ddof=1),
         "N - 1 で割る標準偏差を使っています (torch.std の既定や ddof=1)。この章と同じ x_train.std(axis=0) (N で割る) を使ってください。"),
        ((x - mean) / std ** 2, "分散で割っています。標準偏差 (分散の平方根) で割ってください。"),
        (x / std, "平均を引いていません。(x - 平均) / 標準偏差 です。"),
        (x - mean, "標準偏差で割っていません。(x - 平均) / 標準偏差 です。"),
    ]
    try:
        answer = standardize(x_train.copy(), x.copy())
    except (ValueError, RuntimeError) as error:
        if "broadcast" in str(error) or "size" in str(error):
            raise Wrong(f"形が合わず計算できません ({error})。平均と標準偏差は列ごと (axis=0) に求めると、"
                        "形が (列の数,) になり、x から引けます。") from None
        raise
    got = _as_array(answer, "答え")
    if got.shape != want.shape:
        raise Wrong(f"答えの形が {got.shape} です。x と同じ形 {want.shape} で返してください。")
    if _same(got, want):
        return
    for wrong, hint in mistakes:
        if _same(got, wrong):
            raise Wrong(hint)
    raise Wrong(f"値が違います (正しくは先頭の行が {want[0].round(4).tolist()}、あなたの答えは {got[0].round(4).tolist()})。")


def _train(net, inputs, labels, lr, num_epochs, zero_grad=True, view=True, loss=nn.MSELoss(), factor=1.0):
    """The loop of the exercise, with one of the usual mistakes switched on."""
    optimizer = optim.SGD(net.parameters(), lr=lr)
    target = labels.view(-1, 1) if view else labels
    losses = []
    for _ in range(num_epochs):
        if zero_grad:
            optimizer.zero_grad()
        value = loss(net(inputs), target) * factor
        value.backward()
        optimizer.step()
        losses.append(value.item())
    return losses


def _params(net):
    return torch.cat([p.detach().flatten() for p in net.parameters()])


@exercise("5.2", "線形回帰の学習ループ train_linear(net, inputs, labels, lr, num_epochs)")
def check_train_linear(train_linear):
    generator = torch.Generator().manual_seed(52)
    inputs = torch.randn(30, 3, generator=generator)
    labels = inputs @ torch.tensor([1.5, -2.0, 0.5]) + 3.0 + 0.3 * torch.randn(30, generator=generator)
    net = nn.Linear(3, 1)
    with torch.no_grad():
        net.weight.copy_(torch.randn(1, 3, generator=generator))
        net.bias.copy_(torch.randn(1, generator=generator))
    lr, num_epochs = 0.05, 25
    start = _params(net)

    variants = {}
    with warnings.catch_warnings():
        # the broadcasting mistake warns ("Using a target size ... different to the input size");
        # the check names that mistake itself
        warnings.filterwarnings(action="ignore", message="Using a target size", category=UserWarning)
        for name, options in {"right": {}, "no_zero_grad": {"zero_grad": False}, "no_view": {"view": False},
                              "half": {"factor": 0.5}, "l1": {"loss": nn.L1Loss()},
                              "sum": {"loss": nn.MSELoss(reduction="sum")}}.items():
            copied = copy.deepcopy(net)
            losses = _train(copied, inputs, labels, lr, num_epochs, **options)
            variants[name] = (_params(copied), losses)
        learner_net = copy.deepcopy(net)
        answer = train_linear(learner_net, inputs.clone(), labels.clone(), lr, num_epochs)

    got = _params(learner_net)
    want, want_losses = variants["right"]
    if torch.allclose(got, start):
        raise Wrong("学習してもパラメータが変わっていません。optim.SGD(net.parameters(), lr=lr) を作り、毎エポック "
                    "loss.backward() の後で optimizer.step() を呼んでいますか (zero_grad は backward より前です)。")
    hints = {
        "no_zero_grad": "毎エポックの最初に optimizer.zero_grad() を呼んでいますか? 呼ばないと勾配が前のエポックの分に足し込まれます。",
        "no_view": "labels を (N,) のまま損失に渡しています。labels.view(-1, 1) で出力と同じ (N, 1) の形にしてください "
                   "(そろえないとブロードキャストで (N, N) の誤った損失になります)。",
        "half": "損失を 2 で割っています。この演習では nn.MSELoss() の値をそのまま使います。",
        "l1": "損失が平均二乗誤差ではありません。nn.MSELoss() を使ってください。",
        "sum": "二乗誤差の「合計」を損失にしています。nn.MSELoss() (平均) を使ってください。",
    }
    if not torch.allclose(got, want, rtol=1e-4, atol=1e-5):
        for name, hint in hints.items():
            if torch.allclose(got, variants[name][0], rtol=1e-4, atol=1e-5):
                raise Wrong(hint)
        raise Wrong(f"{num_epochs} エポック学習した後のパラメータが違います (正しくは {want[:2].tolist()} …、"
                    f"あなたの結果は {got[:2].tolist()} …)。学習率 lr と最適化関数 optim.SGD を確かめてください。")
    if not isinstance(answer, (list, tuple)) or len(answer) != num_epochs:
        raise Wrong(f"各エポックの損失を、長さ num_epochs ({num_epochs}) のリストで返してください。")
    expect_number(answer[0], want_losses[0], "最初のエポックの損失 (更新する前の損失)")
    expect_number(answer[-1], want_losses[-1], "最後のエポックの損失")


@exercise("5.3", "決定係数 r2_score(y_pred, y_true)")
def check_r2_score(r2_score):
    generator = torch.Generator().manual_seed(53)
    y_true = 20 + 5 * torch.randn(40, generator=generator)
    cases = (("よい予測", y_true + 2 * torch.randn(40, generator=generator)),
             ("平均より悪い予測", y_true.mean() + 6 * torch.randn(40, generator=generator)))
    for label, y_pred in cases:
        residual = ((y_true - y_pred) ** 2).sum().item()
        total = ((y_true - y_true.mean()) ** 2).sum().item()
        want = 1 - residual / total
        answer = r2_score(y_pred.clone(), y_true.clone())
        if torch.is_tensor(answer) and answer.numel() == 1:
            answer = answer.item()
        if isinstance(answer, (int, float, np.number)) and not isinstance(answer, bool):
            got = float(answer)
            mistakes = [
                (residual / total, "「1 -」を忘れています。R² = 1 - (残差の二乗和) / (平均との差の二乗和) です。"),
                (1 - total / residual, "分子と分母が逆です。分子が予測の誤差、分母が正解と「正解の平均」との差です。"),
                (1 - residual / ((y_pred - y_pred.mean()) ** 2).sum().item(),
                 "分母に予測の平均・ばらつきを使っています (引数の順を逆にしていませんか)。分母は正解 y_true とその平均の差です。"),
                (residual / len(y_true), "それは平均二乗誤差 (MSE) です。R² は 1 - MSE / (正解の分散) です。"),
                (1 - residual / len(y_true), "MSE を正解のばらつきで割っていません。R² = 1 - MSE / (平均だけの予測の MSE) です。"),
                (float(np.corrcoef(y_pred.numpy(), y_true.numpy())[0, 1] ** 2),
                 "相関係数の 2 乗を計算しています。この演習の R² は 1 - (残差の二乗和) / (平均との差の二乗和) です "
                 "(予測が平均より悪いと負になります)。"),
            ]
            if abs(got - want) > 1e-4 * max(1.0, abs(want)):
                for wrong, hint in mistakes:
                    if abs(got - wrong) < 1e-4 * max(1.0, abs(wrong)):
                        raise Wrong(f"{label}で: {hint}")
        expect_number(answer, want, f"{label}の R²")
