"""Explorables of chapters 2-5: numerical differentiation, gradient descent, width, standardisation.

* ch02 ``make_difference_view``: the step ``h`` of a central difference against autograd, for the
  sigmoid of section 2.3, in float32 (PyTorch's default) and float64 (NumPy's, chapter 1).
* ch03 ``make_descent_view``: the learning rate and the number of steps of gradient descent, drawn
  as a path on the loss surface of the chapter's five heights and weights (centred).
* ch04 ``make_width_view``: the number of hidden nodes of chapter 4's net on Boston LSTAT -> MEDV,
  with and without ReLU (all widths trained once, side by side in one module).
* ch05 ``make_standardize_view``: standardisation on/off and the learning rate at which full-batch
  SGD on the Boston housing data (RM, LSTAT) blows up.

The losses of chapters 3 and 5 are quadratic in the parameters (MSE of a linear model), so full-batch
gradient descent has a closed form: in the eigenbasis of the Hessian ``H`` each coordinate of the
distance to the minimum is multiplied by ``1 - lr * eigenvalue`` at every step.  ``descent_path``
computes all steps at once from that (the same numbers as the chapters' loops, in float64, checked
against torch's ``optim.SGD`` in the tests), so a slider can move through thousands of epochs at
once.  Divergence is detected and reported (the path stops where the loss exceeds ``BLOWUP`` times
the starting gap); it never surfaces as an overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.ticker import NullLocator
from torch import nn

__all__ = ["BLOWUP", "QuadraticLoss", "DescentPath", "mse_quadratic", "descent_path", "final_gaps",
           "central_difference", "autograd_derivative", "exact_derivative", "difference_errors",
           "describe_run", "make_difference_view", "make_descent_view",
           "make_standardize_view", "chapter_net", "train_width_family", "WidthFits", "width_fits", "make_width_view", "ch03_data", "boston_inputs", "benchmark_views"]

BLOWUP = 1e6   # a run "diverges" when the loss's distance to its minimum grows this many times


@dataclass(frozen=True)
class QuadraticLoss:
    """A loss ``minimum_loss + (p - minimum)^T hessian (p - minimum) / 2`` of parameters ``p``."""

    hessian: np.ndarray
    minimum: np.ndarray
    minimum_loss: float

    def __call__(self, params) -> np.ndarray:
        """The loss at ``params`` (shape (..., d))."""
        delta = np.asarray(params, dtype=float) - self.minimum
        return self.minimum_loss + 0.5 * np.einsum("...i,ij,...j->...", delta, self.hessian, delta)

    @property
    def lr_limit(self) -> float:
        """The largest learning rate that does not diverge: 2 / (largest eigenvalue of H)."""
        return float(2 / np.linalg.eigvalsh(self.hessian).max())


@dataclass(frozen=True)
class DescentPath:
    """Gradient descent from a start: parameters and losses of steps 0..n (n = len - 1).

    ``diverged_at`` is the first step whose loss exceeded ``BLOWUP`` times the starting gap to the
    minimum (the arrays stop before it), or None.
    """

    params: np.ndarray
    losses: np.ndarray
    diverged_at: int | None


def _check_lr(lr) -> float:
    lr = float(lr)
    if not np.isfinite(lr):
        raise ValueError(f"学習率が数ではありません (lr = {lr}): 有限の数を指定してください")
    return lr


def _check_steps(steps) -> int:
    if int(steps) != steps or steps < 0:
        raise ValueError(f"ステップ数は 0 以上の整数にしてください (steps = {steps})")
    return int(steps)


def mse_quadratic(inputs, targets, scale: float = 1.0) -> QuadraticLoss:
    """The loss ``scale * mean((inputs @ w + b - targets)^2)`` of a linear model as a QuadraticLoss.

    Parameters are ``(w_1, ..., w_k, b)``.  ``scale`` is 1 for MSE (chapter 3), 1/2 for the book's
    MSE / 2 (chapter 5).
    """
    inputs = np.asarray(inputs, dtype=float).reshape(len(targets), -1)
    targets = np.asarray(targets, dtype=float)
    design = np.c_[inputs, np.ones(len(inputs))]
    minimum, *_ = np.linalg.lstsq(design, targets, rcond=None)
    residual = design @ minimum - targets
    hessian = 2 * scale * design.T @ design / len(design)
    return QuadraticLoss(hessian, minimum, float(scale * np.mean(residual ** 2)))


def descent_path(loss: QuadraticLoss, start, lr, steps) -> DescentPath:
    """Full-batch gradient descent ``p <- p - lr * grad L(p)`` for ``steps`` steps, all at once.

    Any learning rate is accepted: 0 stays at the start, a negative one climbs the loss (and
    diverges), one above ``loss.lr_limit`` diverges.  Non-finite ``lr`` or a negative / fractional
    ``steps`` raise ValueError with a Japanese message.
    """
    lr, steps = _check_lr(lr), _check_steps(steps)
    eigenvalues, vectors = np.linalg.eigh(loss.hessian)
    start = np.asarray(start, dtype=float)
    coords0 = vectors.T @ (start - loss.minimum)
    ratio = 1 - lr * eigenvalues
    t = np.arange(steps + 1)[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        shrink = np.where(t == 0, 0.0, t * np.log(np.abs(ratio)))    # 0 * log 0 would be nan
        log_size = shrink + np.log(np.abs(coords0))                      # log |coordinate| per step
        gap_terms = np.exp(np.log(0.5 * eigenvalues) + 2 * log_size)
        gap_terms = np.where(coords0 == 0, 0.0, gap_terms)
        gaps = gap_terms.sum(axis=1)
    gap0 = gaps[0]
    blown = ~np.isfinite(gaps) | (gaps > BLOWUP * max(gap0, 1e-12))
    diverged_at = int(np.argmax(blown)) if blown.any() else None
    keep = slice(None) if diverged_at is None else slice(0, diverged_at)
    with np.errstate(over="ignore", invalid="ignore"):
        coords = np.where(coords0 == 0, 0.0, coords0 * np.power(ratio, t[keep]))
    params = loss.minimum + coords @ vectors.T
    return DescentPath(params, loss.minimum_loss + gaps[keep], diverged_at)


def final_gaps(loss: QuadraticLoss, start, lrs, steps: int) -> np.ndarray:
    """``loss - minimum`` after ``steps`` steps for each learning rate in ``lrs`` (inf: diverged).

    Vectorised over ``lrs`` in log space, so that no learning rate overflows.
    """
    steps = _check_steps(steps)
    lrs = np.asarray(lrs, dtype=float)
    eigenvalues, vectors = np.linalg.eigh(loss.hessian)
    coords0 = vectors.T @ (np.asarray(start, dtype=float) - loss.minimum)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_ratio = np.log(np.abs(1 - np.outer(lrs, eigenvalues)))
        log_terms = np.log(0.5 * eigenvalues * coords0 ** 2) + (2 * steps * log_ratio if steps else np.zeros_like(log_ratio))
        log_terms = np.where(coords0 ** 2 == 0, -np.inf, log_terms)
        top = log_terms.max(axis=1, keepdims=True)
        log_gap = top[:, 0] + np.log(np.exp(log_terms - np.where(np.isfinite(top), top, 0)).sum(axis=1))
    gap0 = 0.5 * np.sum(eigenvalues * coords0 ** 2)
    log_gap = np.where(np.isnan(log_gap), -np.inf, log_gap)
    diverged = log_gap > np.log(BLOWUP * max(gap0, 1e-12))
    return np.where(diverged, np.inf, np.exp(np.where(diverged, 0.0, log_gap)))


def _layout(fig) -> None:
    """Fixed margins for two panels side by side (tight_layout costs most of a redraw)."""
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.86, wspace=0.28)


# ---------------------------------------------------------------- ch02: numerical differentiation

def _sigmoid(x, dtype):
    return 1 / (1 + np.exp(-np.asarray(x, dtype=dtype)))


def central_difference(x0: float, h: float, dtype=np.float32) -> float:
    """``(s(x0 + h) - s(x0 - h)) / 2h`` for the sigmoid ``s``, computed in ``dtype``.

    As in chapter 1 (``fdiff``), in float32 as PyTorch computes.  ``h`` may be negative (the same
    formula); ``h = 0`` is 0/0 and raises ValueError with a Japanese message.
    """
    if not np.isfinite(h) or h == 0:
        raise ValueError(f"刻み幅 h = {h} では差分の式が 0 / 0 などになり計算できません: 0 でない有限の数にしてください")
    x0, h = np.asarray(x0, dtype=dtype), np.asarray(h, dtype=dtype)
    if h == 0:
        raise ValueError(f"刻み幅 h が {np.dtype(dtype).name} では 0 に丸められます: もっと大きい h にしてください")
    with np.errstate(over="ignore"):
        return float((_sigmoid(x0 + h, dtype) - _sigmoid(x0 - h, dtype)) / (2 * h))


def autograd_derivative(x0: float) -> float:
    """The sigmoid's derivative at ``x0`` by autograd (float32 tensor, as in section 2.3)."""
    x = torch.tensor(float(x0), requires_grad=True)
    torch.sigmoid(x).backward()
    return float(x.grad)


def exact_derivative(x0: float) -> float:
    """``s(x0) (1 - s(x0))`` in float64: the reference both are measured against."""
    s = float(_sigmoid(x0, np.float64))
    return s * (1 - s)


def difference_errors(x0: float, hs, dtype) -> np.ndarray:
    """|central difference - exact derivative| at ``x0`` for every step in ``hs`` (nonzero)."""
    hs = np.asarray(hs, dtype=float)
    x = np.asarray(x0, dtype=dtype)
    h = hs.astype(dtype)
    with np.errstate(over="ignore"):
        estimate = (_sigmoid(x + h, dtype) - _sigmoid(x - h, dtype)) / (2 * h)
    return np.abs(estimate.astype(float) - exact_derivative(x0))


def make_difference_view(h_range=(1e-10, 1.0)):
    """ch02: draw(fig, h, x0): the sigmoid with the autograd tangent and the difference slope at
    ``x0`` (left), and the error of the central difference against ``h`` (right)."""
    hs = np.logspace(np.log10(h_range[0]), np.log10(h_range[1]), 241)
    xs = np.linspace(-5, 5, 201)
    curve = _sigmoid(xs, np.float64)

    def draw(fig, h, x0):
        left, right = fig.subplots(1, 2)
        y0, slope = float(_sigmoid(x0, np.float64)), autograd_derivative(x0)
        left.plot(xs, curve, c="b", label="シグモイド $\\sigma(x)$")
        left.plot(xs, y0 + slope * (xs - x0), c="k", lw=1.5, label=f"自動微分の接線 (傾き {slope:.4f})")
        _draw_difference_slope(left, h, x0, y0, xs)
        left.set_ylim(-0.2, 1.2)
        left.set_xlabel("x")
        left.set_title(f"x = {x0:.2f} での傾き")
        left.legend(fontsize=8, loc="upper left")
        _draw_difference_errors(right, h, x0, hs)
        for ax in (left, right):
            ax.grid(True, alpha=0.3)
        _layout(fig)

    return draw


def _draw_difference_slope(ax, h, x0, y0, xs):
    if h == 0 or not np.isfinite(h):
        ax.text(0.5, 0.06, "h = 0 では (f(x+h) - f(x-h)) / 2h が 0 / 0 になり、計算できません",
                transform=ax.transAxes, ha="center", fontsize=8, color="r")
        return
    estimate = central_difference(x0, h)
    ax.plot(xs, y0 + estimate * (xs - x0), c="r", ls="--", label=f"数値微分 (float32) の傾き {estimate:.4f}")
    ends = np.array([x0 - h, x0 + h])
    ax.plot(ends, _sigmoid(ends, np.float64), "ro", ms=4)


def _draw_difference_errors(ax, h, x0, hs):
    for dtype, color, name in ((np.float32, "r", "float32 (PyTorch の既定)"), (np.float64, "g", "float64 (NumPy の既定)")):
        errors = np.maximum(difference_errors(x0, hs, dtype), 1e-13)
        ax.loglog(hs, errors, c=color, label=f"数値微分 {name}")
    autograd_error = max(abs(autograd_derivative(x0) - exact_derivative(x0)), 1e-13)
    ax.axhline(autograd_error, c="k", lw=1.5, label="自動微分 (float32, h なし)")
    if h != 0 and np.isfinite(h):
        error = max(abs(central_difference(x0, h) - exact_derivative(x0)), 1e-13)
        ax.axvline(abs(h), c="gray", ls=":")
        ax.plot([abs(h)], [error], "ro", ms=7)
        ax.set_title(f"h = {h:.0e}: float32 の誤差 {error:.1e}")
    else:
        ax.set_title("h = 0 では計算できません")
    ax.set_ylim(1e-13, 1)
    ax.set_xlabel("刻み幅 h (対数目盛)")
    ax.set_ylabel("真の傾きとの差 (対数目盛)")
    ax.legend(fontsize=7, loc="lower left")


# ---------------------------------------------------------------- ch03: the path of gradient descent

def ch03_data():
    """The five heights and weights of chapter 3 (the book's values), centred: (X, Y)."""
    heights = np.array([166.0, 176.0, 171.0, 173.0, 169.0])
    weights = np.array([58.7, 75.7, 62.1, 70.4, 60.1])
    return heights - heights.mean(), weights - weights.mean()


def describe_run(path: DescentPath, lr: float, limit: float, unit: str = "ステップ") -> str:
    """One Japanese line: what happened in the run (for the figure's title); ``unit`` names a step."""
    if path.diverged_at is not None:
        return f"発散: {path.diverged_at} {unit}目で 損失 − 最小値 が最初の {BLOWUP:,.0f} 倍を超えた"
    if lr == 0:
        return "学習率 0: パラメータは動かない"
    if lr < 0:
        return "負の学習率: 損失が増える向きに進む"
    if lr > limit / 2:
        return f"谷を飛び越えながら近づく (境目 {limit:.4f} の半分より大きい)"
    return f"損失 {path.losses[0]:.3f} → {path.losses[-1]:.4f}"


def make_descent_view(X, Y, start=(1.0, 1.0)):
    """ch03: draw(fig, lr, steps): gradient descent of (W, B) on the MSE of ``W*X + B`` vs ``Y``.

    Left: contours of the loss with the path (divergence leaves the frame, marked); right: the
    loss per step (log scale) up to the last step or to divergence.
    """
    loss = mse_quadratic(X, Y, scale=1.0)
    start = np.asarray(start, dtype=float)
    reach = 1.6 * np.abs(start - loss.minimum).max()
    w_axis = np.linspace(loss.minimum[0] - reach, loss.minimum[0] + reach, 121)
    b_axis = np.linspace(loss.minimum[1] - reach, loss.minimum[1] + reach, 121)
    grid = np.stack(np.meshgrid(w_axis, b_axis), axis=-1)
    surface = loss(grid)
    levels = loss.minimum_loss + (surface.max() - loss.minimum_loss) * np.geomspace(1e-3, 1, 12)

    def draw(fig, lr, steps):
        path = descent_path(loss, start, lr, steps)
        left, right = fig.subplots(1, 2)
        left.contour(w_axis, b_axis, surface, levels=levels, cmap="viridis", linewidths=0.8)
        left.plot(path.params[:, 0], path.params[:, 1], "r.-", ms=3, lw=1, label="勾配降下法の道すじ")
        left.plot(*start, "ks", label="初期値 (W, B) = (1, 1)")
        left.plot(*loss.minimum, "k*", ms=12, label="損失の最小点")
        left.set_xlim(w_axis[0], w_axis[-1])
        left.set_ylim(b_axis[0], b_axis[-1])
        left.set_xlabel("傾き W")
        left.set_ylabel("切片 B")
        left.set_title(f"学習率 {lr:.4g}, {steps} ステップ", fontsize=10)
        left.legend(fontsize=7, loc="upper right")
        _draw_loss_per_step(right, path, loss, lr, steps)
        _layout(fig)

    return draw


def _draw_loss_per_step(ax, path, loss, lr, steps):
    ax.semilogy(np.arange(len(path.losses)), path.losses, "r")
    ax.axhline(loss.minimum_loss, c="gray", ls="--", label=f"最小値 {loss.minimum_loss:.3f}")
    if path.diverged_at is not None:
        ax.plot([len(path.losses) - 1], [path.losses[-1]], "rx", ms=10, mew=2, label="この先は発散")
    ax.set_xlim(0, max(steps, 1))
    ax.set_xlabel("ステップ (エポック)")
    ax.set_ylabel("損失 (対数目盛)")
    ax.set_title(describe_run(path, lr, loss.lr_limit) + f"\n(発散の境目: 学習率 {loss.lr_limit:.4f})", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)


# ---------------------------------------------------------------- ch04: hidden width and ReLU

def chapter_net(width: int, relu: bool, seed: int = 123) -> nn.Sequential:
    """Chapter 4's regression net ``Linear(1, width) [-> ReLU] -> Linear(width, 1)``, initialised as
    after ``torch_seed(seed)`` (without touching the caller's random state)."""
    if int(width) != width or width < 1:
        raise ValueError(f"隠れ層のノード数は 1 以上の整数にしてください (width = {width})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [nn.Linear(1, int(width)), nn.ReLU(), nn.Linear(int(width), 1)]
        return nn.Sequential(*(layers if relu else [layers[0], layers[2]]))


class _NetFamily(nn.Module):
    """Several chapter-4 nets side by side as one module: their losses are summed, so each net's
    gradients (and momentum SGD's steps) are exactly those of training it alone."""

    def __init__(self, nets, relus):
        super().__init__()
        firsts, lasts = [net[0] for net in nets], [net[-1] for net in nets]
        self.w1 = nn.Parameter(torch.cat([layer.weight.detach()[:, 0] for layer in firsts]))
        self.b1 = nn.Parameter(torch.cat([layer.bias.detach() for layer in firsts]))
        self.w2 = nn.Parameter(torch.cat([layer.weight.detach()[0] for layer in lasts]))
        self.b2 = nn.Parameter(torch.cat([layer.bias.detach() for layer in lasts]))
        group = torch.repeat_interleave(torch.arange(len(nets)), torch.tensor([len(f.bias) for f in firsts]))
        self.register_buffer("member", nn.functional.one_hot(group, len(nets)).float())
        self.register_buffer("relu", torch.tensor(relus)[group])

    def forward(self, x):
        """Outputs of every net: (N, number of nets)."""
        hidden = x * self.w1 + self.b1
        hidden = torch.where(self.relu, torch.relu(hidden), hidden)
        return (hidden * self.w2) @ self.member + self.b2


def train_width_family(inputs, labels, widths, epochs: int = 2000, lr: float = 0.05):
    """Train chapter 4's net for every width, with and without ReLU, as the chapter does (full
    batch, SGD momentum 0.9, MSE, ``torch_seed()`` before each net), all in one module.

    Returns (family, keys) with keys [(width, relu), ...] in the order of the family's outputs.
    """
    keys = [(int(w), relu) for relu in (True, False) for w in widths]
    family = _NetFamily([chapter_net(w, relu) for w, relu in keys], [relu for _, relu in keys])
    x, y = torch.as_tensor(inputs, dtype=torch.float32).view(-1, 1), torch.as_tensor(labels, dtype=torch.float32).view(-1, 1)
    optimizer = torch.optim.SGD(family.parameters(), lr=lr, momentum=0.9)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # these tensors are tiny: more threads only add waiting
    try:
        for _ in range(_check_steps(epochs)):
            loss = ((family(x) - y) ** 2).mean(dim=0).sum()   # sum of each net's MSE
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return family, keys


@dataclass(frozen=True)
class WidthFits:
    """Chapter 4's nets of every width, with and without ReLU, trained on LSTAT -> MEDV.

    ``curves[:, i]``: predictions (thousand dollars) on ``grid`` of the net ``keys[i]`` =
    (width, relu); ``mse[key]``: its training loss on the standardised scale (as the chapter
    prints it); ``bends[key]``: LSTAT values where its ReLUs bend (inside the data's range).
    """

    lstat: np.ndarray
    medv: np.ndarray
    widths: tuple
    epochs: int
    keys: list
    grid: np.ndarray
    curves: np.ndarray
    mse: dict
    bends: dict


def width_fits(lstat, medv, widths=(1, 2, 4, 8, 16, 32), epochs: int = 2000) -> WidthFits:
    """Train every width once (about 0.5 ms per epoch on one CPU core) and keep what the view draws."""
    lstat, medv = np.asarray(lstat, dtype=float), np.asarray(medv, dtype=float)
    x_mu, x_sd, y_mu, y_sd = lstat.mean(), lstat.std(), medv.mean(), medv.std()
    family, keys = train_width_family((lstat - x_mu) / x_sd, (medv - y_mu) / y_sd, widths, epochs)
    grid = np.linspace(lstat.min(), lstat.max(), 200)
    with torch.no_grad():
        curves = family(torch.tensor((grid - x_mu) / x_sd, dtype=torch.float32).view(-1, 1)).numpy() * y_sd + y_mu
        fitted = family(torch.tensor((lstat - x_mu) / x_sd, dtype=torch.float32).view(-1, 1)).numpy()
        kinks = (-family.b1 / family.w1).numpy() * x_sd + x_mu
    owner = family.member.argmax(dim=1).numpy()
    mse = {key: float(np.mean((fitted[:, i] - (medv - y_mu) / y_sd) ** 2)) for i, key in enumerate(keys)}
    bends = {key: np.sort([b for b in kinks[owner == i] if grid[0] < b < grid[-1]]) if key[1] else np.array([])
             for i, key in enumerate(keys)}
    return WidthFits(lstat, medv, tuple(int(w) for w in widths), int(epochs), keys, grid, curves, mse, bends)


def make_width_view(fits: WidthFits):
    """ch04: draw(fig, width, relu): the fitted curve of the net with ``width`` hidden nodes, with
    or without ReLU (left, its bends marked), and the loss of every width (right)."""

    def draw(fig, width, relu):
        key = (width, bool(relu))
        if key not in fits.mse:
            raise ValueError(f"ノード数 {width} は用意していません: {list(fits.widths)} から選んでください")
        left, right = fig.subplots(1, 2)
        left.scatter(fits.lstat, fits.medv, s=6, c="gray", alpha=0.5, label="データ")
        left.plot(fits.grid, fits.curves[:, fits.keys.index(key)], c="r" if relu else "b", lw=2,
                  label=f"隠れ層 {width} ノード, {'ReLU あり' if relu else '活性化なし'}")
        if relu:
            marks = fits.bends[key]
            left.plot(marks, np.full(len(marks), fits.medv.min() - 2), "r|", ms=12, label=f"折れ曲がりの位置 ({len(marks)} 個)")
        left.set_xlabel("低所得者の割合 LSTAT (%)")
        left.set_ylabel("住宅価格の中央値 MEDV (千ドル)")
        left.set_title(f"MSE (標準化した尺度) {fits.mse[key]:.4f}", fontsize=10)
        left.legend(fontsize=7)
        _draw_width_losses(right, fits, key)
        for ax in (left, right):
            ax.grid(True, alpha=0.3)
        _layout(fig)

    return draw


def _draw_width_losses(ax, fits, key):
    widths = list(fits.widths)
    for flag, color, name in ((True, "r", "ReLU あり"), (False, "b", "活性化なし")):
        ax.plot(widths, [fits.mse[(w, flag)] for w in widths], "o-", c=color, label=name)
    ax.plot([key[0]], [fits.mse[key]], "ko", ms=12, mfc="none", mew=2, label="いまの設定")
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.set_xlabel("隠れ層のノード数")
    ax.set_ylabel("MSE (標準化した尺度)")
    ax.set_title(f"{fits.epochs} エポック学習した後の損失", fontsize=10)
    ax.legend(fontsize=8)


# ---------------------------------------------------------------- ch05: standardisation and lr

def boston_inputs():
    """Chapter 5's inputs (RM, LSTAT) and target MEDV from the bundled Boston housing CSV."""
    from pythonlibs.settings import PROJECT_ROOT
    boston = np.loadtxt(PROJECT_ROOT / "data" / "boston_housing.csv", delimiter=",")
    return boston[:, [5, 12]], boston[:, 13]


def make_standardize_view(inputs, targets, epochs: int = 5000, start=1.0):
    """ch05: draw(fig, lr, standardize): full-batch SGD on MSE / 2 of a linear model (Net, all
    parameters initialised to ``start``), raw or standardised inputs.

    Left: loss - minimum per epoch for this learning rate (the other setting dashed, for
    comparison); right: loss - minimum after ``epochs`` against the learning rate for both, with
    each one's divergence limit.
    """
    inputs = np.asarray(inputs, dtype=float)
    standardized = (inputs - inputs.mean(axis=0)) / inputs.std(axis=0)
    losses = {False: mse_quadratic(inputs, targets, 0.5), True: mse_quadratic(standardized, targets, 0.5)}
    begin = np.full(inputs.shape[1] + 1, float(start))
    lrs = np.logspace(-5, 1, 241)
    sweeps = {key: final_gaps(loss, begin, lrs, epochs) for key, loss in losses.items()}

    def draw(fig, lr, standardize):
        left, right = fig.subplots(1, 2)
        paths = {key: descent_path(losses[key], begin, lr, epochs) for key in losses}
        for key in (not standardize, standardize):
            _draw_gap_curve(left, paths[key], losses[key], key, bold=key == standardize)
        left.set_xlim(0, epochs)
        left.set_ylim(GAP_FLOOR / 2, None)
        left.set_xlabel("エポック")
        left.set_ylabel("損失 − 最小値 (対数目盛)")
        left.set_title(describe_run(paths[standardize], lr, losses[standardize].lr_limit, unit="エポック"), fontsize=9)
        left.legend(fontsize=7, loc="lower left")
        _draw_sweep(right, lrs, sweeps, losses, lr, epochs)
        for ax in (left, right):
            ax.grid(True, alpha=0.3)
            for axis in (ax.xaxis, ax.yaxis):   # no minor ticks on the log axes: they cost most of a redraw
                axis.set_minor_locator(NullLocator())
        _layout(fig)

    return draw


GAP_FLOOR = 1e-6   # the chapters' float32 loops cannot resolve a smaller gap to the minimum
_SETTING = {False: ("標準化なし", "b"), True: ("標準化あり", "r")}


def _draw_gap_curve(ax, path, loss, key, bold):
    name, color = _SETTING[key]
    gaps = np.maximum(path.losses - loss.minimum_loss, GAP_FLOOR)
    style = dict(lw=2) if bold else dict(lw=1, ls="--", alpha=0.6)
    label = name + (f" (発散: {path.diverged_at} エポック目)" if path.diverged_at is not None else "")
    every = max(1, len(gaps) // 500)   # about every 10th epoch, as the chapter records
    shown = np.r_[np.arange(0, len(gaps), every), len(gaps) - 1]
    ax.semilogy(shown, gaps[shown], c=color, label=label, **style)
    if path.diverged_at is not None:
        ax.plot([len(gaps) - 1], [gaps[-1]], "x", c=color, ms=10, mew=2)


def _draw_sweep(ax, lrs, sweeps, losses, lr, epochs):
    for key, gaps in sweeps.items():
        name, color = _SETTING[key]
        finite = np.isfinite(gaps)
        ax.loglog(lrs[finite], np.maximum(gaps[finite], GAP_FLOOR), c=color, label=name)
        limit = losses[key].lr_limit
        ax.axvline(limit, c=color, ls=":", label=f"{name}の発散の境目 {limit:.4g}")
    ax.axvline(lr, c="k", lw=1.5, label=f"いまの学習率 {lr:.4g}")
    ax.set_xlabel("学習率 (対数目盛, 右端より先は発散)")
    ax.set_ylabel(f"{epochs} エポック後の 損失 − 最小値")
    ax.set_title(f"学習率ごとの到達点 (線が切れた所から先は発散, {GAP_FLOOR:.0e} 未満は {GAP_FLOOR:.0e} で描く)", fontsize=8)
    ax.set_ylim(GAP_FLOOR / 2, None)
    ax.legend(fontsize=7, loc="lower left")


# ---------------------------------------------------------------- benchmark

def benchmark_views() -> dict:
    """The views with the chapters' real data, and the values a learner would try (incl. extremes)."""
    X, Y = ch03_data()
    inputs, targets = boston_inputs()
    return {
        "ch02 数値微分の刻み幅": (make_difference_view(), [
            dict(h=1e-6, x0=1.0), dict(h=1e-10, x0=1.0), dict(h=1.0, x0=-4.0), dict(h=-0.5, x0=0.0)]),
        "ch03 勾配降下法の道すじ": (make_descent_view(X, Y), [
            dict(lr=0.001, steps=500), dict(lr=0.06, steps=500), dict(lr=0.1, steps=500),
            dict(lr=0.0, steps=500), dict(lr=-0.01, steps=500), dict(lr=100.0, steps=500)]),
        "ch04 隠れ層のノード数と ReLU": (make_width_view(width_fits(inputs[:, 1], targets)), [
            dict(width=16, relu=True), dict(width=1, relu=True), dict(width=32, relu=False), dict(width=2, relu=True)]),
        "ch05 標準化と学習率": (make_standardize_view(inputs, targets), [
            dict(lr=0.001, standardize=False), dict(lr=0.01, standardize=False),
            dict(lr=0.01, standardize=True), dict(lr=1.5, standardize=True), dict(lr=10.0, standardize=True)]),
    }
