"""The FLAME layer's jaw-only skinning (``leaf_joint_lbs``) gives the full ``lbs`` vertices."""

from __future__ import annotations

import numpy as np
import torch

from trans3dhead.flame import FlameLayer, embedded_assets
from trans3dhead.flame.layer import JAW_JOINT
from trans3dhead.flame.lbs import lbs


def _full_lbs(layer: FlameLayer, betas: torch.Tensor, jaw: torch.Tensor) -> torch.Tensor:
    pose = torch.zeros(betas.shape[0], layer.num_joints * 3, dtype=betas.dtype)
    pose[:, JAW_JOINT * 3 : JAW_JOINT * 3 + 3] = jaw
    return lbs(
        betas=betas,
        pose=pose,
        v_template=layer.v_template,
        shapedirs=layer.shapedirs,
        posedirs=layer.posedirs,
        j_regressor=layer.j_regressor,
        parents=layer.parent_indices,
        weights=layer.lbs_weights,
    ).vertices


def _check(layer: FlameLayer, seed: int) -> None:
    assert layer._leaf_jaw
    g = torch.Generator().manual_seed(seed)
    s, e = layer.layout.num_shape, layer.layout.num_expression
    shape, expression = torch.randn(4, s, generator=g), torch.randn(4, e, generator=g)
    jaw = torch.randn(4, 3, generator=g) * 0.3
    jaw[0] = 0.0
    fast = layer.shaped_vertices(shape=shape, expression=expression, jaw=jaw)
    full = _full_lbs(layer, torch.cat([shape, expression], 1), jaw)
    torch.testing.assert_close(fast, full, atol=1e-6, rtol=1e-5)
    moved = (fast[1:] - layer.shaped_vertices(shape=shape, expression=expression)[1:]).norm(dim=-1)
    assert moved.max() > 1e-4  # the jaw moves vertices: the comparison is not trivially of zeros
    no_jaw = layer.shaped_vertices(shape=shape, expression=expression, jaw=None)
    torch.testing.assert_close(no_jaw, _full_lbs(layer, torch.cat([shape, expression], 1), jaw * 0))


def test_jaw_only_skinning_matches_full_lbs_on_the_tiny_model(tiny_assets):
    _check(FlameLayer(assets=tiny_assets), seed=0)


def test_jaw_only_skinning_matches_full_lbs_on_the_embedded_model():
    _check(FlameLayer(assets=embedded_assets(num_vertices_target=1500, num_shape=20, num_expression=10)), 1)


def test_a_jaw_with_children_takes_the_full_skinning(tiny_raw):
    from trans3dhead.flame import FlameAssets, FlameAux, FlameModelData

    model_raw, aux_raw = tiny_raw
    kintree = np.array([[4294967295, 0, 1, 2, 1], [0, 1, 2, 3, 4]], dtype=np.int64)  # joint 3 under the jaw
    model = FlameModelData.from_arrays(dict(model_raw, kintree_table=kintree), source="tiny")
    aux = FlameAux.from_raw(aux_raw, model=model, source="tiny")
    layer = FlameLayer(assets=FlameAssets(model=model, aux=aux))
    assert not layer._leaf_jaw  # joint 3's parent is the jaw: the shortcut would be wrong, so it is off
    shape, jaw = torch.randn(2, layer.layout.num_shape), torch.randn(2, 3) * 0.3
    expression = torch.randn(2, layer.layout.num_expression)
    full = _full_lbs(layer, torch.cat([shape, expression], 1), jaw)
    torch.testing.assert_close(layer.shaped_vertices(shape=shape, expression=expression, jaw=jaw), full)
