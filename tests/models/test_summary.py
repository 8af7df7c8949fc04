"""``trans3dhead summary`` and models.build on tiny FLAME files."""

from __future__ import annotations

import json

import pytest
from tiny_flame import make_tiny_flame

from trans3dhead.cli import main
from trans3dhead.config import load_config
from trans3dhead.flame.files import write_aux_dir, write_model_npz
from trans3dhead.models.build import build_assets, build_model
from trans3dhead.models.summary import summarize


@pytest.fixture
def tiny_files(tmp_path):
    model, aux = make_tiny_flame()
    return [
        f"flame.file={write_model_npz(model, tmp_path / 'm.npz')}",
        f"flame.aux={write_aux_dir(aux, tmp_path / 'aux')}",
    ]


SMALL = [
    "model.backbone=resnet18",
    "model.input_size=64",
    "model.d_model=32",
    "model.nhead=4",
    "model.dim_feedforward=64",
]


@pytest.mark.parametrize("arch", ["trans3dhead", "dad3dnet"])
def test_build_and_summarize(tiny_files, arch):
    config = load_config(None, [*tiny_files, *SMALL, f"model.arch={arch}"])
    model = build_model(config, build_assets(config.flame))
    result = summarize(model, input_size=64, arch=arch)
    assert result.parameters == sum(p.numel() for p in model.parameters())
    names = [p.name for p in result.parts]
    assert "backbone" in names
    backbone = next(p for p in result.parts if p.name == "backbone")
    assert 0 < backbone.flops < result.flops
    assert result.parameters > 11_000_000  # resnet18 body alone has 11.2M
    if arch == "trans3dhead":
        assert {"param_branch", "landmark_branch"} <= set(names)
    else:
        assert {"bifpn", "shape_head", "pose_head", "landmark_head"} <= set(names)


def test_summary_cli_json(tiny_files, capsys):
    assert main(["summary", "--json", *tiny_files, *SMALL]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["arch"] == "trans3dhead" and data["input_size"] == 64 and data["gflops"] > 0
    assert sum(p["parameters"] for p in data["parts"]) == data["parameters"]


def test_summary_cli_bad_override(capsys):
    assert main(["summary", "model.arch=resnet"]) == 2
    assert "model.arch must be one of" in capsys.readouterr().err
