"""Output paths: checked before any work starts, and no half-made output left behind by a failure.

Every command calls :func:`check_output_dir` or :func:`check_output_file` on its output before it loads or
computes anything, so that ``--out`` naming a file, a folder inside a file or a read-only place fails at
once with an :class:`~trans3dhead.errors.OutputError` (one line, exit status 2), without creating
anything.  :func:`undo_on_failure` removes what a failed command created, for outputs that are useless
when incomplete (a run folder without a checkpoint, a model folder with half its files, a report without
its table).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from trans3dhead.errors import OutputError

__all__ = ["check_output_dir", "check_output_file", "undo_on_failure"]


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself or its nearest ancestor that exists."""
    current = path.absolute()
    while not current.exists() and current.parent != current:
        current = current.parent
    return current


def _check_folder(folder: Path, option: str, target: Path) -> None:
    """``folder`` exists as a writable folder or can be created; errors name ``option`` and ``target``."""
    existing = _existing_ancestor(folder)
    if not existing.is_dir():
        which = "it" if existing == target.absolute() else str(existing)
        raise OutputError(f"{option} {target}: {which} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {target}: cannot write there ({existing} is not writable)")


def check_output_dir(path: str | Path, *, option: str = "--out") -> Path:
    """``path`` as a folder that exists and is writable, or that can be created; nothing is created.

    Raises:
        OutputError: ``path`` (or one of its parents) is an existing file, or the folder that would hold
            it is not writable.  ``option`` names the argument in the message.
    """
    path = Path(path)
    _check_folder(path, option, path)
    return path


def check_output_file(path: str | Path, *, option: str = "--out") -> Path:
    """``path`` as a file that can be written (replaced when it exists); nothing is created.

    Raises:
        OutputError: ``path`` is a folder, or its folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path}: is a folder, expected a file name")
    _check_folder(path.parent, option, path)
    return path


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def undo_on_failure(folder: str | Path, *, keep: Callable[[], bool] = lambda: False) -> Iterator[Path]:
    """Run a block that writes into ``folder``; if it fails (an exception), remove what it created there.

    A folder the block created is removed whole; in a folder that existed before, only the entries that
    were not there before are removed.  ``keep`` is asked after a failure: True keeps everything (e.g. a
    training run that already wrote a checkpoint it can resume from).  An interruption (Ctrl-C) is not a
    failure: what was written stays for the user to look at.
    """
    folder = Path(folder)
    existed = folder.is_dir()
    before = set(folder.iterdir()) if existed else set()
    try:
        yield folder
    except Exception:
        if not keep():
            if not existed:
                _remove(folder)
            elif folder.is_dir():
                for entry in set(folder.iterdir()) - before:
                    _remove(entry)
        raise
