"""Colab links and the set-up cell, from one setting: the GitHub repository of the course.

``REPOSITORY`` below is the only place that names it.  After changing it (e.g. in a fork),
``./course colab-links`` (``python -m pythonlibs.colab``) writes it into README's "開く" links and
into the set-up cell of every notebook; ``tests/test_colab.py`` checks that they all agree.

The set-up cell does its work only in Colab: it clones the course once (a second run finds the
folder), installs only the packages Colab lacks (a second run finds them) and puts the course on
``sys.path`` once.  Opened from a fork or uploaded by hand, the notebook clones ``REPOSITORY``;
the cell's comment says which line to change for a fork.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from pythonlibs.settings import PROJECT_ROOT

__all__ = ["REPOSITORY", "BRANCH", "SETUP_MARK", "colab_url", "setup_cell_source", "write_colab_links"]

REPOSITORY = "dlnb-course/pytorch-dl-course"   # owner/name on GitHub
BRANCH = "main"
SETUP_MARK = "# Google Colab で開いたときだけ"   # the first line of every notebook's set-up cell

SETUP_TEMPLATE = '''\
# Google Colab で開いたときだけ、コース一式と不足パッケージを用意します (ローカルでは何もしません)。
# 2 回目の実行では取得もインストールもしません。フォークしたリポジトリで使うときは、次の行を自分のものにします。
COURSE_REPOSITORY = "https://github.com/{repository}"
import importlib.util, os, subprocess, sys
if "google.colab" in sys.modules:
    REPO = "/content/{name}"
    if not os.path.isdir(REPO):
        subprocess.run(["git", "clone", "--depth", "1", COURSE_REPOSITORY, REPO], check=True)
    packages = {{"torchviz": "torchviz", "torchinfo": "torchinfo", "japanize-matplotlib": "japanize_matplotlib"}}
    missing = [name for name, module in packages.items() if importlib.util.find_spec(module) is None]
    if missing:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
    if REPO not in sys.path:
        sys.path.insert(0, REPO)'''


def colab_url(notebook: str, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The address that opens ``notebooks/<notebook>`` of the repository in Colab."""
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/notebooks/{notebook}"


def setup_cell_source(repository: str = REPOSITORY) -> str:
    """The set-up cell every notebook starts with."""
    return SETUP_TEMPLATE.format(repository=repository, name=repository.split("/")[-1])


def _source_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def _write_setup_cell(path: Path, repository: str) -> bool:
    """Put the set-up cell into one notebook; True when the file changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"
             and "".join(c["source"]).startswith(SETUP_MARK)]
    if len(cells) != 1:
        raise ValueError(f"{path.name}: set-up cell (first line {SETUP_MARK!r}) found {len(cells)} times")
    new = _source_lines(setup_cell_source(repository))
    if cells[0]["source"] == new:
        return False
    cells[0]["source"] = new
    path.write_text(json.dumps(notebook, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return True


LINK = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/notebooks/"
                  r"([\w.-]+\.ipynb)")


def write_colab_links(root: Path = PROJECT_ROOT, repository: str = REPOSITORY) -> list[str]:
    """Write ``repository`` into README's links and every notebook's set-up cell.
    Returns the files that changed."""
    changed = []
    readme = root / "README.md"
    text = readme.read_text(encoding="utf-8")
    new_text = LINK.sub(lambda m: colab_url(m.group(1), repository), text)
    if new_text != text:
        readme.write_text(new_text, encoding="utf-8")
        changed.append("README.md")
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        if _write_setup_cell(path, repository):
            changed.append(f"notebooks/{path.name}")
    return changed


if __name__ == "__main__":
    files = write_colab_links()
    print(f"Colab のリポジトリ {REPOSITORY}: " + (", ".join(files) + " を書き換えました" if files
                                                  else "README と全ノートブックはすでに一致しています"))
    sys.exit(0)
