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

__all__ = ["InputError", "OutputError"]


class InputError(ValueError):
    """A user input (file, field, command-line value) is invalid; the message names it and its value."""


class OutputError(InputError):
    """An output path cannot be written (a file where a folder is needed, a read-only folder, ...)."""
