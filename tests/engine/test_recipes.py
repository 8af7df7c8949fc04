"""Training recipes: config inheritance, the per-step schedule, early stopping, metric selection, and every
model key reaching the model it names (DAD-3DNet's dropout and pose initialisation included)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tiny_flame import make_tiny_flame
from train_helpers import make_training_setup

from trans3dhead.config import ConfigError, ModelConfig, load_config
from trans3dhead.engine.fit import fit
from trans3dhead.engine.loop import StepSchedule, build_scheduler
from trans3dhead.flame.files import write_aux_dir, write_model_npz
from trans3dhead.geometry.rotation import matrix_to_euler
from trans3dhead.models.build import build_assets, build_model


def test_base_files_merge_section_by_section(tmp_path):
    (tmp_path / "base.yaml").write_text(
        "model: {backbone: resnet18, qamem: both}\ntrain: {lr: 0.5, epochs: 7}\n"
        "loss: {weights: {landmarks: 1.0, euler: 2.0}}\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "child.yaml").write_text(
        "base: ../base.yaml\nmodel: {qamem: 'off'}\nloss: {weights: {landmarks: 3.0}}\n"
    )
    config = load_config(tmp_path / "sub" / "child.yaml", ["train.epochs=9"])
    assert (config.model.backbone, config.model.qamem) == ("resnet18", "off")
    assert (config.train.lr, config.train.epochs) == (0.5, 9)
    assert config.loss.weights == {"landmarks": 3.0}  # a key listed replaces the base's value whole
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: missing.yaml\n")
    with pytest.raises(ConfigError, match=r"missing\.yaml: config file not found \(the base of"):
        load_config(tmp_path / "c.yaml")


def test_config_errors_for_recipe_keys():
    with pytest.raises(ConfigError, match="no landmark branch"):
        load_config(None, ["model.multitask=false", "train.select_metric=nme_branch"])
    with pytest.raises(ConfigError, match="select_metric must be one of"):
        load_config(None, ["train.select_metric=nme"])
    with pytest.raises(ConfigError, match="warmup_steps applies to the step schedule"):
        load_config(None, ["train.schedule=plateau", "train.warmup_steps=5"])
    with pytest.raises(ConfigError, match="pose_init applies to DAD-3DNet"):
        load_config(None, ["model.pose_init=frontal_mean"])


def test_memory_dilation_doubles_the_memory_side_with_the_same_weights(tmp_path):
    """model.memory_dilation=2: the memory stage runs dilated (8 x 8 tokens at 64 px with ResNet-18's
    stride-16 memory, 2 x 2 with its stride 32), and the weights of either kind load into the other."""
    files = [*_tiny_files(tmp_path), "model.d_model=32", "model.nhead=4"]
    for stride in (16, 32):
        plain = load_config(None, [*files, f"model.memory_stride={stride}"])
        dilated = load_config(None, [*files, f"model.memory_stride={stride}", "model.memory_dilation=2"])
        torch.manual_seed(0)
        a = build_model(plain, build_assets(plain.flame)).eval()
        b = build_model(dilated, build_assets(dilated.flame)).eval()
        b.load_state_dict(a.state_dict())
        images = torch.rand(2, 3, 64, 64)
        with torch.no_grad():
            (memory_a, _), (memory_b, _) = a.encode(images), b.encode(images)
            out = b(images)
        assert memory_a.shape[1] == (64 // stride) ** 2 and memory_b.shape[1] == 4 * (64 // stride) ** 2
        assert torch.isfinite(out.params).all()
    with pytest.raises(ConfigError, match="memory_dilation must be one of"):
        load_config(None, ["model.memory_dilation=4"])
    with pytest.raises(ConfigError, match="memory_dilation applies to Trans3DHead"):
        load_config("configs/dad3dnet_r50.yaml", ["model.memory_dilation=2"])


def test_step_schedule_warms_up_and_decays_at_the_planned_step():
    schedule = StepSchedule(total_steps=300, milestones=[2 / 3], gamma=0.1, warmup_steps=10)
    assert schedule(0) == pytest.approx(0.1) and schedule(9) == 1.0
    assert schedule(199) == 1.0 and schedule(200) == pytest.approx(0.1)
    config = load_config(None, ["train.epochs=3", "train.lr=1.0", "train.warmup_steps=2"])
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1.0)
    scheduler = build_scheduler(optimizer, config.train, total_steps=30)
    lrs = []
    for _ in range(30):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == 1.0
    assert lrs[19] == 1.0 and lrs[20] == pytest.approx(0.1)  # 2/3 of 30 planned steps


def test_plateau_schedule_follows_the_reference():
    config = load_config("configs/dad3dnet_r50.yaml")
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=config.train.lr)
    scheduler = build_scheduler(optimizer, config.train, total_steps=500)
    assert (scheduler.factor, scheduler.patience, scheduler.min_lrs) == (0.5, 8, [1e-6])
    assert (config.train.lr, config.train.backbone_lr_mult, config.data.batch_size) == (1e-3, 1.0, 64)
    assert (config.train.early_stop_patience, config.train.min_epochs, config.train.epochs) == (10, 100, 500)
    assert not config.data.augment and config.train.amp == "off"


def test_early_stopping_and_selection(tmp_path):
    overrides = make_training_setup(tmp_path)
    # lr 0: nothing improves after the first validation, so the run stops `patience` epochs later
    config = load_config(
        None,
        [
            *overrides,
            "train.lr=0.0",
            "train.epochs=10",
            "train.early_stop_patience=2",
            "train.min_epochs=4",
            "train.select_metric=pose_error",
        ],
    )
    result = fit(config, tmp_path / "run")
    assert result.stopped_early and result.epochs_done == 4  # min_epochs holds it back from epoch 3
    assert result.best["metric"] == "pose_error" and result.best["epoch"] == 1


def _tiny_files(tmp_path):
    model_raw, aux_raw = make_tiny_flame()
    return [
        f"flame.file={write_model_npz(model_raw, tmp_path / 'm.npz')}",
        f"flame.aux={write_aux_dir(aux_raw, tmp_path / 'aux')}",
        "model.backbone=resnet18",
        "model.input_size=64",
    ]


def _fingerprint(model: torch.nn.Module) -> tuple:
    """Everything a model key can change: tensor names and shapes, module structure, dropout rates,
    switches, the pose head's initial output."""
    shapes = tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())
    drops = tuple(m.p for m in model.modules() if isinstance(m, torch.nn.Dropout))
    attention = (m for m in model.modules() if isinstance(m, torch.nn.MultiheadAttention))
    attn = tuple((m.num_heads, m.dropout) for m in attention)
    extra = (model.flame.image_size, getattr(model, "switches", None), getattr(model, "pose_init", None))
    return shapes, drops, attn, extra, repr(model)


#: A changed value for every model key, per architecture; keys an architecture does not use are listed
#: with the reason.  A new ModelConfig key fails this test until it is added here.
CHANGES = {
    "trans3dhead": {
        "backbone": "resnet34",
        "input_size": 96,
        "d_model": 64,
        "nhead": 2,
        "dim_feedforward": 48,
        "dropout": 0.25,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "qamem": "both",
        "mqinit": "off",
        "marr": "off",
        "multitask": False,
        "readout": "per_query",
        "params_per_query": 25,
        "memory_stride": 16,
        "memory_dilation": 2,
    },
    "dad3dnet": {
        "backbone": "resnet34",
        "input_size": 96,
        "dropout": 0.1,
        "pose_init": "frontal_mean",
        "bifpn_fusion": "reference",
    },
}
NOT_USED = {
    "arch": "selects the architecture itself",
    "pretrained": "weights, not structure: tested in test_every_config",
    "pretrained_file": "written by train: a record, not a setting",
    "pose_init": "DAD-3DNet only (a config error for Trans3DHead)",
    "bifpn_fusion": "DAD-3DNet only (a config error for Trans3DHead)",
    "crop": "the input crop, not structure: tested in test_import_dad3dnet",
    "landmarks": "which landmarks predict / eval report, not structure: tested in test_import_dad3dnet",
    "camera_focal": "how predict / eval read the rotation out, not structure: tested in test_eval, test_api",
    "d_model": "Trans3DHead only",
    "nhead": "Trans3DHead only",
    "dim_feedforward": "Trans3DHead only",
    "encoder_layers": "Trans3DHead only",
    "decoder_layers": "Trans3DHead only",
    "qamem": "Trans3DHead only",
    "mqinit": "Trans3DHead only",
    "marr": "Trans3DHead only",
    "multitask": "Trans3DHead only",
    "readout": "Trans3DHead only",
    "params_per_query": "Trans3DHead only (a config error for DAD-3DNet)",
    "memory_stride": "Trans3DHead only (a config error for DAD-3DNet)",
    "memory_dilation": "Trans3DHead only (a config error for DAD-3DNet)",
}


@pytest.mark.parametrize("arch", ["trans3dhead", "dad3dnet"])
def test_every_model_key_reaches_its_model(arch, tmp_path):
    files = [*_tiny_files(tmp_path), f"model.arch={arch}", "model.d_model=32", "model.nhead=4"]
    base = load_config(None, files)
    reference = _fingerprint(build_model(base, build_assets(base.flame)))
    keys = {f.name for f in dataclasses.fields(ModelConfig)}
    covered = set(CHANGES[arch]) | {k for k in NOT_USED if k not in CHANGES[arch]}
    assert keys == covered, f"classify the model keys {sorted(keys ^ covered)} in CHANGES / NOT_USED"
    for key, value in CHANGES[arch].items():
        changed = load_config(None, [*files, f"model.{key}={str(value).lower()}"])
        model = build_model(changed, build_assets(changed.flame))
        assert _fingerprint(model) != reference, f"model.{key} does not reach {arch}"


def test_dad3dnet_dropout_and_frontal_mean_pose_start(tmp_path):
    files = [*_tiny_files(tmp_path), "model.arch=dad3dnet"]
    config = load_config(None, files)
    model = build_model(config, build_assets(config.flame)).eval()
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.3}  # the reference's
    config = load_config(None, [*files, "model.dropout=0.0", "model.pose_init=frontal_mean"])
    torch.manual_seed(0)
    model = build_model(config, build_assets(config.flame)).eval()
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}
    with torch.no_grad():
        output = model(torch.rand(4, 3, 64, 64))
    euler = matrix_to_euler(output.flame.rotation.double())  # (B, 3) roll, pitch, yaw in degrees
    assert euler.abs().max() < 2.0  # every image starts at a frontal head
    projected = output.flame.projected[:, :, :2] / 64.0
    assert projected.min() > -0.1 and projected.max() < 1.1  # filling the crop, not 6x off
    reference = build_model(load_config(None, files), build_assets(config.flame)).eval()
    with torch.no_grad():
        far = matrix_to_euler(reference(torch.rand(4, 3, 64, 64)).flame.rotation.double())
    assert far.abs().max() > 20.0  # the reference init starts far from frontal


def test_an_override_of_one_weight_keeps_the_others():
    config = load_config(None, ["loss.weights.euler=0.0"])
    assert config.loss.weights == {"landmarks": 300.0, "shape3d": 50.0, "reprojection": 0.05, "euler": 0.0}
    config = load_config("configs/dad3dnet_r50.yaml", ["loss.weights.euler=0.05"])
    assert config.loss.weights["heatmap"] == 1.0 and config.loss.weights["euler"] == 0.05
