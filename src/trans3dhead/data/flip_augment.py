"""Mirror training items left to right, the image and every target with it (``data.flip``).

A head in a mirror is another plausible head, so each training item is mirrored with probability
``data.flip``: the crop is flipped and its targets mapped as :mod:`trans3dhead.models.flip` maps a
prediction (pixel ``x`` of the crop is pixel ``S - 1 - x`` of its mirror image):

* landmarks (normalised) ``u -> (S - 1) / S - u``, renumbered by their left-right partners, and the
  presence mask with them;
* the GT vertices (model space, no pose) ``x -> -x``, each vertex taking its mirror partner's place, and
  their projection ``x -> S - 1 - x`` likewise;
* the rotation ``R -> F R F`` with ``F = diag(-1, 1, 1)``, and the Euler angles recomputed from it.

This runs on the device after the rest of the augmentation (cached batches included), for any batch.  The
items to mirror are drawn from a generator seeded with the run's seed and the global step, so a resumed
run mirrors the same items.  Needs a left-right symmetric head model
(:class:`~trans3dhead.models.flip.FlipMirror`).

Letters: B batch, N landmarks, V vertices, S crop side.
"""

from __future__ import annotations

import torch
from torch import Tensor

from trans3dhead.errors import InputError
from trans3dhead.geometry.rotation import matrix_to_euler
from trans3dhead.models.flip import FlipMirror
from trans3dhead.types import HeadTargets

__all__ = ["FlipAugment", "mirror_targets"]


def mirror_targets(targets: HeadTargets, mirror: FlipMirror) -> HeadTargets:
    """Every item's targets for its mirrored crop (the crop side is ``mirror.image_size``)."""
    rotation = mirror.mirror_rotation(targets.rotation)
    return HeadTargets(
        landmarks=mirror.unmirror_landmarks(targets.landmarks),  # its own inverse
        presence=targets.presence[:, mirror.landmark_perm.to(targets.presence.device)],
        vertices=mirror.mirror_vertices(targets.vertices),
        projected=mirror.mirror_pixels(targets.projected),
        rotation=rotation,
        euler=matrix_to_euler(rotation).to(targets.euler.dtype),
    )


class FlipAugment:
    """Mirror each item of a training batch with probability ``probability`` (see the module docstring).

    Args:
        mirror: the model's mirror (:meth:`FlipMirror.from_flame` of its FLAME layer).
        probability: chance that an item is mirrored, in [0, 1].
        seed: the run's seed; with the global step it fixes which items are mirrored.
    """

    def __init__(self, *, mirror: FlipMirror, probability: float, seed: int) -> None:
        if not 0.0 <= probability <= 1.0:
            raise InputError(f"data.flip must be a probability in [0, 1], got {probability}")
        self.mirror, self.probability, self.seed = mirror, float(probability), int(seed)

    def mask(self, batch: int, step: int) -> Tensor:
        """(B,) bool on the CPU: which items of global step ``step``'s batch are mirrored."""
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + step) % (2**63))
        return torch.rand(batch, generator=generator) < self.probability

    def __call__(self, images: Tensor, targets: HeadTargets, *, step: int) -> tuple[Tensor, HeadTargets]:
        """images (B, 3, S, S) and their targets -> the same with the drawn items mirrored."""
        chosen = self.mask(images.shape[0], step).to(images.device)
        if images.shape[-1] != self.mirror.image_size:
            raise InputError(
                f"data.flip: the crops are {images.shape[-1]} px, the FLAME layer projects to "
                f"{self.mirror.image_size} px"
            )
        images = torch.where(chosen[:, None, None, None], images.flip(-1), images)
        mirrored = mirror_targets(targets, self.mirror)
        picked = {
            name: torch.where(_expand(chosen, value), getattr(mirrored, name), value)
            for name, value in vars(targets).items()
        }
        return images, HeadTargets(**picked)


def _expand(mask: Tensor, like: Tensor) -> Tensor:
    """(B,) -> broadcastable against ``like`` (B, ...)."""
    return mask.reshape(-1, *([1] * (like.ndim - 1)))
