"""Data-parallel training with ``torch.distributed`` (chapter 16): the pieces a script needs and
the launcher a notebook uses.

In a training script started by ``torchrun`` (one process per GPU, or several on a CPU)::

    rank, world_size, device = start_process_group()     # nccl on GPUs, gloo on the CPU
    ...
    print_once("...")                                     # rank 0 only
    totals = sum_over_processes([loss_sum, correct, count], device)
    exit_process_group()                                  # the last line

In a notebook::

    result = run_torchrun(SCRIPT, ["--epochs", "2"], nproc_per_node=2)
    run = read_run(folder)                                # history, seconds per epoch, ...

``torchrun`` is run as ``python -m torch.distributed.run`` with this Python, so it works where
the ``torchrun`` command is not on ``PATH`` (Windows, some Colab set-ups).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data.distributed import DistributedSampler

from pythonlibs.settings import PROJECT_ROOT

__all__ = [
    "start_process_group", "exit_process_group", "is_main_process", "print_line", "print_once",
    "sum_over_processes", "per_process_batch", "linear_scaled_lr", "sampler_orders",
    "repeated_order_fraction", "torchrun_command", "run_torchrun", "TorchrunResult",
    "HISTORY_KEYS", "write_run", "read_run", "weights_difference", "function_source",
]


# ---------------------------------------------------------------------------------------------
# Inside a process started by torchrun
# ---------------------------------------------------------------------------------------------

def start_process_group() -> tuple[int, int, torch.device]:
    """Join the process group ``torchrun`` set up; returns ``(rank, world_size, device)``.

    torchrun tells every process who it is through environment variables (``RANK``,
    ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).  On GPUs each process
    takes the GPU of its ``LOCAL_RANK`` and talks over NCCL; on the CPU over gloo.  Started
    without torchrun (``python script.py``), the script runs as one process, no group.
    """
    if "RANK" not in os.environ:
        return 0, 1, _device_for(0)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = _device_for(local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size(), device


def _device_for(local_rank: int) -> torch.device:
    """The GPU of this process when there are enough GPUs, else the CPU."""
    if torch.cuda.is_available():
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"プロセス (LOCAL_RANK={local_rank}) の数が GPU の数 ({torch.cuda.device_count()}) より"
                "多くなっています。--nproc_per_node を GPU の数以下にしてください。")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def exit_process_group() -> None:
    """Leave the process group and end this process at once (the last line of a training script).

    With PyTorch 2.13's gloo, Python's own shutdown of a process that trained with DDP now and then
    deadlocks: freeing the model frees the process group, whose destructor waits for gloo's thread
    while that thread waits for Python (seen here in about 1 of 20 runs; cf. pytorch/pytorch#190489).
    torchrun then waits for ever.  So the group is left first, output flushed, and the process
    ends without tearing down its objects; every file was written and closed before.  A plain
    single process (no torchrun, no group) just returns.
    """
    if not dist.is_initialized():
        return
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def is_main_process() -> bool:
    """True in the process of rank 0 (and in a plain single process): it logs and saves."""
    return not dist.is_initialized() or dist.get_rank() == 0


def print_line(text: str) -> None:
    """Print one line with a single write: ``print`` writes the text and the newline separately,
    so lines of several processes sharing one output would run into each other."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def print_once(text: str) -> None:
    """:func:`print_line` in rank 0 only, so that N processes do not print every line N times."""
    if is_main_process():
        print_line(text)


def sum_over_processes(values, device) -> list[float]:
    """The sums of ``values`` (numbers) over all processes, known to every process (all-reduce)."""
    totals = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    if dist.is_initialized():
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return totals.tolist()


# ---------------------------------------------------------------------------------------------
# Batches, learning rates and the sampler
# ---------------------------------------------------------------------------------------------

def per_process_batch(global_batch: int, world_size: int) -> int:
    """Samples each process takes per step so that together they make ``global_batch``."""
    if world_size < 1 or global_batch < 1:
        raise ValueError(f"global_batch ({global_batch}) と world_size ({world_size}) は 1 以上にしてください。")
    if global_batch % world_size:
        raise ValueError(
            f"全体のバッチサイズ {global_batch} はプロセス数 {world_size} で割り切れません。"
            f"各プロセスが同じ枚数を受け持つよう、{world_size} の倍数にしてください。")
    return global_batch // world_size


def linear_scaled_lr(base_lr: float, base_batch: int, global_batch: int) -> float:
    """The linear scaling rule (Goyal et al., 2017): the learning rate grows with the global batch.

    A step on a k times larger batch averages k times more gradients, so its noise is smaller and
    a k times larger step is about as safe; in practice it needs a few epochs of warm-up, and it
    stops working for very large batches.
    """
    if base_batch < 1 or global_batch < 1:
        raise ValueError(f"バッチサイズは 1 以上にしてください (base_batch={base_batch}, global_batch={global_batch})")
    return base_lr * global_batch / base_batch


def sampler_orders(n_samples: int, world_size: int, epochs: int, set_epoch: bool = True,
                   seed: int = 0) -> np.ndarray:
    """The indices each process gets from ``DistributedSampler(shuffle=True)``, epoch by epoch.

    Returns an array ``[epoch, rank, position]``.  With ``set_epoch=False`` the loop forgets to call
    ``sampler.set_epoch(epoch)``, as a script easily does.
    """
    dataset = range(n_samples)
    orders = []
    for epoch in range(epochs):
        per_rank = []
        for rank in range(world_size):
            sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True,
                                         seed=seed)
            if set_epoch:
                sampler.set_epoch(epoch)
            per_rank.append(list(sampler))
        orders.append(per_rank)
    return np.array(orders)


def repeated_order_fraction(orders: np.ndarray) -> float:
    """Share of positions where an epoch hands a process the same sample as the epoch before."""
    orders = np.asarray(orders)
    if orders.ndim != 3 or len(orders) < 2:
        raise ValueError("orders は sampler_orders の結果 ([エポック, ランク, 位置]、2 エポック以上) を渡してください。")
    return float((orders[1:] == orders[:-1]).mean())


# ---------------------------------------------------------------------------------------------
# Launching torchrun from a notebook
# ---------------------------------------------------------------------------------------------

def torchrun_command(script, args=(), nproc_per_node: int = 2, max_restarts: int = 0,
                     nnodes: int = 1, rdzv_endpoint: str | None = None,
                     rdzv_id: str = "dlnb") -> list[str]:
    """The command line of ``torchrun`` for ``script`` (as a list for ``subprocess``).

    One machine (``nnodes=1``): ``--standalone`` lets torchrun pick a free port itself.  Several
    machines: give the same ``rdzv_endpoint`` (``host:port`` of one of them) and ``rdzv_id`` on
    every machine; they meet there, and torchrun numbers the processes of all machines.
    """
    if nproc_per_node < 1 or nnodes < 1 or max_restarts < 0:
        raise ValueError(f"nproc_per_node ({nproc_per_node}) と nnodes ({nnodes}) は 1 以上、"
                         f"max_restarts ({max_restarts}) は 0 以上にしてください。")
    command = [sys.executable, "-m", "torch.distributed.run"]
    if nnodes == 1 and rdzv_endpoint is None:
        command.append("--standalone")
    else:
        if not rdzv_endpoint:
            raise ValueError("複数のマシン (nnodes > 1) では rdzv_endpoint='ホスト名:ポート' が要ります。")
        command += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}",
                    f"--rdzv-id={rdzv_id}"]
    command += [f"--nproc-per-node={nproc_per_node}", f"--max-restarts={max_restarts}",
                str(script), *map(str, args)]
    return command


@dataclass
class TorchrunResult:
    """What one ``torchrun`` launch did: its exit code, everything it printed, and its duration."""
    returncode: int
    output: str
    seconds: float


def _child_environment(nproc_per_node: int, threads_per_process: int | None, use_gpus: bool) -> dict:
    """This process's environment, plus what the launched processes need.

    ``PYTHONPATH`` gets the project root so that the script finds ``pythonlibs`` wherever the
    notebook runs (Colab adds it to ``sys.path`` only inside the notebook).  CPU threads are
    shared out between the processes: more threads than cores make everything crawl.
    ``use_gpus=False`` hides the GPUs, so that the processes train on the CPU with gloo.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env["DLNB_QUICK_ANNOUNCED"] = "1"   # this notebook has said it already: one line, not one per process
    # After a restart (--max-restarts), the new processes would otherwise find the previous attempt's
    # addresses in torchrun's shared store and fail to connect ("Gloo connectFullMesh failed ...
    # Connection refused"; seen with PyTorch 2.13, cf. pytorch/pytorch#167288).  With this, rank 0
    # starts a fresh store for every attempt.
    env.setdefault("TORCH_DISABLE_SHARE_RDZV_TCP_STORE", "1")
    if threads_per_process is None:
        threads_per_process = max(1, (os.cpu_count() or 1) // nproc_per_node)
    env["OMP_NUM_THREADS"] = str(threads_per_process)
    if not use_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def run_torchrun(script, args=(), nproc_per_node: int = 2, max_restarts: int = 0,
                 threads_per_process: int | None = None, use_gpus: bool | None = None,
                 echo: bool = True, timeout: float | None = None) -> TorchrunResult:
    """Run ``script`` under ``torchrun`` with ``nproc_per_node`` processes on this machine.

    The output of all processes is shown as it comes (``echo``) and returned.  A failed run does
    not raise: its exit code is in the result, as a shell would report it, so a notebook can
    show what torchrun does when a process dies.

    ``use_gpus``: one GPU per process (NCCL); the default (None) does so when there are at least
    ``nproc_per_node`` GPUs, and otherwise trains on the CPU (gloo).  ``timeout`` (seconds):
    stop torchrun and all its processes if they run longer, and raise ``TimeoutError``.
    """
    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"スクリプト {script} がありません。パスを確認してください。")
    command = torchrun_command(script, args, nproc_per_node, max_restarts)
    if use_gpus is None:
        use_gpus = torch.cuda.device_count() >= nproc_per_node
    start = time.perf_counter()
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env=_child_environment(nproc_per_node, threads_per_process, use_gpus),
                          cwd=PROJECT_ROOT) as process:
        timed_out = threading.Event()
        watchdog = threading.Timer(timeout, lambda: (timed_out.set(), _stop_group(process))) if timeout else None
        try:
            if watchdog:
                watchdog.start()
            for line in process.stdout:
                lines.append(line)
                if echo:
                    print(line, end="", flush=True)
            returncode = process.wait()
        except BaseException:      # Jupyter's stop button, Ctrl-C: leave no training process behind
            _stop_group(process)
            raise
        finally:
            if watchdog:
                watchdog.cancel()
    if timed_out.is_set():
        raise TimeoutError(f"torchrun が {timeout:.0f} 秒で終わらなかったので止めました。最後の出力:\n"
                           + "".join(lines[-20:]))
    seconds = time.perf_counter() - start
    return TorchrunResult(returncode, "".join(lines), seconds)


def _stop_group(process: subprocess.Popen) -> None:
    """Stop torchrun and every process it started.

    torchrun starts each worker in a session of its own, so they are found first (psutil, which
    Jupyter's kernel already needs); torchrun is asked to stop them (SIGTERM), and whatever is
    left is killed.  A worker left running would keep the output pipe open for ever.
    """
    try:
        import psutil
        workers = psutil.Process(process.pid).children(recursive=True)
    except Exception:   # no psutil, or torchrun already gone: torchrun's own clean-up must do
        workers = []
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    for worker in workers:
        try:
            worker.kill()
        except Exception:   # it ended meanwhile
            pass


# ---------------------------------------------------------------------------------------------
# The record a training script leaves
# ---------------------------------------------------------------------------------------------

RUN_FILE = "run.json"
HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")


def write_run(folder, info: dict, epochs: list[dict]) -> Path:
    """Write ``run.json`` (settings and one entry per finished epoch) under ``folder``, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RUN_FILE
    tmp = folder / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps({"info": info, "epochs": epochs}, ensure_ascii=False, indent=1),
                   encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_run(folder) -> dict:
    """The record of a training run: ``info``, ``epochs`` and ``history`` (the book's 5 columns).

    ``history`` has rows ``[epoch, train_loss, train_acc, val_loss, val_acc]`` for
    ``evaluate_history``; ``seconds`` and ``attempts`` hold each epoch's training time and the
    torchrun attempt (0 = first start, 1 = after the first restart, ...) that trained it.
    """
    path = Path(folder) / RUN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} がありません。学習スクリプトが 1 エポックも終えていないか、"
                                "フォルダが違います。スクリプトの出力を確認してください。")
    record = json.loads(path.read_text(encoding="utf-8"))
    epochs = record["epochs"]
    history = np.array([[e[k] for k in HISTORY_KEYS] for e in epochs], dtype=float).reshape(-1, 5)
    return {"info": record["info"], "epochs": epochs, "history": history,
            "seconds": np.array([e["seconds"] for e in epochs], dtype=float),
            "attempts": [e["attempt"] for e in epochs]}


def weights_difference(path_a, path_b) -> float:
    """Largest absolute difference between the tensors of two saved ``state_dict`` files."""
    a = torch.load(path_a, map_location="cpu", weights_only=True)
    b = torch.load(path_b, map_location="cpu", weights_only=True)
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise ValueError(f"{path_a} と {path_b} は同じモデルの重みではありません (名前か形が違います)。")
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def function_source(path, name: str, docstring: bool = True) -> str:
    """The source of the function ``name`` in the Python file ``path`` (to show a script's part).

    ``docstring=False`` leaves the docstring out (the library's are in English).
    """
    text = Path(path).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            lines = text.splitlines()[node.lineno - 1:node.end_lineno]
            first = node.body[0]
            if not docstring and isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                start, end = first.lineno - node.lineno, first.end_lineno - node.lineno + 1
                lines = lines[:start] + lines[end:]
            return "\n".join(lines)
    raise ValueError(f"{path} に {name} という関数はありません。")
