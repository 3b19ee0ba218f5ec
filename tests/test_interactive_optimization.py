"""The explorables of chapters 2, 3 and 5 (pythonlibs.interactive.optimization), with the chapters'
real data and the values a learner would choose, extremes included."""

import warnings

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn, optim

from pythonlibs.interactive.optimization import (BLOWUP, autograd_derivative, benchmark_views,
                                                 boston_inputs, central_difference, ch03_data,
                                                 chapter_net, descent_path, describe_run,
                                                 difference_errors, exact_derivative, final_gaps,
                                                 make_standardize_view, make_width_view,
                                                 mse_quadratic, train_width_family, width_fits)
from pythonlibs.runtime import torch_seed


@pytest.fixture(scope="module")
def ch03_loss():
    X, Y = ch03_data()
    return mse_quadratic(X, Y)


@pytest.fixture(scope="module")
def boston():
    inputs, targets = boston_inputs()
    standardized = (inputs - inputs.mean(axis=0)) / inputs.std(axis=0)
    return {False: mse_quadratic(inputs, targets, 0.5), True: mse_quadratic(standardized, targets, 0.5)}


def sgd_losses(inputs, targets, lr, steps, scale):
    """The chapters' loop: W = B = 1, full-batch optim.SGD on scale * MSE; losses per step and params."""
    net = nn.Linear(inputs.shape[1], 1)
    nn.init.constant_(net.weight, 1.0)
    nn.init.constant_(net.bias, 1.0)
    optimizer = optim.SGD(net.parameters(), lr=lr)
    x = torch.tensor(inputs, dtype=torch.float32)
    y = torch.tensor(targets, dtype=torch.float32).view(-1, 1)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = scale * nn.MSELoss()(net(x), y)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    return np.array(losses), np.r_[net.weight.detach().numpy()[0], net.bias.item()]


# ---------------------------------------------------------------- ch03

def test_ch03_path_is_the_chapters_sgd_loop(ch03_loss):
    X, Y = ch03_data()
    losses, params = sgd_losses(X.reshape(-1, 1), Y, 0.001, 500, 1.0)
    path = descent_path(ch03_loss, (1.0, 1.0), 0.001, 500)
    assert path.diverged_at is None and path.params.shape == (501, 2)
    np.testing.assert_allclose(path.losses[:500], losses, rtol=1e-4)
    np.testing.assert_allclose(path.params[-1], params, rtol=1e-4, atol=1e-5)


def test_ch03_limit_is_one_over_mean_square(ch03_loss):
    X, _ = ch03_data()
    assert ch03_loss.lr_limit == pytest.approx(1 / np.mean(X ** 2))
    below = descent_path(ch03_loss, (1.0, 1.0), 0.95 * ch03_loss.lr_limit, 500)
    above = descent_path(ch03_loss, (1.0, 1.0), 1.05 * ch03_loss.lr_limit, 500)
    assert below.diverged_at is None and below.losses[-1] == pytest.approx(ch03_loss.minimum_loss, rel=1e-6)
    assert above.diverged_at is not None and above.losses[-1] > above.losses[0]


def test_lr_zero_stays_at_the_start(ch03_loss):
    path = descent_path(ch03_loss, (1.0, 1.0), 0.0, 50)
    assert path.diverged_at is None
    np.testing.assert_allclose(path.params, np.ones((51, 2)))
    assert "動かない" in describe_run(path, 0.0, ch03_loss.lr_limit)


def test_negative_lr_climbs_and_is_reported_as_divergence(ch03_loss):
    path = descent_path(ch03_loss, (1.0, 1.0), -0.01, 500)
    assert np.all(np.diff(path.losses) > 0), "a negative learning rate goes uphill every step"
    assert path.diverged_at is not None and "発散" in describe_run(path, -0.01, ch03_loss.lr_limit)


@pytest.mark.parametrize("lr", [1e3, 1e12, 1e300])
def test_huge_lr_diverges_without_overflow(ch03_loss, lr):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = descent_path(ch03_loss, (1.0, 1.0), lr, 500)
    assert path.diverged_at == 1 and len(path.losses) == 1 and np.all(np.isfinite(path.params))


def test_path_stops_before_the_blowup(ch03_loss):
    path = descent_path(ch03_loss, (1.0, 1.0), 0.1, 500)
    gap0 = path.losses[0] - ch03_loss.minimum_loss
    assert np.all(path.losses - ch03_loss.minimum_loss <= BLOWUP * gap0)
    assert len(path.losses) == path.diverged_at


@pytest.mark.parametrize("lr, steps", [(float("nan"), 10), (float("inf"), 10), (0.01, -1), (0.01, 2.5)])
def test_impossible_values_give_a_japanese_message(ch03_loss, lr, steps):
    with pytest.raises(ValueError, match="学習率|ステップ数"):
        descent_path(ch03_loss, (1.0, 1.0), lr, steps)


def test_zero_steps_is_the_start(ch03_loss):
    path = descent_path(ch03_loss, (1.0, 1.0), 0.05, 0)
    assert path.params.shape == (1, 2) and path.losses[0] == pytest.approx(ch03_loss((1.0, 1.0)))


# ---------------------------------------------------------------- ch04

@pytest.fixture(scope="module")
def lstat_medv():
    inputs, targets = boston_inputs()
    return inputs[:, 1], targets


@pytest.fixture(scope="module")
def fits(lstat_medv):
    return width_fits(*lstat_medv, widths=(1, 4, 16), epochs=300)


def standardized(values):
    return (values - values.mean()) / values.std()


def test_chapter_net_is_the_seeded_net_and_leaves_the_random_state_alone():
    torch_seed()
    expected = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))
    before = torch.random.get_rng_state()
    net = chapter_net(16, relu=True)
    assert torch.equal(torch.random.get_rng_state(), before)
    for ours, theirs in zip(net.parameters(), expected.parameters()):
        assert torch.equal(ours, theirs)
    assert len(chapter_net(16, relu=False)) == 2


def test_family_training_is_the_chapters_training_of_each_net(lstat_medv):
    x, y = (torch.tensor(standardized(v), dtype=torch.float32).view(-1, 1) for v in lstat_medv)
    family, keys = train_width_family(x.numpy(), y.numpy(), [16], epochs=300)
    with torch.no_grad():
        family_mse = ((family(x) - y) ** 2).mean(dim=0)
    for i, (width, relu) in enumerate(keys):
        net = chapter_net(width, relu)
        optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        for _ in range(300):
            loss = nn.MSELoss()(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            assert nn.MSELoss()(net(x), y).item() == pytest.approx(family_mse[i].item(), rel=1e-4)


def test_without_relu_every_width_is_the_same_line(fits, lstat_medv):
    lstat, medv = lstat_medv
    slope, intercept = np.polyfit(standardized(lstat), standardized(medv), 1)
    line_mse = np.mean((slope * standardized(lstat) + intercept - standardized(medv)) ** 2)
    for width in fits.widths:
        assert fits.mse[(width, False)] == pytest.approx(line_mse, rel=1e-3)
        assert len(fits.bends[(width, False)]) == 0
        curve = fits.curves[:, fits.keys.index((width, False))]
        assert np.allclose(np.diff(curve, 2), 0, atol=1e-3), "a net without activation draws a straight line"


def test_relu_bends_the_curve_and_wider_fits_better(fits):
    assert fits.mse[(16, True)] < 0.9 * fits.mse[(16, False)]
    assert fits.mse[(16, True)] < fits.mse[(1, True)]
    assert 1 <= len(fits.bends[(16, True)]) <= 16 and len(fits.bends[(1, True)]) <= 1


@pytest.mark.parametrize("width", [0, -3, 2.5])
def test_impossible_width_gives_a_japanese_message(width):
    with pytest.raises(ValueError, match="ノード数"):
        chapter_net(width, relu=True)


def test_width_view_refuses_an_untrained_width(fits):
    with pytest.raises(ValueError, match="ノード数 64"):
        make_width_view(fits)(Figure(), width=64, relu=True)


# ---------------------------------------------------------------- ch05

def test_ch05_closed_form_is_the_chapters_sgd_on_boston(boston):
    inputs, targets = boston_inputs()
    losses, params = sgd_losses(inputs, targets, 0.001, 300, 0.5)
    path = descent_path(boston[False], np.ones(3), 0.001, 300)
    np.testing.assert_allclose(path.losses[:300], losses, rtol=2e-4)
    np.testing.assert_allclose(path.params[-1], params, rtol=1e-3)


def test_ch05_the_book_lr_diverges_raw_and_converges_standardized(boston):
    assert 0.001 < boston[False].lr_limit < 0.01 < 1 < boston[True].lr_limit
    assert descent_path(boston[False], np.ones(3), 0.01, 5000).diverged_at is not None
    slow = descent_path(boston[False], np.ones(3), 0.001, 5000)
    fast = descent_path(boston[True], np.ones(3), 0.01, 5000)
    assert slow.diverged_at is None and fast.diverged_at is None
    assert fast.losses[-1] - boston[True].minimum_loss < 1e-3 * (slow.losses[-1] - boston[False].minimum_loss)


def test_final_gaps_agree_with_the_paths(boston):
    lrs = [0.0, 1e-4, 0.001, 0.008, 0.0085, 0.01, 1.0, -0.001]
    gaps = final_gaps(boston[False], np.ones(3), lrs, 2000)
    for lr, gap in zip(lrs, gaps):
        path = descent_path(boston[False], np.ones(3), lr, 2000)
        if path.diverged_at is None:
            assert gap == pytest.approx(path.losses[-1] - boston[False].minimum_loss, rel=1e-6)
        else:
            assert gap == np.inf, f"lr {lr} diverged on the path but not in the sweep"
    assert np.isinf(gaps[[4, 5, 6, 7]]).all() and np.isfinite(gaps[:4]).all()


def test_lr_that_lands_on_the_minimum_in_one_step(boston):
    """Standardised inputs: the bias's curvature is exactly 1, so lr = 1 zeroes that coordinate."""
    path = descent_path(boston[True], np.ones(3), 1.0, 5000)
    assert path.diverged_at is None and len(path.losses) == 5001
    assert path.losses[-1] == pytest.approx(boston[True].minimum_loss)
    assert final_gaps(boston[True], np.ones(3), [1.0], 0)[0] == pytest.approx(path.losses[0] - boston[True].minimum_loss)


def test_standardize_view_extremes_draw(boston):
    inputs, targets = boston_inputs()
    draw = make_standardize_view(inputs, targets, epochs=500)
    for lr in (0.0, -0.5, 1e6):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            draw(Figure(), lr=lr, standardize=True)


# ---------------------------------------------------------------- ch02

def test_float32_difference_with_chapter1_step_is_visibly_wrong():
    exact = exact_derivative(1.0)
    assert abs(central_difference(1.0, 1e-6) - exact) > 1e-3, "float32, h = 1e-6: rounding dominates"
    assert abs(central_difference(1.0, 1e-6, np.float64) - exact) < 1e-8, "float64, h = 1e-6 (chapter 1)"
    assert abs(central_difference(1.0, 1e-2) - exact) < 1e-4, "float32 needs a larger h"
    assert abs(autograd_derivative(1.0) - exact) < 1e-7, "autograd has no step and no such error"


def test_large_step_gives_the_secant_not_the_tangent():
    errors = difference_errors(0.5, [1e-3, 0.1, 1.0, 3.0], np.float64)
    assert np.all(np.diff(errors) > 0), "the truncation error grows with h"


def test_negative_step_is_the_same_formula():
    assert central_difference(-2.0, -0.1) == pytest.approx(central_difference(-2.0, 0.1), rel=1e-6)


@pytest.mark.parametrize("h", [0.0, 1e-50, float("nan")])
def test_zero_step_gives_a_japanese_message(h):
    with pytest.raises(ValueError, match="刻み幅"):
        central_difference(1.0, h)


# ---------------------------------------------------------------- every view, every listed value

def test_every_view_draws_every_listed_value():
    views = benchmark_views()
    assert {"ch02", "ch03", "ch04", "ch05"} <= {name.split()[0] for name in views}
    for name, (draw, cases) in views.items():
        assert 3 <= len(cases) <= 6
        for values in cases:
            fig = Figure()
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                draw(fig, **values)
            assert fig.axes, f"{name} {values} drew nothing"
            fig.canvas.draw()


def test_ch02_view_explains_h_zero():
    draw, _ = benchmark_views()["ch02 数値微分の刻み幅"]
    fig = Figure()
    draw(fig, h=0.0, x0=1.0)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes]
    assert any("0 / 0" in t or "計算できません" in t for t in texts)
