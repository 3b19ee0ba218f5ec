"""A rendered course to read before running: every chapter as a static HTML page with its outputs.

``./course site`` (``python -m pythonlibs.website build``) executes each notebook (quick mode unless
``--full``) with nbclient and converts it with nbconvert into ``site/``: one page per chapter (the learner
version, without the worked solutions of the exercises),
with a banner that says which mode, device, date and commit produced its outputs and a link that
opens the chapter in Colab, plus ``index.html`` with README's chapter table.

Why nbconvert: it is already installed with JupyterLab (no Node.js toolchain as MyST / Jupyter
Book 2 needs), works offline, and renders exactly what JupyterLab shows.  The outputs are always
those of a real execution: nothing is pasted in.

``python -m pythonlibs.website check site/`` opens pages in headless Chromium and saves screenshots
(``tests/test_site.py`` does the same where Chromium is installed).
"""

from __future__ import annotations

import argparse
import datetime
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from pythonlibs.colab import colab_url
from pythonlibs.exercises.student import learner_version
from pythonlibs.settings import PROJECT_ROOT, is_quick

__all__ = ["chapter_table", "run_banner", "build_site", "find_chromium", "screenshot", "main"]

NOTEBOOKS = PROJECT_ROOT / "notebooks"
ROW = re.compile(r"^\| (?P<chapter>[^|]+?) `(?P<stem>[\w]+)` \| (?P<topic>[^|]+?) \|", re.MULTILINE)


def chapter_table(readme: Path = PROJECT_ROOT / "README.md") -> list[dict]:
    """README's chapter table: [{"chapter", "stem", "topic"}, ...] in the README's order."""
    return [m.groupdict() for m in ROW.finditer(readme.read_text(encoding="utf-8"))]


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True)
    return done.stdout.strip() or "不明"


def _device_name() -> str:
    import torch
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    if torch.backends.mps.is_available():
        return "Apple MPS"
    return f"CPU ({os.cpu_count()} コア)"


def run_banner(quick: bool, device: str, commit: str, date: str, notebook: str) -> str:
    """The HTML banner at the top of a chapter page: how its outputs were produced, and Colab."""
    if quick:
        mode = ("<b>クイックモード</b> (<code>DLNB_QUICK=1</code>) で実行した出力です。データは小さな部分集合、"
                "エポック数も少ないので、精度などの数値は本文が述べるフルモードの値より低くなります。")
    else:
        mode = "<b>フルモード</b> (全データ・本のエポック数) で実行した出力です。"
    return (f'<div class="dlnb-banner" style="border:2px solid #d97706;background:#fff7ed;padding:8px 12px;'
            f'margin:8px 0;font-size:14px">{mode}<br>実行: {html.escape(device)}、{date}、'
            f'コミット {html.escape(commit)}。'
            f' <a href="{colab_url(notebook)}">Colab で開いて自分で実行する</a> ・ '
            f'<a href="index.html">目次</a></div>')


def _execute(path: Path, timeout: int) -> nbformat.NotebookNode:
    """Run the learner version of a notebook (no worked solutions: the site must not give the
    exercises away; their checks say 未回答) as JupyterLab would, in the notebooks folder."""
    learner = learner_version(json.loads(path.read_text(encoding="utf-8")))
    notebook = nbformat.reads(json.dumps(learner), as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


def _page(notebook: nbformat.NotebookNode, banner: str) -> str:
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, body, count=1)


def _index(rows: list[dict], built: set[str], banner_text: str) -> str:
    items = "\n".join(
        f'<tr><td>{html.escape(r["chapter"])}</td><td><a href="{r["stem"]}.html">{r["stem"]}</a></td>'
        f'<td>{html.escape(r["topic"])}</td><td><a href="{colab_url(r["stem"] + ".ipynb")}">Colab</a></td></tr>'
        for r in rows if r["stem"] in built)
    return ("<!DOCTYPE html><html lang=\"ja\"><head><meta charset=\"utf-8\">"
            "<title>PyTorch 深層学習コース</title></head><body style=\"font-family:sans-serif;max-width:960px;margin:auto\">"
            "<h1>PyTorch 深層学習コース (実行済みの各章)</h1>"
            f"<p>{banner_text}</p><table border=\"1\" cellpadding=\"6\" style=\"border-collapse:collapse\">"
            "<tr><th>章</th><th>ノートブック</th><th>内容</th><th>実行</th></tr>"
            f"{items}</table></body></html>\n")


def build_site(out: Path, stems: list[str] | None = None, timeout: int = 1800) -> list[Path]:
    """Execute the chapters (all of README's table, or ``stems``) and write their pages and an
    index into ``out``.  Quick or full mode follows ``DLNB_QUICK``.  Returns the pages."""
    rows = chapter_table()
    wanted = [r["stem"] for r in rows] if stems is None else list(stems)
    unknown = sorted(set(wanted) - {r["stem"] for r in rows})
    if unknown:
        raise ValueError(f"README の章の一覧にないノートブックです: {unknown}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    quick, device, commit = is_quick(), _device_name(), _commit()
    date = datetime.date.today().isoformat()
    pages = []
    for stem in wanted:
        print(f"==> {stem} を実行しています…", flush=True)
        notebook = _execute(NOTEBOOKS / f"{stem}.ipynb", timeout)
        page = out / f"{stem}.html"
        page.write_text(_page(notebook, run_banner(quick, device, commit, date, f"{stem}.ipynb")),
                        encoding="utf-8")
        pages.append(page)
    mode = "クイックモード (数値はフルモードより低い)" if quick else "フルモード"
    summary = f"各章の出力は {mode} で {device} が {date} に実行したものです (コミット {commit})。"
    (out / "index.html").write_text(_index(rows, set(wanted), html.escape(summary)), encoding="utf-8")
    return pages


def find_chromium() -> str | None:
    """A headless-capable Chromium (the Debian package is ``chromium``)."""
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 1600) -> Path:
    """Open ``page`` in headless Chromium and save what it shows as ``png``."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("Chromium がありません (Debian/Ubuntu: sudo apt-get install chromium fonts-ipafont-gothic)。")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    return png


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pythonlibs.website", description="実行済みの各章を HTML にする")
    parser.add_argument("action", choices=["build", "check"])
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "site")
    parser.add_argument("notebooks", nargs="*", help="例: ch01_python l01_python (既定: 全章)")
    args = parser.parse_intermixed_args(argv)
    if args.action == "build":
        pages = build_site(args.out, args.notebooks or None)
        print(f"{len(pages)} 章を {args.out} に書きました。{args.out / 'index.html'} をブラウザで開いてください。")
        return 0
    shots = [screenshot(page, page.with_suffix(".png")) for page in sorted(args.out.glob("*.html"))[:3]]
    print("スクリーンショット: " + ", ".join(str(s) for s in shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
