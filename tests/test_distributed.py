"""Chapter 16's data-parallel pieces: the training script under torchrun (2 CPU processes, gloo),
the sampler, the launcher, and what happens when a process dies.

The script trains chapter 10's CNN on a small real CIFAR-10 subset (20 images per class), so
these tests need CIFAR-10 in ``data/`` or in the mirror (CI sets ``DLNB_DATA_MIRROR``).
"""

import json
import sys

import numpy as np
import psutil
import pytest
import torch

from pythonlibs.distributed import (function_source, linear_scaled_lr, per_process_batch, read_run,
                                    repeated_order_fraction, run_torchrun, sampler_orders,
                                    torchrun_command, weights_difference, write_run)
from pythonlibs.settings import PROJECT_ROOT, data_dir, mirror_dir

SCRIPT = PROJECT_ROOT / "notebooks" / "ch16_ddp_train.py"
MIRROR = mirror_dir()
needs_cifar10 = pytest.mark.skipif(
    (MIRROR is None or not MIRROR.is_dir()) and not (data_dir() / "cifar-10-batches-py").is_dir(),
    reason="CIFAR-10 is neither in data/ nor in DLNB_DATA_MIRROR (CI sets the mirror)")

SMALL = ["--per-class", 20, "--optimizer", "sgd", "--lr", 0.05]


def launch(out, nproc, *args, max_restarts=0):
    """The training script under torchrun on the CPU, its output kept for the assertion messages."""
    return run_torchrun(SCRIPT, ["--out", out, *SMALL, *args], nproc_per_node=nproc,
                        max_restarts=max_restarts, use_gpus=False, echo=False, timeout=300)


def one_step(folder, nproc, *args):
    """Weights after one SGD step (``--steps 0``: the initial weights)."""
    weights = folder / "weights.pt"
    result = launch(folder, nproc, "--epochs", 1, "--steps", 1, "--save-weights", weights, *args)
    assert result.returncode == 0, result.output[-3000:]
    return weights


@pytest.fixture(scope="module")
def steps(tmp_path_factory):
    """Weights of the initial model and after one step on 1 and on 2 processes, same global batch."""
    root = tmp_path_factory.mktemp("ddp_steps")
    return {"start": one_step(root / "start", 1, "--steps", 0), "one": one_step(root / "one", 1),
            "two": one_step(root / "two", 2), "root": root}


@needs_cifar10
def test_two_processes_take_the_same_step_as_one_process(steps):
    moved = weights_difference(steps["start"], steps["one"])
    gap = weights_difference(steps["one"], steps["two"])
    assert moved > 1e-3, f"one step hardly moved the weights ({moved:.2e}): the comparison would prove nothing"
    assert gap < 1e-5, f"2 processes ended {gap:.2e} away from 1 process after the same step"


@needs_cifar10
def test_accumulating_with_no_sync_gives_the_same_step_with_one_allreduce(steps):
    accumulated = one_step(steps["root"] / "accum", 2, "--accum-steps", 2)
    assert weights_difference(steps["two"], accumulated) < 1e-5
    calls = read_run(steps["root"] / "accum")["epochs"][0]["allreduce_calls"]
    assert calls == 1, f"2 backward passes, of which one under no_sync, made {calls} all-reduces"


@needs_cifar10
def test_a_killed_process_is_restarted_and_no_finished_epoch_is_lost(tmp_path):
    crash = ["--epochs", 2, "--crash-rank", 1, "--crash-epoch", 2]
    failed = launch(tmp_path, 2, *crash)
    assert failed.returncode != 0, "torchrun reported success although rank 1 was killed"
    first = read_run(tmp_path)
    assert [e["epoch"] for e in first["epochs"]] == [1], first["epochs"]
    resumed = launch(tmp_path, 2, *crash, max_restarts=1)
    assert resumed.returncode == 0, resumed.output[-3000:]
    run = read_run(tmp_path)
    assert [e["epoch"] for e in run["epochs"]] == [1, 2]
    assert run["attempts"] == [0, 1], "epoch 2 should have been trained again after torchrun's restart"
    assert run["epochs"][0] == first["epochs"][0], "the finished epoch 1 was changed by the restarts"
    assert run["history"].shape == (2, 5)


@needs_cifar10
def test_a_global_batch_that_does_not_divide_stops_with_a_japanese_message(tmp_path):
    result = launch(tmp_path, 2, "--epochs", 1, "--global-batch", 101)
    assert result.returncode != 0
    assert "割り切れません" in result.output


@needs_cifar10
def test_a_damaged_checkpoint_stops_the_run_and_is_kept(tmp_path):
    write_run(tmp_path, {}, [])
    damaged = tmp_path / "checkpoint.pth"
    damaged.write_bytes(b"not a checkpoint")
    result = launch(tmp_path, 2, "--epochs", 1)
    assert result.returncode != 0
    assert "読み込めません" in result.output
    assert damaged.read_bytes() == b"not a checkpoint", "the run overwrote the file it could not read"


def test_set_epoch_reshuffles_and_forgetting_it_repeats_every_epoch():
    good = sampler_orders(1000, world_size=2, epochs=3, set_epoch=True)
    bad = sampler_orders(1000, world_size=2, epochs=3, set_epoch=False)
    assert good.shape == (3, 2, 500)
    assert repeated_order_fraction(bad) == 1.0
    assert repeated_order_fraction(good) < 0.05
    for epoch in good:
        assert sorted(np.concatenate(epoch).tolist()) == list(range(1000)), "shards overlap or miss samples"


def test_an_uneven_dataset_is_padded_so_that_every_process_steps_equally():
    orders = sampler_orders(1001, world_size=2, epochs=2)
    assert orders.shape == (2, 2, 501)
    assert len(np.unique(orders[0])) == 1001


def test_repeated_order_fraction_needs_two_epochs():
    with pytest.raises(ValueError, match="2 エポック以上"):
        repeated_order_fraction(sampler_orders(10, 2, 1))


def test_per_process_batch_and_the_linear_scaling_rule():
    assert per_process_batch(100, 2) == 50
    with pytest.raises(ValueError, match="割り切れません"):
        per_process_batch(100, 3)
    with pytest.raises(ValueError, match="1 以上"):
        per_process_batch(100, 0)
    assert linear_scaled_lr(0.1, 256, 1024) == pytest.approx(0.4)


def test_torchrun_command_for_one_machine_and_for_several():
    one = torchrun_command("train.py", ["--epochs", 3], nproc_per_node=4, max_restarts=2)
    assert one[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in one and "--nproc-per-node=4" in one and "--max-restarts=2" in one
    assert one[-3:] == ["train.py", "--epochs", "3"]
    many = torchrun_command("train.py", nproc_per_node=8, nnodes=2, rdzv_endpoint="host0:29500")
    assert "--standalone" not in many
    assert "--nnodes=2" in many and "--rdzv-endpoint=host0:29500" in many
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        torchrun_command("train.py", nnodes=2)


def test_run_torchrun_names_a_missing_script(tmp_path):
    with pytest.raises(FileNotFoundError, match="ありません"):
        run_torchrun(tmp_path / "missing.py")


def test_read_run_explains_a_missing_record(tmp_path):
    with pytest.raises(FileNotFoundError, match="1 エポックも終えていない"):
        read_run(tmp_path)


def test_read_run_returns_the_books_history_columns(tmp_path):
    epoch = {"epoch": 1, "train_loss": 2.0, "train_acc": 0.2, "val_loss": 1.9, "val_acc": 0.25,
             "seconds": 3.0, "attempt": 0}
    write_run(tmp_path, {"world_size": 2}, [epoch])
    run = read_run(tmp_path)
    assert run["history"].tolist() == [[1, 2.0, 0.2, 1.9, 0.25]]
    assert run["info"] == {"world_size": 2} and run["attempts"] == [0]
    assert json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["epochs"] == [epoch]


def test_weights_difference_refuses_weights_of_different_models(tmp_path):
    torch.save({"w": torch.zeros(2)}, tmp_path / "a.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "b.pt")
    torch.save({"v": torch.zeros(2)}, tmp_path / "c.pt")
    assert weights_difference(tmp_path / "a.pt", tmp_path / "b.pt") == 1.0
    with pytest.raises(ValueError, match="同じモデルの重みではありません"):
        weights_difference(tmp_path / "a.pt", tmp_path / "c.pt")


def test_function_source_shows_a_function_of_the_script():
    source = function_source(SCRIPT, "train_one_epoch")
    assert source.startswith("def train_one_epoch(") and "no_sync" in source
    bare = function_source(SCRIPT, "train_one_epoch", docstring=False)
    assert "no_sync" in bare and "1 エポック学習し" not in bare and bare.startswith("def train_one_epoch(")
    with pytest.raises(ValueError, match="という関数はありません"):
        function_source(SCRIPT, "missing_function")


def test_a_run_that_does_not_end_is_stopped_with_everything_it_started(tmp_path):
    """The timeout stops torchrun and its processes (a hung worker must not hang the notebook)."""
    script = tmp_path / "sleeper.py"
    script.write_text("import time\nprint('started', flush=True)\ntime.sleep(600)\n", encoding="utf-8")
    with pytest.raises(TimeoutError, match="秒で終わらなかった"):
        run_torchrun(script, nproc_per_node=2, use_gpus=False, echo=False, timeout=15)
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if str(script) in " ".join(p.info["cmdline"] or [])]
    assert not left, f"processes of the stopped run are still there: {left}"
