"""Every YAML file under configs/ trains: one optimiser step, validation, an interruption and a resume.

The configs are taken as they are (their switches, losses, schedules, metric selection and ImageNet
initialisation); only sizes shrink: input 64 px, transformer width 32, batch 2, one step per epoch, a tiny
FLAME-format model and dataset.  The ImageNet weights the paper configs ask for are stand-ins with the
published file names in a temporary torch hub / pytorchcv folder, so the offline lookup, pytorchcv's
renaming and the error for missing weights are exercised too.  A config added later is covered
automatically.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from dataset_files import write_split
from tiny_flame import make_tiny_flame
from train_helpers import TINY_SIZES

from trans3dhead.config import load_config
from trans3dhead.engine.checkpoint import load_checkpoint
from trans3dhead.engine.fit import fit
from trans3dhead.flame import FlameAssets, FlameAux, FlameModelData
from trans3dhead.flame.files import write_aux_dir, write_model_npz
from trans3dhead.models.backbone import PretrainedWeightsError
from trans3dhead.models.resnet import ResNet

CONFIGS = sorted((Path(__file__).parents[2] / "configs").rglob("*.yaml"))
SMALL = [
    *TINY_SIZES,
    "train.epochs=2",
    "train.max_steps_per_epoch=1",
    "train.checkpoint_every=1",
]


def _pytorchcv_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision ResNet names -> pytorchcv's (the inverse of the project's renaming)."""
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] in ("conv1", "bn1"):
            new = f"features.init_block.conv.{'conv' if parts[0] == 'conv1' else 'bn'}.{parts[1]}"
        elif parts[0].startswith("layer"):
            unit = f"features.stage{parts[0][5:]}.unit{int(parts[1]) + 1}"
            if parts[2] == "downsample":
                new = f"{unit}.identity_conv.{'conv' if parts[3] == '0' else 'bn'}.{parts[4]}"
            else:
                kind = "conv" if parts[2].startswith("conv") else "bn"
                new = f"{unit}.body.conv{parts[2][-1]}.{kind}.{parts[3]}"
        else:
            new = key
        out[new] = value
    return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny FLAME-format model with enough components for Table 8 (100 shape, 50 expression), a tiny
    dataset, and stand-in ImageNet files under the published names."""
    root = tmp_path_factory.mktemp("every_config")
    model_raw, aux_raw = make_tiny_flame(num_shape=100, num_expression=50)
    model = FlameModelData.from_arrays(model_raw, source="tiny")
    assets = FlameAssets(model=model, aux=FlameAux.from_raw(aux_raw, model=model, source="tiny"))
    data = root / "data"
    write_split(data, "train", assets, items=4)
    write_split(data, "val", assets, items=2)
    torch.manual_seed(0)
    hub = root / "torch_home" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(ResNet(depth=50, num_classes=1000).state_dict(), hub / "resnet50-0676ba61.pth")
    pytorchcv = root / "home" / ".torch" / "models"
    pytorchcv.mkdir(parents=True)
    v1 = ResNet(depth=50, num_classes=1000, stride_in_1x1=True).state_dict()
    torch.save(_pytorchcv_names(v1), pytorchcv / "resnet50-0633-b00d1c8e.pth")
    files = [
        f"flame.file={write_model_npz(model_raw, root / 'flame' / 'model.npz')}",
        f"flame.aux={write_aux_dir(aux_raw, root / 'flame' / 'aux')}",
        f"data.root={data}",
    ]
    return root, files


@pytest.fixture
def weights_home(world, monkeypatch):
    root, _ = world
    monkeypatch.setenv("TORCH_HOME", str(root / "torch_home"))
    monkeypatch.setenv("HOME", str(root / "home"))


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_trains_validates_and_resumes(path, world, weights_home, tmp_path):
    _, files = world
    config = load_config(path, [*files, *SMALL])
    run = tmp_path / "run"

    def stop_after_first_epoch(epoch, metrics):
        raise Interrupted

    with pytest.raises(Interrupted):
        fit(config, run, on_epoch=stop_after_first_epoch)
    first = load_checkpoint(run / "last.pt")
    assert (first["epoch"], first["step"]) == (0, 1)  # one optimiser step, validated, then interrupted

    result = fit(config, run, resume=True)
    assert (result.epochs_done, result.step) == (2, 2)
    assert result.best["metric"] == config.train.select_metric
    assert config.train.select_metric in result.last_metrics
    branch = config.model.arch == "dad3dnet" or config.model.multitask
    assert ("nme_branch" in result.last_metrics) == branch
    assert "nme_flame" in result.last_metrics
    saved = yaml.safe_load((run / "config.yaml").read_text())
    if config.model.pretrained == "imagenet":  # the run records which weights file it started from
        assert Path(saved["model"]["pretrained_file"]).is_file()
    assert (run / "best.pt").is_file()
    shutil.rmtree(run)  # ~1 GB of ResNet-50 checkpoints per config: free the disk at once


def test_paper_configs_refuse_to_start_without_imagenet_weights(world, tmp_path, monkeypatch):
    _, files = world
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_torch"))
    monkeypatch.setenv("HOME", str(tmp_path / "empty_home"))
    paper = Path(__file__).parents[2] / "configs" / "trans3dhead_r50.yaml"
    with pytest.raises(PretrainedWeightsError, match=r"resnet50-0676ba61\.pth.*model\.pretrained=none"):
        fit(load_config(paper, [*files, *SMALL]), tmp_path / "run")
    assert not (tmp_path / "run" / "last.pt").exists()
    result = fit(load_config(paper, [*files, *SMALL, "model.pretrained=none"]), tmp_path / "random")
    assert result.step == 2
    saved = yaml.safe_load((tmp_path / "random" / "config.yaml").read_text())
    assert saved["model"]["pretrained_file"] is None


def test_imagenet_weights_are_loaded(world, weights_home):
    """The stand-in files are found by name and their tensors end up in the backbone (pytorchcv's renamed)."""
    from trans3dhead.models.backbone import build_backbone
    from trans3dhead.models.imagenet import find_imagenet_weights

    for name in ("resnet50", "resnet50_v1"):
        path = find_imagenet_weights(name)
        backbone = build_backbone(name, pretrained="imagenet")
        state = torch.load(path, weights_only=True)
        key = "layer3.2.conv2.weight"
        stored = key if name == "resnet50" else "features.stage3.unit3.body.conv2.conv.weight"
        torch.testing.assert_close(backbone.state_dict()[key], state[stored])
    with pytest.raises(PretrainedWeightsError, match="resnet50_v1"):
        build_backbone("resnet50", pretrained=find_imagenet_weights("resnet50_v1"))
