"""Public entry point: generate the procedural FLAME-format head model and its DAD-3DHeads auxiliaries.

``generate_head_model`` returns two plain dicts shaped exactly like FLAME's ``generic_model.pkl`` and
the DAD-3DHeads auxiliary files (see :mod:`trans3dhead.flame.assets`), so the same loader, LBS layer,
renderer and benchmark code run on it.  The template geometry depends only on the resolution; the seed
drives the random parts of the bases and the albedo.

Pipeline: an implicit head (:mod:`.anatomy`) is ray-cast on a feature-aligned grid (:mod:`.context`,
:mod:`.layout`, :mod:`.eyelids`), the mouth is cut and closed by a pocket (:mod:`.pocket`), eyeballs are
added (:mod:`.mesh`); then the rig (:mod:`.rig`), the shape and expression bases, the landmark
embeddings (:mod:`.landmarks`, :mod:`.contour`), vertex subsets and dense keypoints (:mod:`.keypoints`)
and the albedo (:mod:`.albedo`) are derived from that template.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from threadpoolctl import threadpool_limits

from trans3dhead.errors import InputError
from trans3dhead.flame.embedded.albedo import REGION_NAMES, vertex_albedo, vertex_regions
from trans3dhead.flame.embedded.context import HeadContext
from trans3dhead.flame.embedded.contour import dynamic_contour
from trans3dhead.flame.embedded.expression_basis import expression_basis
from trans3dhead.flame.embedded.eyeball import build_eyeball
from trans3dhead.flame.embedded.keypoints import dense_keypoints, vertex_subsets
from trans3dhead.flame.embedded.landmarks import static_landmarks
from trans3dhead.flame.embedded.mesh import HeadMesh, build_head_mesh, eyeball_detail
from trans3dhead.flame.embedded.pocket import pocket_rings
from trans3dhead.flame.embedded.regions import Regions
from trans3dhead.flame.embedded.rig import KINTREE_TABLE, joint_regressor, pose_correctives, skinning_weights
from trans3dhead.flame.embedded.shape_basis import shape_basis
from trans3dhead.flame.embedded.surface_query import barycentric_points

__all__ = ["generate_head_model"]

logger = logging.getLogger(__name__)

_LIMITS = {"num_vertices_target": (1500, 50000), "num_shape": (1, 2000), "num_expression": (0, 2000)}


def _check_int(name: str, value: object, low: int, high: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise InputError(f"{name} must be in {bound}, got {value}")
    return int(value)


def _vertex_count(context: HeadContext, spacing: float) -> int:
    """Total vertices at a face spacing, without meshing: grid + mouth pocket + two eyeballs."""
    layout = context.layout(spacing)
    inner = int((np.abs(layout.columns) < context.mouth_corner - 1e-9).sum())
    pocket = inner + pocket_rings(spacing) * (2 * inner + 2)
    eye = build_eyeball(centre=np.zeros(3), radius=1.0, detail=eyeball_detail(spacing)).vertices.shape[0]
    return layout.num_grid_vertices + pocket + 2 * eye


def _solve_spacing(context: HeadContext, target: int) -> float:
    """Face spacing (metres) whose vertex count is closest to ``target`` (vertex count ~ spacing^-2)."""
    spacing, tried = 0.0055 * np.sqrt(4900.0 / target), {}
    for _ in range(5):
        count = _vertex_count(context, spacing)
        tried[spacing] = count
        spacing *= np.sqrt(count / target)
    return min(tried, key=lambda s: (abs(tried[s] - target), s))


def _model_dict(mesh: HeadMesh, regions: Regions, num_shape: int, num_expression: int, rngs) -> dict:
    shape = shape_basis(mesh, num_shape=num_shape, rng=rngs[0])
    expression = expression_basis(mesh, regions, num_expression=num_expression, rng=rngs[1])
    codes = vertex_regions(mesh, regions)
    weights = skinning_weights(mesh, regions)
    return {
        "v_template": mesh.vertices.astype(np.float64),
        "f": mesh.faces.astype(np.int64),
        "shapedirs": np.concatenate([shape, expression], axis=2),
        "posedirs": pose_correctives(mesh, regions, weights),
        "J_regressor": joint_regressor(mesh, regions),
        "weights": weights,
        "kintree_table": KINTREE_TABLE.copy(),
        "vertex_albedo": vertex_albedo(mesh, regions, codes, rngs[2]),
        "vertex_region": codes,
        "region_names": np.array(REGION_NAMES),
        "num_shape_params": np.array(num_shape, dtype=np.int64),
    }


def _aux_dict(mesh: HeadMesh, regions: Regions) -> dict:
    static_faces, static_bary = static_landmarks(mesh)
    dynamic_faces, dynamic_bary = dynamic_contour(mesh)
    frontal = barycentric_points(mesh.vertices, mesh.faces, dynamic_faces[0], dynamic_bary[0])
    t = np.linspace(0.0, 1.0, 11)[:-1, None, None]
    dense_contour = np.concatenate([(frontal[:-1] * (1 - t) + frontal[1:] * t).reshape(-1, 3), frontal[-1:]])
    return {
        "static_embedding": {"lmk_face_idx": static_faces, "lmk_b_coords": static_bary},
        "dynamic_embedding": {"lmk_face_idx": dynamic_faces, "lmk_b_coords": dynamic_bary},
        "flame_indices": vertex_subsets(regions),
        "keypoints_191": dense_keypoints(mesh, regions, dense_contour, 191),
        "keypoints_445": dense_keypoints(mesh, regions, dense_contour, 445),
        "flame_mesh_faces": mesh.faces.astype(np.int64),
    }


def generate_head_model(
    *, num_vertices_target: int = 5000, num_shape: int = 300, num_expression: int = 100, seed: int = 0
) -> tuple[dict, dict]:
    """Generate the embedded head model.

    Args:
        num_vertices_target: approximate total vertex count V (surface, mouth pocket and eyeballs).
        num_shape: identity components (the first columns of ``shapedirs``).
        num_expression: expression components (the last columns of ``shapedirs``).
        seed: seed of the random shape / expression components and of the albedo.

    Returns:
        ``(model, aux)``: ``model`` has FLAME's ``generic_model`` keys (``v_template`` (V, 3), ``f`` (F, 3),
        ``shapedirs`` (V, 3, num_shape + num_expression), ``posedirs`` (V, 3, 36), ``J_regressor`` (5, V),
        ``weights`` (V, 5), ``kintree_table`` (2, 5)) plus ``vertex_albedo`` (V, 3), ``vertex_region`` (V,),
        ``region_names`` and ``num_shape_params``; ``aux`` has the DAD-3DHeads ``static_embedding``,
        ``dynamic_embedding``, ``flame_indices``, ``keypoints_191``, ``keypoints_445`` and
        ``flame_mesh_faces``.
    """
    target = _check_int("num_vertices_target", num_vertices_target, *_LIMITS["num_vertices_target"])
    num_shape = _check_int("num_shape", num_shape, *_LIMITS["num_shape"])
    num_expression = _check_int("num_expression", num_expression, *_LIMITS["num_expression"])
    seed = _check_int("seed", seed, 0, None)
    # one BLAS thread: a multi-threaded BLAS sums in another order, and the model's bytes (and the content
    # hash that guards synthetic datasets) would depend on OMP_NUM_THREADS
    with threadpool_limits(limits=1, user_api="blas"):
        return _generate(target, num_shape, num_expression, seed)


def _generate(target: int, num_shape: int, num_expression: int, seed: int) -> tuple[dict, dict]:
    start = time.perf_counter()
    context = HeadContext()
    mesh = build_head_mesh(context, spacing=_solve_spacing(context, target))
    regions = Regions(mesh)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    model = _model_dict(mesh, regions, num_shape, num_expression, rngs)
    aux = _aux_dict(mesh, regions)
    logger.debug(
        "embedded head model: %d vertices, %d faces in %.2f s",
        mesh.vertices.shape[0],
        mesh.faces.shape[0],
        time.perf_counter() - start,
    )
    return model, aux
