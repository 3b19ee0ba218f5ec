"""Checks of chapter 8's exercises: an MLP class of given sizes, one training epoch over a
DataLoader, the accuracy over a DataLoader."""

import copy

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pythonlibs.exercises import Wrong, exercise, expect_number, expect_tensor


def _linears(net):
    return [m for m in net.modules() if isinstance(m, nn.Linear)]


@exercise("8.1", "隠れ層 2 層の MLP クラス MLP2(n_input, n_hidden1, n_hidden2, n_output)")
def check_mlp2(MLP2):
    sizes = (13, 7, 5, 4)
    torch.manual_seed(81)   # the check's own seed; the notebook's random stream is restored after
    net = MLP2(*sizes)
    if not isinstance(net, nn.Module):
        raise Wrong("MLP2 が nn.Module のクラスになっていません。class MLP2(nn.Module): と書き、"
                    "__init__ の最初で super().__init__() を呼んでください。")
    layers = _linears(net)
    want = [(sizes[1], sizes[0]), (sizes[2], sizes[1]), (sizes[3], sizes[2])]
    got = [tuple(layer.weight.shape) for layer in layers]
    if got != want:
        raise Wrong(f"MLP2{sizes} の Linear 層の重みの形が違います: 正しくは {want}、あなたのモデルは {got}。"
                    "nn.Linear(入力の数, 出力の数) を 3 つ、入力側から順に作ってください。")
    if any(layer.bias is None for layer in layers):
        raise Wrong("バイアスのない Linear 層があります。bias=False を付けずに作ってください。")
    generator = torch.Generator().manual_seed(82)
    x = torch.randn(6, sizes[0], generator=generator) * 3
    output = net(x)
    l1, l2, l3 = layers
    with torch.no_grad():
        right = l3(torch.relu(l2(torch.relu(l1(x)))))
        linear = l3(l2(l1(x)))
        one_relu = (l3(torch.relu(l2(l1(x)))), l3(l2(torch.relu(l1(x)))))
    if torch.is_tensor(output) and output.shape == right.shape:
        output = output.detach()
        if torch.allclose(output, torch.softmax(right, dim=1), atol=1e-6):
            raise Wrong("出力にソフトマックスをかけています。モデルはロジットをそのまま返し、ソフトマックスは "
                        "損失関数 (CrossEntropyLoss) に任せます。")
        if torch.allclose(output, torch.relu(right), atol=1e-6):
            raise Wrong("出力層のあとにも ReLU をかけています。ロジットは負にもなれるように、"
                        "最後の Linear の出力をそのまま返してください。")
        if torch.allclose(output, linear, atol=1e-5):
            raise Wrong("ReLU がありません。Linear を重ねるだけでは 1 つの線形関数と同じです。"
                        "隠れ層の Linear のあとに ReLU をはさんでください。")
        if any(torch.allclose(output, o, atol=1e-5) for o in one_relu):
            raise Wrong("ReLU が 1 つ足りません。隠れ層 2 つのそれぞれのあとに ReLU をはさみます。")
    expect_tensor(output, right, "モデルの出力 (ロジット)")


class _Recorder(nn.Module):
    """A linear classifier that records, at each forward, (training mode, grad enabled)."""

    def __init__(self, n_input: int, n_output: int, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.l1 = nn.Linear(n_input, n_output)
        with torch.no_grad():
            self.l1.weight.copy_(torch.randn(n_output, n_input, generator=generator) * 0.5)
            self.l1.bias.copy_(torch.randn(n_output, generator=generator) * 0.5)
        self.modes = []

    def forward(self, x):
        self.modes.append((self.training, torch.is_grad_enabled()))
        return self.l1(x)


def _loader(seed: int, n: int = 23, n_input: int = 5, n_classes: int = 3, batch_size: int = 8):
    """A DataLoader whose last batch is smaller (23 = 8 + 8 + 7), in a fixed order."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, n_input, generator=generator)
    labels = torch.randint(0, n_classes, (n,), generator=generator)
    return DataLoader(TensorDataset(inputs, labels), batch_size=batch_size, shuffle=False)


def _reference_epoch(net, loader, lr: float, zero_grad: bool = True):
    """(per-sample mean loss, mean of batch losses, parameters) after one epoch on a copy."""
    net = copy.deepcopy(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    total, n, batch_means = 0.0, 0, []
    for inputs, labels in loader:
        if zero_grad:
            optimizer.zero_grad()
        loss = criterion(net(inputs), labels)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(labels)
        n += len(labels)
        batch_means.append(loss.item())
    params = torch.cat([p.detach().flatten() for p in net.parameters()])
    return total / n, sum(batch_means) / len(batch_means), total, params


@exercise("8.2", "DataLoader で 1 エポック学習する train_one_epoch(net, loader, criterion, optimizer)")
def check_train_one_epoch(train_one_epoch):
    lr = 0.5
    net = _Recorder(5, 3, seed=83)
    loader = _loader(84)
    per_sample, per_batch, total, params = _reference_epoch(net, loader, lr)
    _, _, _, params_no_zero = _reference_epoch(net, loader, lr, zero_grad=False)
    net.eval()   # left in evaluation mode, as after a validation phase
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    answer = train_one_epoch(net, loader, nn.CrossEntropyLoss(), optimizer)
    if not net.modes:
        raise Wrong("モデルを呼んでいません。ローダから (inputs, labels) を取り出し、outputs = net(inputs) で予測してください。")
    if not all(training for training, _ in net.modes):
        raise Wrong("学習の前に net.train() を呼んでいません。検証のあとのモデルは評価モードのままです。"
                    "ドロップアウトなどの層が学習時の動きをするように、ループの前で net.train() を呼びます。")
    got = torch.cat([p.detach().flatten() for p in net.parameters()])
    if torch.allclose(got, params_no_zero, atol=1e-6) and not torch.allclose(got, params, atol=1e-6):
        raise Wrong("ミニバッチごとに optimizer.zero_grad() を呼んでいません。呼ばないと前のバッチの勾配に "
                    "足し込まれて、2 バッチ目から更新がずれます。")
    expect_tensor(got, params, "1 エポック後のパラメータ")
    if torch.is_tensor(answer) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, float):
        if abs(answer - per_batch) < 1e-6:
            raise Wrong("バッチごとの損失の平均を、さらにバッチ数で平均しています。最後のバッチは件数が少ない "
                        "(8, 8, 7 件) ので、1 件あたりの平均になりません。loss.item() * len(labels) を足し、"
                        "最後に総件数で割ってください。")
        if abs(answer - total) < 1e-5:
            raise Wrong("損失の合計を返しています。最後に総件数で割って、1 件あたりの平均にしてください。")
    expect_number(answer, per_sample, "返した平均損失")


@exercise("8.3", "DataLoader 全体の精度を求める evaluate_accuracy(net, loader)")
def check_evaluate_accuracy(evaluate_accuracy):
    net = _Recorder(5, 3, seed=85)
    loader = _loader(86)
    net.train()   # left in training mode, as after a training epoch
    answer = evaluate_accuracy(net, loader)
    correct, n, batch_accs = 0, 0, []
    with torch.no_grad():
        for inputs, labels in loader:
            hits = (net.l1(inputs).argmax(dim=1) == labels).sum().item()
            correct += hits
            n += len(labels)
            batch_accs.append(hits / len(labels))
    if not net.modes:
        raise Wrong("モデルを呼んでいません。ローダから (inputs, labels) を取り出し、net(inputs) で予測してください。")
    if torch.is_tensor(answer) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        if abs(answer - sum(batch_accs) / len(batch_accs)) < 1e-6 and abs(answer - correct / n) > 1e-6:
            raise Wrong("バッチごとの精度をバッチ数で平均しています。最後のバッチは件数が少ない (8, 8, 7 件) ので、"
                        "正解数を合計して総件数で割ってください。")
        if abs(answer - correct) < 1e-9 and correct != correct / n:
            raise Wrong(f"正解数 ({correct}) を返しています。総件数 {n} で割って割合にしてください。")
    expect_number(answer, correct / n, "精度")
    if any(training for training, _ in net.modes):
        raise Wrong("評価の前に net.eval() を呼んでいません。学習のあとのモデルは訓練モードのままです。")
    if any(grad for _, grad in net.modes):
        raise Wrong("with torch.no_grad(): の中で予測していません。評価には勾配がいらないので、"
                    "計算グラフを作らないようにします (速く、メモリも使いません)。")
