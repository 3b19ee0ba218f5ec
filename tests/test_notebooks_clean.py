"""Notebooks are committed without outputs, and use the library instead of copies of it."""

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ has no .ipynb file"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    dirty = [i for i, cell in enumerate(notebook["cells"]) if cell["cell_type"] == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; clear them "
                       "(JupyterLab: Edit > Clear Outputs of All Cells) before committing")


LIBRARY_MODULES = ("torch_lib1", "settings", "runtime", "training", "plotting", "data", "datasets",
                   "pretrained", "diagnostics", "fast_cifar", "mirror", "colab", "website", "interactive",
                   "interactive.optimization", "interactive.classification", "interactive.images",
                   "interactive.troubleshooting")


def library_names() -> set[str]:
    """Every public name of pythonlibs (its modules' ``__all__``)."""
    import importlib
    return {name for module in LIBRARY_MODULES
            for name in importlib.import_module(f"pythonlibs.{module}").__all__}


def code_cells(path):
    """(index, code) of each code cell, without IPython's %magic and !shell lines."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            lines = "".join(cell["source"]).splitlines()
            yield i, "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


def defined_names(code: str) -> set[str]:
    """Functions, classes and variables a cell defines at its top level."""
    names = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_uses_the_library_not_a_copy(path):
    """A notebook never redefines a library name, never reaches for a private ``_name`` of
    pythonlibs, and takes CIFAR-10's mean and std from the library's constants."""
    exported = library_names()
    problems = []
    for i, code in code_cells(path):
        problems += [f"cell {i} defines {name}, which pythonlibs exports: use the library's"
                     for name in sorted(defined_names(code) & exported)]
        if re.search(r"(pythonlibs[\w.]*\s+import[^\n]*\b_[a-z]|\b(lib|fc|pythonlibs[\w.]*)\._[a-z])", code):
            problems.append(f"cell {i} uses a private name of pythonlibs")
        if re.search(r"0\.4914|0\.4822|0\.4465", code):
            problems.append(f"cell {i} writes CIFAR-10's mean as numbers: use CIFAR10_MEAN / CIFAR10_STD")
    assert not problems, f"{path.name}: " + "; ".join(problems)


MAX_CELL_LINES = 25
LONG_CELL_REASON = "# 長いセル:"


def joined_statement_lines(code: str) -> list[int]:
    """Line numbers where two statements share a line (``a = 1; b = 2``)."""
    compound = (ast.If, ast.For, ast.While, ast.With, ast.Try, ast.FunctionDef, ast.ClassDef)
    simple = [node for node in ast.walk(ast.parse(code))
              if isinstance(node, ast.stmt) and not isinstance(node, compound)]

    def starts_where_other_ends(a, b):   # b ...; a   (a begins on the line where b ends)
        return (b.end_lineno, b.end_col_offset) <= (a.lineno, a.col_offset) and a.lineno == b.end_lineno

    return sorted({a.lineno for a in simple for b in simple if starts_where_other_ends(a, b)})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_hold_one_idea(path):
    """A code cell is at most about 25 lines (or says why it is longer) and joins no statements with ';'."""
    problems = []
    for i, code in code_cells(path):
        n_lines = len(code.splitlines())
        if n_lines > MAX_CELL_LINES and not code.lstrip().startswith(LONG_CELL_REASON):
            problems.append(f"cell {i} has {n_lines} lines: split it into cells of one idea, or "
                            f"start it with '{LONG_CELL_REASON} <why>'")
        problems += [f"cell {i} line {n} joins statements with ';'" for n in joined_statement_lines(code)]
    assert not problems, f"{path.name}: " + "; ".join(problems)


JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_assert_says_in_japanese_what_went_wrong(path):
    """A check in a notebook reads as a lesson: ``assert cond, "…"`` with a Japanese message."""
    problems = []
    for i, code in code_cells(path):
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Assert):
                message = ast.get_source_segment(code, node.msg) if node.msg else ""
                if not JAPANESE.search(message or ""):
                    problems.append(f"cell {i} line {node.lineno}: assert without a Japanese message")
    assert not problems, f"{path.name}: " + "; ".join(problems)
