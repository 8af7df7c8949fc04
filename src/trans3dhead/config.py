"""Experiment configuration: typed dataclasses, YAML files and ``key.path=value`` overrides.

A config file holds any subset of the sections below; missing keys keep their defaults, unknown keys and
wrongly typed values are errors that name the file and the key path.  The resolved config is saved with
every run (``config.yaml``) and inside checkpoints, so a run can always be rebuilt.

    model:  architecture and its switches           data:  dataset, batch, augmentation
    flame:  FLAME files and the parameter layout    loss:  loss weights, deep supervision
    train:  optimiser, schedule, checkpoints, seeds
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trans3dhead.errors import InputError, one_line, shown
from trans3dhead.frames import (
    ARCHS,
    BRANCH_MODES,
    CROP_STYLES,
    FUSION_MODES,
    LANDMARK_SOURCES,
    MARR_MODES,
    POSE_INITS,
    READOUTS,
    heads_split_width,
)
from trans3dhead.loss_weights import DAD3DNET_WEIGHTS, TRANS3DHEAD_WEIGHTS

__all__ = [
    "ConfigError",
    "UniqueKeyLoader",
    "yaml_error_text",
    "FlameConfig",
    "ModelConfig",
    "LossConfig",
    "DataConfig",
    "TrainConfig",
    "Config",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "RENAMED_KEYS",
    "upgrade_renamed_keys",
    "save_config",
    "TRANS3DHEAD_WEIGHTS",
    "DAD3DNET_WEIGHTS",
]


class ConfigError(InputError):
    """A config file or override is invalid; the message names the source and the key path."""


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (PyYAML would keep
    the last value silently).  Keys brought in by a ``<<`` merge may be overridden, as YAML allows."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    problem=f"duplicate key {key_node.value!r} (first given on line {first})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


class _Loader(UniqueKeyLoader):
    """YAML with 1.2 scalars: only true/false are booleans (``qamem: off`` stays a string) and exponent
    floats without a dot (``3e-4``) are numbers; a duplicated key is an error."""


_Loader.yaml_implicit_resolvers = {
    key: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:float")
    ]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    ),
    list("-+0123456789."),
)


def _yaml_load(text: str) -> Any:
    """Parse YAML; any content PyYAML cannot turn into values raises ``yaml.YAMLError``.

    PyYAML's constructors call ``int()`` and ``datetime.date()`` unguarded (an integer of over 4300
    digits, a date such as ``2001-13-45``: ``ValueError``) and compose nested nodes recursively
    (thousands of ``[``: ``RecursionError``).
    """
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, RecursionError) as exc:
        raise yaml.YAMLError(f"a value cannot be read ({one_line(exc)})") from None


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where (PyYAML's own text spans several lines)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = " ".join(part for part in (exc.context, exc.problem) if part) or type(exc).__name__
        return f"{what}{where}"
    return " ".join(str(exc).split())


@dataclass
class FlameConfig:
    """FLAME files and the regressed parameter layout."""

    # FLAME model file (.npz / .pkl); None: $TRANS3DHEAD_FLAME, else the embedded model.  Was `flame.model`
    # (see RENAMED_KEYS): "model" names the network only.
    file: str | None = None
    aux: str | None = None  # DAD-3DHeads auxiliary folder; None: $TRANS3DHEAD_FLAME_AUX
    num_shape: int | None = None  # shape components regressed; None: all of the model's (300 for FLAME)
    num_expression: int | None = None  # expression components; None: all (100 for FLAME)
    jaw: bool = True  # regress the jaw pose (the Table 8 settings 60 / 160 have none)
    embedded_vertices: int = 5000  # embedded model resolution (used when no FLAME file is given)
    embedded_shape: int = 300
    embedded_expression: int = 100


@dataclass
class ModelConfig:
    """Architecture.  ``arch`` is "trans3dhead" or "dad3dnet"; the rest are Trans3DHead switches
    (paper section 3 and the ablations of Tables 3-8) unless noted."""

    arch: str = "trans3dhead"
    backbone: str = "resnet50"  # resnet18/34/50, mobilenet_v2, timm:<name>
    # Backbone initialisation: none (random, on purpose) | imagenet (the published file, found offline;
    # an error says how to get it when absent) | a path.  See trans3dhead.models.imagenet.
    pretrained: str | None = None
    pretrained_file: str | None = None  # written by `train`: the weights file `pretrained` resolved to
    input_size: int = 256
    d_model: int = 256
    nhead: int = 8
    dim_feedforward: int = 2048
    # Trans3DHead: transformer dropout; DAD-3DNet: dropout of its three regression heads.
    # None: the architecture's own default (Trans3DHead 0.1 as DETR, DAD-3DNet 0.3 as its reference code)
    dropout: float | None = None
    encoder_layers: int = 0
    decoder_layers: int = 2
    qamem: str = "landmarks"  # off | landmarks (landmark branch only) | both
    mqinit: str = "landmarks"  # off | landmarks | both
    marr: str = "fixed"  # fixed | learned_mean | learned_random | off (Table 4)
    multitask: bool = True  # landmark branch on; False = only-3DMM (Table A.1.5)
    # Trans3DHead's 3DMM readout (the paper leaves it open): shared Linear(d, 1) | per_query weights
    readout: str = "shared"
    # Trans3DHead: 3DMM values each 3DMM-branch query reads out.  1 = the paper (one query per value, 413
    # queries); G > 1 cuts each FLAME block (shape, expression, jaw, rotation, translation, scale) into
    # chunks of at most G values, one query each (G = 25: 20 queries), for the lite CPU configs
    params_per_query: int = 1
    # Trans3DHead: the backbone stride whose features become the memory: 32 (the paper) | 16 (a finer
    # memory from a shorter backbone: its stride-32 stage is not run; the lite config)
    memory_stride: int = 32
    # Trans3DHead: 1 (the paper) | 2: the memory stage runs dilated instead of strided (DeepLab's atrous
    # backbone), so the memory has twice the side (8 x 8 instead of 4 x 4 at 128 px) from the same weights:
    # checkpoints of either kind load into the other.  MobileNetV2 at 128 px: a bare forward + backward
    # costs 26% more; in training (batch 16, 2 threads) both ran at 22 images/s (docs/experiments.md)
    memory_dilation: int = 1
    # DAD-3DNet only: "reference" (the reference's random pose head) | "frontal_mean" (the pose head starts
    # at a frontal mean head filling the crop, as Trans3DHead's 3DMM branch does)
    pose_init: str = "reference"
    # DAD-3DNet only: BiFPN fusion weights w / (sum(w) + eps) ("stable") or w / sum(w) + eps ("reference",
    # the reference code's, set by `trans3dhead import dad3dnet`)
    bifpn_fusion: str = "stable"
    # The network's input crop (predict, eval, train): "centred" (this project's: bilinear warp, centred
    # fractional padding) | "reference" (the DAD-3DNet predictor's: OpenCV resize of the box to a longest
    # side of input_size, zero padding of floor((S - side) / 2) before; landmark-head points clipped to it)
    crop: str = "centred"
    # The 68 landmarks predict and eval report when not told otherwise: "flame" (the projected FLAME
    # landmarks) | "branch" (the model's own landmarks: Trans3DHead's branch, DAD-3DNet's landmark head)
    landmarks: str = "flame"
    # The camera's focal length, in image sizes (the longest side), with which predict and eval turn the
    # predicted rotation from the crop's view into the camera frame (``Q^T R``, Q the rotation of the line
    # of sight to the crop centre onto the optical axis; trans3dhead.geometry.camera): a crop-based network
    # cannot see where its crop sat in the image (docs/experiments.md).  Post-processing only: training
    # and the mesh, landmarks and camera matrix are unchanged.  None: the rotation as predicted (both papers)
    camera_focal: float | None = None


@dataclass
class LossConfig:
    """Loss weights (a weight of 0 skips the loss) and deep supervision of the landmark decoder layers."""

    weights: dict[str, float] = field(default_factory=lambda: dict(TRANS3DHEAD_WEIGHTS))
    deep_supervision: bool = True


@dataclass
class DataConfig:
    """Dataset and loading."""

    root: str | None = None  # DAD-3DHeads-format root (train/, val/, test/)
    train_split: str = "train"
    val_split: str = "val"
    batch_size: int = 32
    workers: int = 2
    augment: bool = True
    rotate_deg: float = 15.0
    scale_min: float = 0.9
    scale_max: float = 1.1
    shift: float = 0.05
    color: float = 0.2
    blur_prob: float = 0.1
    noise_std: float = 0.02
    # probability of mirroring a training item left to right, its targets with it (data/flip_augment.py;
    # needs a left-right symmetric head model); with data.augment only
    flip: float = 0.0
    skip_bad: bool = False  # drop unreadable items (counted and logged) instead of stopping
    # a cache of the training split (`trans3dhead data cache`): crops read from memory-mapped arrays
    # instead of decoded, augmentation on the training device; None: decode the files
    cache: str | None = None


@dataclass
class TrainConfig:
    """Optimisation (paper: Adam, lr 1e-4, backbone x0.1, 360 epochs, lr / 10 at epoch 240)."""

    epochs: int = 360
    lr: float = 1e-4
    backbone_lr_mult: float = 0.1
    weight_decay: float = 0.0
    # step (paper): lr x gamma at each milestone, a fraction of the planned optimiser steps
    # (epochs x steps per epoch), after a linear warm-up of warmup_steps;
    # plateau (DAD-3DNet reference): lr x gamma when select_metric has not improved for plateau_patience
    # validations, down to plateau_min_lr
    schedule: str = "step"
    milestones: list[float] = field(default_factory=lambda: [2.0 / 3.0])
    gamma: float = 0.1
    warmup_steps: int = 0
    plateau_patience: int = 10
    plateau_min_lr: float = 0.0
    # validation metric that selects best.pt, drives the plateau schedule and early stopping:
    # nme_flame (68 landmarks of the FLAME reprojection: the benchmark submission's) | nme_branch (the
    # landmark branch's own 68 landmarks: the Trans3DHead ablations) | pose_error
    select_metric: str = "nme_flame"
    early_stop_patience: int = 0  # stop after this many validations without improvement; 0 = never
    min_epochs: int = 0  # early stopping never ends a run before this epoch
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    # an exponential moving average of the weights (engine/ema.py), e.g. 0.998; 0 = off.  With it on,
    # validation, best.pt and every checkpoint's "model" are the average (its "train_model" the live weights)
    ema_decay: float = 0.0
    # mixed precision: off | bf16 (CPU or CUDA autocast) | fp16 (CUDA autocast with a gradient scaler);
    # FLAME, rotations, projections and the losses always run in float32.  true/false read as fp16/off.
    amp: str | bool = "off"
    seed: int = 0
    deterministic: bool = False
    checkpoint_every: int = 0  # also checkpoint every N optimiser steps; 0 = only at epoch ends
    val_every: int = 1  # validate every N epochs
    # CSV log every N steps: losses are means over those steps, read from the device only then; a
    # non-finite loss or weight is detected at the next log point (or checkpoint) and names its step
    log_every: int = 10
    # the model and its inputs in channels-last memory format: auto (on CUDA) | on | off
    channels_last: str = "auto"
    tensorboard: bool = False
    max_steps_per_epoch: int = 0  # 0 = full epochs (a positive value shortens epochs for smoke runs)
    max_steps: int = 0  # stop after this many optimiser steps in all (0: the epochs decide); budgeted runs
    # a checkpoint whose model weights start this run (fine-tuning); its architecture must match the
    # config's.  Optimiser, schedule and epochs start afresh; MARR's mean face is recomputed.
    init_from: str | None = None


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    flame: FlameConfig = field(default_factory=FlameConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


_CHOICES = {
    ("model", "arch"): ARCHS,
    ("model", "qamem"): BRANCH_MODES,
    ("model", "mqinit"): BRANCH_MODES,
    ("model", "marr"): MARR_MODES,
    ("model", "pose_init"): POSE_INITS,
    ("model", "readout"): READOUTS,
    ("model", "bifpn_fusion"): FUSION_MODES,
    ("model", "crop"): CROP_STYLES,
    ("model", "memory_stride"): (16, 32),
    ("model", "memory_dilation"): (1, 2),
    ("model", "landmarks"): LANDMARK_SOURCES,
    ("train", "schedule"): ("step", "plateau"),
    ("train", "amp"): ("off", "bf16", "fp16"),
    ("train", "channels_last"): ("auto", "on", "off"),
    ("train", "select_metric"): ("nme_flame", "nme_branch", "pose_error"),
}


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check ``value`` against a (resolved) type annotation; ints are accepted for floats."""
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in typing.get_args(annotation):
            return None
        errors = []
        for arm in typing.get_args(annotation):
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {shown(value)}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {shown(value)}")
        (item,) = typing.get_args(annotation)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {shown(value)}")
        _key, item = typing.get_args(annotation)
        return {str(k): _coerce(v, item, f"{where}.{k}") for k, v in value.items()}
    if annotation is float:
        return _as_float(value, where)
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true/false, got {shown(value)}")
    if annotation is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{where}: expected an integer, got {shown(value)}")
    if annotation is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {shown(value)}")
    return value


def _as_float(value: Any, where: str) -> float:
    # PyYAML (YAML 1.1) reads "3e-4" as a string: accept numeric strings, refuse everything else.
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if number is None:
        raise ConfigError(f"{where}: expected a number, got {shown(value)}")
    if not math.isfinite(number):
        raise ConfigError(f"{where}: expected a finite number, got {shown(value)}")
    return number


def _section_from_dict(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {shown(data)}")
    if cls is Config:
        data = upgrade_renamed_keys(data, where)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {sorted(names)}")
    kwargs = {}
    for key, value in data.items():
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _section_from_dict(hints[key], value, f"{where}.{key}")
        else:
            kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def _validate(config: Config, source: str) -> None:
    if isinstance(config.train.amp, bool):  # the earlier boolean key (fp16 on CUDA)
        config.train.amp = "fp16" if config.train.amp else "off"
    for (section, key), allowed in _CHOICES.items():
        value = getattr(getattr(config, section), key)
        if value not in allowed:
            raise ConfigError(f"{source}: {section}.{key} must be one of {allowed}, got {shown(value)}")
    positive = [
        ("model", "input_size"),
        ("model", "d_model"),
        ("model", "nhead"),
        ("model", "dim_feedforward"),
        ("model", "decoder_layers"),
        ("model", "params_per_query"),
        ("data", "batch_size"),
        ("train", "epochs"),
        ("train", "val_every"),
        ("train", "log_every"),
    ]
    for section, key in positive:
        if getattr(getattr(config, section), key) <= 0:
            raise ConfigError(f"{source}: {section}.{key} must be positive")
    for section, key in (("model", "encoder_layers"), ("data", "workers"), ("train", "checkpoint_every")):
        if getattr(getattr(config, section), key) < 0:
            raise ConfigError(f"{source}: {section}.{key} must be >= 0")
    if not heads_split_width(config.model.d_model, config.model.nhead):
        raise ConfigError(
            f"{source}: model.d_model ({config.model.d_model}) must be divisible by model.nhead "
            f"({config.model.nhead})"
        )
    if not 0 <= config.train.ema_decay < 1:
        raise ConfigError(
            f"{source}: train.ema_decay must lie in [0, 1) (0: no moving average), "
            f"got {config.train.ema_decay!r}"
        )
    if any(not 0 < m < 1 for m in config.train.milestones):
        raise ConfigError(f"{source}: train.milestones are fractions of the planned steps in (0, 1)")
    t = config.train
    for key in ("warmup_steps", "early_stop_patience", "min_epochs", "plateau_patience", "max_steps"):
        if getattr(t, key) < 0:
            raise ConfigError(f"{source}: train.{key} must be >= 0, got {getattr(t, key)}")
    if config.model.pose_init != "reference" and config.model.arch != "dad3dnet":
        raise ConfigError(
            f"{source}: model.pose_init applies to DAD-3DNet; "
            "Trans3DHead always starts at the frontal mean head"
        )
    if config.model.params_per_query != 1 and config.model.arch != "trans3dhead":
        raise ConfigError(f"{source}: model.params_per_query applies to Trans3DHead's 3DMM branch")
    if config.model.memory_stride != 32 and config.model.arch != "trans3dhead":
        raise ConfigError(f"{source}: model.memory_stride applies to Trans3DHead (DAD-3DNet reads 4 strides)")
    if config.model.memory_dilation != 1 and config.model.arch != "trans3dhead":
        raise ConfigError(f"{source}: model.memory_dilation applies to Trans3DHead (DAD-3DNet has no memory)")
    if config.model.bifpn_fusion != "stable" and config.model.arch != "dad3dnet":
        raise ConfigError(f"{source}: model.bifpn_fusion applies to DAD-3DNet (Trans3DHead has no BiFPN)")
    flip = config.data.flip
    if isinstance(flip, bool) or not (isinstance(flip, int | float) and 0.0 <= flip <= 1.0):
        raise ConfigError(f"{source}: data.flip must be a probability in [0, 1], got {flip!r}")
    focal = config.model.camera_focal
    if focal is not None and (isinstance(focal, bool) or not math.isfinite(focal) or focal <= 0):
        raise ConfigError(
            f"{source}: model.camera_focal must be a positive number (image sizes) or null, got {focal!r}"
        )
    if config.model.landmarks == "branch" and not _has_landmark_branch(config.model):
        raise ConfigError(
            f"{source}: model.landmarks=branch, but this model has no landmark branch "
            "(model.multitask=false): use flame"
        )
    if t.warmup_steps and t.schedule == "plateau":
        raise ConfigError(f"{source}: train.warmup_steps applies to the step schedule, not to 'plateau'")
    if t.select_metric == "nme_branch" and not _has_landmark_branch(config.model):
        raise ConfigError(
            f"{source}: train.select_metric=nme_branch, but this model has no landmark branch "
            "(model.multitask=false): select on nme_flame"
        )


#: Config keys renamed since configs and checkpoints were written: (section, old key) -> new key.  The old
#: key still reads everywhere a config is read (YAML files, ``section.key=value`` overrides, the configs
#: inside checkpoints); giving both the old and the new key is a ConfigError.
RENAMED_KEYS: dict[tuple[str, str], str] = {("flame", "model"): "file"}
_NOTED: set[str] = set()  # old keys already noted on stderr (one note per key and process)


def _note_renamed(old: str, new: str) -> None:
    if old not in _NOTED:
        _NOTED.add(old)
        print(f"trans3dhead: note: config key {old} is now {new} (the old name still works)", file=sys.stderr)


def upgrade_renamed_keys(data: Any, source: str, *, quiet: bool = False) -> Any:
    """``data`` (a nested config mapping) with every old key of :data:`RENAMED_KEYS` under its new name:
    a note on stderr once per old key (none when ``quiet``: a checkpoint's stored config is not the user's
    writing), a ConfigError naming both keys when both are given.  Anything but a mapping is returned as
    it is (the section checks report it)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for (section, old), new in RENAMED_KEYS.items():
        values = out.get(section)
        if not isinstance(values, dict) or old not in values:
            continue
        if new in values:
            raise ConfigError(
                f"{source}: both {section}.{old} and {section}.{new} are given; {section}.{old} is the old "
                f"name of {section}.{new}: keep only {section}.{new}"
            )
        out[section] = {(new if key == old else key): value for key, value in values.items()}
        if not quiet:
            _note_renamed(f"{section}.{old}", f"{section}.{new}")
    return out


def _renamed_override_keys(overrides: list[str], source: str) -> list[str]:
    """``overrides`` with every old dotted key of :data:`RENAMED_KEYS` written with its new name."""
    renamed = {f"{section}.{old}": f"{section}.{new}" for (section, old), new in RENAMED_KEYS.items()}
    given = {item.partition("=")[0].strip() for item in overrides}
    out = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        new = renamed.get(key.strip()) if sep else None
        if new is None:
            out.append(item)
            continue
        if new in given:
            raise ConfigError(
                f"{source}: overrides give both {key.strip()} and {new}; {key.strip()} is the old name of "
                f"{new}: keep only {new}"
            )
        _note_renamed(key.strip(), new)
        out.append(f"{new}={raw}")
    return out


def _has_landmark_branch(model: ModelConfig) -> bool:
    """DAD-3DNet's landmark head and Trans3DHead's landmark branch (absent with multitask=false)."""
    return model.arch == "dad3dnet" or model.multitask


def config_from_dict(data: dict[str, Any] | None, *, source: str = "<config>") -> Config:
    """Build and validate a :class:`Config` from a (possibly partial) nested mapping."""
    config = _section_from_dict(Config, data or {}, source)
    _validate(config, source)
    return config


def config_to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def apply_overrides(
    data: dict[str, Any], overrides: list[str], *, source: str = "command line"
) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML) to a nested mapping (a copy)."""
    out = _yaml_load(yaml.safe_dump(data)) or {}
    for item in _renamed_override_keys(overrides, source):
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{source}: override {shown(item)} is not of the form section.key=value")
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source}: override {shown(item)}: '{part}' is not a section")
        try:
            node[parts[-1]] = _yaml_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"{source}: override {shown(item)}: invalid YAML value ({yaml_error_text(exc)})"
            ) from None
    return out


def _read_config_file(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML config as a mapping, with its ``base:`` file (relative to it) merged underneath: every
    section of the base is kept, and each key the file lists replaces the base's value whole."""
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ConfigError(f"{path}: 'base' files form a cycle: {cycle}")
    try:
        data = _yaml_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except FileNotFoundError:
        where = f" (the base of {chain[-1]})" if chain else ""
        raise ConfigError(f"{path}: config file not found{where}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({yaml_error_text(exc)})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: base must be the path of another config file, got {shown(base)}")
    merged = _read_config_file(path.parent / base, (*chain, resolved))
    for section, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **values}
        else:
            merged[section] = values
    return merged


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML config (or the defaults when ``path`` is None), with its ``base:`` chain, and apply
    ``overrides``."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        path, source = Path(path), str(path)
        data = _read_config_file(path)
    if overrides:
        # overrides apply to the effective values (defaults filled in), so that e.g.
        # loss.weights.euler=0 changes one weight of the default weights rather than replacing them
        full = config_to_dict(_section_from_dict(Config, data, source))
        data = apply_overrides(full, overrides)
        source += " + overrides"
    return config_from_dict(data, source=source)


def save_config(config: Config, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    return path
