"""Drawing predictions on images: head boxes, the 68 landmarks, pose axes and a mesh overlay.

Every function takes an (H, W, 3) uint8 RGB image and returns a new one (inputs are never modified).
Points are original-image pixels with integer coordinates at pixel centres (as OpenCV draws them).
The mesh is rendered with the project's z-buffer renderer (:func:`trans3dhead.render.render_mesh`) and
blended with :func:`trans3dhead.render.overlay`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from trans3dhead.image_check import check_image
from trans3dhead.render import Light, overlay, render_mesh

if TYPE_CHECKING:  # a type only: viz stays below inference
    from trans3dhead.inference.prediction import HeadPrediction

__all__ = [
    "draw_box",
    "draw_landmarks",
    "draw_pose_axes",
    "draw_mesh",
    "annotate",
    "annotate_tracks",
    "AXIS_COLORS",
    "LOW_CONFIDENCE_COLOR",
    "NOSE_TIP",
]

#: RGB colours of the model's x (subject's left), y (up) and z (out of the face) axes.
AXIS_COLORS = ((230, 40, 40), (40, 200, 40), (50, 90, 255))
#: Index of the nose tip in the 68-point scheme (0-based); the pose axes start there.
NOSE_TIP = 30
#: RGB colour of the box, label and landmarks of a head flagged ``failed`` (low confidence).
LOW_CONFIDENCE_COLOR = (255, 40, 200)
_SHIFT = 4  # cv2 fixed-point fractional bits: sub-pixel drawing
_MESH_ALBEDO = (0.75, 0.78, 0.85)


def _line_width(image: np.ndarray) -> int:
    return max(1, round(min(image.shape[:2]) / 300))


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(points, np.float64) * (1 << _SHIFT)).astype(np.int32)


def draw_box(image: np.ndarray, box: Sequence[float], *, color=(255, 200, 0), label: str | None = None):
    """A head box ``[x, y, w, h]`` and an optional text label above it."""
    out = check_image(image).copy()
    x, y, w, h = (float(v) for v in box)
    width = _line_width(out)
    p0, p1 = _fixed([x, y]), _fixed([x + w, y + h])
    cv2.rectangle(out, tuple(p0.tolist()), tuple(p1.tolist()), color, width, cv2.LINE_AA, _SHIFT)
    if label:
        font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45 * width
        text_width = cv2.getTextSize(label, font, scale, width)[0][0]
        scale *= max(min(1.0, 0.95 * out.shape[1] / text_width), 0.25)  # fit small images
        text_width = cv2.getTextSize(label, font, scale, width)[0][0]
        org = (int(max(min(x, out.shape[1] - text_width - 2), 0)), max(int(y) - 4 * width, 10))
        cv2.putText(out, label, org, font, scale, (0, 0, 0), 3 * width, cv2.LINE_AA)
        cv2.putText(out, label, org, font, scale, color, width, cv2.LINE_AA)
    return out


def draw_landmarks(image: np.ndarray, points: np.ndarray, *, color=(0, 255, 0), radius: int | None = None):
    """Filled dots at (N, 2) points (non-finite points are skipped)."""
    out = check_image(image).copy()
    r = radius if radius is not None else max(1, round(min(out.shape[:2]) / 250))
    for point in _fixed(np.nan_to_num(points, nan=-1e6)).tolist():
        cv2.circle(out, tuple(point), r << _SHIFT, color, -1, cv2.LINE_AA, _SHIFT)
    return out


def draw_pose_axes(
    image: np.ndarray, rotation: np.ndarray, origin: Sequence[float], *, length: float
) -> np.ndarray:
    """The model axes R e_x, R e_y, R e_z seen from the camera (orthographic), from ``origin`` (x, y).

    Colours :data:`AXIS_COLORS`; ``length`` in pixels for an axis parallel to the image.  The axis
    pointing most towards the viewer is drawn last.
    """
    out = check_image(image).copy()
    r = np.asarray(rotation, np.float64)
    if r.shape != (3, 3):
        raise ValueError(f"rotation must be (3, 3), got {r.shape}")
    start = np.asarray(origin, np.float64)
    width = _line_width(out) + 1
    for axis in np.argsort(-r[2]).tolist():  # columns are the posed axes; larger z = farther: draw first
        end = start + length * r[:2, axis]
        p0, p1 = _fixed(start), _fixed(end)
        cv2.arrowedLine(
            out, tuple(p0.tolist()), tuple(p1.tolist()), AXIS_COLORS[axis], width, cv2.LINE_AA, _SHIFT, 0.15
        )
    return out


def draw_mesh(
    image: np.ndarray,
    vertices: Sequence[np.ndarray],
    faces: Sequence[np.ndarray],
    *,
    alpha: float = 0.5,
    supersample: int = 1,
) -> np.ndarray:
    """Blend shaded meshes over the image; ``vertices[i]`` (V_i, 3) image frame (x, y px, z away).

    The meshes are rendered together (so nearer heads hide farther ones) with a frontal light.
    """
    out = check_image(image)
    if not vertices:
        return out.copy()
    offsets = np.cumsum([0] + [len(v) for v in vertices[:-1]])
    all_vertices = np.concatenate([np.asarray(v, np.float64) for v in vertices])  # (sum V, 3)
    all_faces = np.concatenate([np.asarray(f, np.int64) + o for f, o in zip(faces, offsets, strict=True)])
    screen = all_vertices.copy()
    screen[:, 2] = screen[:, 2] - screen[:, 2].min() + 1.0  # the renderer wants depth > 0
    colors = np.broadcast_to(np.asarray(_MESH_ALBEDO, np.float64), screen.shape)
    height, width = out.shape[:2]
    result = render_mesh(
        screen, all_faces, colors, height=height, width=width, light=Light(), supersample=supersample
    )
    return overlay(out, result, alpha=alpha)


def annotate(
    image: np.ndarray,
    predictions: Sequence[HeadPrediction],
    *,
    mesh: bool = True,
    alpha: float = 0.45,
    boxes: bool = True,
) -> np.ndarray:
    """The standard picture: mesh overlay, head boxes with (yaw, pitch, roll) and the confidence, 68
    landmarks, pose axes.  A head flagged ``failed`` (low confidence) has its box, label and landmarks in
    :data:`LOW_CONFIDENCE_COLOR` and its label starts with "LOW"."""
    out = check_image(image).copy()
    with_mesh = [p for p in predictions if p.vertices is not None and p.faces is not None]
    if mesh and with_mesh:
        out = draw_mesh(out, [p.vertices for p in with_mesh], [p.faces for p in with_mesh], alpha=alpha)
    for p in predictions:
        low = bool(p.failed)
        if boxes:
            label = f"yaw {round(p.yaw):d} pitch {round(p.pitch):d} roll {round(p.roll):d}"
            if p.confidence is not None:
                label = f"{'LOW ' if low else ''}conf {p.confidence:.2f} {label}"
            out = draw_box(out, p.box, label=label, **({"color": LOW_CONFIDENCE_COLOR} if low else {}))
        out = draw_landmarks(out, p.landmarks, **({"color": LOW_CONFIDENCE_COLOR} if low else {}))
        origin = p.landmarks[NOSE_TIP] if len(p.landmarks) > NOSE_TIP else p.landmarks.mean(axis=0)
        out = draw_pose_axes(out, p.rotation, origin, length=0.4 * float(max(p.box[2], p.box[3])))
    return out


def _draw_text(out: np.ndarray, text: str, origin: tuple[float, float], color) -> np.ndarray:
    """``text`` with a dark outline, its baseline starting at ``origin`` (kept inside the image)."""
    width = _line_width(out)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.45 * width
    (text_width, text_height), _ = cv2.getTextSize(text, font, scale, width)
    x = int(max(min(origin[0], out.shape[1] - text_width - 2), 0))
    y = int(max(min(origin[1], out.shape[0] - 2), text_height + 2))
    cv2.putText(out, text, (x, y), font, scale, (0, 0, 0), 3 * width, cv2.LINE_AA)
    cv2.putText(out, text, (x, y), font, scale, color, width, cv2.LINE_AA)
    return out


def annotate_tracks(image: np.ndarray, tracked: Sequence, **kwargs) -> np.ndarray:
    """:func:`annotate` of video heads (:class:`~trans3dhead.inference.video_tracker.TrackedHead`, the
    smoothed predictions) with each head's track id under its box (:func:`annotate`'s label above the box
    already carries the confidence)."""
    out = annotate(image, [t.head for t in tracked], **kwargs)
    for t in tracked:
        x, y, w, h = (float(v) for v in t.head.box)
        out = _draw_text(out, f"#{t.track_id}", (x, y + h + 14 * _line_width(out)), (255, 200, 0))
    return out
