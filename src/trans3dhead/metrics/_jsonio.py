"""JSON files of the benchmark: reading with errors that name the file, atomic writing.

Both readers raise :class:`~trans3dhead.errors.InputError` for any content that is not JSON (including
numbers Python refuses to convert and nesting too deep to parse); :func:`read_json_pairs` also sees keys
given twice in one object, which plain JSON parsing would silently resolve to the last copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trans3dhead import jsonio
from trans3dhead.atomic import atomic_write
from trans3dhead.errors import InputError

__all__ = ["read_json", "read_json_pairs", "refuse_duplicates", "write_json", "write_text"]

Pairs = list[tuple[str, Any]]


def read_json(path: str | Path, *, what: str) -> Any:
    """Parse a JSON file (:func:`trans3dhead.jsonio.read_file`); every failure raises an error whose
    message names ``what`` and the path."""
    return jsonio.read_file(path, what=what, error=InputError)


def refuse_duplicates(path: str | Path, what: str) -> Callable[[Pairs], dict[str, Any]]:
    """An ``on_duplicate`` for :func:`read_json_pairs` that makes a repeated key an InputError."""

    def refuse(pairs: Pairs) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        raise InputError(f"{what} {path}: key(s) {repeated} given more than once in one JSON object")

    return refuse


def read_json_pairs(path: str | Path, *, what: str, on_duplicate: Callable[[Pairs], Any]) -> Any:
    """Like :func:`read_json`, but an object that repeats a key is built by ``on_duplicate(pairs)``
    (all its ``(key, value)`` pairs in file order) instead of keeping the last copy of the key.

    Parses with the standard library (the hook needs it); for the benchmark's number-heavy files it is
    about as fast as orjson.  ``NaN`` / ``Infinity`` are read as Python's ``json`` reads them.
    """

    def hook(pairs: Pairs) -> Any:
        if len({key for key, _ in pairs}) == len(pairs):
            return dict(pairs)
        return on_duplicate(pairs)

    def parse(data: bytes) -> Any:
        return json.loads(data, object_pairs_hook=hook)

    return jsonio.read_file(path, what=what, error=InputError, parse=parse)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    return atomic_write(path, text)


def write_json(path: str | Path, obj: Any, *, indent: int | None = None, allow_nan: bool = False) -> Path:
    """Write ``obj`` as JSON atomically.  NaN / infinity are refused unless ``allow_nan`` (Python's JSON
    then writes the non-standard ``NaN`` / ``Infinity``, which it also reads back)."""
    try:
        text = jsonio.dumps(obj, indent=indent, allow_nan=allow_nan)
    except ValueError as exc:
        raise InputError(f"{path}: cannot write as JSON ({exc})") from None
    return write_text(path, text)
