"""Tests of pythonlibs.plotting: learning curves, images with labels, Japanese text."""

import io
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms
from torchvision.transforms import v2

matplotlib.use("Agg")

from pythonlibs.data import ImageArrayDataset, make_loader  # noqa: E402
from pythonlibs.plotting import (JAPANESE_FONT, evaluate_history, find_normalize,  # noqa: E402
                                 show_images_labels, to_picture)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


def test_evaluate_history_plots_two_curves_with_japanese_labels(capsys):
    history = np.array([[1, 1.0, 0.5, 1.1, 0.4], [2, 0.5, 0.8, 0.7, 0.7]])
    evaluate_history(history)
    fig = matplotlib.pyplot.gcf()  # Agg backend: show() leaves the figure open
    out = capsys.readouterr().out
    assert "最初の記録 (エポック 1 の後) 検証: 損失: 1.10000 精度: 0.40000" in out
    assert "最後の記録 (エポック 2 の後) 検証: 損失: 0.70000 精度: 0.70000" in out
    loss_ax, acc_ax = fig.axes
    assert [len(line.get_xdata()) for line in loss_ax.lines] == [2, 2]
    assert "損失" in loss_ax.get_ylabel() and "精度" in acc_ax.get_ylabel()
    assert loss_ax.get_title() == "学習曲線 (損失)"
    evaluate_history(history, title="入力 2 個")
    assert [ax.get_title() for ax in matplotlib.pyplot.gcf().axes] == ["入力 2 個: 損失",
                                                                      "入力 2 個: 精度"]
    with pytest.raises(ValueError):
        evaluate_history(np.zeros((0, 5)))


def test_japanese_text_renders_without_missing_glyphs():
    assert JAPANESE_FONT == "IPAexGothic"
    fig, ax = matplotlib.pyplot.subplots()
    ax.set_title("学習曲線 (損失) −1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    assert not [w for w in caught if "missing from" in str(w.message)]


def test_to_picture_undoes_any_normalize(digits_dataset):
    normalize = find_normalize(digits_dataset)
    assert isinstance(normalize, transforms.Normalize)
    image, _ = digits_dataset[0]
    shown = to_picture(image, normalize)
    assert shown.shape == (8, 8)  # 1 channel -> 2-D grayscale
    np.testing.assert_allclose(shown, digits_dataset.data[0] / 255, atol=1e-6)
    np.testing.assert_allclose(to_picture(image, (0.5, 0.5)), shown)
    colour = torch.rand(3, 4, 4)
    grey = v2.Normalize((0.5,), (0.5,))   # torchvision's v2 transforms are found too
    v2_pipeline = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), grey])
    assert find_normalize(ImageArrayDataset(digits_dataset.data, digits_dataset.targets, range(10),
                                            v2_pipeline)) is grey
    stats = v2.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))
    np.testing.assert_allclose(to_picture(stats(colour), stats), colour.permute(1, 2, 0).numpy(),
                               atol=1e-5)
    assert to_picture(torch.rand(784)).shape == (28, 28)
    with pytest.raises(ValueError):
        to_picture(torch.rand(10))


def test_show_images_labels_marks_mistakes(digits_dataset):
    loader = make_loader(digits_dataset, batch_size=20)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    show_images_labels(loader, digits_dataset.classes, net, "cpu")
    fig = matplotlib.pyplot.gcf()
    assert len(fig.axes) == 20
    with torch.no_grad():
        predicted = net(digits_dataset.tensors[0][:20]).argmax(1)
    wrong = (predicted != torch.as_tensor(digits_dataset.targets[:20])).numpy()
    assert [ax.title.get_color() == "b" for ax in fig.axes] == list(wrong)
    show_images_labels(loader, digits_dataset.classes, None, None)
    first = matplotlib.pyplot.gcf().axes[0]
    assert first.get_title() == digits_dataset.classes[digits_dataset.targets[0]]


@pytest.mark.parametrize("with_sigmoid", [False, True])
def test_show_images_labels_with_a_one_logit_binary_model(with_sigmoid):
    """Setosa (0) vs versicolor (1) from petal length: one output, thresholded, not argmax."""
    data = load_iris()
    keep = data.target < 2
    x = torch.tensor(data.data[keep][:, 2:3], dtype=torch.float32)
    y = torch.tensor(data.target[keep]).view(-1, 1).float()
    net = nn.Linear(1, 1)
    with torch.no_grad():   # petal length > 2.5 cm: versicolor
        net.weight.fill_(4.0)
        net.bias.fill_(-10.0)
    if with_sigmoid:
        net = nn.Sequential(net, nn.Sigmoid())
    loader = DataLoader(TensorDataset(x.view(-1, 1, 1, 1), y), batch_size=50, shuffle=True)
    torch.manual_seed(0)
    show_images_labels(loader, ["setosa", "versicolor"], nn.Sequential(nn.Flatten(), net), "cpu")
    titles = [ax.get_title() for ax in matplotlib.pyplot.gcf().axes]
    assert {t.split(":")[1] for t in titles} == {"setosa", "versicolor"}
    assert all(t.split(":")[0] == t.split(":")[1] for t in titles)   # the rule is perfect here
