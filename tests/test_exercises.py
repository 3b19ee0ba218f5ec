"""The exercises (演習): every solution passes its check, every check rejects a wrong answer with
its hint, an unanswered exercise says 未回答, and the learner version runs top to bottom.

Wrong answers live in ``tests/exercise_answers/<chapter>.py`` as ``WRONG = {key: [(answer,
hint fragment), ...]}``.
"""

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pythonlibs.exercises import SOLUTION_MARK, check_exercise, registered_exercises
from pythonlibs.exercises.student import learner_version, write_learner_versions

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CALL = re.compile(r'check_(exercise|solution)\("([^"]+)"')
SOLUTION_PRELUDE = """\
import math
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from pythonlibs.exercises import check_solution
"""


def exercise_cells(path: Path) -> dict[str, dict[str, str]]:
    """{key: {"learner": code, "solution": code}} of a notebook's exercise cells."""
    found = {}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        code = "".join(cell["source"])
        for kind, key in CALL.findall(code):
            role = "solution" if kind == "solution" else "learner"
            if role == "solution" and not code.startswith(SOLUTION_MARK):
                raise AssertionError(f"{path.name}: the solution of {key} must start with '{SOLUTION_MARK}'")
            if role in found.setdefault(key, {}):
                raise AssertionError(f"{path.name}: exercise {key} has two {role} cells")
            found[key][role] = code
    return found


def chapter_of(path: Path) -> str:
    """ch03_first_ml.ipynb -> "ch03"."""
    return path.name.split("_")[0]


ALL_EXERCISES = {key: (path, cells) for path in NOTEBOOKS
                 for key, cells in exercise_cells(path).items()}


def wrong_answers() -> dict:
    """Every chapter's WRONG table from tests/exercise_answers/."""
    table = {}
    for file in sorted((Path(__file__).parent / "exercise_answers").glob("*.py")):
        spec = importlib.util.spec_from_file_location(f"wrong_{file.stem}", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        table.update(module.WRONG)
    return table


WRONG = wrong_answers()


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if exercise_cells(p)], ids=lambda p: p.name)
def test_each_exercise_has_a_learner_cell_a_solution_and_a_check(path):
    cells = exercise_cells(path)
    registered = {e.key for e in registered_exercises(chapter_of(path))}
    assert set(cells) == registered, f"{path.name}: notebook {sorted(cells)} vs checks {sorted(registered)}"
    for key, roles in cells.items():
        assert set(roles) == {"learner", "solution"}, f"{path.name}: exercise {key} has {sorted(roles)}"
        assert "raise NotImplementedError" in roles["learner"], f"{key}: the learner cell must start unanswered"


@pytest.mark.parametrize("key", sorted(ALL_EXERCISES))
def test_the_solution_passes_its_check(key):
    path, cells = ALL_EXERCISES[key]
    exec(compile(SOLUTION_PRELUDE + cells["solution"], f"{path.name}:{key}", "exec"), {})


@pytest.mark.parametrize("key", sorted(ALL_EXERCISES))
def test_an_unanswered_exercise_says_so_without_raising(key, capsys):
    def not_yet(*args, **kwargs):
        raise NotImplementedError
    assert check_exercise(key, not_yet) is None
    assert check_exercise(key, ...) is None
    assert "未回答" in capsys.readouterr().out


@pytest.mark.parametrize("key", sorted(ALL_EXERCISES))
def test_a_wrong_answer_gets_its_hint(key, capsys):
    assert WRONG.get(key), f"exercise {key} has no wrong answer in tests/exercise_answers/"
    for answer, hint in WRONG[key]:
        assert check_exercise(key, answer) is False, f"{key}: {answer.__name__} was accepted"
        out = capsys.readouterr().out
        assert "❌" in out and hint in out, f"{key}: {answer.__name__} got: {out}"


def exercise_keys(notebook: dict) -> set[str]:
    """The exercise keys a notebook's code cells check."""
    return {key for cell in notebook["cells"] if cell["cell_type"] == "code"
            for _, key in CALL.findall("".join(cell["source"]))}


def test_the_learner_version_has_no_solutions():
    for path in NOTEBOOKS:
        learner = learner_version(json.loads(path.read_text(encoding="utf-8")))
        text = json.dumps(learner, ensure_ascii=False)
        assert "check_solution(" not in text and "> 解答例" not in text, path.name
        assert exercise_keys(learner) == set(exercise_cells(path)), path.name


EXERCISE_HEADING = "## 演習"
WITH_EXERCISES = [p for p in NOTEBOOKS if exercise_cells(p)]


def split_at_exercises(notebook: dict) -> tuple[list, list]:
    """(cells before the notebook's "## 演習" heading, cells from it on)."""
    cells = notebook["cells"]
    starts = [i for i, c in enumerate(cells) if c["cell_type"] == "markdown"
              and "".join(c["source"]).startswith(EXERCISE_HEADING)]
    return (cells, []) if not starts else (cells[:starts[0]], cells[starts[0]:])


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_the_learner_version_differs_only_in_the_exercise_section(path):
    """Solutions and checks live after "## 演習", so the learner version runs the chapter's own cells
    exactly as nbval runs them; only its exercise section needs a run of its own (below)."""
    original = json.loads(path.read_text(encoding="utf-8"))
    before, section = split_at_exercises(original)
    assert section, f"{path.name}: no '{EXERCISE_HEADING}' heading"
    assert not any(CALL.search("".join(c["source"])) for c in before if c["cell_type"] == "code"), \
        f"{path.name}: an exercise cell before '{EXERCISE_HEADING}'"
    learner_before, _ = split_at_exercises(learner_version(original))
    assert [c["source"] for c in learner_before if c["cell_type"] == "code"] == \
        [c["source"] for c in before if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_the_learner_versions_exercises_run_and_say_unanswered(path, capsys):
    """The exercise section of the learner version, run cell by cell after the chapter's usual
    imports: nothing raises, and every exercise says 未回答."""
    _, section = split_at_exercises(learner_version(json.loads(path.read_text(encoding="utf-8"))))
    namespace = {}
    exec(SOLUTION_PRELUDE, namespace)
    for cell in section:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), path.name, "exec"), namespace)
    printed = capsys.readouterr().out
    for key in exercise_cells(path):
        assert f"📝 演習 {key} (" in printed, f"{path.name}: exercise {key} did not say 未回答"


def test_a_whole_learner_version_runs_top_to_bottom_in_a_kernel(tmp_path):
    """One chapter's learner version (the worked example, ch03) end to end in a real kernel."""
    path = ROOT / "notebooks" / "ch03_first_ml.ipynb"
    learner = learner_version(json.loads(path.read_text(encoding="utf-8")))
    notebook = nbformat.reads(json.dumps(learner), as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    printed = "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.outputs)
    for key in exercise_cells(path):
        assert f"📝 演習 {key} (" in printed, f"{path.name}: exercise {key} did not say 未回答"


def test_student_command_writes_every_notebook(tmp_path):
    written = write_learner_versions(ROOT / "notebooks", tmp_path / "student")
    assert [p.name for p, _ in written] == [p.name for p in NOTEBOOKS]
    assert sum(removed for _, removed in written) == len(ALL_EXERCISES)
    with pytest.raises(ValueError, match="別のフォルダ"):
        write_learner_versions(ROOT / "notebooks", ROOT / "notebooks")
