"""Config -> objects: the FLAME assets, the FLAME layer, the model and its criterion.

This is the only place where a :class:`~trans3dhead.config.Config` turns into constructor arguments; the
modules themselves take typed keyword arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from trans3dhead.config import Config, ConfigError, FlameConfig
from trans3dhead.errors import InputError, one_line
from trans3dhead.flame import FlameAssets, FlameLayer, ParamLayout, embedded_assets, load_assets
from trans3dhead.flame.files import flame_paths
from trans3dhead.losses.criterion import HeadCriterion
from trans3dhead.models.backbone import build_backbone
from trans3dhead.models.dad3dnet import DAD3DNet
from trans3dhead.models.trans3dhead import build_trans3dhead

__all__ = [
    "build_assets",
    "build_flame",
    "build_model",
    "build_criterion",
    "backbone_strides",
    "model_from_checkpoint",
    "without_pretrained",
]

#: DAD-3DNet runs every stage; Trans3DHead reads the stride-32 memory only.
_DAD_STRIDES = (4, 8, 16, 32)


@contextmanager
def _from_config(section: str) -> Iterator[None]:
    """Argument checks of the constructors fed from ``section`` of a config are the config's errors."""
    try:
        yield
    except InputError:
        raise
    except ValueError as exc:
        raise ConfigError(f"config {section}: {' '.join(str(exc).split())}") from exc


def build_assets(config: FlameConfig) -> FlameAssets:
    """The FLAME model named by the config (or ``$TRANS3DHEAD_FLAME``), else the embedded model with the
    config's ``flame.embedded_*`` settings; :func:`~trans3dhead.flame.files.flame_paths` decides."""
    paths = flame_paths(config.file, config.aux)
    if paths is None:
        with _from_config("flame.embedded_*"):
            return embedded_assets(
                num_vertices_target=config.embedded_vertices,
                num_shape=config.embedded_shape,
                num_expression=config.embedded_expression,
            )
    return load_assets(*paths)


def build_flame(config: Config, assets: FlameAssets) -> FlameLayer:
    model = assets.model
    with _from_config("flame"):
        layout = ParamLayout(
            config.flame.num_shape if config.flame.num_shape is not None else model.num_shape,
            config.flame.num_expression if config.flame.num_expression is not None else model.num_expression,
            jaw=config.flame.jaw,
        )
        return FlameLayer(assets=assets, layout=layout, image_size=config.model.input_size)


def backbone_strides(config: Config) -> tuple[int, ...]:
    return _DAD_STRIDES if config.model.arch == "dad3dnet" else (config.model.memory_stride,)


def build_model(config: Config, assets: FlameAssets) -> nn.Module:
    """Trans3DHead or DAD-3DNet as the config says, with its FLAME layer."""
    with _from_config("model"):
        return _build_model(config, build_flame(config, assets))


def _build_model(config: Config, flame: FlameLayer) -> nn.Module:
    m = config.model
    backbone = build_backbone(m.backbone, pretrained=m.pretrained, strides=backbone_strides(config))
    if m.memory_dilation == 2:
        backbone.dilate_stage(m.memory_stride)
    extra = {} if m.dropout is None else {"dropout": m.dropout}  # None: the architecture's default
    if m.arch == "dad3dnet":
        return DAD3DNet(
            backbone=backbone, flame=flame, pose_init=m.pose_init, bifpn_fusion=m.bifpn_fusion, **extra
        )
    return build_trans3dhead(
        backbone=backbone,
        flame=flame,
        d_model=m.d_model,
        nhead=m.nhead,
        dim_feedforward=m.dim_feedforward,
        num_encoder_layers=m.encoder_layers,
        num_decoder_layers=m.decoder_layers,
        qamem=m.qamem,
        mqinit=m.mqinit,
        marr=m.marr,
        multitask=m.multitask,
        readout=m.readout,
        params_per_query=m.params_per_query,
        memory_stride=m.memory_stride,
        **extra,
    )


def build_criterion(config: Config, flame: FlameLayer) -> HeadCriterion:
    with _from_config("loss"):
        return _build_criterion(config, flame)


def _build_criterion(config: Config, flame: FlameLayer) -> HeadCriterion:
    return HeadCriterion(
        flame=flame,
        weights=dict(config.loss.weights),
        deep_supervision=config.loss.deep_supervision,
        image_size=config.model.input_size,
    )


def without_pretrained(config: Config) -> Config:
    """A copy of ``config`` whose backbone starts from random weights: for models whose every weight is
    about to come from a checkpoint (no ImageNet file is read, and none needs to exist)."""
    import dataclasses

    return dataclasses.replace(config, model=dataclasses.replace(config.model, pretrained=None))


def model_from_checkpoint(
    path: str | Path, *, flame: str | None = None, aux: str | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, Config, FlameAssets]:
    """Rebuild a trained model from a checkpoint (eval mode).

    The checkpoint holds the resolved config and the weights (MARR's mean face and the input
    normalisation are buffers).  FLAME itself is not stored (it is licensed): the config names the files,
    or the embedded model's settings; ``flame`` / ``aux`` override the stored paths (e.g. on another
    machine).  A vertex-count mismatch between the checkpoint and the given FLAME raises a clear error.
    """
    from trans3dhead.checkpoint import CheckpointError, checkpoint_config, load_checkpoint
    from trans3dhead.config import config_from_dict
    from trans3dhead.devices import resolve_device

    device = resolve_device(device)  # before loading: a missing device is not the checkpoint's fault
    data = load_checkpoint(path, map_location=device)
    config = config_from_dict(checkpoint_config(data, path), source=f"{path} (config)")
    if flame is not None or aux is not None:
        config.flame.file, config.flame.aux = flame, aux
    assets = build_assets(config.flame)
    model = build_model(without_pretrained(config), assets)  # the checkpoint holds the weights
    try:
        model.load_state_dict(data["model"])
    except RuntimeError as exc:
        raise CheckpointError(
            f"{path}: weights do not fit the model its config describes ({one_line(exc)})"
        ) from exc
    return model.to(device).eval(), config, assets
