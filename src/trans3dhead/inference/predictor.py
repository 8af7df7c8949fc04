"""``HeadAligner``: a trained model behind a two-line API over numpy images.

    aligner = HeadAligner.from_checkpoint("runs/demo/best.pt")
    heads = aligner.predict(image)            # (H, W, 3) uint8 RGB -> list[HeadPrediction]

Heads are found by a pluggable detector (:mod:`trans3dhead.inference.detector`) unless boxes are given,
cropped like the evaluation crops (the head box extended by 10% per side, clipped, resized and padded to
S x S), run through the network in batches, and mapped back to the original image.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from trans3dhead.devices import default_device, resolve_device
from trans3dhead.geometry import CROP_STYLES, FIXED_EVAL_EXTENSION, CropTransform
from trans3dhead.geometry.camera import check_focal
from trans3dhead.inference.assemble import LANDMARK_SOURCES, MeshInfo, assemble_predictions
from trans3dhead.inference.backend import InferenceBackend, TorchBackend
from trans3dhead.inference.boxes import Detection, check_box
from trans3dhead.inference.detector import HaarDetector, HeadDetector, check_image
from trans3dhead.inference.prediction import HeadPrediction
from trans3dhead.inference.smoothing import SmoothingOptions
from trans3dhead.inference.tracking import TrackerOptions
from trans3dhead.inference.video_tracker import DEFAULT_FPS, TrackedHead, VideoTracker
from trans3dhead.types import HeadOutput

__all__ = ["HeadAligner", "default_device", "resolve_device"]

logger = logging.getLogger(__name__)

BoxesLike = Sequence[Sequence[float]] | np.ndarray | Sequence[Detection]


def _detections(boxes: BoxesLike) -> list[Detection]:
    """Boxes (K, 4) [x, y, w, h] or Detections -> Detections (given boxes have score None)."""
    if isinstance(boxes, np.ndarray) and (boxes.ndim != 2 or boxes.shape[1] != 4):
        raise ValueError(f"boxes must have shape (K, 4) [x, y, w, h], got {boxes.shape}")
    if len(boxes) and isinstance(boxes[0], int | float | np.number):
        raise ValueError(
            f"boxes must be a list of [x, y, w, h] boxes; for one box pass [[x, y, w, h]], got {boxes!r}"
        )
    out = []
    for i, box in enumerate(boxes):
        if isinstance(box, Detection):
            out.append(Detection(check_box(box.box, name=f"boxes[{i}]"), box.score, box.source))
        else:
            out.append(Detection(check_box(box, name=f"boxes[{i}]")))
    return out


def _check_extension(extension: Sequence[float]) -> tuple[float, float, float, float]:
    values = np.asarray(extension, dtype=np.float64)
    if values.shape != (4,) or not np.isfinite(values).all() or (values <= -0.5).any():
        raise ValueError(
            f"extension must be 4 finite fractions > -0.5 (left, top, right, bottom), got {extension}"
        )
    left, top, right, bottom = values.tolist()
    return left, top, right, bottom


class HeadAligner:
    """Aligns every head of an image: detection, crops, batched network, image-space predictions.

    Args:
        backend: runs crops through the network (:class:`TorchBackend` or
            :class:`~trans3dhead.inference.onnx_runtime.OnnxBackend`).
        mesh: faces, parameter layout and dense subsets of the model's FLAME layer.
        detector: finds head boxes when none are given; None is :class:`HaarDetector` ().
        batch_size: heads per network call.
        landmark_source: "flame" (projected FLAME landmarks, default), "branch" or "heatmap" (DAD-3DNet's
            heatmap argmax, torch backend) for :attr:`HeadPrediction.landmarks` (the FLAME and branch
            landmarks are always in the prediction too).
        extension: (left, top, right, bottom) fractions added to each head box before cropping.
        crop_style: the crop, one of :data:`~trans3dhead.geometry.crop.CROP_STYLES` (the checkpoint's
            ``model.crop``: "reference" for an imported DAD-3DNet).
        camera_focal: the camera's focal length in image sizes (the longest side) with which each
            predicted rotation is turned from the crop's view into the camera frame (the checkpoint's
            ``model.camera_focal``); None: the rotation as predicted.
    """

    def __init__(
        self,
        *,
        backend: InferenceBackend,
        mesh: MeshInfo,
        detector: HeadDetector | None = None,
        batch_size: int = 16,
        landmark_source: str = "flame",
        extension: Sequence[float] = FIXED_EVAL_EXTENSION,
        crop_style: str = "centred",
        camera_focal: float | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if landmark_source not in LANDMARK_SOURCES:
            raise ValueError(f"landmark_source must be one of {LANDMARK_SOURCES}, got {landmark_source!r}")
        if detector is not None and not isinstance(detector, HeadDetector):
            raise ValueError(
                f"detector must have detect(image, *, names) -> list[Detection], got {detector!r}"
            )
        self.backend, self.mesh = backend, mesh
        self.detector = detector if detector is not None else HaarDetector()
        self.batch_size, self.landmark_source = batch_size, landmark_source
        self.extension = _check_extension(extension)
        if crop_style not in CROP_STYLES:
            raise ValueError(f"crop_style must be one of {CROP_STYLES}, got {crop_style!r}")
        self.crop_style = crop_style
        if camera_focal is not None:
            check_focal(camera_focal, "camera_focal")
        self.camera_focal = camera_focal
        self.input_size = int(backend.input_size)
        self.video: VideoTracker | None = None  # the state of :meth:`track`

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str | torch.device | None = None,
        *,
        flame: str | None = None,
        aux: str | None = None,
        detector: HeadDetector | None = None,
        onnx: str | Path | None = None,
        onnx_threads: int | None = None,
        batch_size: int = 16,
        landmark_source: str | None = None,
        camera_focal: float | None | str = "config",
        flip: bool = False,
    ) -> HeadAligner:
        """Load a checkpoint (``best.pt`` / ``last.pt`` of a training run, or one written by
        ``trans3dhead import``).

        The crop style and, unless ``landmark_source`` / ``camera_focal`` is given, the landmark source
        and the camera's focal length come from the checkpoint's config (``model.crop``,
        ``model.landmarks``, ``model.camera_focal``; ``camera_focal=None``: rotations as predicted).
        ``device`` defaults to CUDA when available.  ``flame`` / ``aux`` override the FLAME files named in
        the checkpoint's config.  With ``onnx`` the network runs from that exported file in ONNX Runtime
        (the checkpoint still supplies the mesh faces, layout and dense subsets; the two must match).
        ``flip``: average each crop's prediction with that for its mirror image
        (:class:`~trans3dhead.models.flip.FlipBackend`; twice the network cost, either backend).
        """
        from trans3dhead.engine.evaluate import has_landmark_branch
        from trans3dhead.models.build import model_from_checkpoint

        device = resolve_device(device)
        model, config, assets = model_from_checkpoint(path, flame=flame, aux=aux, device=device)
        mesh = MeshInfo.from_flame(model.flame, landmark_branch=has_landmark_branch(model))
        if onnx is None:
            backend: InferenceBackend = TorchBackend(model=model, device=device)
        else:
            from trans3dhead.inference.onnx_runtime import OnnxBackend

            providers = None if device.type == "cuda" else ["CPUExecutionProvider"]
            backend = OnnxBackend(path=onnx, threads=onnx_threads, providers=providers)
            backend.check_compatible(
                num_params=mesh.layout.total,
                num_vertices=int(model.flame.v_template.shape[0]),
                input_size=int(model.flame.image_size),
            )
        if flip:
            from trans3dhead.models.flip import FlipBackend

            backend = FlipBackend(backend=backend, flame=model.flame, source=assets.model.source)
        return cls(
            backend=backend,
            mesh=mesh,
            detector=detector,
            batch_size=batch_size,
            landmark_source=landmark_source or config.model.landmarks,
            crop_style=config.model.crop,
            camera_focal=config.model.camera_focal if camera_focal == "config" else camera_focal,
        )

    def detect(self, image: np.ndarray, *, names: Sequence[str] = ()) -> list[Detection]:
        """Head boxes of an (H, W, 3) uint8 RGB image from the detector."""
        return list(self.detector.detect(check_image(image), names=names))

    def crop(self, image: np.ndarray, box: Sequence[float]) -> tuple[CropTransform, np.ndarray]:
        """The network's view of one head: its transform and the (S, S, 3) uint8 crop."""
        transform = CropTransform.from_bbox(
            check_box(box),
            image.shape[:2],
            size=self.input_size,
            extension=self.extension,
            style=self.crop_style,
        )
        return transform, transform.warp_image(image)

    def predict_batch(self, crops: Tensor) -> HeadOutput:
        """crops (B, 3, S, S) float RGB in [0, 1] -> the network's :class:`HeadOutput` (crop frame)."""
        return self.backend(crops)

    def predict(
        self, image: np.ndarray, boxes: BoxesLike | None = None, *, names: Sequence[str] = ()
    ) -> list[HeadPrediction]:
        """All heads of an (H, W, 3) uint8 RGB image, in original-image pixels.

        Args:
            image: the image (not modified).
            boxes: head boxes (K, 4) ``[x, y, w, h]`` in pixels (or Detections); None runs the detector.
            names: names of the image for a :class:`~trans3dhead.inference.detector.BoxesDetector`.

        Returns:
            One prediction per head, in the order of ``boxes`` / the detector (best first); [] for none.
        """
        return self.predict_many([image], None if boxes is None else [boxes], names=[names])[0]

    def predict_many(
        self,
        images: Sequence[np.ndarray],
        boxes: Sequence[BoxesLike | None] | None = None,
        *,
        names: Sequence[Sequence[str]] | None = None,
    ) -> list[list[HeadPrediction]]:
        """:meth:`predict` for several images, with the heads of all of them batched together."""
        images = [check_image(image, name=f"images[{i}]") for i, image in enumerate(images)]
        for arg, label in ((boxes, "boxes"), (names, "names")):
            if arg is not None and len(arg) != len(images):
                raise ValueError(f"{label} must have one entry per image ({len(images)}), got {len(arg)}")
        per_image = [
            self.detect(image, names=names[i] if names else ())
            if boxes is None or boxes[i] is None
            else _detections(boxes[i])
            for i, image in enumerate(images)
        ]
        heads = [(i, d) for i, dets in enumerate(per_image) for d in dets]  # flat list of (image, head)
        results: list[list[HeadPrediction]] = [[] for _ in images]
        for start in range(0, len(heads), self.batch_size):
            chunk = heads[start : start + self.batch_size]
            crops = [self.crop(images[i], d.box) for i, d in chunk]
            pixels = np.stack([c[1] for c in crops])  # (B, S, S, 3) uint8
            batch = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0)  # -> (B, 3, S, S)
            predictions = assemble_predictions(
                self.predict_batch(batch),
                crops=[c[0] for c in crops],
                detections=[d for _, d in chunk],
                mesh=self.mesh,
                landmark_source=self.landmark_source,
                camera_focal=self.camera_focal,
            )
            for (i, _), prediction in zip(chunk, predictions, strict=True):
                results[i].append(prediction)
        return results

    # --- video mode
    def track(
        self, frame: np.ndarray, *, timestamp: float | None = None, names: Sequence[str] = ()
    ) -> list[TrackedHead]:
        """Video mode: the heads of the next frame of a stream, with stable track ids and smoothing.

        Keeps state between calls (:attr:`video`, a :class:`VideoTracker` with default options until
        :meth:`reset_tracking` sets others); call :meth:`reset_tracking` before another video.
        ``timestamp`` in seconds (increasing; None: frame count / fps); see ``docs/video.md``.
        """
        if self.video is None:
            self.reset_tracking()
        return self.video.step(frame, timestamp=timestamp, names=names)

    def reset_tracking(
        self,
        *,
        tracking: TrackerOptions | None = None,
        smoothing: SmoothingOptions | None = None,
        fps: float = DEFAULT_FPS,
    ) -> None:
        """Start :meth:`track` afresh (new ids from 0, fresh filters), optionally with other options."""
        self.video = VideoTracker(aligner=self, tracking=tracking, smoothing=smoothing, fps=fps)
