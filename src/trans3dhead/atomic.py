"""Atomic file writes: write a temporary file in the target's folder, then rename it into place.

A reader never sees a half-written file and an interrupted write leaves the previous file intact.
Temporary names are ``.<name>.<random>.tmp`` (a crashed process's leftovers match ``.*.tmp``).  The file
gets the mode a plain ``open(path, "w")`` would give it: the mode of the file it replaces, else
``0o666`` less the process's umask (``mkstemp`` alone would leave it ``0o600``, unreadable to others).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_path", "atomic_open", "atomic_write", "current_umask"]


def current_umask() -> int:
    """The process's umask (read from ``/proc`` where possible: setting it to read it is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except OSError:  # no file to replace yet
        return 0o666 & ~current_umask()


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path`` through (for writers that take a file name); renamed into place
    when the block succeeds, removed when it fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _target_mode(path))
    finally:
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
