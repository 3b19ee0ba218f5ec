"""Checks of chapter 10's exercises: evaluation in eval mode without gradients (a bug of a
training loop, found on a small model trained on scikit-learn's digits), a convolution block
with BatchNorm and dropout in their places, and one step of SGD with momentum."""

import copy
import math
from functools import lru_cache

import torch
from torch import nn

from pythonlibs.exercises import Wrong, exercise, expect_number


@lru_cache(maxsize=1)
def _digits():
    """scikit-learn's 8x8 digits (1,797 real images, bundled, no download) as tensors in [0, 1]."""
    from sklearn.datasets import load_digits
    data = load_digits()
    return (torch.tensor(data.data, dtype=torch.float32) / 16, torch.tensor(data.target))


def _digits_model():
    return nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(32, 10))


@lru_cache(maxsize=None)
def _trained_weights(seed: int):
    """The weights of a small MLP with BatchNorm and dropout, trained briefly on part of the
    digits, and the indices of the digits it has not seen (trained once, then reused)."""
    x, y = _digits()
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=generator)
    train, test = order[:1200], order[1200:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # tensors this small train faster, and steadily, on one thread
    try:
        torch.manual_seed(seed)
        net = _digits_model()
        for _ in range(30):   # plain gradient descent by hand (torch.optim's first step is slow to load)
            net.zero_grad()
            nn.functional.cross_entropy(net(x[train]), y[train]).backward()
            with torch.no_grad():
                for parameter in net.parameters():
                    parameter -= 0.5 * parameter.grad
    finally:
        torch.set_num_threads(threads)
    return copy.deepcopy(net.state_dict()), test


def _trained_digits_model(seed: int):
    """The trained model in train() mode, as in the middle of a training loop, with the digits it
    has not seen."""
    weights, test = _trained_weights(seed)
    net = _digits_model()
    net.load_state_dict(weights)
    net.train()
    x, y = _digits()
    return net, x[test], y[test]


def _reference_accuracy(net, inputs, labels) -> float:
    reference = copy.deepcopy(net).eval()
    with torch.no_grad():
        return (reference(inputs).argmax(dim=1) == labels).float().mean().item()


@exercise("10.1", "評価のバグを直す evaluate_accuracy(net, inputs, labels)")
def check_evaluate_accuracy(evaluate_accuracy):
    net, inputs, labels = _trained_digits_model(101)
    want = _reference_accuracy(net, inputs, labels)
    dropout = net[3]
    seen = []   # (dropout in training mode?, gradients recorded?) at every forward pass
    dropout.register_forward_pre_hook(lambda module, args: seen.append((module.training,
                                                                        torch.is_grad_enabled())))
    answer = evaluate_accuracy(net, inputs, labels)
    if not seen:
        raise Wrong("net に inputs を通していません。outputs = net(inputs) で予測してください。")
    if any(training for training, _ in seen):
        raise Wrong("評価モードにしていません (net.eval() がありません)。訓練モードのままだとドロップアウトが"
                    "呼ぶたびに違うニューロンを 0 にするので精度が毎回変わり、BatchNorm は running_mean / "
                    "running_var を検証データで書き換えてしまいます。")
    if any(grad for _, grad in seen):
        raise Wrong("torch.no_grad() の中で予測していません。評価では勾配は要らないので、"
                    "with torch.no_grad(): の中で net(inputs) を呼びます (計算グラフを作らないので速く、"
                    "メモリも少なくて済みます)。")
    if torch.is_tensor(answer) and answer.numel() == 1:
        answer = answer.item()
    if isinstance(answer, (int, float)) and math.isclose(answer, want * len(labels), rel_tol=1e-6):
        raise Wrong(f"正解の「数」({answer}) を返しています。件数 ({len(labels)}) で割って、割合 (0〜1) にしてください。")
    expect_number(answer, want, "精度")
    if not net.training:
        raise Wrong("評価のあとで訓練モードに戻していません。このまま学習を続けると、ドロップアウトも "
                    "BatchNorm の統計の更新も止まったままになります。最後に net.train() で戻してください。")
    net.eval()
    evaluate_accuracy(net, inputs, labels)
    if net.training:
        raise Wrong("評価モードだったモデルを訓練モードにしてしまいます。呼ぶ前のモードを "
                    "was_training = net.training で覚えておき、最後に net.train(was_training) で戻してください。")


BLOCK_TYPES = [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d,
               nn.Dropout]
BLOCK_NAMES = " → ".join(t.__name__ for t in BLOCK_TYPES)


def _check_block_order(layers):
    types = [type(m) for m in layers]
    if nn.BatchNorm1d in types:
        raise Wrong("画像 (N, C, H, W) の正規化には BatchNorm1d ではなく BatchNorm2d を使います。")
    if types == BLOCK_TYPES:
        return
    names = " → ".join(t.__name__ for t in types)
    if sorted(t.__name__ for t in types) == sorted(t.__name__ for t in BLOCK_TYPES):
        if types.index(nn.Dropout) < types.index(nn.MaxPool2d):
            raise Wrong(f"ドロップアウトはプーリングの後に置きます (この章の CNN_v3・CNN_v4 と同じ)。あなたの並び: {names}")
        if types.index(nn.ReLU) < types.index(nn.BatchNorm2d):
            raise Wrong("BatchNorm2d は畳み込みの直後、ReLU の前に置きます (Conv2d → BatchNorm2d → ReLU)。"
                        f"あなたの並び: {names}")
    if types.count(nn.BatchNorm2d) < 2:
        raise Wrong(f"BatchNorm2d は畳み込み 1 つごとに 1 つ、合わせて 2 つ置きます。あなたの並び: {names}")
    if nn.Dropout not in types:
        raise Wrong(f"最後にドロップアウト nn.Dropout(p) がありません。あなたの並び: {names}")
    raise Wrong(f"層の並びが違います。正しくは {BLOCK_NAMES}、あなたの並びは {names} です。")


def _check_block_settings(layers, in_channels, out_channels, p):
    conv1, bn1, _, conv2, bn2, _, pool, dropout = layers
    if bn1 is bn2:
        raise Wrong("1 つの BatchNorm2d を 2 か所で使い回しています。BatchNorm は場所ごとに統計 (running_mean / "
                    "running_var) と γ・β を持つので、置く場所ごとに別のインスタンスを作ってください。")
    for name, conv, c_in in (("1 つ目", conv1, in_channels), ("2 つ目", conv2, out_channels)):
        if (conv.in_channels, conv.out_channels) != (c_in, out_channels):
            raise Wrong(f"{name}の畳み込みのチャネル数が違います: 正しくは Conv2d({c_in}, {out_channels}, 3, padding=1)、"
                        f"あなたの答えは入力 {conv.in_channels}・出力 {conv.out_channels}。")
        if conv.kernel_size != (3, 3):
            raise Wrong(f"{name}の畳み込みのカーネルは 3×3 にしてください (あなたの答えは {conv.kernel_size})。")
        if conv.padding != (1, 1):
            raise Wrong(f"{name}の畳み込みに padding=1 がありません。パディングがないと 3×3 の畳み込みのたびに"
                        "縦横が 2 ずつ減ります。")
    for bn in (bn1, bn2):
        if bn.num_features != out_channels:
            raise Wrong(f"BatchNorm2d の引数は、直前の畳み込みの出力チャネル数 ({out_channels}) です "
                        f"(あなたの答えは {bn.num_features})。")
    if pool.kernel_size not in (2, (2, 2)):
        raise Wrong(f"プーリングは MaxPool2d(2) にしてください (あなたの答えは kernel_size={pool.kernel_size})。")
    if not math.isclose(dropout.p, p):
        raise Wrong(f"ドロップアウトの確率は引数 p ({p}) を使ってください (あなたの答えは {dropout.p})。")


@exercise("10.2", "BatchNorm とドロップアウトを正しい場所に置く make_block(in_channels, out_channels, p)")
def check_make_block(make_block):
    generator = torch.Generator().manual_seed(102)
    for in_channels, out_channels, p in [(5, 12, 0.25), (2, 6, 0.35)]:
        block = make_block(in_channels, out_channels, p)
        if not isinstance(block, nn.Sequential):
            raise Wrong("nn.Sequential(...) に層を順に並べて返してください。")
        layers = list(block)   # a module used twice appears twice here
        _check_block_order(layers)
        _check_block_settings(layers, in_channels, out_channels, p)
        outputs = block(torch.randn(4, in_channels, 10, 10, generator=generator))
        if outputs.shape != (4, out_channels, 5, 5):
            raise Wrong(f"出力の形が違います: 入力 (4, {in_channels}, 10, 10) に対して正しくは "
                        f"(4, {out_channels}, 5, 5)、あなたのブロックは {tuple(outputs.shape)}。")


def _trajectory(w0, curvature, lr, momentum, steps, rule):
    """w after each step on the loss sum(curvature * w**2) / 2 (gradient curvature * w)."""
    w, velocity, path = w0.clone(), torch.zeros_like(w0), []
    for _ in range(steps):
        w, velocity = rule(w, curvature * w, velocity, lr, momentum)
        path.append(w.clone())
    return torch.stack(path)


def _pytorch_sgd(w0, curvature, lr, momentum, steps):
    w = w0.clone().requires_grad_()
    optimizer = torch.optim.SGD([w], lr=lr, momentum=momentum)
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        (curvature * w ** 2).sum().div(2).backward()
        optimizer.step()
        path.append(w.detach().clone())
    return torch.stack(path)


MOMENTUM_MISTAKES = [
    (lambda w, g, v, lr, m: (w - lr * g, v),
     "速度 (velocity) を使っていません (素の SGD と同じ動きです)。velocity = momentum × velocity + grad で"
     "速度を更新し、w - lr × velocity で進んで、新しい velocity も返してください。"),
    (lambda w, g, v, lr, m: (w - lr * (m * v + (1 - m) * g), m * v + (1 - m) * g),
     "勾配に (1 - momentum) を掛けています。PyTorch の SGD の momentum は velocity = momentum × velocity + grad "
     "です (勾配をそのまま足します)。"),
    (lambda w, g, v, lr, m: (w + lr * (m * v + g), m * v + g),
     "逆向きに進んでいます。w - lr × velocity です (勾配は損失が増える向き)。"),
    (lambda w, g, v, lr, m: (w - lr * (v + m * g), v + m * g),
     "momentum を掛ける相手が逆です。古い速度に momentum を掛けて、新しい勾配を足します: "
     "velocity = momentum × velocity + grad。"),
]


@exercise("10.3", "momentum 付き SGD の 1 ステップ momentum_step(w, grad, velocity, lr, momentum)")
def check_momentum_step(momentum_step):
    generator = torch.Generator().manual_seed(103)
    curvature = torch.rand(6, generator=generator) * 2 + 0.2
    w0 = torch.randn(6, generator=generator)
    lr, momentum, steps = 0.05, 0.8, 6
    first = momentum_step(w0.clone(), curvature * w0, torch.zeros_like(w0), lr, momentum)
    if not isinstance(first, (tuple, list)) or len(first) != 2 or not all(torch.is_tensor(t) for t in first):
        raise Wrong("(新しい w, 新しい velocity) の 2 つのテンソルを tuple で返してください "
                    "(例: return w, velocity)。")
    if first[0].shape != w0.shape:
        raise Wrong(f"返した w の形が違います: 正しくは {tuple(w0.shape)}、あなたの答えは {tuple(first[0].shape)}。")
    got = _trajectory(w0, curvature, lr, momentum, steps, momentum_step)
    want = _pytorch_sgd(w0, curvature, lr, momentum, steps)
    if torch.allclose(got, want, atol=1e-6):
        return
    for mistake, hint in MOMENTUM_MISTAKES:
        if torch.allclose(got, _trajectory(w0, curvature, lr, momentum, steps, mistake), atol=1e-6):
            raise Wrong(hint)
    step = int((~torch.isclose(got, want, atol=1e-6)).any(dim=1).nonzero()[0]) + 1
    raise Wrong(f"{step} ステップ目の w が optim.SGD(momentum={momentum}) と違います。"
                "velocity = momentum × velocity + grad、w = w - lr × velocity の順に計算してください。")
