"""A deterministic, resumable, rank-aware sampler.

The order of an epoch depends only on (seed, epoch): the same permutation on every rank, split into
interleaved shards (rank r takes positions r, r + world, ...; the permutation is padded by wrapping so
every rank has the same number of items, as torch's DistributedSampler does).  ``start`` skips the
items a resumed run already consumed in the interrupted epoch without loading them.  With ``tag_epoch``
it yields ``(epoch, index)`` keys, so that datasets in loader workers that live across epochs
(``persistent_workers``) draw each epoch's augmentations without being told of the epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

__all__ = ["EpochSampler"]


class EpochSampler(Sampler):
    def __init__(
        self,
        size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        tag_epoch: bool = False,
    ) -> None:
        if size <= 0:
            raise ValueError(f"cannot sample from an empty dataset (size={size})")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside [0, {world_size})")
        self.size, self.shuffle, self.seed, self.rank, self.world_size = size, shuffle, seed, rank, world_size
        self.tag_epoch = tag_epoch
        self.epoch = 0
        self.start = 0

    @property
    def per_rank(self) -> int:
        return math.ceil(self.size / self.world_size)

    def set_epoch(self, epoch: int, *, start: int = 0) -> None:
        """Select the epoch's permutation; skip its first ``start`` items (of this rank)."""
        if not 0 <= start <= self.per_rank:
            raise ValueError(f"start {start} is outside [0, {self.per_rank}]")
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        total = self.per_rank * self.world_size
        order = (order * math.ceil(total / self.size))[:total]  # pad by wrapping
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[int | tuple[int, int]]:
        indices = self.indices()[self.start :]
        return iter([(self.epoch, i) for i in indices] if self.tag_epoch else indices)

    def __len__(self) -> int:
        return self.per_rank - self.start
