"""Unit tests of pythonlibs.diagnostics.check_training on small real data (scikit-learn).

Every check must FIRE on a set-up that has its bug and stay SILENT on a healthy one.
"""

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.model_selection import train_test_split
from torch import nn, optim
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, TensorDataset

from pythonlibs.diagnostics import (DiagnosticReport, Finding, batch_label_histograms,
                                    check_training, dead_relu_fraction, gradient_norms)

DEVICE = torch.device("cpu")
ALL_CHECKS = {"shuffle", "label_balance", "input_stats", "logit_activation", "init_loss",
              "optimizer_params", "dead_relu", "grad_flow", "overfit_batch"}


# ---------------------------------------------------------------------------------------------
# Real data and small models
# ---------------------------------------------------------------------------------------------

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    """sklearn digits (1,797 real 8x8 images): pixels 0-16, standardised and raw 0-255."""
    X, y = load_digits(return_X_y=True)
    x01 = X / 16.0
    normalised = torch.tensor((x01 - x01.mean()) / x01.std(), dtype=torch.float32)
    raw255 = torch.tensor(x01 * 255.0, dtype=torch.float32)   # the same images as 0-255 pixels
    return normalised, raw255, torch.tensor(y)


@pytest.fixture(scope="module")
def cancer():
    """Breast-cancer features (standardised) and 0/1 labels as (N, 1) floats, for BCE losses."""
    X, y = load_breast_cancer(return_X_y=True)
    xt = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    return xt, torch.tensor(y, dtype=torch.float32).view(-1, 1)


def loader(x, y, shuffle=True, batch_size=32):
    torch.manual_seed(0)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)


def mlp(n_in=64, n_out=10, last=None, seed=0):
    torch.manual_seed(seed)
    layers = [nn.Linear(n_in, 64), nn.ReLU(), nn.Linear(64, n_out)]
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


def run(net, data_loader, criterion=None, optimizer=None, **kwargs):
    criterion = criterion or nn.CrossEntropyLoss()
    optimizer = optimizer or optim.SGD(net.parameters(), lr=0.1)
    report = check_training(net, data_loader, criterion, optimizer, DEVICE, verbose=False, **kwargs)
    assert isinstance(report, DiagnosticReport)
    assert all(isinstance(f, Finding) for f in report)
    return report


# ---------------------------------------------------------------------------------------------
# Healthy set-ups: silent
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make_opt", [lambda p: optim.SGD(p, lr=0.1),
                                      lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
                                      lambda p: optim.Adam(p, lr=1e-3)],
                         ids=["sgd", "sgd_momentum", "adam"])
def test_healthy_setup_is_silent(digits, make_opt):
    x, _, y = digits
    net = mlp()
    report = run(net, loader(x, y), optimizer=make_opt(net.parameters()))
    assert report.ok, [str(f) for f in report.problems]
    assert ALL_CHECKS <= {f.check for f in report}
    assert all(f.severity == "ok" for f in report)
    assert abs(report.details("init_loss")["loss"] - math.log(10)) < 0.3
    assert report.details("overfit_batch")["final_loss"] < 0.5 * report.details("overfit_batch")[
        "first_loss"]


def test_report_prints_japanese(digits, capsys):
    x, _, y = digits
    net = mlp()
    check_training(net, loader(x, y), nn.CrossEntropyLoss(), optim.SGD(net.parameters(), lr=0.1),
                   DEVICE)
    out = capsys.readouterr().out
    assert "学習前チェック" in out and "問題は見つかりませんでした" in out


# ---------------------------------------------------------------------------------------------
# Nothing is changed for good
# ---------------------------------------------------------------------------------------------

def test_model_optimizer_modes_and_rng_are_restored(digits):
    x, _, y = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.3),
                        nn.Linear(64, 10))
    optimizer = optim.Adam(net.parameters(), lr=1e-3)
    train_loader = loader(x, y)
    for i, (xb, yb) in enumerate(train_loader):   # a few real steps: Adam state and BN stats
        optimizer.zero_grad()
        nn.CrossEntropyLoss()(net(xb), yb).backward()
        optimizer.step()
        if i == 2:
            break
    net.eval()
    net[3].train()                                # mixed modes must come back exactly
    modes = [m.training for m in net.modules()]
    state = {k: v.clone() for k, v in net.state_dict().items()}
    grads = [p.grad.clone() for p in net.parameters()]
    opt_state = optimizer.state_dict()
    opt_tensors = {(i, k): v.clone() for i, s in opt_state["state"].items() for k, v in s.items()}
    rng = torch.get_rng_state()

    run(net, train_loader, optimizer=optimizer)

    assert [m.training for m in net.modules()] == modes
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    for p, g in zip(net.parameters(), grads):
        assert torch.equal(p.grad, g)
    new_state = optimizer.state_dict()["state"]
    for (i, k), v in opt_tensors.items():
        assert torch.equal(new_state[i][k], v), (i, k)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(g["params"][0] is p for g, p in zip(optimizer.param_groups,
                                                   [next(net.parameters())]))


def test_parameters_of_a_foreign_optimizer_are_restored(digits):
    x, _, y = digits
    net, other = mlp(seed=0), mlp(seed=1)
    for p in other.parameters():                  # give the other model gradients to step with
        p.grad = torch.ones_like(p)
    before = [p.detach().clone() for p in other.parameters()]
    run(net, loader(x, y), optimizer=optim.SGD(other.parameters(), lr=0.1))
    assert all(torch.equal(a, b) for a, b in zip(before, other.parameters()))


# ---------------------------------------------------------------------------------------------
# Each check fires on its bug
# ---------------------------------------------------------------------------------------------

def test_shuffle_fires_on_class_sorted_data(digits):
    x, _, y = digits
    order = torch.argsort(y, stable=True)
    sorted_loader = loader(x[order], y[order], shuffle=False)
    bad = run(mlp(), sorted_loader)
    assert bad.has("shuffle", "error")
    assert bad.details("shuffle")["label_changes"] <= 1
    assert bad.details("shuffle")["p_value"] < 1e-6
    good = run(mlp(), loader(x[order], y[order], shuffle=True))
    assert not good.has("shuffle", "info")
    hist = batch_label_histograms(sorted_loader, n_batches=3, n_classes=10)
    assert hist.shape == (3, 10) and (hist > 0).sum(axis=1).max() == 1


def imbalanced_digits(x, y):
    """Digits '0' (85 images, 5%) against all other digits (1,619 images): labels 1 and 0."""
    keep = torch.cat([torch.nonzero(y != 0).view(-1), torch.nonzero(y == 0).view(-1)[:85]])
    return x[keep], (y[keep] == 0).long()


def test_shuffled_imbalanced_data_is_never_called_sorted(digits):
    x, _, y = digits
    xb, yb = imbalanced_digits(x, y)
    assert abs(yb.float().mean().item() - 0.05) < 0.002
    severities = []
    for seed in range(40):
        torch.manual_seed(seed)
        net = mlp(n_out=2, seed=seed)
        train_loader = DataLoader(TensorDataset(xb, yb), batch_size=16, shuffle=True)
        severities += [f.severity for f in run(net, train_loader).get("shuffle")]
    assert set(severities) <= {"ok", "info"}, severities


class NoTargets(Dataset):
    """A custom Dataset without ``targets``: its labels are unknown until it is read."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def test_class_sorted_data_without_targets_gets_a_warning(digits):
    x, _, y = digits
    order = torch.argsort(y, stable=True)
    report = run(mlp(), DataLoader(NoTargets(x[order], y[order]), batch_size=32))
    assert report.has("shuffle", "warning")
    assert report.details("shuffle")["frequencies_from"] == "sample"
    shuffled = run(mlp(), DataLoader(NoTargets(x, y), batch_size=32, shuffle=True))
    assert not shuffled.has("shuffle", "info")


def test_label_balance_fires_on_2_to_1_iris():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    keep = np.r_[np.flatnonzero(y == 0), np.flatnonzero(y == 1),
                 np.flatnonzero(y == 2)[:25]]      # 50 : 50 : 25
    xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(y)
    bad = run(mlp(4, 3), loader(xt[keep], yt[keep], batch_size=16))
    assert bad.has("label_balance") and bad.details("label_balance")["max_min_ratio"] == 2.0
    good = run(mlp(4, 3), loader(xt, yt, batch_size=16))
    assert not good.has("label_balance", "info")


def test_label_balance_without_targets_needs_a_significant_imbalance(digits):
    x, _, y = digits
    severities = []
    for seed in range(40):                        # balanced: sampling noise only
        torch.manual_seed(seed)
        report = run(mlp(seed=seed), DataLoader(NoTargets(x, y), batch_size=64, shuffle=True))
        severities += [f.severity for f in report.get("label_balance")]
    assert set(severities) <= {"ok", "info"}, severities
    torch.manual_seed(0)
    xb, yb = imbalanced_digits(x, y)              # 5% minority: significant in 160 samples
    report = run(mlp(n_out=2), DataLoader(NoTargets(xb, yb), batch_size=32, shuffle=True))
    assert report.has("label_balance", "warning")
    assert report.details("label_balance")["p_value"] < 1e-3


def test_input_stats_fires_on_0_255_pixels(digits):
    _, raw, y = digits
    report = run(mlp(), loader(raw, y))
    assert report.has("input_stats", "error")
    assert report.details("input_stats")["max"] > 100
    assert "0〜255" in report.get("input_stats")[0].message


class PixelEmbedding(nn.Module):
    """Each of the 64 pixels of a digits image (an integer 0-16) looked up in an embedding."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(17, 4)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(64 * 4, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, ids):
        return self.body(self.embed(ids))


class PixelsAsNumbers(nn.Module):
    """The same integer pixels cast to float inside forward and used unscaled."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, pixels):
        return self.fc(pixels.float())


def test_integer_ids_into_an_embedding_are_fine_and_other_integers_are_not():
    X, y = load_digits(return_X_y=True)
    ids = torch.tensor(X, dtype=torch.long)       # the real pixel values 0-16 as ids
    torch.manual_seed(0)
    net = PixelEmbedding()
    report = run(net, loader(ids, torch.tensor(y)), optimizer=optim.Adam(net.parameters(), 1e-3))
    (finding,) = report.get("input_stats")
    assert finding.severity == "ok" and finding.details["ids"]
    assert (finding.details["min"], finding.details["max"]) == (0, 16)
    assert report.ok, [str(f) for f in report.problems]
    cast = run(PixelsAsNumbers(), loader(ids, torch.tensor(y)))
    assert cast.has("input_stats", "error")


def test_raw_iris_centimetres_are_info_not_an_input_error():
    X, y = load_iris(return_X_y=True)
    xt = torch.tensor(X[:, [0, 2]], dtype=torch.float32)    # chapter 7: sepal and petal length
    report = run(mlp(2, 3), loader(xt, torch.tensor(y), batch_size=16))
    (finding,) = report.get("input_stats")
    assert finding.severity == "info" and finding.details["max"] < 8
    assert finding.details["mean"] > 4


def test_init_loss_tolerates_a_random_linear_model_on_raw_features():
    """Chapter 6's logistic regression with PyTorch's own init on iris in cm: initial losses up
    to 3.1 (4.4 x ln 2) in these 40 draws; the model trains normally."""
    X, y = load_iris(return_X_y=True)
    xt = torch.tensor(X[:100, :2], dtype=torch.float32)
    yt = torch.tensor(y[:100], dtype=torch.float32).view(-1, 1)
    losses = []
    for seed in range(40):
        torch.manual_seed(seed)
        report = run(nn.Linear(2, 1), loader(xt, yt, batch_size=16),
                     criterion=nn.BCEWithLogitsLoss(), overfit_steps=1)
        assert not report.has("init_loss"), (seed, report.get("init_loss"))
        losses.append(report.details("init_loss")["loss"])
    assert max(losses) > 2 * math.log(2)        # the draws do reach well above ln 2


def test_init_loss_is_averaged_over_the_inspected_batches():
    """Weights of 0.7 (inside PyTorch's default init range for 2 inputs) on iris in cm: the loss
    over the 70 training rows is 3.34, but a first batch of 16 with many class-0 rows reaches
    3.8-4.1, above ln 2 + 3."""
    X, y = load_iris(return_X_y=True)
    x_tr, _, y_tr, _ = train_test_split(X[:100, :2], y[:100], train_size=70, test_size=30,
                                        random_state=123)
    xt = torch.tensor(x_tr, dtype=torch.float32)
    yt = torch.tensor(y_tr, dtype=torch.float32).view(-1, 1)
    net, criterion = nn.Linear(2, 1), nn.BCEWithLogitsLoss()
    with torch.no_grad():
        net.weight.fill_(0.7)
        net.bias.fill_(0.7)
        whole = float(criterion(net(xt), yt))
    first_batches = []
    for seed in range(20):
        torch.manual_seed(seed)
        train_loader = DataLoader(TensorDataset(xt, yt), batch_size=16, shuffle=True)
        with torch.no_grad():
            xb, yb = next(iter(train_loader))
            first_batches.append(float(criterion(net(xb), yb)))
        torch.manual_seed(seed)                   # the same order for check_training
        report = run(net, train_loader, criterion=criterion, overfit_steps=1)
        assert not report.has("init_loss"), (seed, report.get("init_loss"))
        details = report.details("init_loss")
        assert details["n_samples"] == 70 and details["loss"] == pytest.approx(whole, rel=1e-5)
    assert max(first_batches) > math.log(2) + 3 > whole


def test_init_loss_fires_for_huge_initial_weights(digits):
    x, _, y = digits
    net = mlp()
    with torch.no_grad():
        net[2].weight.mul_(30)
    report = run(net, loader(x, y))
    assert report.has("init_loss")
    assert report.details("init_loss")["loss"] > 1.6 * math.log(10)


def test_init_loss_of_a_trained_model_is_info_not_a_warning(digits):
    x, _, y = digits
    net = mlp()
    optimizer = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):                            # three epochs: the loss is far below ln 10
        for xb, yb in loader(x, y):
            optimizer.zero_grad()
            nn.CrossEntropyLoss()(net(xb), yb).backward()
            optimizer.step()
    report = run(net, loader(x, y), optimizer=optimizer)
    (finding,) = report.get("init_loss")
    assert finding.severity == "info" and "学習した" in finding.message
    assert finding.details["loss"] < 0.5 * math.log(10)


def test_init_loss_expects_the_sum_for_a_summed_loss(digits):
    x, _, y = digits
    criterion = nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.2)  # chapter 15's loss
    report = run(mlp(), loader(x, y), criterion=criterion)
    (finding,) = report.get("init_loss")
    assert finding.severity == "ok", finding
    assert finding.details["expected"] == pytest.approx(32 * math.log(10))


class FunctionalSoftmax(nn.Module):
    """Softmax written in forward (no nn.Softmax module to spot)."""

    def __init__(self):
        super().__init__()
        self.body = mlp()

    def forward(self, x):
        return F.softmax(self.body(x), dim=1)


@pytest.mark.parametrize("make_net", [lambda: mlp(last=nn.Softmax(dim=1)), FunctionalSoftmax,
                                      lambda: mlp(last=nn.ReLU())],
                         ids=["softmax_module", "softmax_functional", "relu"])
def test_logit_activation_fires_before_cross_entropy(digits, make_net):
    x, _, y = digits
    report = run(make_net(), loader(x, y))
    assert report.has("logit_activation", "error")


def test_sigmoid_before_bce_with_logits_fires_and_plain_logits_do_not(cancer):
    xt, yt = cancer
    bad = run(mlp(30, 1, last=nn.Sigmoid()), loader(xt, yt), criterion=nn.BCEWithLogitsLoss())
    assert bad.has("logit_activation", "error")
    good = run(mlp(30, 1), loader(xt, yt), criterion=nn.BCEWithLogitsLoss())
    assert not good.has("logit_activation", "info")
    assert not good.has("init_loss") and not good.has("overfit_batch")


def test_plain_logits_between_0_and_1_are_not_taken_for_a_sigmoid(cancer):
    x, y = cancer
    net = mlp(30, 1)
    with torch.no_grad():                         # logits near 0.5: inside (0, 1), yet plain
        net[2].weight.mul_(0.01)
        net[2].bias.fill_(0.5)
    assert bool(((net(x) > 0) & (net(x) < 1)).all())
    report = run(net, loader(x, y), criterion=nn.BCEWithLogitsLoss())
    assert not report.has("logit_activation", "info")
    assert report.details("logit_activation")["op"] == "linear"


class LogsFeatureMap(nn.Module):
    """Returns logits; afterwards keeps the ReLU of the hidden layer for plotting, so the last
    module called is a ReLU that does not produce the output."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(64, 64), nn.Linear(64, 10), nn.ReLU()

    def forward(self, x):
        h = self.fc1(x)
        logits = self.fc2(torch.relu(h))
        self.feature_map = self.act(h).detach()
        return logits


def test_logit_activation_follows_the_output_not_the_last_module(digits):
    x, _, y = digits
    torch.manual_seed(0)
    report = run(LogsFeatureMap(), loader(x, y))
    assert not report.has("logit_activation", "info")


@pytest.mark.parametrize("last, activation", [(nn.Sigmoid(), "Sigmoid"), (nn.ReLU(), "ReLU"),
                                              (nn.ReLU(inplace=True), "ReLU")],
                         ids=["sigmoid", "relu", "relu_inplace"])
def test_logit_activation_walks_back_through_shape_ops(cancer, last, activation):
    x, y = cancer
    net = nn.Sequential(mlp(30, 1), last, nn.Flatten(0), nn.Unflatten(0, (-1, 1)))
    report = run(net, loader(x, y), criterion=nn.BCEWithLogitsLoss())
    assert report.has("logit_activation", "error")
    assert report.details("logit_activation")["activation"] == activation
    assert report.details("logit_activation")["module"] == "1"


class LogSoftmaxInForward(nn.Module):
    """NLLLoss's partner written as a function call in forward."""

    def __init__(self):
        super().__init__()
        self.body = mlp()

    def forward(self, x):
        return torch.log_softmax(self.body(x), dim=1)


def test_log_softmax_in_forward_with_nll_loss_is_right(digits):
    x, _, y = digits
    report = run(LogSoftmaxInForward(), loader(x, y), criterion=nn.NLLLoss())
    (finding,) = report.get("logit_activation")
    assert finding.severity == "ok" and finding.details["activation"] == "LogSoftmax"
    assert finding.details["module"] == ""


def test_optimizer_over_wrong_parameters_fires(digits):
    x, _, y = digits
    net, old_net = mlp(seed=0), mlp(seed=1)
    report = run(net, loader(x, y), optimizer=optim.SGD(old_net.parameters(), lr=0.1))
    assert report.has("optimizer_params", "error")
    assert report.has("overfit_batch", "error")
    assert report.details("overfit_batch")["weights_changed"] is False


def test_forgotten_optimizer_step_fires_through_train_step(digits):
    x, _, y = digits

    def step_without_update(net, optimizer, criterion, inputs, labels):
        optimizer.zero_grad()
        loss = criterion(net(inputs), labels)
        loss.backward()
        return loss                               # optimizer.step() forgotten

    report = run(mlp(), loader(x, y), train_step=step_without_update)
    assert report.has("overfit_batch", "error")
    assert not report.has("optimizer_params")     # the set-up itself is fine


@pytest.mark.parametrize("lr", [1e-6, 50.0], ids=["too_small", "too_large"])
def test_overfit_batch_fires_for_bad_learning_rates(digits, lr):
    x, _, y = digits
    net = mlp()
    report = run(net, loader(x, y), optimizer=optim.SGD(net.parameters(), lr=lr))
    assert report.has("overfit_batch", "error")


def test_slow_plain_sgd_on_a_deep_mlp_is_info_not_an_error(digits):
    """Chapter 8's DeepNet (3 hidden layers) with plain SGD lr=0.01: the loss of one batch falls
    only a few percent in 50 steps.  That is slow, not broken."""
    x, _, y = digits
    for seed in range(5):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(inplace=True),
                            nn.Linear(128, 128), nn.ReLU(inplace=True),
                            nn.Linear(128, 128), nn.ReLU(inplace=True), nn.Linear(128, 10))
        report = run(net, loader(x, y), optimizer=optim.SGD(net.parameters(), lr=0.01))
        (finding,) = report.get("overfit_batch")
        assert finding.severity == "info", (seed, finding)
        assert 0 < finding.details["progress"] < 0.5


def test_overfit_measures_first_and_last_loss_in_the_same_mode(digits):
    x, _, y = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 10))
    report = run(net, loader(x, y), optimizer=optim.SGD(net.parameters(), lr=1e-6))
    details = report.details("overfit_batch")
    assert details["weights_changed"]
    # train mode with the same dropout masks: lr 1e-6 changes the loss by far less than 1e-4
    assert details["final_loss"] == pytest.approx(details["first_loss"], rel=1e-4)
    assert report.has("overfit_batch", "error")   # and the tiny steps are the diagnosis


def test_dead_relu_and_zero_gradients_fire_for_a_bad_bias_init(digits):
    x, _, y = digits
    net = mlp()
    with torch.no_grad():
        net[0].bias.fill_(-10.0)                  # every hidden unit starts (and stays) dead
    report = run(net, loader(x, y))
    assert report.has("dead_relu", "error")
    assert report.details("dead_relu")["fractions"]["1"] == 1.0
    assert report.has("grad_flow", "error")
    assert report.details("grad_flow")["norms"]["0.weight"] == 0.0
    norms = gradient_norms(net, x[:32], y[:32], nn.CrossEntropyLoss())
    assert norms["0.weight"] == 0.0 and norms["2.bias"] > 0
    healthy = dead_relu_fraction(mlp(), x[:32])
    assert healthy["1"] < 0.5


class SharedReLU(nn.Module):
    """One ReLU module used after both hidden layers, as chapter 9's CNN does."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(64, 32), nn.Linear(32, 32), nn.Linear(32, 10)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.fc3(self.relu(self.fc2(self.relu(self.fc1(x)))))


def test_dead_relu_fraction_measures_each_call_and_pools_batches(digits):
    x, _, _ = digits
    torch.manual_seed(0)
    net = SharedReLU()
    with torch.no_grad():
        net.fc2.bias.fill_(-100.0)                # only the second call is dead
    fractions = dead_relu_fraction(net, [x[:32], x[32:64]])
    assert set(fractions) == {"relu", "relu#2"}
    assert fractions["relu#2"] == 1.0 and fractions["relu"] < 0.5
    healthy = mlp()
    one_sample = dead_relu_fraction(healthy, x[:1])["1"]
    pooled = dead_relu_fraction(healthy, [x[i:i + 1] for i in range(64)])["1"]
    assert one_sample > 0.3 and pooled < 0.1


def test_dead_relu_is_not_judged_on_too_few_samples(digits):
    x, _, y = digits
    report = run(mlp(), loader(x[:40], y[:40], batch_size=8))
    (finding,) = report.get("dead_relu")
    assert finding.severity == "info" and finding.details["n_samples"] == 40


def test_grad_flow_flags_unused_parameters(digits):
    x, _, y = digits

    class Detached(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = mlp()
            self.unused = nn.Linear(4, 4)

        def forward(self, inp):
            return self.body(inp)

    report = run(Detached(), loader(x, y))
    norms = report.details("grad_flow")["norms"]
    assert norms["unused.weight"] is None and norms["unused.bias"] is None
    assert norms["body.0.weight"] > 0
    (finding,) = [f for f in report.get("grad_flow") if f.severity != "ok"]
    assert finding.severity == "warning" and "届かない" in finding.message
    assert "unused.weight" in finding.message


class SqrtOfZero(nn.Module):
    """Linear -> sqrt(h - h) -> Linear: a finite forward pass whose backward gives NaN.

    d sqrt(u)/du is Inf at u = 0, and h - h sends +Inf and -Inf back to h: NaN in fc1.
    """

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(torch.sqrt(h - h))


class SqrtGate(nn.Module):
    """Logits times sqrt(gate) with the gate starting at 0: the gate's gradient is +/-Inf."""

    def __init__(self):
        super().__init__()
        self.body = mlp()
        self.gate = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return self.body(x) * torch.sqrt(self.gate)


@pytest.mark.parametrize("make_net, broken, value", [(SqrtOfZero, "fc1.weight", "nan"),
                                                     (SqrtGate, "gate", "inf")],
                         ids=["nan", "inf"])
def test_grad_flow_reports_non_finite_gradients_as_errors(digits, make_net, broken, value):
    x, _, y = digits
    torch.manual_seed(0)
    net = make_net()
    norms = gradient_norms(net, x[:32], y[:32], nn.CrossEntropyLoss())
    assert math.isnan(norms[broken]) if value == "nan" else math.isinf(norms[broken])
    report = run(net, loader(x, y))
    errors = [f for f in report.get("grad_flow") if f.severity == "error"]
    assert any(broken in f.message and "NaN / Inf" in f.message for f in errors), errors
    assert not any("届かない" in f.message for f in report.get("grad_flow"))


def test_regression_target_scale_and_relu_output():
    X, y = load_diabetes(return_X_y=True)     # targets 25..346: unscaled
    xt = torch.tensor((X - X.mean(0)) / X.std(0), dtype=torch.float32)
    raw = torch.tensor(y, dtype=torch.float32).view(-1, 1)
    scaled = (raw - raw.mean()) / raw.std()
    bad = run(mlp(10, 1), loader(xt, raw), criterion=nn.MSELoss(),
              optimizer=optim.SGD(mlp(10, 1).parameters(), lr=0.01))
    assert bad.has("target_scale")
    net = mlp(10, 1)
    good = run(net, loader(xt, scaled), criterion=nn.MSELoss(),
               optimizer=optim.Adam(net.parameters(), lr=1e-2))
    assert not good.has("target_scale", "info") and not good.has("logit_activation", "info")
    assert "shuffle" not in {f.check for f in good}     # no class checks for regression
    relu_net = mlp(10, 1, last=nn.ReLU())
    relu = run(relu_net, loader(xt, scaled), criterion=nn.MSELoss(),
               optimizer=optim.Adam(relu_net.parameters(), lr=1e-2))
    assert relu.has("logit_activation")
