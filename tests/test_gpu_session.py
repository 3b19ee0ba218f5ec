"""benchmarks/gpu_session.py: the one prepared run for the GPU machine, tried here on the CPU."""

import json
import zipfile

import pytest


@pytest.fixture(scope="module")
def gpu_session(load_benchmark):
    return load_benchmark("gpu_session")


def test_a_run_records_quick_and_full_mode_in_the_files_the_device_tool_returns(gpu_session, tmp_path):
    out, results = tmp_path / "out", tmp_path / "results"
    gpu_session.run(["l01_python"], budget=300, out=out, results=results, scratch=tmp_path / "scratch",
                    fit_speed=False)
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8, f"the device tool returns at most 8 files: {files}"
    assert {"steps.log", "executed.zip"} <= set(files)
    log = (out / "steps.log").read_text(encoding="utf-8")
    assert all(f"===== {step}:" in log for step in ("gpu_tests", "quick_notebooks", "full_notebooks"))
    records = {json.loads((out / name).read_text(encoding="utf-8"))["mode"]: name
               for name in files if name.endswith(".json")}
    assert set(records) == {"quick", "full"}
    full = json.loads((out / records["full"]).read_text(encoding="utf-8"))
    assert full["runner"] == "script" and full["notebooks"][0]["passed"], full["notebooks"][0]["error"]
    assert (results / records["full"]).is_file(), "the full-mode record is not kept beside the others"
    with zipfile.ZipFile(out / "executed.zip") as archive:
        names = set(archive.namelist())
    assert {"quick/l01_python.py", "quick/l01_python.log", "results/l01_python.log"} <= names


def test_steps_that_do_not_fit_the_budget_are_skipped_and_said(gpu_session, tmp_path, capsys):
    gpu_session.run(["l01_python"], budget=1, out=tmp_path / "out", results=tmp_path / "results",
                    scratch=tmp_path / "scratch")
    lines = capsys.readouterr().out.splitlines()
    assert all("時間が足りないので飛ばします" in line for line in lines)
    assert {line.split("]")[0] + "]" for line in lines} >= {
        "[gpu_tests]", "[fit_speed]", "[fit_speed_112px]", "[quick_notebooks]", "[full_notebooks]"}
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["executed.zip"]


def test_what_travels_is_measured_against_the_device_tools_limit(gpu_session):
    tracked = gpu_session.travelling_bytes()
    assert 100_000 < tracked, "the project's own files were not counted"
    assert gpu_session.TREE_LIMIT == 64 * 2**20


def test_prepare_says_where_the_archive_is_missing(gpu_session, tmp_path):
    with pytest.raises(SystemExit, match="cifar10-images.zip がありません"):
        gpu_session.prepare(tmp_path, airbench=False)


def test_the_speed_variants_asked_for_are_the_benchmarks_own(gpu_session, load_benchmark):
    bench = load_benchmark("bench_fit_speed")
    assert set(gpu_session.BIG_MODEL_VARIANTS) <= set(bench.FIT_VARIANTS)
