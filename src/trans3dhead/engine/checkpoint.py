"""Compatibility name: checkpoints live in :mod:`trans3dhead.checkpoint` (below `models` and `engine`)."""

from trans3dhead.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    checkpoint_config,
    code_version,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
    slim_checkpoint,
)

__all__ = [
    "FORMAT_VERSION",
    "checkpoint_config",
    "slim_checkpoint",
    "code_version",
    "rng_state",
    "set_rng_state",
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointError",
]
