"""Checks of chapter 3's exercises: a loss, a gradient by hand, one step of gradient descent."""

import torch

from pythonlibs.exercises import Wrong, exercise, expect_close, expect_number, expect_tensor


def _data(seed: int, n: int = 7):
    """Inputs the notebook never showed: centred heights and weights of ``n`` people."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=generator) * 5
    y = 0.8 * x + torch.randn(n, generator=generator)
    return x, y


@exercise("3.1", "平均絶対誤差 mae(yp, y)")
def check_mae(mae):
    yp, y = _data(31)
    yp.requires_grad_()   # like a prediction: the loss must keep its computation graph
    answer = mae(yp, y)
    error = (yp - y).detach()
    if torch.is_tensor(answer) and answer.numel() == 1:
        got = answer.item()
        if abs(got - (error ** 2).mean().item()) < 1e-5:
            raise Wrong("差を 2 乗しています (それは平均二乗誤差)。2 乗の代わりに絶対値 .abs() を取ってください。")
        if abs(got - error.abs().sum().item()) < 1e-4:
            raise Wrong("絶対値の「合計」になっています。件数で割って平均にしてください (.mean())。")
        if abs(got - abs(error.mean().item())) < 1e-5 or abs(got - error.mean().item()) < 1e-5:
            raise Wrong("平均してから絶対値を取っていませんか (あるいは絶対値を忘れていませんか)。"
                        "先に差の絶対値を取り、その平均を計算してください。")
    expect_tensor(answer, error.abs().mean(), "損失")
    if not answer.requires_grad:
        raise Wrong("損失に計算グラフがありません (backward() できません)。.item() や NumPy を使わず、"
                    "テンソルの演算だけで計算してください。")


def _reference_gradients(x, y, w, b):
    w_, b_ = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    ((w_ * x + b_ - y) ** 2).mean().backward()
    return w_.grad.item(), b_.grad.item()


@exercise("3.2", "勾配を手計算する gradients(x, y, w, b)")
def check_gradients(gradients):
    x, y = _data(32)
    w, b = 0.3, -0.7
    answer = gradients(x, y, w, b)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong("(dL/dW, dL/dB) の 2 つを tuple で返してください (例: return grad_w, grad_b)。")
    grad_w, grad_b = (float(v) for v in answer)
    want_w, want_b = _reference_gradients(x, y, w, b)
    if abs(grad_w - want_w / 2) < 1e-4 and abs(grad_b - want_b / 2) < 1e-4:
        raise Wrong("値がちょうど半分です。(予測 - 正解)² を微分すると 2 × (予測 - 正解) になる、2 倍を忘れていませんか。")
    if abs(grad_w + want_w) < 1e-4 and abs(grad_b + want_b) < 1e-4:
        raise Wrong("符号が逆です。(予測 - 正解) の順に引いてください (正解 - 予測 ではなく)。")
    if abs(grad_w - want_w * len(x)) < 1e-3 and abs(grad_b - want_b * len(x)) < 1e-3:
        raise Wrong(f"値が件数 ({len(x)}) 倍です。損失は平均なので、勾配も合計ではなく平均を取ります。")
    expect_number(grad_w, want_w, "dL/dW")
    expect_number(grad_b, want_b, "dL/dB")


def _step_reference(x, y, w, b, lr, steps):
    W, B = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    for _ in range(steps):
        ((W * x + B - y) ** 2).mean().backward()
        with torch.no_grad():
            W -= lr * W.grad
            B -= lr * B.grad
            W.grad.zero_()
            B.grad.zero_()
    return W.item(), B.item()


@exercise("3.3", "勾配降下法の 1 ステップ gd_step(W, B, x, y, lr)")
def check_gd_step(gd_step):
    x, y = _data(33)
    lr = 0.01
    W, B = torch.tensor(0.2, requires_grad=True), torch.tensor(0.5, requires_grad=True)
    loss = gd_step(W, B, x, y, lr)
    expect_number(loss, ((0.2 * x + 0.5 - y) ** 2).mean().item(), "返した損失 (更新する前の損失)")
    if not (W.is_leaf and W.requires_grad and B.is_leaf and B.requires_grad):
        raise Wrong("W, B を作り直しています。with torch.no_grad(): の中で W -= lr * W.grad のように、"
                    "同じテンソルをその場で書き換えてください。")
    if W.item() == 0.2 and B.item() == 0.5:
        raise Wrong("W と B が変わっていません。W -= lr * W.grad (B も同じ) で更新してください。")
    want_w, want_b = _step_reference(x, y, 0.2, 0.5, lr, 1)
    if abs(W.item() - (0.2 + (0.2 - want_w))) < 1e-6:
        raise Wrong("逆向きに動いています。勾配は損失が増える向きなので、W += ではなく W -= lr * W.grad です。")
    expect_close(torch.tensor([W.item(), B.item()]), torch.tensor([want_w, want_b]), "1 ステップ後の W, B")
    gd_step(W, B, x, y, lr)   # a second step shows whether the gradients were reset
    want_w, want_b = _step_reference(x, y, 0.2, 0.5, lr, 2)
    if abs(W.item() - want_w) > 1e-5 or abs(B.item() - want_b) > 1e-5:
        raise Wrong("2 回目のステップがずれています。更新のあとで W.grad.zero_() と B.grad.zero_() を"
                    "呼んでいますか? 呼ばないと勾配が前回の分に足し込まれます。")
