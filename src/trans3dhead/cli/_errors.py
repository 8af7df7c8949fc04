"""Exceptions that the CLI reports as one-line user errors (exit code 2) instead of a traceback."""

from __future__ import annotations

import pickle

from trans3dhead.flame.assets import AssetError

#: Bad inputs (files, values, arguments): every library error of this kind names the file/field/value.
USER_ERRORS: tuple[type[BaseException], ...] = (
    AssetError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
    PermissionError,
    ValueError,
    pickle.UnpicklingError,
)
