"""Head detection: NMS and box arithmetic (known answers), Haar cascades on public-domain photos, boxes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from inference_helpers import astronaut_path, grace_hopper_path, load_rgb

from trans3dhead.inference.boxes import check_box, face_to_head_box, iou_matrix, load_boxes_file, nms
from trans3dhead.inference.detector import (
    HEAD_BOX_SCALE,
    HEAD_BOX_SHIFT,
    BoxesDetector,
    FullImageDetector,
    HaarDetector,
    check_image,
)

# Grace Hopper's face as OpenCV's frontal cascade sees it (x, y, w, h), checked by eye.
GRACE_FACE = (149.0, 100.0, 231.0, 231.0)


@pytest.fixture(scope="module")
def haar():
    return HaarDetector()


@pytest.fixture(scope="module")
def grace():
    return load_rgb(grace_hopper_path())


def test_iou_known_answers():
    iou = iou_matrix(np.array([[0, 0, 2, 2]]), np.array([[1, 0, 2, 2], [0, 0, 2, 2], [5, 5, 1, 1]]))
    np.testing.assert_allclose(iou, [[1 / 3, 1.0, 0.0]])


def test_nms_drops_overlaps_and_nested_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [50, 50, 10, 10]], dtype=float)
    assert nms(boxes, np.array([0.9, 0.8, 0.7]), iou_threshold=0.3).tolist() == [0, 2]
    assert nms(boxes, np.array([0.1, 0.8, 0.7]), iou_threshold=0.3).tolist() == [1, 2]
    # A small box inside a big one: IoU 0.09 but one face found at two scales; the better score stays.
    nested = np.array([[0, 0, 100, 100], [10, 10, 30, 30]], dtype=float)
    assert nms(nested, np.array([1.0, 2.0]), iou_threshold=0.3).tolist() == [1]
    assert nms(np.zeros((0, 4)), np.zeros(0), iou_threshold=0.3).tolist() == []


def test_face_to_head_box_known_answer():
    head = face_to_head_box((10, 20, 100, 100), scale=(1.05, 1.3), shift=(0.0, -0.1))
    np.testing.assert_allclose(head, (7.5, -5.0, 105.0, 130.0))


def test_haar_finds_grace_hoppers_head(haar, grace):
    faces = haar.face_boxes(grace)
    assert len(faces) == 1 and faces[0].source == "frontal"
    assert iou_matrix(np.array([faces[0].box]), np.array([GRACE_FACE]))[0, 0] > 0.8
    (head,) = haar.detect(grace)
    expected = face_to_head_box(faces[0].box, scale=HEAD_BOX_SCALE, shift=HEAD_BOX_SHIFT)
    np.testing.assert_allclose(head.box, expected)
    x, y, w, h = head.box
    assert x <= GRACE_FACE[0] + 5 and x + w >= GRACE_FACE[0] + GRACE_FACE[2] - 5 and y < GRACE_FACE[1]


def test_haar_finds_several_heads(haar, grace):
    pair = np.concatenate([grace, grace[:, ::-1]], axis=1)  # her and her mirror image side by side
    heads = haar.detect(pair)
    centres = sorted(d.box[0] + d.box[2] / 2 for d in heads)
    assert len(heads) == 2
    assert centres[0] < grace.shape[1] < centres[1]


def test_haar_finds_the_astronaut(haar):
    image = load_rgb(astronaut_path())
    heads = haar.detect(image)
    assert heads, "no head found in astronaut.png"
    x, y, w, h = heads[0].box
    assert 0.1 < w / image.shape[1] < 0.6  # her head is about a quarter of the picture wide


def test_haar_finds_nothing_in_a_blank_image(haar):
    assert haar.detect(np.full((200, 300, 3), 128, np.uint8)) == []


def test_haar_rejects_bad_settings():
    with pytest.raises(ValueError, match="scale_factor"):
        HaarDetector(scale_factor=1.0)
    with pytest.raises(ValueError, match="max_heads"):
        HaarDetector(max_heads=0)
    with pytest.raises(ValueError, match="min_size"):
        HaarDetector(min_size=0)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8, 3), np.float32), "dtype float32"),
        (np.zeros((8, 8), np.uint8), r"shape \(8, 8\)"),
        ([[0]], "numpy array"),
    ],
)
def test_detectors_reject_bad_images(image, message):
    with pytest.raises(ValueError, match=message):
        check_image(image)
    with pytest.raises(ValueError, match=message):
        FullImageDetector().detect(image)


def test_full_image_detector():
    (det,) = FullImageDetector().detect(np.zeros((30, 40, 3), np.uint8))
    assert det.box == (0.0, 0.0, 40.0, 30.0) and det.source == "full_image" and det.score is None


def test_boxes_detector_uses_the_first_known_name():
    image = np.zeros((10, 10, 3), np.uint8)
    detector = BoxesDetector(table={"a/b.png": [[1, 2, 3, 4]], "b.png": [[0, 0, 5, 5]], "none.png": []})
    assert [d.box for d in detector.detect(image, names=("a/b.png", "b.png"))] == [(1.0, 2.0, 3.0, 4.0)]
    assert [d.box for d in detector.detect(image, names=("x/b.png", "b.png"))] == [(0.0, 0.0, 5.0, 5.0)]
    assert detector.detect(image, names=("none.png",)) == []
    with pytest.raises(ValueError, match="'c.png'"):
        detector.detect(image, names=("c.png",))


def test_boxes_file_round_trip_and_errors(tmp_path):
    good = tmp_path / "boxes.json"
    good.write_text(json.dumps({"a.png": [[1, 2, 3, 4], [5, 6, 7, 8.5]], "b.png": []}))
    assert load_boxes_file(good) == {"a.png": [(1, 2, 3, 4), (5, 6, 7, 8.5)], "b.png": []}
    cases = {
        "not json {": "not a valid JSON",
        "[1, 2]": "expected a JSON object",
        '{"a.png": [1, 2, 3, 4]}': r"'a.png' box 0 must be 4 finite numbers",
        '{"a.png": [[1, 2, 3]]}': r"'a.png' box 0 must be 4 finite numbers",
        '{"a.png": [[1, 2, 3, 4], [0, 0, -1, 4]]}': r"'a.png' box 1 must have a positive width",
        '{"a.png": "x"}': "entry 'a.png' must be a list",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.json"
        path.write_text(text)
        with pytest.raises(ValueError, match=message) as info:
            load_boxes_file(path)
        assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_boxes_file(tmp_path / "missing.json")


def test_check_box_messages():
    assert check_box([1, 2, 3, 4]) == (1.0, 2.0, 3.0, 4.0)
    with pytest.raises(ValueError, match="my box must be 4 finite"):
        check_box([1, 2, float("nan"), 4], name="my box")
    with pytest.raises(ValueError, match="positive width"):
        check_box([1, 2, 0, 4])
