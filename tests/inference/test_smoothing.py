"""Causal temporal smoothing: the One Euro and alpha-beta filters, quaternion helpers, the head smoother."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from inference_helpers import grace_hopper_path, load_rgb, make_checkpoint
from scipy.spatial.transform import Rotation

from trans3dhead.api import HeadAligner
from trans3dhead.errors import InputError
from trans3dhead.geometry import (
    matrix_to_quaternion,
    ortho_project_3d,
    quaternion_to_matrix,
    rotation_distance,
)
from trans3dhead.inference.alpha_beta import AlphaBetaFilter, AlphaBetaParams
from trans3dhead.inference.one_euro import OneEuroFilter, OneEuroParams, smoothing_factor
from trans3dhead.inference.smoothing import (
    POSITION_FILTER,
    POSITION_ONE_EURO,
    HeadSmoother,
    SmoothingOptions,
    make_filter,
    repose,
)

FPS = 25.0


def run(filter_: OneEuroFilter | AlphaBetaFilter, samples: np.ndarray, **kwargs) -> np.ndarray:
    return np.stack([filter_(x, t / FPS, **kwargs) for t, x in enumerate(samples)])


def acceleration(series: np.ndarray) -> float:
    return float(np.abs(series[2:] - 2 * series[1:-1] + series[:-2]).mean())


# ------------------------------------------------------------------------------------------ One Euro
def test_first_sample_passes_and_alpha_formula():
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0))
    assert f.value is None
    np.testing.assert_array_equal(f(np.array([3.0, -1.0]), 0.0), [3.0, -1.0])
    # beta = 0 is a first-order low-pass: y = y + alpha (x - y) with alpha = r / (1 + r), r = 2 pi fc dt
    alpha = 2 * math.pi * 0.04 / (1 + 2 * math.pi * 0.04)
    assert smoothing_factor(1.0, 0.04) == pytest.approx(alpha)
    np.testing.assert_allclose(f(np.array([4.0, -1.0]), 0.04), [3.0 + alpha, -1.0])


def test_one_euro_reduces_the_jitter_of_a_noisy_constant_and_a_slow_ramp():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 1.0, size=(200, 3))
    for clean in (np.full((200, 3), 5.0), np.linspace(0, 10, 200)[:, None] * np.ones(3)):
        smoothed = run(OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.01)), clean + noise)
        assert acceleration(smoothed) < 0.25 * acceleration(clean + noise)
        assert np.abs(smoothed[50:] - clean[50:]).mean() < 0.5 * np.abs(noise).mean() + 0.3


def test_beta_lowers_the_lag_of_fast_motion():
    ramp = np.arange(100.0)[:, None] * 2.0  # 50 units per second
    slow = run(OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0)), ramp)
    fast = run(OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=1.0)), ramp)
    assert (ramp - fast)[-1, 0] < 0.2 * (ramp - slow)[-1, 0]


def test_output_at_t_depends_only_on_samples_up_to_t():
    rng = np.random.default_rng(1)
    samples = rng.normal(size=(40, 5, 2))
    changed = samples.copy()
    changed[25:] += rng.normal(scale=10.0, size=changed[25:].shape)
    for order in (1, 2):
        params = OneEuroParams(min_cutoff=1.5, beta=0.5, order=order)
        a = run(OneEuroFilter(params, vector_axis=-1), samples)
        b = run(OneEuroFilter(params, vector_axis=-1), changed)
        np.testing.assert_array_equal(a[:25], b[:25])
        assert not np.allclose(a[25:], b[25:])


def test_cascade_keeps_the_low_frequency_delay_and_removes_more_jitter():
    rng = np.random.default_rng(2)
    t = np.arange(400) / FPS
    clean = np.sin(2 * math.pi * 0.2 * t)[:, None]
    noisy = clean + rng.normal(0, 0.05, size=clean.shape)
    one = run(OneEuroFilter(OneEuroParams(min_cutoff=3.0, order=1)), noisy)
    two = run(OneEuroFilter(OneEuroParams(min_cutoff=3.0, order=2)), noisy)
    lag = [np.argmax(np.correlate(s[100:, 0], clean[100:, 0], "full")) - 299 for s in (one, two)]
    assert lag[0] == lag[1]
    assert acceleration(two) < 0.8 * acceleration(one)


def test_lead_removes_the_delay_on_a_steady_ramp_and_stays_causal():
    ramp = np.arange(200.0)[:, None] * 0.4  # 10 units per second
    for order in (1, 2):
        plain = run(OneEuroFilter(OneEuroParams(min_cutoff=1.0, order=order)), ramp)
        lead = OneEuroFilter(OneEuroParams(min_cutoff=1.0, order=order, lead=1.0))
        led = run(lead, ramp)
        assert (ramp - plain)[-1, 0] > 1.0  # the low-pass follows a ramp late...
        assert abs((ramp - led)[-1, 0]) < 0.02 * (ramp - plain)[-1, 0]  # ...the lead removes that delay
        np.testing.assert_array_equal(lead.value, led[-1])
    rng = np.random.default_rng(3)
    samples = rng.normal(size=(40, 3))
    changed = np.concatenate([samples[:25], samples[25:] + 5.0])
    params = OneEuroParams(min_cutoff=1.5, beta=0.5, order=2, lead=0.7)
    a, b = run(OneEuroFilter(params), samples), run(OneEuroFilter(params), changed)
    np.testing.assert_array_equal(a[:25], b[:25])


def test_speed_scale_and_vector_speed():
    ramp = np.stack([np.arange(50.0), np.zeros(50)], axis=1)[:, None, :]  # one point moving along x
    params = OneEuroParams(min_cutoff=1.0, beta=1.0)
    unscaled = run(OneEuroFilter(params, vector_axis=-1), ramp)
    scaled = run(OneEuroFilter(params, vector_axis=-1), ramp, speed_scale=100.0)
    assert (ramp - scaled)[-1, 0, 0] > 5 * (ramp - unscaled)[-1, 0, 0]  # speed / 100: less adaptation
    np.testing.assert_allclose(scaled[:, 0, 1], 0.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_cutoff": 0.0}, "min_cutoff must be a positive number"),
        ({"d_cutoff": float("inf")}, "d_cutoff must be a positive number"),
        ({"beta": -1.0}, "beta must be a finite number >= 0"),
        ({"order": 0}, "order must be an integer in [1, 4]"),
        ({"lead": 1.5}, "lead must be a number in [0, 1]"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        OneEuroParams(**kwargs)


@pytest.mark.parametrize(
    "make, params",
    [(OneEuroFilter, OneEuroParams()), (AlphaBetaFilter, AlphaBetaParams())],
    ids=["one_euro", "alpha_beta"],
)
def test_bad_samples(make, params):
    f = make(params)
    f(np.zeros(2), 1.0)
    for earlier in (1.0, 0.5):
        with pytest.raises(ValueError, match="timestamps must increase"):
            f(np.zeros(2), earlier)
    with pytest.raises(ValueError, match="differs from the first sample"):
        f(np.zeros(3), 2.0)
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="non-finite"):
            f(np.array([bad, 0.0]), 3.0)
    with pytest.raises(ValueError, match="speed_scale must be positive"):
        f(np.zeros(2), 3.0, speed_scale=0.0)
    f.reset()
    np.testing.assert_array_equal(f(np.ones(3), 0.0), np.ones(3))
    with pytest.raises(ValueError, match="vector_axis"):
        make(params, vector_axis=0)


# ---------------------------------------------------------------------------------------- alpha-beta
def test_alpha_beta_update_rule():
    f = AlphaBetaFilter(AlphaBetaParams(alpha=0.5, beta=0.2))
    assert f.value is None and f.velocity is None
    np.testing.assert_array_equal(f(np.array([1.0, 2.0]), 0.0), [1.0, 2.0])  # the first sample passes
    np.testing.assert_array_equal(f.velocity, [0.0, 0.0])
    # x_pred = x + v dt = 1; r = 3 - 1 = 2; x = 1 + 0.5 * 2 = 2; v = 0 + (0.2 / 0.5) * 2 = 0.8
    np.testing.assert_allclose(f(np.array([3.0, 2.0]), 0.5), [2.0, 2.0])
    np.testing.assert_allclose(f.velocity, [0.8, 0.0])
    # x_pred = 2 + 0.8 * 0.25 = 2.2; r = 0.8; x = 2.6; v = 0.8 + 0.8 * 0.8 = 1.44
    np.testing.assert_allclose(f(np.array([3.0, 2.0]), 0.75), [2.6, 2.0])
    np.testing.assert_allclose(f.velocity, [1.44, 0.0])
    f.reset()
    assert f.value is None
    np.testing.assert_array_equal(f(np.ones(2), 9.0), np.ones(2))


def test_alpha_beta_follows_a_steady_ramp_without_delay_where_the_low_pass_lags():
    ramp = np.arange(200.0)[:, None] * 0.4  # 10 units per second
    low_pass = run(OneEuroFilter(OneEuroParams(min_cutoff=1.0, order=2)), ramp)
    tracked = run(AlphaBetaFilter(POSITION_FILTER), ramp)
    assert (ramp - low_pass)[-1, 0] > 1.0
    assert abs((ramp - tracked)[-1, 0]) < 1e-6  # the velocity estimate converges to the ramp's
    # uneven sample times: still no delay once converged (the prediction uses each sample's own dt)
    times = np.cumsum(np.random.default_rng(5).uniform(0.02, 0.06, size=300))
    f = AlphaBetaFilter(POSITION_FILTER)
    out = [f(np.array([10.0 * t]), t) for t in times]
    assert abs(out[-1][0] - 10.0 * times[-1]) < 1e-3
    np.testing.assert_allclose(f.velocity, [10.0], atol=1e-3)


def test_alpha_beta_reduces_jitter_and_is_causal():
    rng = np.random.default_rng(6)
    clean = np.linspace(0, 10, 300)[:, None, None] * np.ones((1, 5, 2))
    noisy = clean + rng.normal(0.0, 1.0, size=clean.shape)
    smoothed = run(AlphaBetaFilter(POSITION_FILTER, vector_axis=-1), noisy)
    assert acceleration(smoothed) < 0.5 * acceleration(noisy)
    assert np.abs(smoothed[50:] - clean[50:]).mean() < np.abs(noisy[50:] - clean[50:]).mean()
    changed = noisy.copy()
    changed[25:] += rng.normal(scale=10.0, size=changed[25:].shape)
    other = run(AlphaBetaFilter(POSITION_FILTER, vector_axis=-1), changed)
    np.testing.assert_array_equal(smoothed[:25], other[:25])
    assert not np.allclose(smoothed[25:], other[25:])
    passthrough = run(AlphaBetaFilter(AlphaBetaParams(alpha=1.0, beta=0.0)), noisy)
    np.testing.assert_allclose(passthrough, noisy, rtol=0, atol=1e-12)  # alpha 1, beta 0: the raw samples


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 0.0}, r"alpha must be in \(0, 1\]"),
        ({"alpha": 1.2}, r"alpha must be in \(0, 1\]"),
        ({"beta": -0.1}, r"beta must be in \[0, 4 - 2 alpha\)"),
        ({"alpha": 0.5, "beta": 3.0}, r"beta must be in \[0, 4 - 2 alpha\) = \[0, 3\)"),
        ({"alpha": float("nan")}, "alpha must be a finite number"),
        ({"beta": True}, "beta must be a finite number"),
    ],
)
def test_alpha_beta_bad_parameters(kwargs, message):
    with pytest.raises(InputError, match=message):
        AlphaBetaParams(**kwargs)


def test_make_filter_picks_the_filter_by_the_parameters_type():
    with pytest.raises(InputError, match="OneEuroParams or AlphaBetaParams"):
        make_filter({"alpha": 0.5})
    assert isinstance(make_filter(AlphaBetaParams()), AlphaBetaFilter)
    assert isinstance(make_filter(OneEuroParams()), OneEuroFilter)


# ----------------------------------------------------------------------------------------- quaternions
def test_quaternion_round_trip_and_scipy():
    matrices = torch.from_numpy(Rotation.random(20, random_state=3).as_matrix())
    q = matrix_to_quaternion(matrices)
    assert (q[:, 0] >= 0).all()
    reference = Rotation.from_matrix(matrices.numpy()).as_quat()  # (x, y, z, w)
    reference = np.concatenate([reference[:, 3:], reference[:, :3]], 1) * np.sign(reference[:, 3:])
    np.testing.assert_allclose(q.numpy(), reference, atol=1e-12)
    torch.testing.assert_close(quaternion_to_matrix(q), matrices)
    torch.testing.assert_close(quaternion_to_matrix(-3.0 * q), matrices)  # any length, either sign


def test_smoothed_rotation_keeps_sign_continuity_through_180_degrees():
    """Yaw sweeping through 180 degrees: matrix_to_quaternion flips the sign of q there (w >= 0); the
    smoother must not average q with -q (which would pass through a non-rotation)."""
    smoother = HeadSmoother(options=SmoothingOptions())
    angles = np.radians(np.linspace(150, 210, 31))
    previous = None
    for t, a in enumerate(angles):
        rotation = Rotation.from_euler("y", a).as_matrix()
        q = smoother._quaternion(rotation)
        if previous is not None:
            assert q @ previous > 0.99  # same hemisphere as the last output
        previous = smoother.rotation(q, t / FPS)
        out = quaternion_to_matrix(torch.from_numpy(previous)).numpy()
        np.testing.assert_allclose(out @ out.T, np.eye(3), atol=1e-12)
        assert rotation_distance(torch.from_numpy(out), torch.from_numpy(rotation)) < 8.0


# ----------------------------------------------------------------------------------------- head smoother
@pytest.fixture(scope="module")
def aligner(tmp_path_factory):
    return HeadAligner.from_checkpoint(make_checkpoint(tmp_path_factory.mktemp("smooth")), "cpu")


@pytest.fixture(scope="module")
def head(aligner):
    (prediction,) = aligner.predict(load_rgb(grace_hopper_path()))
    return prediction


def test_repose_moves_every_mesh_output_with_the_pose(aligner, head):
    rotation = Rotation.from_euler("xyz", [0.1, -0.2, 0.05]).as_matrix() @ head.rotation
    translation = head.translation + np.array([0.01, -0.02, 0.0])
    moved = repose(
        head,
        rotation=rotation,
        scale=head.scale * 1.1 + 0.05,
        translation=translation,
        landmarks=head.landmarks + 1.0,
        dense=aligner.mesh.dense,
    )
    # model-frame vertices from the original camera, projected with the new parameters
    linear, shift = head.camera[:, :3], head.camera[:, 3]
    model = (head.vertices - shift) @ np.linalg.inv(linear).T
    expected = ortho_project_3d(
        torch.from_numpy(model @ rotation.T),
        torch.tensor([moved.scale], dtype=torch.float64),
        torch.from_numpy(translation),
        image_size=head.input_size,
    ).numpy()
    np.testing.assert_allclose(moved.vertices, expected, atol=1e-8)
    np.testing.assert_allclose(np.c_[model, np.ones(len(model))] @ moved.camera.T, moved.vertices, atol=1e-8)
    np.testing.assert_allclose(moved.landmarks, head.landmarks + 1.0)
    for name, idx in aligner.mesh.dense.items():
        np.testing.assert_allclose(moved.dense_landmarks[name], moved.vertices[idx, :2])
    np.testing.assert_array_equal(moved.params, head.params)  # shape and expression untouched
    np.testing.assert_array_equal(moved.branch_landmarks, head.branch_landmarks)


def test_smoother_reduces_jitter_is_causal_and_can_be_off(aligner, head):
    rng = np.random.default_rng(4)
    heads = []
    for _ in range(30):
        noise = Rotation.from_rotvec(rng.normal(0, 0.03, 3)).as_matrix()
        heads.append(
            repose(
                head,
                rotation=noise @ head.rotation,
                scale=head.scale + rng.normal(0, 0.01),
                translation=head.translation + np.r_[rng.normal(0, 0.01, 2), 0.0],
                landmarks=head.landmarks + rng.normal(0, 1.0, head.landmarks.shape),
            )
        )
    smoother = HeadSmoother(options=SmoothingOptions(), dense=aligner.mesh.dense)
    out = [smoother(h, t / FPS) for t, h in enumerate(heads)]
    one_euro = SmoothingOptions(translation=POSITION_ONE_EURO, landmarks=POSITION_ONE_EURO)
    no_lead = SmoothingOptions(
        translation=replace(POSITION_ONE_EURO, lead=0.0), landmarks=replace(POSITION_ONE_EURO, lead=0.0)
    )
    for options, factor in ((one_euro, 0.7), (no_lead, 0.5)):
        other = HeadSmoother(options=options, dense=aligner.mesh.dense)
        out_other = [other(h, t / FPS) for t, h in enumerate(heads)]
        for field in ("landmarks", "translation"):
            raw = acceleration(np.stack([getattr(h, field) for h in heads]))
            # a lead compensates 0.7 of the One Euro filter's delay, which keeps some jitter
            assert acceleration(np.stack([getattr(h, field) for h in out_other])) < factor * raw
    for field in ("landmarks", "translation"):  # the default: alpha-beta filters
        raw = acceleration(np.stack([getattr(h, field) for h in heads]))
        assert acceleration(np.stack([getattr(h, field) for h in out])) < 0.5 * raw
    euler_raw, euler_out = np.stack([h.euler for h in heads]), np.stack([h.euler for h in out])
    assert acceleration(euler_out) < 0.5 * acceleration(euler_raw)
    # causal: a different future leaves the past alone
    again = HeadSmoother(options=SmoothingOptions(), dense=aligner.mesh.dense)
    out2 = [again(h, t / FPS) for t, h in enumerate(heads[:20] + heads[:10])]
    for a, b in zip(out[:20], out2[:20], strict=True):
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
        np.testing.assert_array_equal(a.rotation, b.rotation)
    off = HeadSmoother(options=SmoothingOptions(enabled=False))
    assert off(heads[3], 0.0) is heads[3]


def test_smoothing_options_validate_and_serialise():
    with pytest.raises(InputError, match="rotation must be OneEuroParams"):
        SmoothingOptions(rotation={"min_cutoff": 1.0})
    d = SmoothingOptions().to_dict()
    assert d["enabled"] is True
    gains = {"alpha": POSITION_FILTER.alpha, "beta": POSITION_FILTER.beta}
    assert d["landmarks"] == {"filter": "alpha_beta", **gains}
    d = SmoothingOptions(rotation=OneEuroParams()).to_dict()
    assert set(d["rotation"]) == {"filter", "min_cutoff", "beta", "d_cutoff", "order", "lead"}
    assert d["rotation"]["filter"] == "one_euro"
