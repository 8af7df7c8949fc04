"""Issue 14: every bad input found by a hostile new user gives a clear error or a reported problem.

One test (or a few) per case of the issue, in its order: tracebacks that became one-line errors, silent
wrong results that became reported problems, file modes, device errors and outputs checked first.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from dataset_files import write_split
from gt_samples import perturbed_prediction, synthetic_gt_item
from inference_helpers import grace_hopper_path, make_checkpoint, write_image
from train_helpers import make_training_setup

from trans3dhead.atomic import atomic_write
from trans3dhead.cli import main
from trans3dhead.config import ConfigError, load_config
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset
from trans3dhead.data.io import DataError
from trans3dhead.engine.checkpoint import save_checkpoint
from trans3dhead.errors import InputError
from trans3dhead.flame.files import write_aux_dir, write_model_npz
from trans3dhead.metrics.benchmark import score_predictions
from trans3dhead.metrics.groundtruth import read_gt_file, write_gt_file
from trans3dhead.metrics.submission import ROTATION, read_submission, write_submission
from trans3dhead.metrics.topology import BenchmarkTopology


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("reliability"))


@pytest.fixture
def topology(tiny_assets):
    return BenchmarkTopology.from_assets(tiny_assets)


@pytest.fixture
def items(tiny_assets):
    rng = np.random.default_rng(0)
    return [synthetic_gt_item(tiny_assets.model.v_template, item_id=f"id{i}", rng=rng) for i in range(3)]


def bomb_png(path: Path, side: int = 20000) -> Path:
    """A valid 1-bit PNG of side x side black pixels: ~50 KB that decode to gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = bytes(1 + side // 8)  # filter byte + packed bits
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


# --- tracebacks that are now clear errors


def test_decompression_bomb_is_an_error_of_that_image_only(checkpoint, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(grace_hopper_path(), folder / "grace.jpg")
    bomb = bomb_png(folder / "bomb.png")
    assert bomb.stat().st_size < 100_000
    out = tmp_path / "out"
    assert (
        main(["predict", "--checkpoint", str(checkpoint), str(folder), "--out", str(out), "--full-image"])
        == 0
    )
    assert "bomb.png" in capsys.readouterr().err
    errors = json.loads((out / "errors.json").read_text())
    assert [Path(e["input"]).name for e in errors] == ["bomb.png"]
    assert "too many pixels" in errors[0]["error"]
    assert (out / "photos" / "grace.json").is_file()  # the good image beside it is kept


@pytest.mark.parametrize(
    "command",
    [
        ["score", "--gt", "gt.json", "--submission", "sub.json", "--out", "{out}"],
        ["eval", "--checkpoint", "{ckpt}", "--data", "data", "--out", "{out}"],
        ["train", "--out", "{out}"],
        ["predict", "--checkpoint", "{ckpt}", "{ckpt}", "--out", "{out}"],
        ["export", "--checkpoint", "{ckpt}", "--out", "{out}/model.onnx"],
        ["flame-export", "{out}"],
        ["make-gt", "--data", "data", "--out", "{out}/gt.json"],
        ["demo", "--out", "{out}"],
        ["synth", "{out}", "--train", "1"],
        ["experiment", "spec.yaml", "--out", "{out}"],
        ["slim-checkpoint", "{ckpt}", "{out}/slim.pt"],
    ],
)
def test_out_naming_an_existing_file_is_a_clear_error(command, tmp_path, capsys):
    afile = tmp_path / "a_file"
    afile.write_text("not a folder")
    ckpt = tmp_path / "ckpt.pt"
    ckpt.write_bytes(b"never read: the output is checked first")
    argv = [part.format(out=afile, ckpt=ckpt) for part in command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{afile}" in err and "is a file, not a folder" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "ckpt.pt"]  # nothing was made


def test_out_file_naming_a_folder(tmp_path, capsys):
    assert main(["make-gt", "--data", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert f"--out {tmp_path}: is a folder, expected a file name" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", "half"])
def test_truncated_or_empty_flame_npz(content, tmp_path, tiny_raw, capsys):
    model_raw, aux_raw = tiny_raw
    good = write_model_npz(model_raw, tmp_path / "good.npz")
    aux = write_aux_dir(aux_raw, tmp_path / "aux")
    bad = tmp_path / "model.npz"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2] if content == "half" else content)
    assert main(["flame-info", "--flame", str(bad), "--aux", str(aux)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{bad}: not a readable .npz model file" in err


# --- silent wrong results that are now reported


def test_duplicate_item_id_in_a_submission_scores_no_copy(tmp_path, items, topology):
    entries = {gt.item_id: perturbed_prediction(gt, topology) for gt in items}
    first = json.dumps(entries["id0"])
    text = json.dumps(entries)[:-1] + f', "id0": {first}}}'  # id0 given twice
    path = tmp_path / "sub.json"
    path.write_text(text)
    result = score_predictions(items, read_submission(path), topology=topology)
    problems = [(p.item_id, p.field, p.kind) for p in result.problems]
    assert problems == [("id0", "*", "duplicate_id")]
    assert "2 times" in result.problems[0].message
    assert result.items[0].values == {} and result.items[1].values  # no copy of id0 is scored
    assert result.overall["nme_reprojection"].scored == 2


def test_duplicate_field_in_a_prediction_is_reported(tmp_path, items, topology):
    entries = {gt.item_id: perturbed_prediction(gt, topology) for gt in items}
    body = json.dumps(entries["id1"])
    rotation = json.dumps(entries["id1"][ROTATION])
    entries_text = json.dumps({k: v for k, v in entries.items() if k != "id1"})
    text = entries_text[:-1] + f', "id1": {body[:-1]}, "{ROTATION}": {rotation}}}}}'
    path = tmp_path / "sub.json"
    path.write_text(text)
    result = score_predictions(items, read_submission(path), topology=topology)
    assert [(p.item_id, p.field, p.kind) for p in result.problems] == [("id1", ROTATION, "duplicate_field")]
    assert "pose_error" not in result.items[1].values and "nme_reprojection" in result.items[1].values


def test_duplicate_key_in_a_gt_file_is_an_error(tmp_path, items):
    path = write_gt_file(tmp_path / "gt.json", items)
    text = path.read_text()
    path.write_text(text.replace('"bbox":', '"bbox":[1,2,3,4],"bbox":', 1))
    with pytest.raises(ValueError, match=r"key\(s\) \['bbox'\] given more than once"):
        read_gt_file(path)


@pytest.mark.parametrize(
    "rotation",
    [np.zeros((3, 3)), 5 * np.eye(3), np.diag([1.0, 1.0, -1.0]), np.eye(3) + 0.05],
    ids=["zeros", "5I", "reflection", "skewed"],
)
def test_a_matrix_that_is_not_a_rotation_is_reported(rotation, tmp_path, items, topology):
    predictions = {gt.item_id: perturbed_prediction(gt, topology) for gt in items}
    predictions["id2"][ROTATION] = rotation.tolist()
    result = score_predictions(
        items, read_submission(write_submission(tmp_path / "s.json", predictions)), topology=topology
    )
    (problem,) = result.problems
    assert (problem.item_id, problem.field, problem.kind) == ("id2", ROTATION, "not_a_rotation")
    assert set(problem.metrics) == {"pose_error", "pose_angle_deg"}
    assert "pose_error" not in result.items[2].values and "z5_accuracy" in result.items[2].values
    assert result.overall["pose_error"].scored == 2


def test_float32_and_rounded_rotations_are_rotations(tmp_path, items, topology):
    predictions = {gt.item_id: perturbed_prediction(gt, topology, rotation_noise_deg=20.0) for gt in items}
    predictions["id0"][ROTATION] = np.round(np.asarray(predictions["id0"][ROTATION]), 3).tolist()
    result = score_predictions(items, predictions, topology=topology)
    assert result.problems == [] and result.overall["pose_error"].scored == 3


def write_bad_index(data: Path) -> None:
    """A non-numeric bbox in train's index, a duplicated item id in train and in val."""
    train = json.loads((data / "train" / "train.json").read_text())
    train[1]["bbox"] = ["a", "b", "c", "d"]
    train[3]["item_id"] = train[2]["item_id"]
    (data / "train" / "train.json").write_text(json.dumps(train))
    val = json.loads((data / "val" / "val.json").read_text())
    (data / "val" / "val.json").write_text(json.dumps(val + [dict(val[0])]))


def test_skip_bad_drops_bad_index_entries(tmp_path, tiny_assets):
    write_split(tmp_path, "train", tiny_assets, items=5)
    write_split(tmp_path, "val", tiny_assets, items=2)
    write_bad_index(tmp_path)
    with pytest.raises(DataError, match=r"entry 1 \(train_001\): field 'bbox' must be"):
        DAD3DHeadsDataset(root=tmp_path, split="train", assets=tiny_assets)
    dataset = DAD3DHeadsDataset(root=tmp_path, split="train", assets=tiny_assets, skip_bad=True)
    assert [e["item_id"] for e in dataset.entries] == ["train_000", "train_004"]  # both copies dropped
    assert dataset.skipped_entries == 2 and len(dataset) == 2


def test_cli_train_skip_bad_skips_bad_index_entries(tmp_path, capsys):
    overrides = make_training_setup(tmp_path, train_items=6, val_items=2)
    write_bad_index(tmp_path / "data")
    args = ["train", "--out", str(tmp_path / "run"), *overrides, "train.epochs=1"]
    assert main(args) == 2
    assert "field 'bbox' must be [x, y, w, h]" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert main([*args, "--skip-bad"]) == 0
    assert (tmp_path / "run" / "last.pt").is_file()


def test_data_check_reports_a_split_folder_without_its_index(tmp_path, tiny_assets, capsys):
    write_split(tmp_path, "train", tiny_assets)
    write_split(tmp_path, "val", tiny_assets)
    (tmp_path / "val" / "val.json").unlink()
    (tmp_path / "notes").mkdir()
    assert main(["data", "check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"error: {tmp_path / 'val'}: looks like a split" in out and "val/val.json" in out
    assert f"warning: {tmp_path / 'notes'}: not a split" in out
    assert "FAILED: 1 errors, 1 warnings in 1 splits" in out


def test_data_check_with_only_an_unindexed_split(tmp_path, tiny_assets, capsys):
    write_split(tmp_path, "val", tiny_assets)
    (tmp_path / "val" / "val.json").unlink()
    assert main(["data", "check", str(tmp_path)]) == 1
    assert "FAILED: 1 errors" in capsys.readouterr().out


def test_duplicated_yaml_key_is_an_error(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("train:\n  epochs: 3\n  lr: 1e-3\n  epochs: 30\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'epochs' \(first given on line 2\) at line 4"):
        load_config(path)
    path.write_text("model: {d_model: 32}\nmodel: {nhead: 4}\n")
    with pytest.raises(ConfigError, match="duplicate key 'model'"):
        load_config(path)
    with pytest.raises(ConfigError, match="override 'loss.weights={a: 1, a: 2}': invalid YAML value"):
        load_config(None, ["loss.weights={a: 1, a: 2}"])


def test_full_image_on_a_tiny_picture_is_reported(checkpoint, tmp_path, capsys):
    image = write_image(tmp_path / "dot.png", np.zeros((1, 1, 3), np.uint8))
    out = tmp_path / "out"
    assert (
        main(["predict", "--checkpoint", str(checkpoint), str(image), "--out", str(out), "--full-image"]) == 1
    )
    assert "too small to hold a head" in capsys.readouterr().err
    (error,) = json.loads((out / "errors.json").read_text())
    assert "1x1 px" in error["error"] and not (out / "dot.json").exists()


# --- file modes, devices, outputs checked first, failed runs cleaned up


def test_atomic_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        fresh = atomic_write(tmp_path / "metrics.json", "{}")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        ckpt = save_checkpoint(tmp_path / "last.pt", {"model": {}})
        assert stat.S_IMODE(ckpt.stat().st_mode) == 0o644
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write(tmp_path / "private.json", "{}").stat().st_mode) == 0o600
        fresh.chmod(0o640)
        atomic_write(fresh, "{}")  # a replaced file keeps its mode
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
    finally:
        os.umask(previous)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_eval_on_a_missing_cuda_device_blames_the_device(checkpoint, tmp_path, capsys):
    args = ["eval", "--checkpoint", str(checkpoint), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*args, "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "device 'cuda' asked for CUDA, but torch sees no CUDA device" in err
    assert "checkpoint" not in err


def test_score_checks_its_output_before_reading_anything(tmp_path, capsys):
    afile = tmp_path / "out"
    afile.write_text("x")
    missing = tmp_path / "missing.json"
    assert (
        main(["score", "--gt", str(missing), "--submission", str(missing), "--out", str(afile / "sub")]) == 2
    )
    err = capsys.readouterr().err
    assert f"--out {afile / 'sub'}: {afile} is a file, not a folder" in err and "missing" not in err


def test_failed_train_leaves_no_run_folder(tmp_path, capsys):
    overrides = make_training_setup(tmp_path)
    data = next(o.split("=", 1)[1] for o in overrides if o.startswith("data.root="))
    (Path(data) / "train" / "images" / "train_002.png").write_bytes(b"broken")
    run = tmp_path / "run"
    assert main(["train", "--out", str(run), *overrides, "train.epochs=1"]) == 2
    assert "train_002.png: not a decodable image" in capsys.readouterr().err
    assert not run.exists()
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert main(["train", "--out", str(run), *overrides, "train.epochs=1"]) == 2
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]  # only what this run added is removed


# --- errors versus bugs


def test_project_errors_are_input_errors():
    from trans3dhead.data.io import DataError
    from trans3dhead.engine.checkpoint import CheckpointError
    from trans3dhead.errors import InputError, OutputError
    from trans3dhead.flame.assets import AssetError
    from trans3dhead.flame.safe_pickle import PickleReadError, UnsafePickleError
    from trans3dhead.inference.inputs import ImageReadError
    from trans3dhead.inference.video import VideoReadError
    from trans3dhead.models.backbone import PretrainedWeightsError

    for error in (
        AssetError,
        CheckpointError,
        ConfigError,
        DataError,
        ImageReadError,
        OutputError,
        PickleReadError,
        PretrainedWeightsError,
        UnsafePickleError,
        VideoReadError,
    ):
        assert issubclass(error, InputError) and issubclass(error, ValueError), error


def test_input_errors_exit_2_and_bugs_surface(monkeypatch, capsys):
    import trans3dhead.config
    from trans3dhead.errors import InputError

    def bad_input(*args, **kwargs):
        raise InputError("config.yaml: train.epochs: expected an integer, got 'x'")

    monkeypatch.setattr(trans3dhead.config, "load_config", bad_input)
    assert main(["summary"]) == 2
    assert (
        capsys.readouterr().err
        == "trans3dhead summary: error: config.yaml: train.epochs: expected an integer, got 'x'\n"
    )

    def bug(*args, **kwargs):
        raise ValueError("operands could not be broadcast together")  # e.g. from deep inside numpy

    monkeypatch.setattr(trans3dhead.config, "load_config", bug)
    with pytest.raises(ValueError, match="broadcast"):  # not turned into "error: ...", exit 2
        main(["summary"])


def test_a_bug_exits_1_with_a_traceback(tmp_path):
    import subprocess
    import sys

    script = (
        "import sys, trans3dhead.config as c\n"
        "def bug(*a, **k): raise ValueError('a bug')\n"
        "c.load_config = bug\n"
        "from trans3dhead.cli import main\n"
        "sys.exit(main(['summary']))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "ValueError: a bug" in proc.stderr


def test_flame_export_sizes_out_of_range(tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["flame-export", str(out), "--vertices", "50"]) == 2
    assert "num_vertices_target must be in [1500, 50000], got 50" in capsys.readouterr().err
    assert not out.exists()


def test_failed_eval_leaves_no_submission_without_report(
    checkpoint, tmp_path, tiny_assets, monkeypatch, capsys
):
    import trans3dhead.metrics.groundtruth as groundtruth
    from trans3dhead.errors import InputError

    write_split(tmp_path / "data", "val", tiny_assets, items=2)
    out = tmp_path / "eval"
    args = ["eval", "--checkpoint", str(checkpoint), "--data", str(tmp_path / "data"), "--out", str(out)]

    def fail(*args, **kwargs):  # after submission.json is written
        raise InputError("gt.json: cannot write")

    monkeypatch.setattr(groundtruth, "write_gt_file", fail)
    assert main(args) == 2
    assert "gt.json: cannot write" in capsys.readouterr().err
    assert not out.exists()  # submission.json was written, then removed with the folder
    monkeypatch.undo()
    assert main(args) == 0
    assert {p.name for p in out.iterdir()} >= {"submission.json", "gt.json", "metrics.json", "metrics.md"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.nhead=0", "model.nhead must be positive"),
        ("train.val_every=0", "train.val_every must be positive"),
        ("train.log_every=0", "train.log_every must be positive"),
        ("data.workers=-1", "data.workers must be >= 0"),
        ("train.lr=.nan", "train.lr: expected a finite number"),
        ("loss.weights.euler=.inf", "loss.weights.euler: expected a finite number"),
        ("model={1.5: 1, x: 2}", r"unknown key\(s\) \[1.5, 'x'\]"),
    ],
)
def test_config_values_found_by_fuzzing(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_annotation_values_beyond_float32_are_an_error(tmp_path, tiny_assets):
    from trans3dhead.data.io import read_annotation

    write_split(tmp_path, "val", tiny_assets, items=1)
    path = tmp_path / "val" / "annotations" / "val_000.json"
    annotation = json.loads(path.read_text())
    annotation["model_view_matrix"][0][3] = 1e300  # finite in float64, infinite in float32
    path.write_text(json.dumps(annotation))
    with pytest.raises(DataError, match="'model_view_matrix' has values beyond the float32 range"):
        read_annotation(path)


# --- found by the hypothesis fuzzing of tests/system/test_fuzz.py


@pytest.mark.parametrize(
    "value",
    ["2001-13-45", "[" * 3000, "1" + "0" * 5000],  # ValueError (date, int), RecursionError inside PyYAML
)
def test_yaml_values_pyyaml_cannot_construct_are_config_errors(value, tmp_path):
    with pytest.raises(ConfigError, match="invalid YAML value .*a value cannot be read"):
        load_config(None, [f"train.lr={value}"])
    path = tmp_path / "config.yaml"
    path.write_text(f"train:\n  lr: {value}\n")
    with pytest.raises(ConfigError, match="invalid YAML .*a value cannot be read"):
        load_config(path)


def _zero_projection(matrix: list) -> list:
    return [[0.0] * 4 for _ in matrix]


def _tiny_depth_projection(matrix: list) -> list:
    """x scaled up and w scaled down: finite in float64, far beyond float32 once in the crop frame."""
    rows = [list(row) for row in matrix]
    rows[0] = [3e38, 0.0, 0.0, 0.0]
    rows[3] = [value * 1e-3 for value in rows[3]]
    return rows


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_zero_projection, "projective depth w of zero or of both signs"),  # singular: 0 / 0 pixels
        (lambda p: [*p[:3], [0.0] * 4], "projective depth w of zero or of both signs"),  # a zero w row
        (_tiny_depth_projection, "beyond the float32 range"),
    ],
)
def test_a_gt_camera_without_finite_pixels_is_an_error(change, message, tmp_path, items, topology):
    entries = json.loads(write_gt_file(tmp_path / "valid.json", items).read_text())
    entries[1]["projection_matrix"] = change(entries[1]["projection_matrix"])
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(InputError, match=rf"gt.json: entry 1 \(id 'id1'\): .*{message}"):
        read_gt_file(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_zero_projection, "projective depth w of zero or of both signs"),
        (_tiny_depth_projection, r"the camera gives non-finite targets \[.*'projected'\]"),
    ],
)
def test_an_annotation_camera_without_finite_targets_is_an_error(change, message, tmp_path, tiny_assets):
    write_split(tmp_path, "val", tiny_assets, items=2)
    path = tmp_path / "val" / "annotations" / "val_001.json"
    annotation = json.loads(path.read_text())
    annotation["projection_matrix"] = change(annotation["projection_matrix"])
    path.write_text(json.dumps(annotation))
    dataset = DAD3DHeadsDataset(root=tmp_path, split="val", assets=tiny_assets, input_size=32)
    with pytest.raises(DataError, match=rf"val_001.json: .*{message}"):
        dataset[1]
    skipping = DAD3DHeadsDataset(root=tmp_path, split="val", assets=tiny_assets, input_size=32, skip_bad=True)
    assert skipping[1] is None and skipping[0] is not None


@pytest.mark.parametrize(
    "bad",
    [10**400, False, "1.5"],  # OverflowError traceback; read silently as 0 and 1.5
)
def test_numbers_that_are_not_json_numbers_are_refused(bad, tmp_path, items, topology, tiny_assets):
    from trans3dhead.data.io import read_annotation, read_metadata
    from trans3dhead.inference.boxes import load_boxes_file

    entries = json.loads(write_gt_file(tmp_path / "valid.json", items).read_text())
    entries[0]["bbox"][0] = bad
    (tmp_path / "gt.json").write_text(json.dumps(entries))
    with pytest.raises(InputError, match=r"entry 0 \(id 'id0'\): 'bbox' is not a rectangular array of JSON"):
        read_gt_file(tmp_path / "gt.json")

    (tmp_path / "boxes.json").write_text(json.dumps({"a.png": [[bad, 2, 3, 4]]}))
    with pytest.raises(InputError, match="'a.png' box 0 must be 4 finite numbers"):
        load_boxes_file(tmp_path / "boxes.json")

    predictions = {gt.item_id: perturbed_prediction(gt, topology) for gt in items}
    predictions["id0"][ROTATION][0][0] = bad
    (tmp_path / "sub.json").write_text(json.dumps(predictions))
    result = score_predictions(items, read_submission(tmp_path / "sub.json"), topology=topology)
    assert [(p.item_id, p.field, p.kind) for p in result.problems] == [("id0", ROTATION, "wrong_type")]

    write_split(tmp_path / "data", "val", tiny_assets, items=1)
    index_path = tmp_path / "data" / "val" / "val.json"
    index = json.loads(index_path.read_text())
    index[0]["bbox"][0] = bad
    index_path.write_text(json.dumps(index))
    with pytest.raises(DataError, match="field 'bbox' must be"):
        read_metadata(tmp_path / "data", "val")
    path = tmp_path / "data" / "val" / "annotations" / "val_000.json"
    annotation = json.loads(path.read_text())
    annotation["projection_matrix"][3][3] = bad
    path.write_text(json.dumps(annotation))
    with pytest.raises(DataError, match="'projection_matrix' is not a rectangular array of JSON numbers"):
        read_annotation(path)


@pytest.mark.parametrize(
    "size",
    # sqrt(w h) beyond float32: every NME was 0, a perfect score; below it: 0, every NME infinite and
    # blamed on the prediction
    [[1e300, 100.0], [1e-300, 1e-300]],
)
def test_a_gt_bbox_without_an_nme_normaliser_is_an_error(size, tmp_path, items):
    entries = json.loads(write_gt_file(tmp_path / "valid.json", items).read_text())
    entries[0]["bbox"][2:] = size
    (tmp_path / "gt.json").write_text(json.dumps(entries))
    with pytest.raises(InputError, match=r"entry 0 \(id 'id0'\): 'bbox' .* gives the NME normaliser"):
        read_gt_file(tmp_path / "gt.json")
