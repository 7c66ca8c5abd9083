"""The machine a run trained on, kept beside it in ``machine.json``, so that every table can name
the hardware of its numbers (timings, and bf16 results, depend on it).

``machine.json`` = ``{"trained_on": [{"machine": str, "processes": int, "from_epoch": int}]}``:
one entry per machine, appended when a run starts or resumes somewhere new.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from .files import write_atomic
from .rundir import MACHINE_FILE, read_machines


def describe(device: torch.device) -> str:
    """One line naming ``device`` and the torch build, e.g. ``Intel(R) Xeon(R) Processor (AVX512,
    AMX), 1 thread, torch 2.13.0+cpu`` or ``NVIDIA H100 80GB HBM3, torch 2.11.0+cu130``."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        features = [torch.backends.cpu.get_cpu_capability()]
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private: may go in a release
        if amx is not None and amx():
            features.append("AMX")
        threads = torch.get_num_threads()
        name = f"{_cpu_model()} ({', '.join(features)}), {threads} thread{'s' * (threads > 1)}"
    else:
        name = device.type
    return f"{name}, torch {torch.__version__}"


def _cpu_model() -> str:
    """The processor's marketing name where the OS tells it (Linux), else its architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def record(run: Path, machine: str, processes: int, from_epoch: int) -> None:
    """Append (machine, processes) to ``run/machine.json`` unless it is the last entry already
    (a resume on the same machine)."""
    entries = read_machines(run)
    if entries and (entries[-1].get("machine"), entries[-1].get("processes")) == (machine,
                                                                                 processes):
        return
    entries.append({"machine": machine, "processes": processes, "from_epoch": from_epoch})
    write_atomic(run / MACHINE_FILE, json.dumps({"trained_on": entries}, indent=2) + "\n")
