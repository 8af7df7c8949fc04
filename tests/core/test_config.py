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
        path, ["model.input_size=128", "train.lr=3e-4", "flame.file=null", "loss.deep_supervision=false"]
    )
    assert cfg.model.arch == "dad3dnet" and cfg.model.backbone == "resnet18" and cfg.model.input_size == 128
    assert cfg.train.lr == 3e-4 and cfg.flame.file is None and cfg.loss.deep_supervision is False
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
        ({"model": {"camera_focal": -2.0}}, r"model\.camera_focal must be a positive number .* got -2\.0"),
        ({"model": {"camera_focal": float("inf")}}, r"model\.camera_focal: expected a finite number"),
        ({"model": {"camera_focal": 0}}, r"model\.camera_focal must be a positive number"),
        ({"model": {"camera_focal": "long"}}, r"model\.camera_focal: expected a number, got 'long'"),
    ],
)
def test_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_camera_focal_default_and_override():
    assert config_from_dict({}).model.camera_focal is None
    assert load_config(None, ["model.camera_focal=4"]).model.camera_focal == 4.0
    assert load_config(None, ["model.camera_focal=4", "model.camera_focal=null"]).model.camera_focal is None


def test_bad_files_and_overrides(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: invalid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not of the form section.key=value"):
        load_config(None, ["model.arch"])


# --- flame.model is now flame.file (issue 15 item 7): the old key reads everywhere a config is read


@pytest.fixture
def fresh_notes(monkeypatch):
    """The rename note is printed once per process: forget the ones already printed."""
    from trans3dhead import config

    monkeypatch.setattr(config, "_NOTED", set())


RENAME_NOTE = "config key flame.model is now flame.file (the old name still works)"


def test_old_flame_model_key_in_a_yaml_file(tmp_path, capsys, fresh_notes):
    path = tmp_path / "c.yaml"
    path.write_text("flame:\n  model: /m/generic_model.pkl\n  aux: /m/aux\n")
    for overrides in (None, ["train.lr=3e-4"]):
        cfg = load_config(path, overrides)
        assert (cfg.flame.file, cfg.flame.aux) == ("/m/generic_model.pkl", "/m/aux")
    assert capsys.readouterr().err.count(RENAME_NOTE) == 1  # one note, however often it is read
    assert "model" not in config_to_dict(cfg)["flame"]


def test_old_flame_model_key_in_overrides_and_dicts(tmp_path, capsys, fresh_notes):
    assert load_config(None, ["flame.model=/m/a.npz"]).flame.file == "/m/a.npz"
    assert RENAME_NOTE in capsys.readouterr().err
    path = tmp_path / "c.yaml"
    path.write_text("flame:\n  file: /m/yaml.npz\n")
    assert load_config(path, ["flame.model=/m/override.npz"]).flame.file == "/m/override.npz"
    assert config_from_dict({"flame": {"model": "/m/b.npz"}}).flame.file == "/m/b.npz"


def test_old_and_new_flame_key_together_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"both flame\.model and flame\.file"):
        config_from_dict({"flame": {"model": "/m/a.npz", "file": "/m/b.npz"}})
    path = tmp_path / "c.yaml"
    path.write_text("flame:\n  model: /m/a.npz\n  file: /m/b.npz\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: both flame\.model and flame\.file"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"both flame\.model and flame\.file"):
        load_config(None, ["flame.model=/m/a.npz", "flame.file=/m/b.npz"])


def test_checkpoints_written_with_the_old_key_still_load(tmp_path, capsys, fresh_notes):
    """The shipped demo checkpoint and any checkpoint whose stored config says flame.model: read as
    flame.file, silently (the stored config is not the user's writing)."""
    from importlib.resources import files

    from trans3dhead.checkpoint import checkpoint_config, load_checkpoint, save_checkpoint

    shipped = files("trans3dhead") / "pretrained" / "demo_mnv2_128.pt"
    stored = checkpoint_config(load_checkpoint(shipped), shipped)
    assert "file" in stored["flame"] and "model" not in stored["flame"]  # shipped with flame.model: null
    assert config_from_dict(stored).flame.file is None
    old = config_to_dict(Config())
    old["flame"] = {("model" if k == "file" else k): v for k, v in old["flame"].items()}
    old["flame"]["model"] = "/m/generic_model.pkl"
    path = save_checkpoint(tmp_path / "old.pt", {"model": {}, "config": old})
    cfg = config_from_dict(checkpoint_config(load_checkpoint(path), path), source=str(path))
    assert cfg.flame.file == "/m/generic_model.pkl"
    assert "flame.model" not in capsys.readouterr().err
