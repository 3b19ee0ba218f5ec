"""Training and evaluation: the book's ``fit`` / ``eval_loss``, made correct and careful.

* evaluation runs under ``model.eval()`` and ``torch.no_grad()`` (:func:`eval_mode`), and every
  sub-module gets its own train/eval mode back afterwards;
* the loss is averaged per sample over the whole epoch, whatever the criterion's ``reduction``
  and however short the last batch;
* accuracy counts what is really a prediction: argmax for class labels, a threshold for
  one-logit and multi-label binary outputs, never more than 100%;
* mistakes that would train silently wrong (outputs and labels that only broadcast, an
  optimizer that holds none of the model's parameters) stop with one clear Japanese message;
* interrupting ``fit`` (Jupyter's stop button) keeps the history of every finished epoch;
* mixed precision on a CUDA GPU when asked (``fit(..., amp=True)``): bf16 where the GPU computes
  it natively, else fp16 with loss scaling; other devices keep float32, so CPU results never
  change;
* checkpoints are written atomically and say clearly why they cannot be loaded.
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = [
    "fit", "evaluate", "eval_loss", "eval_mode",
    "count_correct", "predicted_classes", "check_loader", "check_output_shapes",
    "split_batch", "model_outputs", "parameters_in_optimizer",
    "save_checkpoint", "load_checkpoint",
    "mixed_precision_dtype", "autocast_for", "grad_scaler_for",
]

HISTORY_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")

# Losses that compare outputs and labels element by element: their shapes must be equal, or
# PyTorch broadcasts them, e.g. (N, 1) against (N,) into an (N, N) loss.
ELEMENTWISE_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss, nn.BCELoss,
                      nn.BCEWithLogitsLoss)
CLASS_INDEX_LOSSES = (nn.CrossEntropyLoss, nn.NLLLoss)
BINARY_LOSSES = (nn.BCELoss, nn.BCEWithLogitsLoss)


@contextmanager
def eval_mode(net: nn.Module):
    """Run a block in evaluation: ``net.eval()`` and ``torch.no_grad()``.

    Afterwards every sub-module gets back the mode it had (a BatchNorm kept in eval mode inside
    a model that trains stays so), even when the block raises.
    """
    modes = [(module, module.training) for module in net.modules()]
    net.eval()
    try:
        with torch.no_grad():
            yield net
    finally:
        for module, training in modes:
            module.training = training


# ---------------------------------------------------------------------------------------------
# Checks with one clear message each
# ---------------------------------------------------------------------------------------------

def check_loader(loader, name: str = "loader") -> None:
    """Raise a clear error for a loader that yields no batch (when its length is known)."""
    try:
        n_batches = len(loader)
    except TypeError:  # an iterable without len(): cannot check in advance
        return
    if n_batches == 0:
        raise ValueError(f"{name} が空です (バッチが 1 つもありません)。データセットの中身と "
                         f"batch_size / drop_last を確認してください。")


def split_batch(batch):
    """``(inputs, labels)`` of one batch, or a clear error for a batch of another form."""
    if isinstance(batch, dict):
        raise TypeError(
            f"ローダが辞書 (キー: {', '.join(map(str, batch))}) のバッチを返しました。fit / evaluate は "
            "(入力, 正解) の組を受け取ります。Dataset の __getitem__ で `return 入力, 正解` と返すか、"
            "collate_fn で組に直してください。")
    if not isinstance(batch, (list, tuple)) or len(batch) != 2:
        kind = f"{len(batch)} 個の組" if isinstance(batch, (list, tuple)) else type(batch).__name__
        raise TypeError(f"ローダのバッチが {kind} です。fit / evaluate は (入力, 正解) の 2 つの組を"
                        "受け取ります。Dataset の __getitem__ が `return 入力, 正解` を返すようにしてください。")
    return batch[0], batch[1]


def model_outputs(net, inputs) -> torch.Tensor:
    """``net(inputs)``, or a clear error when the model does not return one tensor."""
    outputs = net(inputs)
    if not isinstance(outputs, torch.Tensor):
        raise TypeError(
            f"モデルの出力が {type(outputs).__name__} です (テンソル 1 つではありません)。forward で"
            "は予測のテンソルだけを return してください (例: LSTM なら `out, _ = self.lstm(x)` のように"
            "受け取って out を使う。torchvision の Inception/GoogLeNet は訓練モードで補助出力も返すので "
            "aux_logits=False にする)。")
    return outputs


def _shapes(outputs, labels) -> str:
    return f"outputs {tuple(outputs.shape)}, labels {tuple(labels.shape)}"


def check_output_shapes(outputs: torch.Tensor, labels: torch.Tensor, criterion) -> None:
    """Raise a clear error when the model's outputs cannot be compared with the labels.

    Refused: different batch sizes; class-index losses (CrossEntropyLoss, NLLLoss) whose labels
    are not ``outputs`` without the class axis, e.g. (N, C) with (N,) or (N, C, L) with (N, L);
    element-wise losses (MSE, L1, BCE, ...) whose two shapes differ and would only broadcast.
    """
    if outputs.dim() == 0 or labels.dim() == 0 or outputs.shape[0] != labels.shape[0]:
        raise ValueError(f"出力と正解のバッチサイズが違います: {_shapes(outputs, labels)}。"
                         "モデルの forward (view / flatten) を確認してください。")
    if isinstance(criterion, CLASS_INDEX_LOSSES):
        if torch.is_floating_point(labels):
            if outputs.shape != labels.shape:
                raise ValueError(
                    f"{type(criterion).__name__} の正解ラベルはクラス番号 (整数, torch.long) にしてください "
                    f"({_shapes(outputs, labels)}, labels の型 {labels.dtype})。例: labels.long()")
            return
        if outputs.dim() < 2 or labels.shape != outputs.shape[:1] + outputs.shape[2:]:
            raise ValueError(
                f"{type(criterion).__name__} には outputs (N, クラス数) と labels (N,) "
                f"(画素ごとなら (N, クラス数, ...) と (N, ...)) が必要ですが、{_shapes(outputs, labels)} "
                "でした。")
    elif isinstance(criterion, ELEMENTWISE_LOSSES) and outputs.shape != labels.shape:
        raise ValueError(
            f"{type(criterion).__name__} には同じ形の outputs と labels が必要ですが、"
            f"{_shapes(outputs, labels)} でした。形が違うと PyTorch は黙って広げて (ブロードキャスト) "
            "計算し、誤った損失になります。labels.view(-1, 1) か outputs.view(-1) で形をそろえてください。")


def parameters_in_optimizer(net: nn.Module, optimizer) -> tuple[list[str], list[str]]:
    """Names of ``net``'s trainable parameters that ``optimizer`` holds, and of those it does not."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    trainable = [(name, p) for name, p in net.named_parameters() if p.requires_grad]
    return ([name for name, p in trainable if id(p) in held],
            [name for name, p in trainable if id(p) not in held])


def _check_optimizer(net: nn.Module, optimizer) -> None:
    """Refuse an optimizer that would train nothing of ``net`` (a subset is fine)."""
    held, missing = parameters_in_optimizer(net, optimizer)
    if held:
        return
    if not missing:
        raise ValueError("このモデルには学習するパラメータがありません (すべて requires_grad=False)。"
                         "学習させる層の requires_grad を True にしてください。")
    raise ValueError(
        "オプティマイザがこのモデルのパラメータを 1 つも持っていないので、学習しても何も変わりません。"
        "モデルを作り直した (セルを再実行した) あとでオプティマイザを作り直していないのでは? "
        "optimizer = optim.SGD(net.parameters(), ...) のセルも実行し直してください。")


def _check_num_epochs(num_epochs) -> int:
    try:
        num_epochs = operator.index(num_epochs)
    except TypeError:
        raise TypeError(f"num_epochs は整数で指定してください (受け取った値: {num_epochs!r}, "
                        f"型 {type(num_epochs).__name__})。例: fit(..., 10, ...) / "
                        "int(...)") from None
    if num_epochs < 0:
        raise ValueError(f"num_epochs は 0 以上にしてください (num_epochs={num_epochs})")
    return num_epochs


def _check_history(history) -> np.ndarray:
    if history is None:
        return np.zeros((0, len(HISTORY_COLUMNS)))
    history = np.asarray(history, dtype=float)
    if history.ndim != 2 or history.shape[1] != len(HISTORY_COLUMNS):
        raise ValueError("history は fit が返した (エポック数, 5) の配列か、最初は None "
                         f"(または np.zeros((0, 5))) にしてください (受け取った形: {history.shape})。")
    return history


# ---------------------------------------------------------------------------------------------
# Predictions and accuracy
# ---------------------------------------------------------------------------------------------

def predicted_classes(outputs: torch.Tensor, sigmoid_applied: bool = False) -> torch.Tensor:
    """Predicted class of each sample: argmax over classes, or for a single output (one-logit
    binary model) 1 where the logit is > 0 (the probability > 0.5 when ``sigmoid_applied``)."""
    if outputs.dim() == 1 or outputs.shape[1] == 1:
        return (outputs.reshape(len(outputs)) > (0.5 if sigmoid_applied else 0.0)).long()
    return outputs.argmax(dim=1)


def count_correct(outputs: torch.Tensor, labels: torch.Tensor, criterion):
    """``(number correct, number counted)`` in a batch as tensors; None for a loss without classes.

    * BCE losses: every output is a yes/no prediction (logit > 0, or probability > 0.5 for
      ``BCELoss``) compared with its label > 0.5, so smoothed targets (0.05 / 0.95) and
      multi-label targets count right and the accuracy never exceeds 1;
    * class labels (integers): argmax over the class axis, positions equal to the criterion's
      ``ignore_index`` left out;
    * probability labels for CrossEntropyLoss (same shape as the outputs): argmax of both.
    """
    if isinstance(criterion, BINARY_LOSSES):
        threshold = 0.5 if isinstance(criterion, nn.BCELoss) else 0.0
        return ((outputs > threshold) == (labels > 0.5)).sum(), labels.numel()
    if outputs.dim() < 2:
        return None
    if not torch.is_floating_point(labels) and labels.shape == outputs.shape[:1] + outputs.shape[2:]:
        right = outputs.argmax(dim=1) == labels
        ignore = getattr(criterion, "ignore_index", None)
        if ignore is None:
            return right.sum(), labels.numel()
        counted = labels != ignore
        return (right & counted).sum(), counted.sum()
    if isinstance(criterion, nn.CrossEntropyLoss) and labels.shape == outputs.shape:
        return (outputs.argmax(dim=1) == labels.argmax(dim=1)).sum(), labels.numel() // labels.shape[1]
    return None


# ---------------------------------------------------------------------------------------------
# Mixed precision (CUDA only)
# ---------------------------------------------------------------------------------------------

def mixed_precision_dtype() -> torch.dtype:
    """The 16-bit type for mixed precision on this CUDA GPU: bf16 where it computes bf16 natively
    (compute capability 8 or higher: A100, H100, RTX 30xx ...), else fp16 (T4, V100).

    ``torch.cuda.is_bf16_supported()`` alone says yes on a T4 too, where bf16 is only emulated
    (slow, no Tensor Cores), hence ``including_emulation=False``.
    """
    native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if native_bf16 else torch.float16


# Where ``amp`` computes in 16 bits.  Elsewhere it changes nothing: a CPU's float16 has no
# hardware support on most machines and is far slower than float32.  (The tests add "cpu" to
# run the fp16 path of a T4, loss scaling included, on a machine without a GPU.)
MIXED_PRECISION_DEVICE_TYPES = ("cuda",)


def _mixed_precision_on(device, enabled: bool) -> bool:
    """Whether ``amp`` (``enabled``) makes ``device`` compute in 16 bits."""
    return enabled and torch.device(device).type in MIXED_PRECISION_DEVICE_TYPES


def autocast_for(device, enabled: bool = True):
    """Mixed-precision context for the forward pass and the loss: autocast to
    :func:`mixed_precision_dtype` on CUDA; nothing elsewhere (float32, results unchanged)."""
    if not _mixed_precision_on(device, enabled):
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=mixed_precision_dtype())


def grad_scaler_for(device, amp: bool, init_scale: float = 2.0**16) -> torch.amp.GradScaler:
    """A loss-scaling ``GradScaler``, enabled only for fp16 on CUDA (bf16 has float32's range
    and needs none; a disabled scaler passes the loss and the step through unchanged).

    ``init_scale`` is PyTorch's default, meant for a loss averaged over the batch.  A loss
    *summed* over the batch already makes the gradients batch-size times larger, as a scale
    would; it needs a far smaller one (``fast_cifar`` starts at 1), or the first steps
    overflow and are skipped (the scaler halves its scale after each).
    """
    needed = _mixed_precision_on(device, amp) and mixed_precision_dtype() == torch.float16
    return torch.amp.GradScaler(torch.device(device).type, init_scale=init_scale, enabled=needed)


# ---------------------------------------------------------------------------------------------
# One epoch, evaluation, fit
# ---------------------------------------------------------------------------------------------

def _batch_loss(net, inputs, labels, criterion):
    """The model's outputs and the criterion's loss on one batch, after the shape checks."""
    outputs = model_outputs(net, inputs)
    check_output_shapes(outputs, labels, criterion)
    loss = criterion(outputs, labels)
    if loss.dim() != 0:
        raise ValueError(f"損失がスカラーではありません (形 {tuple(loss.shape)})。損失関数は "
                         "reduction='mean' (既定) か 'sum' にしてください。")
    return outputs, loss


def _summed_loss(loss: torch.Tensor, criterion, batch_size: int) -> torch.Tensor:
    """The batch's loss summed over its samples (criteria average over the batch by default)."""
    return loss if getattr(criterion, "reduction", "mean") == "sum" else loss * batch_size


def _batch_step(net, batch, criterion, device, optimizer=None, amp: bool = False, scaler=None):
    """Forward one batch (and backward + step when training); returns (outputs, labels, loss).

    ``amp``: forward and loss under :func:`autocast_for`; ``scaler`` (training only): the
    :func:`grad_scaler_for` that scales the loss for fp16 (disabled, it changes nothing).
    """
    non_blocking = torch.device(device).type == "cuda"
    inputs, labels = split_batch(batch)
    inputs = inputs.to(device, non_blocking=non_blocking)
    labels = labels.to(device, non_blocking=non_blocking)
    with autocast_for(device, amp):
        outputs, loss = _batch_loss(net, inputs, labels, criterion)
    if optimizer is not None:
        optimizer.zero_grad()
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
    return outputs, labels, loss


def _length(loader) -> int | None:
    """Number of batches of ``loader`` (None for an iterable without ``len``)."""
    try:
        return len(loader)
    except TypeError:
        return None


def _run_epoch(net, loader, criterion, device, optimizer=None, desc: str = "", amp: bool = False,
               scaler=None):
    """One pass over ``loader``: trains when ``optimizer`` is given, else only evaluates
    (``amp`` and ``scaler``: see :func:`_batch_step`).

    Returns (mean loss per sample, accuracy).  The sums stay on the device and are read once at
    the end of the epoch: calling ``.item()`` on every batch would make the CPU wait for the GPU.
    """
    total_loss = torch.zeros((), device=device)
    total_correct = torch.zeros((), device=device)
    total_counted = torch.zeros((), device=device)
    n_samples, has_accuracy = 0, True
    # The bar is advanced by hand: tqdm wrapping the loader would start an extra DataLoader
    # iterator, which draws a random number and changes the shuffling that torch_seed fixed.
    with tqdm(total=_length(loader), desc=desc, leave=False, disable=not desc) as bar:
        for batch in loader:
            outputs, labels, loss = _batch_step(net, batch, criterion, device, optimizer, amp,
                                                scaler)
            total_loss += _summed_loss(loss.detach(), criterion, len(labels))
            counts = count_correct(outputs.detach(), labels, criterion)
            if counts is None:
                has_accuracy = False
            else:
                total_correct += counts[0]
                total_counted += counts[1]
            n_samples += len(labels)
            bar.update()
    if n_samples == 0:
        raise ValueError("ローダが 1 件もデータを返しませんでした。データセットを確認してください。")
    accuracy = (total_correct / total_counted.clamp(min=1)).item() if has_accuracy else math.nan
    return total_loss.item() / n_samples, accuracy


def evaluate(net: nn.Module, loader, criterion, device, amp: bool = False) -> tuple[float, float]:
    """Mean loss per sample and accuracy of ``net`` over ``loader``.

    Runs in ``eval()`` mode (dropout off, BatchNorm uses its running statistics) and under
    ``torch.no_grad()`` (no computation graph is kept: faster, less memory).  ``amp``: mixed
    precision on a CUDA GPU, as in :func:`fit`.
    """
    check_loader(loader, "loader")
    with eval_mode(net):
        return _run_epoch(net, loader, criterion, device, amp=amp)


def _live_view(live, num_epochs: int):
    """The live curves of ``fit``, only in a notebook: by default when more than one epoch runs."""
    # Imported here, not at the top: the interactive views draw with plotting, which imports
    # this module.
    from pythonlibs.interactive import LiveCurves, in_notebook

    if live is None:
        live = num_epochs > 1
    return LiveCurves() if live and in_notebook() else None


def fit(net, optimizer, criterion, num_epochs, train_loader, test_loader, device, history=None,
        live=None, amp: bool = False):
    """Train ``net`` for ``num_epochs`` and record loss and accuracy after every epoch.

    Same signature as the book.  ``history`` holds rows ``[epoch, train_loss, train_acc,
    val_loss, val_acc]``: start with ``None`` (or the book's ``np.zeros((0, 5))``); the returned
    array continues it, so calling ``fit`` again trains further.

    The training loss and accuracy are averaged per sample over the epoch while the weights
    change; the validation figures are computed afterwards in ``eval()`` mode without gradients.
    Interrupting (Jupyter's stop button, Ctrl-C) returns the rows of the finished epochs.
    As in the book, ``net`` is left in ``eval()`` mode, ready to predict.

    ``live`` (not in the book): in a notebook, redraw the learning curves in place as epochs
    finish (at most once a second); the figure of the last epoch stays in the cell's output.  The default (None) does so when more
    than one epoch is trained, ``live=True`` also for one, ``live=False`` never.  Outside a
    notebook there is nothing to redraw, and nothing is drawn.

    ``amp`` (not in the book): on a CUDA GPU, compute the forward pass and the loss in 16 bits
    (``torch.autocast``: bf16 where the GPU has it natively, else fp16 with loss scaling by a
    ``GradScaler``), in training and validation alike; the weights and the optimizer stay
    float32.  Faster where the GPU has Tensor Cores, with slightly different figures.  On a CPU
    or MPS it does nothing: the results are exactly those of ``amp=False``.
    """
    num_epochs = _check_num_epochs(num_epochs)
    history = _check_history(history)
    check_loader(train_loader, "train_loader")
    check_loader(test_loader, "test_loader")
    _check_optimizer(net, optimizer)
    view = _live_view(live, num_epochs)
    net.to(device)
    scaler = grad_scaler_for(device, amp)
    scaler = scaler if scaler.is_enabled() else None   # bf16 and float32 need no loss scaling
    base_epoch = int(history[-1, 0]) if len(history) else 0
    last_epoch = base_epoch + num_epochs
    rows = [history]
    try:
        for epoch in range(base_epoch + 1, last_epoch + 1):
            net.train()
            train_loss, train_acc = _run_epoch(net, train_loader, criterion, device, optimizer,
                                               f"Epoch {epoch}/{last_epoch}", amp, scaler)
            val_loss, val_acc = evaluate(net, test_loader, criterion, device, amp)
            print(f"Epoch [{epoch}/{last_epoch}], loss: {train_loss:.5f} "
                  f"acc: {train_acc:.5f} val_loss: {val_loss:.5f}, val_acc: {val_acc:.5f}")
            rows.append(np.array([[epoch, train_loss, train_acc, val_loss, val_acc]]))
            if view is not None:
                view.update(np.vstack(rows))
    except KeyboardInterrupt:
        print(f"⏹ 中断しました: 終わった {len(rows) - 1} エポック分の履歴を返します (モデルの重みには"
              "中断したエポックの途中までの学習も入っています)。")
    if view is not None:
        view.close()   # the figure left in the cell shows the last finished epoch
    net.eval()   # as the book's fit leaves it: ready to predict
    return np.vstack(rows)


def eval_loss(loader, device, net, criterion):
    """Loss of the first batch of ``loader``, with its computation graph (for ``make_dot``).

    As in the book, this is for drawing the graph, so it deliberately keeps gradients.  For a
    proper evaluation over the whole loader use ``evaluate``.
    """
    check_loader(loader, "loader")
    for batch in loader:
        inputs, labels = split_batch(batch)
        return _batch_loss(net, inputs.to(device), labels.to(device), criterion)[1]
    raise ValueError("loader が空です (バッチが 1 つもありません)。")


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------

def save_checkpoint(path, net: nn.Module, optimizer=None, history=None) -> Path:
    """Save the weights (and optimizer state and history, if given) to ``path``.

    The file is written under a temporary name and then renamed, so an interrupted save never
    leaves a half-written checkpoint where the last good one was.  Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": net.state_dict()}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if history is not None:
        state["history"] = torch.as_tensor(_check_history(history))
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"チェックポイント {path} がありません。パスを確認するか、"
                                "save_checkpoint で保存してから読み込んでください。")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many kinds for a damaged file
        raise RuntimeError(
            f"チェックポイント {path} を読み込めません ({type(error).__name__})。ファイルが壊れているか、"
            "保存が途中で止まったか、チェックポイントではないファイルです。別の (前の) チェック"
            "ポイントを使うか、学習をやり直してください。") from None
    if isinstance(state, dict) and "model" not in state and all(torch.is_tensor(v) for v in state.values()):
        state = {"model": state}   # a bare state_dict, as torch.save(net.state_dict(), path) writes
    if not isinstance(state, dict) or "model" not in state:
        raise RuntimeError(f"{path} はモデルの重みを含むチェックポイントではありません。")
    return state


def _load_weights(net: nn.Module, weights: dict, path: Path) -> None:
    own = net.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    resized = [f"{k}: 保存 {tuple(weights[k].shape)} / モデル {tuple(v.shape)}"
               for k, v in own.items() if k in weights and weights[k].shape != v.shape]
    if missing or unexpected or resized:
        lines = [f"チェックポイント {path} はこのモデルと形が合いません (保存したときと違うモデルです)。"]
        for title, names in (("モデルにあって保存にない", missing), ("保存にあってモデルにない", unexpected),
                             ("形が違う", resized)):
            if names:
                lines.append(f"  {title}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
        lines.append("保存したときと同じクラス・同じ引数でモデルを作ってから読み込んでください。")
        raise ValueError("\n".join(lines))
    net.load_state_dict(weights)


def load_checkpoint(path, net: nn.Module, optimizer=None):
    """Load a checkpoint of :func:`save_checkpoint` (or a saved ``state_dict``) into ``net``.

    Also restores the optimizer's state when ``optimizer`` is given and the file has one.
    Returns the saved history (``None`` when none was saved).  A missing, damaged or
    mismatching file stops with one message that says what to do.
    """
    path = Path(path)
    state = _read_checkpoint(path)
    _load_weights(net, state["model"], path)
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    history = state.get("history")
    return None if history is None else history.numpy()
