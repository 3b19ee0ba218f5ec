"""Checks of lecture 3's exercises (Matplotlib).  A figure is hard to compare by its pixels, so the
checks look inside the Figure and Axes the learner's function returns: the lines and their data,
the labels, the legend, the title, the images and their colour map.  Every figure the function
made is closed again, so a check draws nothing in the notebook."""

from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pythonlibs.exercises import Wrong, exercise


@contextmanager
def _closing_new_figures():
    """Close the figures made inside the block (the check's figures must not be shown)."""
    before = set(plt.get_fignums())
    made = []
    try:
        yield made
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
        for fig in made:
            plt.close(fig)


def _history(seed: int, n: int = 8) -> np.ndarray:
    """A learning record as fit returns it: (epoch, train loss, train acc, val loss, val acc)."""
    rng = np.random.default_rng(seed)
    epochs = np.arange(1, n + 1, dtype=float)
    train_loss = 1.5 * 0.75 ** epochs + rng.uniform(0.0, 0.05, n)
    val_loss = train_loss + 0.1 + rng.uniform(0.0, 0.08, n)
    train_acc = 0.95 - 0.5 * 0.7 ** epochs
    val_acc = train_acc - 0.05 - rng.uniform(0.0, 0.03, n)
    return np.column_stack([epochs, train_loss, train_acc, val_loss, val_acc])


def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.allclose(a, b)


def _fig_and_ax(answer):
    if isinstance(answer, Axes) or isinstance(answer, Figure) or not isinstance(answer, tuple) \
            or len(answer) != 2:
        raise Wrong("fig, ax = plt.subplots() で作った fig と ax の 2 つを return fig, ax で返してください "
                    f"(あなたの答えは {type(answer).__name__})。")
    fig, ax = answer
    if not isinstance(fig, Figure) or not isinstance(ax, Axes):
        raise Wrong(f"返す順番は fig, ax です (あなたの答えは {type(fig).__name__}, {type(ax).__name__})。")
    return fig, ax


@exercise("L3.1", "学習曲線 (損失) を描く plot_loss_curves(history)")
def check_plot_loss_curves(plot_loss_curves):
    history = _history(31)
    with _closing_new_figures() as made:
        answer = plot_loss_curves(history.copy())
        fig, ax = _fig_and_ax(answer)
        made.append(fig)
        _check_loss_axes(ax, history)


def _check_loss_axes(ax, history):
    lines = ax.get_lines()
    if len(lines) in (history.shape[1], len(history)) and len(lines) != 2:
        raise Wrong(f"線が {len(lines)} 本あります。ax.plot(history) のように表全体を渡すと、列 (または行) の数だけ"
                    "線が引かれます。横軸 history[:, 0] と、損失の列を 1 本ずつ渡してください。")
    if len(lines) != 2:
        raise Wrong(f"線が {len(lines)} 本あります。訓練の損失と検証の損失の 2 本を描いてください。")
    epochs = history[:, 0]
    for line in lines:
        x, y = line.get_xdata(), line.get_ydata()
        if _same(y, history[:, 2]) or _same(y, history[:, 4]):
            raise Wrong("精度の列 (2 列目か 4 列目) を描いています。損失は history[:, 1] (訓練) と history[:, 3] (検証) です。")
        if _same(x, np.arange(len(history))):
            raise Wrong("横軸が 0, 1, 2, … になっています。ax.plot(history[:, 0], …) のように、エポックの列を横軸に渡してください。")
        if not _same(x, epochs):
            raise Wrong("横軸の値がエポックの列 history[:, 0] ではありません。")
    by_data = {}
    for line in lines:
        for name, col in (("訓練", 1), ("検証", 3)):
            if _same(line.get_ydata(), history[:, col]):
                by_data[name] = line
    if set(by_data) != {"訓練", "検証"}:
        raise Wrong("縦軸の値が違います。訓練の損失は history[:, 1]、検証の損失は history[:, 3] です。")
    for name, line in by_data.items():
        other = "検証" if name == "訓練" else "訓練"
        label = line.get_label()
        if other in label and name not in label:
            raise Wrong(f"ラベルが逆です: {name}の損失の線に「{label}」と付いています。")
        if name not in label:
            raise Wrong(f"{name}の損失の線のラベルに「{name}」が入っていません (いまのラベル: {label!r})。"
                        f"ax.plot(…, label=\"{name}\") のように付けてください。")
    if ax.get_legend() is None:
        raise Wrong("凡例がありません。label= を付けたら、ax.legend() を呼んでください。")
    for what, text, word, how in (("タイトル", ax.get_title(), "学習曲線", "ax.set_title"),
                                  ("横軸のラベル", ax.get_xlabel(), "エポック", "ax.set_xlabel"),
                                  ("縦軸のラベル", ax.get_ylabel(), "損失", "ax.set_ylabel")):
        if word not in text:
            raise Wrong(f"{what}に「{word}」がありません (いまは {text!r})。{how}(\"…{word}…\") で付けてください。")


@exercise("L3.2", "線で結ぶために x の順に並べる sort_by_x(x, y)")
def check_sort_by_x(sort_by_x):
    rng = np.random.default_rng(32)
    x = np.round(rng.uniform(150.0, 190.0, 9), 1)
    y = np.round(0.9 * x - 90.0 + rng.normal(0.0, 6.0, 9), 1)
    x_in, y_in = x.copy(), y.copy()
    answer = sort_by_x(x_in, y_in)
    if not isinstance(answer, tuple) or len(answer) != 2:
        raise Wrong("並べ替えた x と y の 2 つを return xs, ys で返してください。")
    xs, ys = (np.asarray(a) for a in answer)
    order = np.argsort(x)
    if not (np.array_equal(x_in, x) and np.array_equal(y_in, y)):
        raise Wrong("引数の x, y を書き換えています (x.sort() はその場で並べ替えます)。x[order] のように新しい配列を作ってください。")
    if _same(xs, np.sort(x)) and _same(ys, np.sort(y)):
        raise Wrong("x と y を別々に並べ替えています。これでは (身長, 体重) の組が崩れます。"
                    "order = np.argsort(x) で並べる順番を求め、x[order] と y[order] のように同じ順番で並べてください。")
    if _same(xs, x[np.argsort(y)]):
        raise Wrong("y の順に並べています。線を左から右へ結ぶには、x の小さい順 (np.argsort(x)) です。")
    if _same(xs, x[order][::-1]):
        raise Wrong("大きい順になっています。np.argsort は小さい順の番号を返すので、そのまま使ってください。")
    if _same(xs, order):
        raise Wrong("並べる順番 (番号) を返しています。その番号で x[order], y[order] と取り出した値を返してください。")
    if not _same(xs, x[order]):
        raise Wrong("xs が x の小さい順になっていません。")
    if not _same(ys, y[order]):
        raise Wrong("ys が xs と同じ順番に並んでいません。y も x と同じ order で並べてください (y[order])。")


@exercise("L3.3", "画像を横に並べる show_digits(images, labels)")
def check_show_digits(show_digits):
    rng = np.random.default_rng(33)
    n = 4
    images = rng.integers(0, 17, size=(n, 8, 8)).astype(float)
    labels = (np.arange(n) + rng.integers(1, 9, n)) % 10           # never equal to the position i
    with _closing_new_figures() as made:
        fig = show_digits(images.copy(), labels.copy())
        if isinstance(fig, tuple) and fig and isinstance(fig[0], Figure):
            made.append(fig[0])
            raise Wrong("fig だけを返してください (return fig)。fig, axes の組ではなく。")
        if not isinstance(fig, Figure):
            raise Wrong(f"plt.subplots で作った fig を返してください (あなたの答えは {type(fig).__name__})。")
        made.append(fig)
        _check_digit_axes(fig.axes, images, labels)


def _check_digit_axes(axes, images, labels):
    n = len(images)
    if len(axes) != n:
        raise Wrong(f"描画領域 (ax) が {len(axes)} 個あります。画像 {n} 枚を並べるので plt.subplots(1, len(images)) です。")
    for i, ax in enumerate(axes):
        if not ax.images:
            raise Wrong(f"{i} 番目の ax に画像がありません。ax.imshow(images[i], …) で描いてください。")
        shown = np.asarray(ax.images[0].get_array(), dtype=float)
        if not _same(shown, images[i]):
            same_as = [j for j in range(n) if _same(shown, images[j])]
            if same_as:
                raise Wrong(f"{i} 番目の ax に {same_as[0]} 番目の画像が描かれています。"
                            "for i, ax in enumerate(axes) で、ax ごとに images[i] を描いてください。")
            raise Wrong(f"{i} 番目の ax の画像が images[{i}] と違います。")
        cmap = ax.images[0].get_cmap().name
        if cmap != "gray_r":
            raise Wrong(f"色の付け方 (cmap) が {cmap!r} です。白地に黒で描くには cmap=\"gray_r\" を指定してください。")
        title = ax.get_title()
        if str(labels[i]) not in title:
            if str(i) in title:
                raise Wrong(f"{i} 番目のタイトル「{title}」に、並びの番号 {i} を書いています。正解ラベル labels[i] を書いてください。")
            raise Wrong(f"{i} 番目のタイトル「{title}」に正解ラベル {labels[i]} がありません。"
                        "ax.set_title(f\"正解: {labels[i]}\") のように付けてください。")
        if ax.axison:
            raise Wrong("目盛が表示されたままです。画像には目盛は要らないので、ax.axis(\"off\") で消してください。")
