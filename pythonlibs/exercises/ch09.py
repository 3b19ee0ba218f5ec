"""Checks of chapter 9's exercises: the output size of a convolution, the parameters of a
convolution layer, and a small CNN whose flatten size the learner computes."""

import math
import numbers

import torch
from torch import nn

from pythonlibs.exercises import Wrong, exercise

# (size, kernel_size, padding, stride): sizes the notebook never used, chosen so that every
# usual mistake below gives a different list of answers
CONV_CASES = [(37, 5, 2, 2), (50, 3, 0, 1), (29, 4, 1, 3), (64, 7, 3, 2), (13, 3, 1, 1),
              (21, 2, 0, 2), (40, 5, 0, 3), (18, 3, 2, 2)]


def _conv2d_size(size, kernel_size, padding, stride):
    """What nn.Conv2d really gives (the reference is PyTorch itself, not a formula)."""
    conv = nn.Conv2d(1, 1, kernel_size, stride=stride, padding=padding, bias=False)
    with torch.no_grad():
        return conv(torch.zeros(1, 1, size, size)).shape[-1]


CONV_SIZE_MISTAKES = [
    (lambda n, k, p, s: (n - k) // s + 1,
     "padding を足していません。パディングは上下 (左右) の両側に p 画素ずつ足すので、n + 2 × padding です。"),
    (lambda n, k, p, s: (n + p - k) // s + 1,
     "padding を 1 回しか足していません。パディングは両側に付くので 2 × padding です。"),
    (lambda n, k, p, s: n + 2 * p - k + 1,
     "stride で割っていません。窓を stride 画素ずつずらすので、(n + 2p - k) を stride で割ります。"),
    (lambda n, k, p, s: (n + 2 * p - k) // s,
     "最後の + 1 を忘れています。窓の最初の位置の 1 つ分を足してください (k = n のとき出力は 1)。"),
    (lambda n, k, p, s: math.ceil((n + 2 * p - k) / s) + 1,
     "割り算を切り上げています。はみ出す窓は使わないので、// (切り捨て) で割ります。"),
    (lambda n, k, p, s: (n + 2 * p - k) / s + 1,
     "/ で割ったので小数になっています。// (切り捨ての割り算) を使って整数にしてください。"),
]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@exercise("9.1", "畳み込みの出力サイズ conv_output_size(size, kernel_size, padding, stride)")
def check_conv_output_size(conv_output_size):
    answers = [conv_output_size(n, k, padding=p, stride=s) for n, k, p, s in CONV_CASES]
    truth = [_conv2d_size(*case) for case in CONV_CASES]
    if answers == truth and all(_is_int(a) for a in answers):
        return
    for mistake, hint in CONV_SIZE_MISTAKES:
        if all(a == mistake(*case) for a, case in zip(answers, CONV_CASES)):
            raise Wrong(hint)
    for answer, want, (n, k, p, s) in zip(answers, truth, CONV_CASES):
        if answer != want:
            raise Wrong(f"size={n}, kernel_size={k}, padding={p}, stride={s} のとき、nn.Conv2d の出力は "
                        f"{want} ですが、あなたの答えは {answer} です。"
                        "(size + 2 × padding - kernel_size) // stride + 1 の形を確かめてください。")
    odd = next(a for a in answers if not _is_int(a))
    raise Wrong(f"値は合っていますが、整数 (int) ではありません ({type(odd).__name__})。"
                "// で割れば int になります。")


# (in_channels, out_channels, kernel_size) the notebook never used
PARAMETER_CASES = [(5, 12, 3), (2, 7, 5), (16, 3, 4)]

PARAMETER_MISTAKES = [
    (lambda i, o, k: o * i * k * k, "バイアスを数えていません。出力チャネル 1 枚ごとにバイアスが 1 つあります (+ out_channels)。"),
    (lambda i, o, k: o * k * k + o,
     "入力チャネル数を掛けていません。出力チャネル 1 枚ごとに、入力の全チャネルにまたがる k×k の重みがあります "
     "(重みの形は (out_channels, in_channels, k, k))。"),
    (lambda i, o, k: o * i * k + o, "カーネルは k×k の正方形です。k ではなく k × k を掛けてください。"),
    (lambda i, o, k: o * i * k * k + i, "バイアスは出力チャネルごとに 1 つです (+ in_channels ではなく + out_channels)。"),
    (lambda i, o, k: i * k * k + o, "出力チャネル数を掛けていません。重みの形は (out_channels, in_channels, k, k) です。"),
]


@exercise("9.2", "畳み込み層のパラメータ数 conv_parameters(in_channels, out_channels, kernel_size)")
def check_conv_parameters(conv_parameters):
    for i, o, k in PARAMETER_CASES:
        answer = conv_parameters(i, o, k)
        want = sum(p.numel() for p in nn.Conv2d(i, o, k).parameters())
        if answer == want:
            continue
        for mistake, hint in PARAMETER_MISTAKES:
            if answer == mistake(i, o, k):
                raise Wrong(hint)
        raise Wrong(f"nn.Conv2d({i}, {o}, {k}) のパラメータは {want} 個ですが、あなたの答えは {answer} です。"
                    "重み (out_channels × in_channels × k × k) とバイアス (out_channels) を足してください。")


# (n_channels, image_size, n_output) the notebook never used
SMALL_CNN_CASES = [(1, 20, 4), (3, 30, 7), (2, 17, 5)]


def _flatten_size(image_size):
    """conv(3, padding=1) keeps the size, pool halves, conv(3) takes 2 away, pool halves; 32 channels."""
    side = (image_size // 2 - 2) // 2
    return 32 * side * side


FLATTEN_MISTAKES = [
    (lambda n: 32 * (((n - 2) // 2 - 2) // 2) ** 2,
     "conv1 の padding=1 を計算に入れていません。padding=1 の 3×3 畳み込みでは縦横は変わりません。"),
    (lambda n: 32 * (n // 4) ** 2,
     "conv2 にはパディングがないので、3×3 の畳み込みで縦横が 2 減ります (n - 3 + 1)。"),
    (lambda n: 32 * (n // 2 - 2) ** 2,
     "2 回目のプーリングを計算に入れていません。MaxPool2d(2) のたびに縦横が半分になります。"),
    (lambda n: 32 * (n - 2) ** 2,
     "プーリングを計算に入れていません。MaxPool2d(2) のたびに縦横が半分になります。"),
    (lambda n: ((n // 2 - 2) // 2) ** 2,
     "チャネル数を掛けていません。flatten の大きさは チャネル数 (32) × 高さ × 幅 です。"),
    (lambda n: 16 * ((n // 2 - 2) // 2) ** 2,
     "チャネル数が違います。最後の畳み込み conv2 の出力チャネル数は 32 です。"),
]


def _single_linear(net):
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if len(linears) != 1:
        raise Wrong(f"全結合層 (nn.Linear) は最後の 1 つだけにしてください (あなたのモデルには {len(linears)} 個)。")
    return linears[0]


def _check_convolutions(net, n_channels):
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    want = [(n_channels, 16, (3, 3), (1, 1)), (16, 32, (3, 3), (0, 0))]
    got = [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs]
    if got != want:
        raise Wrong(f"畳み込み層の設定が違います: 正しくは {want}、あなたのモデルは {got} "
                    "((入力チャネル, 出力チャネル, カーネル, padding) の順)。conv1 は Conv2d(n_channels, 16, 3, "
                    "padding=1)、conv2 は Conv2d(16, 32, 3) です。")
    if sum(isinstance(m, nn.MaxPool2d) for m in net.modules()) == 0:
        raise Wrong("MaxPool2d(2) がありません。")


@exercise("9.3", "flatten の大きさを計算して CNN を組み立てる SmallCNN(n_channels, image_size, n_output)")
def check_small_cnn(SmallCNN):
    generator = torch.Generator().manual_seed(93)
    sizes_seen = {}
    for n_channels, image_size, n_output in SMALL_CNN_CASES:
        net = SmallCNN(n_channels, image_size, n_output)
        if not isinstance(net, nn.Module):
            raise Wrong("SmallCNN は nn.Module を継承したクラスにしてください (class SmallCNN(nn.Module):)。")
        _check_convolutions(net, n_channels)
        linear = _single_linear(net)
        sizes_seen[image_size] = linear.in_features
        want = _flatten_size(image_size)
        if linear.in_features != want:
            for mistake, hint in FLATTEN_MISTAKES:
                if linear.in_features == mistake(image_size):
                    raise Wrong(f"image_size={image_size} のとき flatten の大きさは {want} ですが、あなたの "
                                f"nn.Linear の入力数は {linear.in_features} です。{hint}")
            if len(set(sizes_seen.values())) == 1 and len(sizes_seen) > 1:
                raise Wrong("画像の大きさを変えても nn.Linear の入力数が同じです。image_size から計算してください。")
            raise Wrong(f"image_size={image_size} のとき flatten の大きさは {want} ですが、あなたの nn.Linear の"
                        f"入力数は {linear.in_features} です。層ごとに縦横がどう変わるか、順に計算してください。")
        if linear.out_features != n_output:
            raise Wrong(f"最後の nn.Linear の出力数は n_output ({n_output}) にしてください "
                        f"(あなたのモデルは {linear.out_features})。")
        images = torch.randn(3, n_channels, image_size, image_size, generator=generator)
        with torch.no_grad():
            outputs = net(images)
        if not torch.is_tensor(outputs) or outputs.shape != (3, n_output):
            shape = tuple(outputs.shape) if torch.is_tensor(outputs) else type(outputs).__name__
            raise Wrong(f"出力の形が違います: 正しくは (3, {n_output})、あなたのモデルは {shape}。"
                        "forward で nn.Flatten() してから全結合層に渡していますか。")
        if (outputs >= 0).all() and (outputs == 0).any():
            raise Wrong("出力が ReLU を通っています。最後の全結合層の出力 (ロジット) はそのまま返してください。")
