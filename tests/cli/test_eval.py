"""``trans3dhead eval``: report, submission and GT such that ``score`` reproduces it; test split; AFLW."""

from __future__ import annotations

import json

import pytest
from dataset_files import write_aflw_item
from train_helpers import make_training_setup

from trans3dhead.cli import main
from trans3dhead.config import load_config
from trans3dhead.engine.fit import fit


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    overrides = make_training_setup(root)
    fit(load_config(None, [*overrides, "train.epochs=1"]), root / "run")
    data = next(o.split("=", 1)[1] for o in overrides if o.startswith("data.root="))
    return root, root / "run" / "best.pt", data


def test_eval_then_score_reproduces(trained, capsys):
    root, checkpoint, data = trained
    out = root / "eval"
    assert (
        main(["eval", "--checkpoint", str(checkpoint), "--data", data, "--split", "val", "--out", str(out)])
        == 0
    )
    for name in ("submission.json", "gt.json", "metrics.json", "metrics.md"):
        assert (out / name).is_file(), name
    model_path = root / "flame" / "model.npz"
    aux = root / "flame" / "aux"
    assert (
        main(
            [
                "score",
                "--gt",
                str(out / "gt.json"),
                "--submission",
                str(out / "submission.json"),
                "--out",
                str(root / "score"),
                "--flame",
                str(model_path),
                "--aux",
                str(aux),
            ]
        )
        == 0
    )
    evaluated = json.loads((out / "metrics.json").read_text())
    scored = json.loads((root / "score" / "metrics.json").read_text())
    assert evaluated["overall"] == scored["overall"]
    assert evaluated["overall"]["nme_reprojection"]["scored"] == 2
    # both landmark sources, labelled; the submitted NME is the FLAME reprojection's by default
    assert evaluated["results"]["nme_flame"] == evaluated["results"]["nme_reprojection"]
    assert evaluated["results"]["nme_branch"] != evaluated["results"]["nme_flame"]
    assert set(evaluated["landmark_sources"]) == {"nme_reprojection", "nme_flame", "nme_branch"}
    markdown = (out / "metrics.md").read_text()
    assert "NME FLAME reprojection" in markdown and "NME landmark branch" in markdown


def test_eval_of_a_model_without_landmark_branch_says_so(trained, tmp_path, capsys):
    root, _, data = trained
    overrides = make_training_setup(tmp_path)
    fit(load_config(None, [*overrides, "train.epochs=1", "model.multitask=false"]), tmp_path / "run")
    out = tmp_path / "eval"
    args = ["eval", "--checkpoint", str(tmp_path / "run" / "best.pt"), "--data", data, "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert "nme_branch" not in report["results"] and "nme_flame" in report["results"]
    assert report["landmark_sources"]["nme_branch"].startswith("n/a")
    assert "n/a" in (out / "metrics.md").read_text()
    assert main([*args[:-2], "--out", str(tmp_path / "eval2"), "--landmarks", "branch"]) == 2
    assert "no landmark branch" in capsys.readouterr().err


def test_eval_split_without_annotations(trained, capsys):
    root, checkpoint, data = trained
    import shutil
    from pathlib import Path

    test_root = root / "test_only"
    shutil.copytree(Path(data) / "val", test_root / "test")
    meta = test_root / "test" / "val.json"
    entries = [
        {
            k: v.replace("val/", "test/") if isinstance(v, str) else v
            for k, v in e.items()
            if k != "annotation_path"
        }
        for e in json.loads(meta.read_text())
    ]
    (test_root / "test" / "test.json").write_text(json.dumps(entries))
    out = root / "eval_test"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(checkpoint),
                "--data",
                str(test_root),
                "--split",
                "test",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "no annotations" in capsys.readouterr().out
    submission = json.loads((out / "submission.json").read_text())
    assert sorted(submission) == ["val_000", "val_001"] and not (out / "metrics.json").exists()
    assert len(submission["val_000"]["68_landmarks_2d"]) == 68


def test_eval_aflw2000(trained, tmp_path):
    _, checkpoint, _ = trained
    folder = tmp_path / "aflw"
    folder.mkdir()
    write_aflw_item(folder, "image00002", 0, 20, 0)
    write_aflw_item(folder, "image00006", 10, -30, 5)
    write_aflw_item(folder, "image00008", 0, 150, 0)  # dropped by the [-99, 99] protocol
    out = tmp_path / "out"
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(checkpoint),
                "--dataset",
                "aflw2000",
                "--data",
                str(folder),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["count"] == 2 and metrics["filtered_out"] == 1
    assert metrics["mean"] == pytest.approx((metrics["yaw"] + metrics["pitch"] + metrics["roll"]) / 3)
    assert len(json.loads((out / "predictions.json").read_text())) == 2


def test_eval_bad_checkpoint(tmp_path, capsys):
    (tmp_path / "x.pt").write_bytes(b"junk")
    assert (
        main(
            ["eval", "--checkpoint", str(tmp_path / "x.pt"), "--data", str(tmp_path), "--out", str(tmp_path)]
        )
        == 2
    )
    assert "not a readable checkpoint" in capsys.readouterr().err


def test_eval_camera_focal_turns_each_rotation_by_its_line_of_sight(trained, tmp_path, capsys):
    """--camera-focal F: each submitted rotation is Q^T R of the plain one, Q from the eval crop's centre;
    the landmarks are untouched, the report names the focal; bad values are refused."""
    import numpy as np
    from PIL import Image

    from trans3dhead.geometry.camera import line_of_sight_rotation
    from trans3dhead.geometry.crop import FIXED_EVAL_EXTENSION, CropTransform

    root, checkpoint, data = trained
    args = ["eval", "--checkpoint", str(checkpoint), "--data", data, "--split", "val"]
    assert main([*args, "--out", str(tmp_path / "plain")]) == 0
    assert main([*args, "--out", str(tmp_path / "focal"), "--camera-focal", "1.5"]) == 0
    plain = json.loads((tmp_path / "plain" / "submission.json").read_text())
    turned = json.loads((tmp_path / "focal" / "submission.json").read_text())
    entries = {e["item_id"]: e for e in json.loads((root / "data" / "val" / "val.json").read_text())}
    for item_id, prediction in plain.items():
        entry = entries[item_id]
        width, height = Image.open(root / "data" / entry["img_path"]).size
        crop = CropTransform.from_bbox(
            entry["bbox"], (height, width), size=64, extension=FIXED_EVAL_EXTENSION
        )
        x0, y0, x1, y1 = crop.box
        q = line_of_sight_rotation(((x0 + x1) / 2, (y0 + y1) / 2), (height, width), 1.5)
        assert not np.allclose(q, np.eye(3), atol=1e-4)  # the tiny dataset's heads sit off centre
        expected = q.T @ np.asarray(prediction["rotation_matrix"])
        np.testing.assert_allclose(turned[item_id]["rotation_matrix"], expected, atol=1e-5)
        np.testing.assert_allclose(turned[item_id]["68_landmarks_2d"], prediction["68_landmarks_2d"])
    assert json.loads((tmp_path / "focal" / "metrics.json").read_text())["sources"]["camera_focal"] == "1.5"
    for bad in ("-1", "nan", "inf"):
        assert main([*args, "--out", str(tmp_path / f"bad{bad}"), "--camera-focal", bad]) == 2
        assert "--camera-focal must be >= 0" in capsys.readouterr().err
