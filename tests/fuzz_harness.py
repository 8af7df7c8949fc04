"""A small property-based fuzzing harness for the readers of user files (used by ``test_fuzz.py``).

Each target starts from a valid file and applies random mutations: structural ones on the parsed value
(replace a value by random JSON, delete or duplicate a member, give a key twice, reshape, wrong types,
NaN / huge numbers) and byte-level ones on the file (truncate, flip, insert, cut, repeat).  The property
checked on every example: the reader returns a result, or raises a clear project error (an
:class:`~trans3dhead.errors.InputError`, or an ``OSError`` naming a path) whose message is one line;
never any other exception, and the input files are left unchanged.

(hypothesis is not installed in this environment, so the generators here are seeded ``random.Random``
streams: every example is reproducible from its target name, ``FUZZ_SEED`` and its index.)

Budget, from the environment:

* default (``make test``): ``FUZZ_EXAMPLES`` examples per target (default 60), at most
  ``FUZZ_MAX_SECONDS`` seconds per target (default 4).
* ``make fuzz``: ``FUZZ_SECONDS`` seconds per target (the whole run takes about ten minutes); examples
  are unlimited.  ``FUZZ_SEED`` changes every stream (default 0).

The number of examples each target saw is printed in pytest's terminal summary and, with
``FUZZ_REPORT=FILE``, written there as JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trans3dhead.cli._errors import USER_ERRORS

#: Examples seen per target in this process: name -> (examples, results, clear errors, seconds).
COUNTS: dict[str, dict[str, float]] = {}
#: What a step returns for a clear error it handled itself (a command that printed one and exited 2).
REPORTED = object()


@dataclass(frozen=True)
class Budget:
    examples: int | None  # None: until the time is up
    seconds: float

    @classmethod
    def from_env(cls) -> Budget:
        if os.environ.get("FUZZ_SECONDS"):
            return cls(examples=None, seconds=float(os.environ["FUZZ_SECONDS"]))
        examples = int(os.environ.get("FUZZ_EXAMPLES", "60"))
        return cls(examples=examples, seconds=float(os.environ.get("FUZZ_MAX_SECONDS", "4")))


class Dup:
    """A JSON object written with the given ``(key, value)`` pairs, repeated keys included."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


# --- random values and mutations of parsed JSON


def random_scalar(rng: random.Random) -> Any:
    choices: list[Callable[[], Any]] = [
        lambda: None,
        lambda: rng.random() < 0.5,
        lambda: rng.randint(-3, 3),
        lambda: rng.choice([0, 1, -1, 2**31, 2**63, 10**30, -(10**20)]),
        lambda: rng.uniform(-1e3, 1e3),
        lambda: rng.choice([math.nan, math.inf, -math.inf, 0.0, -0.0, 1e308, 5e-324, 1e-45]),
        lambda: rng.choice(["", "x", "0", "1.5", "nan", "true", "null", "é\u2028", "../../etc", "a" * 300]),
    ]
    return rng.choice(choices)()


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth > 3 or kind < 0.55:
        return random_scalar(rng)
    if kind < 0.8:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {str(random_scalar(rng)): random_json(rng, depth + 1) for _ in range(rng.randint(0, 3))}


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


def mutate_tree(rng: random.Random, value: Any) -> Any:
    """One random structural change of a parsed JSON value (in place where possible; returns the value)."""
    containers = list(_containers(value))
    if not containers:
        return random_json(rng)
    _, node = rng.choice(containers)
    keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
    op = rng.randrange(9)
    if op == 0 and keys:  # replace a member by random JSON
        node[rng.choice(keys)] = random_json(rng)
    elif op == 1 and keys:  # delete a member
        del node[rng.choice(keys)]
    elif op == 2 and isinstance(node, dict) and keys:  # give a key twice
        key = rng.choice(keys)
        other = node[key] if rng.random() < 0.5 else random_json(rng)
        pairs = [*node.items(), (key, other)]
        rng.shuffle(pairs)
        node.clear()
        node["__dup__"] = Dup(pairs)
    elif op == 3 and isinstance(node, list) and node:  # duplicate / drop elements
        if rng.random() < 0.5:
            node.append(node[rng.randrange(len(node))])
        else:
            del node[rng.randrange(len(node)) :]
    elif op == 4:  # a numeric list: scale, poison or flatten
        lists = _numeric_leaf_lists(value)
        if lists:
            target = rng.choice(lists)
            i = rng.randrange(len(target))
            target[i] = rng.choice([math.nan, math.inf, 1e39, -1e39, 0, "1", None, True, [1.0], 1e300])
    elif op == 5 and keys:  # wrap a member in a list, or unwrap a list
        key = rng.choice(keys)
        child = node[key]
        node[key] = child[0] if isinstance(child, list) and child else [child]
    elif op == 6 and isinstance(node, dict):  # add an unknown member
        node[str(random_scalar(rng))] = random_json(rng)
    elif op == 7 and keys:  # swap the types: number <-> string
        key = rng.choice(keys)
        child = node[key]
        node[key] = str(child) if isinstance(child, int | float) else rng.choice([0, 1.5, -7, [], {}])
    elif op == 8 and keys:  # scale a member's size: repeat a list many times
        key = rng.choice(keys)
        if isinstance(node[key], list):
            node[key] = node[key] * rng.choice([0, 2, 3])
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
    return json.dumps(value)  # NaN / Infinity as Python writes them


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """One random byte-level change: truncate, flip, insert, cut, repeat, or overwrite with zeros."""
    if not data:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 16)))
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, max(1, len(data) // 8)))
    op = rng.randrange(7)
    if op == 0:
        return data[: rng.randrange(len(data))]
    if op == 1:
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            k = rng.randrange(len(data))
            flipped[k] ^= 1 << rng.randrange(8)
        return bytes(flipped)
    if op == 2:
        junk = rng.choice([b"\x00", b"\xff" * 4, b'"', b"{", b"]", b"\xc3", b"\n", os.urandom(8)])
        return data[:i] + junk + data[i:]
    if op == 3:
        return data[:i] + data[j:]
    if op == 4:
        return data[:j] + data[i:j] + data[j:]
    if op == 5:
        return data[:i] + bytes(j - i) + data[j:]
    return data + os.urandom(rng.randint(1, 32))


def mutate_json_text(rng: random.Random, value: Any) -> bytes:
    """A mutated JSON file from a valid parsed value: 1-3 structural changes, then maybe a byte-level one."""
    value = json.loads(json.dumps(value))  # a private copy
    for _ in range(rng.randint(1, 3)):
        value = mutate_tree(rng, value)
    data = dumps(value).encode("utf-8")
    return mutate_bytes(rng, data) if rng.random() < 0.3 else data


# --- running a target


def snapshot(paths: list[Path]) -> dict[str, str]:
    """Content hash of every file under ``paths``."""
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*"))) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@contextmanager
def _timer() -> Iterator[Callable[[], float]]:
    start = time.perf_counter()
    yield lambda: time.perf_counter() - start


def fuzz(
    name: str,
    example: Callable[[random.Random], Any],
    *,
    inputs: Callable[[], list[Path]] = list,
    budget: Budget | None = None,
) -> dict[str, float]:
    """Run ``example(rng)`` on fresh random streams until the budget is spent.

    ``example`` writes its input files and returns the reading step (a callable), or a list of them; each
    step returns a valid result or raises a user error (:data:`~trans3dhead.cli._errors.USER_ERRORS`)
    whose message must be one line.  The files listed by ``inputs()`` must be unchanged by the steps.
    Any other exception fails the test with the target, seed and example index needed to replay it.
    """
    budget = budget or Budget.from_env()
    seed = os.environ.get("FUZZ_SEED", "0")
    counts = {"examples": 0, "results": 0, "errors": 0, "seconds": 0.0}
    with _timer() as elapsed:
        index = 0
        while (budget.examples is None or index < budget.examples) and elapsed() < budget.seconds:
            rng = random.Random(f"{name}:{seed}:{index}")
            _one(name, seed, index, rng, example, inputs, counts)
            index += 1
        counts["seconds"] = round(elapsed(), 2)
    COUNTS[name] = counts
    _write_report()
    return counts


def _one(name, seed, index, rng, example, inputs, counts) -> None:
    where = f"fuzz target {name!r}, FUZZ_SEED={seed}, example {index}"
    try:
        steps = example(rng)
        before = snapshot(inputs())
        for step in steps if isinstance(steps, list) else [steps]:
            try:
                counts["errors" if step() is REPORTED else "results"] += 1
            except USER_ERRORS as exc:
                message = str(exc)
                assert message and "\n" not in message, f"{where}: error message is not one line: {message!r}"
                counts["errors"] += 1
        after = snapshot(inputs())
        assert after == before, f"{where}: the reader changed its input files"
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"{where}: uncaught {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
        ) from exc
    counts["examples"] += 1


def _write_report() -> None:
    path = os.environ.get("FUZZ_REPORT")
    if path:
        Path(path).write_text(json.dumps(COUNTS, indent=2) + "\n")


def never_raises(step: Callable[[], Any], what: str) -> Callable[[], Any]:
    """A step that must not raise at all (e.g. ``data check``, which reports every problem it finds)."""

    def run() -> Any:
        try:
            return step()
        except Exception as exc:
            raise AssertionError(
                f"{what} raised {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
            ) from exc

    return run


def summary_lines() -> list[str]:
    return [
        f"{name:<22} {int(c['examples']):>7} examples  ({int(c['results'])} results, "
        f"{int(c['errors'])} clear errors) in {c['seconds']:.1f} s"
        for name, c in sorted(COUNTS.items())
    ]
