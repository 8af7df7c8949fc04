"""JSON files of the benchmark: reading with errors that name the file, atomic writing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trans3dhead import jsonio
from trans3dhead.atomic import atomic_write

__all__ = ["read_json", "write_json", "write_text"]


def read_json(path: str | Path, *, what: str) -> Any:
    """Parse a JSON file; every failure raises an error whose message names ``what`` and the path."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path}: is a directory, expected a JSON file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path}: file not found")
    try:
        return jsonio.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} {path}: not valid JSON ({exc})") from None


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    return atomic_write(path, text)


def write_json(path: str | Path, obj: Any, *, indent: int | None = None, allow_nan: bool = False) -> Path:
    """Write ``obj`` as JSON atomically.  NaN / infinity are refused unless ``allow_nan`` (Python's JSON
    then writes the non-standard ``NaN`` / ``Infinity``, which it also reads back)."""
    try:
        text = jsonio.dumps(obj, indent=indent, allow_nan=allow_nan)
    except ValueError as exc:
        raise ValueError(f"{path}: cannot write as JSON ({exc})") from None
    return write_text(path, text)
