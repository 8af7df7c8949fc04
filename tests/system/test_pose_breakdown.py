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
    folder.mkdir(parents=True)
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

    # what carries the mean: a (face in view, unclipped), b (face in view, clipped), c (atypical)
    errors = {"a": ten_degrees, "b": sided["error"], "c": table["atypical"]["error"]}
    total = sum(errors.values())
    carried = bench.carriers(gt_read, rows)
    assert set(carried) == {"face in view, unclipped", "face in view, clipped", "atypical, unclipped"}
    assert carried["face in view, clipped"]["share_of_sum"] == pytest.approx(errors["b"] / total)
    assert carried["atypical, unclipped"]["error"] == pytest.approx(errors["c"])
    assert sum(g["share_of_sum"] for g in carried.values()) == pytest.approx(1.0)
    # by box side: a and c have 40 x 40 boxes, b 30 x 30; only a is an unclipped face in view
    sides = bench.by_box_side(gt_read, rows)
    assert {k: v["count"] for k, v in sides["all"].items()} == {"0-32": 1, "32-48": 2}
    assert {k: v["count"] for k, v in sides["face in view, unclipped"].items()} == {"32-48": 1}
    assert sides["all"]["32-48"]["error"] == pytest.approx((errors["a"] + errors["c"]) / 2)
    # the largest errors, and the mean without them
    top = bench.largest(gt_read, rows, 2)
    assert [item["id"] for item in top["items"]] == ["c", "a"]  # 60 degrees, then 10 (b: 8)
    assert top["items"][0]["box_side"] == pytest.approx(40.0) and top["items"][0]["clipped"] is False
    assert top["mean_without_top"] == pytest.approx([total / 3, (errors["a"] + errors["b"]) / 2, errors["b"]])

    monkeypatch.setattr(sys, "argv", ["pose_breakdown.py", str(folder), "--json", str(tmp_path / "t.json")])
    bench.main()
    printed = capsys.readouterr().out
    assert "| front | 1 | 0.247 |" in printed and "| sided | 1 | 0.197 |" in printed
    assert "| clipped=true | 1 | 0.197 | 0.197 | 0.0% |" in printed
    assert "| face in view, clipped | 1 | 0.197 | 0.197 | 0.0% |" in printed
    assert "| c | atypical | 1.414 | 40 | false |" in printed  # 60 degrees: ||I - R||_F = sqrt(2)
    written = json.loads((tmp_path / "t.json").read_text())
    assert written["subsets"]["all"]["count"] == 3 and written["attributes"]["quality=hq"]["count"] == 1
    assert written["box_side"]["all"]["0-32"]["count"] == 1 and len(written["largest"]["items"]) == 3


def test_several_folders_are_pooled_and_their_items_named_by_folder(tmp_path, monkeypatch, capsys):
    bench = load_benchmark("pose_breakdown")
    turn = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    centre = np.array([0.0, 0.0, 2.0])
    ten = Rotation.from_rotvec([np.radians(10.0), 0.0, 0.0]).as_matrix()
    first = _write(tmp_path / "one" / "test", [_entry("x", turn, centre, "front")], {"x": turn})
    second = _write(tmp_path / "two" / "test", [_entry("x", turn, centre, "front")], {"x": ten @ turn})
    gt, rows = bench.read_pooled([first, second])  # both folders are named "test": the paths name them
    assert [entry["id"] for entry in gt] == [f"{first}/x", f"{second}/x"]
    assert bench.breakdown(rows)["front"]["count"] == 2
    third = _write(tmp_path / "three", [_entry("x", turn, centre, "front")], {"x": turn})
    gt, _ = bench.read_pooled([tmp_path / "one" / "test", third])
    assert [entry["id"] for entry in gt] == ["test/x", "three/x"]
    with pytest.raises(ValueError, match="an eval folder is given twice"):
        bench.read_pooled([first, tmp_path / "one" / ".." / "one" / "test"])
    monkeypatch.setattr(sys, "argv", ["pose_breakdown.py", str(first), str(second), "--top", "1"])
    bench.main()
    printed = capsys.readouterr().out
    assert f"| {second}/x | front | 0.247 |" in printed
    assert "(k: mean): 0: 0.123, 1: 0.000" in printed
    monkeypatch.setattr(sys, "argv", ["pose_breakdown.py", str(first), "--top", "-1"])
    with pytest.raises(SystemExit):
        bench.main()
    assert "--top must be 0 or more, got -1" in capsys.readouterr().err


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
