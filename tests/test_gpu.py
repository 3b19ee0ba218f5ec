"""The CUDA-only paths of the library, run where a GPU is (``pytest -m gpu``); skipped elsewhere.

On a CPU these paths never run: mixed precision (bf16 autocast, or fp16 with GradScaler),
``torch.compile``, ``channels_last`` on CUDA, non-blocking copies in ``fit``, and the
reproducibility that ``torch_seed`` promises on a GPU.
"""

import warnings

import numpy as np
import pytest
import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

import pythonlibs.fast_cifar as fc
from pythonlibs.runtime import torch_seed
from pythonlibs.training import evaluate, fit, mixed_precision_dtype

pytestmark = pytest.mark.gpu


def test_fit_on_cuda_learns_and_repeats_after_torch_seed(digits32_rgb, small_cnn):
    x, y = fc.images_to_tensor(*digits32_rgb, "cpu")
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, pin_memory=True)

    def run():
        torch_seed(0)
        net = small_cnn()
        return fit(net, optim.SGD(net.parameters(), lr=0.05, momentum=0.9), nn.CrossEntropyLoss(),
                   3, loader, loader, "cuda"), net
    try:
        (first, net), (second, _) = run(), run()
    finally:
        torch.use_deterministic_algorithms(False)
    assert np.array_equal(first, second)
    assert first[-1, 4] > 0.5 and next(net.parameters()).is_cuda
    loss, acc = evaluate(net, loader, nn.CrossEntropyLoss(), "cuda")
    assert acc == pytest.approx(first[-1, 4])


def test_fit_with_mixed_precision_on_cuda_computes_in_16_bits_and_learns(digits32_rgb, small_cnn):
    x, y = fc.images_to_tensor(*digits32_rgb, "cuda")
    loader = fc.DeviceLoader(x, y, 64, shuffle=True)
    output_types = set()

    def run(amp):
        torch_seed(0, deterministic=False)
        net = small_cnn()
        net[0].register_forward_hook(lambda module, inputs, output: output_types.add(output.dtype))
        return fit(net, optim.SGD(net.parameters(), lr=0.05, momentum=0.9), nn.CrossEntropyLoss(),
                   3, loader, loader, "cuda", amp=amp)
    plain = run(False)
    assert output_types == {torch.float32}
    mixed = run(True)
    assert output_types == {torch.float32, mixed_precision_dtype()}
    assert mixed[-1, 4] > 0.5 and abs(mixed[-1, 4] - plain[-1, 4]) < 0.1


@pytest.mark.parametrize("compile_net", [False, True])
def test_fast_recipe_on_cuda_with_mixed_precision(digits32_rgb, compile_net):
    x, y = fc.images_to_tensor(*digits32_rgb, "cuda")
    recipe = fc.Recipe(epochs=4, batch_size=200, compile=compile_net)
    result = fc.train_fast(fc.make_fast_net(widths=(16, 32, 32)), x[:1500], y[:1500], x[1500:],
                           y[1500:], recipe, seed=0, verbose=False)
    assert result["history"][-1, 1] < result["history"][0, 1]
    assert result["accuracy"] > 0.5


def test_fast_recipe_in_fp16_as_on_a_t4_skips_no_first_step(digits32_rgb, monkeypatch):
    """Where bf16 is not native (a T4), the recipe trains in fp16 with loss scaling; its loss is
    summed over the batch, so a scale meant for a mean loss would overflow the first steps and
    skip them (PyTorch then warns that the scheduler stepped before the optimizer)."""
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert mixed_precision_dtype() == torch.float16
    x, y = fc.images_to_tensor(*digits32_rgb, "cuda")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Detected call of `lr_scheduler.step\\(\\)` before")
        result = fc.train_fast(fc.make_fast_net(widths=(16, 32, 32)), x[:1500], y[:1500], x[1500:],
                               y[1500:], fc.Recipe(epochs=4, batch_size=200), seed=0, verbose=False)
    assert result["accuracy"] > 0.5


def test_autocast_and_grad_scaler_on_cuda():
    with fc.autocast_for("cuda"):
        out = nn.Linear(8, 8).cuda()(torch.randn(4, 8, device="cuda"))
    assert out.dtype in (torch.bfloat16, torch.float16)
    scaler = fc.grad_scaler_for("cuda", amp=True)
    native_bf16 = torch.cuda.get_device_capability()[0] >= 8
    assert out.dtype == (torch.bfloat16 if native_bf16 else torch.float16)
    assert scaler.is_enabled() == (not native_bf16)


def test_channels_last_on_cuda_gives_the_same_outputs(digits32_rgb):
    x, _ = fc.images_to_tensor(digits32_rgb[0][:16], digits32_rgb[1][:16], "cuda")
    torch.manual_seed(0)
    reference = fc.make_fast_net(widths=(8, 16, 16)).cuda().eval()
    fast = fc.make_fast_net(widths=(8, 16, 16)).eval()
    fast.load_state_dict(reference.state_dict())
    net, model = fc.prepare_model(fast, "cuda", fc.Recipe(channels_last=True))
    assert net.groups[0].conv1.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(model(fc.to_model_layout(x, fc.Recipe())), reference(x),
                                   atol=1e-3, rtol=1e-3)


def test_make_loader_keeps_uint8_images_on_the_gpu_and_augments_there(digits32_rgb):
    from torchvision import transforms

    from pythonlibs.data import AugmentedBatchLoader, ImageArrayDataset, make_loader

    data, labels = digits32_rgb
    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
        transforms.Normalize(0.5, 0.5), transforms.RandomErasing(p=0.5, value=0)])
    dataset = ImageArrayDataset(data, labels, [str(d) for d in range(10)], transform)
    loader = make_loader(dataset, 100, shuffle=True, device="cuda")
    assert isinstance(loader, AugmentedBatchLoader)
    assert loader.inputs.is_cuda and loader.inputs.dtype == torch.uint8
    torch_seed(1)
    first = [x for x, _ in loader]
    torch_seed(1)
    again = [x for x, _ in loader]
    assert all(a.is_cuda and a.dtype == torch.float32 and a.shape[1:] == (3, 32, 32) for a in first)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
