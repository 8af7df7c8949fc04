"""Training from a config: ``fit(config, run_dir)``, readable top to bottom.

Files in the run folder: ``config.yaml`` (resolved; ``model.pretrained_file`` names the weights file
the backbone started from), ``last.pt`` (every epoch and every ``train.checkpoint_every`` steps),
``best.pt`` (lowest validation ``train.select_metric``), ``train_log.csv``,
``val_log.csv``, ``curves.png`` and, with ``train.tensorboard``, ``tensorboard/``.  Only rank 0 writes.

Resuming (``resume=True``) restores the model, optimiser, scheduler, RNG states and the position inside the
epoch from ``last.pt``; the data order of an epoch depends only on (seed, epoch), so a resumed run takes the
same batches as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from trans3dhead.checkpoint import (
    CheckpointError,
    checkpoint_config,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from trans3dhead.config import Config, ConfigError, config_from_dict, config_to_dict, save_config
from trans3dhead.data.cache import CachedDataset
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate
from trans3dhead.data.io import DataError
from trans3dhead.data.transforms import Augmentation
from trans3dhead.engine.distributed import DistContext, init_distributed, unwrap
from trans3dhead.engine.ema import ModelEMA
from trans3dhead.engine.evaluate import evaluate, headline_metrics, load_gt_items
from trans3dhead.engine.history import RunLog, plot_curves
from trans3dhead.engine.loop import (
    StepStats,
    build_optimizer,
    build_scheduler,
    steps_per_step,
    train_one_epoch,
)
from trans3dhead.engine.sampler import EpochSampler
from trans3dhead.errors import one_line, shown
from trans3dhead.metrics.report import write_report
from trans3dhead.metrics.topology import BenchmarkTopology
from trans3dhead.models.build import build_assets, build_criterion, build_model, without_pretrained
from trans3dhead.models.marr import mean_face_from_landmarks
from trans3dhead.outputs import undo_on_failure

__all__ = ["FitResult", "fit", "build_augmentation", "compute_mean_face", "unwrap"]

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    """The trained model (unwrapped from DDP), where it was written and how training ended."""

    model: nn.Module
    run_dir: Path
    epochs_done: int
    step: int
    best: dict[str, Any] = field(default_factory=dict)  # epoch, step, metric, value, metrics
    last_metrics: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False


def build_augmentation(config: Config) -> Augmentation | None:
    """The training augmentation of ``config.data`` (None when ``data.augment`` is off)."""
    d = config.data
    if not d.augment:
        return None
    return Augmentation(
        rotate_deg=d.rotate_deg,
        scale=(d.scale_min, d.scale_max),
        shift=d.shift,
        color=d.color,
        blur_prob=d.blur_prob,
        noise_std=d.noise_std,
    )


def _loader(dataset, sampler, config: Config, seed: int, device: torch.device) -> DataLoader:
    """One loader for the whole run: its workers live across epochs (the sampler tags each index with its
    epoch, see EpochSampler); batches are pinned for asynchronous copies to a CUDA device."""
    # A private generator keeps DataLoader's worker seeding off the global RNG (exact resumes).
    return DataLoader(
        dataset,
        batch_size=config.data.batch_size,
        sampler=sampler,
        num_workers=config.data.workers,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=config.data.workers > 0,
        pin_memory=device.type == "cuda",
    )


def _channels_last(config: Config, device: torch.device) -> bool:
    return config.train.channels_last == "on" or (
        config.train.channels_last == "auto" and device.type == "cuda"
    )


def _train_set(config: Config, common: dict[str, Any]) -> DAD3DHeadsDataset | CachedDataset:
    """The training split: the cache named by ``data.cache`` (checked against the run), else the files."""
    if config.data.cache:
        return CachedDataset(
            config.data.cache,
            train=True,
            augmentation=build_augmentation(config),
            seed=common["seed"],
            input_size=common["input_size"],
            crop_style=common["crop_style"],
            split=config.data.train_split,
            assets=common["assets"],
        )
    return DAD3DHeadsDataset(
        split=config.data.train_split,
        train=True,
        augmentation=build_augmentation(config),
        skip_bad=config.data.skip_bad,
        **common,
    )


def _plain_train_set(config: Config, common: dict[str, Any]) -> DAD3DHeadsDataset | CachedDataset:
    """The training split's evaluation crops, unaugmented (MARR's mean face)."""
    if config.data.cache:
        return CachedDataset(config.data.cache, input_size=common["input_size"], assets=common["assets"])
    return DAD3DHeadsDataset(split=config.data.train_split, skip_bad=config.data.skip_bad, **common)


def compute_mean_face(
    dataset: DAD3DHeadsDataset | CachedDataset, *, batch_size: int = 64, workers: int = 0
) -> torch.Tensor:
    """MARR's F_a (Eq. 4): the mean of the training set's GT 68 landmarks in normalised crop coordinates
    (evaluation crop, no augmentation), over the landmarks present in each image."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    landmarks, presence = [], []
    for batch in loader:
        if batch is not None:
            landmarks.append(batch.targets.landmarks)
            presence.append(batch.targets.presence)
    if not landmarks:
        raise DataError(f"{dataset.metadata_path}: no readable item to compute MARR's mean face from")
    landmarks_t, presence_t = torch.cat(landmarks), torch.cat(presence)
    never = presence_t.sum(dim=0) == 0
    if never.any():  # a landmark outside every training crop: average it over all samples instead
        logger.warning(
            "landmarks %s are outside every training crop; MARR uses their plain mean",
            torch.nonzero(never).flatten().tolist(),
        )
        presence_t = presence_t | never[None]
    return mean_face_from_landmarks(landmarks_t, presence_t)


def fit(
    config: Config,
    run_dir: str | Path,
    *,
    resume: bool = False,
    on_step: Callable[[StepStats], None] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    dist: DistContext | None = None,
) -> FitResult:
    """Train ``config`` into ``run_dir`` (``config.data.root`` must name the dataset).

    A fresh run that fails before its first ``last.pt`` leaves nothing behind: the run folder is removed
    when this call created it, else the files it added there (there is nothing to resume from).
    """
    dist = dist or init_distributed()
    run_dir = Path(run_dir)
    if resume or not dist.is_main:
        return _fit(config, run_dir, resume=resume, on_step=on_step, on_epoch=on_epoch, dist=dist)
    with undo_on_failure(run_dir, keep=(run_dir / "last.pt").is_file):
        return _fit(config, run_dir, resume=resume, on_step=on_step, on_epoch=on_epoch, dist=dist)


def _fit(
    config: Config,
    run_dir: Path,
    *,
    resume: bool,
    on_step: Callable[[StepStats], None] | None,
    on_epoch: Callable[[int, dict[str, float]], None] | None,
    dist: DistContext,
) -> FitResult:
    """Setup, resume (or start), then epochs of training each followed by validation when due."""
    if config.data.root is None:
        raise ConfigError("config data.root is not set: pass --data DIR")
    checkpoint = None
    if resume:
        config, checkpoint = _resume_config(config, run_dir / "last.pt")
    torch.manual_seed(config.train.seed)
    if config.train.deterministic:
        torch.use_deterministic_algorithms(True)
    run = _setup(config, run_dir, dist, resumed=checkpoint is not None)
    try:
        return _train_run(run, checkpoint, dist, on_step=on_step, on_epoch=on_epoch)
    finally:
        _release_workers(run.train_loader, run.val_loader)


def _release_workers(*loaders: DataLoader) -> None:
    """Stop the worker processes of persistent ``loaders`` now.

    Left to the garbage collector, each of them costs a join timeout (about 5 s a worker, measured: 20 s
    for a run's four workers, paid by whatever the process does next, e.g. the demo's evaluation).  There
    is no public DataLoader call for this; ``_iterator`` is None when a loader has no workers running.
    """
    for loader in loaders:
        iterator = getattr(loader, "_iterator", None)
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        loader._iterator = None


def _train_run(
    run: _Run,
    checkpoint: dict[str, Any] | None,
    dist: DistContext,
    *,
    on_step: Callable[[StepStats], None] | None,
    on_epoch: Callable[[int, dict[str, float]], None] | None,
) -> FitResult:
    """The epochs of a set-up run, from ``checkpoint`` when resuming (see :func:`_fit`)."""
    run_dir = run.run_dir
    position = _start(run, checkpoint)
    if dist.enabled:
        run.model = nn.parallel.DistributedDataParallel(run.model, find_unused_parameters=True)
    if dist.is_main:
        run.log = RunLog(run_dir, tensorboard=run.config.train.tensorboard, resume_step=position.step)
    t = run.config.train
    while position.epoch < t.epochs and not position.stopped_early and position.step < run.planned:
        _train_epoch(run, position, on_step)
        if position.epoch % t.val_every == 0 or position.epoch == t.epochs or position.step >= run.planned:
            _validate(run, position, on_epoch)
        _save(run, position, "last.pt", at_epoch=position.epoch, at_step=position.step, in_epoch=0)
    if position.stopped_early:
        logger.info(
            "early stop at epoch %d: no better %s since epoch %d",
            position.epoch, t.select_metric, position.best["epoch"],
        )
    if run.log is not None:
        run.log.close()
        plot_curves(run_dir)
    dist.barrier()
    return FitResult(
        model=run.evaluated,
        run_dir=run_dir,
        epochs_done=position.epoch,
        step=position.step,
        best=position.best,
        last_metrics=position.metrics,
        stopped_early=position.stopped_early,
    )


@dataclass
class _Run:
    """What every epoch of one run shares, built once by :func:`_setup`."""

    config: Config
    run_dir: Path
    dist: DistContext
    assets: Any
    common: dict[str, Any]
    model: nn.Module  # wrapped in DDP once started, when distributed
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    channels_last: bool
    train_sampler: EpochSampler
    train_loader: DataLoader
    val_loader: DataLoader
    gt_items: Any
    topology: BenchmarkTopology
    steps_per_epoch: int
    planned: int  # optimiser steps the run makes in all
    per_step: bool  # the scheduler steps per optimiser step (else once per validation)
    log: RunLog | None = None
    ema: ModelEMA | None = None  # train.ema_decay > 0: the weights' moving average, which is validated
    flip: Any = None  # data.flip > 0: a FlipAugment that mirrors training items

    @property
    def evaluated(self) -> nn.Module:
        """The model validation scores and checkpoints call ``"model"``: the moving average when on."""
        return self.ema.module if self.ema is not None else unwrap(self.model)


@dataclass
class _Position:
    """Where the run is: the next epoch, steps done, batches done within the epoch, the best so far."""

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    best: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False


#: Config keys a resumed run may differ in from the given config: the run fills them in itself.
_FILLED_BY_THE_RUN = ("model.pretrained_file",)


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _resume_config(config: Config, last: Path) -> tuple[Config, dict[str, Any]]:
    """The run's saved config and its checkpoint.  A resume continues the run as it was configured: a
    given config that differs from the saved one (other than in what the run fills in itself, such as
    ``model.pretrained_file``) is a ConfigError naming the differing keys, never silently replaced."""
    checkpoint = load_checkpoint(last)
    saved = config_from_dict(checkpoint_config(checkpoint, last), source=str(last))
    given, kept = _flat(config_to_dict(config)), _flat(config_to_dict(saved))
    differ = sorted(
        key
        for key in given.keys() | kept.keys()
        if given.get(key) != kept.get(key)
        and not (key in _FILLED_BY_THE_RUN and given.get(key) is None)
    )
    if differ:
        listed = ", ".join(f"{k} (given {given.get(k)!r}, run {kept.get(k)!r})" for k in differ[:8])
        raise ConfigError(
            f"{last}: the run was configured differently; resume it with its own config "
            f"(trans3dhead train --resume RUN) or train into another folder. Differing keys: {listed}"
            + (f" and {len(differ) - 8} more" if len(differ) > 8 else "")
        )
    return saved, checkpoint


def _setup(config: Config, run_dir: Path, dist: DistContext, *, resumed: bool) -> _Run:
    """Model, criterion, optimiser, data and schedule, in the order that keeps runs reproducible."""
    t = config.train
    assets = build_assets(config.flame)
    if not resumed:
        config = _record_pretrained(config)
    # a resumed run takes every weight from its checkpoint, whatever the weights file's fate since
    model = build_model(without_pretrained(config) if resumed else config, assets).to(dist.device)
    channels_last = _channels_last(config, dist.device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    criterion = build_criterion(config, unwrap(model).flame)
    optimizer = build_optimizer(model, t)
    if t.amp == "fp16" and dist.device.type != "cuda":
        raise ConfigError("train.amp=fp16 needs a CUDA device; use train.amp=bf16 (or off) on the CPU")
    scaler = torch.amp.GradScaler("cuda") if t.amp == "fp16" else None
    common = {
        "root": config.data.root,
        "assets": assets,
        "input_size": config.model.input_size,
        "crop_style": config.model.crop,
        "seed": t.seed,
    }
    train_set, val_set = _datasets(config, common)
    train_sampler = EpochSampler(
        len(train_set), shuffle=True, seed=t.seed, rank=dist.rank, world_size=dist.world_size, tag_epoch=True
    )
    val_sampler = EpochSampler(len(val_set), shuffle=False, rank=dist.rank, world_size=dist.world_size)
    train_loader = _loader(train_set, train_sampler, config, t.seed, dist.device)
    val_loader = _loader(val_set, val_sampler, config, 0, dist.device)
    _, gt_items = load_gt_items(config.data.root, config.data.val_split, skip_bad=config.data.skip_bad)
    topology = BenchmarkTopology.from_assets(assets)
    steps_per_epoch = math.ceil(len(train_sampler) / config.data.batch_size)
    if t.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, t.max_steps_per_epoch)
    planned = t.epochs * steps_per_epoch if not t.max_steps else min(t.max_steps, t.epochs * steps_per_epoch)
    scheduler = build_scheduler(optimizer, t, total_steps=planned)
    return _Run(
        config=config,
        run_dir=run_dir,
        dist=dist,
        assets=assets,
        common=common,
        model=model,
        criterion=criterion,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        channels_last=channels_last,
        train_sampler=train_sampler,
        train_loader=train_loader,
        val_loader=val_loader,
        gt_items=gt_items,
        topology=topology,
        steps_per_epoch=steps_per_epoch,
        planned=planned,
        per_step=steps_per_step(scheduler),
        flip=_flip_augment(config, unwrap(model).flame, assets),
    )


def _flip_augment(config: Config, flame: nn.Module, assets: Any) -> Any:
    """``data.flip``'s :class:`~trans3dhead.data.flip_augment.FlipAugment`, or None when it is off."""
    if not (config.data.augment and config.data.flip > 0):
        return None
    from trans3dhead.data.flip_augment import FlipAugment
    from trans3dhead.models.flip import FlipMirror

    mirror = FlipMirror.from_flame(flame, source=f"data.flip: {assets.model.source}")
    return FlipAugment(mirror=mirror, probability=config.data.flip, seed=config.train.seed)


def _datasets(config: Config, common: dict[str, Any]) -> tuple[Any, DAD3DHeadsDataset]:
    """The training and validation sets, each with at least one item."""
    train_set = _train_set(config, common)
    val_set = DAD3DHeadsDataset(split=config.data.val_split, skip_bad=config.data.skip_bad, **common)
    for dataset in (train_set, val_set):
        if not len(dataset):
            raise DataError(
                f"{dataset.metadata_path}: no items to {'train' if dataset.train else 'validate'} on"
            )
    return train_set, val_set


def _start(run: _Run, checkpoint: dict[str, Any] | None) -> _Position:
    """Restore the checkpoint's training state, or start afresh: write config.yaml, apply
    ``train.init_from`` and MARR's mean face."""
    model, dist = unwrap(run.model), run.dist
    decay = run.config.train.ema_decay
    if checkpoint is not None:
        epoch, step, batch_in_epoch, best = _restore(
            checkpoint,
            run.run_dir / "last.pt",
            model=model,
            optimizer=run.optimizer,
            scheduler=run.scheduler,
            scaler=run.scaler,
        )
        if decay:
            run.ema = ModelEMA(model, decay)
            _restore_ema(run.ema, checkpoint, run.run_dir / "last.pt")
        logger.info(
            "resumed %s at epoch %d, step %d (batch %d of the epoch)",
            run.run_dir, epoch, step, batch_in_epoch,
        )
        return _Position(epoch=epoch, step=step, batch_in_epoch=batch_in_epoch, best=best)
    if dist.is_main:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(run.config, run.run_dir / "config.yaml")
    if run.config.train.init_from:
        _init_from(model, run.config.train.init_from)
    if getattr(model, "needs_mean_face", False):  # MARR "fixed" / "learned_mean" only
        plain = _plain_train_set(run.config, run.common)
        blank = torch.zeros(run.assets.aux.num_landmarks, 2)
        mean = compute_mean_face(plain, workers=run.config.data.workers) if dist.is_main else blank
        model.set_mean_face(dist.broadcast(mean.to(torch.float32)))
    if decay:  # the average starts at the run's first weights (after init_from and the mean face)
        run.ema = ModelEMA(model, decay)
    return _Position()


def _save(run: _Run, position: _Position, name: str, *, at_epoch: int, at_step: int, in_epoch: int) -> None:
    """Write ``name`` (last.pt, best.pt) on the main process: the whole training state."""
    if not run.dist.is_main:
        return
    ema = {}
    if run.ema is not None:  # the live weights (what a resume continues) beside the average in "model"
        ema = {"train_model": unwrap(run.model).state_dict(), "ema_updates": run.ema.updates}
    save_checkpoint(
        run.run_dir / name,
        {
            "model": run.evaluated.state_dict(),
            **ema,
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "scaler": run.scaler.state_dict() if run.scaler else None,
            "epoch": at_epoch,
            "step": at_step,
            "batch_in_epoch": in_epoch,
            "best": position.best,
            "rng": rng_state(),
            "config": config_to_dict(run.config),
        },
    )


def _report_at(t, first: int) -> Callable[[int], bool]:
    """The steps whose losses are read from the device (see train_one_epoch): the epoch's first, every
    log_every-th and every checkpoint_every-th."""
    return lambda s: (
        s == first or s % t.log_every == 0 or bool(t.checkpoint_every and s % t.checkpoint_every == 0)
    )


def _after_step(
    run: _Run, position: _Position, on_step: Callable[[StepStats], None] | None, stats: StepStats
) -> None:
    """At a reported step: log the losses, write last.pt when due, call the caller's ``on_step``."""
    t = run.config.train
    if run.log is not None:
        run.log.train(
            {
                "epoch": stats.epoch,
                "step": stats.step,
                "loss": stats.loss,
                "lr": stats.lr,
                "items_per_s": round(stats.items_per_s, 2),
                "skipped": stats.skipped,
                **{f"loss_{k}": v for k, v in stats.losses.items()},
            }
        )
    if t.checkpoint_every and stats.step % t.checkpoint_every == 0:
        _save(run, position, "last.pt", at_epoch=stats.epoch, at_step=stats.step, in_epoch=stats.batch_index)
    if on_step is not None:
        on_step(stats)


def _train_epoch(run: _Run, position: _Position, on_step: Callable[[StepStats], None] | None) -> None:
    """One epoch (or what is left of it after a resume, or of the planned steps); advances ``position``."""
    t, batch_size = run.config.train, run.config.data.batch_size
    run.train_sampler.set_epoch(
        position.epoch, start=min(position.batch_in_epoch * batch_size, run.train_sampler.per_rank)
    )
    position.step = train_one_epoch(
        model=run.model,
        criterion=run.criterion,
        batches=run.train_loader,
        optimizer=run.optimizer,
        epoch=position.epoch,
        step=position.step,
        device=run.dist.device,
        grad_clip=t.grad_clip,
        scaler=run.scaler,
        amp=t.amp,
        first_batch_index=position.batch_in_epoch,
        max_steps=min(run.steps_per_epoch, position.batch_in_epoch + run.planned - position.step),
        scheduler=run.scheduler if run.per_step else None,
        on_step=functools.partial(_after_step, run, position, on_step),
        report_at=_report_at(t, position.step + 1),
        channels_last=run.channels_last,
        ema=run.ema,
        flip=run.flip,
    )
    position.epoch, position.batch_in_epoch = position.epoch + 1, 0


def _validate(
    run: _Run, position: _Position, on_epoch: Callable[[int, dict[str, float]], None] | None
) -> None:
    """Score the validation split; keep best.pt and its report; step a per-validation scheduler; decide
    whether to stop early."""
    t, dist = run.config.train, run.dist
    result = evaluate(
        run.evaluated,
        run.val_loader,
        gt_items=run.gt_items,
        topology=run.topology,
        device=dist.device,
        dist=dist,
        camera_focal=run.config.model.camera_focal,
    )
    metrics = position.metrics = headline_metrics(result)
    if run.log is not None:
        run.log.val(
            {"epoch": position.epoch, "step": position.step, **{k: round(v, 6) for k, v in metrics.items()}}
        )
    select = t.select_metric
    if select not in metrics:
        raise ConfigError(
            f"train.select_metric={select!r} is not among the validation metrics "
            f"{sorted(metrics)} (no item of {run.config.data.val_split!r} could be scored on it)"
        )
    value = metrics[select]
    if value < position.best.get("value", math.inf):
        at = {"epoch": position.epoch, "step": position.step}
        position.best = {**at, "metric": select, "value": value, "metrics": metrics}
        _save(run, position, "best.pt", at_epoch=position.epoch, at_step=position.step, in_epoch=0)
        if dist.is_main:
            write_report(result, run.run_dir / "best_val_report")
    if on_epoch is not None:
        on_epoch(position.epoch, metrics)
    if not run.per_step:
        run.scheduler.step(value)
    position.stopped_early = _early_stop(t, position.epoch, position.best)


_RESUME_KEYS = ("optimizer", "scheduler", "epoch", "step", "batch_in_epoch", "rng")


def _restore(
    checkpoint: dict[str, Any], path: Path, *, model: nn.Module, optimizer, scheduler, scaler
) -> tuple[int, int, int, dict[str, Any]]:
    """Load a checkpoint's training state into the objects; returns (epoch, step, batch in epoch, best).

    A checkpoint that cannot continue this run (a slim one, or one of another model or optimiser) is a
    CheckpointError that says so, not a traceback from deep inside torch.
    """
    missing = [key for key in _RESUME_KEYS if key not in checkpoint]
    if missing:
        raise CheckpointError(f"{path}: cannot resume from it, it has no {missing} (a slim checkpoint?)")
    position = [checkpoint[key] for key in ("epoch", "step", "batch_in_epoch")]
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in position):
        raise CheckpointError(f"{path}: epoch, step and batch_in_epoch must be integers >= 0, got {position}")
    try:
        model.load_state_dict(checkpoint.get("train_model", checkpoint["model"]))  # live weights under EMA
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        if scaler is not None and checkpoint.get("scaler"):
            scaler.load_state_dict(checkpoint["scaler"])
        set_rng_state(checkpoint["rng"])
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise CheckpointError(f"{path}: cannot resume from it ({one_line(exc)})") from None
    best = checkpoint.get("best") or {}
    return *position, best if isinstance(best, dict) else {}


def _restore_ema(ema: ModelEMA, checkpoint: dict[str, Any], path: Path) -> None:
    """The moving average of a run with ``train.ema_decay``: the checkpoint's ``"model"``."""
    updates = checkpoint.get("ema_updates")
    counted = isinstance(updates, int) and not isinstance(updates, bool) and updates >= 0
    if "train_model" not in checkpoint or not counted:
        raise CheckpointError(
            f"{path}: cannot resume a run with train.ema_decay from it: it has no moving average "
            f"('train_model' and 'ema_updates' >= 0; ema_updates={shown(updates)})"
        )
    try:
        ema.load_state_dict(checkpoint["model"], updates=updates)
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot resume its moving average ({one_line(exc)})") from None


def _init_from(model: nn.Module, path: str) -> None:
    """Start from a checkpoint's model weights (any float dtype; slim checkpoints store float16)."""
    weights = load_checkpoint(path)["model"]
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise ConfigError(
            f"train.init_from={path}: its weights do not fit this config's model ({one_line(exc)})"
        ) from None
    logger.info("model weights initialised from %s", path)


def _early_stop(t, epoch: int, best: dict[str, Any]) -> bool:
    """``early_stop_patience`` epochs without a better ``select_metric``, and at least ``min_epochs``."""
    if not t.early_stop_patience or epoch < t.min_epochs or "epoch" not in best:
        return False
    return epoch - best["epoch"] >= t.early_stop_patience


def _record_pretrained(config: Config) -> Config:
    """The config with ``model.pretrained_file`` set to the weights file ``model.pretrained`` resolves to
    (an error that says how to get ImageNet weights when they are missing)."""
    from trans3dhead.models.imagenet import resolve_pretrained

    m = config.model
    if m.backbone.startswith("timm:"):
        path = None if m.pretrained in (None, "none") else m.pretrained
    else:
        path = resolve_pretrained(m.backbone, m.pretrained)
    if path is not None:
        logger.info("backbone %s starts from %s", m.backbone, path)
    model = dataclasses.replace(m, pretrained_file=None if path is None else str(path))
    return dataclasses.replace(config, model=model)
