"""Unit tests of pythonlibs.torch_lib1 on small real data (scikit-learn's iris and digits, the mirror)."""

import io
import math
import urllib.error
import warnings
import zipfile
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, load_iris
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms

matplotlib.use("Agg")

import pythonlibs.torch_lib1 as lib  # noqa: E402

MIRROR = lib._mirror_dir()
needs_mirror = pytest.mark.skipif(
    MIRROR is None or not MIRROR.is_dir(),
    reason="DLNB_DATA_MIRROR (e.g. ../shared/datasets) is not set; CI sets it")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


@pytest.fixture
def iris():
    data = load_iris()
    return (torch.tensor(data.data, dtype=torch.float32), torch.tensor(data.target))


@pytest.fixture
def digits_dataset():
    """The 1,797 real 8x8 digit images as an ImageArrayDataset, pixels 0..255, normalised."""
    data = load_digits()
    images = (data.images * (255 / 16)).round().astype(np.uint8)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    return lib.ImageArrayDataset(images, data.target, [str(d) for d in range(10)], transform)


def small_mlp(n_in=64, n_out=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, n_out))


# --- quick mode, epochs, device, seeds ----------------------------------------------------------

def test_epochs_full_and_quick(monkeypatch):
    monkeypatch.setattr(lib, "QUICK", False)
    assert lib.epochs(50) == 50
    monkeypatch.setattr(lib, "QUICK", True)
    assert lib.epochs(50) == lib.QUICK_MAX_EPOCHS
    assert lib.epochs(50, quick=5) == 5
    assert lib.epochs(1) == 1
    with pytest.raises(ValueError):
        lib.epochs(0)


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert lib.get_device(verbose=False).type == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert lib.get_device(verbose=False).type == "mps"


def test_torch_seed_calls_use_deterministic_algorithms():
    try:
        lib.torch_seed(1)
        assert callable(torch.use_deterministic_algorithms)  # the book overwrote it with True
        assert torch.are_deterministic_algorithms_enabled()
        a = torch.rand(3)
        lib.torch_seed(1)
        assert torch.equal(a, torch.rand(3))
        assert not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)


def test_fit_on_cpu_repeats_exactly_after_torch_seed(digits_dataset):
    def run():
        lib.torch_seed(123)
        net = small_mlp()
        loader = lib.make_loader(digits_dataset, batch_size=64, shuffle=True)
        optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
        return lib.fit(net, optimizer, nn.CrossEntropyLoss(), 2, loader, loader, "cpu",
                       np.zeros((0, 5)))
    try:
        first, second = run(), run()
    finally:
        torch.use_deterministic_algorithms(False)
    assert np.array_equal(first, second)
    assert first[-1, 4] > 0.5  # it really learned: far above 10% chance


# --- fit, evaluate, eval_loss -------------------------------------------------------------------

def test_fit_returns_history_rows_and_continues(iris):
    x, y = iris
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    net = nn.Linear(4, 3)
    optimizer = optim.SGD(net.parameters(), lr=0.05)
    history = lib.fit(net, optimizer, nn.CrossEntropyLoss(), 3, loader, loader, "cpu",
                      np.zeros((0, 5)))
    assert history.shape == (3, 5)
    assert list(history[:, 0]) == [1, 2, 3]
    history = lib.fit(net, optimizer, nn.CrossEntropyLoss(), 2, loader, loader, "cpu", history)
    assert history.shape == (5, 5)
    assert list(history[:, 0]) == [1, 2, 3, 4, 5]
    assert np.all((history[:, [2, 4]] >= 0) & (history[:, [2, 4]] <= 1))


def test_train_loss_is_averaged_per_sample_with_a_short_last_batch(iris):
    x, y = iris  # 150 samples in batches of 32: the last batch has 22
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=False)
    torch.manual_seed(0)
    net = nn.Linear(4, 3)
    frozen = optim.SGD(net.parameters(), lr=0.0)  # weights do not move: the loss is exact
    history = lib.fit(net, frozen, nn.CrossEntropyLoss(), 1, loader, loader, "cpu",
                      np.zeros((0, 5)))
    with torch.no_grad():
        outputs = net(x)
        expected_loss = nn.functional.cross_entropy(outputs, y).item()
        expected_acc = (outputs.argmax(1) == y).float().mean().item()
    assert history[0, 1] == pytest.approx(expected_loss, rel=1e-5)
    assert history[0, 3] == pytest.approx(expected_loss, rel=1e-5)
    assert history[0, 2] == pytest.approx(expected_acc)
    assert history[0, 4] == pytest.approx(expected_acc)
    batch_means = [nn.functional.cross_entropy(net(xb), yb).item() for xb, yb in loader]
    assert np.mean(batch_means) != pytest.approx(expected_loss, rel=1e-5)  # the book's mistake


class _Recorder(nn.Module):
    """A linear layer that records the mode and grad state it was called in."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.calls = []

    def forward(self, x):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.linear(x)


def test_evaluate_runs_in_eval_mode_without_grad_and_restores_mode(iris):
    x, y = iris
    net = _Recorder()
    net.train()
    loss, acc = lib.evaluate(net, DataLoader(TensorDataset(x, y), batch_size=50), nn.CrossEntropyLoss(),
                             "cpu")
    assert net.calls == [(False, False)] * 3
    assert net.training
    assert loss > 0 and 0 <= acc <= 1


def test_fit_trains_in_train_mode_and_validates_in_eval_mode(iris):
    x, y = iris
    net = _Recorder()
    loader = DataLoader(TensorDataset(x, y), batch_size=75)
    lib.fit(net, optim.SGD(net.parameters(), lr=0.01), nn.CrossEntropyLoss(), 1, loader, loader,
            "cpu", np.zeros((0, 5)))
    assert net.calls == [(True, True)] * 2 + [(False, False)] * 2


def test_fit_accuracy_for_binary_logits(iris):
    x, y = iris
    keep = y < 2
    x, y = x[keep][:, :2], y[keep].float().view(-1, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    torch.manual_seed(0)
    net = nn.Linear(2, 1)
    history = lib.fit(net, optim.SGD(net.parameters(), lr=0.1), nn.BCEWithLogitsLoss(), 30, loader,
                      loader, "cpu", np.zeros((0, 5)))
    assert history[-1, 4] > 0.9  # setosa vs versicolor is separable


def test_empty_loader_gives_a_clear_error():
    empty = DataLoader(TensorDataset(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)),
                       batch_size=4)
    net = nn.Linear(4, 3)
    with pytest.raises(ValueError, match="空"):
        lib.fit(net, optim.SGD(net.parameters(), lr=0.1), nn.CrossEntropyLoss(), 1, empty, empty,
                "cpu", np.zeros((0, 5)))
    with pytest.raises(ValueError, match="空"):
        lib.evaluate(net, empty, nn.CrossEntropyLoss(), "cpu")
    with pytest.raises(ValueError, match="空"):
        lib.eval_loss(empty, "cpu", net, nn.CrossEntropyLoss())


@pytest.mark.parametrize("make_net, criterion, labels", [
    (lambda: nn.Sequential(nn.Linear(4, 3), nn.Flatten(0)), nn.CrossEntropyLoss(), None),
    (lambda: nn.Linear(4, 1), nn.BCEWithLogitsLoss(), "flat"),
])
def test_shape_mismatch_gives_a_clear_error(iris, make_net, criterion, labels):
    x, y = iris
    y = y.float() if labels == "flat" else y
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    net = make_net()
    with pytest.raises(ValueError, match="outputs"):
        lib.fit(net, optim.SGD(net.parameters(), lr=0.1), criterion, 1, loader, loader, "cpu",
                np.zeros((0, 5)))


def test_eval_loss_returns_first_batch_loss_with_graph(iris):
    x, y = iris
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    net = nn.Linear(4, 3)
    loss = lib.eval_loss(loader, "cpu", net, nn.CrossEntropyLoss())
    assert loss.grad_fn is not None
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(net(x[:10]), y[:10]).item())


# --- plots --------------------------------------------------------------------------------------

def test_evaluate_history_plots_two_curves_with_japanese_labels(capsys):
    history = np.array([[1, 1.0, 0.5, 1.1, 0.4], [2, 0.5, 0.8, 0.7, 0.7]])
    lib.evaluate_history(history)
    fig = matplotlib.pyplot.gcf()  # Agg backend: show() leaves the figure open
    out = capsys.readouterr().out
    assert "初期状態: 損失: 1.10000 精度: 0.40000" in out
    assert "最終状態: 損失: 0.70000 精度: 0.70000" in out
    loss_ax, acc_ax = fig.axes
    assert [len(line.get_xdata()) for line in loss_ax.lines] == [2, 2]
    assert "損失" in loss_ax.get_ylabel() and "精度" in acc_ax.get_ylabel()
    assert loss_ax.get_title() == "学習曲線 (損失)"
    lib.evaluate_history(history, title="入力 2 個")
    assert [ax.get_title() for ax in matplotlib.pyplot.gcf().axes] == ["入力 2 個: 損失",
                                                                      "入力 2 個: 精度"]
    with pytest.raises(ValueError):
        lib.evaluate_history(np.zeros((0, 5)))


def test_japanese_text_renders_without_missing_glyphs():
    assert lib.JAPANESE_FONT == "IPAexGothic"
    fig, ax = matplotlib.pyplot.subplots()
    ax.set_title("学習曲線 (損失) −1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    assert not [w for w in caught if "missing from" in str(w.message)]


def test_image_display_undoes_any_normalize(digits_dataset):
    normalize = lib._find_normalize(digits_dataset)
    assert normalize is not None
    image, _ = digits_dataset[0]
    shown = lib._image_for_display(image, normalize)
    assert shown.shape == (8, 8)  # 1 channel -> 2-D grayscale
    np.testing.assert_allclose(shown, digits_dataset.data[0] / 255, atol=1e-6)
    colour = torch.rand(3, 4, 4)
    stats = transforms.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))
    np.testing.assert_allclose(lib._image_for_display(stats(colour), stats),
                               colour.permute(1, 2, 0).numpy(), atol=1e-5)
    flat = lib._image_for_display(torch.rand(784), None)
    assert flat.shape == (28, 28)
    with pytest.raises(ValueError):
        lib._image_for_display(torch.rand(10), None)


def test_show_images_labels_marks_mistakes(digits_dataset):
    loader = lib.make_loader(digits_dataset, batch_size=20)
    net = small_mlp()
    lib.show_images_labels(loader, digits_dataset.classes, net, "cpu")
    fig = matplotlib.pyplot.gcf()
    assert len(fig.axes) == 20
    with torch.no_grad():
        predicted = net(digits_dataset.tensors[0][:20]).argmax(1)
    wrong = (predicted != torch.as_tensor(digits_dataset.targets[:20])).numpy()
    colours = [ax.title.get_color() for ax in fig.axes]
    assert [c == "b" for c in colours] == list(wrong)
    lib.show_images_labels(loader, digits_dataset.classes, None, None)
    titles = matplotlib.pyplot.gcf().axes
    assert titles[0].get_title() == digits_dataset.classes[digits_dataset.targets[0]]


# --- datasets and loaders -----------------------------------------------------------------------

def test_image_array_dataset_precomputes_deterministic_transforms(digits_dataset):
    assert digits_dataset.tensors is not None
    x, y = digits_dataset[5]
    assert x.shape == (1, 8, 8) and y == digits_dataset.targets[5]
    augmented = lib.ImageArrayDataset(digits_dataset.data, digits_dataset.targets, range(10),
                                      transforms.Compose([transforms.RandomHorizontalFlip(),
                                                          transforms.ToTensor()]))
    assert augmented.tensors is None  # random transforms must run afresh every epoch
    assert isinstance(lib.make_loader(augmented, 64, num_workers=0), DataLoader)


@pytest.mark.parametrize("augment", [
    transforms.RandomHorizontalFlip(),
    transforms.RandomApply([transforms.Grayscale(3)]),    # random although its content is not
    transforms.ColorJitter(brightness=0.5),              # random without a "Random" name
    transforms.RandAugment(),
])
def test_random_transforms_are_never_precomputed(digits_dataset, augment):
    colour = np.repeat(digits_dataset.data[:20, :, :, None], 3, axis=3)
    dataset = lib.ImageArrayDataset(colour, digits_dataset.targets[:20], range(10),
                                    transforms.Compose([augment, transforms.ToTensor()]))
    assert dataset.tensors is None


def test_image_array_dataset_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        lib.ImageArrayDataset(np.zeros((4, 8, 8), dtype=np.float32), [0] * 4, ["a"])
    with pytest.raises(ValueError, match="ラベル"):
        lib.ImageArrayDataset(np.zeros((4, 8, 8), dtype=np.uint8), [0] * 3, ["a"])


def test_tensor_batch_loader_visits_every_sample_once(digits_dataset):
    loader = lib.make_loader(digits_dataset, batch_size=100, shuffle=True)
    assert isinstance(loader, lib.TensorBatchLoader)
    assert len(loader) == math.ceil(len(digits_dataset) / 100)
    labels = torch.cat([y for _, y in loader])
    assert sorted(labels.tolist()) == sorted(digits_dataset.targets.tolist())
    first = next(iter(loader))[1]
    assert not torch.equal(first, next(iter(loader))[1])  # reshuffled every epoch


def test_make_loader_rejects_empty_data_and_bad_batch_size(digits_dataset):
    empty = lib.ImageArrayDataset(np.zeros((0, 8, 8), dtype=np.uint8), [], ["a"])
    with pytest.raises(ValueError, match="空"):
        lib.make_loader(empty, 10)
    with pytest.raises(ValueError, match="batch_size"):
        lib.make_loader(digits_dataset, 0)


def test_stratified_quick_subset_is_fixed_and_balanced():
    labels = np.repeat(np.arange(3), [50, 30, 20])
    a = lib._stratified_indices(labels, 10)
    assert np.array_equal(a, lib._stratified_indices(labels, 10))
    assert np.bincount(labels[a]).tolist() == [10, 10, 10]


def test_extract_archive_once(tmp_path):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("set/train/a/1.txt", "x")
    dest = tmp_path / "data"
    tree = lib.extract_archive_once(archive, dest, "set")
    assert (tree / "train" / "a" / "1.txt").read_text() == "x"
    archive.unlink()  # a second call must not need the archive any more
    assert lib.extract_archive_once(archive, dest, "set") == tree
    with pytest.raises(FileNotFoundError):
        lib.extract_archive_once(archive, dest, "other")


def test_missing_data_stops_with_a_message_that_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(lib, "DATA_DIR", tmp_path / "data")
    monkeypatch.setenv("DLNB_DATA_MIRROR", str(tmp_path / "no-mirror"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")
    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive", offline)
    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", offline)
    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    lib._mnist_arrays.cache_clear()
    lib._cifar10_arrays.cache_clear()
    try:
        for load in (lib.load_mnist, lib.load_cifar10, lib.load_hymenoptera):
            with pytest.raises(RuntimeError, match="DLNB_DATA_MIRROR"):
                load()
    finally:
        lib._mnist_arrays.cache_clear()
        lib._cifar10_arrays.cache_clear()
    assert not list((tmp_path / "data").glob("*.partial"))


@needs_mirror
def test_load_mnist_from_mirror():
    test_set = lib.load_mnist(train=False, transform=transforms.ToTensor())
    expected = 10 * lib.QUICK_TEST_PER_CLASS if lib.QUICK else 10_000
    assert len(test_set) == expected
    image, label = test_set[0]
    assert image.shape == (1, 28, 28) and 0 <= label <= 9
    assert 0.0 <= image.min() and image.max() <= 1.0
    if lib.QUICK:
        assert np.bincount(test_set.targets).tolist() == [lib.QUICK_TEST_PER_CLASS] * 10


@needs_mirror
def test_load_cifar10_from_mirror():
    test_set = lib.load_cifar10(train=False, transform=transforms.ToTensor())
    assert test_set.classes == list(lib.CIFAR10_CLASSES)
    assert len(test_set) == (10 * lib.QUICK_TEST_PER_CLASS if lib.QUICK else 10_000)
    image, _ = test_set[0]
    assert image.shape == (3, 32, 32)
    assert (lib.DATA_DIR / "cifar10-images" / "test").is_dir()  # extracted into data/ once


@needs_mirror
def test_load_hymenoptera_from_mirror():
    transform = transforms.Compose([transforms.Resize(64), transforms.CenterCrop(64),
                                    transforms.ToTensor()])
    val = lib.load_hymenoptera(train=False, transform=transform)
    assert val.classes == ["ants", "bees"]
    assert len(val) == (40 if lib.QUICK else 153)
    image, label = val[0]
    assert image.shape == (3, 64, 64) and label in (0, 1)


def test_load_image_folder_rejects_missing_or_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError):
        lib.load_image_folder(tmp_path / "nothing")
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    with pytest.raises((ValueError, FileNotFoundError)):
        lib.load_image_folder(tmp_path / "empty")


# --- pretrained models --------------------------------------------------------------------------

def _no_download(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")
    monkeypatch.setattr("torch.hub.load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", "/nonexistent-torch-home")


def test_load_pretrained_falls_back_loudly_in_quick_mode(monkeypatch, capsys):
    _no_download(monkeypatch)
    monkeypatch.setattr(lib, "QUICK", True)
    net = lib.load_pretrained("resnet18")
    assert isinstance(net, nn.Module) and net.fc.out_features == 1000
    assert "ランダム初期化" in capsys.readouterr().out


def test_load_pretrained_stops_in_full_mode(monkeypatch):
    _no_download(monkeypatch)
    monkeypatch.setattr(lib, "QUICK", False)
    with pytest.raises(RuntimeError, match="ダウンロードできませんでした"):
        lib.load_pretrained("resnet18")


def test_quick_subset_only_shrinks_in_quick_mode(digits_dataset, monkeypatch):
    monkeypatch.setattr(lib, "QUICK", False)
    assert lib.quick_subset(digits_dataset, 5) is digits_dataset
    monkeypatch.setattr(lib, "QUICK", True)
    small = lib.quick_subset(digits_dataset, 5)
    assert isinstance(small, lib.ImageArrayDataset) and small.tensors is not None
    assert np.bincount(small.targets).tolist() == [5] * 10


def test_fit_reports_nan_accuracy_for_regression(iris):
    x, _ = iris
    loader = DataLoader(TensorDataset(x[:, :3], x[:, 3:]), batch_size=32)  # petal width from the rest
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    history = lib.fit(net, optim.SGD(net.parameters(), lr=0.01), nn.MSELoss(), 5, loader, loader,
                      "cpu", np.zeros((0, 5)))
    assert np.isnan(history[:, [2, 4]]).all()
    assert np.all(np.diff(history[:, 3]) < 0)  # the MSE goes down every epoch
