"""Exercises (演習) with automatic checks that answer in Japanese.

In a chapter, the learner completes a function in an exercise cell and runs its check::

    def pred(x, w, b):
        # ここにコードを書いてください
        raise NotImplementedError

    check_exercise("3.1", pred)      # ✅ 正解 / ❌ what is wrong, with a hint / 📝 未回答

Each check calls the learner's function on inputs the notebook never showed and compares the
result with a reference; for the usual mistakes it recognises the wrong result and names the
mistake.  An answer that is not written yet (``raise NotImplementedError`` or ``...``) is
reported as 未回答 and never stops a top-to-bottom run.

Below each exercise a solution cell (first line ``# 解答例 (演習 3.1)``) defines the worked
solution and calls :func:`check_solution`, which stops the run if the solution does not pass:
CI runs every solution through its check.  ``python -m pythonlibs.exercises student SRC DEST``
(``./course student``) writes the learner version of the notebooks without the solution cells.

The checks of chapter N live in ``pythonlibs/exercises/chNN.py`` (lectures: ``lNN.py``) and
register themselves with :func:`exercise`.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

__all__ = ["Wrong", "exercise", "check_exercise", "check_solution", "registered_exercises",
           "expect_tensor", "expect_close", "expect_number", "SOLUTION_MARK"]

SOLUTION_MARK = "# 解答例"   # first line of every solution cell: "# 解答例 (演習 3.1)"


class Wrong(Exception):
    """A wrong answer; the message is the Japanese hint shown to the learner."""


@dataclass(frozen=True)
class Exercise:
    key: str                          # "3.1"; lectures "L1.2"
    title: str                        # what the learner writes, in Japanese
    check: Callable[[object], None]   # raises Wrong(hint) for a wrong answer


_EXERCISES: dict[str, Exercise] = {}


def exercise(key: str, title: str):
    """Register the decorated function as the check of exercise ``key``."""
    def register(check):
        if key in _EXERCISES:
            raise ValueError(f"exercise {key} is registered twice")
        _EXERCISES[key] = Exercise(key, title, check)
        return check
    return register


def _module_of(key: str) -> str:
    """The module that holds exercise ``key``'s check: "3.1" -> ch03, "L1.2" -> l01."""
    chapter = key.split(".")[0]
    if chapter.upper().startswith("L"):
        return f"pythonlibs.exercises.l{int(chapter[1:]):02d}"
    return f"pythonlibs.exercises.ch{int(chapter):02d}"


def _lookup(key: str) -> Exercise:
    importlib.import_module(_module_of(key))
    if key not in _EXERCISES:
        raise KeyError(f"演習 {key} はありません (登録されている演習: {', '.join(sorted(_EXERCISES))})")
    return _EXERCISES[key]


def registered_exercises(chapter_module: str) -> list[Exercise]:
    """The exercises whose checks live in ``pythonlibs.exercises.<chapter_module>`` (e.g. "ch03")."""
    importlib.import_module(f"pythonlibs.exercises.{chapter_module}")
    return [e for e in _EXERCISES.values() if _module_of(e.key).endswith("." + chapter_module)]


def _unanswered(answer) -> bool:
    return answer is Ellipsis or answer is None


def _outcome(key: str, answer) -> tuple[str, str]:
    """("ok" | "wrong" | "unanswered", Japanese text) for ``answer`` to exercise ``key``."""
    found = _lookup(key)
    if _unanswered(answer):
        return "unanswered", ""
    torch_state, numpy_state = torch.random.get_rng_state(), np.random.get_state()
    try:
        found.check(answer)
    except NotImplementedError:
        return "unanswered", ""
    except Wrong as wrong:
        return "wrong", str(wrong)
    except Exception as error:  # the learner's code raised: show what, as a hint
        return "wrong", (f"実行するとエラーになりました: {type(error).__name__}: {error}。"
                         "エラーの行と、引数の形・型を確かめてください。")
    finally:   # the check draws its own inputs; the notebook's random stream stays as it was
        torch.random.set_rng_state(torch_state)
        np.random.set_state(numpy_state)
    return "ok", ""


def check_exercise(key: str, answer) -> bool | None:
    """Check the learner's ``answer`` to exercise ``key`` and say the result in Japanese.

    Returns True (right), False (wrong: the hint is printed) or None (未回答: not written yet).
    Never raises for a wrong or missing answer, so the notebook runs on.
    """
    found = _lookup(key)
    status, text = _outcome(key, answer)
    if status == "ok":
        print(f"✅ 演習 {key} ({found.title}): 正解です。")
        return True
    if status == "unanswered":
        print(f"📝 演習 {key} ({found.title}): 未回答です。`raise NotImplementedError` の行を消して"
              "コードを書き、このセルをもう一度実行してください。")
        return None
    print(f"❌ 演習 {key} ({found.title}): まだ違います。\n   ヒント: {text}")
    return False


def check_solution(key: str, answer) -> None:
    """For solution cells: the worked solution must pass its own check (CI runs them all)."""
    status, text = _outcome(key, answer)
    if status != "ok":
        raise AssertionError(f"演習 {key} の解答例がチェックを通りません ({status}): {text}")
    print(f"✅ 演習 {key} の解答例はチェックを通りました。")


# ---------------------------------------------------------------------------------------------
# Comparisons that explain what differs
# ---------------------------------------------------------------------------------------------

def expect_tensor(answer, expected: torch.Tensor, name: str = "答え", dtype: bool = False) -> None:
    """``answer`` must be a tensor of ``expected``'s shape (and dtype, if asked) and values."""
    if not torch.is_tensor(answer):
        raise Wrong(f"{name}がテンソルではありません ({type(answer).__name__})。"
                    "torch.tensor(...) や PyTorch の演算で作ったテンソルを返してください。")
    if answer.shape != expected.shape:
        raise Wrong(f"{name}の形が違います: 正しくは {tuple(expected.shape)}、あなたの答えは "
                    f"{tuple(answer.shape)}。.shape で形を確かめてください。")
    if dtype and answer.dtype != expected.dtype:
        raise Wrong(f"{name}の型 (dtype) が違います: 正しくは {expected.dtype}、あなたの答えは {answer.dtype}。")
    expect_close(answer, expected, name)


def expect_close(answer, expected, name: str = "答え", rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Values must agree within a small tolerance (shapes are checked by :func:`expect_tensor`)."""
    got = torch.as_tensor(answer, dtype=torch.float64).detach()
    want = torch.as_tensor(expected, dtype=torch.float64).detach()
    if got.shape != want.shape or not torch.allclose(got, want, rtol=rtol, atol=atol):
        example = (f"正しくは {want.flatten()[:3].tolist()} …、あなたの答えは {got.flatten()[:3].tolist()} …"
                   if got.shape == want.shape and got.numel() > 1
                   else f"正しくは {want.tolist()}、あなたの答えは {got.tolist()}")
        raise Wrong(f"{name}の値が違います ({example})。")


def expect_number(answer, expected: float, name: str = "答え", rtol: float = 1e-4) -> None:
    """``answer`` must be a plain number (or a 1-element tensor) close to ``expected``."""
    if torch.is_tensor(answer):
        if answer.numel() != 1:
            raise Wrong(f"{name}は 1 つの数にしてください (あなたの答えの形は {tuple(answer.shape)})。")
        answer = answer.item()
    if not isinstance(answer, (int, float, np.number)) or isinstance(answer, bool):
        raise Wrong(f"{name}は数にしてください (あなたの答えは {type(answer).__name__})。")
    if not math.isclose(float(answer), expected, rel_tol=rtol, abs_tol=1e-8):
        raise Wrong(f"{name}の値が違います: 正しくは {expected:.6g}、あなたの答えは {float(answer):.6g}。")
