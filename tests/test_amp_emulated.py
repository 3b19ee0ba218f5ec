"""Mixed precision as a GPU runs it, emulated on this CPU, so that a machine without a GPU tests it.

``fit(..., amp=True)`` and the fast recipe compute in 16 bits only on CUDA; on a CPU they change
nothing (tests/test_training.py).  Their 16-bit path (autocast, and for fp16 the ``GradScaler``
that scales the loss and skips steps whose gradients overflow) would then run nowhere but on a
GPU.  Here the CPU is let in (``MIXED_PRECISION_DEVICE_TYPES``) and ``torch.cuda.is_bf16_supported``
answers as on a T4 (bf16 only emulated: fp16 + loss scaling) or an A100/H100 (native bf16), so the
library's own code runs that path with the CPU's autocast.  The CPU casts the same kinds of
operations (convolutions, matrix products) to 16 bits as CUDA; its 16-bit kernels are slow, so the
models stay tiny.  tests/test_gpu.py runs the same on a real GPU.
"""

import warnings

import pytest
import torch
from torch import nn, optim

import pythonlibs.fast_cifar as fc
import pythonlibs.training as training
from pythonlibs.runtime import torch_seed
from pythonlibs.training import fit, mixed_precision_dtype

SCHEDULER_BEFORE_OPTIMIZER = "Detected call of `lr_scheduler.step\\(\\)` before"


def emulate_gpu(monkeypatch, native_bf16: bool) -> None:
    """Let this CPU compute in 16 bits as a GPU with (A100/H100) or without (T4) native bf16."""
    monkeypatch.setattr(training, "MIXED_PRECISION_DEVICE_TYPES", ("cuda", "cpu"))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: native_bf16 or including_emulation)


@pytest.fixture
def scalers(monkeypatch):
    """The GradScalers that ``fit`` makes (``training.grad_scaler_for``, as it is called there)."""
    made = []
    real = training.grad_scaler_for

    def recording(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]
    monkeypatch.setattr(training, "grad_scaler_for", recording)
    return made


@pytest.mark.parametrize("native_bf16, dtype, scaled", [(False, torch.float16, True),
                                                        (True, torch.bfloat16, False)],
                         ids=["fp16-like-a-T4", "bf16-like-an-H100"])
def test_fit_with_amp_computes_in_16_bits_and_learns_as_in_float32(
        monkeypatch, scalers, digits32_rgb, small_cnn, native_bf16, dtype, scaled):
    x, y = fc.images_to_tensor(*digits32_rgb, "cpu")
    loader = fc.DeviceLoader(x, y, 64, shuffle=True)
    output_types = set()

    def run(amp):
        torch_seed(0)
        net = small_cnn()
        net[0].register_forward_hook(lambda module, inputs, output: output_types.add(output.dtype))
        history = fit(net, optim.SGD(net.parameters(), lr=0.05, momentum=0.9),
                      nn.CrossEntropyLoss(), 3, loader, loader, "cpu", amp=amp)
        return history, net
    try:
        plain, _ = run(False)
        emulate_gpu(monkeypatch, native_bf16)
        assert mixed_precision_dtype() == dtype
        output_types.clear()
        mixed, net = run(True)
    finally:
        torch.use_deterministic_algorithms(False)
    assert output_types == {dtype}, "amp=True: the convolution computes in 16 bits"
    assert next(net.parameters()).dtype == torch.float32, "the weights stay float32"
    assert scalers[-1].is_enabled() == scaled, "loss scaling for fp16 only"
    assert torch.isfinite(torch.as_tensor(mixed)).all()
    assert mixed[-1, 4] > 0.5 and abs(mixed[-1, 4] - plain[-1, 4]) < 0.1


def test_fast_recipe_in_fp16_like_a_t4_skips_no_first_step(monkeypatch, digits32_rgb):
    """The recipe sums its loss over the batch (gradients batch-size times larger).  On these
    digits the first step's gradients reach ~800 at scale 1 (the whitened blocks of equal pixels),
    so any larger starting scale, e.g. 2**16 / batch size = 327, overflows fp16 and the scaler skips
    the step: PyTorch then warns that the scheduler stepped before the optimizer."""
    x, y = fc.images_to_tensor(*digits32_rgb, "cpu")

    def run():
        return fc.train_fast(fc.make_fast_net(widths=(8, 16, 16)), x[:600], y[:600], x[1500:],
                             y[1500:], fc.Recipe(epochs=2, batch_size=200), seed=0, verbose=False)
    try:
        plain = run()
        emulate_gpu(monkeypatch, native_bf16=False)
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=SCHEDULER_BEFORE_OPTIMIZER)
            mixed = run()
    finally:
        torch.use_deterministic_algorithms(False)
    losses = mixed["history"][:, 1]
    assert losses[-1] < losses[0], "the training loss goes down"
    assert abs(losses[-1] - plain["history"][-1, 1]) < 0.05, "fp16 follows the float32 run"
