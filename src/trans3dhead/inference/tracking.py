"""Head tracks across video frames: which observation of this frame is which head of the last frames.

The tracker is pure bookkeeping over boxes and landmarks (no network, no image), so it is tested on
synthetic boxes.  Per frame the caller (:class:`~trans3dhead.inference.video_tracker.VideoTracker`)

1. asks :meth:`HeadTracker.search_boxes` where each live track's head should be now (its last head box
   moved by its velocity) and whether the detector runs this frame (:meth:`HeadTracker.needs_detection`:
   every ``detect_every`` frames, and on every frame while no track is alive);
2. aligns the heads in those boxes and in the detector's boxes, and turns each aligned head into an
   :class:`Observation` (its head box and 68 landmarks);
3. calls :meth:`HeadTracker.update`, which

   * merges observations of one head (two tracks whose search boxes found the same head, or two
     detections of one head): box IoU >= ``merge_iou`` and mean landmark distance <= ``merge_distance``
     head sizes;
   * assigns the search-box heads to tracks by the Hungarian method on the cost
     ``iou_weight (1 - IoU) + landmark_weight d``, IoU between the head's box and the track's predicted
     box, d the mean distance between the head's landmarks and the track's predicted landmarks in head
     sizes (``sqrt(w h)`` of the predicted box); pairs above ``max_cost`` never match.  A head no track
     took goes to the track whose search box found it, if that track is free (the network found the head
     away from where it was expected);
   * assigns the detected heads the same way, against each track's head of this frame (or its
     prediction when its search found none).  A matched track is *confirmed*, and with
     ``prefer_detections`` takes the detection crop's prediction (re-anchoring on the detector); a
     detected head that no track matched but that overlaps a track's head (IoU >= ``merge_iou``) only
     confirms it; any other detected head starts a track;
   * ends a track after more than ``max_missed`` consecutive frames without an observation, or after
     more than ``max_unconfirmed`` consecutive detection frames in which no detection confirmed it (a
     track whose crop sits on the background keeps "seeing" a head; the detector does not).

Boxes are ``[x, y, w, h]`` pixels.  Letters: K observations, T tracks, N landmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from trans3dhead.errors import InputError
from trans3dhead.inference.boxes import iou_matrix

__all__ = [
    "TrackerOptions",
    "Observation",
    "Track",
    "TrackUpdate",
    "HeadTracker",
    "landmark_distance",
    "visible_fraction",
]

_NO_MATCH = 1e6  # cost of a gated pair in the assignment problem


@dataclass(frozen=True, kw_only=True)
class TrackerOptions:
    """How tracks are found, matched and ended (see the module docstring).

    detect_every: run the detector every N frames (1: every frame); in between, heads are aligned in the
        boxes their tracks predict.
    max_missed: end a track after more than M consecutive frames without an observation.
    max_unconfirmed: end a track after more than this many consecutive detection frames without a
        detection of it; None never ends a track for that.
    iou_weight, landmark_weight, max_cost: the assignment cost and its gate.
    merge_iou, merge_distance: when two observations are one head.
    prefer_detections: a track that a detection matched takes the detection crop's prediction (True: the
        track re-anchors on the detector every ``detect_every`` frames; a head box that only feeds the next
        crop from the last prediction can drift with an imperfect model), else its own search crop's.
    min_visible: a box with less than this share of its area inside the image is not searched (its track
        misses the frame) and an observation whose head box is mostly outside the image is dropped.
    min_confidence: drop observations whose head has a ``confidence`` below this (heads of a model without
        a landmark branch have none and are kept); None keeps all.
    """

    detect_every: int = 5
    max_missed: int = 5
    max_unconfirmed: int | None = 4
    iou_weight: float = 1.0
    landmark_weight: float = 1.0
    max_cost: float = 1.0
    merge_iou: float = 0.5
    merge_distance: float = 0.1
    prefer_detections: bool = True
    min_visible: float = 0.25
    min_confidence: float | None = None

    def __post_init__(self) -> None:
        for name in ("detect_every", "max_missed"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < (1 if name == "detect_every" else 0)
            ):
                raise InputError(
                    f"{name} must be an integer >= {1 if name == 'detect_every' else 0}, got {value!r}"
                )
        if self.max_unconfirmed is not None and (
            isinstance(self.max_unconfirmed, bool)
            or not isinstance(self.max_unconfirmed, int)
            or self.max_unconfirmed < 0
        ):
            raise InputError(f"max_unconfirmed must be None or an integer >= 0, got {self.max_unconfirmed!r}")
        for name in ("iou_weight", "landmark_weight", "max_cost", "merge_distance"):
            if not 0 <= getattr(self, name) < math.inf:
                raise InputError(f"{name} must be a finite number >= 0, got {getattr(self, name)!r}")
        for name in ("merge_iou", "min_visible"):
            if not 0 <= getattr(self, name) <= 1:
                raise InputError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.min_confidence is not None and not 0 <= self.min_confidence <= 1:
            raise InputError(f"min_confidence must be None or in [0, 1], got {self.min_confidence!r}")


@dataclass(frozen=True, eq=False)
class Observation:
    """One aligned head of the current frame.

    box: (4,) head box [x, y, w, h].  landmarks: (N, 2) pixels.  track: the track whose search box gave
    the crop, None for a detection's crop.  payload: anything the caller wants back (the prediction).
    """

    box: np.ndarray
    landmarks: np.ndarray
    track: int | None = None
    payload: Any = None


@dataclass(eq=False)
class Track:
    """A live track: its last observation, velocity and counters (frames are the tracker's indices)."""

    track_id: int
    box: np.ndarray
    landmarks: np.ndarray
    first_frame: int
    last_frame: int
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # box centre change per frame
    missed: int = 0
    unconfirmed: int = 0

    def predicted(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """(box (4,), landmarks (N, 2)) expected at ``frame``: moved on at the last velocity (the size is
        kept: extrapolating a size change would let one bad frame shrink or blow up the next search)."""
        shift = (frame - self.last_frame) * self.velocity
        box = self.box.copy()
        box[:2] += shift
        return box, self.landmarks + shift


@dataclass(frozen=True)
class TrackUpdate:
    """A track's observation of the current frame.

    new: the track starts at this frame.  confirmed: a detection crop saw this head this frame (always
    False on frames without detection).  age: frames since the track started.
    """

    track_id: int
    observation: Observation
    new: bool
    confirmed: bool
    age: int


def landmark_distance(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> float:
    """Mean distance between landmarks (N, 2) a and b in head sizes (``sqrt(w h)`` of ``box``)."""
    size = math.sqrt(max(float(box[2] * box[3]), 1e-12))
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1).mean()) / size


@dataclass(eq=False)
class _Head:
    """Observations merged into one head: the kept one, and the tracks whose search boxes saw it."""

    kept: Observation
    tracks: set[int]


class HeadTracker:
    """Track bookkeeping over frames (see the module docstring).  Frames are counted by :meth:`update`."""

    def __init__(self, *, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self.reset()

    def reset(self) -> None:
        """Forget all tracks; ids start again at 0 and the next frame runs the detector."""
        self.tracks: list[Track] = []
        self.frame = 0
        self.next_id = 0
        self.last_detection: int | None = None

    def needs_detection(self) -> bool:
        """Whether the detector should run on the current frame."""
        o = self.options
        return (
            not self.tracks
            or self.last_detection is None
            or self.frame - self.last_detection >= o.detect_every
        )

    def search_boxes(self, image_hw: tuple[int, int]) -> dict[int, np.ndarray]:
        """Track id -> predicted head box for the current frame, for tracks whose box is visible enough."""
        out = {}
        for track in self.tracks:
            box, _ = track.predicted(self.frame)
            if visible_fraction(box, image_hw) >= max(self.options.min_visible, 1e-6):
                out[track.track_id] = box
        return out

    # --- update
    def _merge(self, observations: list[Observation]) -> list[_Head]:
        """Greedy merge of observations of one head (the first one of a head is kept)."""
        o = self.options
        heads: list[_Head] = []
        for ob in observations:
            for head in heads:
                if iou_matrix(ob.box, head.kept.box)[0, 0] >= o.merge_iou and (
                    landmark_distance(ob.landmarks, head.kept.landmarks, head.kept.box) <= o.merge_distance
                ):
                    break
            else:
                heads.append(_Head(kept=ob, tracks=set()))
                head = heads[-1]
            if ob.track is not None:
                head.tracks.add(ob.track)
        return heads

    def _cost(self, ob: Observation, box: np.ndarray, landmarks: np.ndarray) -> float:
        """The assignment cost of an observation to a track expected at ``box`` with ``landmarks``."""
        o = self.options
        cost = o.iou_weight * (1.0 - iou_matrix(ob.box, box)[0, 0])
        if ob.landmarks.shape == landmarks.shape:
            return cost + o.landmark_weight * landmark_distance(ob.landmarks, landmarks, box)
        return cost + o.landmark_weight

    def _hungarian(
        self, heads: list[_Head], references: dict[int, tuple[np.ndarray, np.ndarray]]
    ) -> dict[int, int]:
        """Head index -> track index: minimum total cost against each track's reference (box, landmarks),
        pairs above ``max_cost`` excluded."""
        costs = np.full((len(heads), len(self.tracks)), _NO_MATCH)
        for j, (box, landmarks) in references.items():
            for i, head in enumerate(heads):
                cost = self._cost(head.kept, box, landmarks)
                if cost <= self.options.max_cost:
                    costs[i, j] = cost
        if not costs.size:
            return {}
        rows, cols = linear_sum_assignment(costs)
        return {int(i): int(j) for i, j in zip(rows, cols, strict=True) if costs[i, j] < _NO_MATCH}

    def _assign_own(self, heads: list[_Head]) -> dict[int, int]:
        """Search-box heads -> track indices, against the tracks' predicted boxes and landmarks; a head no
        track took goes to the free track whose search box found it."""
        predicted = {j: t.predicted(self.frame) for j, t in enumerate(self.tracks)}
        pairs = self._hungarian(heads, predicted)
        taken = set(pairs.values())
        index = {t.track_id: j for j, t in enumerate(self.tracks)}
        for i, head in enumerate(heads):
            if i not in pairs:
                own = [index[t] for t in sorted(head.tracks) if t in index and index[t] not in taken]
                if own:
                    pairs[i] = own[0]
                    taken.add(own[0])
        return pairs

    def _observe(self, track: Track, ob: Observation) -> None:
        gap = max(self.frame - track.last_frame, 1)
        box = np.asarray(ob.box, np.float64).copy()
        track.velocity = ((box[:2] + 0.5 * box[2:]) - (track.box[:2] + 0.5 * track.box[2:])) / gap
        track.box, track.landmarks = box, np.asarray(ob.landmarks, np.float64)
        track.last_frame, track.missed = self.frame, 0

    def _alive(self, track: Track) -> bool:
        o = self.options
        return track.missed <= o.max_missed and (
            o.max_unconfirmed is None or track.unconfirmed <= o.max_unconfirmed
        )

    def update(self, observations: list[Observation], *, detected: bool) -> list[TrackUpdate]:
        """Take the current frame's observations and move on to the next frame.

        Args:
            observations: the aligned heads of this frame (search-box crops and detection crops).
            detected: whether the detector ran on this frame.

        Returns:
            One update per track observed in this frame (continued or new), by track id.
        """
        o = self.options
        own = self._merge([ob for ob in observations if ob.track is not None])
        current = {j: own[i].kept for i, j in self._assign_own(own).items()}  # track index -> observation
        found = self._merge([ob for ob in observations if ob.track is None])
        references = {
            j: (current[j].box, current[j].landmarks) if j in current else t.predicted(self.frame)
            for j, t in enumerate(self.tracks)
        }
        matches = self._hungarian(found, references)
        confirmed = set(matches.values())
        for i, j in matches.items():
            if o.prefer_detections or j not in current:
                current[j] = found[i].kept
        starts: list[Observation] = []
        for i, head in enumerate(found):
            if i in matches:
                continue
            box = head.kept.box
            owners = [j for j, ob in current.items() if iou_matrix(box, ob.box)[0, 0] >= o.merge_iou]
            if owners:  # the same head as a track's, predicted differently enough not to merge
                confirmed.add(owners[0])
            elif all(iou_matrix(box, ob.box)[0, 0] < o.merge_iou for ob in starts):
                starts.append(head.kept)
        updates = []
        for j, track in enumerate(self.tracks):
            ob = current.get(j)
            if ob is None:
                track.missed += 1
            else:
                self._observe(track, ob)
            if detected:
                track.unconfirmed = 0 if j in confirmed else track.unconfirmed + 1
            if ob is not None and self._alive(track):
                age = self.frame - track.first_frame
                updates.append(TrackUpdate(track.track_id, ob, False, detected and j in confirmed, age))
        self.tracks = [t for t in self.tracks if self._alive(t)]
        for ob in starts:
            box, landmarks = np.asarray(ob.box, np.float64), np.asarray(ob.landmarks, np.float64)
            self.tracks.append(Track(self.next_id, box.copy(), landmarks.copy(), self.frame, self.frame))
            updates.append(TrackUpdate(self.next_id, ob, True, True, 0))
            self.next_id += 1
        if detected:
            self.last_detection = self.frame
        self.frame += 1
        return sorted(updates, key=lambda u: u.track_id)


def visible_fraction(box: np.ndarray, image_hw: tuple[int, int]) -> float:
    """Share of the area of ``box`` [x, y, w, h] inside an image of (height, width)."""
    x, y, w, h = (float(v) for v in box)
    height, width = image_hw
    inside = max(0.0, min(x + w, width) - max(x, 0.0)) * max(0.0, min(y + h, height) - max(y, 0.0))
    return inside / max(w * h, 1e-12)
