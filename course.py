#!/usr/bin/env python3
"""The course's commands, the same on Linux, macOS and Windows.

    python course.py lab                 open the notebooks in JupyterLab (Japanese UI by default)
    python course.py test [--full] [...] run the tests: quick mode unless --full; extra arguments go to pytest
    python course.py student [folder]    write the learner version (no worked solutions), default student/
    python course.py mirror FOLDER       download every dataset and weight file into a classroom mirror
    python course.py mirror --check FOLDER   say what a mirror holds
    python course.py colab-links         write pythonlibs/colab.py's REPOSITORY into README and every notebook
    python course.py site [--full] [ch..] execute the chapters and write them as HTML pages into site/

Each command first creates the environment (``.venv``, or ``DLNB_VENV``) from requirements.txt if it
is missing, and installs again when requirements.txt or pyproject.toml changed.  ``PYTHON`` names
the Python that creates the environment (default: the one running this file).  ``./course`` is a
thin wrapper of this file for Linux and macOS.

This file runs on old Pythons too (no syntax newer than 3.6), so that it can say that a Python
is too old instead of failing with a syntax error.
"""

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MIN_PYTHON = (3, 10)
TESTED_PYTHONS = "3.10, 3.11, 3.12, 3.13"
CANDIDATE_PYTHONS = ("python3.13", "python3.12", "python3.11", "python3.10", "python3", "python")
VERSION_PROBE = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
JAPANESE_LOCALE = {"@jupyterlab/translation-extension:plugin": {"locale": "ja_JP"}}


class LauncherError(Exception):
    """A problem the learner can fix; the message says how (Japanese, then English)."""


# ---------------------------------------------------------------------------- the environment

def venv_python(venv, os_name=os.name):
    """The environment's Python: Scripts/python.exe on Windows, bin/python elsewhere."""
    venv = Path(venv)
    return venv / "Scripts" / "python.exe" if os_name == "nt" else venv / "bin" / "python"


def requirements_checksum(root=ROOT):
    """Checksum of what the environment is built from (requirements.txt and pyproject.toml)."""
    digest = hashlib.sha256()
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((Path(root) / name).read_bytes())
    return digest.hexdigest()


def stamp_path(venv):
    return Path(venv) / ".requirements.sha256"


def environment_is_current(venv, root=ROOT, os_name=os.name):
    """True when the environment exists and was installed from the current requirements."""
    stamp = stamp_path(venv)
    return (venv_python(venv, os_name).exists() and stamp.exists()
            and stamp.read_text().strip() == requirements_checksum(root))


# ---------------------------------------------------------------------------- which Python

def probe_python(command):
    """Run ``command`` as a Python: ((major, minor, micro), "") if it starts, else (None, why)."""
    try:
        done = subprocess.run([command, "-c", VERSION_PROBE], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    except FileNotFoundError:
        return None, "見つかりません (not found)"
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, str(error)
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return None, lines[0] if lines else "終了コード %d (exit code)" % done.returncode
    return tuple(int(part) for part in done.stdout.strip().split(".")), ""


def working_pythons(exclude=None):
    """Commands on PATH that start a Python >= 3.10 (newest first), without ``exclude``."""
    found = []
    for command in CANDIDATE_PYTHONS:
        if command == exclude or not shutil.which(command):
            continue
        version, _ = probe_python(command)
        if version and version[:2] >= MIN_PYTHON:
            found.append((command, version))
    return found


def _suggestion(failed_command):
    """One line suggesting a Python that does start (never the command that just failed)."""
    others = working_pythons(exclude=failed_command)
    if others:
        command, version = others[0]
        return ("動く Python が見つかりました: %s (%s)。例: PYTHON=%s ./course lab "
                "(Windows: $env:PYTHON=\"%s\"; py course.py lab)"
                % (command, ".".join(map(str, version)), command, command))
    return ("Python %s 以上を入れてください (https://www.python.org/downloads/ 、"
            "Windows: winget install Python.Python.3.12)。" % ".".join(map(str, MIN_PYTHON)))


def python_problem(command):
    """None when ``command`` starts a Python >= 3.10, else a message that tells
    "cannot run" apart from "too old" and suggests a Python that works."""
    version, why = probe_python(command)
    if version is None:
        return ("PYTHON=%s を実行できません: %s\n"
                "  (pyenv のシムなら、その版が入っていないか有効でないことが多いです: "
                "`pyenv versions` で確かめてください)\n  %s\n"
                "  [en] %s cannot run (%s)." % (command, why, _suggestion(command), command, why))
    if version[:2] < MIN_PYTHON:
        shown = ".".join(map(str, version))
        return ("Python %s 以上が必要です (%s は %s)。\n  %s\n  [en] %s is Python %s; 3.10 or newer is needed."
                % (".".join(map(str, MIN_PYTHON)), command, shown, _suggestion(command), command, shown))
    return None


def install_failure_message(pip_output, version):
    """A clear message for pip's failure; for a Python the pinned torch wheels do not support,
    says so instead of leaving the learner with pip's resolver output."""
    text = pip_output.lower()
    shown = ".".join(map(str, version[:2]))
    if "torch" in text and ("no matching distribution" in text or "could not find a version" in text):
        return ("このコースが指定する torch / torchvision には、Python %s (%s, %s) 用のパッケージがありません。\n"
                "  テスト済みの Python: %s。PYTHON=python3.12 のように、その版を指定して作り直してください "
                "(作りかけの環境は消してから)。\n"
                "  [en] The pinned torch wheels do not support Python %s on this platform; tested: %s."
                % (shown, platform.system(), platform.machine(), TESTED_PYTHONS, shown, TESTED_PYTHONS))
    return ("パッケージのインストールに失敗しました (上の pip の出力を参照)。ネットワークを確かめてください。\n"
            "  [en] pip failed (see its output above).")


def create_environment(venv, python_command):
    """Create ``venv`` with ``python_command`` and install the course's requirements into it."""
    problem = python_problem(python_command)
    if problem:
        raise LauncherError(problem)
    print("==> 環境 %s を作成しています (初回は torch のダウンロードで数分かかります)…" % venv, flush=True)
    python = venv_python(venv)
    if not python.exists():
        done = subprocess.run([python_command, "-m", "venv", str(venv)])
        if done.returncode != 0:
            raise LauncherError("venv を作れません。Debian/Ubuntu では 'apt-get install python3-venv' が必要です。\n"
                                "  [en] could not create the virtual environment.")
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", "requirements.txt", "-e", "."],
                          cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True)
    if done.returncode != 0:
        print("\n".join(done.stdout.splitlines()[-25:]), file=sys.stderr)
        version, _ = probe_python(python_command)
        raise LauncherError(install_failure_message(done.stdout, version))
    stamp_path(venv).write_text(requirements_checksum() + "\n")


def ensure_environment(venv, python_command):
    """The environment's Python, after creating or updating the environment if needed."""
    if not environment_is_current(venv):
        create_environment(venv, python_command)
    write_japanese_default(venv)
    return venv_python(venv)


def write_japanese_default(venv):
    """Make Japanese the default UI language of this environment's JupyterLab.

    overrides.json sets defaults only: a learner who picks another language in JupyterLab
    (Settings > Language) keeps it, because user settings win over overrides.
    """
    settings = Path(venv) / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    overrides = settings / "overrides.json"
    current = json.loads(overrides.read_text(encoding="utf-8")) if overrides.exists() else {}
    if all(current.get(key) == value for key, value in JAPANESE_LOCALE.items()):
        return overrides
    current.update(JAPANESE_LOCALE)
    overrides.write_text(json.dumps(current, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return overrides


# ---------------------------------------------------------------------------- Graphviz

GRAPHVIZ_HINTS = {
    "Linux": "sudo apt-get install graphviz  (Fedora: sudo dnf install graphviz、conda: conda install -c conda-forge graphviz)",
    "Darwin": "brew install graphviz  (conda: conda install -c conda-forge graphviz)",
    "Windows": ("winget install graphviz  または  choco install graphviz  (conda: conda install -c conda-forge graphviz)。"
                "入れたあと、ターミナルを開き直してください"),
}
WINDOWS_GRAPHVIZ_DIRS = (r"C:\Program Files\Graphviz\bin", r"C:\Program Files (x86)\Graphviz\bin")


def find_dot(system=None, which=shutil.which, exists=os.path.exists):
    """Path of Graphviz's ``dot``: on PATH, or (Windows) in Graphviz's usual install folder,
    which the installer does not always add to PATH."""
    system = system or platform.system()
    found = which("dot")
    if found:
        return found
    if system == "Windows":
        for folder in WINDOWS_GRAPHVIZ_DIRS:
            candidate = folder + "\\dot.exe"
            if exists(candidate):
                return candidate
    return None


def graphviz_hint(system=None):
    """How to install Graphviz on this OS, and what works without it."""
    system = system or platform.system()
    how = GRAPHVIZ_HINTS.get(system, GRAPHVIZ_HINTS["Linux"])
    return ("Graphviz の dot が見つかりません。計算グラフの描画 (torchviz の make_dot) だけに使います。\n"
            "  入れ方: %s\n"
            "  dot がなくても、make_dot のセル以外はすべて動きます。\n"
            "  [en] Graphviz 'dot' not found; only make_dot needs it." % how)


def try_install_dot():
    """On Debian/Ubuntu, install Graphviz with apt-get (as root, or with sudo)."""
    if platform.system() != "Linux" or not shutil.which("apt-get"):
        return
    print("==> torchviz に必要な Graphviz (dot) をインストールします…", flush=True)
    sudo = [] if getattr(os, "geteuid", lambda: 0)() == 0 else ["sudo"]
    subprocess.run(sudo + ["apt-get", "update", "-qq"])
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "graphviz"], stdout=subprocess.DEVNULL)


def ensure_dot(environ):
    """True when ``dot`` is available (added to ``environ``'s PATH if found off PATH)."""
    dot = find_dot()
    if dot is None:
        try_install_dot()
        dot = find_dot()
    if dot is None:
        return False
    folder = os.path.dirname(dot)
    if folder and folder not in environ.get("PATH", "").split(os.pathsep):
        environ["PATH"] = folder + os.pathsep + environ.get("PATH", "")
    return True


# ---------------------------------------------------------------------------- the commands

def test_environment(environ, full):
    """The environment of the test run: quick mode (DLNB_QUICK=1) unless ``full``."""
    environ = dict(environ)
    if full:
        environ.pop("DLNB_QUICK", None)
    else:
        environ["DLNB_QUICK"] = "1"
    return environ


def test_command(python, args):
    return [str(python), "-m", "pytest", "--nbval-lax"] + list(args)


def lab_command(python, args, is_root=False):
    root_flag = ["--allow-root"] if is_root else []   # e.g. inside a container
    return [str(python), "-m", "jupyter", "lab", "--notebook-dir=notebooks"] + root_flag + list(args)


def mirror_command(python, args):
    """``mirror FOLDER`` builds a classroom mirror, ``mirror --check FOLDER`` checks one."""
    action = "check" if "--check" in args else "build"
    return [str(python), "-m", "pythonlibs.mirror", action] + [arg for arg in args if arg != "--check"]


USAGE = ("使い方 / usage: python course.py lab | python course.py test [--full] [pytest の引数] | "
         "python course.py student [出力先] | python course.py mirror [--check] フォルダ | "
         "python course.py colab-links | python course.py site [--full] [章 ...]")


def run(command, environ):
    """Run ``command`` in the project folder and return its exit code."""
    return subprocess.run(command, cwd=str(ROOT), env=environ).returncode


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    name, args = (argv[0], argv[1:]) if argv else ("", [])
    if name not in ("lab", "test", "student", "mirror", "colab-links", "site"):
        print(USAGE, file=sys.stderr)
        return 2
    environ = dict(os.environ)
    venv = ROOT / environ.get("DLNB_VENV", ".venv")
    try:
        python = ensure_environment(venv, environ.get("PYTHON") or sys.executable)
    except LauncherError as error:
        print("エラー / error: %s" % error, file=sys.stderr)
        return 1
    if name == "student":
        return run([str(python), "-m", "pythonlibs.exercises", "student", "notebooks",
                    args[0] if args else "student"], environ)
    if name == "mirror":
        return run(mirror_command(python, args), environ)
    if name == "colab-links":
        return run([str(python), "-m", "pythonlibs.colab"], environ)
    if name == "site":
        full = "--full" in args
        return run([str(python), "-m", "pythonlibs.website", "build"] + [a for a in args if a != "--full"],
                   test_environment(environ, full))
    has_dot = ensure_dot(environ)
    if not has_dot:
        print(graphviz_hint(), file=sys.stderr)
    if name == "lab":
        is_root = getattr(os, "geteuid", lambda: 1)() == 0
        return run(lab_command(python, args, is_root), environ)
    if not has_dot:
        print("テストには dot が必要です (ch02 などの make_dot のセルを実行するため)。", file=sys.stderr)
        return 1
    full = "--full" in args
    args = [arg for arg in args if arg != "--full"]
    environ = test_environment(environ, full)
    print("==> %s でテストします" % ("フルモード (全データ・本のエポック数。CPU では数時間)" if full
                                   else "クイックモード (DLNB_QUICK=1、フルモードは --full)"), flush=True)
    return run(test_command(python, args), environ)


if __name__ == "__main__":
    sys.exit(main())
