"""Fast JSON (orjson when installed, the standard library otherwise) with the standard library's semantics.

Benchmark files are large (a GT file plus a submission for the 2,746-image test split are ~1.7 GB of
numbers): orjson parses them ~3x and writes them ~15x faster.  Two differences are handled here so that
callers see ``json``'s behaviour: orjson rejects the non-standard ``NaN`` / ``Infinity`` tokens (we fall
back to ``json``, so a submission holding NaN still parses and the bad item is reported), and orjson
writes NaN as ``null`` (we check finiteness first and refuse, or use ``json`` when NaN is allowed).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from trans3dhead.errors import one_line

try:  # optional speed-up
    import orjson
except ImportError:  # pragma: no cover - exercised when orjson is absent
    orjson = None

__all__ = ["loads", "dumps", "read_file", "has_non_finite", "number_array"]


def loads(data: bytes | str) -> Any:
    """Parse JSON text; raises ``json.JSONDecodeError`` for invalid input (also with orjson)."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # NaN / Infinity tokens, or truly invalid: json decides and reports
    return json.loads(data)


def read_file(
    path: str | Path,
    *,
    what: str = "",
    error: type[Exception] = ValueError,
    invalid: str = "not valid JSON",
    parse: Callable[[bytes], Any] = loads,
) -> Any:
    """Read and parse the JSON file ``path``: the project's one JSON file reader.

    A folder raises ``IsADirectoryError``, a missing file ``FileNotFoundError`` and other read failures
    their ``OSError``; content that is not JSON (including numbers Python refuses to convert and nesting
    too deep to parse) raises ``error``.  Messages start with ``what`` (e.g. "GT file") and the path;
    ``invalid`` words the parse failure.  ``parse`` (default :func:`loads`) turns the bytes into objects.
    """
    path = Path(path)
    name = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise IsADirectoryError(f"{name}: is a directory, expected a JSON file")
    if not path.is_file():
        raise FileNotFoundError(f"{name}: file not found")
    data = path.read_bytes()
    try:
        return parse(data)
    except RecursionError:
        raise error(f"{name}: {invalid} (nested too deeply)") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, integers too long to convert
        raise error(f"{name}: {invalid} ({one_line(exc)})") from None


def has_non_finite(obj: Any) -> bool:
    """True when any float in a nested structure of dicts, lists, tuples and arrays is NaN or infinite."""
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, np.ndarray):
        return obj.dtype.kind == "f" and not bool(np.isfinite(obj).all())
    if isinstance(obj, dict):
        return any(has_non_finite(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        if obj and isinstance(obj[0], float | int | list | tuple):  # numeric (nested) lists: one array check
            try:
                return not bool(np.isfinite(np.asarray(obj, dtype=np.float64)).all())
            except (TypeError, ValueError):
                pass  # ragged or mixed: walk it
        return any(has_non_finite(v) for v in obj)
    return False


_NUMBER_TYPES = (int, float, np.integer, np.floating)
_NOT_NUMBERS = (bool, np.bool_)


def number_array(value: Any) -> np.ndarray | None:
    """``value`` as a float64 array if it is a number or a rectangular nesting of lists of numbers; None
    otherwise.

    JSON numbers only: ``true`` / ``false`` and strings such as ``"1.5"`` (which numpy would convert to 1.0
    and 1.5 without a word) are not numbers, nor is an integer beyond the float range (numpy raises
    ``OverflowError``).  Numbers too large for float64 written with an exponent are read as infinity by
    the JSON parser, and stay so.  numpy arrays, torch tensors and lists of numpy scalars of a numeric
    dtype count.
    """
    if hasattr(value, "detach"):  # a torch tensor (predictions built in memory)
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.astype(np.float64) if value.dtype.kind in "fiu" else None
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # ragged, non-numeric, or an int beyond float64
        return None
    leaves = [value]
    for _ in range(array.ndim):  # rectangular: ndim levels of sequences, then the numbers
        leaves = [leaf for sequence in leaves for leaf in sequence]
    kinds = {type(leaf) for leaf in leaves}  # a few types for thousands of numbers: check the types
    if all(issubclass(kind, _NUMBER_TYPES) and not issubclass(kind, _NOT_NUMBERS) for kind in kinds):
        return array
    return None


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def dumps(obj: Any, *, indent: int | None = None, allow_nan: bool = False) -> str:
    """Serialise to JSON text.  Non-finite floats raise ``ValueError`` unless ``allow_nan`` (then written as
    ``NaN`` / ``Infinity`` like ``json``).  numpy arrays and scalars are accepted."""
    if has_non_finite(obj):
        if not allow_nan:
            raise ValueError("Out of range float values are not JSON compliant (NaN or infinity)")
        return json.dumps(obj, indent=indent, allow_nan=True, default=_default)
    if orjson is not None:
        option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
        return orjson.dumps(obj, option=option, default=_default).decode("utf-8")
    return json.dumps(obj, indent=indent, default=_default)
