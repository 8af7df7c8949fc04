"""HeadAligner / HeadPrediction on a tiny untrained model: image-space mapping, batching, files, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from inference_helpers import grace_hopper_path, load_rgb, make_checkpoint

from trans3dhead.api import Detection, FullImageDetector, HeadAligner, HeadPrediction
from trans3dhead.engine.checkpoint import CheckpointError
from trans3dhead.geometry import matrix_to_euler
from trans3dhead.inference.mesh_io import read_ply
from trans3dhead.inference.schema import schema_errors, validate_result
from trans3dhead.viz import annotate, draw_pose_axes
from trans3dhead.viz.draw import AXIS_COLORS


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def aligner(checkpoint):
    return HeadAligner.from_checkpoint(checkpoint, "cpu", batch_size=2)


@pytest.fixture(scope="module")
def grace():
    return load_rgb(grace_hopper_path())


@pytest.fixture(scope="module")
def head(aligner, grace) -> HeadPrediction:
    (prediction,) = aligner.predict(grace)
    return prediction


def test_predict_finds_one_head_with_every_field(head, aligner, grace):
    n, v = 68, aligner.mesh.faces.max() + 1
    assert head.detector == "frontal" and head.score > 0
    assert head.image_size == grace.shape[:2] and head.input_size == 64
    assert head.landmarks.shape == (n, 2) and head.landmarks_3d.shape == (n, 3)
    assert head.branch_landmarks.shape == (n, 2)
    assert head.vertices.shape == (v, 3) and head.faces.shape == aligner.mesh.faces.shape
    assert set(head.dense_landmarks) == {"191", "445"}
    assert head.params.shape == (aligner.mesh.layout.total,)
    np.testing.assert_array_equal(head.shape, head.params[:6])
    np.testing.assert_array_equal(head.expression, head.params[6:10])
    np.testing.assert_array_equal(head.jaw, head.params[10:13])
    for name in ("landmarks", "landmarks_3d", "vertices", "rotation", "camera", "params"):
        assert np.isfinite(getattr(head, name)).all(), name


def test_image_space_outputs_agree_with_the_crop_outputs(aligner, grace, head):
    """Map the network's crop-frame outputs back by hand and compare with the prediction."""
    transform, crop = aligner.crop(grace, head.box)
    np.testing.assert_allclose(head.crop_box, transform.box)
    crops = torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255
    out = aligner.predict_batch(crops)
    lmk = transform.points_to_image(out.flame.landmarks_2d[0].double().numpy())
    np.testing.assert_allclose(head.landmarks, lmk, atol=1e-3)
    branch = transform.points_to_image(out.landmarks[0].double().numpy() * 64)
    np.testing.assert_allclose(head.branch_landmarks, branch, atol=1e-3)
    projected = transform.points_to_image(out.flame.projected[0].double().numpy())
    np.testing.assert_allclose(head.vertices[:, :2], projected, atol=1e-3)
    # The camera maps the model-frame mesh straight to the image frame (x, y and z).
    model_vertices = out.flame.vertices[0].double().numpy()
    homogeneous = np.concatenate([model_vertices, np.ones((len(model_vertices), 1))], axis=1)
    np.testing.assert_allclose(homogeneous @ head.camera.T, head.vertices, atol=1e-3)
    # z is in pixel units: the image-frame mesh is a similarity of the posed mesh.
    posed = out.flame.posed_vertices[0].double().numpy()
    ratio = np.ptp(head.vertices, axis=0) / np.ptp(posed, axis=0)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-4)
    dense = aligner.mesh.dense["191"]
    np.testing.assert_allclose(head.dense_landmarks["191"], head.vertices[dense, :2])


def test_rotation_and_euler(head):
    np.testing.assert_allclose(head.rotation @ head.rotation.T, np.eye(3), atol=1e-5)
    np.testing.assert_allclose(head.euler, matrix_to_euler(torch.from_numpy(head.rotation)).numpy())
    assert (head.roll, head.pitch, head.yaw) == tuple(head.euler.tolist())


def test_given_boxes_and_batching_match_single_predictions(aligner, grace, head):
    boxes = [head.box, [100.0, 80.0, 200.0, 260.0], [10.0, 300.0, 150.0, 150.0]]
    small = grace[::2, ::2].copy()
    batched = aligner.predict_many([grace, small], [boxes, None])  # batch_size 2: heads split over calls
    assert [len(r) for r in batched] == [3, 1]
    for box, prediction in zip(boxes, batched[0], strict=True):
        (alone,) = aligner.predict(grace, [box])
        assert prediction.detector == "user" and prediction.score is None
        np.testing.assert_allclose(prediction.box, box)
        np.testing.assert_allclose(prediction.landmarks, alone.landmarks, atol=1e-3)
        np.testing.assert_allclose(prediction.params, alone.params, atol=1e-4)
    np.testing.assert_allclose(batched[0][0].landmarks, head.landmarks, atol=1e-3)
    scored = aligner.predict(grace, [Detection((100.0, 80.0, 200.0, 260.0), 0.5, "frontal")])
    assert scored[0].score == 0.5 and scored[0].detector == "frontal"


def test_branch_landmark_source(checkpoint, grace, head):
    branch = HeadAligner.from_checkpoint(checkpoint, "cpu", landmark_source="branch")
    (prediction,) = branch.predict(grace, [head.box])
    np.testing.assert_allclose(prediction.landmarks, head.branch_landmarks, atol=1e-3)


def test_camera_focal_turns_the_rotation_only(checkpoint, grace, head, tmp_path):
    """With a focal length the rotation (and its Euler angles) is Q^T R_crop, Q from the crop centre; the
    mesh, landmarks and camera stay the crop's; the checkpoint's model.camera_focal is the default."""
    from trans3dhead.geometry import matrix_to_euler
    from trans3dhead.geometry.camera import line_of_sight_rotation

    turned = HeadAligner.from_checkpoint(checkpoint, "cpu", camera_focal=0.8)
    (prediction,) = turned.predict(grace, [head.box])
    x0, y0, x1, y1 = prediction.crop_box
    q = line_of_sight_rotation(((x0 + x1) / 2, (y0 + y1) / 2), grace.shape[:2], 0.8)
    assert not np.allclose(q, np.eye(3), atol=1e-3)
    np.testing.assert_allclose(prediction.rotation, q.T @ head.rotation, atol=1e-6)
    euler = matrix_to_euler(torch.from_numpy(prediction.rotation)).numpy()
    np.testing.assert_allclose(prediction.euler, euler, atol=1e-6)
    for name in ("landmarks", "vertices", "camera"):
        np.testing.assert_allclose(getattr(prediction, name), getattr(head, name), atol=1e-6, err_msg=name)
    configured = make_checkpoint(tmp_path, overrides=("model.camera_focal=0.8",))
    (from_config,) = HeadAligner.from_checkpoint(configured, "cpu").predict(grace, [head.box])
    np.testing.assert_allclose(from_config.rotation, prediction.rotation, atol=1e-6)
    (off,) = HeadAligner.from_checkpoint(configured, "cpu", camera_focal=None).predict(grace, [head.box])
    np.testing.assert_allclose(off.rotation, head.rotation, atol=1e-6)
    for bad in (0.0, -2.0, float("nan"), True):
        with pytest.raises(ValueError, match="camera_focal must be a positive number"):
            HeadAligner(backend=turned.backend, mesh=turned.mesh, camera_focal=bad)


def test_full_image_detector_crops_the_whole_image(checkpoint, grace):
    aligner = HeadAligner.from_checkpoint(checkpoint, "cpu", detector=FullImageDetector())
    (prediction,) = aligner.predict(grace)
    h, w = grace.shape[:2]
    np.testing.assert_allclose(prediction.crop_box, [0, 0, w, h])


def test_no_head_gives_an_empty_list(aligner):
    assert aligner.predict(np.full((120, 160, 3), 90, np.uint8)) == []


def test_json_round_trip_and_schema(head):
    data = json.loads(head.to_json())
    validate_result(data, definition="head")
    again = HeadPrediction.from_dict(data)
    assert json.loads(again.to_json()) == data
    assert again.layout == head.layout
    without_mesh = HeadPrediction.from_dict(json.loads(head.to_json(mesh=False)))
    assert without_mesh.vertices is None and "vertices" not in without_mesh.to_dict()
    with pytest.raises(ValueError, match="no mesh"):
        without_mesh.save_obj("never.obj")


def test_schema_validator_reports_what_is_wrong(head):
    data = head.to_dict(mesh=False)
    data["euler"]["yaw"] = 120.0
    data["landmarks"][3] = [1.0]
    del data["rotation"]
    data["detector"] = "magic"
    errors = " | ".join(schema_errors(data, {"$ref": "#/$defs/head"}, root=_schema()))
    assert "$.euler.yaw: 120.0 is above the maximum 90" in errors
    assert "$.landmarks[3]: expected at least 2 items" in errors
    assert "missing required key 'rotation'" in errors
    assert "'magic' is not one of" in errors
    with pytest.raises(ValueError, match="missing required key 'heads'"):
        validate_result({"input": "x", "frame": None, "image_size": [1, 1], "backend": "torch"})


def _schema():
    from trans3dhead.inference.schema import prediction_schema

    return prediction_schema()


def test_obj_and_ply_files(head, tmp_path):
    head.save_obj(tmp_path / "head.obj")
    lines = (tmp_path / "head.obj").read_text().splitlines()
    v = np.array([[float(x) for x in line.split()[1:]] for line in lines if line.startswith("v ")])
    f = np.array([[int(x) for x in line.split()[1:]] for line in lines if line.startswith("f ")])
    np.testing.assert_allclose(v, head.vertices, atol=1e-6)
    np.testing.assert_array_equal(f - 1, head.faces)  # OBJ indices are 1-based
    vertices, faces = read_ply(head.save_ply(tmp_path / "head.ply"))
    np.testing.assert_allclose(vertices, head.vertices, rtol=1e-6, atol=1e-4)
    np.testing.assert_array_equal(faces, head.faces)


def test_annotate_draws_without_touching_the_input(grace, head):
    before = grace.copy()
    picture = annotate(grace, [head])
    np.testing.assert_array_equal(grace, before)
    assert picture.shape == grace.shape and picture.dtype == np.uint8
    x0, y0, x1, y1 = head.crop_box.astype(int)
    assert (picture[y0:y1, x0:x1] != grace[y0:y1, x0:x1]).any(axis=-1).mean() > 0.05
    np.testing.assert_array_equal(annotate(grace, []), grace)


def test_pose_axes_point_the_documented_way():
    """Frontal R = diag(1, -1, -1): model x (red) to the image right, model y (green) up."""
    image = draw_pose_axes(np.zeros((100, 100, 3), np.uint8), np.diag([1.0, -1.0, -1.0]), (50, 50), length=30)
    assert tuple(image[50, 70]) == AXIS_COLORS[0]
    assert tuple(image[30, 50]) == AXIS_COLORS[1]
    assert not image[50, 30].any() and not image[70, 50].any()


def test_bad_inputs_are_named(aligner, grace, tmp_path):
    with pytest.raises(ValueError, match="dtype float64"):
        aligner.predict(grace.astype(np.float64))
    with pytest.raises(ValueError, match=r"boxes\[0\] must be 4 finite numbers"):
        aligner.predict(grace, [[1, 2, 3]])
    with pytest.raises(ValueError, match=r"for one box pass \[\[x, y, w, h\]\]"):
        aligner.predict(grace, [10, 10, 50, 50])
    with pytest.raises(ValueError, match=r"boxes must have shape \(K, 4\)"):
        aligner.predict(grace, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="outside"):
        aligner.predict(grace, [[5000, 5000, 10, 10]])
    with pytest.raises(ValueError, match="boxes must have one entry per image"):
        aligner.predict_many([grace], [None, None])
    with pytest.raises(ValueError, match=r"crops must have shape \(B, 3, 64, 64\)"):
        aligner.predict_batch(torch.zeros(1, 3, 32, 32))
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        HeadAligner.from_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="batch_size"):
        HeadAligner(backend=aligner.backend, mesh=aligner.mesh, batch_size=0)
    with pytest.raises(ValueError, match="landmark_source"):
        HeadAligner(backend=aligner.backend, mesh=aligner.mesh, landmark_source="mesh")
    with pytest.raises(ValueError, match="landmark source 'heatmap' needs the model's heatmaps"):
        HeadAligner(backend=aligner.backend, mesh=aligner.mesh, landmark_source="heatmap").predict(grace)
    with pytest.raises(ValueError, match="detector must have detect"):
        HeadAligner(backend=aligner.backend, mesh=aligner.mesh, detector=object())
    with pytest.raises(ValueError, match="extension must be 4 finite fractions"):
        HeadAligner(backend=aligner.backend, mesh=aligner.mesh, extension=(0.1, 0.1))


@pytest.mark.parametrize(
    ("device", "message"), [("tpu:7", "device must be a torch device"), ("cuda", "torch sees no CUDA")]
)
def test_bad_device(checkpoint, device, message):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match=message):
        HeadAligner.from_checkpoint(checkpoint, device)
