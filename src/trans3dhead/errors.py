"""The project's error classes: bad input (the user's to fix) versus everything else (a bug).

:class:`InputError` and its subclasses mean "this file, field or value is wrong"; their message names the
file, the field and the value in one line.  The CLI reports them as ``trans3dhead CMD: error: ...``
with exit status 2.  Any other exception is a bug of the program: the CLI lets it surface with its
traceback (exit status 1), so that "my input is wrong" and "the program is wrong" look different.

Every reader of a user file raises one of these (or ``FileNotFoundError`` / ``PermissionError`` and the
other ``OSError`` s whose message names the path) for *any* content of the file.  They subclass
``ValueError`` so that code catching ``ValueError`` keeps working.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["InputError", "OutputError", "shown"]

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict = 3, 6, 6, 4
_REPR.maxstring, _REPR.maxother, _REPR.maxlong = 60, 60, 40


class InputError(ValueError):
    """A user input (file, field, command-line value) is invalid; the message names it and its value."""


class OutputError(InputError):
    """An output path cannot be written (a file where a folder is needed, a read-only folder, ...)."""


def shown(value: Any) -> str:
    """A user's value as an error message shows it: one short line (long lists, strings and arrays are cut,
    arrays are described by shape and dtype)."""
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"<array of shape {tuple(shape)}, dtype {dtype}>"
    return " ".join(_REPR.repr(value).split())


def one_line(exc: BaseException) -> str:
    """``TypeName: message`` of a library's exception, in one line (for "cannot read FILE (...)" errors)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
