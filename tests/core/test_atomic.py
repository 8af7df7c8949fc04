"""Atomic writes: the previous file survives a failed write and no temporary file is left behind."""

from __future__ import annotations

import pytest

from trans3dhead.atomic import atomic_open, atomic_path, atomic_write


def test_write_replace_and_failure_keeps_previous(tmp_path):
    path = atomic_write(tmp_path / "sub" / "a.txt", "first")
    assert path.read_text() == "first"
    atomic_write(path, b"second")
    assert path.read_bytes() == b"second"
    with pytest.raises(RuntimeError, match="boom"), atomic_open(path) as handle:
        handle.write(b"partial")
        raise RuntimeError("boom")
    assert path.read_bytes() == b"second"
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"x")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "sub"]
