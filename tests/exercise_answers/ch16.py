"""Wrong answers to chapter 16's exercises, each with the hint its check must give."""

import torch
from torch import nn


# 16.1 shard(n, rank, world_size)

def shard_contiguous(n, rank, world_size):
    size = -(-n // world_size)
    indices = list(range(n)) + list(range(size * world_size - n))
    return indices[rank * size:(rank + 1) * size]


def shard_without_padding(n, rank, world_size):
    return list(range(n))[rank::world_size]


def shard_dropping_the_rest(n, rank, world_size):
    return list(range(n - n % world_size))[rank::world_size]


def shard_as_tensor(n, rank, world_size):
    size = -(-n // world_size)
    return torch.arange(size * world_size) % n


# 16.2 accumulate(model, inputs, targets, parts)

def accumulate_without_scaling(model, inputs, targets, parts):
    for x, y in zip(inputs.chunk(parts), targets.chunk(parts)):
        nn.functional.mse_loss(model(x), y).backward()


def accumulate_divided_by_parts(model, inputs, targets, parts):
    for x, y in zip(inputs.chunk(parts), targets.chunk(parts)):
        (nn.functional.mse_loss(model(x), y) / parts).backward()


def accumulate_with_zero_grad_between(model, inputs, targets, parts):
    for x, y in zip(inputs.chunk(parts), targets.chunk(parts)):
        model.zero_grad()
        (nn.functional.mse_loss(model(x), y) * len(x) / len(inputs)).backward()


def accumulate_nothing(model, inputs, targets, parts):
    pass


WRONG = {
    "16.1": [(shard_contiguous, "world_size おき"), (shard_without_padding, "そろっていません"),
             (shard_dropping_the_rest, "どのプロセスにも渡らない"), (shard_as_tensor, "int のリスト")],
    "16.2": [(accumulate_without_scaling, "ほぼ parts 倍"), (accumulate_divided_by_parts, "len(部分) / len(inputs)"),
             (accumulate_with_zero_grad_between, "zero_grad()"), (accumulate_nothing, "勾配がありません")],
}
