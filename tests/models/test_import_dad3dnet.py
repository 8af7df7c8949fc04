"""``trans3dhead import dad3dnet``: the released DAD-3DNet's TorchScript file -> a trans3dhead checkpoint.

Without the real file: a stand-in with the reference's names, shapes and arithmetic
(:mod:`dad3dnet_reference`, random weights) is traced to a ``.trcd``, imported, and the imported model
must give the stand-in's outputs; predict on the whole image must reproduce the reference predictor's
pre- and post-processing; bad files give one clear error and write nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from dad3dnet_reference import (
    OUTPUT_2D_LANDMARKS,
    OUTPUT_3DMM_PARAMS,
    OUTPUT_LANDMARKS_HEATMAP,
    ReferenceDAD3DNet,
    randomize,
)
from dataset_files import write_split
from tiny_flame import make_tiny_flame
from torch import nn

from trans3dhead.cli import main
from trans3dhead.flame import FlameAssets, FlameAux, FlameModelData
from trans3dhead.flame.files import write_aux_dir, write_model_npz
from trans3dhead.geometry import CropTransform
from trans3dhead.inference import HeadAligner
from trans3dhead.inference.assemble import heatmap_argmax
from trans3dhead.models.build import build_model, model_from_checkpoint
from trans3dhead.models.dad3dnet_import import (
    MAPPING,
    ReferenceImportError,
    import_dad3dnet,
    imported_config,
    project_name,
)
from trans3dhead.models.normalize import IMAGENET_MEAN, IMAGENET_STD, ImageNormalizer

SIZE = 256


class Setup:
    """The stand-in, its TorchScript file, tiny FLAME files (413 parameters) and the imported checkpoint."""

    def __init__(self, root: Path) -> None:
        torch.manual_seed(0)
        self.reference = randomize(ReferenceDAD3DNet())
        example = torch.randn(1, 3, 128, 128)
        self.traced = torch.jit.trace(self.reference, example, strict=False)
        self.trcd = root / "dad_3dheads.trcd"
        self.traced.save(str(self.trcd))
        model_raw, aux_raw = make_tiny_flame(num_shape=300, num_expression=100)
        self.flame = write_model_npz(model_raw, root / "flame" / "model.npz")
        self.aux = write_aux_dir(aux_raw, root / "flame" / "aux")
        model = FlameModelData.from_arrays(model_raw, source="tiny")
        self.assets = FlameAssets(model=model, aux=FlameAux.from_raw(aux_raw, model=model, source="tiny"))
        self.checkpoint = root / "dad3dnet.pt"
        self.root = root


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Setup:
    return Setup(tmp_path_factory.mktemp("import"))


@pytest.fixture(scope="module")
def imported(setup: Setup) -> Path:
    argv = ["import", "dad3dnet", str(setup.trcd), "--out", str(setup.checkpoint)]
    assert main([*argv, "--flame", str(setup.flame), "--aux", str(setup.aux)]) == 0
    return setup.checkpoint


def test_imported_model_gives_the_reference_outputs(setup, imported, capsys):
    """The round trip: same input, same heatmaps, 413 parameters and 68 landmarks to 1e-5."""
    model, config, _ = model_from_checkpoint(imported)
    m = config.model
    assert (m.arch, m.backbone, m.bifpn_fusion, m.crop, m.landmarks) == (
        "dad3dnet",
        "resnet50_v1",
        "reference",
        "reference",
        "branch",
    )
    assert (config.flame.file, config.flame.aux) == (str(setup.flame), str(setup.aux))
    assert sum(p.numel() for p in model.parameters()) == 32_945_617
    images = torch.rand(2, 3, 128, 160)  # [0, 1] RGB; the reference takes them ImageNet-normalised
    with torch.no_grad():
        expected = setup.traced(ImageNormalizer()(images))
        out = model(images)
    assert out.params.shape == (2, 413) and out.landmarks.shape == (2, 68, 2)
    torch.testing.assert_close(out.params, expected[OUTPUT_3DMM_PARAMS], rtol=0, atol=1e-5)
    torch.testing.assert_close(out.landmarks, expected[OUTPUT_2D_LANDMARKS], rtol=0, atol=1e-5)
    torch.testing.assert_close(out.heatmaps, expected[OUTPUT_LANDMARKS_HEATMAP], rtol=0, atol=1e-5)
    # the reference's BiFPN epsilon placement matters: the project's default fusion differs
    stable = imported_config(flame=setup.flame, aux=setup.aux)
    stable.model.bifpn_fusion = "stable"
    other = build_model(stable, setup.assets).eval()
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert (other(images).params - out.params).abs().max() > 1e-4


def test_import_reports_and_checkpoint_records_the_source(setup, imported, capsys):
    data = torch.load(imported, weights_only=True)
    assert data["imported"]["tensors"] == 465 and data["imported"]["prefix"] == ""
    assert len(data["imported"]["sha256"]) == 64
    model_keys = set(data["model"])
    assert {"normalize.mean", "normalize.std", "backbone.layer2.0.conv1.weight"} <= model_keys
    # the v1 layout: the stride-2 bottleneck reduces in its 1x1, so conv1 sees 256 channels at stride 2
    assert data["model"]["backbone.layer2.0.conv1.weight"].shape == (128, 256, 1, 1)


def test_every_reference_name_has_one_project_name():
    """Each mapping row on an example, and names outside the reference are not mapped."""
    examples = {
        "encoder.model.init_block.conv.conv.weight": "backbone.conv1.weight",
        "encoder.model.init_block.conv.bn.running_var": "backbone.bn1.running_var",
        "encoder.model.stage3.unit6.body.conv2.bn.weight": "backbone.layer3.5.bn2.weight",
        "encoder.model.stage2.unit1.identity_conv.conv.weight": "backbone.layer2.0.downsample.0.weight",
        "encoder.model.stage4.unit1.identity_conv.bn.bias": "backbone.layer4.0.downsample.1.bias",
        "bifpn.p3.weight": "bifpn.lateral.0.weight",
        "bifpn.p5.bias": "bifpn.lateral.2.bias",
        "bifpn.p6.weight": "bifpn.p6.weight",
        "bifpn.p7.conv.bias": "bifpn.p7.0.bias",
        "bifpn.p7.bn.running_mean": "bifpn.p7.1.running_mean",
        "bifpn.bifpn.0.p6_td.depthwise.weight": "bifpn.blocks.0.top_down.0.depthwise.weight",
        "bifpn.bifpn.1.p3_td.bn.weight": "bifpn.blocks.1.top_down.3.bn.weight",
        "bifpn.bifpn.1.p4_out.pointwise.weight": "bifpn.blocks.1.bottom_up.0.pointwise.weight",
        "bifpn.bifpn.0.p7_out.bn.num_batches_tracked": "bifpn.blocks.0.bottom_up.3.bn.num_batches_tracked",
        "bifpn.bifpn.0.w1": "bifpn.blocks.0.top_down_weights",
        "bifpn.bifpn.1.w2": "bifpn.blocks.1.bottom_up_weights",
        "head.heatmap.weight": "heatmap.weight",
        "fusion_layer.conv1x1.bias": "fusion.conv.bias",
        "shape.logit_image.0.weight": "shape_head.mlp.0.weight",
        "pose.logit_image.3.bias": "pose_head.mlp.3.bias",
        "landmarks.logit_image.3.weight": "landmark_head.mlp.3.weight",
    }
    for reference, project in examples.items():
        assert project_name(reference) == project, reference
    for foreign in ("encoder.model.final_pool.weight", "bifpn.p8.weight", "shape.logit_image.1.weight", "w1"):
        assert project_name(foreign) is None, foreign
    assert len(MAPPING) == 12


def _reference_predictor(traced, image: np.ndarray) -> dict[str, np.ndarray]:
    """The reference predictor's pipeline on one RGB uint8 image, written out step by step: longest side
    resized to 256 (OpenCV bilinear, sides rounded half to even), zero padding floor((256 - side) / 2) on
    the top/left, ImageNet normalisation of the 0..255 values; landmarks x 256, clipped to [0, 256],
    un-padded and divided by the scale (here without its final int truncation); scale and translation
    re-adjusted to the image."""
    height, width = image.shape[:2]
    scale = SIZE / max(height, width)
    new_h, new_w = round(height * scale), round(width * scale)
    pad_top, pad_left = int((SIZE - new_h) / 2), int((SIZE - new_w) / 2)
    canvas = np.zeros((SIZE, SIZE, 3), np.uint8)
    canvas[pad_top : pad_top + new_h, pad_left : pad_left + new_w] = cv2.resize(image, (new_w, new_h))
    mean, std = np.array(IMAGENET_MEAN) * 255.0, np.array(IMAGENET_STD) * 255.0
    normalised = ((canvas.astype(np.float32) - mean) / std).astype(np.float32)
    with torch.no_grad():
        out = traced(torch.from_numpy(normalised.transpose(2, 0, 1)[None].copy()))
    landmarks = (out[OUTPUT_2D_LANDMARKS][0].double().numpy() * SIZE).clip(0, SIZE)
    params = out[OUTPUT_3DMM_PARAMS][0].double().numpy()
    heatmap = out[OUTPUT_LANDMARKS_HEATMAP].sigmoid()[0]  # (N, 64, 64)
    flat = heatmap.reshape(heatmap.shape[0], -1).argmax(-1)
    cells = np.stack([flat % heatmap.shape[-1], flat // heatmap.shape[-1]], -1) * 4.0  # (x, y) crop px
    unpad = np.array([pad_left, pad_top], np.float64)
    translation, scale_param = params[409:412], params[412]
    return {
        "landmarks": (landmarks - unpad) / scale,
        "heatmap_landmarks": (cells - unpad) / scale,
        "params": params,
        "scale": (scale_param + 1.0) / scale - 1.0,
        "translation": (translation + 1.0 - np.array([pad_left, pad_top, 0]) * 2 / SIZE) / scale - 1.0,
    }


@pytest.mark.parametrize("hw", [(300, 199), (170, 257)])
def test_full_image_prediction_reproduces_the_reference_predictor(setup, imported, hw):
    rng = np.random.default_rng(sum(hw))
    image = cv2.GaussianBlur(rng.integers(0, 256, (*hw, 3), dtype=np.uint8), (0, 0), 2.0)
    expected = _reference_predictor(setup.traced, image)
    aligner = HeadAligner.from_checkpoint(imported, "cpu")
    assert (aligner.landmark_source, aligner.crop_style) == ("branch", "reference")
    (head,) = aligner.predict(image, boxes=[[0, 0, hw[1], hw[0]]])
    np.testing.assert_allclose(head.crop_box, [0, 0, hw[1], hw[0]])
    np.testing.assert_allclose(head.params, expected["params"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(head.landmarks, expected["landmarks"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(head.branch_landmarks, expected["landmarks"], rtol=0, atol=1e-3)
    np.testing.assert_allclose(head.scale, expected["scale"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(head.translation, expected["translation"], rtol=0, atol=1e-5)
    aligner.landmark_source = "heatmap"
    (head,) = aligner.predict(image, boxes=[[0, 0, hw[1], hw[0]]])
    np.testing.assert_allclose(head.landmarks, expected["heatmap_landmarks"], rtol=0, atol=1e-9)


def test_reference_crop_resizes_and_pads_like_the_reference():
    rng = np.random.default_rng(0)
    for height, width in [(300, 199), (199, 300), (100, 101), (512, 512), (37, 256), (1000, 3)]:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        crop = CropTransform.full_image((height, width), SIZE, style="reference")
        k = SIZE / max(height, width)
        new_w, new_h = round(width * k), round(height * k)
        assert crop.resized_wh == (new_w, new_h) and crop.k == k
        pad_left, pad_top = (SIZE - new_w) // 2, (SIZE - new_h) // 2
        assert crop.pad == (pad_left, pad_top)
        expected = np.zeros((SIZE, SIZE, 3), np.uint8)
        expected[pad_top : pad_top + new_h, pad_left : pad_left + new_w] = cv2.resize(image, (new_w, new_h))
        np.testing.assert_array_equal(crop.warp_image(image), expected)
        points = rng.uniform(0, SIZE, (5, 2))
        np.testing.assert_allclose(crop.points_to_image(points), (points - [pad_left, pad_top]) / k)
    # a fractional box is rounded out to whole pixels; the centred style keeps it and pads fractionally
    crop = CropTransform(box=(10.4, 20.6, 110.2, 70.0), image_hw=(100, 120), style="reference")
    assert crop.box == (10.0, 20.0, 111.0, 70.0)
    centred = CropTransform(box=(0.0, 0.0, 120.0, 99.0), image_hw=(100, 120))
    assert centred.pad[1] == pytest.approx(0.5 * (SIZE - SIZE / 120 * 99)) and not centred.pad[1].is_integer()
    with pytest.raises(ValueError, match="style must be one of"):
        CropTransform(box=(0, 0, 10, 10), image_hw=(10, 10), style="square")


def test_heatmap_argmax_decodes_column_row_times_stride():
    heatmaps = torch.zeros(1, 2, 4, 6)
    heatmaps[0, 0, 3, 1] = 5.0  # row 3, column 1
    heatmaps[0, 1, 0, 5] = 2.0
    np.testing.assert_array_equal(heatmap_argmax(heatmaps).numpy(), [[[4.0, 12.0], [20.0, 0.0]]])


def test_predict_and_eval_use_the_imported_checkpoint(setup, imported, tmp_path, capsys):
    image = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 256, (180, 140, 3), np.uint8), (0, 0), 2)
    cv2.imwrite(str(tmp_path / "head.png"), image)
    out = tmp_path / "pred"
    argv = ["predict", "--checkpoint", str(imported), str(tmp_path / "head.png"), "--out", str(out)]
    assert main([*argv, "--full-image"]) == 0
    document = json.loads((out / "head.json").read_text())
    assert document["landmark_source"] == "branch" and len(document["heads"]) == 1
    assert (out / "head.png").is_file()
    # eval: the reference crop and the landmark head by default
    data = tmp_path / "data"
    write_split(data, "val", setup.assets, items=2)
    eval_out = tmp_path / "eval"
    argv = ["eval", "--checkpoint", str(imported), "--data", str(data), "--split", "val"]
    assert main([*argv, "--out", str(eval_out)]) == 0
    metrics = json.loads((eval_out / "metrics.json").read_text())
    assert metrics["sources"]["landmarks"] == "branch"
    from trans3dhead.data.dad3dheads import DAD3DHeadsDataset

    dataset = DAD3DHeadsDataset(root=data, split="val", assets=setup.assets, crop_style="reference")
    assert dataset[0].crop.style == "reference" and dataset[0].crop.pad[0].is_integer()
    pytest.importorskip("onnx")
    argv = ["export", "--checkpoint", str(imported), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]
    assert main(argv) == 0  # checked against PyTorch when onnxruntime is installed


def _torchscript_holding(tensors: dict[str, torch.Tensor]) -> torch.jit.ScriptModule:
    """A TorchScript module whose state dict is exactly ``tensors`` (dotted names become submodules)."""

    class Holder(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    root = Holder()
    for name, tensor in tensors.items():
        *path, leaf = name.split(".")
        module = root
        for part in path:
            if not hasattr(module, part):
                module.add_module(part, nn.Module())
            module = getattr(module, part)
        module.register_buffer(leaf, tensor.clone())
    return torch.jit.script(root)


def _error(source: Path, out: Path) -> str:
    with pytest.raises(ReferenceImportError) as info:
        import_dad3dnet(source, out)
    assert not out.exists(), "nothing is written on error"
    assert str(source) in str(info.value)
    return str(info.value)


def test_missing_left_over_and_misshapen_tensors_are_all_listed(setup, tmp_path):
    state = dict(setup.reference.state_dict())
    del state["bifpn.bifpn.1.w2"]
    state["head.extra.weight"] = torch.zeros(3)
    state["pose.logit_image.3.weight"] = torch.zeros(12, 512)
    path = tmp_path / "broken.trcd"
    _torchscript_holding(state).save(str(path))
    message = _error(path, tmp_path / "out.pt")
    assert "1 tensor(s) missing (project names): bifpn.blocks.1.bottom_up_weights" in message
    assert "1 tensor(s) left over: head.extra.weight" in message
    assert (
        "pose.logit_image.3.weight (as pose_head.mlp.3.weight): (12, 512) in the file, (10, 512)" in message
    )


def test_a_wrapper_prefix_is_stripped(setup, tmp_path):
    state = {f"model.{k}": v for k, v in setup.reference.state_dict().items() if "num_batches" not in k}
    path = tmp_path / "wrapped.trcd"
    _torchscript_holding(state).save(str(path))
    summary = import_dad3dnet(path, tmp_path / "wrapped.pt")
    assert summary.prefix == "model." and summary.tensors == len(state)
    assert len(summary.defaulted) == sum("num_batches" in k for k in setup.reference.state_dict())
    model, _, _ = model_from_checkpoint(tmp_path / "wrapped.pt")
    torch.testing.assert_close(model.heatmap.weight, setup.reference.head.heatmap.weight)


def test_bad_files_give_one_clear_error_and_write_nothing(setup, tmp_path, capsys):
    out = tmp_path / "out.pt"
    text = tmp_path / "notes.trcd"
    text.write_text("not a model")
    assert "not a TorchScript file" in _error(text, out)
    saved = tmp_path / "state.trcd"
    torch.save({"weight": torch.zeros(2)}, saved)
    assert "without TorchScript code" in _error(saved, out)
    other = tmp_path / "linear.trcd"
    torch.jit.script(nn.Linear(3, 4)).save(str(other))
    assert "not the DAD-3DNet reference model: no 'encoder.model.init_block" in _error(other, out)
    truncated = tmp_path / "truncated.trcd"
    truncated.write_bytes(setup.trcd.read_bytes()[: 1 << 20])
    assert "truncated or damaged" in _error(truncated, out)
    argv = ["import", "dad3dnet", str(truncated), "--out", str(out)]
    assert main(argv) == 2 and not out.exists()
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("trans3dhead import: error:") and str(truncated) in err and len(err.splitlines()) == 1
    )
    assert main(["import", "dad3dnet", str(tmp_path / "absent.trcd"), "--out", str(out)]) == 2
    assert "absent.trcd: file not found" in capsys.readouterr().err


def test_config_keys_of_the_import_are_checked():
    from trans3dhead.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="bifpn_fusion applies to DAD-3DNet"):
        load_config(None, ["model.bifpn_fusion=reference"])
    with pytest.raises(ConfigError, match="model.crop must be one of"):
        load_config(None, ["model.crop=square"])
    with pytest.raises(ConfigError, match="model.landmarks=branch, but this model has no landmark branch"):
        load_config(None, ["model.multitask=false", "model.landmarks=branch"])
    flame = imported_config().flame
    assert (flame.num_shape, flame.num_expression, flame.jaw) == (300, 100, True)  # 403 + 10 parameters
