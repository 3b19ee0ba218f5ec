"""Pretrained torchvision models through the ``weights=`` API, and what to do offline."""

from __future__ import annotations

import pickle
import urllib.error
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision import models

from pythonlibs.settings import is_quick

__all__ = ["load_pretrained"]

# No network, a damaged or half-downloaded cached file, a full disk ...
WEIGHT_ERRORS = (OSError, RuntimeError, EOFError, pickle.UnpicklingError)


def _cached_weights_file(weights) -> Path:
    """Where ``torch.hub`` keeps the downloaded file of ``weights``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def _weights_problem(name: str, weights, error: Exception) -> str:
    """What went wrong with the weights, in words, and what to do about it."""
    cached = _cached_weights_file(weights)
    if cached.is_file() and not isinstance(error, urllib.error.URLError):
        return (f"{name} の学習済み重みのファイル {cached} を読み込めません ({type(error).__name__})。"
                "ダウンロードが途中で止まったなどで壊れています。このファイルを削除して再実行してください。")
    return (f"{name} の学習済み重み ({weights}) をダウンロードできませんでした ({type(error).__name__}: "
            f"{error})。インターネットにつないで再実行するか、重みのファイルを {cached} に置いてください "
            "(torch.hub のキャッシュ、環境変数 TORCH_HOME で場所を変えられます)。")


def load_pretrained(name: str, weights: str = "DEFAULT") -> nn.Module:
    """A torchvision model with ImageNet weights, e.g. ``load_pretrained("resnet18")``.

    Uses the ``weights=`` API (the older boolean ``pretrained`` argument is deprecated).  The
    returned model says whether the weights were really loaded: ``net.pretrained_weights_loaded``,
    and one line (or, without the weights, a loud banner) says so.  When they cannot be had, quick mode falls back to random initialisation with a loud notice,
    so the rest of the notebook still runs; full mode stops with a message that says what to do.
    """
    try:
        weights_enum = models.get_model_weights(name)[weights]
    except (ValueError, KeyError):
        raise ValueError(f"torchvision にモデル {name!r} (重み {weights!r}) はありません。"
                         "例: load_pretrained('resnet18'), load_pretrained('vgg19_bn')") from None
    try:
        net = models.get_model(name, weights=weights_enum)
        net.pretrained_weights_loaded = True
        print(f"{name}: 学習済みの重み {weights_enum} を読み込みました。")
        return net
    except WEIGHT_ERRORS as error:
        problem = _weights_problem(name, weights_enum, error)
        if not is_quick():
            raise RuntimeError(problem) from None
    banner = "!" * 78
    print(f"{banner}\n!! 注意: {problem}\n!! クイックモードなので【ランダム初期化】のモデルで続けます。"
          f"\n!! 以下の結果は「学習済みモデル」の結果ではありません。\n{banner}")
    net = models.get_model(name, weights=None)
    net.pretrained_weights_loaded = False
    return net
