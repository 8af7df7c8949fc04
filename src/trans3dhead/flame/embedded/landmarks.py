"""The 51 static iBUG-68 landmarks (17..67) as faces + barycentric coordinates on the template.

Semantics (image of a frontal face; image-left = the subject's right = -x): 17..21 image-left brow
(outer to inner), 22..26 image-right brow (inner to outer), 27..30 nose bridge top to tip, 31..35 lower
nose from the image-left nostril, 36..41 image-left eye (36 outer corner, 39 inner, 37/38 upper lid,
40/41 lower lid), 42..47 image-right eye (42 inner, 45 outer), 48..59 outer lip contour (48 image-left
corner, 51 top centre, 54 image-right corner, 57 bottom centre), 60..67 inner lip contour (62 upper
centre, 66 lower centre).  Eyelid points sit on the faces next to their margin row, so a blink moves
them; the inner lip points sit on upper-lip (61..63) or lower-lip (65..67) faces, so opening the jaw
separates 62 from 66.
"""

from __future__ import annotations

import numpy as np

from trans3dhead.flame.embedded.eyelids import shell_points
from trans3dhead.flame.embedded.mesh import HeadMesh
from trans3dhead.flame.embedded.regions import brow_centre, vermilion_height
from trans3dhead.flame.embedded.surface_query import closest_points, frontal_hits

__all__ = ["static_landmarks", "strip_faces"]


def strip_faces(mesh: HeadMesh, lower_row: int) -> np.ndarray:
    """Faces (F,) bool lying between grid rows ``lower_row`` and ``lower_row + 1``.

    The lower-lip copies count as vertices of the mouth row.
    """
    rows = mesh.grid_row.copy()
    rows[mesh.pocket.lower] = mesh.mouth_row
    face_rows = rows[mesh.faces]
    inside = np.isin(face_rows, [lower_row, lower_row + 1]).all(1)
    both = (face_rows == lower_row).any(1) & (face_rows == lower_row + 1).any(1)
    return inside & both


def _brows_and_nose(mesh: HeadMesh, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    xs = np.array([-0.051, -0.0425, -0.034, -0.025, -0.016, 0.016, 0.025, 0.034, 0.0425, 0.051])
    brow_y, _ = brow_centre(xs)
    bridge = np.array([[0.0, 0.022], [0.0, 0.009], [0.0, -0.004]])
    ys = np.linspace(-0.03, 0.0, 61)
    f, b = frontal_hits(np.stack([np.zeros_like(ys), ys], 1), mesh.vertices, mesh.faces, allowed)
    tip_z = np.einsum("nkd,nk->nd", mesh.vertices[mesh.faces[f]], b)[:, 2]
    tip = [[0.0, ys[int(np.argmax(tip_z))]]]
    base = np.array(
        [[-0.0105, -0.031], [-0.0055, -0.0335], [0.0, -0.035], [0.0055, -0.0335], [0.0105, -0.031]]
    )
    xy = np.concatenate([np.stack([xs, brow_y], 1), bridge, tip, base])
    return frontal_hits(xy, mesh.vertices, mesh.faces, allowed)


def _eyes(mesh: HeadMesh) -> tuple[np.ndarray, np.ndarray]:
    anatomy, design = mesh.context.anatomy, mesh.context.design
    e_low, _, _, e_up = mesh.eye_rows
    upper_faces, lower_faces = strip_faces(mesh, e_up), strip_faces(mesh, e_low - 1)
    corner_faces = upper_faces | lower_faces | strip_faces(mesh, e_low) | strip_faces(mesh, e_low + 1)
    corner_faces |= strip_faces(mesh, e_low + 2)
    third = 1.0 / 3.0
    # (s along the eye from inner -1 to outer +1, margin) in iBUG order for one eye, outer corner first.
    right_eye = [
        (1.0, "corner"),
        (third, "upper"),
        (-third, "upper"),
        (-1.0, "corner"),
        (-third, "lower"),
        (third, "lower"),
    ]
    left_eye = [
        (-1.0, "corner"),
        (-third, "upper"),
        (third, "upper"),
        (1.0, "corner"),
        (third, "lower"),
        (-third, "lower"),
    ]
    faces, barys = [], []
    for side, points in ((-1, right_eye), (1, left_eye)):
        for s, which in points:
            s_arr = np.array([s])
            if which == "corner":
                offset = 0.5 * (design.margin(s_arr, "upper") + design.margin(s_arr, "lower"))
                allowed = corner_faces
            else:
                offset = design.margin(s_arr, which)
                allowed = upper_faces if which == "upper" else lower_faces
            f, b = closest_points(shell_points(anatomy, offset, side), mesh.vertices, mesh.faces, allowed)
            faces.append(f[0])
            barys.append(b[0])
    return np.array(faces), np.array(barys)


def _lips(mesh: HeadMesh, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    anatomy, pocket = mesh.context.anatomy, mesh.pocket
    v = mesh.vertices
    corners = v[pocket.corners]
    half = float(np.abs(corners[:, 0]).mean())
    y0 = anatomy.mouth_y
    upper_x = np.array([-0.6, -0.3, 0.0, 0.3, 0.6]) * half
    lower_x = -upper_x
    outer_xy = np.concatenate(
        [
            np.stack([upper_x, y0 + vermilion_height(upper_x, half, True)], 1),
            np.stack([lower_x, y0 - vermilion_height(lower_x, half, False)], 1),
        ]
    )
    of, ob = frontal_hits(outer_xy, v, mesh.faces, allowed)
    corner_f, corner_b = closest_points(corners, v, mesh.faces, allowed & strip_faces(mesh, mesh.mouth_row))
    row_x = v[pocket.upper, 0]
    inner_upper_x = np.array([-0.9, -0.45, 0.0, 0.45, 0.9]) * half
    inner_lower_x = np.array([0.45, 0.0, -0.45]) * half

    def on_row(ids: np.ndarray, xs: np.ndarray, lift: float) -> np.ndarray:
        return np.stack([np.interp(xs, row_x, v[ids, c]) for c in range(3)], 1) + [0.0, lift, 0.0]

    up_faces = strip_faces(mesh, mesh.mouth_row)
    low_faces = strip_faces(mesh, mesh.mouth_row - 1)
    uf, ub = closest_points(on_row(pocket.upper, inner_upper_x, 0.0004), v, mesh.faces, up_faces)
    lf, lb = closest_points(on_row(pocket.lower, inner_lower_x, -0.0004), v, mesh.faces, low_faces)
    face_ids = np.concatenate([corner_f[:1], of[:5], corner_f[1:], of[5:], uf, lf])
    barys = np.concatenate([corner_b[:1], ob[:5], corner_b[1:], ob[5:], ub, lb])
    return face_ids, barys


def static_landmarks(mesh: HeadMesh) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks 17..67: face ids (51,) and barycentrics (51, 3)."""
    allowed = mesh.skin_faces()
    bn_f, bn_b = _brows_and_nose(mesh, allowed)
    eye_f, eye_b = _eyes(mesh)
    lip_f, lip_b = _lips(mesh, allowed)
    faces = np.concatenate([bn_f, eye_f, lip_f])
    barys = np.concatenate([bn_b, eye_b, lip_b])
    if faces.shape != (51,):
        raise AssertionError(f"expected 51 static landmarks, built {faces.shape[0]}")
    return faces.astype(np.int64), barys
