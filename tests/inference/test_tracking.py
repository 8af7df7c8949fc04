"""Head tracks: ids through crossings, births and deaths, re-detection, merging; the video mode of the API."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from inference_helpers import grace_hopper_path, load_rgb, make_checkpoint

from trans3dhead.api import FullImageDetector, HeadAligner
from trans3dhead.errors import InputError
from trans3dhead.inference.schema import validate_result
from trans3dhead.inference.smoothing import SmoothingOptions
from trans3dhead.inference.tracking import HeadTracker, Observation, TrackerOptions, visible_fraction
from trans3dhead.inference.video_tracker import TRACK_SOURCE, VideoTracker

SIDE = 40.0


def pattern(seed: int) -> np.ndarray:
    """(68, 2) landmark layout of one synthetic head, in head sizes about the box centre."""
    return np.random.default_rng(seed).uniform(-0.35, 0.35, size=(68, 2))


class Head:
    """A synthetic head moving at constant velocity: its box and landmarks at any frame."""

    def __init__(self, name: str, start: tuple[float, float], velocity: tuple[float, float], seed: int):
        self.name, self.start, self.velocity = name, np.array(start), np.array(velocity)
        self.layout = pattern(seed)

    def centre(self, t: int) -> np.ndarray:
        return self.start + t * self.velocity

    def observe(self, t: int, track: int | None = None) -> Observation:
        c = self.centre(t)
        box = np.array([c[0] - SIDE / 2, c[1] - SIDE / 2, SIDE, SIDE])
        return Observation(box=box, landmarks=c + SIDE * self.layout, track=track, payload=self.name)


def ids_by_head(updates) -> dict[str, int]:
    return {u.observation.payload: u.track_id for u in updates}


def crop(heads: list[Head], t: int, box: np.ndarray, track: int) -> Observation:
    """What aligning a search box shows: the head that fills the box most."""
    from trans3dhead.inference.boxes import iou_matrix

    observations = [h.observe(t, track) for h in heads]
    overlaps = [iou_matrix(box, ob.box)[0, 0] for ob in observations]
    return observations[int(np.argmax(overlaps))]


@pytest.mark.parametrize("detect_every", [1, 3])
def test_ids_stay_stable_through_a_crossing(detect_every):
    """Two heads cross (boxes coincide at frame 15); detections come in random order, and between
    detections each track sees whatever head fills its search box."""
    a = Head("a", (20.0, 60.0), (4.0, 0.5), seed=1)
    b = Head("b", (140.0, 67.5), (-4.0, -0.0), seed=2)
    tracker = HeadTracker(options=TrackerOptions(detect_every=detect_every))
    rng = np.random.default_rng(0)
    seen: dict[str, set[int]] = {"a": set(), "b": set()}
    for t in range(31):
        observations = [
            crop([a, b], t, box, track) for track, box in tracker.search_boxes((200, 200)).items()
        ]
        detected = tracker.needs_detection()
        if detected:
            observations += [a.observe(t), b.observe(t)]
        rng.shuffle(observations)
        updates = tracker.update(observations, detected=detected)
        for name, track in ids_by_head(updates).items():
            seen[name].add(track)
    assert seen == {"a": {0}, "b": {1}} or seen == {"a": {1}, "b": {0}}


def test_births_deaths_and_ids_never_reused():
    options = TrackerOptions(detect_every=1, max_missed=2, max_unconfirmed=None)
    tracker = HeadTracker(options=options)
    a, b = Head("a", (30, 30), (1, 0), seed=1), Head("b", (120, 40), (0, 1), seed=2)
    history = []
    for t in range(12):
        present = [a] + ([b] if 3 <= t < 6 else [])
        updates = tracker.update([h.observe(t) for h in present], detected=True)
        history.append(ids_by_head(updates))
        if t == 6:
            assert len(tracker.tracks) == 2  # b missed once: still alive (max_missed 2)
        if t == 9:
            assert [tr.track_id for tr in tracker.tracks] == [0]  # b ended after 3 missed frames
    assert [h.get("a") for h in history] == [0] * 12
    assert [h.get("b") for h in history[3:6]] == [1, 1, 1] and "b" not in history[6]
    updates = tracker.update([a.observe(12), b.observe(12)], detected=True)
    assert ids_by_head(updates) == {"a": 0, "b": 2}  # b is back as a new track; id 1 is not reused
    assert [u.new for u in updates] == [False, True] and updates[1].age == 0 and updates[0].age == 12


def test_a_track_no_detection_confirms_ends():
    """A track whose search box keeps 'seeing' a head that the detector never finds (a crop on the
    background) ends after max_unconfirmed detection frames."""
    tracker = HeadTracker(options=TrackerOptions(detect_every=2, max_unconfirmed=1))
    ghost = Head("ghost", (50, 50), (0, 0), seed=3)
    tracker.update([ghost.observe(0)], detected=True)  # a detection starts it
    alive = []
    for t in range(1, 9):
        search = tracker.search_boxes((100, 100))
        observations = [ghost.observe(t, track) for track in search]
        tracker.update(observations, detected=tracker.needs_detection())
        alive.append(bool(tracker.tracks))
    # detection frames 2 and 4 do not confirm it: unconfirmed 1, then 2 > max_unconfirmed at frame 4
    assert alive == [True, True, True, False, False, False, False, False]


def test_detection_schedule_and_search_boxes():
    tracker = HeadTracker(options=TrackerOptions(detect_every=3))
    assert tracker.needs_detection()  # nothing tracked: detect
    head = Head("a", (50, 50), (2, -1), seed=1)
    schedule = []
    for t in range(7):
        schedule.append(tracker.needs_detection())
        observations = [head.observe(t, track) for track in tracker.search_boxes((200, 200))]
        tracker.update(observations + ([head.observe(t)] if schedule[-1] else []), detected=schedule[-1])
    assert schedule == [True, False, False, True, False, False, True]
    (box,) = tracker.search_boxes((200, 200)).values()  # moved on by the last velocity
    np.testing.assert_allclose(box, head.observe(7).box)
    tracker.reset()
    assert not tracker.tracks and tracker.needs_detection() and tracker.next_id == 0


def test_search_box_mostly_outside_the_image_is_not_searched():
    tracker = HeadTracker(options=TrackerOptions(min_visible=0.5))
    head = Head("a", (30, 50), (-20, 0), seed=1)
    tracker.update([head.observe(0)], detected=True)
    tracker.update([head.observe(1, 0)], detected=False)  # box x in [-10, 30]: 75% inside
    assert list(tracker.search_boxes((100, 100))) == []  # next: x in [-30, 10], 25% inside
    assert visible_fraction(np.array([-10.0, 0.0, 20.0, 10.0]), (100, 100)) == pytest.approx(0.5)


def test_two_tracks_on_one_head_merge_into_one():
    tracker = HeadTracker(options=TrackerOptions(detect_every=100, max_missed=1))
    a = Head("a", (50, 50), (0, 0), seed=1)
    shifted = Observation(box=a.observe(0).box + [30, 0, 0, 0], landmarks=a.observe(0).landmarks + [30, 0])
    tracker.update([a.observe(0), shifted], detected=True)
    assert len(tracker.tracks) == 2
    for t in range(1, 4):  # both search boxes now show head a
        tracker.update([a.observe(t, track) for track in tracker.search_boxes((200, 200))], detected=False)
    assert [tr.track_id for tr in tracker.tracks] == [0]


@pytest.mark.parametrize("prefer", [True, False])
def test_a_matched_detection_reanchors_the_track_when_preferred(prefer):
    tracker = HeadTracker(options=TrackerOptions(detect_every=1, prefer_detections=prefer))
    head = Head("a", (50, 50), (0, 0), seed=1)
    tracker.update([head.observe(0)], detected=True)
    own = head.observe(1, 0)
    drifted = Observation(
        box=own.box * [1, 1, 1.15, 1.15], landmarks=own.landmarks + 1.0, track=0, payload="own"
    )
    (update,) = tracker.update([drifted, head.observe(1)], detected=True)
    assert update.track_id == 0 and update.confirmed
    assert update.observation.payload == ("a" if prefer else "own")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"detect_every": 0}, "detect_every must be an integer >= 1"),
        ({"max_missed": -1}, "max_missed must be an integer >= 0"),
        ({"max_unconfirmed": 1.5}, "max_unconfirmed must be None or an integer >= 0"),
        ({"merge_iou": 1.5}, r"merge_iou must be in \[0, 1\]"),
        ({"max_cost": -1.0}, "max_cost must be a finite number >= 0"),
        ({"min_confidence": 2.0}, r"min_confidence must be None or in \[0, 1\]"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(InputError, match=message):
        TrackerOptions(**kwargs)


# ---------------------------------------------------------------------------------- the video mode
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("track"))


def sliding_frames(count: int = 7, size: int = 96) -> list[np.ndarray]:
    face = cv2.resize(load_rgb(grace_hopper_path())[60:420, 100:420], (size, size))
    frames = []
    for i in range(count):
        frame = np.zeros((size, size + 20, 3), np.uint8)
        frame[:, 2 * i : 2 * i + size] = face
        frames.append(frame)
    return frames


def test_aligner_track_keeps_ids_detects_every_n_and_resets(checkpoint):
    aligner = HeadAligner.from_checkpoint(checkpoint, "cpu", detector=FullImageDetector())
    aligner.reset_tracking(tracking=TrackerOptions(detect_every=3))
    frames = sliding_frames()
    results = [aligner.track(frame) for frame in frames]
    assert [[h.track_id for h in heads] for heads in results] == [[0]] * len(frames)
    detectors = [heads[0].raw.detector for heads in results]
    assert detectors == ["full_image", TRACK_SOURCE, TRACK_SOURCE] * 2 + ["full_image"]
    assert [heads[0].age for heads in results] == list(range(len(frames)))
    assert [heads[0].confirmed for heads in results] == [d == "full_image" for d in detectors]
    first, later = results[0][0], results[4][0]
    assert first.head.landmarks.tolist() == first.raw.landmarks.tolist()  # a filter's first sample
    assert later.smoothed and not np.allclose(later.head.landmarks, later.raw.landmarks)
    assert later.confidence == later.raw.confidence and 0.0 <= later.confidence <= 1.0  # carried through
    aligner.reset_tracking(smoothing=SmoothingOptions(enabled=False))
    (again,) = aligner.track(frames[0])
    assert again.track_id == 0 and again.head is again.raw and not again.smoothed


def test_tracked_head_json_validates(checkpoint):
    aligner = HeadAligner.from_checkpoint(checkpoint, "cpu", detector=FullImageDetector())
    tracker = VideoTracker(aligner=aligner, fps=10.0)
    for frame in sliding_frames(3):
        (tracked,) = tracker.step(frame)
    head = tracked.to_dict(mesh=False)
    assert head["track_id"] == 0 and head["track_age"] == 2 and head["detector"] == TRACK_SOURCE
    assert set(head["raw"]) == {"landmarks", "rotation", "euler", "scale", "translation"}
    document = {
        "input": "clip.avi",
        "frame": 2,
        "image_size": [96, 116],
        "backend": "torch",
        "landmark_source": "flame",
        "heads": [json.loads(json.dumps(head))],
    }
    validate_result(document)


def test_timestamps_must_increase(checkpoint):
    aligner = HeadAligner.from_checkpoint(checkpoint, "cpu", detector=FullImageDetector())
    frames = sliding_frames(2)
    aligner.track(frames[0], timestamp=5.0)
    with pytest.raises(ValueError, match="timestamps must increase"):
        aligner.track(frames[1], timestamp=5.0)
