"""Self-contained, atomically written checkpoints (below `models` and `engine`, which both use it).

A checkpoint holds the model state, optimiser and scheduler states, the position in training (epoch,
step, batches done within the epoch), every RNG state, the resolved config and the code version.  It is
written to a temporary file in the same folder and renamed into place, so an interrupted write never
leaves a broken checkpoint behind, and it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import trans3dhead
from trans3dhead.atomic import atomic_open
from trans3dhead.config import apply_overrides, config_from_dict, config_to_dict
from trans3dhead.errors import InputError, shown

__all__ = [
    "checkpoint_config",
    "slim_checkpoint",
    "average_weights",
    "code_version",
    "rng_state",
    "set_rng_state",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
]

FORMAT_VERSION = 1


class CheckpointError(InputError):
    """A checkpoint file is missing, unreadable or not a trans3dhead checkpoint."""


def code_version() -> str:
    """Package version plus the git commit when run from a checkout."""
    version = trans3dhead.__version__
    try:
        root = Path(trans3dhead.__file__).resolve().parents[2]
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{version}+{commit}" if commit else version


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states as plain, ``weights_only``-loadable values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (the legacy global state)
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": pos,
            "has_gauss": has_gauss,
            "gauss": gauss,
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    n = state["numpy"]
    legacy = (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    np.random.set_state(legacy)  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plus format and code version) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format_version": FORMAT_VERSION, "code_version": code_version(), **payload}
    with atomic_open(path, fsync=True) as handle:
        torch.save(data, handle)
    return path


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt / foreign files
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {_reason(exc)})"
        ) from exc
    if not isinstance(data, dict) or "format_version" not in data or "model" not in data:
        raise CheckpointError(f"{path}: not a trans3dhead checkpoint (no 'format_version' / 'model')")
    version = data["format_version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path}: 'format_version' must be an integer, got {shown(version)}")
    _check_weights(data["model"], path, "model")
    if data["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {data['format_version']} is newer than this code "
            f"({FORMAT_VERSION}); upgrade trans3dhead"
        )
    return data


def checkpoint_config(data: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The resolved config a loaded checkpoint holds (a CheckpointError when it has none), with keys
    renamed since it was written under their new names (``flame.model`` -> ``flame.file``; silently: the
    stored config is not the user's writing)."""
    from trans3dhead.config import upgrade_renamed_keys

    config = data.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: the checkpoint holds no config (a mapping under 'config')")
    return upgrade_renamed_keys(config, f"{path} (config)", quiet=True)


def _reason(exc: Exception) -> str:
    """The informative line of torch's (often multi-paragraph) loading error."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:  # weights_only refusals: the reason follows the marker, then advice follows it
        text = text.split(marker, 1)[1].split("Check the documentation", 1)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(exc).__name__


#: config keys ``slim_checkpoint`` may set: how predictions are read out, not what the weights are
SLIM_SETTABLE = ("model.camera_focal", "model.landmarks")


def slim_checkpoint(
    source: str | Path | Sequence[str | Path],
    target: str | Path,
    *,
    dtype: torch.dtype = torch.float16,
    overrides: Sequence[str] = (),
    live: bool = False,
) -> dict[str, Any]:
    """Write a deployable copy of ``source``: the model weights (floating-point tensors stored as
    ``dtype``; they load into float32 models unchanged) and the resolved config, without optimiser,
    scheduler and RNG state.  Several sources: their weights averaged (:func:`average_weights`), the
    config and step of the last.  ``overrides`` (``key=value``, keys of :data:`SLIM_SETTABLE`) change the
    written config.  ``live``: a run trained with ``train.ema_decay`` keeps the moving average as its
    ``"model"`` and the live weights as ``"train_model"``; take the latter.  Returns what was written
    (keys ``model``, ``config``, ``slim``)."""
    sources = [source] if isinstance(source, str | Path) else list(source)
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key not in SLIM_SETTABLE:
            raise InputError(
                f"--set {item!r}: only {', '.join(SLIM_SETTABLE)} can be set in a slim checkpoint "
                "(the other keys describe the weights)"
            )
    if len(sources) == 1:
        data = load_checkpoint(sources[0])
        weights = _weights(data, sources[0], live=live)
    else:
        weights, data = _average(sources, live=live)
    model = {key: value.to(dtype) if value.is_floating_point() else value for key, value in weights.items()}
    slim: dict[str, Any] = {"source": str(sources[0]), "dtype": str(dtype).removeprefix("torch.")}
    if len(sources) > 1:
        slim.update(source=[str(s) for s in sources], averaged=len(sources))
    if live:
        slim["weights"] = "train_model"
    config = checkpoint_config(data, sources[-1])
    if overrides:
        changed = apply_overrides(config, list(overrides), source="--set")
        config = config_to_dict(config_from_dict(changed, source=f"{sources[-1]} (config with --set)"))
        slim["set"] = list(overrides)
    payload = {
        "model": model,
        "config": config,
        "epoch": data.get("epoch"),
        "step": data.get("step"),
        "slim": slim,
    }
    save_checkpoint(target, payload)
    return payload


def average_weights(sources: Sequence[str | Path]) -> dict[str, torch.Tensor]:
    """The mean of the model weights of ``sources`` (a uniform "model soup": checkpoints of one run or
    of runs continued from each other), computed in float64 and stored in each tensor's dtype; integer
    tensors (BatchNorm's step counters) are the last source's.  The checkpoints must hold the same model
    config and the same tensors (names and shapes); a CheckpointError names the file and what differs."""
    return _average(sources)[0]


def _model_config(data: dict[str, Any], path: str | Path) -> Any:
    """The checkpoint's model config, resolved (keys added to the code after it was written read as
    their defaults, so an older checkpoint compares equal to a newer one of the same model), without the
    read-out settings of :data:`SLIM_SETTABLE`, which do not describe the weights."""
    model = config_from_dict(checkpoint_config(data, path), source=f"{path} (config)").model
    defaults = type(model)()
    for key in SLIM_SETTABLE:
        name = key.removeprefix("model.")
        setattr(model, name, getattr(defaults, name))
    return model


def _weights(data: dict[str, Any], path: str | Path, *, live: bool = False) -> dict[str, torch.Tensor]:
    """A loaded checkpoint's weights: ``"model"``, or with ``live`` the live weights ``"train_model"`` of a
    run trained with a moving average (a CheckpointError when it has none)."""
    if not live:
        return data["model"]
    weights = data.get("train_model")
    if weights is None:
        raise CheckpointError(
            f"{path}: it holds no live weights ('train_model'): only a checkpoint of a run trained with "
            "train.ema_decay has them beside the average; drop --live"
        )
    _check_weights(weights, path, "train_model")
    return weights


def _check_weights(weights: Any, path: str | Path, key: str) -> None:
    """A CheckpointError unless a checkpoint's ``key`` maps parameter names to tensors."""
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise CheckpointError(f"{path}: '{key}' must map parameter names to tensors")


def _average(
    sources: Sequence[str | Path], *, live: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """:func:`average_weights` and the last source's loaded checkpoint (its config and step), each file
    read once; ``live``: of the live weights (see :func:`slim_checkpoint`)."""
    if len(sources) < 2:
        raise InputError(f"averaging needs at least two checkpoints, got {len(sources)}")
    first = load_checkpoint(sources[0])
    reference, model_config = _weights(first, sources[0], live=live), _model_config(first, sources[0])
    total = {key: value.double() for key, value in reference.items() if value.is_floating_point()}
    last, last_weights = first, reference
    for path in sources[1:]:
        data = load_checkpoint(path)
        if _model_config(data, path) != model_config:
            raise CheckpointError(f"{path}: its model config differs from {sources[0]}'s: cannot average")
        weights = _weights(data, path, live=live)
        if set(weights) != set(reference):
            extra = sorted(set(weights) ^ set(reference))[:3]
            raise CheckpointError(f"{path}: its weights differ from {sources[0]}'s in the tensors {extra}")
        for key, value in weights.items():
            if value.shape != reference[key].shape:
                raise CheckpointError(
                    f"{path}: tensor {key} has shape {tuple(value.shape)}, {sources[0]}'s "
                    f"{tuple(reference[key].shape)}"
                )
            if key in total:
                total[key] += value.double()
        last, last_weights = data, weights
    count = len(sources)
    mean = {
        key: (total[key] / count).to(value.dtype) if key in total else last_weights[key].clone()
        for key, value in reference.items()
    }
    return mean, last
