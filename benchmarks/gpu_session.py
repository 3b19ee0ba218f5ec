"""One prepared run on the device tool's GPU machine: CI's GPU checks, then the records that need a GPU.

That machine has PyTorch but neither Jupyter nor network, lends 15 minutes of device time per
session (one command at most 10 minutes), receives only the working tree (64 MiB with what is
carried) and sends back at most 8 files.  So the course's data travels as the offline mirror's
CIFAR-10 archive, notebooks run as scripts (``full_mode.py --as-script``) with the few packages
they import that the machine lacks carried as wheels, and each step runs only while time is left.

Here, first (it copies the archive into the git-ignored ``.carry/``, downloads the wheels for
the machine's Python 3.12 into ``.whl/`` and, with ``--airbench``, builds airbench's wheel
there too; it prints the device call to make)::

    python benchmarks/gpu_session.py prepare [--airbench]

There, as the device tool's command, carrying ``.carry`` (and ``.whl``)::

    python3 benchmarks/gpu_session.py run --budget 540 ch09_cnn

``run`` does, in this order, while the budget lasts: the GPU tests (``pytest -m gpu``); the
speed-ups of ``fit`` itself (``bench_fit_speed.py --through-fit``: ch10's CNNs and ch15's
linear model, then ch11/ch12's ResNet-18 and VGG-19-BN at 112 pixels); the named notebooks in quick mode as scripts
(our CI on CUDA, as far as it can go without Jupyter); the same notebooks in full mode
(``full_mode.py --as-script``: the records behind README's table); ``bench_fast_cifar.py
--airbench`` when airbench's wheel was carried.  The log and every new record are copied to
``$OUT``; commit the records, then run ``full_mode.py --readme``.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from evidence import RESULTS, current_commit  # noqa: E402  (benchmarks/ is not a package)

CARRY, WHEELS = ROOT / ".carry", ROOT / ".whl"
MIRROR = CARRY / "datasets"
ARCHIVE = "cifar10-images.zip"
TREE_LIMIT = 64 * 2**20        # what the device tool sends: the working tree and the carried paths
# What the notebooks import that the machine's image lacks (IPython without jedi, which it
# imports only to complete code), at the versions of this environment.
NOTEBOOK_PACKAGES = ("ipython", "ipython_pygments_lexers", "matplotlib-inline", "pexpect", "ptyprocess",
                     "prompt_toolkit", "wcwidth", "stack_data", "executing", "asttokens", "pure_eval",
                     "traitlets", "comm", "ipywidgets", "torchinfo", "torchviz", "graphviz")
WHEEL_PLATFORM = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                  *[arg for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
                                    "manylinux1_x86_64") for arg in ("--platform", tag)]]


def travelling_bytes() -> int:
    """Bytes of the files that would travel: tracked and untracked-not-ignored files, and the carry."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = [ROOT / name for name in listed.split("\0") if name]
    files += [p for folder in (CARRY, WHEELS) if folder.is_dir() for p in folder.rglob("*")]
    return sum(p.stat().st_size for p in files if p.is_file())


def prepare(source: Path, airbench: bool) -> None:
    """Put the mirror's CIFAR-10 archive (and airbench's wheel) where the device call carries them."""
    archive = source / ARCHIVE
    if not archive.is_file():
        sys.exit(f"{archive} がありません。--mirror でオフラインミラーのフォルダを指定してください。")
    MIRROR.mkdir(parents=True, exist_ok=True)
    shutil.copy2(archive, MIRROR / ARCHIVE)
    WHEELS.mkdir(exist_ok=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in NOTEBOOK_PACKAGES]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", *WHEEL_PLATFORM,
                    "-d", str(WHEELS), *pins], check=True)
    if airbench:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(WHEELS),
                        "airbench==0.1.8"], check=True)
    (CARRY / "commit.txt").write_text(current_commit(), encoding="utf-8")   # that copy has no git
    carry = [".carry", ".whl"]
    size = travelling_bytes()
    print(f"送るもの: {size / 2**20:.1f} MiB (上限 {TREE_LIMIT / 2**20:.0f} MiB)")
    if size > TREE_LIMIT:
        sys.exit("大きすぎます。.carry/ か .whl/ から要らないものを消してください。")
    print(f"device run: carry={carry}, timeout_s=600, "
          "command='python3 benchmarks/gpu_session.py run --budget 540 ch09_cnn'")


def _step(title: str, command: list[str], deadline: float, out: Path, env: dict) -> None:
    """Run one step with what is left of the budget; its output is added to ``out/steps.log``."""
    left = deadline - time.monotonic()
    if left < 30:
        print(f"[{title}] 時間が足りないので飛ばします (残り {left:.0f} 秒)", flush=True)
        return
    print(f"[{title}] {' '.join(command)} (残り {left:.0f} 秒)", flush=True)
    start = time.monotonic()
    with (out / "steps.log").open("a", encoding="utf-8") as log:
        log.write(f"\n===== {title}: {' '.join(command)}\n")
        log.flush()
        try:
            code = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=left).returncode
        except subprocess.TimeoutExpired:
            code = "時間切れ"
    print(f"[{title}] 終了 {code}, {time.monotonic() - start:.0f} 秒", flush=True)


def _install_wheels(env: dict, site: Path) -> None:
    """Install the carried wheels into ``site`` and put it, and the project, on the path."""
    wheels = sorted(map(str, WHEELS.glob("*.whl"))) if WHEELS.is_dir() else []
    if wheels:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                        "--target", str(site), *wheels], check=True)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(site), env.get("PYTHONPATH", "")])


BIG_MODEL_VARIANTS = ("host-batches", "device-batches+fast-kernels", "device-batches+fast-kernels+channels_last",
                      "device-batches+fast-kernels+amp", "device-batches+fast-kernels+channels_last+amp")


def run(notebooks: list[str], budget: float, out: Path, results: Path = RESULTS,
        scratch: Path = Path("/tmp/gpu_session"), fit_speed: bool = True) -> None:
    """The GPU checks and records, in order of importance, each only while the budget lasts.

    ``out`` receives at most 8 files: ``steps.log`` (every step's output), the records (step
    speed, quick mode, full mode, airbench comparison) and ``executed.zip`` (every notebook's
    script and log).
    """
    deadline, today = time.monotonic() + budget, datetime.date.today().isoformat()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DLNB_DATA_MIRROR": str(MIRROR), "PYTHONUNBUFFERED": "1"}
    env.pop("DLNB_QUICK", None)
    if (CARRY / "commit.txt").is_file():
        env["DLNB_COMMIT"] = (CARRY / "commit.txt").read_text(encoding="utf-8").strip()
    _install_wheels(env, scratch / "site")
    quick = scratch / "quick"
    shutil.rmtree(quick, ignore_errors=True)          # only this run's quick-mode record goes back
    before = set(results.glob("*.json"))
    python = sys.executable
    _step("gpu_tests", [python, "-m", "pytest", "-q", "-m", "gpu", "tests/test_gpu.py"], deadline, out, env)
    if fit_speed:
        # fit itself, with each speed-up and both compile modes, on ch10's two CNNs (CNN_v2 trains
        # three times there; CNN_v4 has BatchNorm) and ch15's linear model (the floor of a step);
        # --profile: the kernels launched and the waits per step.  What the chapters should use.
        _step("fit_speed", [python, "benchmarks/bench_fit_speed.py", "--through-fit", "--models", "CNN_v2",
                            "CNN_v4", "Linear", "--profile", "host-batches", "device-batches",
                            "--json", f"fit_speed_{today}"], deadline, out, env)
        # ch11/ch12's ResNet-18 and VGG-19-BN on 112-pixel images: bound by arithmetic, where
        # mixed precision (amp) should pay most; no compilation (it would take minutes)
        _step("fit_speed_112px", [python, "benchmarks/bench_fit_speed.py", "--through-fit", "--models", "resnet18",
                                  "vgg19_bn", "--fit-images", "3000", "--variants", *BIG_MODEL_VARIANTS,
                                  "--json", f"fit_speed_112px_{today}"], deadline, out, env)
    full_mode = [python, "benchmarks/full_mode.py", "--as-script"]
    if notebooks:
        _step("quick_notebooks", [*full_mode, "--quick", *notebooks, "--out", str(quick)],
              deadline, out, {**env, "DLNB_QUICK": "1"})
        # each notebook stops a little before the budget does, so that its record is still written
        notebook_limit = str(max(30, int(deadline - time.monotonic()) - 20))
        _step("full_notebooks", [*full_mode, *notebooks, "--timeout", notebook_limit, "--out", str(results)],
              deadline, out, env)
    if WHEELS.is_dir() and any(WHEELS.glob("airbench-*.whl")):
        _step("fast_cifar_vs_airbench", [python, "benchmarks/bench_fast_cifar.py", "--airbench",
                                         "--seeds", "0", "1", "2", "--json", f"fast_cifar_vs_airbench_{today}"],
              deadline, out, env)
    for path in sorted(set(results.glob("*.json")) - before) + sorted(quick.glob("*.json")):
        shutil.copy2(path, out / path.name)
        print(f"記録: {path.name}", flush=True)
    executed = [folder for folder in (quick / "executed", results / "executed") if folder.is_dir()]
    with zipfile.ZipFile(out / "executed.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for folder in executed:
            for path in folder.iterdir():
                archive.write(path, f"{folder.parent.name}/{path.name}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", required=True)
    make = verbs.add_parser("prepare", help="ここで: データ (と airbench) を .carry/ .whl/ に用意する")
    make.add_argument("--mirror", type=Path, default=ROOT.parent / "shared" / "datasets")
    make.add_argument("--airbench", action="store_true", help="airbench の wheel も作る")
    go = verbs.add_parser("run", help="GPU マシンで: 検査と記録を予算の時間内で順に")
    go.add_argument("notebooks", nargs="*", help="フルモードで記録する notebook (例: ch09_cnn)")
    go.add_argument("--budget", type=float, default=540, help="全体の秒数 (device の 1 回は 600 秒まで)")
    go.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "benchmarks" / "results" / "gpu")))
    args = parser.parse_args(argv)
    if args.verb == "prepare":
        prepare(args.mirror, args.airbench)
    else:
        run(args.notebooks, args.budget, args.out)


if __name__ == "__main__":
    main()
