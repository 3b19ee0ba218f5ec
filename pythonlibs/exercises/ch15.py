"""Checks of chapter 15's exercises: a random crop of each image of a batch, the one-cycle
learning-rate factor, label-smoothing targets, and test-time augmentation with mirror images."""

import contextlib
import copy

import torch
import torch.nn.functional as F
from torch import nn

from pythonlibs.exercises import Wrong, exercise, expect_close, expect_number, expect_tensor
from pythonlibs.fast_cifar import lr_factor


@contextlib.contextmanager
def _one_thread():
    """Tensors this small run faster, and steadily, on one thread (many threads wait on each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# 15.1 a random crop with padding, one window per image
# ---------------------------------------------------------------------------------------------

def _window_offset(output, padded, height, width):
    """(dy, dx) of the window of ``padded`` (C, H + 2p, W + 2p) equal to ``output``, or None."""
    for dy in range(padded.shape[1] - height + 1):
        for dx in range(padded.shape[2] - width + 1):
            if torch.allclose(output, padded[:, dy:dy + height, dx:dx + width]):
                return dy, dx
    return None


def _crop_images(seed: int, n: int = 48, size: int = 6):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=generator) + 2   # no pixel is 0 like the padding


@exercise("15.1", "1 枚ずつ違う位置で切り抜く crop_each(images, pad)")
def check_crop_each(crop_each):
    pad = 2
    images = _crop_images(151)
    n, c, h, w = images.shape
    original = images.clone()
    torch.manual_seed(1501)          # the learner's torch.randint draws repeat from run to run
    with _one_thread():
        answer = crop_each(images, pad)
    if not torch.equal(images, original):
        raise Wrong("引数の images を書き換えています。F.pad などで新しいテンソルを作り、元の画像は変えないでください。")
    if torch.is_tensor(answer) and tuple(answer.shape) == (n, c, h + 2 * pad, w + 2 * pad):
        raise Wrong("パディングしただけで、切り抜いていません。パディングした画像から元と同じ "
                    f"{h}×{w} の窓を切り出してください。")
    if not torch.is_tensor(answer) or answer.shape != images.shape:
        expect_tensor(answer, images, "切り抜いた画像")   # says what is wrong with the type or shape
    padded = F.pad(images, (pad, pad, pad, pad))
    reflected = F.pad(images, (pad, pad, pad, pad), mode="reflect")
    offsets = []
    for i in range(n):
        found = _window_offset(answer[i], padded[i], h, w)
        if found is None:
            if _window_offset(answer[i], reflected[i], h, w) is not None:
                raise Wrong("パディングが 0 ではありません (反射パディングになっています)。"
                            "F.pad(images, (pad, pad, pad, pad)) の既定どおり 0 で埋めてください。")
            if _window_offset(answer[i], padded[i].flip(2), h, w) is not None:
                raise Wrong("画像を左右反転しています。この演習は切り抜きだけです (反転は random_flip の役目)。")
            if any(_window_offset(answer[i], padded[j], h, w) is not None for j in range(n) if j != i):
                raise Wrong(f"{i} 番目の出力が、別の画像から切り抜いた窓になっています。"
                            "i 番目の出力は i 番目の画像から切り抜いてください。")
            raise Wrong(f"{i} 番目の出力が、{i} 番目の画像を {pad} 画素ずつ 0 でパディングした画像の "
                        f"{h}×{w} の窓のどれとも一致しません。切り抜く範囲 [dy:dy + H, dx:dx + W] を確かめてください。")
        offsets.append(found)
    if len(set(offsets)) == 1:
        dy, dx = offsets[0]
        raise Wrong(f"全部の画像を同じ位置 (dy={dy}, dx={dx}) で切り抜いています。ずらし幅は 1 枚ごとに "
                    "torch.randint(0, 2 * pad + 1, (N,)) のように画像の枚数だけ引いてください。")
    shifts = torch.tensor(offsets)
    if shifts.max() < 2 * pad or shifts.min() > 0:
        raise Wrong(f"ずらし幅が 0〜{2 * pad} の全体から選ばれていません (出てきた値: {shifts.min().item()}〜"
                    f"{shifts.max().item()})。torch.randint の上限は含まれないので torch.randint(0, 2 * pad + 1, ...) です。")


# ---------------------------------------------------------------------------------------------
# 15.2 the one-cycle learning-rate factor
# ---------------------------------------------------------------------------------------------

_ONECYCLE_CASES = [dict(total_steps=100), dict(total_steps=37, warmup_frac=0.3, start=0.1, end=0.02)]


def _onecycle_variant(step, total_steps, warmup_frac=0.23, start=0.2, end=0.07, *, int_warmup=True,
                      down_over=None, end_value=None, start_value=None):
    """lr_factor with one mistake switched on (for recognising wrong answers)."""
    warmup = int(total_steps * warmup_frac) if int_warmup else total_steps * warmup_frac
    start = start if start_value is None else start_value
    end = end if end_value is None else end_value
    if step < warmup:
        return start + (1 - start) * step / warmup
    length = total_steps - warmup if down_over is None else down_over(total_steps, warmup)
    return 1 + (end - 1) * min(1.0, (step - warmup) / length)


_ONECYCLE_MISTAKES = [
    (dict(int_warmup=False), "ウォームアップのステップ数を int() で切り捨てていません。"
     "warmup = int(total_steps * warmup_frac) にしてください。"),
    (dict(end_value=0.0), "最後に 0 まで下げています。下り坂の終点は 0 ではなく end (既定 0.07) です。"),
    (dict(start_value=0.0), "0 から上げ始めています。ステップ 0 の倍率は start (既定 0.2) です。"),
    (dict(down_over=lambda total, warmup: total), "下り坂の長さが total_steps になっています。"
     "ウォームアップの後の残り total_steps - warmup ステップで 1 から end まで下げてください。"),
]


@exercise("15.2", "one-cycle 学習率の倍率 onecycle_factor(step, total_steps, ...)")
def check_onecycle_factor(onecycle_factor):
    for case in _ONECYCLE_CASES:
        total = case["total_steps"]
        options = {k: v for k, v in case.items() if k != "total_steps"}
        got = []
        for step in range(total + 1):
            value = onecycle_factor(step, total, **options)
            if torch.is_tensor(value) and value.numel() == 1:
                value = value.item()
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise Wrong(f"倍率は数 (float) で返してください (あなたの答えは {type(value).__name__})。")
            got.append(float(value))
        want = [lr_factor(step, total, "onecycle", **options) for step in range(total + 1)]
        if all(abs(g - w) < 1e-9 for g, w in zip(got, want)):
            continue
        for mistake, hint in _ONECYCLE_MISTAKES:
            wrong = [_onecycle_variant(step, total, **options, **mistake) for step in range(total + 1)]
            if all(abs(g - v) < 1e-9 for g, v in zip(got, wrong)):
                raise Wrong(hint)
        step = next(s for s, (g, w) in enumerate(zip(got, want)) if abs(g - w) >= 1e-9)
        expect_number(got[step], want[step], f"total_steps={total}, {options or '既定の引数'} の "
                                             f"step={step} の倍率")


# ---------------------------------------------------------------------------------------------
# 15.3 label-smoothing targets
# ---------------------------------------------------------------------------------------------

@exercise("15.3", "ラベル平滑化の目標 smooth_targets(labels, num_classes, eps)")
def check_smooth_targets(smooth_targets):
    generator = torch.Generator().manual_seed(153)
    num_classes, eps = 6, 0.3
    labels = torch.randint(0, num_classes, (9,), generator=generator)
    answer = smooth_targets(labels, num_classes, eps)
    one_hot = F.one_hot(labels, num_classes).double()
    want = (1 - eps) * one_hot + eps / num_classes
    if torch.is_tensor(answer):
        if tuple(answer.shape) == (num_classes, len(labels)):
            raise Wrong(f"形が (クラス数, 件数) = {tuple(answer.shape)} になっています。1 行が 1 件、"
                        f"1 列が 1 クラスの ({len(labels)}, {num_classes}) にしてください。")
        if answer.shape == want.shape:
            got = answer.double()
            others = (1 - one_hot) * eps / (num_classes - 1)
            if torch.allclose(got, (1 - eps) * one_hot + others):
                raise Wrong(f"ε を正解以外の {num_classes - 1} クラスだけに ε/(K-1) ずつ配っています。PyTorch の "
                            "label_smoothing は ε を正解も含む全 K クラスに ε/K ずつ配ります: (1 - ε)·one-hot + ε/K。")
            if torch.allclose(got, one_hot + eps / num_classes):
                raise Wrong("各行の合計が 1 になっていません (1 + ε)。one-hot に (1 - ε) を掛けてから ε/K を足してください。")
            if not torch.allclose(got.sum(1), torch.ones(len(labels), dtype=torch.float64)):
                raise Wrong(f"各行の合計が 1 になっていません (あなたの答えの 1 行目の合計 {got[0].sum().item():.4f})。"
                            "目標は確率の分布なので、どの行も合計 1 です。")
    expect_tensor(answer, want.float(), "平滑化した目標")


# ---------------------------------------------------------------------------------------------
# 15.4 test-time augmentation: average the logits of each image and its mirror image
# ---------------------------------------------------------------------------------------------

def _tta_model():
    """A small CNN with BatchNorm whose running statistics differ from a batch's (train mode)."""
    generator = torch.Generator().manual_seed(154)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 6 * 6, 5))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
        net[1].running_mean.copy_(torch.randn(4, generator=generator))
        net[1].running_var.copy_(torch.rand(4, generator=generator) + 0.5)
    images = torch.randn(6, 3, 8, 8, generator=generator)
    return net.train(), images


def _mirror_mean(net, images, flip_dim=3, probabilities=False, scale=0.5):
    with torch.no_grad():
        a, b = net(images), net(images.flip(flip_dim))
        if probabilities:
            a, b = a.softmax(1), b.softmax(1)
        return scale * (a + b)


@exercise("15.4", "左右反転の TTA tta_mirror_logits(model, images)")
def check_tta_mirror_logits(tta_mirror_logits):
    with _one_thread():
        _check_tta(tta_mirror_logits)


def _check_tta(tta_mirror_logits):
    net, images = _tta_model()
    original = images.clone()
    answer = tta_mirror_logits(copy.deepcopy(net), images)
    if not torch.equal(images, original):
        raise Wrong("引数の images を書き換えています (flip_ など)。images.flip(3) は新しいテンソルを返すので、それを使ってください。")
    evaluated = copy.deepcopy(net).eval()
    want = _mirror_mean(evaluated, images)
    if torch.is_tensor(answer) and answer.shape == want.shape:
        got = answer.detach()
        if torch.allclose(got, _mirror_mean(copy.deepcopy(net).train(), images), atol=1e-5):
            raise Wrong("モデルが学習モード (train) のまま予測しています。BatchNorm がいまのバッチの統計で正規化するので、"
                        "予測がバッチの中身で変わります。最初に model.eval() を呼んでください (第 13 章 13.7 節の eval() 忘れ)。")
        mistakes = [
            (dict(flip_dim=2), "上下に反転しています。画像の形は (N, C, H, W) なので、左右反転は幅の次元 3 です: images.flip(3)。"),
            (dict(flip_dim=1), "チャネルの並び (RGB) を反転しています。左右反転は幅の次元 3 です: images.flip(3)。"),
            (dict(probabilities=True), "softmax した確率を平均しています。この演習ではロジット (model の出力そのもの) を平均してください。"),
            (dict(scale=1.0), "2 つのロジットを足しただけで、2 で割っていません。平均にしてください。"),
        ]
        for options, hint in mistakes:
            if torch.allclose(got, _mirror_mean(evaluated, images, **options), atol=1e-5):
                raise Wrong(hint)
        with torch.no_grad():
            if torch.allclose(got, evaluated(images), atol=1e-5):
                raise Wrong("元の画像の予測だけです。左右反転した画像 images.flip(3) の予測と平均してください。")
    expect_tensor(answer, want, "TTA のロジット")
    if answer.requires_grad:
        raise Wrong("結果に計算グラフが付いています。評価には学習が要らないので、with torch.no_grad(): の中で計算してください。")
    expect_close(answer, want, "TTA のロジット")
