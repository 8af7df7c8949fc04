"""Exceptions that the CLI reports as one-line user errors (exit code 2) instead of a traceback.

Only the project's :class:`~trans3dhead.errors.InputError` family (every reader and validator raises
one for bad input, naming the file, field and value) and the ``OSError`` s that name a path are user
errors.  Anything else -- a ``ValueError`` from deep inside numpy included -- is a bug of the program
and surfaces with its traceback (exit status 1), so that "my input is wrong" and "the program is wrong"
look different.
"""

from __future__ import annotations

from trans3dhead.errors import InputError

#: Bad inputs (files, values, arguments): every error of this kind names the file/field/value.
USER_ERRORS: tuple[type[BaseException], ...] = (
    InputError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
)
