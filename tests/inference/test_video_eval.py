"""Jitter and lag (known answers), the video evaluation on synthetic sequences, ``trans3dhead eval-video``."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from inference_helpers import make_checkpoint

from trans3dhead.cli import main
from trans3dhead.data.synthetic import SceneOptions
from trans3dhead.data.synthetic.video import VideoOptions, generate_video_dataset
from trans3dhead.flame import load_assets
from trans3dhead.geometry import axis_angle_to_matrix
from trans3dhead.inference.video_eval import (
    SeriesPrediction,
    find_sequences,
    load_sequence,
    series_metrics,
)
from trans3dhead.inference.video_report import video_report_markdown
from trans3dhead.metrics.temporal import landmark_jitter, motion_lag, rotation_jitter, second_difference
from trans3dhead.metrics.topology import BenchmarkTopology

FRAMES = 24


# ------------------------------------------------------------------------------------ known answers
def test_landmark_jitter_of_a_parabola_and_of_a_line():
    t = np.arange(10.0)
    points = np.zeros((10, 68, 2))
    points[..., 0] = (0.5 * t**2)[:, None]  # acceleration 1 px / frame^2 on every point
    boxes = np.tile([0.0, 0.0, 20.0, 5.0], (10, 1))  # head size sqrt(100) = 10 px
    assert landmark_jitter(points, bbox=boxes) == pytest.approx(100.0 * 1.0 / 10.0)
    points[..., 0] = 3.0 * t[:, None]  # constant velocity: no acceleration
    assert landmark_jitter(points, bbox=boxes) == pytest.approx(0.0)
    points[4] = np.nan  # a missing frame removes the three accelerations that touch it
    assert second_difference(points)[:, 0, 0].tolist().count(0.0) == 5


def test_rotation_jitter_in_degrees():
    angles = np.radians(0.5 * np.arange(8.0) ** 2)  # about z: 1 degree / frame^2
    rotations = axis_angle_to_matrix(torch.from_numpy(np.stack([0 * angles, 0 * angles, angles], 1))).numpy()
    assert rotation_jitter(rotations) == pytest.approx(1.0)
    assert rotation_jitter(rotations[:2]) != rotation_jitter(rotations[:2])  # NaN: no acceleration


@pytest.mark.parametrize("shift", [0, 1, 3, -2])
def test_lag_of_a_shifted_prediction(shift):
    t = np.arange(120.0)
    truth = np.stack([np.sin(2 * math.pi * t / 40), np.cos(2 * math.pi * t / 55)], axis=1)
    delayed = np.stack(
        [np.sin(2 * math.pi * (t - shift) / 40), np.cos(2 * math.pi * (t - shift) / 55)], axis=1
    )
    assert motion_lag(delayed + 0.3, truth) == pytest.approx(shift, abs=1e-9)  # a constant bias is ignored
    noisy = delayed + np.random.default_rng(0).normal(0, 0.05, truth.shape)
    assert motion_lag(noisy, truth) == pytest.approx(shift, abs=0.2)
    half = np.stack([np.sin(2 * math.pi * (t - 0.5) / 40), np.cos(2 * math.pi * (t - 0.5) / 55)], axis=1)
    assert motion_lag(half, truth) == pytest.approx(0.5, abs=0.06)
    gappy = delayed.copy()
    gappy[50:60] = np.nan
    assert motion_lag(gappy, truth) == pytest.approx(shift, abs=1e-9)
    assert math.isnan(motion_lag(truth, np.ones_like(truth)))  # the truth does not move


# ------------------------------------------------------------------------------- on a synthetic video
@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny checkpoint and a one-sequence video of the checkpoint's own (tiny) head model."""
    root = tmp_path_factory.mktemp("video_eval")
    checkpoint = make_checkpoint(root)
    assets = load_assets(str(root / "flame" / "model.npz"), str(root / "flame" / "aux"))
    events = generate_video_dataset(
        root / "videos",
        assets=assets,
        count=1,
        seed=0,
        scene=SceneOptions(size=64),
        video=VideoOptions(frames=FRAMES),
    )
    assert len(list(events)) == FRAMES
    return checkpoint, root / "videos", BenchmarkTopology.from_assets(assets)


def truth_as_prediction(sequence, shift: int = 0) -> SeriesPrediction:
    index = np.clip(np.arange(sequence.frames) - shift, 0, sequence.frames - 1)
    track = np.zeros(sequence.frames, int)
    return SeriesPrediction(sequence.landmarks[index], sequence.rotations[index], track)


def test_truth_scores_zero_error_its_own_jitter_and_no_lag(setup):
    _, videos, topology = setup
    sequence = load_sequence(find_sequences(videos)[0], topology=topology)
    assert sequence.frames == FRAMES and sequence.landmarks.shape == (FRAMES, 68, 2)
    scores = series_metrics(truth_as_prediction(sequence), sequence)
    assert scores["nme"] == pytest.approx(0.0, abs=1e-4) and scores["pose_error"] == pytest.approx(
        0.0, abs=1e-5
    )
    assert scores["jitter_landmarks"] == pytest.approx(
        landmark_jitter(sequence.landmarks, bbox=sequence.bbox)
    )
    assert scores["jitter_pose_deg"] == pytest.approx(rotation_jitter(sequence.rotations))
    assert scores["lag_landmarks"] == 0.0 and scores["lag_pose"] == 0.0 and scores["scored"] == FRAMES
    late = series_metrics(truth_as_prediction(sequence, shift=2), sequence)
    assert late["lag_landmarks"] == pytest.approx(2.0, abs=0.1) and late["lag_pose"] == pytest.approx(
        2.0, abs=0.1
    )
    assert late["nme"] > 0


def test_a_track_change_breaks_the_acceleration_series(setup):
    _, videos, topology = setup
    sequence = load_sequence(find_sequences(videos)[0], topology=topology)
    series = truth_as_prediction(sequence)
    series.track[12:] = 1
    series.landmarks[12:] += 50.0  # a jump at the change of track is not jitter
    scores = series_metrics(series, sequence)
    assert scores["jitter_terms"] == FRAMES - 4
    whole = landmark_jitter(sequence.landmarks, bbox=sequence.bbox)
    assert scores["jitter_landmarks"] == pytest.approx(whole, rel=0.5)


def test_cli_eval_video(setup, tmp_path, capsys):
    checkpoint, videos, _ = setup
    out = tmp_path / "out"
    argv = ["eval-video", "--checkpoint", str(checkpoint), "--data", str(videos), "--out", str(out)]
    assert main([*argv, "--detect-every", "4", "--smooth", "landmarks=3,5", "--beta", "8"]) == 0
    printed = capsys.readouterr().out
    assert "smoothed: NME" in printed and "truth: jitter" in printed
    report = json.loads((out / "metrics.json").read_text())
    assert report["tracking"]["detect_every"] == 4 and report["detector"] == "gt boxes"
    from trans3dhead.inference.smoothing import POSITION_ONE_EURO  # the One Euro base of the positions

    expected = {"min_cutoff": 3.0, "beta": 5.0, "d_cutoff": 1.0, "order": 2, "lead": POSITION_ONE_EURO.lead}
    expected = {"filter": "one_euro", **expected}
    assert report["smoothing"]["landmarks"] == expected
    assert report["smoothing"]["rotation"]["beta"] == 8.0
    (name,) = report["sequences"]
    result = report["sequences"][name]
    assert result["frames"] == FRAMES and result["found"] >= FRAMES // 4  # detection frames crop the GT box
    assert set(result) >= {"raw", "smoothed", "gt", "id_switches"}
    assert "| all | smoothed |" in (out / "metrics.md").read_text()
    assert main([*argv[:-1], str(tmp_path / "o2"), "--no-smoothing"]) == 0
    capsys.readouterr()
    plain = json.loads((tmp_path / "o2" / "metrics.json").read_text())["overall"]
    assert plain["raw"] == plain["smoothed"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--smooth", "pose=1,2"], "expected QUANTITY=MIN_CUTOFF,BETA"),
        (["--min-cutoff", "0"], "min_cutoff must be a positive number"),
        (["--filter-order", "9"], r"order must be an integer in \[1, 4\]"),
        (["--lead", "2"], r"lead must be a number in \[0, 1\]"),
        (["--smooth", "landmarks=1,8,1,2,-1"], r"lead must be a number in \[0, 1\]"),
        (["--smooth", "landmarks=alpha-beta:1.5"], r"alpha must be in \(0, 1\]"),
        (["--smooth", "landmarks=kalman:1,2"], "or QUANTITY=alpha-beta:ALPHA"),
        (["--smooth", "landmarks=alpha-beta:0.5,0.3,1"], "or QUANTITY=alpha-beta:ALPHA"),
        (["--alpha-beta", "0.5,x"], r"expected ALPHA\[,BETA\]"),
        (["--alpha-beta", "0.5", "--lead", "0.5"], "--alpha-beta and the One Euro flags"),
        (["--detect-every", "0"], "detect_every must be an integer >= 1"),
        (["--sequence", "nope"], "not a synthetic video sequence"),
        # the tiny head model is random points: it has no mirror image
        (["--flip"], "model.npz: flip averaging and data.flip need a left-right symmetric head model"),
    ],
)
def test_cli_bad_arguments(setup, tmp_path, capsys, extra, message):
    checkpoint, videos, _ = setup
    argv = [
        "eval-video",
        "--checkpoint",
        str(checkpoint),
        "--data",
        str(videos),
        "--out",
        str(tmp_path / "o"),
    ]
    try:
        code = main([*argv, *extra])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert re.search(message, capsys.readouterr().err)


def test_report_markdown_handles_missing_values():
    nan = float("nan")
    row = {"nme": nan, "pose_error": nan, "pose_deg": nan, "jitter_landmarks": nan, "jitter_pose_deg": nan}
    row.update(lag_landmarks=nan, lag_pose=nan, scored=0)
    overall = {
        "frames": 3,
        "found": 0,
        "id_switches": 0,
        "tracks": 0,
        "gt": {"jitter_landmarks": 1.0, "jitter_pose_deg": 1.0},
    }
    report = {
        "sequences": {"s": {}},
        "overall": {**overall, "raw": row, "smoothed": row},
        "detector": "gt boxes",
        "tracking": {"detect_every": 5},
        "smoothing": {},
    }
    text = video_report_markdown(report)
    assert "| all | raw | n/a |" in text and "jitter xn/a" in text


def test_lead_flags_reach_the_filters():
    import argparse

    from trans3dhead.cli._common import add_video_args, video_options

    parser = argparse.ArgumentParser()
    add_video_args(parser)
    _, smoothing = video_options(parser.parse_args(["--lead", "0.5", "--smooth", "rotation=2,12,1,2,0.25"]))
    assert smoothing.landmarks.lead == 0.5 and smoothing.translation.lead == 0.5
    assert (smoothing.rotation.min_cutoff, smoothing.rotation.beta, smoothing.rotation.lead) == (2, 12, 0.25)


def test_filter_kinds_from_flags():
    import argparse

    from trans3dhead.cli._common import add_video_args, video_options
    from trans3dhead.inference.alpha_beta import AlphaBetaParams
    from trans3dhead.inference.one_euro import OneEuroParams
    from trans3dhead.inference.smoothing import (
        POSE_FILTER,
        POSE_ONE_EURO,
        POSITION_FILTER,
        POSITION_ONE_EURO,
        SmoothingOptions,
    )

    parser = argparse.ArgumentParser()
    add_video_args(parser)

    def options(*argv):
        return video_options(parser.parse_args(list(argv)))[1]

    assert options() == SmoothingOptions()  # no flags: the defaults
    assert options().landmarks == POSITION_FILTER and options().rotation == POSE_FILTER
    assert isinstance(options("--lead", "0.5").rotation, OneEuroParams)
    every = options("--alpha-beta", "0.6")
    # BETA left out: each quantity keeps its own default beta
    assert every.rotation == every.scale == AlphaBetaParams(alpha=0.6, beta=POSE_FILTER.beta)
    assert every.landmarks == AlphaBetaParams(alpha=0.6, beta=POSITION_FILTER.beta)
    assert options("--alpha-beta", "0.6,0.2").rotation == AlphaBetaParams(alpha=0.6, beta=0.2)
    one = options("--smooth", "rotation=alpha-beta:0.7,0.2", "--smooth", "landmarks=one-euro:1,8")
    assert one.rotation == AlphaBetaParams(alpha=0.7, beta=0.2)
    assert one.landmarks == replace(POSITION_ONE_EURO, min_cutoff=1.0, beta=8.0)
    assert one.scale == POSE_FILTER and one.translation == SmoothingOptions().translation
    flags = options("--beta", "9", "--smooth", "translation=alpha-beta:0.4")
    assert flags.landmarks == replace(POSITION_ONE_EURO, beta=9.0)
    assert flags.rotation == replace(POSE_ONE_EURO, beta=9.0)
    assert flags.translation == AlphaBetaParams(alpha=0.4, beta=0.3)
