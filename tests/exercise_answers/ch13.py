"""Wrong answers to chapter 13's exercises, each with the hint its check must give."""

import numpy as np
import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


def _train(net, X_train, y_train, X_test, y_test, n_epochs, lr, *, shuffle=True, zero_grad=True,
           softmax=False, eval_mode=True, no_grad=True):
    """The fixed training function with one of its bugs put back."""
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=shuffle)
    optimizer = optim.SGD(net.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    for _ in range(n_epochs):
        net.train()
        for x, y in loader:
            if zero_grad:
                optimizer.zero_grad()
            outputs = net(x)
            loss = criterion(torch.softmax(outputs, dim=1) if softmax else outputs, y)
            loss.backward()
            optimizer.step()
    if eval_mode:
        net.eval()
    with torch.set_grad_enabled(not no_grad):
        outputs = net(X_test)
    return (outputs.argmax(dim=1) == y_test).float().mean().item()


def train_as_given(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    """The buggy function of the exercise, unchanged."""
    return _train(net, X_train, y_train, X_test, y_test, n_epochs, lr, shuffle=False,
                  zero_grad=False, softmax=True, eval_mode=False, no_grad=False)


def train_without_shuffle(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    return _train(net, X_train, y_train, X_test, y_test, n_epochs, lr, shuffle=False)


def train_without_zero_grad(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    return _train(net, X_train, y_train, X_test, y_test, n_epochs, lr, zero_grad=False)


def train_with_softmax(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    return _train(net, X_train, y_train, X_test, y_test, n_epochs, lr, softmax=True)


def test_in_train_mode(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    return _train(net, X_train, y_train, X_test, y_test, n_epochs, lr, eval_mode=False)


def test_with_grad(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    return _train(net, X_train, y_train, X_test, y_test, n_epochs, lr, no_grad=False)


def train_returns_train_accuracy(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    _train(net, X_train, y_train, X_test, y_test, n_epochs, lr)
    return 1.0


def train_with_mse_on_one_hot(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True)
    optimizer = optim.SGD(net.parameters(), lr=lr)
    for _ in range(n_epochs):
        net.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(net(x), nn.functional.one_hot(y, 10).float())
            loss.backward()
            optimizer.step()
    net.eval()
    with torch.no_grad():
        return (net(X_test).argmax(dim=1) == y_test).float().mean().item()


def train_nothing(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    net.eval()
    with torch.no_grad():
        return (net(X_test).argmax(dim=1) == y_test).float().mean().item()


def train_but_never_test(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    _train(net, X_train, y_train, X_train, y_train, n_epochs, lr)
    return 0.9


def train_too_slowly(net, X_train, y_train, X_test, y_test, n_epochs=20, lr=0.1):
    return _train(net, X_train, y_train, X_test, y_test, 1, 0.001)


def _setup(X, y, *, shuffle=False, lr=0.01, last=(nn.ReLU(),), stale=False):
    """broken_setup of the exercise with the given changes."""
    X, y = torch.tensor(X / 16, dtype=torch.float32), torch.tensor(y)
    loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=shuffle)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10), *last)
    optimizer = optim.SGD(net.parameters(), lr=lr)
    if stale:
        net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10), *last)
    return net, loader, nn.CrossEntropyLoss(), optimizer


def setup_shuffled(X, y):
    return _setup(X, y, shuffle=True)


def setup_faster(X, y):
    return _setup(X, y, lr=0.1)


def setup_with_softmax(X, y):
    return _setup(X, y, last=(nn.Softmax(dim=1),))


def setup_with_stale_optimizer(X, y):
    return _setup(X, y, last=(), stale=True)


def setup_as_list_of_three(X, y):
    return _setup(X, y, last=())[:3]


def setup_with_nll_loss(X, y):
    net, loader, _, optimizer = _setup(X, y, last=())
    return net, loader, nn.NLLLoss(), optimizer


def setup_with_one_output(X, y):
    X, y = torch.tensor(X / 16, dtype=torch.float32), torch.tensor(y)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    return (net, DataLoader(TensorDataset(X, y), batch_size=32), nn.CrossEntropyLoss(),
            optim.SGD(net.parameters(), lr=0.01))


def setup_sorted_by_class(X, y):
    order = np.argsort(y, kind="stable")
    return _setup(X[order], y[order], last=())


def recalls_as_precision(y_true, y_pred, n_classes):
    precision = np.array([np.mean(y_true[y_pred == c] == c) for c in range(n_classes)])
    return precision, precision.mean()


def balanced_as_accuracy(y_true, y_pred, n_classes):
    recalls = np.array([np.mean(y_pred[y_true == c] == c) for c in range(n_classes)])
    return recalls, np.mean(y_true == y_pred)


def recalls_of_predicted_classes_only(y_true, y_pred, n_classes):
    recalls = np.array([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_pred)[:-1]])
    return recalls, recalls.mean()


WRONG = {
    "13.1": [(train_as_given, "5 か所"), (train_without_shuffle, "シャッフル"),
             (train_without_zero_grad, "zero_grad"), (train_with_softmax, "ロジット"),
             (test_in_train_mode, "net.eval()"), (test_with_grad, "torch.no_grad()"),
             (train_returns_train_accuracy, "返した正解率"), (train_with_mse_on_one_hot, "CrossEntropyLoss のもの"),
             (train_nothing, "一度も学習していません"), (train_but_never_test, "テストデータで予測していません"),
             (train_too_slowly, "低すぎます")],
    "13.2": [(setup_shuffled, "出力層の活性化関数"), (setup_faster, "ReLU"),
             (setup_with_softmax, "Softmax"), (setup_with_stale_optimizer, "オプティマイザ"),
             (setup_as_list_of_three, "4 つ"), (setup_with_nll_loss, "損失関数が NLLLoss"),
             (setup_with_one_output, "出力の形"), (setup_sorted_by_class, "check_training がまだ問題")],
    "13.3": [(recalls_as_precision, "適合率"), (balanced_as_accuracy, "全体の正解率"),
             (recalls_of_predicted_classes_only, "形")],
}
