"""Wrong answers to lecture 3's exercises, each with the hint its check must give."""

import matplotlib.pyplot as plt
import numpy as np


def _loss_figure(x, train, val, labels=("訓練", "検証"), legend=True, title="学習曲線"):
    fig, ax = plt.subplots()
    ax.plot(x, train, label=labels[0])
    ax.plot(x, val, label=labels[1])
    ax.set_title(title)
    ax.set_xlabel("エポック")
    ax.set_ylabel("損失")
    if legend:
        ax.legend()
    return fig, ax


def curves_of_accuracy(history):
    return _loss_figure(history[:, 0], history[:, 2], history[:, 4])


def curves_against_index(history):
    return _loss_figure(np.arange(len(history)), history[:, 1], history[:, 3])


def curves_with_swapped_labels(history):
    return _loss_figure(history[:, 0], history[:, 1], history[:, 3], labels=("検証", "訓練"))


def curves_without_legend(history):
    return _loss_figure(history[:, 0], history[:, 1], history[:, 3], legend=False)


def curves_without_title(history):
    return _loss_figure(history[:, 0], history[:, 1], history[:, 3], title="")


def curves_of_whole_history(history):
    fig, ax = plt.subplots()
    ax.plot(history)
    return fig, ax


def curves_returning_ax(history):
    return _loss_figure(history[:, 0], history[:, 1], history[:, 3])[1]


def sort_separately(x, y):
    return np.sort(x), np.sort(y)


def sort_by_y(x, y):
    order = np.argsort(y)
    return x[order], y[order]


def sort_descending(x, y):
    order = np.argsort(x)[::-1]
    return x[order], y[order]


def sort_in_place(x, y):
    order = np.argsort(x)
    x.sort()
    return x, y[order]


def sort_only_x(x, y):
    order = np.argsort(x)
    return x[order], y


def _digits(images, labels, cmap="gray_r", title=lambda i, label: f"正解: {label}", off=True, pick=lambda i: i):
    fig, axes = plt.subplots(1, len(images))
    for i, ax in enumerate(axes):
        ax.imshow(images[pick(i)], cmap=cmap)
        ax.set_title(title(i, labels[i]))
        if off:
            ax.axis("off")
    return fig


def digits_default_cmap(images, labels):
    return _digits(images, labels, cmap=None)


def digits_titled_by_position(images, labels):
    return _digits(images, labels, title=lambda i, label: f"正解: {i}")


def digits_with_ticks(images, labels):
    return _digits(images, labels, off=False)


def digits_all_first(images, labels):
    return _digits(images, labels, pick=lambda i: 0)


def digits_in_one_axes(images, labels):
    fig, ax = plt.subplots()
    ax.imshow(images[0], cmap="gray_r")
    return fig


def digits_returning_pair(images, labels):
    fig = _digits(images, labels)
    return fig, fig.axes


WRONG = {
    "L3.1": [(curves_of_accuracy, "精度の列"), (curves_against_index, "0, 1, 2"),
             (curves_with_swapped_labels, "ラベルが逆"), (curves_without_legend, "ax.legend()"),
             (curves_without_title, "タイトル"), (curves_of_whole_history, "表全体"),
             (curves_returning_ax, "return fig, ax")],
    "L3.2": [(sort_separately, "別々に"), (sort_by_y, "y の順"), (sort_descending, "大きい順"),
             (sort_in_place, "書き換えて"), (sort_only_x, "同じ順番")],
    "L3.3": [(digits_default_cmap, "gray_r"), (digits_titled_by_position, "並びの番号"),
             (digits_with_ticks, "axis(\"off\")"), (digits_all_first, "0 番目の画像"),
             (digits_in_one_axes, "plt.subplots(1, len(images))"), (digits_returning_pair, "fig だけ")],
}
