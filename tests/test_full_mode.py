"""benchmarks/full_mode.py: the record of a notebook run (here in quick mode, on a short lecture)."""

import json
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def full_mode(load_benchmark):
    return load_benchmark("full_mode")


def test_a_run_writes_one_record_with_minutes_checks_and_metrics(full_mode, tmp_path, monkeypatch):
    monkeypatch.setenv("DLNB_QUICK", "1")
    path = full_mode.main(["--quick", "l01_python", "--out", str(tmp_path)])
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["mode"] == "quick" and record["torch"] and record["commit"] and record["device"]
    [result] = record["notebooks"]
    assert result["notebook"] == "l01_python" and result["passed"] and result["error"] is None
    assert 0 < result["minutes"] < 10
    assert result["metrics"]["last_lines"], "the lines the notebook printed last are missing"
    executed = nbformat.read(tmp_path / "executed" / "l01_python.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in executed.cells), "the executed copy kept no outputs"


def test_a_failing_notebook_is_recorded_as_failed_with_its_error(full_mode, tmp_path, monkeypatch):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print('Epoch [1/1], loss: 1.0 acc: 0.5 val_loss: 0.9, val_acc: 0.61')"),
        nbformat.v4.new_code_cell("raise ValueError('壊れたセル')")])
    monkeypatch.setattr(full_mode, "NOTEBOOKS", tmp_path)
    nbformat.write(notebook, tmp_path / "broken.ipynb")
    result = full_mode.run_notebook("broken", quick=True, timeout=60, executed=tmp_path / "executed")
    assert not result["passed"]
    assert "ValueError" in result["error"]["error"] and result["error"]["cell"] == 1
    assert result["metrics"]["val_acc"] == 0.61 and result["metrics"]["val_loss"] == 0.9


def test_a_notebook_runs_as_a_script_without_jupyter(full_mode, tmp_path, monkeypatch):
    """--as-script (for the GPU machine, which has no Jupyter): the same record from a plain script."""
    monkeypatch.setenv("DLNB_QUICK", "1")
    path = full_mode.main(["--quick", "--as-script", "l01_python", "--out", str(tmp_path)])
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["runner"] == "script"
    [result] = record["notebooks"]
    assert result["passed"] and result["error"] is None, result["error"]
    assert result["metrics"]["last_lines"]
    assert not any(full_mode.CELL_MARK in line for line in result["metrics"]["last_lines"])
    assert (tmp_path / "executed" / "l01_python.log").read_text(encoding="utf-8").strip()


def test_a_failing_script_names_its_cell_and_a_hung_one_its_timeout(full_mode, tmp_path, monkeypatch):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 見出し"),
        nbformat.v4.new_code_cell("print('Epoch [1/1], loss: 1.0 acc: 0.5 val_loss: 0.9, val_acc: 0.61')"),
        nbformat.v4.new_code_cell("display('表示')\nraise ValueError('壊れたセル')"),
        nbformat.v4.new_code_cell("print('ここまで来ない')")])
    monkeypatch.setattr(full_mode, "NOTEBOOKS", tmp_path)
    nbformat.write(notebook, tmp_path / "broken.ipynb")
    result = full_mode.run_as_script("broken", quick=True, timeout=60, executed=tmp_path / "executed")
    assert not result["passed"] and result["error"]["cell"] == 2
    assert "ValueError: 壊れたセル" in result["error"]["error"]
    assert result["metrics"]["val_acc"] == 0.61
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(30)")]),
                   tmp_path / "hung.ipynb")
    result = full_mode.run_as_script("hung", quick=True, timeout=2, executed=tmp_path / "executed")
    assert not result["passed"] and result["error"] == {"cell": 0, "error": "時間切れ (2 秒で止めました)"}
    assert result["minutes"] < 0.5


def test_an_unknown_notebook_is_named(full_mode, tmp_path):
    with pytest.raises(FileNotFoundError, match="ありません"):
        full_mode.run_notebook("ch99_missing", quick=True, timeout=60, executed=tmp_path)


@pytest.mark.parametrize("quick, printed", [(True, "quick=1"), (False, "quick=None")])
def test_the_kernel_runs_in_the_mode_asked_for_whatever_this_process_has(full_mode, tmp_path, monkeypatch,
                                                                          quick, printed):
    monkeypatch.setenv("DLNB_QUICK", "1")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nprint(f\"quick={os.environ.get('DLNB_QUICK')}\")")])
    monkeypatch.setattr(full_mode, "NOTEBOOKS", tmp_path)
    nbformat.write(notebook, tmp_path / "mode.ipynb")
    result = full_mode.run_notebook("mode", quick=quick, timeout=60, executed=tmp_path / "executed")
    assert result["metrics"]["last_lines"] == [printed]


def test_readmes_table_is_the_one_the_records_give(full_mode):
    """README shows the recorded minutes, and "未計測" for every notebook and device not measured."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(full_mode.TABLE_START) + len(full_mode.TABLE_START)
    table = readme[start:readme.index(full_mode.TABLE_END)].strip()
    assert table == full_mode.readme_table(), "README の表が記録と違います: python benchmarks/full_mode.py --readme"
    rows = [line for line in table.splitlines()[2:]]
    assert len(rows) == len(list((ROOT / "notebooks").glob("*.ipynb")))


@pytest.mark.parametrize("error, reason", [
    ({"cell": 12, "error": "RuntimeError: resnet18 の学習済み重み (ResNet18_Weights.IMAGENET1K_V1) を"
                           "ダウンロードできませんでした"}, "学習済み重みがないため"),
    ({"cell": 40, "error": "時間切れ (530 秒で止めました)"}, "時間切れ"),
    ({"cell": None, "error": "CellTimeoutError: A cell timed out while it was being executed"}, "時間切れ"),
    ({"cell": 7, "error": "AssertionError: 検証精度が 50% に届きません"}, "セル 7 の AssertionError"),
    (None, None)])
def test_a_stopped_run_says_why_in_a_few_words(full_mode, error, reason):
    assert full_mode.stop_reason(error) == reason
    record = {"device": "cpu", "cpu_threads": 2, "date": "2026-12-06"}
    cell = full_mode._cell({"minutes": 0.36, "passed": False, "error": error}, record)
    assert cell == f"❌ 0.4 分で停止 ({reason + '; ' if reason else ''}2 コア, 2026-12-06)"


def test_the_table_takes_the_latest_record_per_notebook_and_device(full_mode, tmp_path):
    def record(started, device, name, minutes, passed=True):
        return {"started": started, "device": device, "device_name": name, "cpu_threads": 2, "date": started[:10],
                "notebooks": [{"notebook": "ch09_cnn", "minutes": minutes, "passed": passed}]}
    for i, rec in enumerate([record("2026-12-01T10:00:00", "cuda", "NVIDIA H100 80GB HBM3", 9.0),
                             record("2026-12-02T10:00:00", "cuda", "NVIDIA H100 80GB HBM3", 4.5),
                             record("2026-12-03T10:00:00", "cuda", "Tesla T4", 19.0, passed=False)]):
        (tmp_path / f"full_{i}.json").write_text(json.dumps(rec), encoding="utf-8")
    row = next(line for line in full_mode.readme_table(tmp_path).splitlines() if "`ch09_cnn`" in line)
    assert row == "| `ch09_cnn` | 未計測 | ❌ 19.0 分で停止 (Tesla T4, 2026-12-03) | 4.5 分 ✅ (NVIDIA H100 80GB HBM3, 2026-12-02) |"


def test_each_notebook_opens_with_its_recorded_full_mode_time(full_mode):
    """The first cell of every notebook ends with the line of its measured times ("未計測" where none)."""
    cells = full_mode.latest_cells()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        first = nbformat.read(path, as_version=4).cells[0]
        assert first.cell_type == "markdown", f"{path.name}: the first cell is not the chapter's introduction"
        assert first.source.splitlines()[-1] == full_mode.time_line(path.stem, cells), (
            f"{path.name}: 最初のセルの所要時間が記録と違います: python benchmarks/full_mode.py --readme")


def test_the_record_keeps_each_finished_notebook_when_a_later_one_never_ends(full_mode, tmp_path, monkeypatch):
    """Stopped during its second notebook (as a time limit stops it), the run has already written the first."""
    monkeypatch.setattr(full_mode, "NOTEBOOKS", tmp_path)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('done')")]),
                   tmp_path / "first.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise KeyboardInterrupt")]),
                   tmp_path / "second.ipynb")

    run_as_script = full_mode.run_as_script

    def stop_at_second(name, *args):
        if name == "second":
            raise KeyboardInterrupt
        return run_as_script(name, *args)
    monkeypatch.setattr(full_mode, "run_as_script", stop_at_second)
    with pytest.raises(KeyboardInterrupt):
        full_mode.main(["--quick", "--as-script", "first", "second", "--out", str(tmp_path / "out")])
    [path] = (tmp_path / "out").glob("quick_*.json")
    record = json.loads(path.read_text(encoding="utf-8"))
    assert [r["notebook"] for r in record["notebooks"]] == ["first"] and record["notebooks"][0]["passed"]
