"""What every benchmark result records next to its numbers: when, where, with what code."""

import datetime
import platform
import subprocess

import torch


def run_metadata(device) -> dict:
    """Commit, date, torch version, device name and CPU threads of this run."""
    device = torch.device(device)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else platform.processor() or platform.machine())
    return {"commit": commit, "date": datetime.date.today().isoformat(), "torch": torch.__version__,
            "device": str(device), "device_name": name, "cpu_threads": torch.get_num_threads()}
