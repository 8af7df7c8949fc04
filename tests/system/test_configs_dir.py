"""Every YAML file in configs/ is a valid config; the CPU ones build."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_flame import make_tiny_flame

from trans3dhead.config import load_config
from trans3dhead.flame.files import write_aux_dir, write_model_npz
from trans3dhead.models.build import build_assets, build_model

CONFIGS = sorted((Path(__file__).parents[2] / "configs").rglob("*.yaml"))


def test_configs_exist():
    names = {p.stem for p in CONFIGS}
    assert {"trans3dhead_r50", "dad3dnet_r50", "table3_baseline", "table8_trans3dhead_60"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_loads(path):
    config = load_config(path)
    assert config.model.arch in ("trans3dhead", "dad3dnet")


def test_ablation_switches_differ_from_the_final_model():
    final = load_config(Path(__file__).parents[2] / "configs" / "trans3dhead_r50.yaml")
    base = load_config(next(p for p in CONFIGS if p.stem == "table3_baseline"))
    assert (final.model.qamem, final.model.marr, final.loss.weights["euler"]) == ("landmarks", "fixed", 0.05)
    assert (base.model.qamem, base.model.marr, base.loss.weights["euler"]) == ("off", "off", 0.0)
    sixty = load_config(next(p for p in CONFIGS if p.stem == "table8_trans3dhead_60"))
    assert (sixty.flame.num_shape, sixty.flame.num_expression, sixty.flame.jaw) == (40, 10, False)


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.parent.name == "cpu"], ids=lambda p: p.stem)
def test_cpu_configs_build(path, tmp_path):
    model_raw, aux_raw = make_tiny_flame()
    files = [
        f"flame.file={write_model_npz(model_raw, tmp_path / 'm.npz')}",
        f"flame.aux={write_aux_dir(aux_raw, tmp_path / 'aux')}",
        "model.pretrained=null",
        # the tiny model has 6 shape and 4 expression components (the lite config regresses 50 and 25)
        "flame.num_shape=null",
        "flame.num_expression=null",
    ]
    config = load_config(path, files)
    model = build_model(config, build_assets(config.flame))
    assert model.flame.image_size == config.model.input_size
