"""A restricted unpickler for FLAME assets.

FLAME's ``generic_model.pkl`` (Python 2 pickle) stores some arrays as ``chumpy`` objects, and the
DAD-3DHeads auxiliary ``.npy`` files are pickled dictionaries.  Plain ``pickle.load`` would execute any
callable named in the file and would need ``chumpy`` installed.  This module unpickles only an explicit
allow-list (numpy arrays and scalars, scipy sparse matrices, plain containers) and turns every ``chumpy``
object into the numpy array it holds.  Anything else is refused with :class:`UnsafePickleError`.
"""

from __future__ import annotations

import _codecs
import collections
import copyreg
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from trans3dhead.errors import InputError, one_line

__all__ = [
    "PickleReadError",
    "UnsafePickleError",
    "load_pickle",
    "loads_pickle",
    "load_pickled_npy",
    "ChumpyPlaceholder",
]


class PickleReadError(InputError, pickle.UnpicklingError):
    """A file is not a readable pickle (truncated, corrupt, not a pickle); the message names it."""


class UnsafePickleError(PickleReadError):
    """The pickle names a class or function outside the allow-list."""


class ChumpyPlaceholder:
    """Stands in for any ``chumpy`` class while unpickling; keeps the object's state for conversion."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _numpy_core(name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; pickles written by numpy 1 name the old path.
    from numpy._core import multiarray

    return getattr(multiarray, name)


def _allowed() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("copy_reg", "_reconstructor"): copyreg._reconstructor,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,
        ("__builtin__", "object"): object,
        ("builtins", "object"): object,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _codecs.encode,  # protocol-2 pickles written by Python 3 encode bytes this way
        ("__builtin__", "set"): set,
        ("builtins", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
        ("builtins", "frozenset"): frozenset,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = _numpy_core("_reconstruct")
        allowed[(module, "scalar")] = _numpy_core("scalar")
    for kind in ("csc", "csr", "coo"):
        cls = getattr(scipy.sparse, f"{kind}_matrix")
        for module in (f"scipy.sparse.{kind}", f"scipy.sparse._{kind}"):
            allowed[(module, f"{kind}_matrix")] = cls
    return allowed


_ALLOWED = _allowed()


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, source: str) -> None:
        super().__init__(file, encoding="latin1")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if module == "chumpy" or module.startswith("chumpy."):
            return ChumpyPlaceholder
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._source}: refusing to unpickle '{module}.{name}': only numpy arrays, scipy sparse "
                "matrices, chumpy arrays and plain containers are allowed in FLAME asset files"
            ) from None


def _chumpy_to_numpy(obj: ChumpyPlaceholder, source: str) -> np.ndarray:
    state = obj.state
    if isinstance(state, dict) and "x" in state:
        return np.asarray(state["x"])
    arrays = [v for v in state.values() if isinstance(v, np.ndarray)] if isinstance(state, dict) else []
    if len(arrays) == 1:
        return arrays[0]
    raise PickleReadError(f"{source}: a chumpy object without a stored value 'x' cannot be converted")


def _convert(obj: Any, source: str) -> Any:
    """Replace chumpy placeholders by numpy arrays, recursively through containers."""
    if isinstance(obj, ChumpyPlaceholder):
        return _chumpy_to_numpy(obj, source)
    if isinstance(obj, dict):
        return type(obj)((k, _convert(v, source)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_convert(v, source) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        out = np.empty(obj.shape, dtype=object)
        for index, value in np.ndenumerate(obj):
            out[index] = _convert(value, source)
        return out
    return obj


def loads_pickle(data: bytes, *, source: str = "<bytes>") -> Any:
    """Unpickle ``data`` with the allow-list; ``source`` names the file in error messages."""
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), source).load()
    except UnsafePickleError:
        raise
    except RecursionError:
        raise PickleReadError(f"{source}: not a readable pickle (nested too deeply)") from None
    except Exception as exc:  # the pickle machine fails in many ways on foreign bytes
        raise PickleReadError(f"{source}: not a readable pickle ({one_line(exc)})") from None
    return _convert(obj, source)


def load_pickle(path: str | Path) -> Any:
    """Unpickle a file (Python 2 or 3 pickle) with the allow-list."""
    path = Path(path)
    return loads_pickle(path.read_bytes(), source=str(path))


def load_pickled_npy(path: str | Path) -> Any:
    """Read an ``.npy`` file; object arrays (pickled payloads) go through the allow-list.

    A 0-d object array (how ``np.save`` stores a dict) is unwrapped to the object itself, like
    ``np.load(path, allow_pickle=True)[()]``.
    """
    path = Path(path)
    with path.open("rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        except Exception as exc:  # numpy parses the header with ast / tokenize: any error means "not .npy"
            raise PickleReadError(f"{path}: not a valid .npy file ({one_line(exc)})") from None
        if not dtype.hasobject:
            handle.seek(0)
            try:
                return np.load(handle, allow_pickle=False)
            except Exception as exc:  # truncated, a header claiming too much, a dtype numpy cannot make
                message = f"{path}: not a valid .npy file ({one_line(exc)})"
                raise PickleReadError(message) from None
        array = loads_pickle(handle.read(), source=str(path))
    if isinstance(array, np.ndarray) and array.shape == () and shape == ():
        return array[()]
    return array
