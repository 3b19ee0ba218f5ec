"""``python -m pythonlibs.exercises student [SRC] [DEST]``: write the learner version of the notebooks."""

import argparse
from pathlib import Path

from pythonlibs.exercises.student import write_learner_versions
from pythonlibs.settings import PROJECT_ROOT


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pythonlibs.exercises",
        description="受講者用 (解答例なし) のノートブックを書き出します。")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="解答例のセルを除いたノートブックを書き出す")
    student.add_argument("source", nargs="?", default=PROJECT_ROOT / "notebooks", type=Path)
    student.add_argument("dest", nargs="?", default=PROJECT_ROOT / "student", type=Path)
    args = parser.parse_args()
    written = write_learner_versions(args.source, args.dest)
    for path, removed in written:
        print(f"{path}  (解答例 {removed} セルを除きました)")
    print(f"受講者用のノートブック {len(written)} 冊を {args.dest} に書き出しました。")


if __name__ == "__main__":
    main()
