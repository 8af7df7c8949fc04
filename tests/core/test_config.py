"""Config: YAML + overrides, type checks, unknown keys, round trip."""

from __future__ import annotations

import pytest

from trans3dhead.config import (
    DAD3DNET_WEIGHTS,
    Config,
    ConfigError,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)


def test_defaults_are_the_paper_settings():
    cfg = load_config()
    assert cfg.model.arch == "trans3dhead" and cfg.model.decoder_layers == 2 and cfg.model.encoder_layers == 0
    assert cfg.loss.weights == {"landmarks": 300.0, "shape3d": 50.0, "reprojection": 0.05, "euler": 0.05}
    assert (cfg.train.lr, cfg.train.backbone_lr_mult, cfg.train.epochs) == (1e-4, 0.1, 360)
    assert cfg.train.milestones[0] * cfg.train.epochs == pytest.approx(240)


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  arch: dad3dnet\n  backbone: resnet18\nloss:\n  weights: {landmarks: 100}\n")
    cfg = load_config(
        path, ["model.input_size=128", "train.lr=3e-4", "flame.model=null", "loss.deep_supervision=false"]
    )
    assert cfg.model.arch == "dad3dnet" and cfg.model.backbone == "resnet18" and cfg.model.input_size == 128
    assert cfg.train.lr == 3e-4 and cfg.flame.model is None and cfg.loss.deep_supervision is False
    assert cfg.loss.weights == {"landmarks": 100.0}


def test_yaml_12_scalars(tmp_path):
    """``off`` is a string (not YAML 1.1's False) and ``3e-4`` is a number, in files and overrides alike."""
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  qamem: off\n  mqinit: both\ntrain:\n  lr: 3e-4\n  amp: false\n")
    cfg = load_config(path, ["model.marr=off", "train.weight_decay=1e-5", "data.augment=False"])
    assert (cfg.model.qamem, cfg.model.marr, cfg.model.mqinit) == ("off", "off", "both")
    assert cfg.train.lr == 3e-4 and cfg.train.weight_decay == 1e-5 and cfg.data.augment is False


def test_round_trip(tmp_path):
    cfg = config_from_dict({"loss": {"weights": dict(DAD3DNET_WEIGHTS)}, "train": {"epochs": 3}})
    saved = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(saved) == cfg
    assert isinstance(config_to_dict(Config())["train"]["milestones"], list)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"model": {"backbon": "x"}}, r"<config>\.model: unknown key\(s\) \['backbon'\]"),
        ({"model": {"input_size": "big"}}, r"<config>\.model\.input_size: expected an integer, got 'big'"),
        ({"model": {"qamem": "sometimes"}}, r"model\.qamem must be one of \('off', 'landmarks', 'both'\)"),
        ({"train": {"milestones": [1.5]}}, "milestones are fractions"),
        ({"model": {"d_model": 30, "nhead": 8}}, "must be divisible by model.nhead"),
        ({"data": {"augment": "yes"}}, r"data\.augment: expected true/false"),
        ({"train": {"lr": "fast"}}, r"train\.lr: expected a number, got 'fast'"),
        ({"train": "fast"}, r"<config>\.train: expected a mapping"),
        ({"model": {"params_per_query": 0}}, r"model\.params_per_query must be positive"),
        ({"model": {"arch": "dad3dnet", "params_per_query": 25}}, "params_per_query applies to Trans3DHead"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_bad_files_and_overrides(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not of the form section.key=value"):
        load_config(None, ["model.arch"])
