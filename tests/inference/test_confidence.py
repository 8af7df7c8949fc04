"""Per-head confidence: the mapping, known answers, the failure flag, the JSON fields and the picture."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trans3dhead.flame import FlameLayer
from trans3dhead.geometry import CropTransform
from trans3dhead.inference.assemble import MeshInfo, assemble_predictions
from trans3dhead.inference.boxes import Detection
from trans3dhead.inference.confidence import (
    DEFAULT_MAPPING,
    FAILURE_BELOW,
    ConfidenceMapping,
    fit_mapping,
    head_confidence,
    landmark_disagreement,
)
from trans3dhead.inference.prediction import HeadPrediction
from trans3dhead.inference.schema import validate_result
from trans3dhead.models.trans3dhead import initial_params
from trans3dhead.types import HeadOutput
from trans3dhead.viz.draw import LOW_CONFIDENCE_COLOR, annotate

SIZE = 64
BOX = (40.0, 30.0, 100.0, 100.0)


def test_disagreement_known_answer():
    flame = np.zeros((68, 2))
    branch = flame + [3.0, 4.0]  # 5 px apart everywhere
    assert landmark_disagreement(flame, branch, (0, 0, 50, 50)) == pytest.approx(100 * 5 / 50)
    assert landmark_disagreement(flame, branch, (0, 0, 25, 100)) == pytest.approx(100 * 5 / 50)  # sqrt(wh)
    assert landmark_disagreement(flame, flame, (0, 0, 50, 50)) == 0.0
    with pytest.raises(ValueError, match="positive width"):
        landmark_disagreement(flame, branch, (0, 0, 0, 50))
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        landmark_disagreement(flame, branch[:10], (0, 0, 50, 50))


def test_mapping_is_a_decreasing_map_into_0_1():
    d = np.array([0.0, 1.0, 5.0, DEFAULT_MAPPING.midpoint, 20.0, 1e6, np.inf, np.nan])
    c = DEFAULT_MAPPING(d)
    assert ((c >= 0) & (c <= 1)).all()
    assert (np.diff(c[:6]) < 0).all() and c[6] <= c[5]  # strictly decreasing, then saturated
    assert DEFAULT_MAPPING(DEFAULT_MAPPING.midpoint) == pytest.approx(0.5)
    assert c[-1] == 0.0  # non-finite landmarks: no confidence at all
    assert isinstance(DEFAULT_MAPPING(3.0), float)
    with pytest.raises(ValueError, match="spread positive"):
        ConfidenceMapping(midpoint=5.0, spread=0.0)


def test_disagreeing_landmarks_get_low_confidence_and_the_failed_flag():
    rng = np.random.default_rng(0)
    flame = rng.uniform(50, 130, size=(68, 2))
    near = flame + rng.normal(scale=1.0, size=(68, 2))  # ~1% of the box
    far = flame + [25.0, 0.0]  # 25% of the box side
    sure, ok = head_confidence(flame, near, BOX)
    unsure, failed = head_confidence(flame, far, BOX)
    assert 0.9 < sure <= 1.0 and ok is False
    assert 0.0 <= unsure < FAILURE_BELOW and failed is True
    assert head_confidence(flame, None, BOX) == (None, None)  # no landmark branch: no second opinion


def test_fit_recovers_a_known_logistic():
    rng = np.random.default_rng(1)
    truth = ConfidenceMapping(midpoint=6.0, spread=1.2)
    d = rng.uniform(0, 15, size=20000)
    success = rng.uniform(size=d.shape) < truth(d)
    errors = np.where(success, 5.0, 15.0)
    fitted = fit_mapping(d, errors, success_nme=10.0)
    assert fitted.midpoint == pytest.approx(6.0, abs=0.15)
    assert fitted.spread == pytest.approx(1.2, rel=0.1)
    with pytest.raises(ValueError, match="both successes and failures"):
        fit_mapping(d, np.zeros_like(d))
    with pytest.raises(ValueError, match="no decreasing mapping"):
        fit_mapping(d, np.where(d < 7, 15.0, 5.0))


def _heads(tiny_assets, *, shift: float, landmark_branch: bool = True) -> list[HeadPrediction]:
    """Two heads whose network output is the initial FLAME head; the branch landmarks of the second are
    moved by ``shift`` of the crop."""
    flame = FlameLayer(assets=tiny_assets, image_size=SIZE)
    params = initial_params(flame)[None].repeat(2, 1)
    out = flame(params)
    branch = out.landmarks_2d / SIZE  # (2, N, 2): agrees with FLAME
    branch[1, :, 0] += shift
    output = HeadOutput(params=params, flame=out, landmarks=branch, landmark_layers=branch[None])
    crops = [CropTransform.from_bbox(BOX, (200, 200), size=SIZE) for _ in range(2)]
    mesh = MeshInfo.from_flame(flame, landmark_branch=landmark_branch)
    return assemble_predictions(output, crops=crops, detections=[Detection(BOX)] * 2, mesh=mesh)


def test_predictions_carry_confidence_and_it_drops_when_the_branch_disagrees(tiny_assets):
    agree, disagree = _heads(tiny_assets, shift=0.25)
    assert agree.confidence > 0.95 and agree.failed is False
    assert disagree.confidence < agree.confidence and disagree.confidence < FAILURE_BELOW
    assert disagree.failed is True
    for head in (agree, disagree):
        data = json.loads(head.to_json(mesh=False))
        validate_result(data, definition="head")
        assert data["confidence"] == pytest.approx(head.confidence) and data["failed"] is head.failed
        again = HeadPrediction.from_dict(data)
        assert again.confidence == pytest.approx(head.confidence) and again.failed is head.failed


def test_a_model_without_a_landmark_branch_reports_no_confidence(tiny_assets):
    head = _heads(tiny_assets, shift=0.25, landmark_branch=False)[1]
    assert head.confidence is None and head.failed is None
    data = json.loads(head.to_json(mesh=False))
    validate_result(data, definition="head")
    assert data["confidence"] is None and data["failed"] is None


def test_schema_refuses_a_confidence_outside_0_1(tiny_assets):
    data = json.loads(_heads(tiny_assets, shift=0.0)[0].to_json(mesh=False))
    data["confidence"] = 1.5
    with pytest.raises(ValueError, match="above the maximum 1"):
        validate_result(data, definition="head")
    del data["confidence"]
    with pytest.raises(ValueError, match="missing required key 'confidence'"):
        validate_result(data, definition="head")


def test_failed_heads_are_marked_in_the_picture(tiny_assets):
    agree, disagree = _heads(tiny_assets, shift=0.25)
    image = np.zeros((200, 200, 3), np.uint8)
    marked = LOW_CONFIDENCE_COLOR
    assert not (annotate(image, [agree], mesh=False) == marked).all(axis=-1).any()
    assert (annotate(image, [disagree], mesh=False) == marked).all(axis=-1).sum() > 50
    torch.testing.assert_close(disagree.landmarks, agree.landmarks)  # only the flag differs


def test_the_shipped_model_is_less_confident_on_the_back_of_the_head(tmp_path):
    """Issue 16: on a synthetic video whose head turns to the back (yaw amplitude 170 degrees), the shipped
    demo model's confidence is lower on the back-of-the-head frames (pose attribute "atypical") than on
    the frontal ones.  (Occluder passes do not lower it: the measure is the agreement of the two landmark
    sources, which an occluder does not split; docs/video.md.)"""
    from trans3dhead.data.io import read_image
    from trans3dhead.data.synthetic import SceneOptions
    from trans3dhead.data.synthetic.motion import MotionOptions
    from trans3dhead.data.synthetic.video import VideoOptions, generate_video_dataset, sequence_name
    from trans3dhead.demo import SHIPPED_MODEL
    from trans3dhead.inference import HeadAligner
    from trans3dhead.models.build import model_from_checkpoint

    _, _, assets = model_from_checkpoint(SHIPPED_MODEL)
    video = VideoOptions(frames=50, occluder_passes=0, motion=MotionOptions(yaw=170.0))
    scene = SceneOptions(size=128, focal_range=(2.0, 6.0))
    list(generate_video_dataset(tmp_path, assets=assets, count=2, seed=11, scene=scene, video=video))
    aligner = HeadAligner.from_checkpoint(SHIPPED_MODEL, "cpu")
    confidence: dict[str, list[float]] = {"front": [], "sided": [], "atypical": []}
    for k in range(2):
        name = sequence_name(k)
        for entry in json.loads((tmp_path / name / f"{name}.json").read_text()):
            (head,) = aligner.predict(read_image(tmp_path / entry["img_path"]), [entry["bbox"]])
            confidence[entry["attributes"]["pose"]].append(head.confidence)
    assert len(confidence["front"]) >= 10 and len(confidence["atypical"]) >= 10
    # the gap depends on the model: session 5's shipped model 0.2 and more, session 6's (which reads the
    # back of the head better, so its two landmark sources agree more there) 0.07: atypical mean 0.909,
    # lowest 0.77, against front 0.981, lowest 0.977; session 8's 0.042: atypical 0.942 against 0.984;
    # session 10's 0.018: atypical 0.963 against 0.982; session 11's 0.019: atypical 0.962 against 0.981;
    # session 12's 0.011: atypical 0.970 (lowest 0.952) against 0.981; session 13's first model 0.0098,
    # its last 0.0073: atypical 0.973 (lowest 0.962) against 0.980 (lowest 0.966).  The better the model
    # reads the back of the head, the more its two landmark sources agree there: the gap shrinks with every
    # better model (docs/video.md)
    mean = {pose: float(np.mean(values)) for pose, values in confidence.items()}
    assert mean["atypical"] < mean["front"] - 0.005 and mean["atypical"] < mean["sided"] - 0.005
    # the least confident frames are mostly back-of-the-head ones (no model flags any of these frames as a
    # failure; on the static test split the calibration flags 13% of the atypical heads and 5% of the
    # frontal ones for session 5's model, docs/inference.md): up to session 12's model all ten least
    # confident of the 100 frames; session 13's last model the least confident one and six of the ten,
    # against the back views' 35% share of the frames
    ranked = [pose for _, pose in sorted((c, pose) for pose, values in confidence.items() for c in values)]
    share = len(confidence["atypical"]) / len(ranked)
    assert ranked[0] == "atypical" and ranked[:10].count("atypical") >= 5 > 10 * share
