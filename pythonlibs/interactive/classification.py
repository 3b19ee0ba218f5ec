"""Explorable figures of the classification chapters (6, 7 and 8).

* Chapter 6: the weights ``w1, w2, b`` of the logistic regression on iris, its decision boundary,
  the sigmoid probabilities and the binary cross entropy (``make_logistic_view``).
* Chapter 7: the softmax temperature on the chapter's trained iris model: the class
  probabilities change, the predicted class does not (``make_temperature_view``).
* Chapter 8: the number of hidden layers and the activation function, and the size of each
  layer's weight gradient on one real MNIST batch (vanishing gradients,
  ``make_gradient_depth_view``).

Each view is split into a pure compute function (numbers and arrays, unit-tested with the values
a learner might choose, extremes included) and a factory that returns ``draw(fig, **values)`` for
``pythonlibs.interactive.explore``.  Values that cannot be drawn (a negative temperature, NaN,
a fractional number of layers) raise ``ValueError`` with a Japanese message from the compute
function; the draw functions write that message on the figure instead of a traceback.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from pythonlibs.interactive import show_message

__all__ = ["logistic_regression_state", "make_logistic_view",
           "softmax_with_temperature", "temperature_state", "make_temperature_view",
           "chapter7_iris_model", "ACTIVATIONS", "layer_gradient_sizes", "make_gradient_depth_view",
           "benchmark_views"]

CLASS_STYLES = [("x", "k"), ("o", "b"), ("+", "r")]   # the chapters' markers per class
REGION_COLORS = np.array([[0.87, 0.87, 0.87], [0.78, 0.86, 0.94], [0.99, 0.73, 0.63]])
MAX_HIDDEN_LAYERS = 30


def _finite_number(value, name: str) -> float:
    """``value`` as a float; a Japanese ValueError when it is not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} には数を指定してください (受け取った値: {value!r})。") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} が {number} です。有限の数を指定してください。")
    return number


def _sigmoid(u: np.ndarray) -> np.ndarray:
    """σ(u) without overflow for any finite u (σ(u) = (1 + tanh(u/2)) / 2)."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(u, dtype=float)))


def _scatter_classes(ax, x, y, names) -> None:
    """The chapters' scatter plot: one marker and colour per class."""
    for c, name in enumerate(names):
        marker, color = CLASS_STYLES[c % len(CLASS_STYLES)]
        ax.scatter(x[y == c, 0], x[y == c, 1], marker=marker, c=color, label=f"{c} ({name})")


def _grid(x: np.ndarray, margin: float, n: int):
    """A regular n x n grid over the data's extent plus ``margin``: (extent, points (n*n, 2))."""
    lo, hi = x.min(axis=0) - margin, x.max(axis=0) + margin
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    return (lo[0], hi[0], lo[1], hi[1]), np.c_[g0.ravel(), g1.ravel()]


# ---------------------------------------------------------------------------------------------
# Chapter 6: logistic regression weights
# ---------------------------------------------------------------------------------------------

def logistic_regression_state(x, y, w1, w2, b) -> dict:
    """Everything the chapter-6 view shows for the weights ``(w1, w2, b)`` on data ``x`` (N, 2), ``y`` (N,) in {0, 1}.

    Returns ``u`` (logits), ``p`` (sigmoid probabilities), ``loss`` (binary cross entropy,
    computed from the logits as ``BCEWithLogitsLoss`` does, so it stays finite for any finite
    weights), ``accuracy`` (class 1 where p > 0.5, i.e. u > 0, as in the chapter) and ``boundary``: ``("line", slope, intercept)`` for x2 = slope x1 +
    intercept, ``("vertical", x1)`` when w2 = 0, or ``None`` when w1 = w2 = 0 (every point gets
    the same probability σ(b), there is no boundary).
    """
    w1, w2, b = (_finite_number(v, name) for v, name in ((w1, "w1"), (w2, "w2"), (b, "b")))
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    u = w1 * x[:, 0] + w2 * x[:, 1] + b
    p = _sigmoid(u)
    loss = float(np.mean(np.logaddexp(0.0, -u) * y + np.logaddexp(0.0, u) * (1 - y)))
    accuracy = float(np.mean((u > 0) == (y == 1)))
    if w2 != 0:
        boundary = ("line", -w1 / w2, -b / w2)
    elif w1 != 0:
        boundary = ("vertical", -b / w1)
    else:
        boundary = None
    return {"u": u, "p": p, "loss": loss, "accuracy": accuracy, "boundary": boundary}


def make_logistic_view(x, y, class_names=("setosa", "versicolor"), grid_points: int = 160):
    """The chapter-6 explorable: ``draw(fig, w1, w2, b)``.

    Left: the data with the probability σ(w1 x1 + w2 x2 + b) as background shading and the
    decision boundary (p = 0.5).  Right: the sigmoid curve with each point at its logit u, and
    the BCE loss and accuracy in the title.  The grid of the background is precomputed.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y)
    extent, grid = _grid(x, 0.3, grid_points)
    gx0, gx1 = grid[:, 0].reshape(grid_points, grid_points), grid[:, 1].reshape(grid_points, grid_points)
    curve_u = np.linspace(-60, 60, 2401)
    curve_p = _sigmoid(curve_u)

    def draw(fig, w1, w2, b):
        try:
            state = logistic_regression_state(x, y, w1, w2, b)
        except ValueError as error:
            show_message(fig, str(error))
            return
        ax_data, ax_sig = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
        prob = _sigmoid(w1 * gx0 + w2 * gx1 + b)
        image = ax_data.imshow(prob, origin="lower", extent=extent, aspect="auto", cmap="coolwarm",
                               vmin=0, vmax=1, alpha=0.45)
        fig.colorbar(image, ax=ax_data, fraction=0.046, pad=0.02, label="クラス 1 の確率 p")
        _scatter_classes(ax_data, x, y, class_names)
        kind = state["boundary"]
        if kind is not None and kind[0] == "line":
            xs = np.array(extent[:2])
            ax_data.plot(xs, kind[1] * xs + kind[2], "r", lw=2, label="決定境界 (p = 0.5)")
        elif kind is not None:
            ax_data.axvline(kind[1], color="r", lw=2, label="決定境界 (p = 0.5)")
        ax_data.set_xlim(extent[:2])
        ax_data.set_ylim(extent[2:])
        ax_data.set_xlabel("がく片の長さ (cm)")
        ax_data.set_ylabel("がく片の幅 (cm)")
        no_line = "  (決定境界なし)" if kind is None else ""
        ax_data.set_title(f"w1 = {w1:.2f}, w2 = {w2:.2f}, b = {b:.2f}{no_line}", fontsize=10)
        ax_data.legend(loc="upper left", fontsize=8)

        reach = max(6.0, min(60.0, float(np.abs(state["u"]).max()) * 1.1))
        ax_sig.plot(curve_u, curve_p, "gray", lw=1)
        ax_sig.axhline(0.5, color="r", ls="--", lw=1)
        for c in (0, 1):
            marker, color = CLASS_STYLES[c]
            inside = y == c
            ax_sig.scatter(np.clip(state["u"][inside], -reach, reach), state["p"][inside],
                           marker=marker, c=color, label=f"正解 {c}")
        ax_sig.set_xlim(-reach, reach)
        ax_sig.set_ylim(-0.05, 1.05)
        ax_sig.set_xlabel("線形関数の出力 u = w1 x1 + w2 x2 + b")
        ax_sig.set_ylabel("確率 p = σ(u)")
        ax_sig.set_title(f"BCE 損失 {state['loss']:.4f}   精度 {state['accuracy']:.3f}", fontsize=10)
        ax_sig.legend(loc="upper left", fontsize=8)
        fig.tight_layout()

    return draw


# ---------------------------------------------------------------------------------------------
# Chapter 7: softmax temperature
# ---------------------------------------------------------------------------------------------

def _temperature(value) -> float:
    """A temperature >= 0 (inf allowed); a Japanese ValueError otherwise."""
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"温度には数を指定してください (受け取った値: {value!r})。") from None
    if math.isnan(t) or t < 0:
        raise ValueError(f"温度 T = {t} は使えません。温度は 0 以上の数です "
                         "(負の温度はロジットの大小を逆にしてしまいます)。")
    return t


def _log_softmax_with_temperature(logits: np.ndarray, t: float) -> np.ndarray:
    """log softmax(logits / t) row by row, with the limits t = 0 (argmax) and t = inf (uniform)."""
    logits = np.asarray(logits, dtype=float)
    n_classes = logits.shape[1]
    top = logits.max(axis=1, keepdims=True)
    if t == 0:
        winners = logits == top                       # ties share the probability
        counts = winners.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            return np.where(winners, -np.log(counts), -np.inf)
    if math.isinf(t):
        return np.full(logits.shape, -math.log(n_classes))
    z = (logits - top) / t
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax_with_temperature(logits, temperature) -> np.ndarray:
    """softmax(logits / T) for each row of ``logits`` (N, C): probabilities summing to 1.

    T = 1 is the ordinary softmax; T -> 0 puts all the probability on the largest logit (T = 0
    gives that limit exactly, ties shared); T -> inf spreads it evenly.  Negative or NaN T raises
    ValueError with a Japanese message.
    """
    t = _temperature(temperature)
    return np.exp(_log_softmax_with_temperature(np.atleast_2d(logits), t))


def temperature_state(logits, labels, temperature) -> dict:
    """Probabilities at temperature T, predicted classes, accuracy and the mean cross entropy.

    The loss is ``CrossEntropyLoss`` of ``logits / T`` (inf at T = 0 when any prediction is
    wrong: the model is then infinitely sure of a wrong class).
    """
    t = _temperature(temperature)
    logits = np.atleast_2d(np.asarray(logits, dtype=float))
    labels = np.asarray(labels)
    log_p = _log_softmax_with_temperature(logits, t)
    predicted = logits.argmax(axis=1)
    loss = float(-log_p[np.arange(len(labels)), labels].mean())
    return {"probs": np.exp(log_p), "predicted": predicted, "loss": loss,
            "accuracy": float(np.mean(predicted == labels))}


def _net_logits(net, points: np.ndarray) -> np.ndarray:
    """The logits of ``net`` for ``points`` (computed on the net's device, returned as NumPy)."""
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    with torch.no_grad():
        out = net(torch.tensor(points, dtype=torch.float32, device=device)).cpu().numpy()
    net.train(was_training)
    return out.astype(float)


def make_temperature_view(net, x, y, class_names, grid_points: int = 150,
                          xlabel="がく片の長さ (cm)", ylabel="花弁の長さ (cm)"):
    """The chapter-7 explorable: ``draw(fig, temperature, sample)``.

    ``net`` is the chapter's trained 2-input model (it returns logits), ``x`` (N, 2), ``y`` (N,)
    its test data.  Left: the plane coloured by the predicted class, pale where the model is
    unsure (the largest probability at temperature T), with the data and the chosen sample
    circled.  Right: that sample's class probabilities at T next to T = 1.  The logits of the
    data and of the grid are computed once here; an update only rescales them.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y)
    extent, grid = _grid(x, 0.3, grid_points)
    grid_logits = _net_logits(net, grid)
    data_logits = _net_logits(net, x)
    grid_class = grid_logits.argmax(axis=1)
    base_probs = softmax_with_temperature(data_logits, 1.0)
    n_classes = data_logits.shape[1]

    def draw(fig, temperature, sample=0):
        try:
            state = temperature_state(data_logits, y, temperature)
            if not 0 <= int(sample) < len(x):
                raise ValueError(f"サンプル番号は 0〜{len(x) - 1} です (受け取った値: {sample})。")
        except ValueError as error:
            show_message(fig, str(error))
            return
        sample = int(sample)
        confidence = softmax_with_temperature(grid_logits, temperature).max(axis=1)
        strength = ((confidence - 1 / n_classes) / (1 - 1 / n_classes)).clip(0, 1)[:, None]
        colors = 1 - strength * (1 - REGION_COLORS[grid_class % len(REGION_COLORS)])
        ax_map, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
        ax_map.imshow(colors.reshape(grid_points, grid_points, 3), origin="lower", extent=extent,
                      aspect="auto")
        _scatter_classes(ax_map, x, y, class_names)
        ax_map.scatter(*x[sample], s=250, facecolors="none", edgecolors="m", lw=2,
                       label=f"サンプル {sample}")
        ax_map.set_xlabel(xlabel)
        ax_map.set_ylabel(ylabel)
        loss = "∞" if math.isinf(state["loss"]) else f"{state['loss']:.4f}"
        ax_map.set_title(f"温度 T = {temperature:.3g}: 検証データの損失 {loss}、精度 {state['accuracy']:.3f}\n"
                         "(色が濃いほど自信がある。色の境目は T で変わらない)", fontsize=9)
        ax_map.legend(loc="upper left", fontsize=7)

        positions = np.arange(n_classes)
        ax_bar.bar(positions, state["probs"][sample], color=REGION_COLORS[:n_classes], edgecolor="k",
                   label=f"T = {temperature:.3g}")
        ax_bar.scatter(positions, base_probs[sample], marker="_", s=900, c="m", lw=2,
                       label="T = 1 (普通のソフトマックス)")
        for k, p in zip(positions, state["probs"][sample]):
            ax_bar.text(k, min(p, 0.93) + 0.02, f"{p:.3f}", ha="center", fontsize=9)
        ax_bar.set_xticks(positions, [f"{k}\n{name}" for k, name in enumerate(class_names)])
        ax_bar.set_ylim(0, 1.05)
        ax_bar.set_ylabel("確率")
        ax_bar.set_title(f"サンプル {sample}: 正解 {y[sample]}、予測 {state['predicted'][sample]}", fontsize=10)
        ax_bar.legend(loc="upper right", fontsize=8)
        fig.tight_layout()

    return draw


# ---------------------------------------------------------------------------------------------
# Chapter 8: vanishing gradients
# ---------------------------------------------------------------------------------------------

ACTIVATIONS = {"ReLU": nn.ReLU, "シグモイド": nn.Sigmoid, "tanh": nn.Tanh}


def _hidden_layers(n_layers) -> int:
    """The number of hidden layers as an int in 0..MAX_HIDDEN_LAYERS; a Japanese ValueError otherwise."""
    try:
        n = float(n_layers)
    except (TypeError, ValueError):
        raise ValueError(f"隠れ層の数には整数を指定してください (受け取った値: {n_layers!r})。") from None
    if not n.is_integer() or not 0 <= n <= MAX_HIDDEN_LAYERS:
        raise ValueError(f"隠れ層の数は 0〜{MAX_HIDDEN_LAYERS} の整数です (受け取った値: {n_layers})。")
    return int(n)


def _deep_net(n_input: int, n_output: int, n_hidden: int, n_layers: int, activation) -> nn.Sequential:
    """The chapter's DeepNet as one Sequential: (Linear -> activation) x n_layers, then Linear."""
    layers, n_in = [], n_input
    for _ in range(n_layers):
        layers += [nn.Linear(n_in, n_hidden), activation()]
        n_in = n_hidden
    layers.append(nn.Linear(n_in, n_output))
    return nn.Sequential(*layers)


def layer_gradient_sizes(inputs, labels, n_layers, activation="ReLU", n_hidden: int = 128,
                         n_output: int = 10, seed: int = 123) -> list[float]:
    """The mean absolute weight gradient of each Linear layer (input side first) of a fresh net.

    The net is the chapter's ``DeepNet`` (``n_layers`` hidden layers of ``n_hidden`` units with
    ``activation``, one of ``ACTIVATIONS``), created after ``torch.manual_seed(seed)`` as
    ``torch_seed()`` does in the notebook, and the gradient is that of ``CrossEntropyLoss`` on
    the batch ``inputs`` (N, features), ``labels`` (N,).  Computed on the CPU in one thread; the
    global random state and thread count are left as they were.
    """
    n = _hidden_layers(n_layers)
    if activation not in ACTIVATIONS:
        raise ValueError(f"活性化関数 {activation!r} はありません。{list(ACTIVATIONS)} から選んでください。")
    inputs = torch.as_tensor(inputs, dtype=torch.float32).cpu()
    labels = torch.as_tensor(labels).long().cpu()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _deep_net(inputs.shape[1], n_output, n_hidden, n, ACTIVATIONS[activation])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # such small layers: one thread is faster, and steady on a busy CPU
    try:
        nn.CrossEntropyLoss()(net(inputs), labels).backward()
    finally:
        torch.set_num_threads(threads)
    return [m.weight.grad.abs().mean().item() for m in net if isinstance(m, nn.Linear)]


def make_gradient_depth_view(inputs, labels, n_hidden: int = 128, n_output: int = 10):
    """The chapter-8 explorable: ``draw(fig, n_layers, activation)``.

    Bars: the weight-gradient size of each layer (log scale, input side on the left) for the
    chosen activation; dots: the same for the other activations, for comparison.  Results are
    cached, so returning to a setting costs nothing.
    """
    inputs = torch.as_tensor(inputs, dtype=torch.float32).cpu()
    labels = torch.as_tensor(labels).long().cpu()

    @lru_cache(maxsize=None)
    def sizes(n_layers: int, activation: str) -> tuple:
        return tuple(layer_gradient_sizes(inputs, labels, n_layers, activation, n_hidden, n_output))

    def draw(fig, n_layers, activation="ReLU"):
        try:
            n = _hidden_layers(n_layers)
            if activation not in ACTIVATIONS:
                raise ValueError(f"活性化関数 {activation!r} はありません。{list(ACTIVATIONS)} から選んでください。")
            chosen = np.array(sizes(n, activation))
        except ValueError as error:
            show_message(fig, str(error))
            return
        ax = fig.subplots()
        positions = np.arange(n + 1)
        ax.bar(positions, chosen, color="tab:blue", alpha=0.7, label=f"{activation} (選択中)")
        for (name, style) in zip([a for a in ACTIVATIONS if a != activation], ("ko-", "g^-")):
            ax.plot(positions, sizes(n, name), style, ms=5, lw=1, alpha=0.7, label=name)
        ax.set_yscale("log")
        shown = [g for k in ACTIVATIONS for g in sizes(n, k) if g > 0]
        ax.set_ylim(min(1e-12, 10 ** math.floor(math.log10(min(shown)))) if shown else 1e-12, 1)
        labels_x = [f"{k + 1}" for k in range(n)] + ["出力層"]
        ax.set_xticks(positions, labels_x, fontsize=8 if n < 15 else 6)
        ax.set_xlabel("層 (左が入力側)")
        ax.set_ylabel("重みの勾配の平均絶対値 (対数目盛)")
        ratio = chosen[0] / chosen[-1]
        ax.set_title(f"隠れ層 {n} 層、{activation}: 入力側の層の勾配は出力層の {ratio:.1e} 倍", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()

    return draw


# ---------------------------------------------------------------------------------------------
# Benchmark: the views built from the chapters' real data
# ---------------------------------------------------------------------------------------------

def _ch06_view():
    """Chapter 6's view on its iris validation data (setosa/versicolor, sepal length and width)."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    iris = load_iris()
    _, x_test, _, y_test = train_test_split(iris.data[:100, :2], iris.target[:100],
                                            train_size=70, test_size=30, random_state=123)
    values = [{"w1": 2.97, "w2": -5.30, "b": 0.34}, {"w1": 0.0, "w2": 0.0, "b": 0.0},
              {"w1": 10.0, "w2": 0.0, "b": -10.0}, {"w1": -10.0, "w2": 10.0, "b": 10.0}]
    return make_logistic_view(x_test, y_test), values


def chapter7_iris_model(epochs: int = 1000):
    """Chapter 7's 2-input iris model (weights and biases start at 1.0, SGD lr 0.01, full batch)
    trained ``epochs`` epochs, as the chapter does in quick mode.

    Returns (net, x_test, y_test, class names): the chapter's split (75 / 75, random_state 123)
    of sepal length and petal length.
    """
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split
    iris = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(iris.data[:, [0, 2]], iris.target,
                                                        train_size=75, test_size=75, random_state=123)
    net = nn.Linear(2, 3)
    nn.init.constant_(net.weight, 1.0)
    nn.init.constant_(net.bias, 1.0)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    inputs, labels = torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train)
    for _ in range(epochs):
        optimizer.zero_grad()
        nn.CrossEntropyLoss()(net(inputs), labels).backward()
        optimizer.step()
    return net, x_test, y_test, list(iris.target_names)


def _ch07_view():
    """Chapter 7's view on its iris model."""
    values = [{"temperature": 1.0, "sample": 0}, {"temperature": 0.0, "sample": 74},
              {"temperature": 0.01, "sample": 3}, {"temperature": 100.0, "sample": 40}]
    return make_temperature_view(*chapter7_iris_model()), values


def _ch08_view():
    """Chapter 8's view on the first batch (500 images) of its MNIST validation loader."""
    from torchvision import transforms

    from pythonlibs.data import make_loader
    from pythonlibs.datasets import load_mnist
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5), nn.Flatten(0)])
    inputs, labels = next(iter(make_loader(load_mnist(train=False, transform=transform), 500)))
    values = [{"n_layers": 2, "activation": "シグモイド"}, {"n_layers": 2, "activation": "ReLU"},
              {"n_layers": 10, "activation": "シグモイド"}, {"n_layers": 0, "activation": "tanh"},
              {"n_layers": 10, "activation": "tanh"}]
    return make_gradient_depth_view(inputs, labels), values


def benchmark_views() -> dict:
    """View name -> (draw built from the chapter's real data, values to time, extremes included).

    Chapter 8's view reads MNIST with ``load_mnist`` (offline: the mirror of ``DLNB_DATA_MIRROR``).
    """
    return {"ch06_logistic_weights": _ch06_view(),
            "ch07_softmax_temperature": _ch07_view(),
            "ch08_gradient_depth": _ch08_view()}
