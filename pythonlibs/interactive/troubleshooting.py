"""Explorable figure of chapter 13: switch one bug on and see check_training's report change.

One training set-up of the chapter (a small MLP on real MNIST digits, SGD, cross entropy) is
built healthy or with exactly one of the chapter's bugs.  For each, ``bug_results`` runs
``check_training`` and a short training run once, up front (a few seconds in all), so that
switching between them in the view only redraws (well under 0.2 s).  One bug at a time, as the
chapter itself goes: with several at once, the report mixes their symptoms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.ticker import NullLocator
from torch import nn, optim

from pythonlibs.data import TensorBatchLoader
from pythonlibs.diagnostics import check_training
from pythonlibs.interactive import show_message
from pythonlibs.runtime import torch_seed

__all__ = ["BUGS", "BugResult", "bug_setup", "bug_results", "make_bug_view", "benchmark_views"]

BUGS = {
    "バグなし": "健全な設定 (シャッフルあり、入力を正規化、ロジットのまま、学習率 0.1)",
    "シャッフル忘れ": "クラス順に並んだデータを shuffle=False で読む (13.1 節)",
    "正規化忘れ": "画素値 0〜255 のまま入力する (13.2 節)",
    "ロジットに softmax": "モデルの最後に Softmax を付けて CrossEntropyLoss に渡す (13.4 節)",
    "別のモデルの optimizer": "optimizer を作り直す前のモデルのパラメータで作った (13.5 節)",
    "学習率が大きすぎる": "SGD の学習率 10 (13.6 節)",
}
SEVERITY_COLORS = {"error": "firebrick", "warning": "darkorange", "info": "steelblue", "ok": "seagreen"}
SEVERITY_MARKS = {"error": "エラー", "warning": "警告", "info": "情報", "ok": "OK"}
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass
class BugResult:
    """What one set-up gives: check_training's findings and the loss of a short training run."""

    findings: list          # [(severity, check, message)], as check_training reports them
    losses: list            # training loss per step
    description: str


def _inputs(images_uint8: np.ndarray, normalise: bool) -> torch.Tensor:
    """Flattened float inputs: standardised like the chapter's transform, or raw 0..255."""
    x = torch.tensor(np.asarray(images_uint8), dtype=torch.float32).flatten(1)   # a copy: data may be read-only
    return (x / 255 - MNIST_MEAN) / MNIST_STD if normalise else x


def bug_setup(bug: str, images_uint8, labels, batch_size: int = 64):
    """(net, loader, criterion, optimizer) of the chapter's MLP set-up with ``bug`` switched on."""
    if bug not in BUGS:
        raise ValueError(f"バグの名前は {list(BUGS)} のどれかにしてください (受け取った値: {bug!r})。")
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    x = _inputs(images_uint8, normalise=bug != "正規化忘れ")
    shuffle = bug != "シャッフル忘れ"
    if not shuffle:                          # as read from class folders
        order = torch.argsort(labels, stable=True)
        x, labels = x[order], labels[order]
    torch_seed()
    layers = [nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)]
    if bug == "ロジットに softmax":
        layers.append(nn.Softmax(dim=1))
    net = nn.Sequential(*layers)
    trained = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)) \
        if bug == "別のモデルの optimizer" else net
    lr = 10.0 if bug == "学習率が大きすぎる" else 0.1
    optimizer = optim.SGD(trained.parameters(), lr=lr)
    return net, TensorBatchLoader(x, labels, batch_size, shuffle=shuffle), nn.CrossEntropyLoss(), optimizer


def _training_losses(net, loader, criterion, optimizer, steps: int) -> list[float]:
    """Training loss of each of the first ``steps`` steps (the set-up's own loader order)."""
    losses = []
    net.train()
    while len(losses) < steps:
        for inputs, labels in loader:
            optimizer.zero_grad()
            loss = criterion(net(inputs), labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
    return losses


def bug_results(images_uint8, labels, steps: int = 60) -> dict[str, BugResult]:
    """Run check_training and ``steps`` training steps for every entry of BUGS.

    On the CPU with one thread: for such small models that is many times faster than several
    threads on a busy machine (measured: 0.06 s per check_training instead of seconds).  The
    thread count is restored afterwards.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = {}
        for bug, description in BUGS.items():
            net, loader, criterion, optimizer = bug_setup(bug, images_uint8, labels)
            report = check_training(net, loader, criterion, optimizer, torch.device("cpu"), verbose=False)
            findings = [(f.severity, f.check, f.message) for f in report]
            results[bug] = BugResult(findings, _training_losses(net, loader, criterion, optimizer, steps),
                                     description)
        return results
    finally:
        torch.set_num_threads(threads)


def _wrap(text: str, width: int = 58) -> str:
    """Break a Japanese message into lines of ``width`` characters (it has few spaces)."""
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def make_bug_view(results: dict[str, BugResult]):
    """``draw(fig, bug)``: the chosen set-up's training loss beside the healthy one, and the
    problems check_training reports for it (errors and warnings first)."""
    healthy = results["バグなし"].losses
    order = {"error": 0, "warning": 1, "info": 2, "ok": 3}

    def draw(fig, bug: str) -> None:
        if bug not in results:
            show_message(fig, f"「{bug}」の結果はありません: {list(results)} から選んでください")
            return
        result = results[bug]
        ax_loss, ax_text = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.5]})
        losses = np.asarray(result.losses, dtype=float)
        shown = np.where(np.isfinite(losses), losses, np.nan)
        ax_loss.plot(healthy, color="gray", ls="--", label="バグなし")
        ax_loss.plot(shown, color="firebrick" if bug != "バグなし" else "tab:blue", label=bug)
        ax_loss.set_yscale("log")
        ax_loss.yaxis.set_minor_locator(NullLocator())   # minor log ticks cost most of a redraw
        ax_loss.set_xlabel("学習のステップ")
        ax_loss.set_ylabel("訓練損失 (対数目盛)")
        ax_loss.set_title("最初の訓練損失" + (" (途中で NaN: 発散)" if not np.isfinite(losses).all() else ""))
        ax_loss.legend()
        ax_loss.grid(alpha=0.3)
        ax_text.set_axis_off()
        problems = sorted((f for f in result.findings if f[0] in ("error", "warning")), key=lambda f: order[f[0]])
        lines = [(f"{SEVERITY_MARKS[s]} [{check}] {_wrap(message)}", SEVERITY_COLORS[s]) for s, check, message in problems]
        if not lines:
            lines = [("警告もエラーもありません", SEVERITY_COLORS["ok"])]
        ax_text.set_title(f"check_training の報告: {result.description}", fontsize=9, loc="left")
        y = 1.0
        for text, color in lines[:4]:
            ax_text.text(0, y, text, color=color, fontsize=8, va="top", transform=ax_text.transAxes)
            y -= 0.08 * (text.count("\n") + 1) + 0.04
    return draw


def benchmark_views() -> dict:
    """The chapter's view on the real MNIST quick subset (loaded like the notebook does)."""
    from pythonlibs.datasets import load_mnist

    train = load_mnist(train=True)
    n = min(len(train), 1000)
    results = bug_results(train.data[:n], train.targets[:n])
    return {"ch13 バグを 1 つ入れて check_training": (make_bug_view(results), [{"bug": b} for b in BUGS])}
