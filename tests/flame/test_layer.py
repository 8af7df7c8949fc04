"""FLAME layer and LBS: known answers, invariants, gradients, batching."""

from __future__ import annotations

import math

import pytest
import torch

from trans3dhead.flame import MESH_OFFSET_Z, FlameLayer, ParamLayout
from trans3dhead.flame.lbs import rigid_transforms, skin

IDENTITY_6D = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


def zero_params(layer: FlameLayer, batch: int = 1) -> torch.Tensor:
    params = torch.zeros(batch, layer.num_params)
    params[:, layer.layout.slices["rotation"]] = IDENTITY_6D
    return params


def test_layout_sizes():
    assert ParamLayout(300, 100).total == 413
    assert ParamLayout(40, 10, jaw=False).total == 60
    assert ParamLayout(100, 50, jaw=False).total == 160
    s = ParamLayout(300, 100).slices
    assert (s["jaw"], s["rotation"], s["translation"], s["scale"]) == (
        slice(400, 403),
        slice(403, 409),
        slice(409, 412),
        slice(412, 413),
    )


def test_layout_rejects_wrong_width(tiny_assets):
    layer = FlameLayer(assets=tiny_assets)
    with pytest.raises(ValueError, match=r"shape \(B, 23\)"):
        layer(torch.zeros(2, 22))


def test_layout_larger_than_model_is_refused(tiny_assets):
    with pytest.raises(ValueError, match="more components"):
        FlameLayer(assets=tiny_assets, layout=ParamLayout(7, 4))


def test_zero_params_give_template(tiny_assets):
    layer = FlameLayer(assets=tiny_assets)
    out = layer(zero_params(layer))
    template = torch.as_tensor(tiny_assets.model.v_template)
    expected = template + torch.tensor([0.0, 0.0, MESH_OFFSET_Z])
    torch.testing.assert_close(out.vertices[0], expected)
    torch.testing.assert_close(out.posed_vertices[0], expected)  # identity rotation
    torch.testing.assert_close(out.rotation[0], torch.eye(3))
    # scale 0 -> factor 1, translation 0: pixel = (v + 1) / 2 * 256
    torch.testing.assert_close(out.projected[0], (expected[:, :2] + 1) / 2 * 256)


def test_landmarks_are_barycentric(tiny_assets):
    layer = FlameLayer(assets=tiny_assets)
    out = layer(zero_params(layer))
    aux, model = tiny_assets.aux, tiny_assets.model
    n = 20  # a static landmark (17 contour + 51 static)
    corners = torch.as_tensor(model.faces[aux.landmark_faces[n]])
    bary = torch.as_tensor(aux.landmark_bary[n])
    expected = (out.posed_vertices[0, corners] * bary[:, None]).sum(0)
    torch.testing.assert_close(out.landmarks_3d[0, n], expected)
    assert out.landmarks_3d.shape == (1, 68, 3) and out.landmarks_2d.shape == (1, 68, 2)


def test_jaw_moves_only_jaw_vertices(tiny_assets):
    layer = FlameLayer(assets=tiny_assets)
    params = zero_params(layer)
    rest = layer(params).vertices
    params[:, layer.layout.slices["jaw"]] = torch.tensor([0.3, 0.0, 0.0])
    moved = layer(params).vertices
    delta = (moved - rest).norm(dim=-1)[0]
    assert delta[:10].min() > 1e-4  # vertices fully weighted to the jaw
    assert delta[10:].max() == 0.0


def test_single_joint_rotation_known_answer():
    """A vertex fully weighted to a joint rotates rigidly about that joint."""
    joints = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    parents = torch.tensor([-1, 0])
    angle = math.pi / 2
    rot_x = torch.tensor(
        [[1.0, 0, 0], [0, math.cos(angle), -math.sin(angle)], [0, math.sin(angle), math.cos(angle)]]
    )
    rotations = torch.stack([torch.eye(3), rot_x])[None]
    posed_joints, transforms = rigid_transforms(rotations, joints, parents)
    vertex = torch.tensor([[[0.0, 1.0, 1.0]]])
    out = skin(vertex, transforms, torch.tensor([[0.0, 1.0]]))
    # offset from the joint (0, 0, 1) rotated by +90 deg about x is (0, -1, 0); plus the joint (0, 1, 0)
    torch.testing.assert_close(out, torch.tensor([[[0.0, 0.0, 0.0]]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(posed_joints, joints)


def test_rotation_and_projection(tiny_assets):
    layer = FlameLayer(assets=tiny_assets)
    params = zero_params(layer)
    # 6D of diag(1, -1, -1) in the column convention: first two columns (1,0,0), (0,-1,0)
    params[:, layer.layout.slices["rotation"]] = torch.tensor([1.0, 0.0, 0.0, 0.0, -1.0, 0.0])
    params[:, layer.layout.slices["scale"]] = 1.0  # factor 2
    params[:, layer.layout.slices["translation"]] = torch.tensor([0.1, -0.2, 5.0])  # t_z is ignored
    out = layer(params)
    v = out.vertices[0]
    posed = v * torch.tensor([1.0, -1.0, -1.0])
    torch.testing.assert_close(out.posed_vertices[0], posed)
    expected = (posed[:, :2] * 2 + torch.tensor([0.1, -0.2]) + 1) / 2 * 256
    torch.testing.assert_close(out.projected[0], expected)


def test_batched_equals_one_by_one(tiny_assets):
    layer = FlameLayer(assets=tiny_assets)
    params = zero_params(layer, 4) + 0.1 * torch.randn(
        4, layer.num_params, generator=torch.Generator().manual_seed(0)
    )
    batched = layer(params)
    for i in range(4):
        single = layer(params[i : i + 1])
        torch.testing.assert_close(batched.projected[i], single.projected[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batched.vertices[i], single.vertices[0], atol=1e-6, rtol=1e-5)


def test_gradients_reach_every_parameter(tiny_assets):
    layer = FlameLayer(assets=tiny_assets)
    params = (zero_params(layer) + 0.05 * torch.randn(1, layer.num_params)).requires_grad_(True)
    out = layer(params)
    weights = torch.randn_like(out.projected)
    loss = (out.projected * weights).sum() + out.vertices.pow(2).sum() + out.landmarks_3d[..., 2].sum()
    loss.backward()
    grad = params.grad[0]
    tz = layer.layout.slices["translation"].start + 2
    others = torch.cat([grad[:tz], grad[tz + 1 :]])
    assert torch.isfinite(grad).all()
    assert (others.abs() > 0).all(), "every parameter but t_z must receive a gradient"
    assert grad[tz] == 0, "t_z is forced to 0 by the orthographic projection"


def test_forward_does_not_modify_inputs(tiny_assets):
    layer = FlameLayer(assets=tiny_assets)
    params = zero_params(layer) + 0.1
    before = params.clone()
    layer(params)
    torch.testing.assert_close(params, before, rtol=0, atol=0)


def test_smaller_layout_pads_with_zeros(tiny_assets):
    full = FlameLayer(assets=tiny_assets)
    small = FlameLayer(assets=tiny_assets, layout=ParamLayout(2, 1, jaw=False))
    p_small = zero_params(small)
    p_small[:, :3] = torch.tensor([0.5, -0.3, 0.7])
    p_full = zero_params(full)
    p_full[:, 0:2] = torch.tensor([0.5, -0.3])
    p_full[:, 6] = 0.7  # first expression component (6 shape components in the tiny model)
    torch.testing.assert_close(small(p_small).vertices, full(p_full).vertices)


def test_subsets_and_unknown_subset(tiny_assets):
    layer = FlameLayer(assets=tiny_assets)
    assert layer.subset("face").tolist() == list(range(5, 25))
    assert layer.subset("dense_445").tolist() == [1, 2]  # 'cheeks' is dropped as in the reference
    assert layer.subset("dense_191").tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(KeyError, match="unknown vertex subset 'nose'"):
        layer.subset("nose")
