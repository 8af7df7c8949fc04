"""Property-based fuzzing of the readers of user files, with hypothesis (used by ``test_fuzz.py``).

Each target starts from a valid file and lets hypothesis mutate it: structural changes of the parsed
value (replace a member by random JSON, delete or duplicate a member, give a key twice, wrap, retype,
NaN / huge numbers) and byte-level ones of the file (truncate, flip, insert, cut, repeat).  The property
checked on every example: the reader returns a valid result, or raises a clear project error (an
:class:`~trans3dhead.errors.InputError`, or an ``OSError`` naming a path) whose message is one line;
never any other exception, and the input files are left unchanged.  A failing example is shrunk by
hypothesis and printed with the ``@reproduce_failure`` blob that replays it.

Budget, from the hypothesis settings profile (registered here, loaded by ``conftest.py``):

* ``ci`` (the default, ``make test``): derandomized, :data:`CI_EXAMPLES` examples per target, so that a
  run always tries the same examples and the whole file takes about ten seconds of one core.
* ``fuzz`` (``make fuzz``: ``pytest --hypothesis-profile=fuzz tests/system/test_fuzz.py``): random
  examples for ``FUZZ_SECONDS`` seconds per target (default 75: about ten minutes for the whole file),
  in batches (their sizes replace the profile's ``max_examples``) whose seeds come from ``FUZZ_SEED``
  (a failure message names its batch seed).

No example database is kept (``database=None``).  A failure prints its shrunk case (the file contents)
and a ``@reproduce_failure('VERSION', b'BLOB')`` line: ``FUZZ_REPLAY='VERSION BLOB' pytest
tests/system/test_fuzz.py -k TARGET`` replays exactly that case (hypothesis then says whether it still fails).
The number of examples each target saw is printed in pytest's terminal summary and, with
``FUZZ_REPORT=FILE``, written there as JSON.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, reproduce_failure, seed, settings
from hypothesis import strategies as st

from trans3dhead.cli._errors import USER_ERRORS

CI_EXAMPLES = 50
FUZZ_PROFILE = "fuzz"
_COMMON = {
    "deadline": None,  # some examples decode images or run a command: their times vary
    "database": None,  # no .hypothesis folder in the repository
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, **_COMMON)
settings.register_profile(FUZZ_PROFILE, max_examples=1000, derandomize=False, **_COMMON)

#: Examples seen per target in this process: name -> {examples, results, errors, seconds}.
COUNTS: dict[str, dict[str, float]] = {}
#: What a step returns for a clear error it handled itself (a command that printed one and exited 2).
REPORTED = object()

Step = Callable[[], Any]


class Dup:
    """A JSON object written with the given ``(key, value)`` pairs, repeated keys included."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs

    def __repr__(self) -> str:
        return f"Dup({self.pairs!r})"


class Raw(str):
    """A number written as its literal text (one too long for ``int`` to convert, e.g.)."""

    def __repr__(self) -> str:
        return f"Raw({len(self)} characters)"


# --- random values


_ODD_NUMBERS = [0, 1, -1, 2**31, 2**63, 2**64, 10**30, -(10**20), Raw("1" + "0" * 400), Raw("1" + "0" * 5000)]
_ODD_NUMBERS += [Raw("1e99999"), Raw("-0"), Raw("1E+2")]
_ODD_FLOATS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, 5e-324, 1e-45, 3.5e38, -1e39]
_ODD_STRINGS = ["", "x", "0", "1.5", "nan", "true", "null", "é\u2028", "../../etc", "a" * 300, "\ud800"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(_ODD_NUMBERS),
    st.floats(-1e3, 1e3),
    st.sampled_from(_ODD_FLOATS),
    st.floats(),
    st.sampled_from(_ODD_STRINGS),
    st.text(max_size=6),
)
#: Any JSON value (NaN and infinities included, as Python's json writes them).
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.one_of(st.text(max_size=4), scalars.map(str)), children, max_size=3)
    ),
    max_leaves=8,
)


def fresh(values: list) -> st.SearchStrategy:
    """``sampled_from(values)``, each draw a copy: later mutations must not change the list's members
    (hypothesis requires the same choices to give the same example)."""
    return st.sampled_from(values).map(copy.deepcopy)


def chance(draw: Callable, tenths: int) -> bool:
    """True with probability ``tenths / 10`` (shrinks towards True)."""
    return draw(st.integers(0, 9)) < tenths


def index(draw: Callable, size: int) -> int:
    return draw(st.integers(0, size - 1))


# --- mutations of parsed JSON


def _containers(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, container) of every list and dict in a parsed JSON value (the value itself included)."""
    if isinstance(value, dict | list):
        yield path, value
        if isinstance(value, dict):
            items = list(value.items())
        else:  # a long list (vertices): its first and last rows stand for the others
            items = (
                list(enumerate(value)) if len(value) <= 16 else [(0, value[0]), (len(value) - 1, value[-1])]
            )
        for key, child in items:
            if isinstance(child, dict | list):
                yield from _containers(child, (*path, key))


def _numeric_leaf_lists(value: Any) -> list[list]:
    return [c for _, c in _containers(value) if isinstance(c, list) and c and isinstance(c[0], int | float)]


_POISON = [math.nan, math.inf, 1e39, -1e39, 0, 0.0, 1e-30, "1", None, True, [1.0], 1e300, 2**64]
_POISON += [Raw("1" + "0" * 400), 1e200, 1e-45, 3.5e38, -0.0]


def mutate_tree(draw: Callable, value: Any) -> Any:
    """One structural change of a parsed JSON value (in place where possible; returns the value)."""
    containers = [node for _, node in _containers(value)]
    if not containers:
        return draw(json_values)
    node = containers[index(draw, len(containers))]
    keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
    op = draw(st.integers(0, 11))
    op = 4 if op > 9 else op  # numbers that break arithmetic find the most bugs: poison more often
    if op == 0 and keys:  # replace a member by random JSON
        node[draw(st.sampled_from(keys))] = draw(json_values)
    elif op == 1 and keys:  # delete a member
        del node[draw(st.sampled_from(keys))]
    elif op == 2 and isinstance(node, dict) and keys:  # give a key twice
        key = draw(st.sampled_from(keys))
        other = node[key] if chance(draw, 5) else draw(json_values)
        pairs = draw(st.permutations([*node.items(), (key, other)]))
        node.clear()
        node["__dup__"] = Dup(pairs)
    elif op == 3 and isinstance(node, list) and node:  # duplicate / drop elements
        if chance(draw, 5):
            node.append(node[index(draw, len(node))])
        else:
            del node[index(draw, len(node)) :]
    elif op == 4:  # a numeric list: poison one number (zero one matrix entry, NaN, huge, retype)
        lists = _numeric_leaf_lists(value)
        if lists:
            target = lists[index(draw, len(lists))]
            target[index(draw, len(target))] = draw(fresh(_POISON) | st.floats())
    elif op == 5 and keys:  # wrap a member in a list, or unwrap a list
        key = draw(st.sampled_from(keys))
        child = node[key]
        node[key] = child[0] if isinstance(child, list) and child else [child]
    elif op == 6 and isinstance(node, dict):  # add an unknown member
        node[str(draw(scalars))] = draw(json_values)
    elif op == 7 and keys:  # swap the types: number <-> string
        key = draw(st.sampled_from(keys))
        child = node[key]
        node[key] = str(child) if isinstance(child, int | float) else draw(fresh([0, 1.5, -7, [], {}]))
    elif op == 8 and keys:  # scale a member's size: repeat a list
        key = draw(st.sampled_from(keys))
        if isinstance(node[key], list):
            node[key] = node[key] * draw(st.sampled_from([0, 2, 3]))
    elif op == 9:  # a numeric list scaled (all zeros: a singular matrix), or one row zeroed
        lists = _numeric_leaf_lists(value)
        if lists:
            target = lists[index(draw, len(lists))]
            factor = draw(st.sampled_from([0, -1, 1e-30, 1e30]))
            target[:] = [v * factor if isinstance(v, int | float) else v for v in target]
    return value


def dumps(value: Any) -> str:
    """JSON text of a mutated value: :class:`Dup` markers become objects with repeated keys."""
    if isinstance(value, Dup | dict):
        pairs = value.pairs if isinstance(value, Dup) else list(value.items())
        flat: list[tuple[Any, Any]] = []
        for key, child in pairs:  # a dict that became a Dup keeps any member added since
            flat += child.pairs if key == "__dup__" and isinstance(child, Dup) else [(key, child)]
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in flat) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, Raw):
        return str.__str__(value)
    return json.dumps(value)  # NaN / Infinity as Python writes them


def mutate_bytes(draw: Callable, data: bytes) -> bytes:
    """One byte-level change: truncate, flip, insert, cut, repeat, zero a range, or append junk."""
    if not data:
        return draw(st.binary(max_size=16))
    i = index(draw, len(data))
    j = min(len(data), i + draw(st.integers(1, max(1, len(data) // 8))))
    op = draw(st.integers(0, 6))
    if op == 0:
        return data[: index(draw, len(data))]
    if op == 1:
        flipped = bytearray(data)
        for k in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            flipped[k] ^= 1 << draw(st.integers(0, 7))
        return bytes(flipped)
    if op == 2:
        junk = draw(
            st.sampled_from([b"\x00", b"\xff" * 4, b'"', b"{", b"]", b"\xc3", b"\n"]) | st.binary(max_size=8)
        )
        return data[:i] + junk + data[i:]
    if op == 3:
        return data[:i] + data[j:]
    if op == 4:
        return data[:j] + data[i:j] + data[j:]
    if op == 5:
        return data[:i] + bytes(j - i) + data[j:]
    return data + draw(st.binary(min_size=1, max_size=32))


@st.composite
def mutated_bytes(draw: Callable, data: bytes) -> bytes:
    """A file's bytes after one byte-level change."""
    return mutate_bytes(draw, data)


@st.composite
def mutated_values(draw: Callable, valid: Any, *, changes: int = 3) -> Any:
    """A parsed JSON value after 1..``changes`` structural changes (may hold :class:`Dup` markers)."""
    value = json.loads(json.dumps(valid))  # a private copy
    for _ in range(draw(st.integers(1, changes))):
        value = mutate_tree(draw, value)
    return value


@st.composite
def mutated_json(draw: Callable, valid: Any) -> bytes:
    """A mutated JSON file from a valid parsed value: 1-3 structural changes, then maybe a byte-level one."""
    data = dumps(draw(mutated_values(valid))).encode()
    return mutate_bytes(draw, data) if chance(draw, 3) else data


# --- running a target


def snapshot(paths: list[Path]) -> dict[str, str]:
    """Content hash of every file under ``paths``."""
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def fuzz(
    name: str,
    cases: st.SearchStrategy,
    example: Callable[[Any], Step | list[Step]],
    *,
    inputs: Callable[[], list[Path]] = list,
) -> dict[str, float]:
    """Check ``example`` on the cases hypothesis draws from ``cases``, for the current profile's budget.

    ``example(case)`` writes its input files and returns the reading step (a callable), or a list of them;
    each step returns a valid result (checking its validity itself) or raises a user error
    (:data:`~trans3dhead.cli._errors.USER_ERRORS`) whose message must be one line.  The files listed by
    ``inputs()`` must be unchanged by the steps.  Any other exception fails the test; hypothesis shrinks it
    and prints the smallest failing case.
    """
    counts = {"examples": 0, "results": 0, "errors": 0, "seconds": 0.0}

    def check(case: Any) -> None:
        _one(case, example, inputs, counts)

    start = time.perf_counter()
    try:
        if settings.get_current_profile_name().startswith(FUZZ_PROFILE):
            _for_seconds(name, cases, check, counts, float(os.environ.get("FUZZ_SECONDS", "75")))
        elif os.environ.get("FUZZ_REPLAY"):  # "VERSION BLOB" from @reproduce_failure(VERSION, b"BLOB")
            version, blob = os.environ["FUZZ_REPLAY"].split()
            reproduce_failure(version, blob.encode())(given(cases)(check))()
        else:
            given(cases)(check)()
    finally:
        counts["seconds"] = round(time.perf_counter() - start, 2)
        COUNTS[name] = counts
        _write_report()
    return counts


def _for_seconds(name: str, cases: st.SearchStrategy, check: Callable, counts: dict, seconds: float) -> None:
    """Batches of random examples until ``seconds`` have passed (hypothesis has no time limit of its own);
    each batch is sized to fill half the time left at the pace so far (later examples are often slower),
    so the last batch ends close to the limit."""
    base = os.environ.get("FUZZ_SEED", "0")
    start = time.perf_counter()
    batch = 0
    while (left := seconds - (elapsed := time.perf_counter() - start)) > 0:
        per_example = elapsed / counts["examples"] if counts["examples"] else 1.0
        size = max(5, min(1000, int(0.5 * left / max(per_example, 1e-4))))
        batch_seed = f"{base}:{name}:{batch}"

        def batch_check(case: Any) -> None:  # a fresh function: hypothesis decorates a function once
            check(case)

        run = given(cases)(settings(max_examples=size)(batch_check))
        try:
            seed(batch_seed)(run)()
        except Exception:
            print(f"fuzz target {name!r} failed in batch {batch}: seed {batch_seed!r} (FUZZ_SEED={base})")
            raise
        batch += 1


def _one(case: Any, example: Callable, inputs: Callable[[], list[Path]], counts: dict) -> None:
    steps = example(case)
    before = snapshot(inputs())
    for step in steps if isinstance(steps, list) else [steps]:
        try:
            counts["errors" if step() is REPORTED else "results"] += 1
        except USER_ERRORS as exc:
            message = str(exc)
            assert message and "\n" not in message, f"error message is not one line: {message!r}"
            counts["errors"] += 1
    assert snapshot(inputs()) == before, "the reader changed its input files"
    counts["examples"] += 1


def _write_report() -> None:
    path = os.environ.get("FUZZ_REPORT")
    if path:
        Path(path).write_text(json.dumps(COUNTS, indent=2) + "\n")


def never_raises(step: Step, what: str) -> Step:
    """A step that must not raise at all (e.g. ``data check``, which reports every problem it finds)."""

    def run() -> Any:
        try:
            return step()
        except Exception as exc:
            raise AssertionError(f"{what} raised {type(exc).__name__}: {exc}") from exc

    return run


def summary_lines() -> list[str]:
    return [
        f"{name:<22} {int(c['examples']):>7} examples  ({int(c['results'])} results, "
        f"{int(c['errors'])} clear errors) in {c['seconds']:.1f} s"
        for name, c in sorted(COUNTS.items())
    ]
