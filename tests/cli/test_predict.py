"""``trans3dhead predict``: photos, folders with a corrupt file, videos, user boxes, exit codes and errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from inference_helpers import astronaut_path, grace_hopper_path, load_rgb, make_checkpoint, write_image

from trans3dhead.cli import main
from trans3dhead.inference.inputs import collect_inputs
from trans3dhead.inference.schema import validate_result


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("cli"))


def predict(checkpoint: Path, *args: object) -> int:
    return main(["predict", "--checkpoint", str(checkpoint), *(str(a) for a in args)])


def read_result(path: Path) -> dict:
    document = json.loads(path.read_text())
    validate_result(document)
    return document


def write_video(path: Path, frames: int = 5, size: int = 96) -> Path:
    """A tiny Motion-JPEG video of Grace Hopper's face sliding sideways."""
    face = cv2.resize(load_rgb(grace_hopper_path())[60:420, 100:420], (size, size))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (size + 20, size))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.zeros((size, size + 20, 3), np.uint8)
        frame[:, 4 * i : 4 * i + size] = face
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_folder_with_a_corrupt_image(checkpoint, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(grace_hopper_path(), folder / "grace.jpg")
    write_image(folder / "nested" / "small.png", load_rgb(grace_hopper_path())[::2, ::2].copy())
    (folder / "nested" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (folder / "notes.txt").write_text("not an image: skipped")
    out = tmp_path / "out"
    assert predict(checkpoint, folder, "--out", out, "--meshes", "--mesh-format", "both") == 0
    stderr = capsys.readouterr().err
    assert "broken.png" in stderr and "1 error(s)" in stderr
    for key in ("photos/grace", "photos/nested/small"):
        document = read_result(out / f"{key}.json")
        assert len(document["heads"]) == 1 and document["heads"][0]["detector"] == "frontal"
        assert document["frame"] is None and document["backend"] == "torch"
        for suffix in (".png", ".head0.obj", ".head0.ply"):
            assert (out / f"{key}{suffix}").is_file(), key + suffix
    errors = json.loads((out / "errors.json").read_text())
    assert [Path(e["input"]).name for e in errors] == ["broken.png"]
    assert "cannot read image" in errors[0]["error"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processed_images"] == 2 and summary["failed_inputs"] == 1 and summary["heads"] == 2


def test_public_domain_photos(checkpoint, tmp_path):
    out = tmp_path / "out"
    assert predict(checkpoint, grace_hopper_path(), "--out", out, "--batch", "1") == 0
    document = read_result(out / "grace_hopper.json")
    (head,) = document["heads"]
    assert len(head["landmarks"]) == 68 and set(head["euler"]) == {"roll", "pitch", "yaw"}
    annotated = load_rgb(out / "grace_hopper.png")
    assert annotated.shape == load_rgb(grace_hopper_path()).shape
    assert not (out / "grace_hopper.head0.obj").exists()  # meshes only with --meshes


def test_astronaut_photo(checkpoint, tmp_path):
    out = tmp_path / "out"
    assert predict(checkpoint, astronaut_path(), "--out", out) == 0
    assert len(read_result(out / "astronaut.json")["heads"]) >= 1


def test_video_input(checkpoint, tmp_path):
    video = write_video(tmp_path / "clip.avi")
    out = tmp_path / "out"
    assert (
        predict(checkpoint, video, "--out", out, "--full-image", "--batch", "2", "--detect-every", "3") == 0
    )
    frames = sorted((out / "clip").glob("frame_*.json"))
    assert [f.stem for f in frames] == [f"frame_{i:06d}" for i in range(5)]
    documents = [read_result(f) for f in frames]
    assert documents[3]["frame"] == 3
    heads = [d["heads"][0] for d in documents]
    assert [h["detector"] for h in heads] == ["full_image", "track", "track", "full_image", "track"]
    assert [h["track_id"] for h in heads] == [0] * 5 and [h["track_age"] for h in heads] == list(range(5))
    assert [h["confirmed"] for h in heads] == [True, False, False, True, False]
    assert heads[0]["raw"]["landmarks"] == heads[0]["landmarks"]  # a filter passes its first sample
    assert heads[4]["raw"]["landmarks"] != heads[4]["landmarks"]  # and smooths the next ones
    assert len(list((out / "clip").glob("frame_*.png"))) == 5
    annotated = next(out.glob("clip.annotated.*"))
    capture = cv2.VideoCapture(str(annotated))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    capture.release()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processed_videos"] == 1 and summary["processed_frames"] == 5


def test_video_without_smoothing_detecting_every_frame(checkpoint, tmp_path):
    video = write_video(tmp_path / "clip.avi", frames=3)
    out = tmp_path / "out"
    args = ("--out", out, "--full-image", "--detect-every", "1", "--no-smoothing", "--no-frame-images")
    assert predict(checkpoint, video, *args) == 0
    heads = [read_result(f)["heads"][0] for f in sorted((out / "clip").glob("frame_*.json"))]
    assert [h["detector"] for h in heads] == ["full_image"] * 3 and [h["track_id"] for h in heads] == [0] * 3
    assert not any("raw" in h for h in heads)


def test_video_frame_step_and_no_frame_images(checkpoint, tmp_path):
    video = write_video(tmp_path / "clip.avi")
    out = tmp_path / "out"
    args = ("--out", out, "--full-image", "--frame-step", "2", "--no-frame-images")
    assert predict(checkpoint, video, *args) == 0
    assert sorted(f.stem for f in (out / "clip").glob("*.json")) == [
        "frame_000000",
        "frame_000002",
        "frame_000004",
    ]
    assert not list((out / "clip").glob("*.png"))


def test_boxes_file(checkpoint, tmp_path):
    image = write_image(tmp_path / "in" / "a.png", load_rgb(grace_hopper_path())[::2, ::2].copy())
    write_image(tmp_path / "in" / "b.png", np.zeros((50, 60, 3), np.uint8))
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"a.png": [[30, 20, 120, 150], [10, 10, 40, 40]], "b.png": []}))
    out = tmp_path / "out"
    assert predict(checkpoint, tmp_path / "in", "--out", out, "--boxes", boxes) == 0
    heads = read_result(out / "in" / "a.json")["heads"]
    assert [h["box"] for h in heads] == [[30, 20, 120, 150], [10, 10, 40, 40]]
    assert {h["detector"] for h in heads} == {"boxes"} and {h["score"] for h in heads} == {None}
    assert read_result(out / "in" / "b.json")["heads"] == []
    # An image the table does not name, or whose box lies outside it, is an error for that image only
    # (the box error happens inside a batch shared with a.png, which is still processed).
    write_image(tmp_path / "in" / "c.png", np.zeros((50, 60, 3), np.uint8))
    boxes.write_text(json.dumps({"a.png": [[30, 20, 120, 150]], "b.png": [[500, 500, 10, 10]]}))
    assert predict(checkpoint, tmp_path / "in", "--out", tmp_path / "out2", "--boxes", boxes) == 0
    errors = {
        Path(e["input"]).name: e["error"] for e in json.loads((tmp_path / "out2" / "errors.json").read_text())
    }
    assert set(errors) == {"b.png", "c.png"}
    assert "no boxes for image 'c.png'" in errors["c.png"] and "outside" in errors["b.png"]
    assert len(read_result(tmp_path / "out2" / "in" / "a.json")["heads"]) == 1
    assert image.is_file()


def test_camera_focal_turns_the_reported_rotation(checkpoint, tmp_path):
    """--camera-focal F: the rotation is Q^T R of --camera-focal 0's (Q from the crop centre), the
    landmarks are kept."""
    from trans3dhead.geometry.camera import line_of_sight_rotation

    pixels = load_rgb(grace_hopper_path())[::2, ::2].copy()
    image = write_image(tmp_path / "in" / "a.png", pixels)
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"a.png": [[30, 20, 120, 150]]}))
    heads = {}
    for focal in ("0", "0.8"):
        out = tmp_path / f"out{focal}"
        assert predict(checkpoint, image, "--out", out, "--boxes", boxes, "--camera-focal", focal) == 0
        (heads[focal],) = read_result(out / "a.json")["heads"]
    x0, y0, x1, y1 = heads["0.8"]["crop_box"]
    q = line_of_sight_rotation(((x0 + x1) / 2, (y0 + y1) / 2), pixels.shape[:2], 0.8)
    assert not np.allclose(q, np.eye(3), atol=1e-3)
    expected = q.T @ np.asarray(heads["0"]["rotation"])
    np.testing.assert_allclose(heads["0.8"]["rotation"], expected, atol=1e-6)
    np.testing.assert_allclose(heads["0.8"]["landmarks"], heads["0"]["landmarks"], atol=1e-6)


def test_nothing_processed_exits_1(checkpoint, tmp_path, capsys):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    assert predict(checkpoint, tmp_path / "bad.jpg", "--out", tmp_path / "out") == 1
    assert "cannot read image" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--checkpoint", "missing.pt", "{img}", "--out", "{out}"), "missing.pt: checkpoint not found"),
        (("--checkpoint", "{ckpt}", "nowhere.png", "--out", "{out}"), "nowhere.png: input not found"),
        (("--checkpoint", "{ckpt}", "{img}", "--out", "{out}", "--boxes", "{bad_boxes}"), "not a valid JSON"),
        (("--checkpoint", "{ckpt}", "{img}", "--out", "{out}", "--batch", "0"), "--batch must be a positive"),
        (
            ("--checkpoint", "{ckpt}", "{img}", "--out", "{out}", "--backend", "torch", "--onnx", "m.onnx"),
            "--onnx",
        ),
        (("--checkpoint", "{ckpt}", "{empty}", "--out", "{out}"), "no image or video files found"),
        (("--checkpoint", "{ckpt}", "{img}", "--out", "{out}", "--camera-focal", "-1"), "must be >= 0"),
        (("--checkpoint", "{ckpt}", "{img}", "--out", "{out}", "--camera-focal", "nan"), "must be >= 0"),
    ],
)
def test_bad_arguments_exit_2(checkpoint, tmp_path, capsys, args, message):
    (tmp_path / "boxes.json").write_text("{not json")
    (tmp_path / "empty").mkdir()
    values = {
        "ckpt": checkpoint,
        "img": grace_hopper_path(),
        "out": tmp_path / "out",
        "bad_boxes": tmp_path / "boxes.json",
        "empty": tmp_path / "empty",
    }
    argv = ["predict", *(a.format(**values) for a in args)]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_input_keys_are_unique(tmp_path):
    for name in ("a/x.png", "b/x.png", "x.jpg", "clip.avi"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    inputs = collect_inputs(
        [tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", tmp_path / "x.jpg", tmp_path]
    )
    assert [i.key for i in inputs[:3]] == ["x", "x_2", "x_3"]
    keys = {i.key: i for i in inputs[3:]}
    root = tmp_path.name
    assert set(keys) == {f"{root}/a/x", f"{root}/b/x", f"{root}/x", f"{root}/clip"}
    assert keys[f"{root}/clip"].is_video and keys[f"{root}/a/x"].names == ("a/x.png", "x.png")
