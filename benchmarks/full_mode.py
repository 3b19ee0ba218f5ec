"""The full-mode record: run chosen notebooks in full mode and write what they took and printed.

    python benchmarks/full_mode.py ch09_cnn ch10_dl_tuning          # full mode (what a learner runs)
    python benchmarks/full_mode.py --quick l01_python                # quick mode (to try the tool)
    python3 benchmarks/full_mode.py --as-script ch09_cnn             # without Jupyter (the GPU machine)

Each notebook runs top to bottom in its own kernel (nbclient, working folder ``notebooks/``), and
its executed copy, outputs kept, is saved under ``benchmarks/results/executed/`` (git-ignored).
One JSON per run goes to ``benchmarks/results/``: the device, torch version and commit, and per
notebook the minutes, whether every cell (and so every check) passed, the first error, and the
final metrics it printed (the last ``val_loss`` / ``val_acc`` and its last printed lines).
``--as-script`` runs each notebook's code cells as one Python script instead (``display`` prints,
figures are drawn but not shown), for a machine that has PyTorch but not Jupyter, such as the
device tool's GPU machine; the record says ``"runner": "script"`` and keeps the script and its
log under ``executed/``.  README's table of full-mode times is written from these files:

    python benchmarks/full_mode.py --readme        # rewrite README's table and each notebook's time line
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from evidence import RESULTS, run_metadata, save_record  # noqa: E402  (benchmarks/ is not a package)

NOTEBOOKS = ROOT / "notebooks"
METRIC = re.compile(r"(val_loss|val_acc)\s*:\s*([0-9.]+)")


def printed_text(notebook) -> list[str]:
    """Every line the notebook printed (stdout streams), in order."""
    lines = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                lines += output.get("text", "").splitlines()
    return lines


def final_metrics(lines: list[str]) -> dict:
    """The last ``val_loss`` and ``val_acc`` printed (as ``fit`` prints them), and the last 3 lines."""
    found = {}
    for line in lines:
        for name, value in METRIC.findall(line):
            found[name] = float(value.rstrip("."))
    found["last_lines"] = [line for line in lines if line.strip()][-3:]
    return found


def _first_error(notebook) -> dict | None:
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return {"cell": index, "error": f"{output.get('ename')}: {output.get('evalue')}"[:500]}
    return None


def _notebook_path(name: str) -> Path:
    path = NOTEBOOKS / f"{name}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"{path} がありません。notebooks/ のファイル名 (拡張子なし) で指定してください。")
    return path


def _environment(quick: bool) -> dict:
    """This process's environment with the mode asked for (the kernel's, not ours)."""
    env = {k: v for k, v in os.environ.items() if k != "DLNB_QUICK"}
    if quick:
        env["DLNB_QUICK"] = "1"
    return env


def run_notebook(name: str, quick: bool, timeout: int, executed: Path) -> dict:
    """Run ``notebooks/<name>.ipynb`` in a fresh kernel; its record (minutes, passed, metrics)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    path = _notebook_path(name)
    notebook = nbformat.read(path, as_version=4)
    env = _environment(quick)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    start = time.perf_counter()
    failure = None
    try:
        client.execute(env=env)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
        failure = {"cell": None, "error": f"{type(error).__name__}: {str(error)[-500:]}"}
    seconds = time.perf_counter() - start
    executed.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, executed / path.name)
    error = _first_error(notebook) or failure
    return {"notebook": name, "minutes": round(seconds / 60, 2), "passed": error is None,
            "error": error, "metrics": final_metrics(printed_text(notebook))}


CELL_MARK = "### full_mode cell "
SCRIPT_PREAMBLE = '''import matplotlib
matplotlib.use("Agg")
try:
    from IPython.display import display
except ImportError:
    def display(*objects):
        """What a notebook would show, printed (IPython is not installed here)."""
        for shown in objects:
            print(shown.to_string() if hasattr(shown, "to_string") else shown)
'''


def notebook_script(notebook: dict) -> str:
    """The code cells of a notebook (its JSON) as one script, each cell announced by a marker line."""
    parts = [SCRIPT_PREAMBLE]
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])          # a list of lines, or one string
            parts.append(f"print({CELL_MARK + str(index)!r}, flush=True)\n{source}\n")
    return "\n".join(parts)


def _script_error(lines: list[str], returncode: int | None, timeout: int) -> dict | None:
    """The cell that was running and the last line of the traceback (or that the time ran out,
    ``returncode`` None), or None after a clean exit."""
    if returncode == 0:
        return None
    cells = [int(line[len(CELL_MARK):]) for line in lines if line.startswith(CELL_MARK)]
    last = [line for line in lines if line.strip()][-1:] or [""]
    message = f"時間切れ ({timeout} 秒で止めました)" if returncode is None else last[0]
    return {"cell": cells[-1] if cells else None, "error": message[:500]}


def run_as_script(name: str, quick: bool, timeout: int, executed: Path) -> dict:
    """Run the code cells of ``notebooks/<name>.ipynb`` as one Python script; its record.

    ``timeout`` is for the whole notebook here.  The script and everything it printed (stdout
    and stderr together) are kept as ``executed/<name>.py`` and ``executed/<name>.log``.
    """
    path = _notebook_path(name)
    executed.mkdir(parents=True, exist_ok=True)
    script, log = executed / f"{name}.py", executed / f"{name}.log"
    script.write_text(notebook_script(json.loads(path.read_text(encoding="utf-8"))), encoding="utf-8")
    start = time.perf_counter()
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen([sys.executable, str(script)], cwd=NOTEBOOKS, env=_environment(quick),
                                   stdout=output, stderr=subprocess.STDOUT)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            returncode = None
    seconds = time.perf_counter() - start
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    error = _script_error(lines, returncode, timeout)
    printed = [line for line in lines if not line.startswith(CELL_MARK)]
    return {"notebook": name, "minutes": round(seconds / 60, 2), "passed": error is None,
            "error": error, "metrics": final_metrics(printed)}


TABLE_START, TABLE_END = "<!-- full-mode-table -->", "<!-- /full-mode-table -->"
COLUMNS = ("CPU", "Colab T4", "H100 級")


def _column(record: dict) -> str | None:
    """Which column of README's table a record's device belongs to (None: a GPU of another kind)."""
    name = record["device_name"]
    if record["device"] == "cpu":
        return "CPU"
    if "T4" in name:
        return "Colab T4"
    return "H100 級" if any(gpu in name for gpu in ("H100", "H200", "H800")) else None


def stop_reason(error: dict | None) -> str | None:
    """Why a run stopped, in a few words for the table: the missing pretrained weights (the
    course's stop by design when they cannot be had), the time limit, or the failing cell."""
    if not error:
        return None
    message = error.get("error") or ""
    if "学習済み重み" in message:
        return "学習済み重みがないため"
    if message.startswith("時間切れ") or "Timeout" in message.split(":")[0]:
        return "時間切れ"
    kind = message.split(":")[0].strip() or "エラー"
    return f"セル {error['cell']} の {kind}" if error.get("cell") is not None else kind


def _cell(result: dict, record: dict) -> str:
    """"4.5 分 ✅ (device, date)"; a run that stopped says so, and why ("❌ 4.0 分で停止 (時間切れ;
    ...)")."""
    where = f"{record['cpu_threads']} コア" if record["device"] == "cpu" else record["device_name"]
    if record.get("runner") == "script":
        where += "、スクリプトとして実行"
    if result["passed"]:
        return f"{result['minutes']:.1f} 分 ✅ ({where}, {record['date']})"
    reason = stop_reason(result.get("error"))
    why = f"{reason}; " if reason else ""
    return f"❌ {result['minutes']:.1f} 分で停止 ({why}{where}, {record['date']})"


def latest_cells(results: Path = RESULTS) -> dict[tuple[str, str], str]:
    """``{(notebook, column): "4.5 分 ✅ (device, date)"}`` from the latest record of each pair."""
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    for path in sorted(results.glob("full_*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        column = _column(record)
        for result in record["notebooks"] if column else []:
            key = (result["notebook"], column)
            if key not in latest or record["started"] >= latest[key][0]:
                latest[key] = (record["started"], _cell(result, record))
    return {key: cell for key, (_, cell) in latest.items()}


def _notebook_names() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))


def readme_table(results: Path = RESULTS) -> str:
    """The markdown table of the latest full-mode minutes per notebook and device ("未計測" where none)."""
    cells = latest_cells(results)
    lines = ["| notebook | " + " | ".join(COLUMNS) + " |", "| --- |" + " --- |" * len(COLUMNS)]
    for notebook in _notebook_names():
        lines.append(f"| `{notebook}` | " + " | ".join(cells.get((notebook, c), "未計測") for c in COLUMNS) + " |")
    return "\n".join(lines)


TIME_LINE = "**フルモードの所要時間**"


def time_line(notebook: str, cells: dict) -> str:
    """The line each notebook's first cell shows: its measured full-mode time per device."""
    times = " / ".join(f"{c} {cells.get((notebook, c), '未計測')}" for c in COLUMNS)
    return f"{TIME_LINE} (測定の記録 `benchmarks/results/`、README の表と同じ): {times}"


def write_time_lines(results: Path = RESULTS) -> None:
    """Put (or renew) :func:`time_line` as the last line of every notebook's first cell."""
    import nbformat

    cells = latest_cells(results)
    for name in _notebook_names():
        path = NOTEBOOKS / f"{name}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        first = notebook.cells[0]
        kept = [line for line in first.source.splitlines() if not line.startswith(TIME_LINE)]
        while kept and not kept[-1].strip():
            kept.pop()
        first.source = "\n".join(kept + ["", time_line(name, cells)])
        nbformat.write(notebook, path)


def write_readme_table(readme: Path = ROOT / "README.md") -> None:
    """Replace the table between README's markers with :func:`readme_table`."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(TABLE_START) + len(TABLE_START), text.index(TABLE_END)
    readme.write_text(text[:start] + "\n" + readme_table() + "\n" + text[end:], encoding="utf-8")


def _device() -> str:
    import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="notebooks/ のファイル名 (拡張子なし)、例: ch09_cnn")
    parser.add_argument("--readme", action="store_true",
                        help="記録から README のフルモードの表と、各 notebook の最初のセルの所要時間を書き直す")
    parser.add_argument("--quick", action="store_true", help="クイックモードで実行する (道具の確認用)")
    parser.add_argument("--as-script", action="store_true",
                        help="Jupyter を使わず、コードセルを 1 つのスクリプトとして実行する (GPU マシン用)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="1 セルの制限時間 (秒)。--as-script では notebook 1 つ全体の制限時間")
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON を書くフォルダ")
    args = parser.parse_args(argv)
    if args.readme:
        write_readme_table()
        write_time_lines()
        print(readme_table())
        return ROOT / "README.md"
    if not args.notebooks:
        parser.error("実行する notebook を 1 つ以上指定してください (例: ch09_cnn)。")
    record = {**run_metadata(_device()), "mode": "quick" if args.quick else "full",
              "runner": "script" if args.as_script else "nbclient",
              "started": datetime.datetime.now().isoformat(timespec="seconds"), "notebooks": []}
    run = run_as_script if args.as_script else run_notebook
    stamp = record["started"].replace(":", "").replace("-", "")
    device = re.sub(r"[^A-Za-z0-9]+", "_", record["device_name"]).strip("_")
    path = None
    for name in args.notebooks:
        result = run(name, args.quick, args.timeout, args.out / "executed")
        record["notebooks"].append(result)
        print(f"{name}: {result['minutes']:.2f} 分、{'全セル成功' if result['passed'] else '失敗: ' + str(result['error'])}"
              f"、{ {k: v for k, v in result['metrics'].items() if k != 'last_lines'} }", flush=True)
        # written after every notebook: a run stopped later keeps the notebooks it finished
        path = save_record(record, f"{record['mode']}_{stamp}_{device}", args.out)
    return path


if __name__ == "__main__":
    main()
