"""A tiny hand-built FLAME-format model (raw dicts) that does not depend on the embedded generator.

Shared by the tests (``from tiny_flame import make_tiny_flame``) and by the ``tiny_raw`` / ``tiny_assets``
fixtures of conftest.py."""

from __future__ import annotations

import numpy as np

KINTREE = np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64)


def make_tiny_flame(seed: int = 0, num_vertices: int = 40, num_shape: int = 6, num_expression: int = 4):
    """A random but valid FLAME-format (model, aux) pair of raw dicts.

    Vertices 0..9 are fully weighted to the jaw joint (2); the rest to root/neck.  Pose correctives are zero
    outside the jaw vertices so that "a jaw rotation moves only jaw vertices" is exact here.
    """
    rng = np.random.default_rng(seed)
    v = rng.normal(scale=0.05, size=(num_vertices, 3))
    faces = np.stack(
        [np.arange(num_vertices - 2), np.arange(1, num_vertices - 1), np.arange(2, num_vertices)], 1
    )
    weights = np.zeros((num_vertices, 5))
    weights[:10, 2] = 1.0
    weights[10:20, 3:5] = 0.5
    mix = rng.uniform(size=num_vertices - 20)
    weights[20:, 0], weights[20:, 1] = mix, 1 - mix
    regressor = rng.uniform(size=(5, num_vertices))
    regressor /= regressor.sum(1, keepdims=True)
    posedirs = rng.normal(scale=1e-3, size=(num_vertices, 3, 36))
    posedirs[10:] = 0.0
    model = {
        "v_template": v,
        "f": faces,
        "shapedirs": rng.normal(scale=0.01, size=(num_vertices, 3, num_shape + num_expression)),
        "posedirs": posedirs,
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": KINTREE,
        "num_shape_params": np.array(num_shape),
    }
    nf = faces.shape[0]
    bary = rng.uniform(size=(51, 3))
    dbary = rng.uniform(size=(3, 17, 3))
    aux = {
        "static_embedding": {
            "lmk_face_idx": rng.integers(0, nf, 51),
            "lmk_b_coords": bary / bary.sum(1, keepdims=True),
        },
        "dynamic_embedding": {
            "lmk_face_idx": rng.integers(0, nf, (3, 17)),
            "lmk_b_coords": dbary / dbary.sum(2, keepdims=True),
        },
        "flame_indices": {
            "face": np.arange(5, 25),
            "face_w_ears": np.arange(0, 35),
            "head": np.arange(0, 30),
            "eyeballs": np.arange(35, 40),
        },
        "keypoints_191": {
            "nose": {"tip": np.array([1, 2, 3])},
            "lips": {"upper": np.array([3, 4]), "lower": [5]},
        },
        "keypoints_445": {"nose": {"all": np.array([1, 2])}, "cheeks": {"left": np.array([30, 31])}},
    }
    return model, aux
