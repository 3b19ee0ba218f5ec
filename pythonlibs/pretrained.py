"""Pretrained torchvision models through the ``weights=`` API, and what to do offline."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import urllib.error
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision import models

from pythonlibs.settings import is_quick, mirror_dir

__all__ = ["load_pretrained", "MIRROR_WEIGHTS", "weights_file_name", "download_weights", "describe_weights"]

# The pretrained models the course's notebooks load (a classroom mirror holds their weights).
MIRROR_WEIGHTS = ("resnet18", "vgg19_bn")

# No network, a damaged or half-downloaded cached file, a full disk ...
WEIGHT_ERRORS = (OSError, RuntimeError, EOFError, pickle.UnpicklingError)


def _cached_weights_file(weights) -> Path:
    """Where ``torch.hub`` keeps the downloaded file of ``weights``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def weights_file_name(name: str, weights: str = "DEFAULT") -> str:
    """File name of a model's weights, as torchvision downloads it (e.g. resnet18-f37072fd.pth)."""
    weights_enum = models.get_model_weights(name)[weights]
    return Path(urlparse(weights_enum.url).path).name


def _copy_from_mirror(weights) -> None:
    """Put the weights file of a classroom mirror (``<DLNB_DATA_MIRROR>/weights/``) into
    torch.hub's cache when the cache lacks it, so that torchvision loads it from there."""
    cached = _cached_weights_file(weights)
    mirror = mirror_dir()
    if cached.is_file() or mirror is None or not (mirror / "weights" / cached.name).is_file():
        return
    source = mirror / "weights" / cached.name
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{cached.name}.", dir=cached.parent)
    os.close(fd)
    shutil.copyfile(source, tmp)
    os.replace(tmp, cached)   # a half-copied file never takes the real name
    print(f"学習済みの重みをオフラインミラーから使います: {source}")


def download_weights(folder) -> list[str]:
    """Download the weights of every model in MIRROR_WEIGHTS into ``folder``/weights/.
    Returns the problems (empty when everything arrived)."""
    target = Path(folder) / "weights"
    target.mkdir(parents=True, exist_ok=True)
    problems = []
    for name in MIRROR_WEIGHTS:
        weights = models.get_model_weights(name)["DEFAULT"]
        try:
            weights.get_state_dict(progress=True)       # into torch.hub's cache
            shutil.copy2(_cached_weights_file(weights), target / weights_file_name(name))
            print(f"✅ 重み {name}")
        except WEIGHT_ERRORS as error:
            problems.append(f"重み {name}: {type(error).__name__}: {error}")
            print(f"❌ 重み {name}: ダウンロードできませんでした ({type(error).__name__})")
    return problems


def describe_weights(folder) -> list[tuple[str, bool, str]]:
    """Which weights a mirror folder holds: (model, present, note) per model of MIRROR_WEIGHTS."""
    rows = []
    for name in MIRROR_WEIGHTS:
        path = Path(folder) / "weights" / weights_file_name(name)
        rows.append((f"重み {name}", path.is_file(), path.name if path.is_file() else
                     f"weights/{path.name} がありません: フルモードでこのモデルを使う章は止まります "
                     "(クイックモードはランダム初期化で続けます)"))
    return rows


def _weights_problem(name: str, weights, error: Exception) -> str:
    """What went wrong with the weights, in words, and what to do about it."""
    cached = _cached_weights_file(weights)
    if cached.is_file() and not isinstance(error, urllib.error.URLError):
        return (f"{name} の学習済み重みのファイル {cached} を読み込めません ({type(error).__name__})。"
                "ダウンロードが途中で止まったなどで壊れています。このファイルを削除して再実行してください。")
    mirror = mirror_dir()
    if mirror is None:
        mirror_hint = ("教室用ミラー (README「オフラインで使う」) があれば、DLNB_DATA_MIRROR に設定すると、"
                       "その weights/ から読みます。")
    else:
        mirror_hint = (f"DLNB_DATA_MIRROR の教室用ミラー ({mirror}) には weights/{cached.name} がありません "
                       "(ミラーに重みを入れる方法: README「オフラインで使う」)。")
    return (f"{name} の学習済み重み ({weights}) をダウンロードできませんでした ({type(error).__name__}: "
            f"{error})。インターネットにつないで再実行するか、重みのファイルを {cached} に置いてください "
            f"(torch.hub のキャッシュ、環境変数 TORCH_HOME で場所を変えられます)。{mirror_hint}")


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
        _copy_from_mirror(weights_enum)
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
