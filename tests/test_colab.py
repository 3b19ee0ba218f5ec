"""Colab links and set-up cells agree with the one setting (pythonlibs.colab.REPOSITORY), and the
set-up cell works in Colab without cloning or installing twice."""

import json
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from pythonlibs import colab

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def setup_cell(path: Path) -> str:
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
             if c["cell_type"] == "code" and "".join(c["source"]).startswith(colab.SETUP_MARK)]
    assert len(cells) == 1, f"{path.name}: one set-up cell expected, found {len(cells)}"
    return "".join(cells[0]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebooks_setup_cell_uses_the_setting(path):
    assert setup_cell(path) == colab.setup_cell_source(), (
        f"{path.name}: the set-up cell differs from pythonlibs.colab's; run ./course colab-links")


def test_readme_links_open_this_repository_and_every_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"https://colab\.research\.google\.com/[^\s)]+", readme)
    assert sorted(links) == sorted(colab.colab_url(p.name) for p in NOTEBOOKS), (
        "README's 開く links do not match the notebooks and pythonlibs.colab.REPOSITORY; run ./course colab-links")


def test_the_command_rewrites_links_and_cells_for_a_fork(tmp_path):
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    changed = colab.write_colab_links(tmp_path, "someone/my-fork")
    assert "README.md" in changed and len(changed) == 1 + len(NOTEBOOKS)
    assert "https://colab.research.google.com/github/someone/my-fork/blob/main/notebooks/ch00_intro.ipynb" in \
        (tmp_path / "README.md").read_text(encoding="utf-8")
    cell = setup_cell(tmp_path / "notebooks" / "ch03_first_ml.ipynb")
    assert 'COURSE_REPOSITORY = "https://github.com/someone/my-fork"' in cell and '"/content/my-fork"' in cell
    assert colab.write_colab_links(tmp_path, "someone/my-fork") == [], "a second run changes nothing"


def run_setup_cell(monkeypatch, repo_exists: bool, missing: set):
    """Run the set-up cell as Colab would, recording the commands it starts."""
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr("os.path.isdir", lambda path: repo_exists if path.startswith("/content/") else False)
    real_find_spec = __import__("importlib.util").util.find_spec
    monkeypatch.setattr("importlib.util.find_spec",
                        lambda name, *a: None if name in missing else real_find_spec(name, *a))
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: calls.append(command))
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(colab.setup_cell_source(), {})
    exec(colab.setup_cell_source(), {})   # the learner runs the cell again
    return calls, sys.path


def test_in_colab_the_first_run_clones_and_installs_only_what_is_missing(monkeypatch):
    calls, path = run_setup_cell(monkeypatch, repo_exists=False, missing={"torchviz"})
    clones = [c for c in calls if c[:2] == ["git", "clone"]]
    installs = [c for c in calls if "pip" in c]
    assert clones and clones[0][-2] == f"https://github.com/{colab.REPOSITORY}"
    assert installs and installs[0][-1] == "torchviz" and "torchinfo" not in installs[0]
    assert path.count(f"/content/{colab.REPOSITORY.split('/')[-1]}") == 1, "the course is put on sys.path once"


def test_in_colab_a_second_session_run_neither_clones_nor_installs(monkeypatch):
    calls, _ = run_setup_cell(monkeypatch, repo_exists=True, missing=set())
    assert calls == []


def test_outside_colab_the_cell_does_nothing(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no command may run outside Colab"))
    exec(colab.setup_cell_source(), {})
