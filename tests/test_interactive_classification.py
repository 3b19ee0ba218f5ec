"""Explorables of chapters 6-8 (pythonlibs.interactive.classification), on the chapters' real data:
iris for the logistic regression and the softmax temperature, MNIST (mirror) for the gradients."""

import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import train_test_split
from torch import nn

from pythonlibs.interactive.classification import (
    ACTIVATIONS, benchmark_views, chapter7_iris_model, layer_gradient_sizes, logistic_regression_state,
    make_gradient_depth_view, make_logistic_view, make_temperature_view, softmax_with_temperature,
    temperature_state)
from pythonlibs.settings import mirror_dir

MIRROR = mirror_dir()
needs_mirror = pytest.mark.skipif(MIRROR is None or not MIRROR.is_dir(),
                                  reason="DLNB_DATA_MIRROR (e.g. ../shared/datasets) is not set; CI sets it")
TRAINED = {"w1": 2.97, "w2": -5.30, "b": 0.34}   # chapter 6's weights after 10,000 epochs


@pytest.fixture(scope="module")
def iris_two():
    """Chapter 6's validation data: setosa/versicolor, sepal length and width, 30 items."""
    iris = load_iris()
    _, x_test, _, y_test = train_test_split(iris.data[:100, :2], iris.target[:100],
                                            train_size=70, test_size=30, random_state=123)
    return x_test, y_test


@pytest.fixture(scope="module")
def iris_three():
    """Chapter 7's data (3 species, sepal and petal length) and its model trained 1,000 epochs."""
    net, x_test, y_test, names = chapter7_iris_model()
    with torch.no_grad():
        logits = net(torch.tensor(x_test, dtype=torch.float32))
    return net, x_test, y_test, logits, names


# --- chapter 6 ---------------------------------------------------------------------------------

def test_logistic_state_matches_pytorch_bce(iris_two):
    x, y = iris_two
    state = logistic_regression_state(x, y, **TRAINED)
    u = torch.tensor(x, dtype=torch.float64) @ torch.tensor([2.97, -5.30], dtype=torch.float64) + 0.34
    expected = nn.BCEWithLogitsLoss()(u, torch.tensor(y, dtype=torch.float64)).item()
    assert state["loss"] == pytest.approx(expected, rel=1e-9)
    assert np.allclose(state["p"], torch.sigmoid(u).numpy())
    assert state["accuracy"] >= 0.9, "the trained weights separate the two species"
    kind, slope, intercept = state["boundary"]
    assert kind == "line" and slope == pytest.approx(2.97 / 5.30) and intercept == pytest.approx(0.34 / 5.30)


def test_logistic_boundary_is_where_p_is_one_half(iris_two):
    x, y = iris_two
    _, slope, intercept = logistic_regression_state(x, y, 1.5, -2.0, 0.7)["boundary"]
    on_line = np.array([[4.0, 4.0 * slope + intercept], [7.0, 7.0 * slope + intercept]])
    assert np.allclose(logistic_regression_state(on_line, [0, 1], 1.5, -2.0, 0.7)["p"], 0.5)


def test_logistic_all_zero_weights_give_p_half_and_log_2(iris_two):
    x, y = iris_two
    state = logistic_regression_state(x, y, 0, 0, 0)
    assert state["boundary"] is None and np.all(state["p"] == 0.5)
    assert state["loss"] == pytest.approx(math.log(2))


def test_logistic_vertical_boundary_when_w2_is_zero(iris_two):
    x, y = iris_two
    assert logistic_regression_state(x, y, 2.0, 0.0, -11.0)["boundary"] == ("vertical", 5.5)


def test_logistic_huge_weights_stay_finite(iris_two):
    """Confidently wrong weights: the loss grows huge but finite (no log 0), the accuracy is 0."""
    x, y = iris_two
    wrong = logistic_regression_state(x, y, w1=-1e6, w2=1.7e6, b=0)
    right = logistic_regression_state(x, y, w1=1e6, w2=-1.7e6, b=0)
    assert math.isfinite(wrong["loss"]) and wrong["loss"] > 1e4
    assert right["loss"] < wrong["loss"] and right["accuracy"] > wrong["accuracy"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "abc", None])
def test_logistic_bad_weight_gives_a_japanese_message(iris_two, bad):
    x, y = iris_two
    with pytest.raises(ValueError, match="w2"):
        logistic_regression_state(x, y, 1.0, bad, 0.0)


def test_logistic_view_draws_a_message_for_nan(iris_two):
    fig = Figure()
    make_logistic_view(*iris_two)(fig, w1=1.0, w2=float("nan"), b=0.0)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("有限の数" in t for t in texts)


# --- chapter 7 ---------------------------------------------------------------------------------

def test_temperature_one_is_torch_softmax_and_cross_entropy(iris_three):
    _, _, y, logits, _ = iris_three
    state = temperature_state(logits.numpy(), y, 1.0)
    assert np.allclose(state["probs"], torch.softmax(logits, dim=1).numpy(), atol=1e-6)
    expected = nn.CrossEntropyLoss()(logits, torch.tensor(y)).item()
    assert state["loss"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("t", [0.0, 1e-6, 0.05, 1.0, 7.0, 1e6, float("inf")])
def test_temperature_never_changes_the_predicted_class(iris_three, t):
    _, _, y, logits, _ = iris_three
    state = temperature_state(logits.numpy(), y, t)
    assert np.array_equal(state["predicted"], logits.argmax(dim=1).numpy())
    assert np.allclose(state["probs"].sum(axis=1), 1.0)
    if math.isfinite(t) and t > 0:
        assert np.array_equal(state["probs"].argmax(axis=1), state["predicted"])


def test_temperature_extremes_are_one_hot_and_uniform(iris_three):
    _, _, y, logits, _ = iris_three
    cold = softmax_with_temperature(logits.numpy(), 0.0)
    assert np.array_equal(cold, np.eye(3)[logits.argmax(dim=1).numpy()])
    assert np.allclose(softmax_with_temperature(logits.numpy(), 1e-4), cold)
    assert np.allclose(softmax_with_temperature(logits.numpy(), 1e9), 1 / 3)
    assert np.allclose(softmax_with_temperature(logits.numpy(), float("inf")), 1 / 3)
    assert temperature_state(logits.numpy(), y, float("inf"))["loss"] == pytest.approx(math.log(3))


def test_temperature_zero_ties_share_and_wrong_answers_cost_infinity():
    probs = softmax_with_temperature([[2.0, 2.0, -1.0]], 0)
    assert np.allclose(probs, [[0.5, 0.5, 0.0]])
    assert temperature_state([[1.0, 3.0, 0.0]], [0], 0)["loss"] == math.inf
    assert temperature_state([[1.0, 3.0, 0.0]], [1], 0)["loss"] == 0.0


def test_temperature_sharpens_the_probabilities(iris_three):
    """Lower T: the largest probability grows; higher T: it shrinks towards 1/3."""
    _, _, _, logits, _ = iris_three
    top = [softmax_with_temperature(logits.numpy(), t).max(axis=1).mean() for t in (0.2, 1, 5)]
    assert top[0] > top[1] > top[2] > 1 / 3


def test_huge_logits_do_not_overflow():
    probs = softmax_with_temperature([[1000.0, 0.0, -1000.0]], 0.01)
    assert np.all(np.isfinite(probs)) and probs[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [-1.0, -1e-9, float("nan"), "warm"])
def test_bad_temperature_gives_a_japanese_message(bad):
    with pytest.raises(ValueError, match="温度"):
        softmax_with_temperature([[1.0, 2.0]], bad)


def test_temperature_view_draws_messages_for_bad_values(iris_three):
    net, x, y, _, names = iris_three
    draw = make_temperature_view(net, x, y, names)
    for values, fragment in (({"temperature": -1.0}, "0 以上"), ({"temperature": 1.0, "sample": 75}, "0〜74")):
        fig = Figure()
        draw(fig, **values)
        assert any(fragment in t.get_text() for ax in fig.axes for t in ax.texts), values


# --- chapter 8 ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_batch():
    """500 real 8x8 digits, scaled like chapter 8's MNIST (-1..1): a batch always at hand."""
    digits = load_digits()
    return torch.tensor(digits.data[:500] / 8 - 1, dtype=torch.float32), torch.tensor(digits.target[:500])


def test_gradient_sizes_match_the_notebooks_deepnet(digits_batch):
    """Same seed, same layer order as chapter 8's DeepNet: the same numbers as its weight_grad_sizes."""
    inputs, labels = digits_batch
    torch.manual_seed(123)
    net = nn.Sequential(nn.Linear(64, 128), nn.Sigmoid(), nn.Linear(128, 128), nn.Sigmoid(), nn.Linear(128, 10))
    nn.CrossEntropyLoss()(net(inputs), labels).backward()
    expected = [m.weight.grad.abs().mean().item() for m in net if isinstance(m, nn.Linear)]
    assert layer_gradient_sizes(inputs, labels, 2, "シグモイド") == pytest.approx(expected, rel=1e-6)


def test_gradient_sizes_leave_the_global_random_state_and_threads_alone(digits_batch):
    torch.manual_seed(5)
    expected = torch.rand(3)
    threads = torch.get_num_threads()
    torch.manual_seed(5)
    layer_gradient_sizes(*digits_batch, 3, "ReLU")
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError):
        layer_gradient_sizes(*digits_batch, 3, "softsign")
    assert torch.get_num_threads() == threads


def test_sigmoid_gradients_vanish_with_depth_relu_ones_much_less(digits_batch):
    inputs, labels = digits_batch
    sigmoid = layer_gradient_sizes(inputs, labels, 8, "シグモイド")
    relu = layer_gradient_sizes(inputs, labels, 8, "ReLU")
    assert len(sigmoid) == 9
    assert sigmoid[0] < sigmoid[-1] / 1e4, "eight sigmoids shrink the input layer's gradient a lot"
    assert relu[0] > 100 * sigmoid[0]


def test_zero_hidden_layers_is_one_linear_layer(digits_batch):
    assert len(layer_gradient_sizes(*digits_batch, 0, "tanh")) == 1


@pytest.mark.parametrize("n_layers, activation, fragment", [
    (-1, "ReLU", "0〜30"), (2.5, "ReLU", "整数"), (31, "ReLU", "0〜30"), ("two", "ReLU", "整数"),
    (2, "softmax", "活性化関数")])
def test_bad_depth_or_activation_gives_a_japanese_message(digits_batch, n_layers, activation, fragment):
    with pytest.raises(ValueError, match=fragment):
        layer_gradient_sizes(*digits_batch, n_layers, activation)


def test_gradient_view_draws_every_activation_and_depth_extremes(digits_batch):
    draw = make_gradient_depth_view(*digits_batch)
    for activation in ACTIVATIONS:
        for n in (0, 1, 30):
            fig = Figure()
            draw(fig, n_layers=n, activation=activation)
            assert len(fig.axes[0].patches) == n + 1, (activation, n)
    fig = Figure()
    draw(fig, n_layers=3, activation="softplus")
    assert any("活性化関数" in t.get_text() for ax in fig.axes for t in ax.texts)


@needs_mirror
def test_mnist_batch_relu_keeps_the_input_gradient_sigmoid_does_not():
    """The column's claim on the chapter's real batch: at 2 hidden layers the input layer's gradient
    under ReLU is several times that under the sigmoid, and it shrinks further with depth."""
    from torchvision import transforms

    from pythonlibs.data import make_loader
    from pythonlibs.datasets import load_mnist
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5), nn.Flatten(0)])
    inputs, labels = next(iter(make_loader(load_mnist(train=False, transform=transform), 500)))
    relu2, sig2 = (layer_gradient_sizes(inputs, labels, 2, a) for a in ("ReLU", "シグモイド"))
    sig6 = layer_gradient_sizes(inputs, labels, 6, "シグモイド")
    assert relu2[0] > 2 * sig2[0] and sig6[0] < sig2[0] / 10


@needs_mirror
def test_every_benchmark_view_draws_every_listed_value():
    views = benchmark_views()
    assert set(views) == {"ch06_logistic_weights", "ch07_softmax_temperature", "ch08_gradient_depth"}
    for name, (draw, values) in views.items():
        assert 3 <= len(values) <= 5, name
        for value in values:
            fig = Figure()
            draw(fig, **value)
            assert fig.axes and not any(t.get_text() for ax in fig.axes for t in ax.texts if
                                        "ください" in t.get_text() or "使えません" in t.get_text()), (name, value)
