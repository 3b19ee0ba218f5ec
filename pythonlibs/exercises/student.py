"""The learner version of the notebooks: the same chapters without the worked solutions.

A solution cell is a code cell whose first line starts with ``# 解答例``; markdown lines that
start with ``> 解答例`` (the sentence telling where the solutions are) go too.  Outputs and
execution counts are cleared, so nothing of a solution is left in the file.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from pythonlibs.exercises import SOLUTION_MARK

__all__ = ["is_solution_cell", "learner_version", "write_learner_versions"]

SOLUTION_NOTE = "> 解答例"


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def is_solution_cell(cell) -> bool:
    """True for a code cell whose first line is the solution mark (``# 解答例 ...``)."""
    return cell["cell_type"] == "code" and _source(cell).lstrip().startswith(SOLUTION_MARK)


def _without_solution_notes(cell):
    lines = _source(cell).split("\n")
    kept = [line for line in lines if not line.startswith(SOLUTION_NOTE)]
    cell["source"] = [line + "\n" for line in kept[:-1]] + kept[-1:]
    return cell


def learner_version(notebook: dict) -> dict:
    """A copy of ``notebook`` without solution cells, solution notes and outputs."""
    result = copy.deepcopy(notebook)
    cells = []
    for cell in result["cells"]:
        if is_solution_cell(cell):
            continue
        if cell["cell_type"] == "markdown":
            cell = _without_solution_notes(cell)
        elif cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    result["cells"] = cells
    return result


def write_learner_versions(source_dir, dest_dir) -> list[tuple[Path, int]]:
    """Write the learner version of every notebook of ``source_dir`` into ``dest_dir``.

    Returns (written path, number of solution cells removed) per notebook.
    """
    source_dir, dest_dir = Path(source_dir), Path(dest_dir)
    if source_dir.resolve() == dest_dir.resolve():
        raise ValueError("出力先は元の notebooks と別のフォルダにしてください (解答例が消えてしまいます)。")
    dest_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(source_dir.glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        learner = learner_version(notebook)
        target = dest_dir / path.name
        target.write_text(json.dumps(learner, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        written.append((target, len(notebook["cells"]) - len(learner["cells"])))
    return written
