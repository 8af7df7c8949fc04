"""Atomic file writes: write a temporary file in the target's folder, then rename it into place.

A reader never sees a half-written file and an interrupted write leaves the previous file intact.
Temporary names are ``.<name>.<random>.tmp`` (a crashed process's leftovers match ``.*.tmp``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_path", "atomic_open", "atomic_write"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path`` through (for writers that take a file name); renamed into place
    when the block succeeds, removed when it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | Path, *, fsync: bool = False) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` when the block succeeds (``fsync``: also flush it to
    disk before the rename, for files that must survive a power loss, e.g. checkpoints)."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        yield handle
        handle.flush()
        if fsync:
            os.fsync(handle.fileno())


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (str as UTF-8) to ``path`` atomically; returns the path."""
    with atomic_open(path) as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)
