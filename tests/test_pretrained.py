"""Tests of pythonlibs.pretrained: torchvision's weights= API, and what happens offline.

No ImageNet weights can be had offline, so the "downloaded" file is a state_dict written into a
private torch.hub cache (TORCH_HOME): the same file torch.hub would have saved.
"""

import urllib.error

import pytest
import torch
from torchvision import models

from pythonlibs.pretrained import load_pretrained

NAME = "squeezenet1_1"   # the smallest weights file of torchvision's classifiers (5 MB)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def cached_file(torch_home):
    url = models.get_model_weights(NAME).DEFAULT.url
    path = torch_home / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def no_download(monkeypatch):
    """Make the download fail at the name torchvision really calls; record that it was called."""
    calls = []

    def offline(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("offline")
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    return calls


def test_cached_weights_are_loaded_and_the_model_says_so(torch_home, capsys):
    torch.manual_seed(0)
    saved = models.get_model(NAME, weights=None).state_dict()
    torch.save(saved, cached_file(torch_home))
    net = load_pretrained(NAME)
    assert net.pretrained_weights_loaded
    assert "学習済みの重み SqueezeNet1_1_Weights.IMAGENET1K_V1 を読み込みました" in capsys.readouterr().out
    assert all(torch.equal(net.state_dict()[k], v) for k, v in saved.items())


def test_offline_quick_mode_falls_back_loudly(torch_home, no_download, monkeypatch, capsys):
    monkeypatch.setenv("DLNB_QUICK", "1")
    net = load_pretrained(NAME)
    assert no_download, "the download must have been tried"
    assert not net.pretrained_weights_loaded
    assert isinstance(net, models.SqueezeNet)
    assert "ランダム初期化" in capsys.readouterr().out


def test_offline_full_mode_stops_and_says_where_the_file_goes(torch_home, no_download, monkeypatch):
    monkeypatch.setenv("DLNB_QUICK", "0")
    with pytest.raises(RuntimeError, match="ダウンロードできませんでした.*TORCH_HOME"):
        load_pretrained(NAME)
    assert no_download


def test_offline_full_mode_says_whether_the_mirror_lacks_the_weights(torch_home, no_download, monkeypatch,
                                                                     tmp_path):
    monkeypatch.setenv("DLNB_QUICK", "0")
    file_name = cached_file(torch_home).name
    monkeypatch.setenv("DLNB_DATA_MIRROR", str(tmp_path / "mirror"))
    with pytest.raises(RuntimeError, match=f"mirror\\) には weights/{file_name} がありません"):
        load_pretrained(NAME)
    monkeypatch.delenv("DLNB_DATA_MIRROR")
    with pytest.raises(RuntimeError, match="ミラー.*DLNB_DATA_MIRROR に設定すると"):
        load_pretrained(NAME)


def test_a_damaged_cached_file_is_named(torch_home, monkeypatch):
    path = cached_file(torch_home)
    path.write_bytes(b"PK\x03\x04 half of a download")
    monkeypatch.setenv("DLNB_QUICK", "0")
    with pytest.raises(RuntimeError, match=f"{path.name} を読み込めません.*削除"):
        load_pretrained(NAME)


def test_an_unknown_model_name_is_refused():
    with pytest.raises(ValueError, match="resnet18"):
        load_pretrained("resnet1")
