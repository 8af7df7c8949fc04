"""Checkpoint atomicity / round trip / errors and the resumable sampler."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from trans3dhead.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from trans3dhead.engine.sampler import EpochSampler


def test_checkpoint_round_trip_and_rng(tmp_path):
    model = torch.nn.Linear(3, 2)
    torch.manual_seed(1)
    np.random.seed(2)  # noqa: NPY002
    random.seed(3)
    path = save_checkpoint(
        tmp_path / "last.pt", {"model": model.state_dict(), "epoch": 4, "rng": rng_state()}
    )
    expected = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    torch.manual_seed(99)
    np.random.seed(99)  # noqa: NPY002
    random.seed(99)
    data = load_checkpoint(path)
    assert data["epoch"] == 4 and data["code_version"]
    set_rng_state(data["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    torch.testing.assert_close(again[0], expected[0])
    np.testing.assert_array_equal(again[1], expected[1])
    assert again[2] == expected[2]
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind


def test_failed_write_keeps_the_previous_checkpoint(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", {"model": {"w": torch.ones(1)}, "epoch": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(path, {"model": {}, "bad": Unpicklable()})
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"state": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a trans3dhead checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_sampler_is_deterministic_sharded_and_resumable():
    a = EpochSampler(10, shuffle=True, seed=5)
    b = EpochSampler(10, shuffle=True, seed=5)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b) and sorted(a) == list(range(10))
    b.set_epoch(3)
    assert list(a) != list(b)
    b.set_epoch(2, start=4)
    assert list(b) == list(a)[4:] and len(b) == 6
    shards = [EpochSampler(10, shuffle=True, seed=5, rank=r, world_size=3) for r in range(3)]
    for s in shards:
        s.set_epoch(2)
    assert all(len(s) == 4 for s in shards)
    assert set().union(*map(set, map(list, shards))) == set(range(10))
    with pytest.raises(ValueError, match="rank 3 is outside"):
        EpochSampler(10, shuffle=False, rank=3, world_size=3)
    with pytest.raises(ValueError, match="empty dataset"):
        EpochSampler(0, shuffle=False)
