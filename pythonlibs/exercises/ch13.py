"""Checks of chapter 13's exercises: fix a buggy training function, fix a broken set-up with
check_training, per-class recall and balanced accuracy.

The first two run a small real task, scikit-learn's digits (8x8 images, 10 classes), built
inside the check from a seeded subset the notebook never showed.
"""

import numpy as np
import torch
from torch import nn

from pythonlibs.exercises import Wrong, exercise, expect_close, expect_number


def _digits(seed: int, n_train: int, n_test: int):
    """A seeded train/test split of scikit-learn's digits, pixels scaled to 0-1 (float32),
    labels int64; the training part sorted by class, as if read folder by folder."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[:n_train], order[n_train:n_train + n_test]
    train = train[np.argsort(y[train], kind="stable")]
    tensors = lambda idx: (torch.tensor(X[idx] / 16, dtype=torch.float32), torch.tensor(y[idx]))
    return tensors(train), tensors(test)


# ---------------------------------------------------------------------------------------------
# 13.1  fix the training function
# ---------------------------------------------------------------------------------------------

class _WatchedNet(nn.Module):
    """A small MLP with Dropout that notes how it is trained and evaluated.

    * the first training batch equal to the first rows of the class-sorted data: no shuffle;
    * at the start of each backward pass (a hook on the output, which runs before any
      parameter gradient is added): old gradients still in ``.grad`` mean no zero_grad;
    * the gradient reaching the output must be CrossEntropyLoss's on logits,
      (softmax(z) - one_hot(y)) / B; the one of a softmax put before the loss is recognised;
    * the forward pass on X_test must run in eval mode and without a graph.
    """

    def __init__(self, X_train, y_train, X_test):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Dropout(0.3), nn.Linear(48, 10))
        self.X_train, self.y_train, self.X_test = X_train, y_train, X_test
        self.found: set[str] = set()
        self.train_forwards = self.test_forwards = 0

    def _output_hook(self, logits, labels):
        def hook(grad):
            if any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in self.parameters()):
                self.found.add("zero_grad")
            onehot = nn.functional.one_hot(labels, logits.shape[1]).float()
            right = torch.softmax(logits, dim=1) - onehot
            if _close_up_to_batch(grad, right):
                return grad
            p = torch.softmax(logits, dim=1)
            q = torch.softmax(p, dim=1) - onehot          # CE on softmax outputs: through the Jacobian
            after_softmax = p * (q - (p * q).sum(dim=1, keepdim=True))
            self.found.add("softmax" if _close_up_to_batch(grad, after_softmax) else "loss")
            return grad
        return hook

    def forward(self, x):
        out = self.body(x)
        if x.shape == self.X_test.shape and torch.equal(x, self.X_test):
            self.test_forwards += 1
            if self.training:
                self.found.add("eval")
            if torch.is_grad_enabled():
                self.found.add("no_grad")
            return out
        self.train_forwards += 1
        if self.train_forwards == 1 and torch.equal(x, self.X_train[:len(x)]):
            self.found.add("shuffle")
        if out.requires_grad:
            rows = torch.cdist(x.detach(), self.X_train).argmin(dim=1)
            out.register_hook(self._output_hook(out.detach(), self.y_train[rows]))
        return out


def _close_up_to_batch(grad, per_sample):
    """grad equals per_sample / B (mean over the batch) or per_sample (sum)."""
    n = len(per_sample)
    return (torch.allclose(grad, per_sample / n, atol=1e-6)
            or torch.allclose(grad, per_sample, atol=1e-5))


TRAIN_MISTAKES = {
    "shuffle": "訓練データをシャッフルしていません (このデータはクラス順に並んでいます)。"
               "DataLoader(..., shuffle=True) にしてください (13.1 節)。",
    "zero_grad": "optimizer.zero_grad() を呼んでいません。呼ばないと勾配が前のバッチの分に足し込まれ続けます。"
                 "backward() の前 (または step() の後) で毎回 optimizer.zero_grad() を呼んでください。",
    "softmax": "CrossEntropyLoss にソフトマックスをかけた値を渡しています。CrossEntropyLoss は内部で "
               "softmax を計算するので、モデルの出力 (ロジット) をそのまま渡してください (13.4 節)。",
    "loss": "出力に届いた勾配が CrossEntropyLoss のものと違います。損失は criterion(net(x), y) で、"
            "ミニバッチごとに計算してください。",
    "eval": "評価の前に net.eval() を呼んでいません。train() モードのままだと Dropout がユニットを"
            "消したまま予測します (13.7 節)。",
    "no_grad": "評価を torch.no_grad() の中で行っていません。勾配の計算グラフが作られ、時間とメモリを"
               "無駄にします。with torch.no_grad(): の中で予測してください。",
}


@exercise("13.1", "学習関数のバグを直す train_and_test(net, X_train, y_train, X_test, y_test)")
def check_train_and_test(train_and_test):
    (X_train, y_train), (X_test, y_test) = _digits(131, 640, 300)
    torch.manual_seed(131)
    net = _WatchedNet(X_train, y_train, X_test)
    answer = train_and_test(net, X_train, y_train, X_test, y_test, n_epochs=6, lr=0.1)
    if net.train_forwards == 0:
        raise Wrong("訓練データで一度も学習していません (net(x) が訓練データのミニバッチで呼ばれていません)。")
    if net.test_forwards == 0:
        raise Wrong("テストデータで予測していません。最後に X_test 全体を 1 回で net に通し、その正解率を返してください。")
    found = [m for m in TRAIN_MISTAKES if m in net.found]
    if found:
        raise Wrong(f"まだ {len(found)} か所のバグがあります: " + " / ".join(TRAIN_MISTAKES[m] for m in found))
    net.eval()
    with torch.no_grad():
        accuracy = (net.body(X_test).argmax(dim=1) == y_test).float().mean().item()
    expect_number(answer, accuracy, "返した正解率 (学習後のモデルのテストデータでの正解率)")
    if accuracy < 0.8:
        raise Wrong(f"学習後のテスト正解率が {accuracy:.2f} と低すぎます。学習のループ (エポック数、"
                    "zero_grad → backward → step の順) を確かめてください。")


# ---------------------------------------------------------------------------------------------
# 13.2  the one change that fixes a set-up, found with check_training
# ---------------------------------------------------------------------------------------------

OUTPUT_ACTIVATIONS = (nn.ReLU, nn.Softmax, nn.LogSoftmax, nn.Sigmoid, nn.Tanh, nn.LeakyReLU)


@exercise("13.2", "check_training で見つけた 1 か所を直す fixed_setup(X, y)")
def check_fixed_setup(fixed_setup):
    from sklearn.datasets import load_digits
    from pythonlibs.diagnostics import check_training
    from pythonlibs.training import parameters_in_optimizer
    X, y = load_digits(return_X_y=True)
    pick = np.sort(np.random.default_rng(132).choice(len(y), 640, replace=False))
    torch.manual_seed(132)
    answer = fixed_setup(X[pick], y[pick])
    if not isinstance(answer, (tuple, list)) or len(answer) != 4:
        raise Wrong("(net, loader, criterion, optimizer) の 4 つを tuple で返してください "
                    "(broken_setup と同じ形)。")
    net, loader, criterion, optimizer = answer
    if not isinstance(criterion, nn.CrossEntropyLoss):
        raise Wrong(f"損失関数が {type(criterion).__name__} です。CrossEntropyLoss のままにして、"
                    "check_training が指摘した所を直してください。")
    last = list(net.modules())[-1]
    if isinstance(last, OUTPUT_ACTIVATIONS):
        name = type(last).__name__
        raise Wrong(f"モデルの最後に {name} が残っています (出力層の活性化関数)。CrossEntropyLoss は内部で "
                    f"softmax を計算するので、最後の {name} を外して Linear の出力 (ロジット) を"
                    "そのまま渡してください (13.4 節)。")
    with torch.no_grad():
        outputs = net(torch.tensor(X[pick[:5]] / 16, dtype=torch.float32))
    if tuple(outputs.shape) != (5, 10):
        raise Wrong(f"モデルの出力の形が {tuple(outputs.shape)} です (5 枚なら (5, 10) のはず)。"
                    "出力層は Linear(…, 10) のままにしてください。")
    held, _ = parameters_in_optimizer(net, optimizer)
    if not held:
        raise Wrong("オプティマイザが、返したモデルのパラメータを 1 つも持っていません。モデルを作った後に "
                    "optim.SGD(net.parameters(), ...) で作ってください (13.5 節)。")
    report = check_training(net, loader, criterion, optimizer, "cpu", verbose=False)
    if report.problems:
        raise Wrong("check_training がまだ問題を指摘しています: "
                    + " / ".join(str(f) for f in report.problems))


# ---------------------------------------------------------------------------------------------
# 13.3  per-class recall and balanced accuracy
# ---------------------------------------------------------------------------------------------

def _predictions(seed: int, n_classes: int = 4, n: int = 90):
    """Imbalanced labels and predictions that favour the majority class (every class occurs in
    both, so that every recall and precision is defined)."""
    rng = np.random.default_rng(seed)
    y_true = np.r_[np.arange(n_classes), rng.choice(n_classes, n - n_classes, p=[0.55, 0.25, 0.12, 0.08])]
    right = rng.random(n) < np.array([0.95, 0.7, 0.5, 0.3])[y_true]
    y_pred = np.where(right, y_true, rng.choice(n_classes, n, p=[0.7, 0.1, 0.1, 0.1]))
    y_pred[:n_classes] = np.arange(n_classes)[::-1]
    order = rng.permutation(n)
    return y_true[order], y_pred[order]


@exercise("13.3", "クラスごとの再現率と balanced accuracy class_recalls(y_true, y_pred, n_classes)")
def check_class_recalls(class_recalls):
    n_classes = 4
    y_true, y_pred = _predictions(133)
    answer = class_recalls(y_true, y_pred, n_classes)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong("(クラスごとの再現率の配列, balanced accuracy) の 2 つを tuple で返してください。")
    recalls, balanced = answer
    recalls = np.asarray(recalls.detach().cpu() if torch.is_tensor(recalls) else recalls, dtype=float)
    truth = np.array([np.mean(y_pred[y_true == c] == c) for c in range(n_classes)])
    precision = np.array([np.mean(y_true[y_pred == c] == c) for c in range(n_classes)])
    if recalls.shape != (n_classes,):
        raise Wrong(f"再現率の配列の形が {recalls.shape} です。クラスごとに 1 つ、形 ({n_classes},) に"
                    "してください (予測に出てこないクラスも含めて、range(n_classes) で回します)。")
    if np.allclose(recalls, precision):
        raise Wrong("予測したクラスごとに数えています (それは適合率 precision)。再現率は「正解が"
                    "クラス c のサンプルのうち、c と予測できた割合」です: y_true == c のサンプルで数えます。")
    expect_close(recalls, truth, "クラスごとの再現率")
    if torch.is_tensor(balanced):
        balanced = balanced.item()
    accuracy = float(np.mean(y_true == y_pred))
    if isinstance(balanced, (int, float, np.number)) and abs(float(balanced) - accuracy) < 1e-9:
        raise Wrong(f"balanced accuracy が全体の正解率 ({accuracy:.3f}) と同じです。サンプル数で重み付けせず、"
                    "クラスごとの再現率を単純に平均してください (少数派のクラスも同じ重みになります)。")
    expect_number(balanced, truth.mean(), "balanced accuracy")
