"""Tests of pythonlibs.training on small real data (scikit-learn's iris and digits)."""

import signal

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from torch import nn, optim
from torch.utils.data import DataLoader, Dataset, TensorDataset

from pythonlibs.data import make_loader
from pythonlibs.runtime import torch_seed
from pythonlibs.training import (count_correct, eval_loss, eval_mode, evaluate, fit,
                                 load_checkpoint, mixed_precision_dtype, parameters_in_optimizer,
                                 predicted_classes, save_checkpoint)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def iris():
    data = load_iris()
    return torch.tensor(data.data, dtype=torch.float32), torch.tensor(data.target)


def small_mlp(n_in=64, n_out=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, n_out))


def iris_loader(iris, batch_size=32, shuffle=False):
    return DataLoader(TensorDataset(*iris), batch_size=batch_size, shuffle=shuffle)


# --- the book's fit: rows, per-sample loss, modes, repeatability ---------------------------------

def test_fit_returns_history_rows_and_continues(iris):
    loader = iris_loader(iris, shuffle=True)
    net = nn.Linear(4, 3)
    optimizer = optim.SGD(net.parameters(), lr=0.05)
    history = fit(net, optimizer, nn.CrossEntropyLoss(), 3, loader, loader, "cpu", np.zeros((0, 5)))
    assert history.shape == (3, 5) and list(history[:, 0]) == [1, 2, 3]
    history = fit(net, optimizer, nn.CrossEntropyLoss(), 2, loader, loader, "cpu", history)
    assert list(history[:, 0]) == [1, 2, 3, 4, 5]
    assert np.all((history[:, [2, 4]] >= 0) & (history[:, [2, 4]] <= 1))


def test_fit_accepts_none_as_the_empty_history(iris):
    loader = iris_loader(iris)
    net = nn.Linear(4, 3)
    history = fit(net, optim.SGD(net.parameters(), lr=0.05), nn.CrossEntropyLoss(), 2, loader,
                  loader, "cpu")
    assert history.shape == (2, 5) and list(history[:, 0]) == [1, 2]
    with pytest.raises(ValueError, match="history"):
        fit(net, optim.SGD(net.parameters(), lr=0.05), nn.CrossEntropyLoss(), 1, loader, loader,
            "cpu", np.zeros((0, 3)))


def test_train_loss_is_averaged_per_sample_with_a_short_last_batch(iris):
    x, y = iris  # 150 samples in batches of 32: the last batch has 22
    loader = iris_loader(iris)
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    frozen = optim.SGD(net.parameters(), lr=0.0)  # weights do not move: the loss is exact
    history = fit(net, frozen, nn.CrossEntropyLoss(), 1, loader, loader, "cpu")
    with torch.no_grad():
        outputs = net(x)
        expected_loss = nn.functional.cross_entropy(outputs, y).item()
        expected_acc = (outputs.argmax(1) == y).float().mean().item()
    assert history[0, 1] == pytest.approx(expected_loss, rel=1e-5)
    assert history[0, 3] == pytest.approx(expected_loss, rel=1e-5)
    assert history[0, 2] == pytest.approx(expected_acc)
    assert history[0, 4] == pytest.approx(expected_acc)
    with torch.no_grad():
        batch_means = [nn.functional.cross_entropy(net(xb), yb).item() for xb, yb in loader]
    assert np.mean(batch_means) != pytest.approx(expected_loss, rel=1e-5)  # the book's old mistake


def test_reduction_sum_is_reported_per_sample_like_mean(iris):
    loader = iris_loader(iris)
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    frozen = optim.SGD(net.parameters(), lr=0.0)
    mean = fit(net, frozen, nn.CrossEntropyLoss(), 1, loader, loader, "cpu")
    summed = fit(net, frozen, nn.CrossEntropyLoss(reduction="sum"), 1, loader, loader, "cpu")
    assert summed[0, 1] == pytest.approx(mean[0, 1], rel=1e-5)   # not 32x larger
    assert summed[0, 3] == pytest.approx(mean[0, 3], rel=1e-5)
    with pytest.raises(ValueError, match="スカラー"):
        fit(net, frozen, nn.CrossEntropyLoss(reduction="none"), 1, loader, loader, "cpu")


class _Recorder(nn.Module):
    """A linear layer that records the mode and grad state it was called in, and its inputs."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.calls, self.inputs = [], []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        self.inputs.append(x.detach().clone())
        return self.linear(x)


def test_evaluate_runs_in_eval_mode_without_grad_and_restores_mode(iris):
    net = _Recorder()
    net.train()
    loss, acc = evaluate(net, iris_loader(iris, batch_size=50), nn.CrossEntropyLoss(), "cpu")
    assert net.calls == [(False, False)] * 3
    assert net.training
    assert loss > 0 and 0 <= acc <= 1


def test_eval_mode_restores_each_submodule_even_on_error():
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout())
    net.train()
    net[1].eval()   # a frozen BatchNorm inside a model that trains
    with pytest.raises(RuntimeError):
        with eval_mode(net):
            assert not torch.is_grad_enabled() and not net.training
            raise RuntimeError("boom")
    assert net.training and net[2].training and not net[1].training


def test_fit_trains_in_train_mode_validates_in_eval_mode_and_ends_in_eval_mode(iris):
    net = _Recorder()
    loader = iris_loader(iris, batch_size=75)
    fit(net, optim.SGD(net.parameters(), lr=0.01), nn.CrossEntropyLoss(), 1, loader, loader, "cpu")
    assert net.calls == [(True, True)] * 2 + [(False, False)] * 2
    assert not net.training   # like the book's fit: ready to predict


def test_fit_draws_the_same_random_numbers_as_a_plain_loop(iris):
    """A progress bar must not iterate the DataLoader once more (that would use a random draw)."""
    loader = iris_loader(iris, batch_size=50, shuffle=True)
    torch.manual_seed(5)
    expected = [[x for x, _ in loader] for _ in range(2)]   # the book's epoch: train, then validate
    net = _Recorder()
    torch.manual_seed(5)
    fit(net, optim.SGD(net.parameters(), lr=0.0), nn.CrossEntropyLoss(), 1, loader, loader, "cpu")
    assert len(net.inputs) == 6
    assert all(torch.equal(a, b) for a, b in zip(net.inputs, expected[0] + expected[1]))


def test_fit_on_cpu_repeats_exactly_after_torch_seed(digits_dataset):
    def run():
        torch_seed(123)
        net = small_mlp()
        loader = make_loader(digits_dataset, batch_size=64, shuffle=True)
        optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        return fit(net, optimizer, nn.CrossEntropyLoss(), 2, loader, loader, "cpu")
    try:
        first, second = run(), run()
    finally:
        torch.use_deterministic_algorithms(False)
    assert np.array_equal(first, second)
    assert first[-1, 4] > 0.5  # it really learned: far above 10% chance


def test_mixed_precision_changes_nothing_on_a_cpu(digits_dataset):
    """amp=True is for CUDA only: on a CPU the run stays float32, bit for bit the same."""
    def run(amp):
        torch_seed(7)
        net = small_mlp()
        loader = make_loader(digits_dataset, batch_size=64, shuffle=True)
        history = fit(net, optim.Adam(net.parameters(), lr=1e-3), nn.CrossEntropyLoss(), 2,
                      loader, loader, "cpu", amp=amp)
        return history, net
    try:
        (plain, plain_net), (mixed, mixed_net) = run(False), run(True)
    finally:
        torch.use_deterministic_algorithms(False)
    assert np.array_equal(plain, mixed)
    assert all(torch.equal(a, b) for a, b in zip(plain_net.parameters(), mixed_net.parameters()))


@pytest.mark.parametrize("native_bf16, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_mixed_precision_uses_fp16_where_bf16_is_only_emulated(monkeypatch, native_bf16, expected):
    """A T4 (compute capability 7.5) emulates bf16: torch.cuda.is_bf16_supported() says yes unless
    emulation is left out, and bf16 there would be slow.  An A100 / H100 computes it natively."""
    def is_bf16_supported(including_emulation=True):
        return native_bf16 or including_emulation
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)
    assert mixed_precision_dtype() == expected


# --- accuracy bookkeeping ------------------------------------------------------------------------

def test_fit_accuracy_for_binary_logits(iris):
    x, y = iris
    keep = y < 2
    data = (x[keep][:, :2], y[keep].float().view(-1, 1))
    loader = DataLoader(TensorDataset(*data), batch_size=16, shuffle=True)
    torch.manual_seed(0)
    net = nn.Linear(2, 1)
    history = fit(net, optim.SGD(net.parameters(), lr=0.1), nn.BCEWithLogitsLoss(), 30, loader,
                  loader, "cpu")
    assert history[-1, 4] > 0.9  # setosa vs versicolor is separable


def test_multi_label_accuracy_is_the_share_of_right_labels(iris):
    """Three yes/no labels per flower ("is setosa", "is versicolor", "is virginica")."""
    x, y = iris
    targets = nn.functional.one_hot(y, 3).float()
    loader = DataLoader(TensorDataset(x, targets), batch_size=50)
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    history = fit(net, optim.SGD(net.parameters(), lr=0.0), nn.BCEWithLogitsLoss(), 1, loader,
                  loader, "cpu")
    with torch.no_grad():
        expected = ((net(x) > 0).float() == targets).float().mean().item()
    assert history[0, 4] == pytest.approx(expected) and history[0, 4] <= 1


def test_smoothed_binary_targets_count_by_their_side_of_one_half(iris):
    x, y = iris
    keep = y < 2
    hard = y[keep].float().view(-1, 1)
    outputs = torch.where(hard > 0.5, 3.0, -3.0)   # a perfect one-logit model
    smoothed = hard * 0.9 + 0.05                    # 0.05 / 0.95
    for criterion in (nn.BCEWithLogitsLoss(), nn.BCELoss()):
        scores = outputs.sigmoid() if isinstance(criterion, nn.BCELoss) else outputs
        correct, counted = count_correct(scores, smoothed, criterion)
        assert int(correct) == counted == len(hard)


def test_count_correct_for_class_labels_per_position_and_ignore_index():
    outputs = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]).transpose(1, 2)   # (1, C=3, L=2)
    labels = torch.tensor([[0, 2]])
    assert [int(v) for v in count_correct(outputs, labels, nn.CrossEntropyLoss())] == [1, 2]
    ignoring = nn.CrossEntropyLoss(ignore_index=2)
    assert [int(v) for v in count_correct(outputs, labels, ignoring)] == [1, 1]
    assert count_correct(torch.zeros(4, 1), torch.zeros(4, 1), nn.MSELoss()) is None


def test_predicted_classes_for_one_logit_and_many():
    logits = torch.tensor([[-0.3], [0.2]])
    assert predicted_classes(logits).tolist() == [0, 1]
    assert predicted_classes(logits.sigmoid(), sigmoid_applied=True).tolist() == [0, 1]
    assert predicted_classes(torch.tensor([[0.1, 0.9, 0.0]])).tolist() == [1]


def test_fit_reports_nan_accuracy_for_regression(iris):
    x, _ = iris
    loader = DataLoader(TensorDataset(x[:, :3], x[:, 3:]), batch_size=32)  # petal width from the rest
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    history = fit(net, optim.SGD(net.parameters(), lr=0.01), nn.MSELoss(), 5, loader, loader, "cpu")
    assert np.isnan(history[:, [2, 4]]).all()
    assert np.all(np.diff(history[:, 3]) < 0)  # the MSE goes down every epoch


# --- mistakes that would train silently wrong ----------------------------------------------------

def test_fit_refuses_an_optimizer_of_another_model(iris):
    loader = iris_loader(iris)
    old_net = nn.Linear(4, 3)
    optimizer = optim.SGD(old_net.parameters(), lr=0.1)
    net = nn.Linear(4, 3)   # the model cell was run again, the optimizer cell was not
    with pytest.raises(ValueError, match="オプティマイザ"):
        fit(net, optimizer, nn.CrossEntropyLoss(), 1, loader, loader, "cpu")
    frozen = nn.Linear(4, 3).requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad"):
        fit(frozen, optim.SGD(frozen.parameters(), lr=0.1), nn.CrossEntropyLoss(), 1, loader,
            loader, "cpu")


def test_fit_allows_an_optimizer_over_part_of_the_model(iris):
    loader = iris_loader(iris)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    net[0].requires_grad_(False)                     # transfer learning: the body is frozen
    head_only = optim.SGD(net[2].parameters(), lr=0.1)
    assert parameters_in_optimizer(net, head_only) == (["2.weight", "2.bias"], [])
    before = net[2].weight.detach().clone()
    fit(net, head_only, nn.CrossEntropyLoss(), 1, loader, loader, "cpu")
    assert not torch.equal(before, net[2].weight)


@pytest.mark.parametrize("make_net, criterion, labels", [
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.Flatten(0)), nn.CrossEntropyLoss(), None),
    (lambda: nn.Linear(4, 1), nn.BCEWithLogitsLoss(), "flat"),
    (lambda: nn.Linear(4, 1), nn.MSELoss(), "flat"),      # (N, 1) vs (N,) would broadcast to (N, N)
    (lambda: nn.Linear(4, 1), nn.L1Loss(), "flat"),
    (lambda: nn.Linear(4, 3), nn.CrossEntropyLoss(), "column"),   # labels (N, 1)
    (lambda: nn.Linear(4, 3), nn.CrossEntropyLoss(), "float"),    # labels not class numbers
])
def test_shapes_that_would_broadcast_give_a_clear_error(iris, make_net, criterion, labels):
    x, y = iris
    y = {"flat": y.float(), "column": y.view(-1, 1), "float": y.float(), None: y}[labels]
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    net = make_net()
    with pytest.raises(ValueError, match="outputs"):
        fit(net, optim.SGD(net.parameters(), lr=0.1), criterion, 1, loader, loader, "cpu")


class _PerPositionNet(nn.Module):
    """Classifies each of L positions of a sequence: outputs (N, C, L), as in segmentation."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 3, kernel_size=1)

    def forward(self, x):
        return self.conv(x.unsqueeze(1))


def test_cross_entropy_with_a_class_axis_and_positions_is_allowed(iris):
    x, y = iris
    labels = torch.stack([y] * 4, dim=1)   # (N, L=4): the flower's class at every position
    loader = DataLoader(TensorDataset(x, labels), batch_size=30)
    net = _PerPositionNet()
    history = fit(net, optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), 2, loader,
                  loader, "cpu")
    assert np.isfinite(history).all() and 0 <= history[-1, 4] <= 1


def test_empty_loader_gives_a_clear_error():
    empty = DataLoader(TensorDataset(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)),
                       batch_size=4)
    net = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="空"):
        fit(net, optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), 1, empty, empty, "cpu")
    with pytest.raises(ValueError, match="空"):
        evaluate(net, empty, nn.CrossEntropyLoss(), "cpu")
    with pytest.raises(ValueError, match="空"):
        eval_loss(empty, "cpu", net, nn.CrossEntropyLoss())


@pytest.mark.parametrize("num_epochs", [2.5, "10", None])
def test_non_integer_num_epochs_gives_a_clear_error(iris, num_epochs):
    loader = iris_loader(iris)
    net = nn.Linear(4, 3)
    with pytest.raises(TypeError, match="num_epochs は整数"):
        fit(net, optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), num_epochs, loader,
            loader, "cpu")
    history = fit(net, optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), np.int64(1),
                  loader, loader, "cpu")
    assert len(history) == 1


class _IrisDicts(Dataset):
    """Iris items as dicts, as many tutorials (and Hugging Face datasets) return them."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"features": self.x[i], "label": self.y[i]}


def test_batches_that_are_dicts_give_a_clear_error(iris):
    loader = DataLoader(_IrisDicts(*iris), batch_size=10)
    net = nn.Linear(4, 3)
    with pytest.raises(TypeError, match="辞書 .*features, label"):
        fit(net, optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), 1, loader, loader, "cpu")


class _LSTMClassifier(nn.Module):
    """Returns what nn.LSTM returns, (output, (h, c)): a tuple, not a tensor."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 3, batch_first=True)

    def forward(self, x):
        return self.lstm(x.unsqueeze(1))


def test_a_model_that_returns_a_tuple_gives_a_clear_error(iris):
    loader = iris_loader(iris)
    net = _LSTMClassifier()
    with pytest.raises(TypeError, match="モデルの出力が tuple"):
        fit(net, optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), 1, loader, loader, "cpu")
    with pytest.raises(TypeError, match="モデルの出力が tuple"):
        evaluate(net, loader, nn.CrossEntropyLoss(), "cpu")


def test_interrupting_fit_keeps_the_finished_epochs(iris, capsys):
    """A real SIGINT (what Jupyter's stop button sends) during the third epoch."""
    loader = iris_loader(iris)
    net = nn.Linear(4, 3)
    batches = {"n": 0}

    def interrupt_in_epoch_3(module, inputs):
        batches["n"] += 1
        if batches["n"] == 2 * (5 + 5) + 2:   # 5 training + 5 validation batches per epoch
            signal.raise_signal(signal.SIGINT)
    net.register_forward_pre_hook(interrupt_in_epoch_3)
    history = fit(net, optim.SGD(net.parameters(), lr=0.05), nn.CrossEntropyLoss(), 10, loader,
                  loader, "cpu", np.zeros((0, 5)))
    assert list(history[:, 0]) == [1, 2]
    assert "中断しました: 終わった 2 エポック" in capsys.readouterr().out


def test_eval_loss_returns_first_batch_loss_with_graph(iris):
    x, y = iris
    loader = iris_loader(iris, batch_size=10)
    net = nn.Linear(4, 3)
    loss = eval_loss(loader, "cpu", net, nn.CrossEntropyLoss())
    assert loss.grad_fn is not None
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(net(x[:10]), y[:10]).item())


# --- checkpoints ---------------------------------------------------------------------------------

def test_checkpoint_round_trip_restores_weights_optimizer_and_history(iris, tmp_path):
    loader = iris_loader(iris, shuffle=True)
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    history = fit(net, optimizer, nn.CrossEntropyLoss(), 2, loader, loader, "cpu")
    path = save_checkpoint(tmp_path / "run" / "last.pt", net, optimizer, history)
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]   # no temporary file left
    restored = nn.Linear(4, 3)
    restored_opt = optim.SGD(restored.parameters(), lr=0.05, momentum=0.9)
    loaded_history = load_checkpoint(path, restored, restored_opt)
    assert np.array_equal(loaded_history, history)
    assert torch.equal(restored.weight, net.weight)
    assert restored_opt.state_dict()["state"].keys() == optimizer.state_dict()["state"].keys()
    torch.save(net.state_dict(), tmp_path / "bare.pt")   # the book's way of saving
    assert load_checkpoint(tmp_path / "bare.pt", nn.Linear(4, 3)) is None


def test_a_checkpoint_that_does_not_load_gives_a_clear_error(tmp_path):
    net = nn.Linear(4, 3)
    with pytest.raises(FileNotFoundError, match="チェックポイント .* がありません"):
        load_checkpoint(tmp_path / "missing.pt", net)
    path = save_checkpoint(tmp_path / "good.pt", net)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(path.read_bytes()[:200])   # a save that stopped half way
    with pytest.raises(RuntimeError, match="damaged.pt を読み込めません"):
        load_checkpoint(damaged, net)
    with pytest.raises(ValueError, match="形が違う: weight"):
        load_checkpoint(path, nn.Linear(4, 5))
    with pytest.raises(ValueError, match="保存にあってモデルにない"):
        load_checkpoint(path, nn.Sequential(nn.Linear(4, 3)))
