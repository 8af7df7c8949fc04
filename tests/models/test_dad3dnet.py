"""DAD-3DNet and its BiFPN: shapes, gradients, output squashing and order, batching, size, clear errors."""

from __future__ import annotations

import pytest
import torch
from tiny_flame import make_tiny_flame
from torch import nn

from trans3dhead.flame import FlameAssets, FlameAux, FlameLayer, FlameModelData, ParamLayout
from trans3dhead.models import BiFPN, DAD3DNet, ResNet, build_backbone
from trans3dhead.models.bifpn import BiFPNBlock
from trans3dhead.types import HeadOutput

SIZE = 64  # tiny input: heatmaps at SIZE / 4


@pytest.fixture
def flame(tiny_assets) -> FlameLayer:
    return FlameLayer(assets=tiny_assets, image_size=SIZE)


def tiny_net(flame: FlameLayer, backbone: str = "resnet18") -> DAD3DNet:
    torch.manual_seed(0)
    backbone = build_backbone(backbone, strides=(4, 8, 16, 32))
    return DAD3DNet(backbone=backbone, flame=flame, pyramid_channels=32)


@pytest.mark.parametrize("backbone", ["resnet18", "mobilenet_v2"])
def test_forward_backward_shapes_no_nan(flame, backbone):
    net = tiny_net(flame, backbone)
    out = net(torch.randn(2, 3, SIZE, SIZE))
    assert isinstance(out, HeadOutput)
    k = flame.layout.total
    assert out.params.shape == (2, k) and k == 6 + 4 + 3 + 10
    assert out.landmarks.shape == (2, 68, 2) and (out.landmarks >= 0).all()
    assert out.landmark_layers.shape == (1, 2, 68, 2)
    assert torch.equal(out.landmark_layers[-1], out.landmarks)
    assert out.heatmaps.shape == (2, 68, SIZE // 4, SIZE // 4)
    assert out.flame.vertices.shape == (2, 40, 3) and out.flame.landmarks_2d.shape == (2, 68, 2)
    for tensor in (out.params, out.landmarks, out.heatmaps, out.flame.projected):
        assert torch.isfinite(tensor).all()
    loss = (
        out.params.square().mean() + out.landmarks.mean() + out.heatmaps.mean() + out.flame.projected.mean()
    )
    loss.backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    assert all(g is None or torch.isfinite(g).all() for g in grads.values())
    parts = ("backbone", "bifpn.lateral", "heatmap", "fusion", "shape_head", "pose_head", "landmark_head")
    for name in parts:
        assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(name)), name


def test_heads_squash_and_concatenate_in_layout_order(flame):
    net = tiny_net(flame).eval()
    last = {name: getattr(net, name).mlp[-1] for name in ("shape_head", "pose_head", "landmark_head")}
    with torch.no_grad():
        for layer in last.values():
            layer.weight.zero_()
        last["shape_head"].bias.copy_(torch.linspace(-5, 5, 13))
        last["pose_head"].bias.copy_(torch.arange(10.0) - 4.5)
        last["landmark_head"].bias.copy_(torch.linspace(-1, 1, 136))
        out = net(torch.randn(3, 3, SIZE, SIZE))
    layout = flame.layout
    shape_part = out.params[:, : layout.slices["rotation"].start]
    torch.testing.assert_close(shape_part, (torch.tanh(torch.linspace(-5, 5, 13)) * 3).expand(3, -1))
    torch.testing.assert_close(
        out.params[:, layout.slices["rotation"]], (torch.arange(6.0) - 4.5).expand(3, -1)
    )
    torch.testing.assert_close(out.params[:, layout.slices["scale"]], torch.full((3, 1), 4.5))
    expected = torch.linspace(-1, 1, 136).clamp(min=0).view(68, 2)  # interleaved (x, y), ReLU
    torch.testing.assert_close(out.landmarks, expected.expand(3, -1, -1))


def test_eval_batch_equals_one_by_one(flame):
    net = tiny_net(flame).eval()
    images = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        batched = net(images)
        single = [net(images[i : i + 1]) for i in range(3)]
    for name in ("params", "landmarks", "heatmaps"):
        joined = torch.cat([getattr(s, name) for s in single])
        torch.testing.assert_close(getattr(batched, name), joined, atol=1e-5, rtol=1e-4)


def test_smaller_layout_sets_head_sizes(tiny_assets):
    flame = FlameLayer(assets=tiny_assets, layout=ParamLayout(4, 2, jaw=False), image_size=SIZE)
    net = tiny_net(flame)
    assert net.shape_head.mlp[-1].out_features == 6 and net.pose_head.mlp[-1].out_features == 10
    assert net(torch.randn(2, 3, SIZE, SIZE)).params.shape == (2, 16)


def test_parameter_count_at_resnet50_matches_reference():
    model_raw, aux_raw = make_tiny_flame(num_shape=300, num_expression=100)
    model = FlameModelData.from_arrays(model_raw, source="tiny-413")
    assets = FlameAssets(model=model, aux=FlameAux.from_raw(aux_raw, model=model, source="tiny-413"))
    flame = FlameLayer(assets=assets)
    assert flame.layout.total == 413
    net = DAD3DNet(backbone=build_backbone("resnet50", strides=(4, 8, 16, 32)), flame=flame)
    count = sum(p.numel() for p in net.parameters())
    assert abs(count / 32.95e6 - 1) < 0.01
    # 23,508,032 backbone + 4,470,568 BiFPN + 156,740 heatmap + 1,381,376 fusion + 3,428,901 heads
    assert count == 32_945_617
    assert net.shape_head.mlp[-1].out_features == 403 and net.pose_head.mlp[-1].out_features == 10
    assert net.fusion.conv.in_channels == 1024 + 68 + 256 and net.fusion.conv.out_channels == 1024


def test_bifpn_levels_and_strides():
    bifpn = BiFPN(in_channels=[8, 16, 24], channels=12, num_blocks=2).eval()
    inputs = [torch.randn(2, 8, 16, 16), torch.randn(2, 16, 8, 8), torch.randn(2, 24, 4, 4)]
    levels = bifpn(inputs)
    assert [tuple(x.shape) for x in levels] == [(2, 12, s, s) for s in (16, 8, 4, 2, 1)]
    assert all((x >= 0).all() for x in levels)  # every output node ends in a ReLU


def test_bifpn_fusion_weights_are_normalised_and_never_nan():
    block = BiFPNBlock(channels=4)
    weights = block._normalised(torch.tensor([[1.0, -2.0, 1.0], [3.0, -1.0, 1.0]]))
    expected = torch.tensor([[1 / (4 + 1e-4), 0.0, 1 / (2 + 1e-4)], [3 / (4 + 1e-4), 0.0, 1 / (2 + 1e-4)]])
    torch.testing.assert_close(weights, expected)


def test_bifpn_block_with_identity_nodes_is_the_weighted_sum():
    """With every node replaced by the identity and unit weights, the top-down P6 node is
    (P6 + up(P7)) / (2 + eps): checks the wiring, not just the shapes."""
    block = BiFPNBlock(channels=1)
    block.top_down = nn.ModuleList(nn.Identity() for _ in range(4))
    block.bottom_up = nn.ModuleList(nn.Identity() for _ in range(4))
    levels = [torch.full((1, 1, s, s), float(v)) for s, v in ((8, 1), (4, 2), (2, 3), (1, 4), (1, 5))]
    out = block(levels)
    half, third = 1 / (2 + 1e-4), 1 / (3 + 1e-4)
    p6_td = (4 + 5) * half
    p5_td = (3 + p6_td) * half
    p4_td = (2 + p5_td) * half
    p3_td = (1 + p4_td) * half
    p4_out = (2 + p4_td + p3_td) * third
    p7_out = (5 + 5 + ((4 + p6_td + ((3 + p5_td + p4_out) * third)) * third)) * third
    torch.testing.assert_close(out[0], torch.full((1, 1, 8, 8), p3_td))
    torch.testing.assert_close(out[1], torch.full((1, 1, 4, 4), p4_out))
    torch.testing.assert_close(out[4], torch.full((1, 1, 1, 1), p7_out))


class _FeatureOnly(ResNet):
    supports_stages = False


def test_errors(flame):
    with pytest.raises(ValueError, match="cannot"):
        DAD3DNet(backbone=_FeatureOnly(depth=18), flame=flame)
    backbone = ResNet(depth=18)
    backbone.stage_channels = {8: 128, 16: 256, 32: 512}
    with pytest.raises(ValueError, match=r"strides \(4, 8, 16, 32\), got \(8, 16, 32\)"):
        DAD3DNet(backbone=backbone, flame=flame)
    with pytest.raises(ValueError, match=r"got \(4, 8, 16\) \(build the backbone with strides"):
        DAD3DNet(backbone=build_backbone("mobilenet_v2", strides=(4, 8, 16)), flame=flame)
    with pytest.raises(ValueError, match="num_landmarks must be positive, got 0"):
        DAD3DNet(backbone=ResNet(depth=18), flame=flame, num_landmarks=0)
    with pytest.raises(ValueError, match=r"in_channels must give 3 levels"):
        BiFPN(in_channels=[8, 16])
    with pytest.raises(ValueError, match="num_blocks must be at least 1, got 0"):
        BiFPN(in_channels=[8, 16, 24], num_blocks=0)
    with pytest.raises(ValueError, match=r"needs 5 levels \(P3..P7\), got 3"):
        BiFPNBlock(channels=4)([torch.zeros(1, 4, 2, 2)] * 3)
    net = tiny_net(flame)
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, H, W\), got \(3, 64, 64\)"):
        net(torch.zeros(3, SIZE, SIZE))
