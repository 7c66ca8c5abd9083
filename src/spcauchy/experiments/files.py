"""The one way this package writes a file: atomically, durably, never through a planted link.

The content goes to a fresh temp file beside the target (``mkstemp``: an unpredictable name,
created exclusively, so a symlink planted in the directory is never followed), is fsync'ed, then
renamed over the target. A reader sees the old complete file or the new one, even after a kill
or a full disk; a failed write leaves no temp file behind. :func:`locked` keeps two processes
out of one run directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: str | Path, content: bytes | str | Callable[[BinaryIO], None]) -> Path:
    """Replace ``path`` by ``content``: bytes, UTF-8 text, or a writer of a binary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if callable(content):
                content(fh)
            else:
                fh.write(content.encode() if isinstance(content, str) else content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class LockedError(RuntimeError):
    """Another process holds the lock of a run directory."""


@contextlib.contextmanager
def locked(directory: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory/.lock`` (created if needed) for the ``with`` block.

    The lock is an OS file lock (``flock``): it is released when the process ends, even by a
    kill, so a crashed run never leaves a stale lock. Raises :class:`LockedError` at once if
    another process holds it. A directory created here is removed again if the block fails
    before writing anything into it.
    """
    path = Path(directory)
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    lock = path / ".lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(f"{path} is in use by another process") from None
        yield
    except BaseException:
        if created and [p.name for p in path.iterdir()] == [".lock"]:
            lock.unlink()  # a block that failed before writing anything leaves no directory
            path.rmdir()
        raise
    finally:
        os.close(fd)  # closing the descriptor releases the lock
