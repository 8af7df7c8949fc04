"""Generate a synthetic DAD-3DHeads-format dataset: seeds, worker processes, resume.

Item ``i`` of split ``s`` is a pure function of ``SeedSequence([seed, crc32(s), i])`` (see
:func:`item_seed`), so the output is byte-identical whatever the number of workers and however often a
run was interrupted and resumed.  :func:`generate_dataset` is an iterator of :class:`ItemDone` events
(one per item, in completion order) so callers can draw progress, and stopping the iteration early is a
clean interruption: the next call finishes the job.  Workers are separate processes (``spawn``, one
FLAME layer and renderer each, single-threaded torch) that write their items themselves.
"""

from __future__ import annotations

import logging
import multiprocessing
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trans3dhead.data.synthetic.item import HeadSynthesizer, SceneOptions
from trans3dhead.data.synthetic.sampling import POSE_MIX
from trans3dhead.data.synthetic.store import DatasetStore, item_id, model_fingerprint
from trans3dhead.errors import InputError
from trans3dhead.flame import FlameAssets

__all__ = ["ItemDone", "item_seed", "generate_item", "generate_dataset", "FORMAT_VERSION"]

logger = logging.getLogger(__name__)

#: Bumped whenever a change of the generator changes its output for a given seed.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ItemDone:
    """Progress event: item ``index`` of ``split`` is complete; ``skipped`` when an earlier run made it."""

    split: str
    index: int
    item_id: str
    skipped: bool


def item_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The seed of one item, from the dataset seed, the split name and the item index."""
    return np.random.SeedSequence([seed, zlib.crc32(split.encode("utf-8")), index])


def generate_item(
    synthesizer: HeadSynthesizer, store: DatasetStore, *, seed: int, split: str, index: int
) -> dict[str, Any]:
    """Generate and write one item; returns its metadata entry."""
    name = item_id(split, index)
    item = synthesizer.generate(item_seed(seed, split, index))
    entry = store.entry(split, name, bbox=item.bbox, attributes=item.attributes)
    store.write_item(split, name, image=item.image, annotation=item.annotation_json(), entry=entry)
    return entry


def _check_arguments(counts: Mapping[str, int], seed: int, workers: int) -> None:
    for split, count in counts.items():
        if not split or "/" in split or split.startswith("."):
            raise InputError(f"split names must be plain folder names, got {split!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InputError(f"the item count of split '{split}' must be an integer >= 0, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be an integer >= 0, got {seed!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be an integer >= 1, got {workers!r}")


# Per-process state of a worker, set once by its initializer.
_WORKER: dict[str, Any] = {}


def _init_worker(assets: FlameAssets, options: SceneOptions, root: str, seed: int) -> None:
    import torch

    torch.set_num_threads(1)  # this process is ours: one core per worker
    _WORKER.update(synth=HeadSynthesizer(assets=assets, options=options), store=DatasetStore(root), seed=seed)


def _work(task: tuple[str, int]) -> tuple[str, int, dict[str, Any]]:
    split, index = task
    entry = generate_item(_WORKER["synth"], _WORKER["store"], seed=_WORKER["seed"], split=split, index=index)
    return split, index, entry


def _settings(assets: FlameAssets, options: SceneOptions, seed: int) -> dict[str, Any]:
    settings = {
        "generator": "trans3dhead synth",
        "format_version": FORMAT_VERSION,
        "seed": seed,
        **asdict(options),
        "focal_range": list(options.focal_range),  # as JSON reads it back
        "pose_mix": list(options.pose_mix),
        "model": model_fingerprint(assets),
    }
    if options.pose_mix == POSE_MIX:  # datasets made before the option existed resume unchanged
        del settings["pose_mix"]
    return settings


def generate_dataset(
    root: str | Path,
    *,
    assets: FlameAssets,
    counts: Mapping[str, int],
    seed: int = 0,
    options: SceneOptions | None = None,
    workers: int = 1,
) -> Iterator[ItemDone]:
    """Generate (or finish) the splits ``counts`` (split name -> number of items) under ``root``.

    Splits are processed in the given order; items already complete are reported as skipped, the others
    generated; when every item of a split is complete its ``<split>.json`` lists items ``0 .. n - 1``.  A
    split with count 0 is left untouched.

    Raises:
        ValueError: bad counts, seed or workers, or a ``root`` that is a file, a foreign dataset or a
            synthetic dataset made with other settings.
    """
    options = options or SceneOptions()
    _check_arguments(counts, seed, workers)
    store = DatasetStore(root)
    store.prepare_root(_settings(assets, options, seed))
    executor = _Executor(assets=assets, options=options, store=store, seed=seed, workers=workers)
    try:
        for split, count in counts.items():
            if count:
                yield from _generate_split(store, split, count, executor)
    finally:
        executor.close()


class _Executor:
    """Generates items in this process (``workers == 1``) or in a pool of worker processes, started on
    first use so that a finished dataset costs no start-up."""

    def __init__(
        self, *, assets: FlameAssets, options: SceneOptions, store: DatasetStore, seed: int, workers: int
    ) -> None:
        self.assets, self.options, self.store, self.seed, self.workers = assets, options, store, seed, workers
        self.pool = None
        self.synthesizer: HeadSynthesizer | None = None

    def run(self, split: str, indices: list[int]) -> Iterator[tuple[int, dict[str, Any]]]:
        """(index, metadata entry) of every item in ``indices``, in completion order."""
        if not indices:
            return
        if self.workers == 1:
            if self.synthesizer is None:
                self.synthesizer = HeadSynthesizer(assets=self.assets, options=self.options)
            for i in indices:
                yield i, generate_item(self.synthesizer, self.store, seed=self.seed, split=split, index=i)
            return
        if self.pool is None:
            context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
            args = (self.assets, self.options, str(self.store.root), self.seed)
            self.pool = context.Pool(self.workers, _init_worker, args)
        for _, i, entry in self.pool.imap_unordered(_work, [(split, i) for i in indices], chunksize=1):
            yield i, entry

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


def _generate_split(store: DatasetStore, split: str, count: int, executor: _Executor) -> Iterator[ItemDone]:
    store.prepare_split(split)
    entries: list[dict[str, Any] | None] = [None] * count
    todo = []
    for index in range(count):
        name = item_id(split, index)
        entries[index] = store.complete_entry(split, name)
        if entries[index] is not None:
            yield ItemDone(split, index, name, skipped=True)
        else:
            todo.append(index)
    if todo and len(todo) < count:
        logger.info("%s: resuming, %d of %d items already complete", split, count - len(todo), count)
    for index, entry in executor.run(split, todo):
        entries[index] = entry
        yield ItemDone(split, index, item_id(split, index), skipped=False)
    path = store.write_split(split, [e for e in entries if e is not None])
    logger.info("%s: wrote %s (%d items)", split, path, count)
