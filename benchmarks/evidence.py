"""What every benchmark result records next to its numbers: when, where, with what code."""

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

RESULTS = Path(__file__).resolve().parent / "results"
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def current_commit() -> str:
    """The commit of this code: git's, else ``DLNB_COMMIT`` (a copy without git, such as the one
    ``gpu_session.py`` sends to the GPU machine), else "unknown"."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=Path(__file__).resolve().parent).stdout.strip()
    except FileNotFoundError:   # no git on this machine
        commit = ""
    return commit or os.environ.get("DLNB_COMMIT", "unknown")


def run_metadata(device) -> dict:
    """Commit, date, torch version, device name and CPU threads of this run."""
    device = torch.device(device)
    commit = current_commit()
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else platform.processor() or platform.machine())
    return {"commit": commit, "date": datetime.date.today().isoformat(), "torch": torch.__version__,
            "device": str(device), "device_name": name, "cpu_threads": torch.get_num_threads()}


def save_record(record: dict, name: str, folder: Path = RESULTS) -> Path:
    """Write ``record`` as ``folder/name.json`` (Japanese kept readable) and say where."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"記録: {path}")
    return path


def notebook_class(notebook: str, name: str) -> type:
    """The class ``name`` as the notebook ``notebooks/<notebook>.ipynb`` defines it (its cell, run).

    Benchmarks measure the chapters' own models this way instead of keeping copies of them.
    """
    cells = json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and f"class {name}(" in source:
            namespace = {"torch": torch, "nn": nn, "F": F, "np": np}
            exec(compile(source, f"{notebook}.ipynb", "exec"), namespace)
            return namespace[name]
    raise LookupError(f"{notebook}.ipynb に class {name} の定義がありません。")
