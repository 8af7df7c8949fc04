"""Trans3DHead: every ablation variant runs forward/backward, shapes, MARR, initial head, consistency."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trans3dhead.flame import FlameLayer, ParamLayout
from trans3dhead.geometry.rotation import matrix_to_euler
from trans3dhead.losses import TRANS3DHEAD_WEIGHTS, HeadCriterion
from trans3dhead.models.marr import LandmarkHead, mean_face_from_landmarks
from trans3dhead.models.positional import SinePositionEncoding, sine_position_encoding
from trans3dhead.models.trans3dhead import build_trans3dhead, initial_params, query_slots
from trans3dhead.types import HeadTargets

SIZE = 64  # crop size: a 2 x 2 memory at stride 32


class TinyBackbone(nn.Module):
    """Stand-in following the backbone contract: {32: (B, 8, H / 32, W / 32)} and ``channels``."""

    def __init__(self) -> None:
        super().__init__()
        self.channels = {32: 8}
        self.conv = nn.Conv2d(3, 8, kernel_size=32, stride=32)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, images):
        return {32: self.bn(self.conv(images)).relu()}


@pytest.fixture
def flame(tiny_assets):
    return FlameLayer(assets=tiny_assets, image_size=SIZE)


def build(flame, **kwargs):
    torch.manual_seed(0)
    sizes = {"d_model": 32, "nhead": 4, "dim_feedforward": 64}
    return build_trans3dhead(backbone=TinyBackbone(), flame=flame, **{**sizes, **kwargs})


def make_targets(flame, batch=2, seed=1):
    gen = torch.Generator().manual_seed(seed)
    params = initial_params(flame).repeat(batch, 1) + 0.1 * torch.randn(
        batch, flame.num_params, generator=gen
    )
    out = flame(params)
    landmarks = out.landmarks_2d / flame.image_size
    return HeadTargets(
        landmarks=landmarks,
        presence=((landmarks > 0) & (landmarks < 1)).all(-1),
        vertices=out.vertices,
        projected=out.projected,
        rotation=out.rotation,
        euler=matrix_to_euler(out.rotation),
    )


VARIANTS = [
    {},  # the final model: QAMem + MQinit on the landmark branch, fixed MARR, 0/2 layers
    {"qamem": "off", "mqinit": "off", "marr": "off"},  # Table 3 baseline
    {"qamem": "both"},  # Table 5 QAMem-2
    {"mqinit": "off"},
    {"mqinit": "both"},  # Table 6 MQinit-2
    {"marr": "learned_mean"},  # Table 4 +averinit
    {"marr": "learned_random"},  # Table 4 +randinit
    {"num_encoder_layers": 1, "num_decoder_layers": 3},  # Table 3 right
    {"num_decoder_layers": 1},
    {"multitask": False},  # Table 7 only-3DMM
    {"multitask": False, "qamem": "both", "mqinit": "both"},
    {"params_per_query": 4},  # grouped 3DMM queries (the lite configs)
    {"params_per_query": 4, "readout": "per_query", "qamem": "both", "mqinit": "both"},
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[str(v) or "final" for v in VARIANTS])
def test_variant_forward_backward(flame, variant):
    model = build(flame, **variant)
    images = torch.randn(2, 3, SIZE, SIZE)
    out = model(images)
    layers = variant.get("num_decoder_layers", 2) if variant.get("multitask", True) else 1
    assert out.params.shape == (2, flame.num_params)
    assert out.landmarks.shape == (2, 68, 2)
    assert out.landmark_layers.shape == (layers, 2, 68, 2)
    assert torch.equal(out.landmark_layers[-1], out.landmarks)
    assert out.flame.vertices.shape == (2, 40, 3) and out.heatmaps is None
    criterion = HeadCriterion(flame=flame, weights=TRANS3DHEAD_WEIGHTS, deep_supervision=True)
    loss = criterion(out, make_targets(flame))
    assert torch.isfinite(loss.total)
    loss.total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    branch = model.param_branch
    readout = branch.readout.weight if branch.readout_mode == "shared" else branch.readout_weight
    assert readout.grad.abs().sum() > 0
    assert model.backbone.conv.weight.grad.abs().sum() > 0


def test_switches_build_the_right_parts(flame):
    final = build(flame)
    assert final.landmark_branch.decoder.layers[0].qamem is not None
    assert final.param_branch.decoder.layers[0].qamem is None
    assert final.landmark_branch.query_init is not None and final.param_branch.query_init is None
    both = build(flame, qamem="both", mqinit="both")
    assert both.param_branch.decoder.layers[1].qamem.num_queries == flame.num_params
    off = build(flame, qamem="off", mqinit="off")
    assert off.landmark_branch.decoder.layers[0].qamem is None and off.landmark_branch.query_init is None
    assert len(build(flame, num_encoder_layers=2).encoder.layers) == 2
    assert build(flame, multitask=False).landmark_branch is None


def test_qamem_on_both_costs_k_over_n_times_more(flame):
    def count(model):
        return sum(p.numel() for n, p in model.named_parameters() if ".qamem." in n)

    landmarks, both = count(build(flame)), count(build(flame, qamem="both"))
    per_layer = 68 * (32 * 32 + 32)
    assert landmarks == 2 * per_layer
    assert both - landmarks == 2 * flame.num_params * (32 * 32 + 32)


@pytest.mark.parametrize(("layout", "k"), [(ParamLayout(6, 4), 23), (ParamLayout(4, 2, jaw=False), 16)])
def test_parameter_count_follows_the_layout(tiny_assets, layout, k):
    flame = FlameLayer(assets=tiny_assets, layout=layout, image_size=SIZE)
    model = build(flame)
    assert model.param_branch.query_pos.shape == (k, 32)
    assert model(torch.randn(1, 3, SIZE, SIZE)).params.shape == (1, k)


def test_initial_head_is_frontal_centred_and_fills_the_crop(flame):
    model = build(flame, initial_fill=0.75).eval()
    with torch.no_grad():
        model.param_branch.readout.weight.zero_()
        out = model(torch.randn(3, 3, SIZE, SIZE))
    frontal = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    torch.testing.assert_close(out.flame.rotation, frontal.expand(3, 3, 3))
    head = out.flame.projected[:, flame.subset("head")]  # (B, V_head, 2) pixels
    low, high = head.amin(dim=1), head.amax(dim=1)
    torch.testing.assert_close((high - low).amax(dim=1), torch.full((3,), 0.75 * SIZE))
    torch.testing.assert_close((low + high) / 2, torch.full((3, 2), SIZE / 2))
    # the default mean face is that head's projected landmarks
    torch.testing.assert_close(model.landmark_branch.head.mean_face, out.flame.landmarks_2d[0] / SIZE)


def test_marr_starts_at_the_mean_face_and_adds_residuals(flame):
    model = build(flame).eval()
    mean_face = torch.rand(68, 2)
    model.set_mean_face(mean_face)
    images = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        before = model(images).landmark_layers
        for head in model.landmark_branch.head.heads:
            head[-1].weight.zero_()
        at_mean = model(images).landmark_layers
    torch.testing.assert_close(at_mean, mean_face.expand(2, 2, 68, 2))
    # P_l = F_a + sum_{i <= l} res_i: shifting F_a shifts every layer by the same amount
    with torch.no_grad():
        model.landmark_branch.head.heads[0][-1].weight.normal_()
        a = model(images).landmark_layers
        model.set_mean_face(mean_face + 0.25)
        b = model(images).landmark_layers
    torch.testing.assert_close(b - a, torch.full_like(a, 0.25))
    assert not torch.allclose(before, at_mean)


def test_marr_layers_accumulate_per_layer_residuals():
    head = LandmarkHead(num_layers=3, channels=4, num_landmarks=2, mode="fixed", mean_face=torch.zeros(2, 2))
    hidden = torch.randn(3, 1, 2, 4)
    residuals = torch.stack([h(x) for h, x in zip(head.heads, hidden, strict=True)])
    torch.testing.assert_close(head(hidden), residuals.cumsum(0))
    direct = LandmarkHead(num_layers=3, channels=4, num_landmarks=2, mode="off")
    out = direct(hidden)
    assert out.min() > 0 and out.max() < 1


def test_marr_mean_face_storage_per_variant(flame):
    fixed = build(flame)
    assert "landmark_branch.head.mean_face" in fixed.state_dict()
    assert all("mean_face" not in n for n, _ in fixed.named_parameters())
    learned = build(flame, marr="learned_mean")
    learned.set_mean_face(torch.full((68, 2), 0.3))
    assert isinstance(learned.landmark_branch.head.mean_face, nn.Parameter)
    assert torch.all(learned.landmark_branch.head.mean_face == 0.3)
    with pytest.raises(ValueError, match="learned_random"):
        build(flame, marr="learned_random").set_mean_face(torch.zeros(68, 2))
    with pytest.raises(ValueError, match="multitask=False"):
        build(flame, multitask=False).set_mean_face(torch.zeros(68, 2))


def test_set_mean_face_rejects_bad_values(flame):
    model = build(flame)
    with pytest.raises(ValueError, match=r"shape \(68, 2\)"):
        model.set_mean_face(torch.zeros(67, 2))
    with pytest.raises(ValueError, match="finite"):
        model.set_mean_face(torch.full((68, 2), math.nan))


def test_only_3dmm_landmarks_are_the_flame_projection(flame):
    model = build(flame, multitask=False).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, SIZE, SIZE))
    torch.testing.assert_close(out.landmarks, out.flame.landmarks_2d / SIZE)
    assert out.landmark_layers.shape == (1, 2, 68, 2)


@pytest.mark.parametrize("variant", [{}, {"qamem": "both", "mqinit": "both", "num_encoder_layers": 1}])
def test_eval_batch_equals_one_by_one(flame, variant):
    model = build(flame, **variant).eval()
    images = torch.randn(3, 3, SIZE, SIZE)
    with torch.no_grad():
        batched = model(images)
        single = [model(images[i : i + 1]) for i in range(3)]
    torch.testing.assert_close(batched.params, torch.cat([s.params for s in single]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        batched.landmark_layers, torch.cat([s.landmark_layers for s in single], dim=1), rtol=1e-5, atol=1e-5
    )


def test_state_dict_round_trip_keeps_the_mean_face(flame):
    model = build(flame).eval()
    model.set_mean_face(torch.rand(68, 2))
    copy = build(flame).eval()
    copy.load_state_dict(model.state_dict())
    images = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(copy(images).landmarks, model(images).landmarks)


def test_mean_face_from_landmarks_masks_absent_points():
    landmarks = torch.tensor([[[0.2, 0.4], [0.5, 0.5]], [[0.4, 0.8], [9.0, 9.0]]])
    presence = torch.tensor([[True, True], [True, False]])
    torch.testing.assert_close(mean_face_from_landmarks(landmarks), torch.tensor([[0.3, 0.6], [4.75, 4.75]]))
    torch.testing.assert_close(
        mean_face_from_landmarks(landmarks, presence), torch.tensor([[0.3, 0.6], [0.5, 0.5]])
    )
    with pytest.raises(ValueError, match=r"landmarks \[1\] are present in no sample"):
        mean_face_from_landmarks(landmarks, torch.tensor([[True, False], [True, False]]))
    with pytest.raises(ValueError, match="presence must have shape"):
        mean_face_from_landmarks(landmarks, torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="landmarks must have shape"):
        mean_face_from_landmarks(torch.zeros(2, 2))


def test_sine_position_encoding_known_values():
    pos = sine_position_encoding(2, 3, 8)  # F = 4 features per axis: frequencies 1, 1, 100, 100
    assert pos.shape == (6, 8)
    eps = 1e-6
    for row in range(2):
        for col in range(3):
            y = (row + 1) / (2 + eps) * 2 * math.pi
            x = (col + 1) / (3 + eps) * 2 * math.pi
            expected = [math.sin(y), math.cos(y), math.sin(y / 100), math.cos(y / 100)]
            expected += [math.sin(x), math.cos(x), math.sin(x / 100), math.cos(x / 100)]
            torch.testing.assert_close(pos[row * 3 + col], torch.tensor(expected), rtol=1e-5, atol=1e-6)
    module = SinePositionEncoding(channels=8)
    torch.testing.assert_close(module(torch.zeros(5, 8, 2, 3)), pos)


def test_sine_position_encoding_rejects_bad_sizes():
    with pytest.raises(ValueError, match="channels must be a positive multiple of 4"):
        sine_position_encoding(2, 2, 6)
    with pytest.raises(ValueError, match="height and width"):
        sine_position_encoding(0, 2, 8)
    with pytest.raises(ValueError, match=r"features must have shape \(B, 8, H, W\)"):
        SinePositionEncoding(channels=8)(torch.zeros(1, 4, 2, 2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qamem": "decoder"}, "qamem must be one of"),
        ({"mqinit": "all"}, "mqinit must be one of"),
        ({"marr": "learnable"}, "marr must be one of"),
        ({"d_model": 30}, "d_model must be a positive multiple of 4"),
        ({"d_model": 36, "nhead": 8}, "and of nhead, got d_model=36, nhead=8"),
        ({"num_decoder_layers": 0}, "num_layers must be >= 1"),
        ({"num_encoder_layers": -1}, "num_layers must be >= 0"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"memory_stride": 16}, "memory_stride=16"),
        ({"initial_fill": 1.5}, "fill must be in"),
    ],
)
def test_constructor_rejects_bad_values(flame, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(flame, **kwargs)


def test_forward_rejects_wrong_image_size(flame):
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, 64, 64\)"):
        build(flame)(torch.randn(1, 3, 96, 96))


def test_per_query_readout_starts_at_the_initial_head_and_learns_per_parameter(flame):
    shared, per_query = build(flame).eval(), build(flame, readout="per_query").eval()
    assert per_query.param_branch.readout_weight.shape == (flame.num_params, 32)
    images = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        a, b = shared(images).params, per_query(images).params
    torch.testing.assert_close(b, per_query.param_branch.offset.expand(2, -1), atol=0.05, rtol=0)
    torch.testing.assert_close(a, b, atol=0.05, rtol=0)  # both start near the same initial prediction
    per_query(images).params[:, 0].sum().backward()
    grad = per_query.param_branch.readout_weight.grad
    assert grad[0].abs().sum() > 0 and grad[1:].abs().sum() == 0  # parameter 0's own weights only


def test_query_slots_cut_every_block_into_near_equal_chunks():
    assert query_slots((3, 2), 1) == (5, (0, 1, 2, 3, 4))  # the paper: one query per value
    # G = 2: block 3 -> chunks of 2 + 1 (queries 0, 1), block 2 -> one chunk (query 2); slot = q * G + j
    assert query_slots((3, 2), 2) == (3, (0, 1, 2, 4, 5))
    queries, slots = query_slots((300, 100, 3, 6, 3, 1), 25)  # FLAME's 413 values
    assert queries == 12 + 4 + 1 + 1 + 1 + 1 and len(set(slots)) == 413 and max(slots) < queries * 25
    with pytest.raises(ValueError, match="params_per_query must be a positive integer"):
        query_slots((3,), 0)


@pytest.mark.parametrize("readout", ["shared", "per_query"])
def test_grouped_queries_read_every_parameter_from_its_own_query(flame, readout):
    model = build(flame, params_per_query=4, readout=readout).eval()
    blocks = tuple(flame.layout.sizes.values())  # (6, 4, 3, 6, 3, 1)
    queries, slots = query_slots(blocks, 4)
    assert model.param_branch.query_pos.shape == (queries, 32) and queries == 2 + 1 + 1 + 2 + 1 + 1
    images = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        out = model(images)
    assert out.params.shape == (2, flame.num_params)
    torch.testing.assert_close(out.params, model.param_branch.offset.expand(2, -1), atol=0.05, rtol=0)
    # the rotation block (values 13..18) is read by two queries of 3, and by no other query
    rotation = flame.layout.slices["rotation"]
    assert sorted({slots[k] // 4 for k in range(rotation.start, rotation.stop)}) == [4, 5]
    model.train()
    model(images).params[:, rotation.start].sum().backward()
    pos_grad = model.param_branch.query_pos.grad
    if readout == "per_query":  # the readout weights of the value's own slot only
        grad = model.param_branch.readout_weight.grad
        assert grad[slots[rotation.start]].abs().sum() > 0
        assert grad.abs().sum() == grad[slots[rotation.start]].abs().sum()
    assert pos_grad is not None and torch.isfinite(pos_grad).all()


def test_one_value_per_query_keeps_the_paper_branch_and_its_state_dict(flame):
    paper, grouped = build(flame), build(flame, params_per_query=1)
    assert paper.param_branch.slots is None and grouped.param_branch.slots is None
    assert {k: v.shape for k, v in paper.state_dict().items()} == {
        k: v.shape for k, v in grouped.state_dict().items()
    }
    per_query = build(flame, readout="per_query")
    assert per_query.param_branch.readout_weight.shape == (flame.num_params, 32)


def test_the_shipped_checkpoint_loads_into_the_built_model():
    """build_trans3dhead makes the parts the constructor once made itself: the same state-dict keys, so
    a checkpoint written before (the shipped demo model) loads unchanged."""
    from trans3dhead.checkpoint import load_checkpoint
    from trans3dhead.demo import SHIPPED_MODEL
    from trans3dhead.models.build import model_from_checkpoint

    model, _, _ = model_from_checkpoint(SHIPPED_MODEL)
    assert list(model.state_dict()) == list(load_checkpoint(SHIPPED_MODEL)["model"])


def test_the_constructor_only_wires_given_parts(flame):
    built = build(flame, multitask=False)
    wired = type(built)(
        backbone=built.backbone,
        flame=flame,
        input_proj=built.input_proj,
        position=built.position,
        encoder=built.encoder,
        param_branch=built.param_branch,
        landmark_branch=None,
    )
    assert wired.param_branch is built.param_branch and not wired.has_landmark_branch
    assert list(wired.state_dict()) == list(built.state_dict())


def test_memory_stride_16_reads_the_finer_stage(flame):
    """model.memory_stride=16: the memory is the backbone's stride-16 map (a 4 x 4 memory at 64 px) and a
    MobileNetV2 built for it has no stride-32 stage."""
    from trans3dhead.models import build_backbone

    backbone = build_backbone("mobilenet_v2", strides=(16,))
    torch.manual_seed(0)
    model = build_trans3dhead(
        backbone=backbone, flame=flame, d_model=32, nhead=4, dim_feedforward=64, memory_stride=16
    )
    memory, pos = model.encode(torch.rand(2, 3, SIZE, SIZE))
    assert memory.shape == (2, (SIZE // 16) ** 2, 32) and pos.shape == ((SIZE // 16) ** 2, 32)
    assert backbone.built_strides == (4, 8, 16) and model.input_proj.in_channels == 96
    out = model(torch.rand(2, 3, SIZE, SIZE))
    out.params.sum().backward()
    assert all(p.grad is not None for p in model.backbone.parameters())  # every built weight is used
    with pytest.raises(ValueError, match="memory_stride=32"):
        build_trans3dhead(backbone=build_backbone("mobilenet_v2", strides=(16,)), flame=flame, d_model=32)
