"""Synthetic videos (``trans3dhead synth OUT --video N``): one head moving smoothly, with known ground truth.

Layout (each sequence is a DAD-3DHeads-format split, so every per-image tool reads its frames)::

    OUT/<seq>/images/<seq>_<frame>.png           the frames, lossless (what ``eval-video`` reads)
    OUT/<seq>/annotations/<seq>_<frame>.json     per-frame GT: vertices, model_view_matrix, projection_matrix
    OUT/<seq>/<seq>.json                         metadata list (+ "frame", "time" in seconds,
                                                 "hidden_fraction" of the face under occluders); written last
    OUT/<seq>/sequence.json                      fps, frame count, the trajectory, the occluder passes
    OUT/<seq>.mp4                                the frames as a video (mp4v; ``.avi`` Motion JPEG where
                                                 OpenCV cannot write mp4v)
    OUT/.synth/manifest.json, OUT/.synth/<seq>/  settings and per-frame completion records (as ``synth``)

``<seq>`` is ``video_000000``, ``video_000001``, ...  Sequence ``s`` is a pure function of
``SeedSequence([seed, crc32("video"), s])`` and each frame a pure function of that and its index, so a
run resumes frame by frame and gives the same files however often it was interrupted.  Within a sequence
the identity, camera, light, background and skin colours are fixed; pose, position, size and expression
follow a :class:`~trans3dhead.data.synthetic.motion.Trajectory`; occluders pass in front of the face;
``noise`` adds fresh Gaussian pixel noise to every frame (the sensor noise that makes per-frame
predictions jitter).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trans3dhead import jsonio
from trans3dhead.atomic import atomic_write
from trans3dhead.data.synthetic.camera import screen_points
from trans3dhead.data.synthetic.encoding import annotation_text
from trans3dhead.data.synthetic.generator import FORMAT_VERSION, ItemDone, item_seed
from trans3dhead.data.synthetic.item import HeadSynthesizer, SceneOptions, item_streams
from trans3dhead.data.synthetic.motion import (
    MotionOptions,
    OccluderPass,
    Trajectory,
    sample_passes,
    sample_trajectory,
)
from trans3dhead.data.synthetic.sampling import POSE_MIX, HeadSample, Placement, sample_head, sample_light
from trans3dhead.data.synthetic.scene import random_background
from trans3dhead.data.synthetic.store import BOOKKEEPING_DIR, DatasetStore, item_id, model_fingerprint
from trans3dhead.errors import InputError
from trans3dhead.flame import FlameAssets
from trans3dhead.render import Light

__all__ = [
    "VideoOptions",
    "SequencePlan",
    "VideoFrame",
    "VideoSynthesizer",
    "generate_video_dataset",
    "sequence_name",
    "SEQUENCE_FILE",
]

logger = logging.getLogger(__name__)

#: Per-sequence description file (fps, frames, trajectory, occluder passes).
SEQUENCE_FILE = "sequence.json"
_SEED_SPLIT = "video"


@dataclass(frozen=True, kw_only=True)
class VideoOptions:
    """Sequence-level settings.

    frames: frames per sequence (at least 3: acceleration needs three).  fps: frame rate.
    occluder_passes: objects crossing the face per sequence.  noise: standard deviation of the per-frame
    Gaussian pixel noise (0-255 scale).  motion: amplitudes of the motion.
    """

    frames: int = 100
    fps: float = 25.0
    occluder_passes: int = 1
    noise: float = 2.0
    motion: MotionOptions = field(default_factory=MotionOptions)

    def __post_init__(self) -> None:
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 3:
            raise InputError(f"frames must be an integer >= 3, got {self.frames!r}")
        if not 0 < self.fps < math.inf:
            raise InputError(f"fps must be a positive number, got {self.fps!r}")
        passes = self.occluder_passes
        if isinstance(passes, bool) or not isinstance(passes, int) or passes < 0:
            raise InputError(f"occluder_passes must be an integer >= 0, got {passes!r}")
        if not 0 <= self.noise < math.inf:
            raise InputError(f"noise must be a finite number >= 0, got {self.noise!r}")


def sequence_name(index: int) -> str:
    """``video_000042``."""
    return f"{_SEED_SPLIT}_{index:06d}"


@dataclass(frozen=True, eq=False)
class SequencePlan:
    """Everything fixed in one sequence, drawn from its seed."""

    seed: np.random.SeedSequence
    head: HeadSample
    trajectory: Trajectory
    focal: float
    light: Light
    background: np.ndarray
    colours: np.ndarray
    extent: tuple[np.ndarray, float, float]
    passes: list[OccluderPass]


@dataclass(frozen=True)
class VideoFrame:
    """One rendered frame: image (S, S, 3) uint8, GT vertices / model_view / projection as stored, head box,
    attributes and the share of the face hidden by occluders."""

    image: np.ndarray
    vertices: np.ndarray
    model_view: np.ndarray
    projection: np.ndarray
    bbox: list[float]
    attributes: dict[str, str]
    hidden_fraction: float

    def annotation_json(self) -> str:
        return annotation_text(vertices=self.vertices, model_view=self.model_view, projection=self.projection)


def _child(seed: np.random.SeedSequence, *key: int) -> np.random.Generator:
    """A stream of the sequence beyond :func:`item_streams`' (``key`` (1000,) is the trajectory,
    (1001, i) the noise of frame i)."""
    return np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, *key)))


class VideoSynthesizer:
    """Plans and renders synthetic sequences for one head model."""

    def __init__(self, *, assets: FlameAssets, scene: SceneOptions, video: VideoOptions) -> None:
        if scene.pose_mix != POSE_MIX:
            raise InputError(
                f"pose_mix {scene.pose_mix} applies to image datasets: a sequence's poses follow its motion "
                "options (VideoOptions.motion)"
            )
        self.synth = HeadSynthesizer(assets=assets, options=scene)
        self.scene, self.video = scene, video

    def plan(self, seed: np.random.SeedSequence) -> SequencePlan:
        streams = item_streams(seed)
        model, size, v = self.synth.assets.model, self.scene.size, self.video
        head = sample_head(streams["head"], num_shape=model.num_shape, num_expression=model.num_expression)
        trajectory = sample_trajectory(
            _child(seed, 1000),
            frames=v.frames,
            fps=v.fps,
            size=size,
            num_expression=model.num_expression,
            options=v.motion,
        )
        low, high = self.scene.focal_range
        focal = size * math.exp(streams["camera"].uniform(math.log(low), math.log(high)))
        neutral = HeadSample(head.shape, np.zeros_like(head.expression), np.zeros(3), np.zeros(3))
        passes = sample_passes(
            streams["occluders"], trajectory, count=v.occluder_passes, fps=v.fps, size=size, options=v.motion
        )
        return SequencePlan(
            seed=seed,
            head=head,
            trajectory=trajectory,
            focal=focal,
            light=sample_light(streams["light"]),
            background=random_background(streams["background"], height=size, width=size),
            colours=self.synth.colours.sample(streams["appearance"]),
            extent=self.synth.head_extent(self.synth.vertices(neutral)),
            passes=passes,
        )

    def _occlude(self, plan: SequencePlan, index: int, image: np.ndarray) -> np.ndarray:
        """Paste the passes present at frame ``index`` into ``image`` (in place); their union (S, S) bool."""
        size = self.scene.size
        union = np.zeros((size, size), bool)
        for occluder in plan.passes:
            position = occluder.position(index)
            if position is None:
                continue
            half = occluder.mask.shape[0] // 2
            x0, y0 = int(round(position[0])) - half, int(round(position[1])) - half
            cx0, cy0 = max(x0, 0), max(y0, 0)
            cx1, cy1 = min(x0 + occluder.mask.shape[1], size), min(y0 + occluder.mask.shape[0], size)
            if cx1 <= cx0 or cy1 <= cy0:
                continue
            mask = occluder.mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
            image[cy0:cy1, cx0:cx1][mask] = occluder.colours[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0][mask]
            union[cy0:cy1, cx0:cx1] |= mask
        return union

    def frame(self, plan: SequencePlan, index: int) -> VideoFrame:
        """Frame ``index`` of a planned sequence."""
        t, size = plan.trajectory, self.scene.size
        head = HeadSample(plan.head.shape, t.expression[index], t.jaw[index], t.euler[index])
        vertices = self.synth.vertices(head)
        centre = (float(t.centre[index, 0]), float(t.centre[index, 1]))
        placement = Placement(plan.focal, float(t.fraction[index]), centre)
        mv, proj = self.synth.camera_matrices(
            vertices=vertices, euler=head.euler, placement=placement, extent=plan.extent
        )
        screen = screen_points(vertices, mv, proj, size)
        render = self.synth.render_head(
            vertices, mv, screen, colours=plan.colours, light=plan.light, background=plan.background
        )
        face = self.synth.face_mask(render)
        image = render.image.copy()
        occluders = self._occlude(plan, index, image)
        hidden = float((occluders & face).sum() / face.sum()) if face.any() else 0.0
        values = np.rint(image * 255.0)
        if self.video.noise > 0:
            values = values + _child(plan.seed, 1001, index).normal(0.0, self.video.noise, size=values.shape)
        return VideoFrame(
            image=np.clip(np.rint(values), 0, 255).astype(np.uint8),
            vertices=vertices,
            model_view=mv,
            projection=proj,
            bbox=self.synth.bbox(screen),
            attributes=self.synth.attributes(head, mv, plan.light, hidden, False),
            hidden_fraction=round(hidden, 4),
        )


def _settings(assets: FlameAssets, scene: SceneOptions, video: VideoOptions, seed: int) -> dict[str, Any]:
    return json.loads(  # as JSON reads it back (tuples become lists)
        json.dumps(
            {
                "generator": "trans3dhead synth --video",
                "format_version": FORMAT_VERSION,
                "seed": seed,
                "size": scene.size,
                "supersample": scene.supersample,
                "focal_range": list(scene.focal_range),
                "video": asdict(video),
                "model": model_fingerprint(assets),
            }
        )
    )


def _sequence_document(name: str, plan: SequencePlan, video: VideoOptions, size: int, video_file: str) -> str:
    t = plan.trajectory

    def rounded(values: np.ndarray) -> list:
        return np.round(values, 6).tolist()

    document = {
        "name": name,
        "fps": video.fps,
        "frames": video.frames,
        "size": size,
        "video": video_file,
        "focal": round(plan.focal, 6),
        "trajectory": {
            "euler": rounded(t.euler),
            "centre": rounded(t.centre),
            "head_fraction": rounded(t.fraction),
        },
        "occluder_passes": [
            {
                "first": p.first,
                "frames": p.frames,
                "start_xy": rounded(p.start_xy),
                "end_xy": rounded(p.end_xy),
            }
            for p in plan.passes
        ],
    }
    return json.dumps(document, indent=1) + "\n"


def _write_video(store: DatasetStore, name: str, entries: list[dict[str, Any]], fps: float) -> str:
    """Encode the sequence's PNG frames into ``OUT/<name>.mp4`` (or ``.avi``) atomically; its file name."""
    from trans3dhead.data.io import read_image
    from trans3dhead.data.video_io import VideoSink

    temporary = store.root / BOOKKEEPING_DIR / f".{name}.{os.getpid()}.tmp.mp4"
    with VideoSink(path=temporary, fps=fps) as sink:
        for entry in entries:
            sink.write(read_image(store.root / entry["img_path"]))
    target = store.root / f"{name}{sink.path.suffix}"
    os.replace(sink.path, target)
    return target.name


def _complete(store: DatasetStore, name: str) -> bool:
    """A sequence whose split file, description and video exist (the split file is written last)."""
    folder = store.root / name
    try:
        document = jsonio.read_file(folder / SEQUENCE_FILE)
        return (folder / f"{name}.json").is_file() and (store.root / document["video"]).is_file()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _generate_sequence(
    make_synth: Callable[[], VideoSynthesizer], store: DatasetStore, *, seed: int, index: int
) -> Iterator[ItemDone]:
    name = sequence_name(index)
    synth: VideoSynthesizer | None = None
    plan: SequencePlan | None = None
    entries = []
    frames = [item_id(name, i) for i in range(make_synth.video.frames)]
    store.prepare_split(name)
    for i, frame_id in enumerate(frames):
        entry = store.complete_entry(name, frame_id)
        if entry is not None:
            entries.append(entry)
            yield ItemDone(name, i, frame_id, skipped=True)
            continue
        synth = synth or make_synth()
        plan = plan or synth.plan(item_seed(seed, _SEED_SPLIT, index))
        frame = synth.frame(plan, i)
        entry = store.entry(name, frame_id, bbox=frame.bbox, attributes=frame.attributes)
        entry.update(frame=i, time=round(i / synth.video.fps, 6), hidden_fraction=frame.hidden_fraction)
        store.write_item(name, frame_id, image=frame.image, annotation=frame.annotation_json(), entry=entry)
        entries.append(entry)
        yield ItemDone(name, i, frame_id, skipped=False)
    if plan is None and _complete(store, name):
        return
    synth = synth or make_synth()
    plan = plan or synth.plan(item_seed(seed, _SEED_SPLIT, index))
    video_file = _write_video(store, name, entries, synth.video.fps)
    document = _sequence_document(name, plan, synth.video, synth.scene.size, video_file)
    atomic_write(store.root / name / SEQUENCE_FILE, document)
    store.write_split(name, entries)
    logger.info("%s: %d frames, video %s", name, len(frames), video_file)


class _Lazy:
    """Builds the synthesizer on first use (a finished dataset costs no FLAME layer)."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs, self.video, self.synth = kwargs, kwargs["video"], None

    def __call__(self) -> VideoSynthesizer:
        if self.synth is None:
            self.synth = VideoSynthesizer(**self.kwargs)
        return self.synth


def generate_video_dataset(
    root: str | Path,
    *,
    assets: FlameAssets,
    count: int,
    seed: int = 0,
    scene: SceneOptions | None = None,
    video: VideoOptions | None = None,
) -> Iterator[ItemDone]:
    """Generate (or finish) ``count`` sequences under ``root``: one :class:`ItemDone` per frame (its
    ``split`` is the sequence name), ``skipped`` for frames an earlier run made.

    Raises:
        InputError: a bad count or seed, or a ``root`` that holds another dataset or one made with other
            settings.
    """
    scene, video = scene or SceneOptions(), video or VideoOptions()
    for label, value in (("count", count), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"the video {label} must be an integer >= 0, got {value!r}")
    store = DatasetStore(root)
    store.prepare_root(_settings(assets, scene, video, seed))
    make_synth = _Lazy(assets=assets, scene=scene, video=video)
    for index in range(count):
        yield from _generate_sequence(make_synth, store, seed=seed, index=index)
