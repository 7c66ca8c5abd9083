"""A run killed with SIGKILL at an arbitrary moment resumes to the uninterrupted result."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from mnist_fake import write_fake_mnist
from spcauchy.experiments import checkpoint

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _cli(fake: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "spcauchy", "train", "--out", str(out), "--set",
            f"data_path='{fake}'", "--set", "hidden=[32, 16]", "--set", "batch_size=10",
            "--set", "epochs=6", "--set", "progress=false", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}


def test_kill_then_resume_matches_uninterrupted(tmp_path):
    fake = write_fake_mnist(tmp_path / "mnist.pkl.gz", sizes=(400, 40, 40))
    subprocess.run(_cli(fake, tmp_path / "full"), env=_env(), check=True, capture_output=True)
    victim = subprocess.Popen(_cli(fake, tmp_path / "killed"), env=_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (tmp_path / "killed" / "last.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    victim.kill()  # SIGKILL: no cleanup code runs
    victim.wait()
    done = checkpoint.load(tmp_path / "killed" / "last.pt")["state"]["epoch"]
    assert done >= 1
    subprocess.run(_cli(fake, tmp_path / "killed", "--resume"), env=_env(), check=True,
                   capture_output=True)
    a = checkpoint.load(tmp_path / "full" / "last.pt")
    b = checkpoint.load(tmp_path / "killed" / "last.pt")
    assert a["state"]["epoch"] == b["state"]["epoch"] == 6
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
