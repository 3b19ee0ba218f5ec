"""The launcher course.py (./course is its thin wrapper): environment reuse, requirement changes,
which Python, Graphviz per OS, quick mode by default, a Japanese JupyterLab.  Windows is covered
through its path layout and hints; the launcher has not been run on Windows itself."""

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course)


def fake_python(folder: Path, name: str, script: str) -> str:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return str(path)


def test_the_environments_python_on_windows_and_elsewhere():
    assert course.venv_python(Path(".venv"), "nt") == Path(".venv/Scripts/python.exe")
    assert course.venv_python(Path(".venv"), "posix") == Path(".venv/bin/python")


@pytest.fixture
def project(tmp_path):
    """A copy of the files the environment is built from, and an environment made from them."""
    for name in ("requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    course.stamp_path(venv).write_text(course.requirements_checksum(tmp_path) + "\n")
    return tmp_path, venv


def test_an_environment_from_the_current_requirements_is_reused(project):
    root, venv = project
    assert course.environment_is_current(venv, root, "posix")


def test_a_changed_requirement_means_installing_again(project):
    root, venv = project
    with open(root / "requirements.txt", "a") as requirements:
        requirements.write("rich\n")
    assert not course.environment_is_current(venv, root, "posix")


def test_an_environment_without_its_python_is_not_reused(project):
    root, venv = project
    assert not course.environment_is_current(venv, root, "nt"), "on Windows the Python is Scripts/python.exe"


def test_the_stamp_of_the_old_bash_launcher_is_still_valid(project):
    """`cat requirements.txt pyproject.toml | sha256sum` (the old ./course) gives the same stamp."""
    root, _ = project
    joined = (root / "requirements.txt").read_bytes() + (root / "pyproject.toml").read_bytes()
    import hashlib
    assert course.requirements_checksum(root) == hashlib.sha256(joined).hexdigest()


def test_a_python_that_cannot_start_is_told_apart_from_one_too_old(tmp_path):
    shim = fake_python(tmp_path, "python3.12", "echo 'pyenv: python3.12: command not found' >&2; exit 127")
    message = course.python_problem(shim)
    assert "実行できません" in message and "pyenv: python3.12: command not found" in message
    assert "3.10 以上が必要" not in message
    assert f"PYTHON={shim} ./course" not in message, "never suggest the command that just failed"


def test_a_python_too_old_says_its_version(tmp_path):
    old = fake_python(tmp_path, "python3.8", "echo 3.8.10")
    message = course.python_problem(old)
    assert "3.10 以上が必要" in message and "3.8.10" in message


def test_a_missing_python_is_named(tmp_path):
    message = course.python_problem(str(tmp_path / "no-such-python"))
    assert "実行できません" in message and "見つかりません" in message


def test_the_running_python_is_fine():
    assert course.python_problem(sys.executable) is None


def test_the_suggested_python_really_starts(tmp_path):
    message = course.python_problem(fake_python(tmp_path, "python3.12", "exit 1"))
    if "動く Python が見つかりました" in message:
        suggested = message.split("動く Python が見つかりました: ")[1].split(" ")[0]
        version, why = course.probe_python(suggested)
        assert version and version[:2] >= course.MIN_PYTHON, why


def test_the_launcher_runs_on_an_old_python_and_says_it_is_too_old(tmp_path):
    """Run by itself under a real old Python when one is installed (pyenv here)."""
    old = next((p for p in sorted(Path("/root/.pyenv/versions").glob("3.[6-9]*/bin/python")) if p.exists()), None)
    if old is None:
        pytest.skip("no Python older than 3.10 on this machine")
    env = {**os.environ, "DLNB_VENV": str(tmp_path / "venv")}
    env.pop("PYTHON", None)
    done = subprocess.run([str(old), str(ROOT / "course.py"), "student", str(tmp_path / "s")], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1 and "3.10 以上が必要" in done.stderr, done.stderr
    assert not (tmp_path / "venv").exists(), "nothing may be created with a Python that is too old"


def test_pip_failing_for_an_unsupported_python_gets_a_clear_message():
    pip_output = ("ERROR: Could not find a version that satisfies the requirement torch===2.13.0 (from versions: none)\n"
                  "ERROR: No matching distribution found for torch===2.13.0")
    message = course.install_failure_message(pip_output, (3, 15, 0))
    assert "Python 3.15" in message and course.TESTED_PYTHONS in message
    other = course.install_failure_message("ERROR: HTTP error 503", (3, 12, 1))
    assert course.TESTED_PYTHONS not in other and "ネットワーク" in other


def test_graphviz_off_path_on_windows_is_found_in_its_install_folder():
    expected = r"C:\Program Files\Graphviz\bin\dot.exe"
    found = course.find_dot("Windows", which=lambda name: None, exists=lambda path: path == expected)
    assert found == expected
    assert course.find_dot("Linux", which=lambda name: None, exists=lambda path: True) is None


@pytest.mark.parametrize("system, words", [("Windows", ["winget", "choco", "conda"]), ("Darwin", ["brew"]),
                                           ("Linux", ["apt-get", "dnf"])])
def test_graphviz_hints_per_os_say_what_works_without_it(system, words):
    hint = course.graphviz_hint(system)
    assert all(word in hint for word in words) and "make_dot のセル以外はすべて動きます" in hint


def test_tests_run_in_quick_mode_unless_full():
    assert course.test_environment({"PATH": "x"}, full=False)["DLNB_QUICK"] == "1"
    assert "DLNB_QUICK" not in course.test_environment({"DLNB_QUICK": "1"}, full=True)


def test_usage_for_an_unknown_command(capsys):
    assert course.main(["serve"]) == 2
    assert "python course.py lab" in capsys.readouterr().err


def test_japanese_is_the_default_and_other_overrides_are_kept(tmp_path):
    settings = tmp_path / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True)
    (settings / "overrides.json").write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "x"}}))
    path = course.write_japanese_default(tmp_path)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["@jupyterlab/translation-extension:plugin"] == {"locale": "ja_JP"}
    assert written["@jupyterlab/apputils-extension:themes"] == {"theme": "x"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_of_the_environment_starts_in_japanese(tmp_path):
    """A real JupyterLab server of this environment: its language setting defaults to ja_JP and
    the Japanese language pack is installed."""
    course.write_japanese_default(Path(sys.prefix))
    port, token = free_port(), "dlnb-test"
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "user-settings")}
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
                               f"--IdentityProvider.token={token}", "--allow-root", f"--notebook-dir={tmp_path}"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/lab/api/%s?token={token}"
        for _ in range(120):
            try:
                settings = json.load(urllib.request.urlopen(url % "settings/@jupyterlab/translation-extension:plugin"))
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start within 60 s")
        languages = json.load(urllib.request.urlopen(url % "translations/"))["data"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert settings["schema"]["properties"]["locale"]["default"] == "ja_JP", "overrides.json sets the default"
    assert "locale" not in settings["settings"], "the learner's own choice (user settings) stays free"
    assert "ja_JP" in languages, f"the Japanese language pack is not installed: {sorted(languages)}"
