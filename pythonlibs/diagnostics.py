"""Diagnostics that find why a model will not learn, before a long run (chapter 13).

Usage::

    from pythonlibs.diagnostics import check_training
    report = check_training(net, train_loader, criterion, optimizer, device)
    report.ok            # True when nothing was flagged as a warning or an error
    report.problems      # the findings with severity "warning" or "error"
    report.has("shuffle")

``check_training`` prints a short report in plain Japanese and returns a
:class:`DiagnosticReport` (a list of :class:`Finding`).  It never changes the model for good:
the weights, buffers (BatchNorm statistics), gradients, the optimizer's state, the values of
every parameter the optimizer holds, the train/eval mode of every sub-module and PyTorch's
random number generators are all put back as they were before it returns.

Checks (``Finding.check``):

* ``shuffle``          -- the labels change between neighbouring samples far less often than in
                          a random order of the dataset (data still sorted by class)
* ``label_balance``    -- the classes are imbalanced (accuracy will mislead); counted over the
                          dataset's targets, or significant in the first batches
* ``input_stats``      -- inputs not normalised (e.g. 0-255 pixels), constant, NaN/Inf, integers
                          (fine when they are the ids of an ``nn.Embedding``)
* ``target_scale``     -- regression targets far from unit scale (MSE on unscaled targets)
* ``logit_activation`` -- the output is made by softmax / sigmoid / ReLU ... before the loss (found
                          by tracing the ops of the forward pass, modules and functions alike)
* ``init_loss``        -- the loss at initialisation is far above its expected value (ln C); far
                          below is only noted (an already trained model)
* ``optimizer_params`` -- the optimizer does not hold the model's parameters
* ``dead_relu``        -- ReLU units that output 0 for every one of (at least 64) samples
* ``grad_flow``        -- per-layer gradient norms: zero, missing, vanishing, exploding, NaN/Inf;
                          a bias right before a BatchNorm is noted as redundant
* ``overfit_batch``    -- training on one batch: the weights do not move, the loss blows up or
                          does not go down (errors); a slow decrease is only noted
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from pythonlibs.training import count_correct, parameters_in_optimizer

__all__ = ["Finding", "DiagnosticReport", "check_training", "gradient_norms", "dead_relu_fraction",
           "batch_label_histograms"]

SEVERITY_ORDER = {"ok": 0, "info": 1, "warning": 2, "error": 3}
SEVERITY_MARK = {"ok": "✅", "info": "ℹ️ ", "warning": "⚠️ ", "error": "❌"}

CHECK_TITLES = {
    "shuffle": "シャッフル",
    "label_balance": "ラベルの偏り",
    "input_stats": "入力の統計",
    "target_scale": "目的変数のスケール",
    "logit_activation": "出力層の活性化関数",
    "init_loss": "初期損失",
    "optimizer_params": "オプティマイザのパラメータ",
    "dead_relu": "死んだ ReLU",
    "grad_flow": "層ごとの勾配ノルム",
    "overfit_batch": "1 バッチの過学習テスト",
}

REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)

MIN_SAMPLES = 64             # samples read at least (more batches when they are small)
NEGLIGIBLE_P = 1e-6          # "a random order would practically never produce this"
ORDER_MAX_SAMPLES = 1000     # labels the order test reads (bounds its cost)
BALANCE_P = 1e-3             # significance of a class imbalance seen only in a sample of batches
# An initial loss this many nats per prediction above ln C: the true class gets on average
# (geometric mean) e^-3 = 1/20 of the chance probability, i.e. confidently wrong predictions.
INIT_LOSS_EXCESS = 3.0
# A step loss this many times the first one: the training blew up.  (Measured: SGD with lr >= 2
# on chapter 13's MLP, 60x to 1e8x; Adam's first steps on a fresh regression head, up to 15x.)
OVERFIT_SPIKE = 30.0
# The relative change per step of the parameter that moved most is about 1e-3 in healthy
# training; this far below it the learning rate is too small (error) or maybe too small.
TINY_UPDATE, SMALL_UPDATE = 2e-6, 2e-5

# Torch functions that only reshape, copy or convert a tensor: the output "is" the input.
SHAPE_OPS = frozenset({"view", "view_as", "reshape", "reshape_as", "flatten", "unflatten",
                       "squeeze", "unsqueeze", "contiguous", "clone", "detach", "__getitem__", "t",
                       "transpose", "permute", "to", "float", "double", "half", "bfloat16", "type",
                       "cpu", "cuda"})
# Activation functions (the name of the torch function, without a trailing "_") -> shown name.
ACTIVATION_OPS = {"softmax": "Softmax", "log_softmax": "LogSoftmax", "sigmoid": "Sigmoid",
                  "relu": "ReLU", "relu6": "ReLU6", "hardtanh": "Hardtanh",
                  "leaky_relu": "LeakyReLU", "elu": "ELU", "gelu": "GELU", "silu": "SiLU",
                  "softplus": "Softplus", "tanh": "Tanh"}
# Torch functions that take integer ids (token ids, category ids) as their first argument.
ID_OPS = frozenset({"embedding", "embedding_bag", "one_hot"})
# Layers whose third argument is a bias added to their output.
BIASED_OPS = frozenset({"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                        "conv_transpose2d", "conv_transpose3d"})


@dataclass
class Finding:
    """One result of one check.

    ``severity`` is ``"ok"``, ``"info"``, ``"warning"`` or ``"error"``; ``message`` is the
    Japanese text printed in the report; ``details`` holds the measured numbers.
    """

    check: str
    severity: str
    message: str
    details: dict = field(default_factory=dict)

    def __str__(self) -> str:
        title = CHECK_TITLES.get(self.check, self.check)
        return f"{SEVERITY_MARK[self.severity]} [{title}] {self.message}"


class DiagnosticReport(list):
    """The findings of :func:`check_training` (a ``list`` of :class:`Finding`)."""

    @property
    def problems(self) -> list[Finding]:
        """Findings with severity ``warning`` or ``error``."""
        return [f for f in self if SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER["warning"]]

    @property
    def ok(self) -> bool:
        """True when no check reported a warning or an error."""
        return not self.problems

    def has(self, check: str, min_severity: str = "warning") -> bool:
        """True when ``check`` reported something at least as bad as ``min_severity``."""
        return any(f.check == check and SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER[min_severity]
                   for f in self)

    def get(self, check: str) -> list[Finding]:
        """All findings of one check."""
        return [f for f in self if f.check == check]

    def details(self, check: str) -> dict:
        """The ``details`` of the first finding of ``check`` (empty dict if none)."""
        found = self.get(check)
        return found[0].details if found else {}

    def __str__(self) -> str:
        lines = ["===== 学習前チェック (check_training) ====="]
        lines += [str(f) for f in self]
        n_err = sum(f.severity == "error" for f in self)
        n_warn = sum(f.severity == "warning" for f in self)
        if n_err or n_warn:
            lines.append(f"----- 結果: エラー {n_err} 件、警告 {n_warn} 件。上の ❌ / ⚠️ "
                         "を直してから本番の学習を始めましょう。")
        else:
            lines.append("----- 結果: 問題は見つかりませんでした。")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Small helpers (also useful on their own in the notebooks)
# ---------------------------------------------------------------------------------------------

def _first_batches(loader, n_batches: int, min_samples: int = 0):
    """The first (inputs, labels) pairs of a loader: ``n_batches`` batches, or more until they
    hold ``min_samples`` samples (when the loader has that many)."""
    batches, n_samples = [], 0
    for batch in loader:
        if not isinstance(batch, (list, tuple)) or len(batch) < 2:
            raise ValueError("ローダは (入力, 正解) の組を返す必要があります。")
        batches.append((batch[0], batch[1]))
        n_samples += len(batch[1])
        if len(batches) >= n_batches and n_samples >= min_samples:
            break
    if not batches:
        raise ValueError("ローダが 1 つもバッチを返しませんでした。")
    return batches


def _is_class_labels(labels: torch.Tensor, criterion) -> bool:
    """True when ``labels`` are class labels (integers, or 0/1 floats for a BCE loss)."""
    if isinstance(criterion, (nn.BCEWithLogitsLoss, nn.BCELoss)):
        return True
    if isinstance(criterion, REGRESSION_LOSSES):
        return False
    return not torch.is_floating_point(labels)


def _class_ids(labels: torch.Tensor) -> np.ndarray:
    return labels.detach().cpu().reshape(-1).round().long().numpy()


def _names(names: list[str], limit: int = 5) -> str:
    """The first ``limit`` names joined by commas, with " ..." when there are more."""
    return ", ".join(names[:limit]) + (" ..." if len(names) > limit else "")


def batch_label_histograms(loader, n_batches: int = 20, n_classes: int | None = None) -> np.ndarray:
    """Label counts of the first ``n_batches`` batches: array (batches, classes)."""
    batches = _first_batches(loader, n_batches)
    ids = [_class_ids(labels) for _, labels in batches]
    if n_classes is None:
        n_classes = int(max(i.max() for i in ids)) + 1
    return np.stack([np.bincount(i, minlength=n_classes)[:n_classes] for i in ids])


@dataclass
class _Call:
    """One torch function called during a traced forward pass."""

    name: str
    args: tuple
    kwargs: dict

    def arg(self, index: int, name: str):
        """The argument at position ``index`` or given as keyword ``name`` (None if absent)."""
        return self.args[index] if len(self.args) > index else self.kwargs.get(name)


@dataclass
class _ForwardFacts:
    """What a traced forward pass showed about the model.

    ``output_op`` is the torch function that made the output (after walking back through
    :data:`SHAPE_OPS`; None when no recorded function made it), ``output_module`` the name of
    the innermost module that returned that tensor (``""``: the model's own ``forward``; None:
    no module).  ``inputs_are_ids``: the inputs went (through shape ops) into an embedding or
    ``one_hot``, so integer inputs are what the model expects.  ``bn_biases``: names of the
    biases added right before a BatchNorm that normalises with batch statistics; it subtracts
    the batch mean and with it the bias, whose gradient is therefore ~0 by construction.
    """

    output_op: str | None
    output_module: str | None
    inputs_are_ids: bool
    bn_biases: list[str]


class _ForwardTrace(TorchFunctionMode):
    """Records which torch function, and which module, produced each tensor of a forward pass.

    Both ``nn`` modules and functions called in ``forward`` (``F.softmax``, ``torch.sigmoid``,
    ``x.view``) go through ``__torch_function__``.  The tensors are kept alive while the trace
    exists, so that their ``id`` stays unique.
    """

    def __init__(self):
        super().__init__()
        self.calls: list[_Call] = []
        self.producer: dict[int, _Call] = {}
        self.module_of: dict[int, str] = {}
        self._alive: list[torch.Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        call = _Call(getattr(func, "__name__", ""), args, kwargs)
        self.calls.append(call)
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            # a shape op that hands back its own input (x.contiguous(), x.to(x.dtype)) made nothing
            if isinstance(tensor, torch.Tensor) and not (call.name in SHAPE_OPS and args
                                                         and tensor is args[0]):
                self.producer[id(tensor)] = call
                self._alive.append(tensor)
        return out

    def note_module(self, name: str, module, inputs, output) -> None:
        """Forward hook: remember the innermost module that returned ``output``.  A leaf module
        replaces an earlier one (an in-place ReLU returns the tensor its Linear returned); a
        container returning a tensor of its children does not."""
        if isinstance(output, torch.Tensor):
            if next(module.children(), None) is None:
                self.module_of[id(output)] = name
            else:
                self.module_of.setdefault(id(output), name)
            self._alive.append(output)

    def source(self, tensor: torch.Tensor):
        """Walk back from ``tensor`` through shape ops: (tensor reached, _Call that made it)."""
        call = self.producer.get(id(tensor))
        while call is not None and call.name in SHAPE_OPS and call.args \
                and isinstance(call.args[0], torch.Tensor):
            tensor = call.args[0]
            call = self.producer.get(id(tensor))
        return tensor, call

    def feeds_ids(self, inputs: torch.Tensor) -> bool:
        """True when ``inputs`` (through shape ops) are the ids of an embedding or one_hot."""
        return any(call.name in ID_OPS and call.args and isinstance(call.args[0], torch.Tensor)
                   and self.source(call.args[0])[0] is inputs for call in self.calls)

    def biases_before_batchnorm(self, param_names: dict[int, str]) -> list[str]:
        """Names of the biases added (through shape ops) right before a BatchNorm that
        normalises with batch statistics."""
        found = []
        for call in self.calls:
            if call.name != "batch_norm" or not call.arg(5, "training"):
                continue
            _, producer = self.source(call.args[0])
            bias = producer.arg(2, "bias") if producer and producer.name in BIASED_OPS else None
            name = param_names.get(id(bias))
            if name is not None and name not in found:
                found.append(name)
        return found

    def facts(self, net: nn.Module, inputs: torch.Tensor, outputs: torch.Tensor) -> _ForwardFacts:
        """The facts the checks need (so that the trace and its tensors can be dropped)."""
        source, call = self.source(outputs)
        param_names = {id(p): n for n, p in net.named_parameters()}
        return _ForwardFacts(output_op=None if call is None else call.name,
                             output_module=self.module_of.get(id(source)),
                             inputs_are_ids=self.feeds_ids(inputs),
                             bn_biases=self.biases_before_batchnorm(param_names))


def _traced_forward(net: nn.Module, inputs: torch.Tensor):
    """``net(inputs)`` without gradients, traced: returns (outputs, :class:`_ForwardFacts`)."""
    trace = _ForwardTrace()
    handles = [m.register_forward_hook(functools.partial(trace.note_module, name))
               for name, m in net.named_modules()]
    try:
        with torch.no_grad(), trace:
            outputs = net(inputs)
    finally:
        for h in handles:
            h.remove()
    return outputs, trace.facts(net, inputs, outputs)


def dead_relu_fraction(net: nn.Module, inputs) -> dict[str, float]:
    """For every ``nn.ReLU`` module: the fraction of its units that are 0 for ALL samples.

    ``inputs`` is one batch or a list of batches (the samples of all of them count).  A unit
    that outputs 0 for every input passes no gradient back: it is "dead".  A ReLU module used
    several times in ``forward`` is measured at each call: ``name``, then ``name#2``, ...
    """
    batches = [inputs] if torch.is_tensor(inputs) else list(inputs)
    alive, calls = {}, {}

    def record(name: str, out: torch.Tensor) -> None:
        calls[name] = calls.get(name, 0) + 1
        key = name if calls[name] == 1 else f"{name}#{calls[name]}"
        if out.dim() >= 2:
            unit_alive = (out > 0).reshape(out.shape[0], out.shape[1], -1).any(dim=-1).any(dim=0)
            alive[key] = unit_alive | alive[key] if key in alive else unit_alive

    handles = [m.register_forward_hook(lambda m, i, out, name=name: record(name, out.detach()))
               for name, m in net.named_modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            for batch in batches:
                calls.clear()
                net(batch)
    finally:
        for h in handles:
            h.remove()
    return {key: 1.0 - unit_alive.float().mean().item() for key, unit_alive in alive.items()}


def gradient_norms(net: nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                   criterion) -> dict[str, float | None]:
    """L2 norm of the gradient of every parameter after one backward pass on one batch.

    Parameters that receive no gradient (not used in ``forward``, or ``requires_grad=False``)
    get ``None``; a gradient holding NaN or Inf gets a NaN or Inf norm.  The norms are taken in
    float64, so that large but finite gradients do not overflow to Inf.  The gradients are
    cleared again afterwards; the weights do not change.
    """
    params = [(n, p) for n, p in net.named_parameters()]
    saved = [None if p.grad is None else p.grad.detach().clone() for _, p in params]
    for _, p in params:
        p.grad = None
    try:
        loss = criterion(net(inputs), labels)
        loss.backward()
        return {n: (None if p.grad is None else p.grad.detach().double().norm().item())
                for n, p in params}
    finally:
        for (_, p), g in zip(params, saved):
            p.grad = g


def _expected_init_loss(criterion, outputs: torch.Tensor):
    """The loss of a model that knows nothing yet: (loss, predictions it adds up, formula text).

    ln C per prediction for C classes (ln 2 per output of a BCE loss); a criterion with
    ``reduction="sum"`` adds that up over the batch.  (None, 1, "") when unknown.
    """
    if isinstance(criterion, (nn.CrossEntropyLoss, nn.NLLLoss)) and outputs.dim() >= 2:
        per, text, count = (math.log(outputs.shape[1]), f"ln {outputs.shape[1]}",
                            outputs.numel() // outputs.shape[1])
    elif isinstance(criterion, (nn.BCEWithLogitsLoss, nn.BCELoss)):
        per, text, count = math.log(2), "ln 2", outputs.numel()
    else:
        return None, 1, ""
    if getattr(criterion, "reduction", "mean") == "sum":
        return per * count, count, f"{count} × {text} = {per * count:.4g}"
    return per, 1, f"{text} = {per:.3f}"


def _batch_accuracy(outputs: torch.Tensor, labels: torch.Tensor, criterion):
    """Accuracy on one batch, counted as ``fit`` counts it (None for a regression loss)."""
    counts = count_correct(outputs, labels, criterion)
    return None if counts is None else float(counts[0]) / float(counts[1])


# ---------------------------------------------------------------------------------------------
# The individual checks
# ---------------------------------------------------------------------------------------------

def _p_at_most_changes(freqs: np.ndarray, n: int, changes: int) -> float:
    """P(at most ``changes`` of the ``n - 1`` neighbouring pairs differ) for ``n`` labels drawn
    independently with class probabilities ``freqs``: a random order of a dataset.

    Dynamic programming over (class of the latest label, number of changes so far).
    """
    p = freqs[freqs > 0]
    prob = np.zeros((len(p), changes + 1))
    prob[:, 0] = p
    for _ in range(n - 1):
        elsewhere = prob.sum(axis=0) - prob            # probability of ending in another class
        prob = p[:, None] * np.concatenate([prob[:, :1], prob[:, 1:] + elsewhere[:, :-1]], axis=1)
    return float(prob.sum())


def _class_frequencies(targets, ids: np.ndarray):
    """Class frequencies of the dataset (from its ``targets``) and ``"dataset"``; those of the
    sample ``ids`` and ``"sample"`` when the targets are unknown or miss a sampled class."""
    if targets is not None:
        counts = np.bincount(targets, minlength=ids.max() + 1)
        if (counts[np.unique(ids)] > 0).all():
            return counts / counts.sum(), "dataset"
    counts = np.bincount(ids)
    return counts / counts.sum(), "sample"


def _check_shuffle(batches, targets, n_classes: int | None) -> list[Finding]:
    """Is the label order what a random order would give?  Counts the neighbouring samples with
    different labels and compares with a random order of the dataset's class frequencies."""
    per_batch = [_class_ids(labels) for _, labels in batches]
    ids = np.concatenate(per_batch)[:ORDER_MAX_SAMPLES]
    n, changes = len(ids), int(np.count_nonzero(np.diff(ids)))
    freqs, source = _class_frequencies(targets, ids)
    details = {"n_samples": n, "n_batches": len(per_batch), "label_changes": changes,
               "frequencies_from": source,
               "mean_classes_per_batch": float(np.mean([len(np.unique(i)) for i in per_batch]))}
    head = f"最初の {n} 件 ({len(per_batch)} バッチ)"
    if source == "sample" and changes == 0 and (n_classes or 0) >= 2:
        return [Finding("shuffle", "warning",
                        f"{head} がすべてクラス {ids[0]} です。クラス順に並んでいるか、クラスが極端に"
                        "偏っています (データセットに targets がないので、どちらかは判定できません)。"
                        "訓練用ローダは shuffle=True にしてください。", details)]
    expected = (n - 1) * (1.0 - float(np.sum(freqs ** 2)))
    p_value = _p_at_most_changes(freqs, n, changes)
    details.update(expected_changes=expected, p_value=p_value)
    if p_value < NEGLIGIBLE_P:
        return [Finding("shuffle", "error",
                        f"{head} で、隣のサンプルとラベルが違うのは {changes} 回だけです (ランダムな"
                        f"順番なら平均 {expected:.0f} 回で、{changes} 回以下になる確率は 100 万分の 1 "
                        "未満)。データがクラス順に並んだままです。DataLoader / make_loader に "
                        "shuffle=True を指定してください。", details)]
    if _p_at_most_changes(freqs, n, len(np.unique(ids)) - 1) >= NEGLIGIBLE_P:
        return [Finding("shuffle", "info",
                        f"{head} だけでは並び順を判定できません (サンプルが少ないか、クラスの偏りが"
                        "大きすぎます)。", details)]
    return [Finding("shuffle", "ok",
                    f"{head} で、隣のサンプルとラベルが違うのは {changes} 回です (ランダムな順番なら"
                    f"平均 {expected:.0f} 回)。よく混ざっています。", details)]


def _dataset_targets(loader):
    """All labels of the loader's dataset when they can be read without loading images."""
    dataset = getattr(loader, "dataset", None)
    indices = None
    if isinstance(dataset, torch.utils.data.Subset) and getattr(dataset, "targets", None) is None:
        dataset, indices = dataset.dataset, np.asarray(dataset.indices)
    targets = getattr(dataset, "targets", None)
    if targets is None and isinstance(dataset, torch.utils.data.TensorDataset):
        targets = dataset.tensors[-1]
    if targets is None and dataset is None and torch.is_tensor(getattr(loader, "labels", None)):
        targets = loader.labels                   # a TensorBatchLoader / DeviceLoader of tensors
    if targets is None:
        return None
    try:
        targets = np.asarray(targets.cpu() if torch.is_tensor(targets) else targets).reshape(-1)
        targets = np.round(targets.astype(float)).astype(np.int64)
    except (TypeError, ValueError):
        return None
    return targets[indices] if indices is not None else targets


def _uniform_p_value(counts: np.ndarray) -> float:
    """Chi-square test: the probability that equally frequent classes give a sample at least this
    uneven (the chi-square survival function is the regularised upper incomplete gamma)."""
    expected = counts.sum() / len(counts)
    statistic = float(((counts - expected) ** 2).sum() / expected)
    half_df = torch.tensor((len(counts) - 1) / 2, dtype=torch.float64)
    return float(torch.special.gammaincc(half_df, torch.tensor(statistic / 2, dtype=torch.float64)))


def _check_label_balance(targets, batches, n_classes: int | None,
                         imbalance_ratio: float) -> list[Finding]:
    sampled = targets is None
    if sampled:
        targets = np.concatenate([_class_ids(labels) for _, labels in batches])
    source = f"最初の {len(batches)} バッチ ({len(targets)} 件)" if sampled else "データセット全体"
    n = max(int(targets.max()) + 1, n_classes or 0)
    counts = np.bincount(targets, minlength=n)
    present = counts[counts > 0]
    ratio = float(present.max() / present.min())
    shares = ", ".join(f"{c}: {k / counts.sum():.0%}" for c, k in enumerate(counts[:10]))
    details = {"counts": counts.tolist(), "max_min_ratio": ratio, "source": source}
    if ratio < imbalance_ratio:
        return [Finding("label_balance", "ok",
                        f"{source}のクラスの割合はほぼ均等です (最多/最少 = {ratio:.1f} 倍)。", details)]
    if sampled:
        details["p_value"] = _uniform_p_value(counts)
        if details["p_value"] >= BALANCE_P:
            return [Finding("label_balance", "info",
                            f"{source}ではクラスの数に差があります (最多/最少 = {ratio:.1f} 倍) が、"
                            "均等なデータからでもこの件数なら偶然起こる範囲です (データセットに targets "
                            "がないので、全体は数えていません)。", details)]
    return [Finding("label_balance", "warning",
                    f"{source}のクラスの割合が偏っています (最多/最少 = {ratio:.1f} 倍; {shares})。"
                    "正解率だけでは多数派クラスを当て続けるモデルを見抜けません。混同行列、"
                    "クラスごとの再現率、balanced accuracy も見てください。", details)]


def _check_inputs(inputs: torch.Tensor, facts: _ForwardFacts) -> list[Finding]:
    if not torch.is_floating_point(inputs) and facts.inputs_are_ids:
        lo, hi = int(inputs.min()), int(inputs.max())
        details = {"dtype": str(inputs.dtype), "min": lo, "max": hi, "ids": True}
        return [Finding("input_stats", "ok", f"入力は整数の ID (最小 {lo}, 最大 {hi}) で、モデルの "
                        "Embedding (または one_hot) に渡されています。", details)]
    if not torch.is_floating_point(inputs):
        return [Finding("input_stats", "error",
                        f"入力の型が {inputs.dtype} です。float に変換し、正規化してください "
                        "(transforms.ToTensor() や .float() / 255)。", {"dtype": str(inputs.dtype)})]
    x = inputs.detach().float()
    if not torch.isfinite(x).all():
        return [Finding("input_stats", "error", "入力に NaN か Inf が含まれています。前処理を確認してください。",
                        {"finite": False})]
    mean, std = x.mean().item(), x.std().item()
    lo, hi = x.min().item(), x.max().item()
    details = {"mean": mean, "std": std, "min": lo, "max": hi}
    text = f"平均 {mean:.3g}, 標準偏差 {std:.3g}, 最小 {lo:.3g}, 最大 {hi:.3g}"
    if max(abs(lo), abs(hi)) > 20 or std > 10:
        hint = (" 0〜255 の画素値のままのようです。" if lo >= 0 and 100 < hi <= 255.5 else "")
        return [Finding("input_stats", "error",
                        f"入力の値が大きすぎます ({text})。{hint}"
                        "ToTensor() (0〜1 に変換) と Normalize(平均, 標準偏差)、表形式データなら "
                        "StandardScaler で平均 0・標準偏差 1 程度にそろえてください。", details)]
    if std < 1e-3:
        return [Finding("input_stats", "warning",
                        f"入力がほぼ定数です ({text})。前処理で情報が消えていないか確認してください。",
                        details)]
    if abs(mean) > 5:
        return [Finding("input_stats", "info",
                        f"入力の値の範囲は問題ありませんが、平均が 0 から離れています ({text})。"
                        "平均 0・標準偏差 1 程度に標準化すると、学習が速く安定することが多いです。",
                        details)]
    return [Finding("input_stats", "ok", f"入力のスケールは妥当です ({text})。", details)]


def _check_targets(labels: torch.Tensor) -> list[Finding]:
    y = labels.detach().float()
    mean, std = y.mean().item(), y.std().item() if y.numel() > 1 else 0.0
    details = {"mean": mean, "std": std}
    if abs(mean) > 10 or std > 10:
        return [Finding("target_scale", "warning",
                        f"回帰の目的変数が大きい値のままです (平均 {mean:.3g}, 標準偏差 {std:.3g})。"
                        "MSE は誤差の 2 乗なので損失と勾配が巨大になります。目的変数を標準化するか "
                        "(y - 平均) / 標準偏差、範囲で割って -1〜1 程度にしてください。", details)]
    return [Finding("target_scale", "ok",
                    f"目的変数のスケールは妥当です (平均 {mean:.3g}, 標準偏差 {std:.3g})。", details)]


def _activation_name(op: str | None) -> str | None:
    """The activation a torch function computes (``"relu_"`` -> ``"ReLU"``), or None."""
    return None if op is None else ACTIVATION_OPS.get(op.rstrip("_"))


def _check_logit_activation(facts: _ForwardFacts, criterion) -> list[Finding]:
    activation = _activation_name(facts.output_op)
    details = {"activation": activation, "op": facts.output_op, "module": facts.output_module}
    if facts.output_op is None:
        return [Finding("logit_activation", "info",
                        "モデルの出力を作った演算を特定できませんでした (出力層の活性化関数は"
                        "判定していません)。", details)]
    if activation is None:
        return [Finding("logit_activation", "ok", "出力層の後ろに活性化関数はありません "
                        "(損失関数がそのまま生の出力 = ロジットを受け取ります)。", details)]
    kind = (f"{activation} (モジュール {facts.output_module})" if facts.output_module
            else f"{activation} (forward の中の {facts.output_op})")
    name = type(criterion).__name__
    if isinstance(criterion, nn.CrossEntropyLoss):
        if activation == "LogSoftmax":
            return [Finding("logit_activation", "info",
                            f"出力に {kind} がかかっています。CrossEntropyLoss は内部で log_softmax "
                            "を計算するので結果は同じですが、不要です。", details)]
        return [Finding("logit_activation", "error",
                        f"出力に {kind} がかかったまま {name} に渡しています。CrossEntropyLoss は "
                        "内部で softmax を計算するので、モデルの最後は Linear のまま (ロジット) に"
                        "してください。softmax を重ねると損失が下がりきらず、勾配も小さくなります。",
                        details)]
    if isinstance(criterion, nn.BCEWithLogitsLoss):
        return [Finding("logit_activation", "error",
                        f"出力に {kind} がかかったまま BCEWithLogitsLoss に渡しています。"
                        "BCEWithLogitsLoss は内部で sigmoid を計算するので、最後の活性化関数を"
                        "外してください (sigmoid を付けるなら BCELoss)。", details)]
    if isinstance(criterion, nn.NLLLoss):
        if activation == "LogSoftmax":
            return [Finding("logit_activation", "ok", "LogSoftmax + NLLLoss: 正しい組み合わせです。",
                            details)]
        return [Finding("logit_activation", "error",
                        f"NLLLoss には log_softmax の出力が必要ですが、最後が {kind} です。"
                        "LogSoftmax に替えるか、活性化を外して CrossEntropyLoss を使ってください。",
                        details)]
    if isinstance(criterion, nn.BCELoss):
        if activation == "Sigmoid":
            return [Finding("logit_activation", "ok", "Sigmoid + BCELoss: 正しい組み合わせです "
                            "(数値的には BCEWithLogitsLoss の方が安定です)。", details)]
        return [Finding("logit_activation", "warning", f"BCELoss の前の活性化関数が {kind} です。",
                        details)]
    if isinstance(criterion, REGRESSION_LOSSES):
        return [Finding("logit_activation", "warning",
                        f"回帰モデルの最後に {kind} があります。出力の範囲が制限され (ReLU なら負の値を"
                        "出せず、0 になった出力には勾配が流れません)、目的変数を表せないことがあります。"
                        "回帰の出力層は Linear のままにしてください。", details)]
    return [Finding("logit_activation", "info", f"出力層の後ろに {kind} があります。", details)]


def _initial_loss(net, criterion, batches, device) -> float:
    """The loss before training, averaged over the inspected batches (weighted by their size):
    one batch alone varies too much with its samples."""
    total, n_samples = 0.0, 0
    with torch.no_grad():
        for inputs, labels in batches:
            total += float(criterion(net(inputs.to(device)), labels.to(device))) * len(labels)
            n_samples += len(labels)
    return total / n_samples


def _check_init_loss(loss: float, criterion, outputs, n_samples: int) -> list[Finding]:
    expected, count, text = _expected_init_loss(criterion, outputs)
    details = {"loss": loss, "expected": expected, "n_samples": n_samples}
    measured = f"最初の {n_samples} 件で測った初期損失 {loss:.4g}"
    if not math.isfinite(loss):
        return [Finding("init_loss", "error", f"{measured} は NaN/Inf です。", details)]
    if expected is None:
        return [Finding("init_loss", "info", f"{measured} です。", details)]
    per_prediction, expected_per_prediction = loss / count, expected / count
    if per_prediction > expected_per_prediction + INIT_LOSS_EXCESS:
        return [Finding("init_loss", "warning",
                        f"{measured} が期待値 ({text}) よりずっと大きいです。何も学習していない"
                        "モデルはどのクラスも同じ確率で予想するはずです。入力の正規化、重みの初期化 "
                        "(大きすぎる重み)、出力の数とクラス数、ラベルを確認してください。", details)]
    if per_prediction < 0.5 * expected_per_prediction:
        return [Finding("init_loss", "info",
                        f"{measured} が期待値 ({text}) よりずっと小さいです。すでに学習したモデル "
                        "(事前学習済み、途中から再開) ならこれで正常です。作ったばかりのモデルなら、"
                        "入力から答えが分かってしまう情報 (ラベルの漏れ) がないか確認してください。",
                        details)]
    return [Finding("init_loss", "ok", f"{measured} は期待値 ({text}) に近く、妥当です。", details)]


def _check_optimizer_params(net: nn.Module, optimizer) -> list[Finding]:
    covered, missing = parameters_in_optimizer(net, optimizer)
    n_trainable = len(covered) + len(missing)
    details = {"n_trainable": n_trainable, "n_in_optimizer": len(covered), "missing": missing}
    if n_trainable and not covered:
        return [Finding("optimizer_params", "error",
                        "オプティマイザがこのモデルのパラメータを 1 つも持っていません。別のモデル "
                        "(作り直す前の古い net など) の parameters() で作っていませんか? "
                        "optim.SGD(net.parameters(), ...) を、モデルを作った後に実行してください。",
                        details)]
    if missing:
        return [Finding("optimizer_params", "warning",
                        f"requires_grad=True なのにオプティマイザに入っていないパラメータが "
                        f"{len(missing)} 個あります ({_names(missing)})。学習されませんが勾配の計算は行われます。"
                        "凍結したいなら requires_grad=False にしてください。", details)]
    return [Finding("optimizer_params", "ok",
                    f"学習するパラメータ {n_trainable} 個はすべてオプティマイザに入っています。",
                    details)]


def _check_dead_relu(net: nn.Module, batches) -> list[Finding]:
    fractions = dead_relu_fraction(net, batches)
    n_samples = sum(len(x) for x in batches)
    details = {"fractions": fractions, "n_samples": n_samples}
    if not fractions:
        return []
    if n_samples < MIN_SAMPLES:
        return [Finding("dead_relu", "info",
                        f"サンプルが {n_samples} 件しかないので、死んだ ReLU は判定しません (1 件では"
                        f"半分ほどのユニットが 0 になるのが普通です。{MIN_SAMPLES} 件以上で判定します)。",
                        details)]
    worst_name = max(fractions, key=fractions.get)
    worst = fractions[worst_name]
    if worst >= 0.5:
        listed = ", ".join(f"{n}: {f:.0%}" for n, f in fractions.items() if f >= 0.5)
        return [Finding("dead_relu", "error" if worst >= 0.9 else "warning",
                        f"ReLU の出力がバッチの全サンプルで 0 のユニットが多すぎます ({listed})。"
                        "死んだユニットには勾配が流れません。重みやバイアスの初期化 (大きな負の"
                        "バイアスなど)、大きすぎる学習率を確認してください。", details)]
    return [Finding("dead_relu", "ok",
                    f"死んだ ReLU ユニットは少数です (最大 {worst:.0%}, {worst_name})。", details)]


def _check_grad_flow(norms: dict[str, float | None], net: nn.Module,
                     bn_biases: list[str]) -> list[Finding]:
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    norms = {n: v for n, v in norms.items() if n in trainable}
    redundant = [n for n in bn_biases if n in trainable]
    details = {"norms": norms, "redundant_biases": redundant}
    if not norms:
        return [Finding("grad_flow", "error", "学習するパラメータ (requires_grad=True) がありません。",
                        details)]
    missing = [n for n, v in norms.items() if v is None]
    non_finite = [n for n, v in norms.items() if v is not None and not math.isfinite(v)]
    # a bias right before a BatchNorm has a ~0 gradient by design: not a sign of vanishing
    judged = {n: v for n, v in norms.items()
              if v is not None and math.isfinite(v) and n not in redundant}
    zero = [n for n, v in judged.items() if v < 1e-12]
    findings = []
    if non_finite:
        findings.append(Finding("grad_flow", "error",
                                f"勾配に NaN / Inf が含まれるパラメータがあります ({_names(non_finite)})。"
                                "forward か損失の計算で数値が壊れています (0 の平方根や 0 での割り算、"
                                "log(0)、大きすぎる値の exp など)。このまま学習すると重みも NaN になります。",
                                details))
    if missing:
        findings.append(Finding("grad_flow", "warning",
                                f"勾配が届かないパラメータがあります ({_names(missing)})。"
                                "forward で使われていないか、途中で detach() されています。", details))
    if zero:
        findings.append(Finding("grad_flow", "error",
                                f"勾配がちょうど 0 の層があります ({_names(zero)})。死んだ ReLU などで"
                                "勾配が途切れ、この層は学習されません。", details))
    positive = [v for v in judged.values() if v >= 1e-12]
    if positive:
        biggest, smallest = max(positive), min(positive)
        if biggest > 1e3:
            findings.append(Finding("grad_flow", "warning",
                                    f"勾配ノルムが非常に大きい層があります (最大 {biggest:.3g})。"
                                    "勾配爆発の兆候です。入力・目的変数のスケール、学習率、"
                                    "勾配クリッピングを確認してください。", details))
        elif smallest < 1e-7 * biggest:
            findings.append(Finding("grad_flow", "warning",
                                    f"層によって勾配の大きさが極端に違います (最小 {smallest:.3g} / "
                                    f"最大 {biggest:.3g})。勾配消失の兆候です。", details))
    if redundant:
        findings.append(Finding("grad_flow", "info",
                                f"{_names(redundant)} は直後の BatchNorm がバッチの平均を引くときに一緒に"
                                "消えるので効果がなく、勾配もほぼ 0 です (勾配の判定からは外しました)。"
                                "冗長なので、その層は bias=False で作れます。", details))
    if not any(f.severity in ("warning", "error") for f in findings):
        text = ", ".join(f"{n}: {v:.2g}" for n, v in list(judged.items())[:6])
        findings.append(Finding("grad_flow", "ok",
                                f"すべての層に勾配が流れています ({text}{' ...' if len(judged) > 6 else ''})。",
                                details))
    return findings


def _default_train_step(net, optimizer, criterion, inputs, labels):
    optimizer.zero_grad()
    loss = criterion(net(inputs), labels)
    loss.backward()
    optimizer.step()
    return loss


def _rng_state(device: torch.device):
    """The states of the CPU generator and, on a GPU, of its generator (to replay dropout masks)."""
    return torch.get_rng_state(), (torch.cuda.get_rng_state(device) if device.type == "cuda"
                                   else None)


def _set_rng_state(state, device: torch.device) -> None:
    """Put back the generator states taken by :func:`_rng_state`."""
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


def _measured_loss(net, criterion, inputs, labels):
    """Loss and outputs of one forward pass without gradients, in the model's current mode."""
    with torch.no_grad():
        outputs = net(inputs)
        return float(criterion(outputs, labels)), outputs


def _train_steps(net, optimizer, criterion, inputs, labels, steps: int, train_step) -> list[float]:
    """Train ``steps`` times on one batch; the losses the steps return (stops at NaN/Inf)."""
    step = train_step or _default_train_step
    losses = []
    for _ in range(steps):
        loss = step(net, optimizer, criterion, inputs, labels)
        losses.append(float(loss.detach()) if torch.is_tensor(loss) else float(loss))
        if not math.isfinite(losses[-1]):
            break
    return losses


def _loss_floor(criterion, outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """The lowest loss reachable on this batch: 0, except with label smoothing, whose smoothed
    targets keep the cross-entropy at their entropy."""
    smoothing = getattr(criterion, "label_smoothing", 0.0)
    if not isinstance(criterion, nn.CrossEntropyLoss) or smoothing == 0 or outputs.dim() < 2 \
            or torch.is_floating_point(labels):
        return 0.0
    c = outputs.shape[1]
    target = np.array([1 - smoothing + smoothing / c] + [smoothing / c] * (c - 1))
    entropy = float(-(target * np.log(target)).sum())
    return entropy * (labels.numel() if criterion.reduction == "sum" else 1)


def _max_relative_change(before: list[torch.Tensor], net: nn.Module) -> float:
    """The largest ``|w_after - w_before| / |w_before|`` over the parameters (0 if none)."""
    changes = [((p.detach() - b).norm() / b.norm()).item()
               for b, p in zip(before, net.parameters()) if b.norm() > 0]
    return max(changes, default=0.0)


def _blew_up(first: float, losses: list[float], floor: float) -> bool:
    """True when a step's loss rose above ``OVERFIT_SPIKE`` times the first one before the loss
    had come halfway down to its floor (later spikes, e.g. Adam's once the batch is memorised,
    do not mean that the set-up cannot learn)."""
    best = first
    for loss in losses:
        if loss - floor > OVERFIT_SPIKE * (first - floor) and best - floor > 0.5 * (first - floor):
            return True
        best = min(best, loss)
    return False


def _check_overfit(net, optimizer, criterion, inputs, labels, steps: int,
                   train_step) -> list[Finding]:
    before = [p.detach().clone() for p in net.parameters()]
    net.train()
    # both losses are measured in train mode with the same dropout masks
    rng = _rng_state(inputs.device)
    first, _ = _measured_loss(net, criterion, inputs, labels)
    losses = _train_steps(net, optimizer, criterion, inputs, labels, steps, train_step)
    _set_rng_state(rng, inputs.device)
    final, outputs = _measured_loss(net, criterion, inputs, labels)
    acc = _batch_accuracy(outputs, labels, criterion)
    floor = _loss_floor(criterion, outputs, labels)
    moved = _max_relative_change(before, net)
    finite = all(math.isfinite(v) for v in [first, final, *losses])
    best = min([final, *losses])
    reducible = first - floor if finite and first > floor else math.inf
    details = {"losses": losses, "first_loss": first, "final_loss": final, "best_loss": best,
               "loss_floor": floor, "progress": (first - final) / reducible,
               "best_progress": (first - best) / reducible,
               "loss_ratio": final / first if first else 0.0, "batch_accuracy": acc,
               "max_relative_change": moved, "steps": len(losses),
               "weights_changed": any(not torch.equal(b, p.detach())
                                      for b, p in zip(before, net.parameters()))}
    done = f"同じバッチを {len(losses)} ステップ学習して損失 {first:.4g} → {final:.4g}" + (
        f" (途中の最小 {best:.4g})" if details["best_progress"] > details["progress"] + 0.1
        else "") + (
        f"、バッチ正解率 {acc:.0%}" if acc is not None else "")
    if not details["weights_changed"]:
        return [Finding("overfit_batch", "error",
                        f"{steps} ステップ学習してもモデルの重みが 1 つも変わりません。optimizer.step() "
                        "を呼んでいるか、オプティマイザがこのモデルのパラメータを持っているか、学習率が "
                        "0 でないかを確認してください。", details)]
    if not finite or _blew_up(first, losses, floor) or details["progress"] < -0.5:
        return [Finding("overfit_batch", "error",
                        f"{done}。途中で損失が最大 {max([first, final, *losses]):.4g} まで増えました "
                        "(発散)。学習率が大きすぎないか、入力・目的変数のスケールを確認してください。",
                        details)]
    if details["best_progress"] >= 0.5 or (acc is not None and acc >= 0.99):
        return [Finding("overfit_batch", "ok", f"{done}。モデルには学習する力があります。", details)]
    per_step = moved / len(losses)
    if per_step < SMALL_UPDATE:
        return [Finding("overfit_batch", "error" if per_step < TINY_UPDATE else "warning",
                        f"{done}。重みの変化が最大でも {moved:.3%} (1 ステップあたり {per_step:.1e}) と"
                        "小さすぎ、損失がほとんど下がりません。学習率が小さすぎます (健全な学習では 1 "
                        "ステップで重みがおよそ 0.1% 動きます)。", details)]
    if details["progress"] <= 0:
        return [Finding("overfit_batch", "error",
                        f"{done}。重みは動いているのに損失が下がりません。学習率が大きすぎて振動して"
                        "いないか、勾配の流れ、出力層の活性化関数、出力とラベルの対応を確認してください。",
                        details)]
    return [Finding("overfit_batch", "info",
                    f"{done}。下がってはいますが遅めです (下限までの差の {details['progress']:.0%} "
                    "だけ)。素の SGD で学習率が小さめのときや深いネットワークの学習の始めには普通の"
                    "ことで、本番では多くのエポックが必要です (モーメンタムや Adam を使うと速くなります)。",
                    details)]


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------

def check_training(net: nn.Module, train_loader, criterion, optimizer, device, *,
                   n_batches: int = 5, overfit_steps: int = 50, train_step=None,
                   imbalance_ratio: float = 1.8, verbose: bool = True) -> DiagnosticReport:
    """Check a training set-up before a long run and report the problems in plain Japanese.

    Parameters
    ----------
    net, train_loader, criterion, optimizer, device
        What you would pass to ``fit``.  ``net`` must already be on ``device``.
    n_batches
        How many of the first batches are inspected for label order, label balance (without
        dataset targets) and dead ReLUs; more are read while they hold fewer than
        ``MIN_SAMPLES`` (64) samples, e.g. with ``batch_size=1``.
    overfit_steps
        Training steps on the first batch for the overfit test.  A healthy set-up drives the
        loss of one batch down within a few dozen steps (plain SGD with a small learning rate
        only slowly: that is reported as info, not as a problem).
    train_step
        Optional ``train_step(net, optimizer, criterion, inputs, labels) -> loss``: your own
        training step, used in the overfit test instead of the standard
        ``zero_grad / backward / step`` (this finds, e.g., a forgotten ``optimizer.step()``).
    imbalance_ratio
        Warn when the largest class is this many times the smallest.
    verbose
        Print the report.

    Returns a :class:`DiagnosticReport`, a list of :class:`Finding` (``check``, ``severity``,
    ``message``, ``details``).  Nothing about the model or the optimizer is changed for good:
    weights, buffers, gradients, optimizer state, the values of the optimizer's parameters,
    every sub-module's train/eval mode and the random number generators are restored.
    """
    device = torch.device(device)
    modes = {m: m.training for m in net.modules()}
    net_state = copy.deepcopy(net.state_dict())
    net_grads = [None if p.grad is None else p.grad.detach().clone() for p in net.parameters()]
    opt_state = copy.deepcopy(optimizer.state_dict())
    opt_params = [p for g in optimizer.param_groups for p in g["params"]]
    opt_values = [p.detach().clone() for p in opt_params]
    opt_grads = [None if p.grad is None else p.grad.detach().clone() for p in opt_params]
    rng_devices = [device.index or 0] if device.type == "cuda" else []

    report = DiagnosticReport()
    try:
        with torch.random.fork_rng(devices=rng_devices):
            batches = _first_batches(train_loader, n_batches, MIN_SAMPLES)
            inputs, labels = (t.to(device) for t in batches[0])

            net.train()
            outputs, facts = _traced_forward(net, inputs)
            classification = _is_class_labels(labels, criterion)
            n_classes = None
            if classification:
                n_classes = 2 if isinstance(criterion, (nn.BCELoss, nn.BCEWithLogitsLoss)) \
                    else (outputs.shape[1] if outputs.dim() >= 2 else None)
                targets = _dataset_targets(train_loader)
                report += _check_shuffle(batches, targets, n_classes)
                report += _check_label_balance(targets, batches, n_classes, imbalance_ratio)
            report += _check_inputs(inputs, facts)
            if not classification and isinstance(criterion, REGRESSION_LOSSES):
                report += _check_targets(torch.cat([y.reshape(len(y), -1).float()
                                                    for _, y in batches]))
            report += _check_logit_activation(facts, criterion)
            report += _check_init_loss(_initial_loss(net, criterion, batches, device), criterion,
                                       outputs, sum(len(y) for _, y in batches))
            report += _check_optimizer_params(net, optimizer)
            report += _check_dead_relu(net, [x.to(device) for x, _ in batches])
            report += _check_grad_flow(gradient_norms(net, inputs, labels, criterion), net,
                                      facts.bn_biases)
            report += _check_overfit(net, optimizer, criterion, inputs, labels, overfit_steps,
                                     train_step)
    finally:
        with torch.no_grad():
            for p, v, g in zip(opt_params, opt_values, opt_grads):
                p.copy_(v)
                p.grad = g
        net.load_state_dict(net_state)
        for p, g in zip(net.parameters(), net_grads):
            p.grad = g
        optimizer.load_state_dict(opt_state)
        for m, mode in modes.items():
            m.training = mode
    if verbose:
        print(report)
    return report
