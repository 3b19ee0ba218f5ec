"""第 16 章の学習スクリプト: 第 10 章の CNN_v2 で CIFAR-10 をデータ並列 (DDP) で学習します。

torchrun が同じスクリプトを N 個のプロセスで起動し、各プロセスは全体のバッチの 1/N を受け持ちます。
GPU があれば 1 プロセス 1 GPU (NCCL)、なければ CPU (gloo) で、スクリプトは同じです。

    # 1 台のマシンで 2 プロセス (CPU でも GPU でも)
    torchrun --standalone --nproc-per-node=2 notebooks/ch16_ddp_train.py --epochs 10 --out runs/ddp2
    # 2 台のマシン (各マシンで同じコマンド、host0 はそのうち 1 台のホスト名)
    torchrun --nnodes=2 --nproc-per-node=8 --rdzv-backend=c10d --rdzv-endpoint=host0:29500 \\
        --rdzv-id=cifar notebooks/ch16_ddp_train.py --epochs 10 --out runs/ddp16

落ちたプロセスを torchrun に起動し直させる (--max-restarts=1 など) ときは、環境変数
TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 を付けて起動します (付けないと、PyTorch 2.13 では再起動したプロセスが
前の試行のアドレスにつなごうとして失敗しました)。ノートブックの run_torchrun は自動で付けます。

--out のフォルダに rank 0 だけが run.json (エポックごとの記録) と checkpoint.pth を書きます。
checkpoint.pth があれば、そこから続きを学習します (プロセスが落ちて torchrun が再起動したときも)。
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import time
from contextlib import nullcontext, redirect_stdout
from pathlib import Path

import torch
from torch import nn, optim
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Subset, TensorDataset
from torch.utils.data.distributed import DistributedSampler
from torchvision import transforms

from pythonlibs.data import per_class_subset
from pythonlibs.datasets import load_cifar10
from pythonlibs.distributed import (HISTORY_KEYS, exit_process_group, per_process_batch, print_line,
                                    print_once, read_run, start_process_group, sum_over_processes,
                                    write_run)
from pythonlibs.runtime import torch_seed
from pythonlibs.settings import epochs as epochs_for_mode
from pythonlibs.training import load_checkpoint, save_checkpoint


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="記録とチェックポイントを書くフォルダ")
    parser.add_argument("--epochs", type=int, default=10, help="エポック数 (クイックモードでは最大 2)")
    parser.add_argument("--global-batch", type=int, default=100, help="全プロセス合わせた 1 ステップの枚数")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                        help="adam (第 10 章の Adam の実験) か sgd (momentum 0.9)")
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--per-class", type=int, default=None, help="訓練データを各クラスこの枚数に絞る")
    parser.add_argument("--steps", type=int, default=None, help="1 エポックのステップ数の上限")
    parser.add_argument("--accum-steps", type=int, default=1, help="1 ステップを何回の backward に分けるか")
    parser.add_argument("--batchnorm", action="store_true", help="畳み込みの後に BatchNorm を入れる")
    parser.add_argument("--sync-bn", action="store_true", help="BatchNorm を SyncBatchNorm にする (GPU のみ)")
    parser.add_argument("--no-set-epoch", action="store_true", help="sampler.set_epoch を呼ばない (悪い例)")
    parser.add_argument("--save-weights", default=None, help="学習後の重み (state_dict) の保存先")
    parser.add_argument("--crash-rank", type=int, default=None, help="このランクを途中で強制終了する (障害の実験)")
    parser.add_argument("--crash-epoch", type=int, default=1, help="強制終了するエポック")
    return parser.parse_args()


def cnn_v2(num_classes: int = 10, batchnorm: bool = False) -> nn.Sequential:
    """第 10 章の CNN_v2 と同じ層 (畳み込み 6 層 + プーリング 3 回 + 全結合 2 層)。"""
    layers, channels = [], 3
    for width in (32, 32, 64, 64, 128, 128):
        layers += [nn.Conv2d(channels, width, 3, padding=1)]
        layers += [nn.BatchNorm2d(width)] if batchnorm else []
        layers += [nn.ReLU(inplace=True)]
        layers += [nn.MaxPool2d(2)] if width == channels else []
        channels = width
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * 4 * 128, 128), nn.ReLU(inplace=True),
                         nn.Linear(128, num_classes))


def load_data(per_class: int | None):
    """CIFAR-10 の訓練・検証データ (テンソル、[-1, 1])。per_class で各クラスの枚数を絞れます。"""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    train_set = load_cifar10(train=True, transform=transform)
    test_set = load_cifar10(train=False, transform=transform)
    if per_class:
        train_set = per_class_subset(train_set, per_class)
        test_set = per_class_subset(test_set, max(1, per_class // 2))
    return _as_tensors(train_set), _as_tensors(test_set)


def _as_tensors(dataset):
    """変換済みのテンソルがあれば TensorDataset (1 枚ずつの変換なし)、なければそのまま。"""
    return TensorDataset(*dataset.tensors) if dataset.tensors is not None else dataset


def count_allreduce_calls(model: DistributedDataParallel, counter: dict) -> None:
    """DDP が勾配を平均する (all-reduce する) たびに counter["allreduce"] を 1 増やします。"""
    def hook(state, bucket):
        counter["allreduce"] += 1
        return default_hooks.allreduce_hook(None, bucket)
    model.register_comm_hook(None, hook)


def train_one_epoch(model, loader, optimizer, criterion, device, accum_steps=1, max_steps=None,
                    crash=None):
    """1 エポック学習し、このプロセスの (損失の合計, 正解数, 枚数) を返します。

    accum_steps > 1 のときは 1 ステップのバッチを分けて backward し、最後の 1 回の前までは
    no_sync() で勾配の平均 (プロセス間の通信) を止めて、勾配をためるだけにします。
    """
    model.train()
    no_sync = getattr(model, "no_sync", nullcontext)   # DDP で包んでいないとき (1 プロセス) は何もしない
    loss_sum = correct = count = 0.0
    for step, (inputs, labels) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        parts = list(zip(inputs.chunk(accum_steps), labels.chunk(accum_steps)))
        for i, (x, y) in enumerate(parts):
            with no_sync() if i < len(parts) - 1 else nullcontext():
                outputs = model(x)
                loss = criterion(outputs, y)
                (loss * len(y) / len(labels)).backward()   # 分けても、バッチ全体の平均の勾配になる
            loss_sum += loss.item() * len(y)
            correct += (outputs.argmax(dim=1) == y).sum().item()
            count += len(y)
        optimizer.step()
        if crash is not None:
            crash()
    return loss_sum, correct, count


def evaluate_shard(model, dataset, criterion, device, rank, world_size, batch_size):
    """検証データを rank, rank+N, rank+2N, ... の分担で評価し、(損失の合計, 正解数, 枚数) を返します。

    DistributedSampler は枚数をそろえるために同じ画像を 2 回使うことがあるので、評価には使いません。
    """
    shard = Subset(dataset, range(rank, len(dataset), world_size))
    model.eval()
    loss_sum = correct = 0.0
    with torch.no_grad():
        for inputs, labels in DataLoader(shard, batch_size=batch_size):
            inputs, labels = inputs.to(device), labels.to(device)
            outputs = model(inputs)
            loss_sum += criterion(outputs, labels).item() * len(labels)
            correct += (outputs.argmax(dim=1) == labels).sum().item()
    return loss_sum, correct, len(shard)


def crash_once(rank: int, args, attempt: int, epoch: int):
    """障害の実験: 指定のランクを、指定のエポックの最初のステップの後で SIGKILL で落とす (最初の試行だけ)。"""
    if args.crash_rank != rank or args.crash_epoch != epoch or attempt > 0:
        return None

    def crash():
        print_line(f"💥 rank {rank}: エポック {epoch} の途中で強制終了します (SIGKILL)")
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
    return crash


def resume(folder: Path, net, optimizer):
    """checkpoint.pth があれば重みと最適化の状態を読み込み、終わったエポックの記録を返します。"""
    path = folder / "checkpoint.pth"
    if not path.is_file():
        return []
    history = load_checkpoint(path, net, optimizer)
    done = read_run(folder)["epochs"][:len(history)]
    print_once(f"🔁 {path} から再開します: エポック {len(done)} まで終わっています。")
    return done


def build_model(args, device):
    """CNN_v2 (--batchnorm なら BatchNorm 入り、--sync-bn なら GPU では SyncBatchNorm)。"""
    net = cnn_v2(batchnorm=args.batchnorm).to(device)
    if args.sync_bn and device.type == "cuda":
        net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    elif args.sync_bn:
        print_once("⚠️ SyncBatchNorm は GPU 専用です。CPU ではプロセスごとの BatchNorm のまま学習します。")
    return net


def make_optimizer(args, net):
    if args.optimizer == "adam":
        return optim.Adam(net.parameters(), lr=args.lr)
    return optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)


def mean(total: float, count: float) -> float:
    """total / count; NaN when nothing was counted (--steps 0: no training step)."""
    return total / count if count else float("nan")


def train_and_record(epoch, args, model, loader, test_set, optimizer, device, rank, world_size, crash):
    """1 エポック学習して評価し、全プロセス合計から出した 1 エポック分の記録 (dict) を返します。"""
    criterion = nn.CrossEntropyLoss()
    start = time.perf_counter()
    sums = train_one_epoch(model, loader, optimizer, criterion, device, args.accum_steps, args.steps, crash)
    train_loss, train_correct, train_count = sum_over_processes(sums, device)
    seconds = time.perf_counter() - start
    val_loss, val_correct, val_count = sum_over_processes(
        evaluate_shard(model, test_set, criterion, device, rank, world_size, loader.batch_size), device)
    return {"epoch": epoch, "train_loss": mean(train_loss, train_count), "train_acc": mean(train_correct, train_count),
            "val_loss": val_loss / val_count, "val_acc": val_correct / val_count, "seconds": seconds}


def save_progress(folder: Path, info: dict, done: list, net, optimizer):
    """rank 0 だけが呼びます: 記録 (run.json) を書いてから、チェックポイントを書きます。"""
    write_run(folder, info, done)
    history = [[d[k] for k in HISTORY_KEYS] for d in done]
    save_checkpoint(folder / "checkpoint.pth", net, optimizer, history)


def main():
    args = parse_arguments()
    rank, world_size, device = start_process_group()
    parallel = torch.distributed.is_initialized()    # torchrun で起動したとき (1 プロセスでも)
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))   # torchrun が再起動した回数
    folder = Path(args.out)
    batch = per_process_batch(args.global_batch, world_size)
    torch_seed(args.seed)                 # 全プロセスで同じ初期値 (DDP も rank 0 の重みを配ります)
    with redirect_stdout(io.StringIO()) if rank else nullcontext():   # 読み込みの報告は rank 0 だけ
        train_set, test_set = load_data(args.per_class)
    sampler = DistributedSampler(train_set, num_replicas=world_size, rank=rank, shuffle=True, seed=args.seed)
    loader = DataLoader(train_set, batch_size=batch, sampler=sampler)
    print_line(f"[rank {rank}/{world_size}] {device}、CPU スレッド {torch.get_num_threads()}、"
        f"担当 {len(sampler)} 枚、1 ステップ {batch} 枚")

    net = build_model(args, device)
    optimizer = make_optimizer(args, net)
    done = resume(folder, net, optimizer)
    model = DistributedDataParallel(net) if parallel else net
    counter = {"allreduce": 0}
    if parallel:
        count_allreduce_calls(model, counter)
    info = {"world_size": world_size, "backend": torch.distributed.get_backend() if parallel else "なし",
            "device": str(device), "global_batch": args.global_batch, "per_process_batch": batch,
            "optimizer": args.optimizer, "lr": args.lr, "threads": torch.get_num_threads(),
            "train_samples": len(train_set), "set_epoch": not args.no_set_epoch}
    print_once(f"全体のバッチ {args.global_batch} = {world_size} プロセス × {batch} 枚、{args.optimizer} "
               f"学習率 {args.lr}、訓練 {len(train_set):,} 枚、検証 {len(test_set):,} 枚")

    num_epochs = epochs_for_mode(args.epochs)
    for epoch in range(len(done) + 1, num_epochs + 1):
        if not args.no_set_epoch:
            sampler.set_epoch(epoch)      # エポックごとに違う順番 (全プロセスで同じ乱数の種から)
        counter["allreduce"] = 0
        record = train_and_record(epoch, args, model, loader, test_set, optimizer, device, rank, world_size,
                                  crash_once(rank, args, attempt, epoch))
        done.append({**record, "attempt": attempt, "allreduce_calls": counter["allreduce"]})
        print_once(f"Epoch [{epoch}/{num_epochs}], loss: {record['train_loss']:.5f} acc: {record['train_acc']:.5f} "
                   f"val_loss: {record['val_loss']:.5f}, val_acc: {record['val_acc']:.5f} ({record['seconds']:.1f} 秒)")
        if rank == 0:                     # 書くのは rank 0 だけ (全員が書くと壊れたファイルになりえます)
            save_progress(folder, info, done, net, optimizer)
        if parallel:
            torch.distributed.barrier()   # 全員、rank 0 が保存し終えるのを待つ
    if rank == 0 and args.save_weights:
        torch.save(net.state_dict(), args.save_weights)
    exit_process_group()                  # グループを抜けて、このプロセスを終える (理由は関数の説明に)


if __name__ == "__main__":
    main()
