"""The models' forward never talks to the host (it traces whole under torch.compile) and every model
trains under mixed precision with FLAME, rotations, projections and losses in float32."""

from __future__ import annotations

import pytest
import torch
from tiny_flame import make_tiny_flame
from train_helpers import make_training_setup

from trans3dhead.config import load_config
from trans3dhead.engine.fit import fit
from trans3dhead.flame.files import write_aux_dir, write_model_npz
from trans3dhead.models.build import build_assets, build_criterion, build_model

ARCHS = ["trans3dhead", "dad3dnet"]


def _model(tmp_path, arch: str, *extra: str):
    model_raw, aux_raw = make_tiny_flame()
    config = load_config(
        None,
        [
            f"flame.file={write_model_npz(model_raw, tmp_path / 'm.npz')}",
            f"flame.aux={write_aux_dir(aux_raw, tmp_path / 'aux')}",
            f"model.arch={arch}",
            "model.backbone=resnet18",
            "model.input_size=64",
            "model.d_model=32",
            "model.nhead=4",
            "model.dim_feedforward=64",
            *extra,
        ],
    )
    torch.manual_seed(0)
    model = build_model(config, build_assets(config.flame))
    return model, build_criterion(config, model.flame)


@pytest.mark.parametrize("arch", ARCHS)
def test_forward_traces_as_one_graph(arch, tmp_path):
    """No host sync, no host-to-device copy, no Python-side data dependence: one graph, no break."""
    model, _ = _model(tmp_path, arch)
    model.eval()
    images = torch.rand(2, 3, 64, 64)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        expected, traced = model(images), compiled(images)
    torch.testing.assert_close(traced.params, expected.params)
    torch.testing.assert_close(traced.flame.projected, expected.flame.projected)
    torch._dynamo.reset()


@pytest.mark.parametrize("arch", ARCHS)
def test_bf16_autocast_forward_and_backward(arch, tmp_path):
    from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate

    config = load_config(None, [*make_training_setup(tmp_path), f"model.arch={arch}"])
    assets = build_assets(config.flame)
    model = build_model(config, assets)
    criterion = build_criterion(config, model.flame)
    dataset = DAD3DHeadsDataset(root=config.data.root, split="train", assets=assets, input_size=64)
    batch = collate([dataset[0], dataset[1]])
    seen = []
    model.backbone.conv1.register_forward_hook(lambda module, args, out: seen.append(out))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(batch.images)
        result = criterion(output, batch.targets)
    assert seen[0].dtype == torch.bfloat16  # the network itself ran in bf16
    assert output.flame.vertices.dtype == torch.float32 and output.flame.rotation.dtype == torch.float32
    assert result.total.dtype == torch.float32 and torch.isfinite(result.total)
    result.total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_training_with_bf16_and_the_fp16_guard(tmp_path):
    overrides = make_training_setup(tmp_path)
    result = fit(load_config(None, [*overrides, "train.epochs=1", "train.amp=bf16"]), tmp_path / "bf16")
    assert result.step == 3
    with pytest.raises(ValueError, match="train.amp=fp16 needs a CUDA device"):
        fit(load_config(None, [*overrides, "train.epochs=1", "train.amp=fp16"]), tmp_path / "fp16")
    assert load_config(None, ["train.amp=true"]).train.amp == "fp16"  # the earlier boolean key
    assert load_config(None, ["train.amp=false"]).train.amp == "off"
