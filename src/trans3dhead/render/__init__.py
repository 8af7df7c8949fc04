"""Fast CPU (numba) triangle rasteriser and renderer working in screen space.

Conventions are documented in :mod:`trans3dhead.render.rasterize` (screen space, pixel centres, top-left
rule, culling), :mod:`trans3dhead.render.shading` (camera frame, lights) and
:mod:`trans3dhead.render.visibility` (vertex visibility).
"""

from trans3dhead.render.primitives import icosphere
from trans3dhead.render.rasterize import MAX_SCREEN_COORD, SUBPIXEL_BITS, Fragments, interpolate, rasterize
from trans3dhead.render.renderer import RenderResult, overlay, render_mesh
from trans3dhead.render.shading import Light, shade, vertex_normals
from trans3dhead.render.visibility import vertex_visibility

__all__ = [
    "MAX_SCREEN_COORD",
    "SUBPIXEL_BITS",
    "Fragments",
    "Light",
    "RenderResult",
    "icosphere",
    "interpolate",
    "overlay",
    "rasterize",
    "render_mesh",
    "shade",
    "vertex_normals",
    "vertex_visibility",
]
