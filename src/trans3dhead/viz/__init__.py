"""Visualisation of predictions: boxes, landmarks, pose axes and mesh overlays on images."""

from trans3dhead.viz.draw import (
    annotate,
    annotate_tracks,
    draw_box,
    draw_landmarks,
    draw_mesh,
    draw_pose_axes,
)

__all__ = ["annotate", "annotate_tracks", "draw_box", "draw_landmarks", "draw_mesh", "draw_pose_axes"]
