"""benchmarks/pose_breakdown.py: the pose-error breakdown of an evaluated split, on hand-made items whose
answers are known (an error about one camera axis; a prediction equal to the appearance rotation)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark
from scipy.spatial.transform import Rotation

GL = np.diag([1.0, -1.0, -1.0])  # OpenGL camera frame <-> image-aligned frame


def _entry(item_id: str, rotation: np.ndarray, centre: np.ndarray, pose: str, bbox=(10, 10, 40, 40)) -> dict:
    """A gt.json entry (64 px image) whose GT rotation is ``rotation`` and whose head centre
    (image-aligned frame) is ``centre``."""
    model_view = np.eye(4)
    model_view[:3, :3] = GL @ rotation
    model_view[:3, 3] = GL @ centre
    attributes = {"pose": pose, "quality": "hq" if pose == "front" else "lq"}
    return {
        "id": item_id,
        "model_view_matrix": model_view.tolist(),
        "attributes": attributes,
        "bbox": list(bbox),
        "image_height": 64,
    }


def _write(folder: Path, gt: list[dict], predictions: dict[str, np.ndarray]) -> Path:
    folder.mkdir()
    (folder / "gt.json").write_text(json.dumps(gt))
    submission = {key: {"rotation_matrix": value.tolist()} for key, value in predictions.items()}
    (folder / "submission.json").write_text(json.dumps(submission))
    return folder


def test_the_breakdown_separates_an_axis_error_from_the_off_axis_view(tmp_path, monkeypatch, capsys):
    bench = load_benchmark("pose_breakdown")
    turn = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    on_axis, off_axis = np.array([0.0, 0.0, 2.0]), np.array([2.0 * np.tan(np.radians(8.0)), 0.0, 2.0])
    pitch_error = Rotation.from_rotvec([np.radians(10.0), 0.0, 0.0]).as_matrix()
    appearance = bench.ray_alignment(off_axis)
    gt = [_entry("a", turn, on_axis, "front"), _entry("b", turn, off_axis, "sided", bbox=(0, 20, 30, 30))]
    gt.append(_entry("c", turn, on_axis, "atypical"))
    predictions = {"a": pitch_error @ turn, "b": appearance @ turn, "c": turn.T}
    folder = _write(tmp_path / "eval", gt, predictions)
    gt_read, rows = bench.read(folder)
    table = bench.breakdown(rows)

    ten_degrees = 2.0 * np.sqrt(2.0) * np.sin(np.radians(5.0))  # ||I - R||_F of a 10 degree rotation
    front, sided = table["front"], table["sided"]
    assert front["error"] == pytest.approx(ten_degrees, abs=1e-6)
    assert front["error_appearance"] == pytest.approx(ten_degrees, abs=1e-6)  # on the axis: no difference
    assert front["off_axis_deg"] == pytest.approx(0.0, abs=1e-6)
    assert front["rms_pitch_yaw_roll_deg"] == pytest.approx([10.0, 0.0, 0.0], abs=1e-3)
    # the prediction is the appearance rotation: no error against it, the off-axis angle's against R_gt
    assert sided["off_axis_deg"] == pytest.approx(8.0, abs=1e-6)
    assert sided["error_appearance"] == pytest.approx(0.0, abs=1e-6)
    assert sided["error"] == pytest.approx(2.0 * np.sqrt(2.0) * np.sin(np.radians(4.0)), abs=1e-6)
    assert sided["error"] == pytest.approx(sided["off_axis_error"], abs=1e-6)  # MV read as float32
    assert table["atypical"]["gross_share"] == 1.0  # 60 degrees off
    assert table["all"]["count"] == 3 and table["all"]["gross_share"] == pytest.approx(1 / 3)

    # the attribute table: front and sided heads only; b's box touches the left border
    attributes = bench.by_attribute(gt_read, rows)
    assert set(attributes) == {"quality=hq", "quality=lq", "clipped=false", "clipped=true"}
    assert attributes["clipped=true"]["count"] == 1 and attributes["quality=lq"]["count"] == 1
    assert attributes["clipped=true"]["error"] == pytest.approx(sided["error"])

    monkeypatch.setattr(sys, "argv", ["pose_breakdown.py", str(folder), "--json", str(tmp_path / "t.json")])
    bench.main()
    printed = capsys.readouterr().out
    assert "| front | 1 | 0.247 |" in printed and "| sided | 1 | 0.197 |" in printed
    assert "| clipped=true | 1 | 0.197 | 0.197 | 0.0% |" in printed
    written = json.loads((tmp_path / "t.json").read_text())
    assert written["subsets"]["all"]["count"] == 3 and written["attributes"]["quality=hq"]["count"] == 1


def test_a_missing_prediction_is_named(tmp_path):
    bench = load_benchmark("pose_breakdown")
    gt = [_entry("a", np.eye(3), np.array([0.0, 0.0, 2.0]), "front")]
    folder = _write(tmp_path / "eval", gt, {})
    with pytest.raises(KeyError, match="no prediction for 'a'"):
        bench.read(folder)


def test_a_head_behind_the_camera_is_named(tmp_path):
    bench = load_benchmark("pose_breakdown")
    gt = [_entry("a", np.eye(3), np.array([0.0, 0.0, -2.0]), "front")]
    folder = _write(tmp_path / "eval", gt, {"a": np.eye(3)})
    with pytest.raises(ValueError, match="a: model_view_matrix puts the head centre .* behind the camera"):
        bench.read(folder)
