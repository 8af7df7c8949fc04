"""One synthetic DAD-3DHeads item: sample a head, place the camera, render, occlude, degrade, annotate.

The item is a pure function of its seed.  Its random streams are independent children of the seed
(head, camera, light, background, occluders, quality), so changing how one part draws does not reshuffle
the others.  Vertices and matrices are quantised to the digits the annotation file holds *before*
rendering (:mod:`.encoding`), so the GT projection of the stored numbers is exactly where the
renderer drew each vertex.  Letters: V vertices, F faces, S image side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trans3dhead.data.synthetic import attributes as rules
from trans3dhead.data.synthetic.appearance import VertexColours
from trans3dhead.data.synthetic.camera import PinholeCamera, camera_points, model_view_matrix, screen_points
from trans3dhead.data.synthetic.encoding import MATRIX_DIGITS, VERTEX_DIGITS, annotation_text, quantize
from trans3dhead.data.synthetic.sampling import (
    POSE_MIX,
    HeadSample,
    Placement,
    check_pose_mix,
    sample_head,
    sample_light,
    sample_placement,
)
from trans3dhead.data.synthetic.scene import degrade, draw_occluders, random_background
from trans3dhead.errors import InputError
from trans3dhead.flame import FlameAssets, FlameLayer
from trans3dhead.frames import FLIP_YZ_SIGNS, gt_rotation_from_model_view
from trans3dhead.geometry.rotation import euler_to_matrix
from trans3dhead.render import Light, render_mesh, vertex_normals

__all__ = ["SceneOptions", "SyntheticItem", "HeadSynthesizer", "MIN_SIZE", "item_streams"]

#: Smallest image side the generator accepts.
MIN_SIZE = 32
_STREAMS = ("head", "camera", "light", "background", "occluders", "quality", "appearance")
_CV_FROM_GL = np.asarray(FLIP_YZ_SIGNS)  # OpenGL camera frame -> renderer frame (y down, z away)


@dataclass(frozen=True, kw_only=True)
class SceneOptions:
    """Image-level settings.

    size: image side S in pixels (square images).
    supersample: anti-aliasing samples per pixel along each axis (1 = off).
    occluder_prob: probability that an item gets one or two occluders.
    low_quality_prob: probability that an item is degraded ("lq").
    focal_range: the camera's focal length is ``size * U(low, high)``, log-uniform (default 0.9-4:
        wide angle to tele; see docs/synthetic.md for what the wide end does to an orthographic fit).
    pose_mix: shares of the near-frontal, wide and anything poses (default :data:`POSE_MIX`, 0.55 /
        0.30 / 0.15; "anything" holds the back views), summing to 1.
    """

    size: int = 256
    supersample: int = 1
    occluder_prob: float = 0.35
    low_quality_prob: float = 0.3
    focal_range: tuple[float, float] = (0.9, 4.0)
    pose_mix: tuple[float, float, float] = POSE_MIX

    def __post_init__(self) -> None:
        object.__setattr__(self, "pose_mix", check_pose_mix(self.pose_mix))
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < MIN_SIZE:
            raise InputError(f"size must be an integer >= {MIN_SIZE} pixels, got {self.size!r}")
        if not isinstance(self.supersample, int) or not 1 <= self.supersample <= 4:
            raise InputError(f"supersample must be an integer in [1, 4], got {self.supersample!r}")
        low, high = self.focal_range
        if not (0.0 < low <= high and np.isfinite(high)):
            raise InputError(f"focal_range must be 0 < low <= high (image sizes), got {self.focal_range!r}")
        for name in ("occluder_prob", "low_quality_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class SyntheticItem:
    """A generated item: the files' contents plus the render's masks (for tests and galleries).

    image: (S, S, 3) uint8 RGB as saved.  vertices: (V, 3) GT FLAME vertices exactly as stored.
    model_view, projection: (4, 4) as stored.  bbox: [x, y, w, h] head box.  attributes: metadata values.
    screen: (V, 3) renderer coordinates (x, y image pixels, depth).  head_mask / face_mask /
    occluder_mask: (S, S) bool pixels of the head, of its visible face region, of the occluders.
    visible: (V,) vertex visibility in the head render (before occluders).  hidden_fraction: share of the
    face pixels that occluders hide.  head, light: the drawn parameters.
    """

    image: np.ndarray
    vertices: np.ndarray
    model_view: np.ndarray
    projection: np.ndarray
    bbox: list[float]
    attributes: dict[str, str]
    screen: np.ndarray
    head_mask: np.ndarray
    face_mask: np.ndarray
    occluder_mask: np.ndarray
    visible: np.ndarray
    hidden_fraction: float
    head: HeadSample
    light: Light

    def annotation_json(self) -> str:
        """The item's annotation file text."""
        return annotation_text(vertices=self.vertices, model_view=self.model_view, projection=self.projection)


def item_streams(seed: np.random.SeedSequence) -> dict[str, np.random.Generator]:
    """The independent random streams of one item (children of ``seed``; ``seed`` is not modified)."""
    return {
        name: np.random.default_rng(np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, k)))
        for k, name in enumerate(_STREAMS)
    }


def _face_region_faces(assets: FlameAssets) -> np.ndarray:
    """(F,) bool: triangles whose three vertices are in the face or eyeball subsets."""
    region = np.zeros(assets.model.num_vertices, bool)
    region[assets.aux.subsets["face"]] = True
    region[assets.aux.subsets["eyeballs"]] = True
    return region[assets.model.faces].all(axis=1)


class HeadSynthesizer:
    """Generates :class:`SyntheticItem` s for one head model.

    Args:
        assets: the FLAME-format model (its ``vertex_albedo`` colours the skin when present).
        options: image settings.
    """

    def __init__(self, *, assets: FlameAssets, options: SceneOptions) -> None:
        self.assets, self.options = assets, options
        self.layer = FlameLayer(assets=assets).double()
        self.faces = assets.model.faces
        self.head_indices = assets.aux.subsets["head"]
        self.face_faces = _face_region_faces(assets)
        self.colours = VertexColours(assets.model)

    def vertices(self, head: HeadSample) -> np.ndarray:
        """Raw FLAME vertices (V, 3) of a head, quantised as stored."""
        with torch.no_grad():
            out = self.layer.shaped_vertices(
                shape=torch.from_numpy(head.shape)[None],
                expression=torch.from_numpy(head.expression)[None],
                jaw=torch.from_numpy(head.jaw)[None],
            )
        return quantize(out[0].numpy(), VERTEX_DIGITS)

    def head_extent(self, vertices: np.ndarray) -> tuple[np.ndarray, float, float]:
        """(centre (3,) of the head subset's bounding box, radius of the head subset around it, reach of
        the whole mesh around it) in model units: the head turns about the centre."""
        points = vertices[self.head_indices]
        centre = 0.5 * (points.min(axis=0) + points.max(axis=0))
        radius = float(np.linalg.norm(points - centre, axis=1).max())
        reach = float(np.linalg.norm(vertices - centre, axis=1).max())
        return centre, radius, reach

    def camera_matrices(
        self, *, vertices: np.ndarray, euler: np.ndarray, placement: Placement, extent=None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(MV, P) quantised: the head (``extent`` = :meth:`head_extent`, default from ``vertices``) turned
        by ``euler`` (roll, pitch, yaw degrees) and placed as ``placement`` says."""
        size = self.options.size
        centre, radius, reach = extent if extent is not None else self.head_extent(vertices)
        distance = max(placement.focal * 2.0 * radius / (placement.head_fraction * size), 2.0 * reach)
        camera = PinholeCamera(focal=placement.focal, height=size, width=size)
        rotation = euler_to_matrix(torch.from_numpy(np.asarray(euler, np.float64))).numpy()
        translation = camera.unproject(*placement.centre_xy, distance)
        mv = model_view_matrix(rotation=rotation, centre=centre, translation=translation)
        return quantize(mv, MATRIX_DIGITS), quantize(camera.projection_matrix(), MATRIX_DIGITS)

    def _camera(self, rng: np.random.Generator, vertices: np.ndarray, head: HeadSample):
        """(MV, P) quantised, placing the head as :func:`sample_placement` draws it."""
        placement = sample_placement(rng, size=self.options.size, focal_range=self.options.focal_range)
        return self.camera_matrices(vertices=vertices, euler=head.euler, placement=placement)

    def render_head(
        self,
        vertices: np.ndarray,
        mv: np.ndarray,
        screen: np.ndarray,
        *,
        colours: np.ndarray,
        light: Light,
        background: np.ndarray,
    ):
        """The head with per-vertex ``colours`` under ``light`` over ``background``: a RenderResult."""
        size = self.options.size
        normals = vertex_normals(camera_points(vertices, mv) * _CV_FROM_GL, self.faces)
        return render_mesh(
            screen,
            self.faces,
            colours,
            height=size,
            width=size,
            normals=normals,
            light=light,
            background=background,
            supersample=self.options.supersample,
        )

    def _render(self, streams: dict, vertices: np.ndarray, mv: np.ndarray, screen: np.ndarray):
        """The head over a random background: (RenderResult, Light)."""
        size = self.options.size
        light = sample_light(streams["light"])
        render = self.render_head(
            vertices,
            mv,
            screen,
            colours=self.colours.sample(streams["appearance"]),
            light=light,
            background=random_background(streams["background"], height=size, width=size),
        )
        return render, light

    def face_mask(self, render) -> np.ndarray:
        """(S, S) bool: pixels where the render shows the face region (face and eyeball triangles)."""
        return render.mask & self.face_faces[np.maximum(render.face_id, 0)]

    def _occlude(self, rng: np.random.Generator, image: np.ndarray, face_mask: np.ndarray):
        """Draw occluders into ``image`` (in place): (occluder mask (S, S), hidden share of the face)."""
        occluders = np.zeros(face_mask.shape, bool)
        if rng.uniform() < self.options.occluder_prob:
            occluders = draw_occluders(rng, image, face_mask, count=1 + int(rng.uniform() < 0.3))
        face_pixels = int(face_mask.sum())
        hidden = float((occluders & face_mask).sum() / face_pixels) if face_pixels else 0.0
        return occluders, hidden

    def generate(self, seed: np.random.SeedSequence) -> SyntheticItem:
        """The item of one seed."""
        streams = item_streams(seed)
        model = self.assets.model
        head = sample_head(
            streams["head"],
            num_shape=model.num_shape,
            num_expression=model.num_expression,
            pose_mix=self.options.pose_mix,
        )
        vertices = self.vertices(head)
        mv, proj = self._camera(streams["camera"], vertices, head)
        screen = screen_points(vertices, mv, proj, self.options.size)
        render, light = self._render(streams, vertices, mv, screen)
        face_mask = self.face_mask(render)
        image = render.image.copy()
        occluders, hidden = self._occlude(streams["occluders"], image, face_mask)
        pixels = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
        low_quality = streams["quality"].uniform() < self.options.low_quality_prob
        if low_quality:
            pixels = degrade(streams["quality"], pixels)
        return SyntheticItem(
            image=pixels,
            vertices=vertices,
            model_view=mv,
            projection=proj,
            bbox=self.bbox(screen),
            attributes=self.attributes(head, mv, light, hidden, low_quality),
            screen=screen,
            head_mask=render.mask,
            face_mask=face_mask,
            occluder_mask=occluders,
            visible=render.visible,
            hidden_fraction=hidden,
            head=head,
            light=light,
        )

    def bbox(self, screen: np.ndarray) -> list[float]:
        """[x, y, w, h] of the projected head subset, clipped to the image [0, S] x [0, S]."""
        size = self.options.size
        xy = np.clip(screen[self.head_indices, :2], 0.0, float(size))
        (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
        return [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)]

    @staticmethod
    def attributes(head: HeadSample, mv: np.ndarray, light: Light, hidden: float, lq: bool) -> dict[str, str]:
        rotation = gt_rotation_from_model_view(mv)
        return {
            "quality": "lq" if lq else "hq",
            "gender": rules.gender_attribute(head.shape),
            "expression": rules.expression_attribute(head.expression, head.jaw),
            "age": rules.age_attribute(head.shape),
            "occlusions": rules.occlusion_attribute(hidden),
            "pose": rules.pose_attribute(*rules.pose_angles(rotation)),
            "standard light": "true" if rules.is_standard_light(light) else "false",
        }
