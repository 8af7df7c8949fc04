"""``trans3dhead synth --video``: layout, ground truth, occluder passes, determinism, resume, the CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from trans3dhead.cli import main
from trans3dhead.data.synthetic import SceneOptions
from trans3dhead.data.synthetic.video import VideoOptions, generate_video_dataset, sequence_name
from trans3dhead.errors import InputError
from trans3dhead.flame import embedded_assets
from trans3dhead.geometry import euler_to_matrix
from trans3dhead.metrics import build_gt_entries, gt_pose_rotation, parse_gt_entries

SIZE, FRAMES, SEED = 48, 8, 3
SCENE = SceneOptions(size=SIZE)
VIDEO = VideoOptions(frames=FRAMES, occluder_passes=1)


@pytest.fixture(scope="module")
def assets():
    return embedded_assets(num_vertices_target=1500, num_shape=20, num_expression=10)


def generate(root: Path, assets, count: int = 2) -> list:
    events = generate_video_dataset(root, assets=assets, count=count, seed=SEED, scene=SCENE, video=VIDEO)
    return list(events)


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, assets):
    root = tmp_path_factory.mktemp("video") / "data"
    events = generate(root, assets)
    assert len(events) == 2 * FRAMES and not any(e.skipped for e in events)
    return root


def test_layout_and_metadata(dataset):
    name = sequence_name(0)
    assert name == "video_000000"
    folder = dataset / name
    entries = json.loads((folder / f"{name}.json").read_text())
    assert [e["frame"] for e in entries] == list(range(FRAMES))
    assert [e["item_id"] for e in entries] == [f"{name}_{i:06d}" for i in range(FRAMES)]
    assert entries[3]["time"] == pytest.approx(3 / 25.0)
    assert entries[0]["img_path"] == f"{name}/images/{name}_000000.png"
    for entry in entries:
        assert (dataset / entry["img_path"]).is_file() and (dataset / entry["annotation_path"]).is_file()
        assert 0.0 <= entry["hidden_fraction"] <= 1.0
    info = json.loads((folder / "sequence.json").read_text())
    assert info["frames"] == FRAMES and info["fps"] == 25.0 and info["size"] == SIZE
    assert len(info["trajectory"]["euler"]) == FRAMES and len(info["occluder_passes"]) == 1
    capture = cv2.VideoCapture(str(dataset / info["video"]))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    assert (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (
        SIZE,
        SIZE,
    )
    capture.release()
    manifest = json.loads((dataset / ".synth" / "manifest.json").read_text())
    assert manifest["generator"] == "trans3dhead synth --video" and manifest["video"]["frames"] == FRAMES


def test_ground_truth_follows_the_smooth_trajectory(dataset):
    folder = dataset / sequence_name(1)
    items = parse_gt_entries(build_gt_entries(folder), source="test")
    info = json.loads((folder / "sequence.json").read_text())
    euler = torch.tensor(info["trajectory"]["euler"], dtype=torch.float64)
    rotations = np.stack([gt_pose_rotation(item.model_view) for item in items])
    np.testing.assert_allclose(rotations, euler_to_matrix(euler).numpy(), atol=1e-5)
    steps = np.abs(np.diff(euler.numpy(), axis=0)).max()
    assert 0 < steps < 10.0  # moving, smoothly (degrees per frame)
    frames = [cv2.imread(str(dataset / f"{folder.name}/images/{i.item_id}.png")) for i in items]
    assert not any(np.array_equal(frames[0], f) for f in frames[1:])


def test_an_occluder_crosses_the_face(dataset):
    hidden = [
        e["hidden_fraction"]
        for k in range(2)
        for e in json.loads((dataset / sequence_name(k) / f"{sequence_name(k)}.json").read_text())
    ]
    assert max(hidden) > 0.05 and min(hidden) == 0.0


def test_same_seed_same_files(dataset, assets, tmp_path):
    generate(tmp_path / "again", assets)
    assert tree(tmp_path / "again") == tree(dataset)


def test_resume_after_interruption_and_a_lost_video(dataset, assets, tmp_path):
    root = tmp_path / "resumed"
    events = generate_video_dataset(root, assets=assets, count=2, seed=SEED, scene=SCENE, video=VIDEO)
    done = [next(events) for _ in range(FRAMES + 3)]  # the first sequence and three frames of the second
    events.close()
    assert not (root / sequence_name(1) / f"{sequence_name(1)}.json").exists()
    first = root / sequence_name(1) / "images" / f"{done[-1].item_id}.png"
    before = first.stat().st_mtime_ns
    events = generate(root, assets)
    assert [e.skipped for e in events] == [True] * (FRAMES + 3) + [False] * (FRAMES - 3)
    assert first.stat().st_mtime_ns == before
    assert tree(root) == tree(dataset)
    for video in root.glob("video_000000.*"):  # .mp4, or .avi where OpenCV has no mp4v writer
        video.unlink()
    events = generate(root, assets)
    assert all(e.skipped for e in events)  # frames are complete; only the video is written again
    assert tree(root) == tree(dataset)


def test_cli(assets, tmp_path, monkeypatch, capsys, dataset):
    monkeypatch.setattr("trans3dhead.flame.load_assets", lambda flame=None, aux=None: assets)
    out = tmp_path / "cli"
    argv = [
        "synth",
        str(out),
        "--video",
        "2",
        "--frames",
        str(FRAMES),
        "--size",
        str(SIZE),
        "--seed",
        str(SEED),
    ]
    assert main(argv) == 0
    assert f"{2 * FRAMES} images generated" in capsys.readouterr().out
    assert tree(out) == tree(dataset)
    assert main([*argv, "--fps", "30"]) == 2  # other settings in the same folder
    assert "generated with other settings" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "x"), "--video", "1", "--train", "2"]) == 2
    assert "without --train/--val/--test" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "x"), "--video", "1", "--workers", "2"]) == 2
    assert "leave out --workers" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"frames": 2}, "frames must be an integer >= 3"),
        ({"fps": 0.0}, "fps must be a positive number"),
        ({"occluder_passes": -1}, "occluder_passes must be an integer >= 0"),
        ({"noise": -1.0}, "noise must be a finite number >= 0"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(InputError, match=message):
        VideoOptions(**kwargs)
