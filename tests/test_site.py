"""The rendered course (./course site): pages from a real execution of the learner version, each
saying which mode produced it and linking to Colab; checked in headless Chromium where installed."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pythonlibs.colab import colab_url
from pythonlibs.website import build_site, chapter_table, find_chromium, run_banner, screenshot

ROOT = Path(__file__).resolve().parent.parent


def test_the_chapter_table_lists_every_notebook():
    assert sorted(r["stem"] for r in chapter_table()) == sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))


def test_the_banner_says_which_mode_produced_the_outputs():
    quick = run_banner(True, "CPU (2 コア)", "abc1234", "2026-12-06", "ch03_first_ml.ipynb")
    full = run_banner(False, "NVIDIA H100", "abc1234", "2026-12-06", "ch03_first_ml.ipynb")
    assert "クイックモード" in quick and "フルモードの値より低く" in quick and "フルモード" in full
    assert "クイックモード" not in full and "NVIDIA H100" in full
    assert colab_url("ch03_first_ml.ipynb") in quick


def test_an_unknown_chapter_is_refused(tmp_path):
    with pytest.raises(ValueError, match="章の一覧にない"):
        build_site(tmp_path, ["ch99_nothing"])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The page of l03_matplotlib (figures with Japanese labels), built in quick mode."""
    out = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DLNB_QUICK", "1")
        build_site(out, ["l03_matplotlib"])
    return out


def test_a_page_holds_real_outputs_and_no_worked_solutions(site):
    page = (site / "l03_matplotlib.html").read_text(encoding="utf-8")
    assert "講義3" in page and "クイックモード" in page and colab_url("l03_matplotlib.ipynb") in page
    assert page.count("data:image/png;base64") >= 3, "the figures of the executed notebook are embedded"
    assert "未回答" in page and "解答例 (演習" not in page, "the site shows the learner version"
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="l03_matplotlib.html"' in index and "クイックモード" in index


@pytest.mark.skipif(find_chromium() is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_chromium_renders_the_page_with_its_figure(site, tmp_path):
    shot = screenshot(site / "l03_matplotlib.html", tmp_path / "page.png", height=2400)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    blue_line = ((pixels[..., 0] < 40) & (pixels[..., 1] < 40) & (pixels[..., 2] > 215)).sum()
    assert blue_line > 500, "the first figure (a blue line) is not on the rendered page"
    text_only = screenshot(site / "index.html", tmp_path / "index.png", height=800)
    assert (np.asarray(Image.open(text_only).convert("L")) < 128).sum() > 1000, "the index page shows its text"
