"""Checks of chapter 16's exercises: how DistributedSampler shares the data out, and gradient
accumulation that gives the gradient of the whole batch."""

import torch
from torch import nn
from torch.utils.data.distributed import DistributedSampler

from pythonlibs.exercises import Wrong, exercise


# ---------------------------------------------------------------------------------------------
# 16.1  the share of one process
# ---------------------------------------------------------------------------------------------

def _sampler_share(n: int, rank: int, world_size: int) -> list[int]:
    """What ``DistributedSampler(shuffle=False)`` hands process ``rank``: the reference."""
    return list(DistributedSampler(range(n), num_replicas=world_size, rank=rank, shuffle=False))


@exercise("16.1", "DistributedSampler と同じ分け方で、プロセス rank の担当を返す shard(n, rank, world_size)")
def check_shard(shard):
    cases = [(10, 0, 2), (10, 1, 2), (11, 0, 3), (11, 2, 3), (7, 3, 4), (5, 1, 4), (3, 4, 5)]
    for n, rank, world_size in cases:
        answer = shard(n, rank, world_size)
        right = _sampler_share(n, rank, world_size)
        if not isinstance(answer, (list, tuple)) or not all(isinstance(i, int) for i in answer):
            raise Wrong(f"shard({n}, {rank}, {world_size}) の結果 {answer!r} が int のリストではありません。"
                        "list(...) で、番号 (int) のリストにして返してください。")
        answer = list(answer)
        if answer == right:
            continue
        shares = [list(shard(n, r, world_size)) for r in range(world_size)]
        if len({len(s) for s in shares}) > 1:
            raise Wrong(f"n={n}, world_size={world_size} で、プロセスごとの枚数 {[len(s) for s in shares]} が"
                        "そろっていません。全員が同じ回数だけステップしないと all-reduce で待ち続けます。"
                        "足りない分は先頭の番号を繰り返して、world_size の倍数にそろえてください。")
        if sum(map(len, shares)) < n:
            raise Wrong(f"n={n}, world_size={world_size} で、どのプロセスにも渡らない番号があります。"
                        "切り捨てずに、先頭の番号を繰り返して world_size の倍数までそろえてください。")
        raise Wrong(f"shard({n}, {rank}, {world_size}) が {answer} でした (正しくは {right})。DistributedSampler は"
                    "連続した塊ではなく、rank から world_size おきに取ります: indices[rank::world_size]。")


# ---------------------------------------------------------------------------------------------
# 16.2  gradient accumulation that equals one step on the whole batch
# ---------------------------------------------------------------------------------------------

def _regression_data(seed: int):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(13, 5, generator=generator)
    targets = inputs @ torch.randn(5, 2, generator=generator) + 0.1 * torch.randn(13, 2, generator=generator)
    model = nn.Linear(5, 2)
    with torch.no_grad():
        model.weight.copy_(torch.randn(2, 5, generator=generator))
        model.bias.zero_()
    return model, inputs, targets


def _gradients(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def _part_gradients(model: nn.Module, inputs, targets, parts: int) -> list[torch.Tensor]:
    """The gradient of each part's mean loss, one part at a time (for recognising mistakes)."""
    found = []
    for x, y in zip(inputs.chunk(parts), targets.chunk(parts)):
        model.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        found.append(_gradients(model))
    return found


def _accumulation_mistake(answer, model, inputs, targets, parts) -> str:
    """The hint for a wrong accumulated gradient."""
    per_part = _part_gradients(model, inputs, targets, parts)
    sizes = [len(x) for x in inputs.chunk(parts)]
    if _close(answer, sum(per_part)):
        return ("各部分の損失 (平均) をそのまま backward したので、勾配がほぼ parts 倍になっています。"
                "部分の枚数 / 全体の枚数 を掛けてから backward してください。")
    if _close(answer, sum(per_part) / parts):
        return (f"損失を parts で割るだけでは、部分の大きさがそろわないとき ({len(inputs)} 行を {sizes} に分けるなど) "
                "平均になりません。各部分の損失に len(部分) / len(inputs) を掛けてください。")
    if _close(answer, per_part[-1] * sizes[-1] / len(inputs)):
        return "最後の部分の勾配しか残っていません。部分と部分の間で zero_grad() を呼ぶと、ためた勾配が消えます。"
    return "たまった勾配がバッチ全体の平均の勾配と違います。各部分の損失に len(部分) / len(inputs) を掛けて backward してください。"


@exercise("16.2", "バッチを parts 個に分けて backward し、バッチ全体の平均の勾配をためる accumulate(model, inputs, targets, parts)")
def check_accumulate(accumulate):
    model, inputs, targets = _regression_data(162)
    nn.functional.mse_loss(model(inputs), targets).backward()
    right = _gradients(model)
    for parts in (3, 4):           # 13 rows: the parts are not all the same size
        model.zero_grad()
        accumulate(model, inputs, targets, parts)
        if any(p.grad is None for p in model.parameters()):
            raise Wrong("勾配がありません。各部分で loss.backward() を呼んでください (optimizer.step() は要りません)。")
        answer = _gradients(model)
        if not _close(answer, right):
            raise Wrong(_accumulation_mistake(answer, model, inputs, targets, parts))
