"""benchmarks/rotation_loss_conditioning.py: the two rotation losses on hand-made items whose answers are
known (a frontal head with a 3-degree error; a head 2 degrees across the profile line from its
prediction)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from benchmark_scripts import load_benchmark

from trans3dhead.geometry.rotation import euler_to_matrix

GL = np.diag([1.0, -1.0, -1.0])  # the benchmark's GT rotation is diag(1, -1, -1) @ model-view


def _rotation(roll: float, pitch: float, yaw: float) -> np.ndarray:
    return euler_to_matrix(torch.tensor([roll, pitch, yaw], dtype=torch.float64)).numpy()


def _entry(item_id: str, rotation: np.ndarray) -> dict:
    model_view = np.eye(4)
    model_view[:3, :3] = GL @ rotation
    model_view[:3, 3] = [0.0, 0.0, -2.0]
    return {"id": item_id, "model_view_matrix": model_view.tolist()}


def test_profile_heads_blow_up_the_euler_loss_not_the_geodesic(tmp_path, capsys):
    bench = load_benchmark("rotation_loss_conditioning")
    gt = [_entry("front", _rotation(0, 0, 10)), _entry("profile", _rotation(0, 10, 91))]
    predictions = {"front": _rotation(3, 0, 10), "profile": _rotation(0, 10, 89)}
    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "gt.json").write_text(json.dumps(gt))
    (folder / "submission.json").write_text(
        json.dumps({key: {"rotation_matrix": value.tolist()} for key, value in predictions.items()})
    )
    assert bench.main([str(folder), "--json", str(tmp_path / "table.json")]) == 0
    table = {row["band"]: row for row in json.loads((tmp_path / "table.json").read_text())}
    assert set(table) == {"0-45", "85-90"}  # yaw 91 reads as 89 in the benchmark convention
    front, profile = table["0-45"], table["85-90"]
    assert front["angle"] == pytest.approx(3.0, abs=1e-6) and profile["angle"] == pytest.approx(2.0, abs=1e-6)
    assert front["euler"] == pytest.approx(2.5 / 3, rel=1e-4)  # one angle 3 degrees off, mean of three
    assert front["geodesic"] == pytest.approx(2.5, rel=1e-4) and profile["geodesic"] == pytest.approx(1.5)
    assert profile["euler"] > 100.0  # roll and pitch read 180 degrees apart
    assert profile["euler_grad"] > 20 * front["euler_grad"]
    assert profile["geodesic_grad"] == pytest.approx(front["geodesic_grad"], rel=0.2)
    assert "| 85-90 | 1 |" in capsys.readouterr().out


def test_a_missing_prediction_is_named(tmp_path):
    bench = load_benchmark("rotation_loss_conditioning")
    folder = tmp_path / "eval"
    folder.mkdir()
    (folder / "gt.json").write_text(json.dumps([_entry("x1", np.eye(3))]))
    (folder / "submission.json").write_text(json.dumps({}))
    with pytest.raises(KeyError, match="no prediction for 'x1'"):
        bench.main([str(folder)])
