"""Benchmark: one training step of the book's small CNNs, plain and with the speed-ups ``fit`` could use.

At batch 100 the chapter-9 and chapter-10 CNNs are too small to keep a GPU busy: a step is mostly
kernel launches; the VGG-19-BN of chapters 11 and 12 on 112-pixel images is the opposite case,
bound by arithmetic.  This measures, for the notebooks' own models (``CNN`` of ch09, ``CNN_v2`` and
``CNN_v4`` of ch10; on request ``Linear``, ch15's first model, and torchvision's ``resnet18`` and
``vgg19_bn`` on 112-pixel images, as ch11 and ch12 train them), the milliseconds per training step
(forward, loss, backward, SGD with momentum) of each variant, and its ratio to the plain step, in
one run:

* ``eager``: float32, default memory layout, after ``torch_seed()`` (deterministic kernels): what
  the notebooks do now;
* ``fast-kernels``: after ``torch_seed(deterministic=False)`` (cuDNN picks its fastest kernels);
* ``channels_last``: model and batches in NHWC;
* ``bf16``: ``torch.autocast`` to 16 bits (CUDA only): bfloat16, or float16 on a GPU without
  native bfloat16 such as a T4 (``mixed_precision_dtype``);
* ``compile``: ``torch.compile(model)``; ``reduce-overhead``: with CUDA graphs (CUDA only);
* and their combinations (``+``).

Each variant gets the same freshly seeded model and the same real CIFAR-10 batches on the
device, runs ``--warmup`` untimed steps (compilation, cuDNN's search), then ``--steps`` timed
ones.  On a CPU only the variants that exist there run (compiling needs a C++ compiler and a
few minutes; ask for it with ``--variants``).

``--through-fit`` times the library's ``fit`` itself instead of a bare step: milliseconds per
training step of whole epochs (its validation included), after a first epoch timed on its own
(what compiling costs once per model), for

* ``host-batches``: the loader keeps the batches in the computer's memory and ``fit`` copies
  each to the GPU (what ``make_loader(dataset, batch_size)`` gives, as in chapters 9 and 10);
* ``device-batches``: the loader keeps them on the device (``make_loader(..., device=device)``);
* ``fast-kernels``, ``channels_last``, ``compile``, ``reduce-overhead``: as above (the model
  handed to ``fit`` is compiled); ``amp``: ``fit(..., amp=True)``
  (bf16 or fp16, whichever ``mixed_precision_dtype`` picks; CUDA only).

``--profile VARIANT ...`` (with ``--through-fit``) also runs one epoch of those variants under
``torch.profiler`` and records, per training step, the kernels launched, the waits for the GPU
and the copies: where the time of a small model's step goes.  ``--models Linear`` adds chapter
15's linear model, whose step is nearly all overhead.

    DLNB_DATA_MIRROR=../shared/datasets python benchmarks/bench_fit_speed.py
    python benchmarks/bench_fit_speed.py --models CNN_v2 --variants eager channels_last compile
    python benchmarks/bench_fit_speed.py --through-fit --models CNN_v2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torchvision import models as tv_models

from pythonlibs.data import TensorBatchLoader, stratified_indices
from pythonlibs.datasets import load_cifar10
from pythonlibs.fast_cifar import synchronize
from pythonlibs.runtime import get_device, torch_seed
from pythonlibs.training import autocast_for, fit, mixed_precision_dtype

from evidence import notebook_class, run_metadata, save_record

# name: (where the model comes from, its arguments, the image size its chapter feeds it)
MODELS = {"CNN": ("ch09_cnn", (10, 128), 32), "CNN_v2": ("ch10_dl_tuning", (10,), 32),
          "CNN_v4": ("ch10_dl_tuning", (10,), 32), "Linear": ("ch15_cifar_sota", (), 32),
          "resnet18": ("torchvision", (), 112), "vgg19_bn": ("torchvision", (), 112)}
CUDA_ONLY = {"bf16", "reduce-overhead", "amp"}
ALL_VARIANTS = ("eager", "fast-kernels", "fast-kernels+channels_last", "fast-kernels+bf16",
                "fast-kernels+channels_last+bf16", "fast-kernels+compile+channels_last+bf16",
                "fast-kernels+reduce-overhead+channels_last+bf16")
FIT_VARIANTS = ("host-batches", "device-batches", "device-batches+fast-kernels",
                "device-batches+fast-kernels+channels_last", "device-batches+fast-kernels+amp",
                "device-batches+fast-kernels+channels_last+amp",
                "device-batches+fast-kernels+channels_last+amp+compile",
                "device-batches+fast-kernels+channels_last+amp+reduce-overhead")


def real_images(count: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` real CIFAR-10 training images (Normalize(0.5, 0.5)), shuffled, and their labels."""
    dataset = load_cifar10(train=True, transform=None)
    index = stratified_indices(dataset.targets, count // 10 + 1)[:count]
    images = torch.tensor(dataset.data[index]).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5)
    labels = torch.as_tensor(np.asarray(dataset.targets)[index])
    order = torch.randperm(len(index), generator=torch.Generator().manual_seed(0))
    return images[order].to(device), labels[order].to(device)


def real_batches(count: int, batch_size: int, device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``count`` batches of real CIFAR-10 training images (:func:`real_images`) on ``device``."""
    images, labels = real_images(count * batch_size, device)
    return list(zip(images.split(batch_size), labels.split(batch_size)))


def _chapter_model(model_name: str, parts: set, device) -> nn.Module:
    """A fresh, seeded model of the notebook (fast kernels and channels_last when ``parts`` ask).

    ``"Linear"`` is chapter 15's step 1 (defined in a cell there, not as a class): a linear
    model, whose step is almost nothing but overhead, the floor of any step's time.
    ``"resnet18"`` and ``"vgg19_bn"`` are torchvision's, as chapters 11 and 12 train them on
    112-pixel images (10 outputs; random weights: the time does not depend on them).
    """
    source, arguments, _ = MODELS[model_name]
    torch_seed(0, deterministic="fast-kernels" not in parts)
    if model_name == "Linear":
        net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    elif source == "torchvision":
        net = tv_models.get_model(model_name, weights=None, num_classes=10)
    else:
        net = notebook_class(source, model_name)(*arguments)
    net = net.to(device)
    return net.to(memory_format=torch.channels_last) if "channels_last" in parts else net


def compiled_if_asked(net: nn.Module, parts: set) -> nn.Module:
    """``torch.compile(net)`` for ``compile``, with CUDA graphs for ``reduce-overhead``; else ``net``."""
    if "reduce-overhead" in parts:
        return torch.compile(net, mode="reduce-overhead")
    return torch.compile(net) if "compile" in parts else net


def sized_for(model_name: str, images: torch.Tensor) -> torch.Tensor:
    """The 32-pixel images enlarged to the size the model's chapter uses (``Resize(112)``: bilinear)."""
    size = MODELS[model_name][2]
    if images.shape[-1] == size:
        return images
    return torch.cat([F.interpolate(part, size=size, mode="bilinear") for part in images.split(500)])


def training_step(model: nn.Module, optimizer, criterion, bf16: bool, device):
    """One step as ``fit`` takes it, with 16-bit autocast around the forward pass when asked
    (bf16, or fp16 where the GPU has no native bf16: ``mixed_precision_dtype``)."""
    def step(inputs, labels):
        with autocast_for(device, bf16):
            loss = criterion(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.detach()
    return step


def milliseconds_per_step(model_name: str, variant: str, batches, warmup: int, steps: int, device) -> float:
    """The mean time of ``steps`` training steps of a fresh model in ``variant``, after ``warmup``."""
    parts = set(variant.split("+"))
    net = _chapter_model(model_name, parts, device)
    batches = [(sized_for(model_name, x), y) for x, y in batches]
    if "channels_last" in parts:
        batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    model = compiled_if_asked(net, parts)
    step = training_step(model, optimizer, nn.CrossEntropyLoss(), "bf16" in parts, device)
    net.train()
    for i in range(warmup):
        step(*batches[i % len(batches)])
    synchronize(device)
    start = time.perf_counter()
    for i in range(steps):
        loss = step(*batches[i % len(batches)])
    loss.item()
    synchronize(device)
    return (time.perf_counter() - start) / steps * 1000


def _fit_trainer(model_name: str, variant: str, images: torch.Tensor, labels: torch.Tensor,
                 batch_size: int, device):
    """``(train_for, training steps per epoch)`` for ``fit`` on a fresh model in ``variant``
    (:data:`FIT_VARIANTS`); ``train_for(n)`` trains ``n`` more epochs.

    ``images`` and ``labels`` (in the computer's memory) are split 5:1 into training and
    validation data; each loader slices batches of ``batch_size``.
    """
    parts = set(variant.split("+"))
    net = _chapter_model(model_name, parts, device)
    model = compiled_if_asked(net, parts)
    place = device if "device-batches" in parts else "cpu"
    images = sized_for(model_name, images)
    n_val = len(images) // 6
    train = TensorBatchLoader(images[n_val:].to(place), labels[n_val:].to(place), batch_size, shuffle=True)
    val = TensorBatchLoader(images[:n_val].to(place), labels[:n_val].to(place), batch_size)
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def train_for(num_epochs: int) -> None:
        with contextlib.redirect_stdout(io.StringIO()):     # fit's line per epoch
            fit(model, optimizer, nn.CrossEntropyLoss(), num_epochs, train, val, device, live=False,
                amp="amp" in parts)
    return train_for, len(train)


def fit_timings(model_name: str, variant: str, images: torch.Tensor, labels: torch.Tensor,
                batch_size: int, epochs: int, device) -> dict:
    """``fit``'s milliseconds per training step over ``epochs`` epochs (validation included), after
    one first epoch timed on its own: ``first_epoch_s`` holds what a chapter pays once per model
    (compilation, cuDNN's search) beside a later epoch (see :func:`_fit_trainer`)."""
    train_for, steps = _fit_trainer(model_name, variant, images, labels, batch_size, device)

    def seconds(num_epochs: int) -> float:
        synchronize(device)
        start = time.perf_counter()
        train_for(num_epochs)
        synchronize(device)
        return time.perf_counter() - start
    first = seconds(1)
    return dict(ms_per_step=seconds(epochs) / (epochs * steps) * 1000, first_epoch_s=round(first, 2))


HOST_CALLS = {"launches": ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx"),
              "waits": ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize"),
              "copies": ("cudaMemcpyAsync", "cudaMemcpy")}


def profile_fit(model_name: str, variant: str, images: torch.Tensor, labels: torch.Tensor,
                batch_size: int, device, rows: int = 12) -> dict:
    """One epoch of ``fit`` (after an untimed one) under ``torch.profiler``: prints the operations
    that take the computer's time, and returns, per training step, the kernels launched, the
    waits for the GPU and the copies (CUDA's calls; all 0 on a CPU) and the host's milliseconds.
    """
    train_for, steps = _fit_trainer(model_name, variant, images, labels, batch_size, device)
    train_for(1)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.device(device).type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    synchronize(device)
    start = time.perf_counter()
    with torch.profiler.profile(activities=activities) as profiler:
        train_for(1)
        synchronize(device)
    wall = time.perf_counter() - start
    events = profiler.key_averages()
    print(f"--- {model_name} {variant}: 1 エポック ({steps} ステップ + 検証) の profile")
    print(events.table(sort_by="self_cpu_time_total", row_limit=rows))
    counts = {kind: sum(e.count for e in events if e.key in names) / steps for kind, names in HOST_CALLS.items()}
    return dict(ms_per_step_profiled=round(wall / steps * 1000, 3),
                **{f"{kind}_per_step": round(n, 2) for kind, n in counts.items()})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=["CNN", "CNN_v2", "CNN_v4"])
    parser.add_argument("--variants", nargs="+", choices=ALL_VARIANTS + FIT_VARIANTS)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--through-fit", action="store_true",
                        help="fit そのものを測る (エポック単位、検証を含む。FIT_VARIANTS)")
    parser.add_argument("--fit-images", type=int, default=6000, help="--through-fit の画像数 (5:1 で訓練と検証)")
    parser.add_argument("--fit-epochs", type=int, default=2, help="--through-fit で測るエポック数")
    parser.add_argument("--profile", nargs="+", default=[], choices=FIT_VARIANTS,
                        help="--through-fit で、この測り方の 1 エポックを torch.profiler でも記録する")
    parser.add_argument("--json", help="also write the results to benchmarks/results/<JSON>.json")
    args = parser.parse_args()
    device = get_device()
    on_cuda = device.type == "cuda"
    menu = FIT_VARIANTS if args.through_fit else ALL_VARIANTS
    variants = args.variants or [v for v in menu
                                 if on_cuda or not (set(v.split("+")) & (CUDA_ONLY | {"compile"}))]
    refused = [v for v in variants if not on_cuda and set(v.split("+")) & CUDA_ONLY]
    if refused:
        parser.error(f"{', '.join(refused)} は CUDA の GPU でだけ測れます。")
    if args.profile and not args.through_fit:
        parser.error("--profile は --through-fit と一緒に使います。")
    misplaced = ", ".join(v for v in variants if v not in menu)
    if misplaced:
        parser.error(f"{misplaced} は --through-fit の測り方ではありません。" if args.through_fit
                     else f"{misplaced} は --through-fit をつけたときの測り方です。")
    meta = run_metadata(device)
    if args.through_fit:
        images, labels = real_images(args.fit_images, "cpu")
        amp_dtype = str(mixed_precision_dtype()).removeprefix("torch.") if on_cuda else None
        print(f"{device} ({meta['device_name']}), torch {meta['torch']}, fit, batch {args.batch_size}, "
              f"{args.fit_images} images, {args.fit_epochs} epochs after 1 warm-up epoch, amp = {amp_dtype}")

        def measure(model_name, variant):
            return fit_timings(model_name, variant, images, labels, args.batch_size, args.fit_epochs, device)
        settings = dict(through_fit=True, images=args.fit_images, epochs=args.fit_epochs, amp_dtype=amp_dtype)
    else:
        batches = real_batches(20, args.batch_size, device)
        print(f"{device} ({meta['device_name']}), torch {meta['torch']}, batch {args.batch_size}, "
              f"{args.steps} steps after {args.warmup} warm-up steps")

        def measure(model_name, variant):
            return dict(ms_per_step=milliseconds_per_step(model_name, variant, batches, args.warmup,
                                                          args.steps, device))
        settings = dict(warmup=args.warmup, steps=args.steps)
    baseline = variants[0]
    results = {}
    for model_name in args.models:
        timings = {v: measure(model_name, v) for v in variants}
        base_ms = timings[baseline]["ms_per_step"]
        results[model_name] = {v: dict(t, ms_per_step=round(t["ms_per_step"], 3),
                                       speedup=round(base_ms / t["ms_per_step"], 2))
                               for v, t in timings.items()}
        for v, r in results[model_name].items():
            first = f"  (1 エポック目 {r['first_epoch_s']} 秒)" if "first_epoch_s" in r else ""
            print(f"{model_name:>7} {v:<52} {r['ms_per_step']:8.3f} ms/step  x{r['speedup']}{first}")
    if args.profile:
        settings["profiles"] = {m: {v: profile_fit(m, v, images, labels, args.batch_size, device)
                                    for v in args.profile} for m in args.models}
        for m, by_variant in settings["profiles"].items():
            for v, counts in by_variant.items():
                print(f"{m:>7} {v:<52} " + ", ".join(f"{k} {n}" for k, n in counts.items()))
    if args.json:
        save_record(dict(batch_size=args.batch_size, baseline=baseline, results=results, **settings,
                         **meta), args.json)


if __name__ == "__main__":
    main()
