"""Experiments on a fixed synthetic benchmark: ``trans3dhead experiment SPEC.yaml --out DIR``.

A spec names a synthetic DAD-3DHeads-format benchmark (split sizes, image size, seed, camera) and a list
of arms, each a config plus overrides, trained at an equal budget (optimiser steps x batch) and
evaluated on the test split with the benchmark metrics, both landmark sources and the per-attribute rows
(pose subsets included)::

    name: synthetic-cpu
    data: {train: 2000, val: 100, test: 200, image_size: 128, seed: 0, focal: [0.9, 4.0], workers: 2}
    budget: {steps: 600, batch_size: 16, warmup_steps: 30, milestones: [0.8], val_every_steps: 100}
    common: [model.dropout=0.0]                    # overrides for every arm
    arms:
      - {name: dad3dnet, config: configs/cpu/dad3dnet_r18_128.yaml}
      - {name: final, config: configs/cpu/trans3dhead_r18_128.yaml, overrides: [model.marr=fixed]}

Config paths are relative to the spec file.  ``data.pose_mix: [near-frontal, wide, anything]`` changes the
shares of the generator's pose modes (default 0.55 / 0.30 / 0.15; "anything" holds the back views) for
the whole benchmark, test split included (score a standard split with ``trans3dhead eval``).
``data.cache: true`` decodes and crops the training split
once into ``data/cache_train`` (``trans3dhead data cache``) and trains every arm from it
(``data.cache``: augmentation on the training device), for runs the file loader would slow down (a
GPU's; see docs/gpu.md).  The budget sets ``data.batch_size``, the epochs and
``train.max_steps_per_epoch`` so that every arm takes ``steps`` optimiser steps, and the step schedule's
warm-up and milestones (fractions of the steps).  Output under ``DIR``: ``data/`` (the benchmark),
``arms/<name>/run`` (the training run), ``arms/<name>/test`` (submission, GT, report),
``arms/<name>/result.json``, and ``results.json``, ``results.md``, ``curves.png`` over all arms.  Running
again continues: the data set is finished, finished arms are kept, an interrupted arm resumes from its
last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from trans3dhead import jsonio
from trans3dhead.config import ConfigError, UniqueKeyLoader, load_config, yaml_error_text
from trans3dhead.errors import InputError

__all__ = ["ExperimentSpec", "Arm", "load_spec", "run_experiment", "RESULT_KEYS"]

logger = logging.getLogger(__name__)

#: Overall metrics of results.md, in order.
RESULT_KEYS = ("nme_flame", "nme_branch", "z5_accuracy", "chamfer", "pose_error", "pose_angle_deg")
_DATA_KEYS = {"train", "val", "test", "image_size", "seed", "focal", "workers", "cache", "pose_mix"}
_BUDGET_KEYS = {"steps", "batch_size", "warmup_steps", "milestones", "val_every_steps"}


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    config: Path
    overrides: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
    name: str
    data: dict[str, Any]
    budget: dict[str, Any]
    common: tuple[str, ...]
    arms: tuple[Arm, ...]
    source: Path


def _fail(source: Path, message: str) -> ConfigError:
    return ConfigError(f"{source}: {message}")


def _section(raw: dict, key: str, allowed: set[str], source: Path) -> dict[str, Any]:
    section = raw.get(key, {})
    if not isinstance(section, dict):
        raise _fail(source, f"'{key}' must be a mapping, got {section!r}")
    unknown = sorted(set(section) - allowed, key=str)
    if unknown:
        raise _fail(source, f"unknown key(s) {unknown} in '{key}'; valid keys: {sorted(allowed)}")
    return section


def _positive_int(section: dict, key: str, where: str, source: Path, default: int | None = None) -> int:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if default == 0 else 1):
        raise _fail(source, f"{where}.{key} must be a positive integer, got {value!r}")
    return value


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and check an experiment spec; errors name the file and the key."""
    source = Path(path)
    try:
        raw = yaml.load(source.read_text(), Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise ConfigError(f"{source}: experiment spec not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML ({yaml_error_text(exc)})") from exc
    if not isinstance(raw, dict):
        raise _fail(source, "expected a mapping with name, data, budget, arms")
    unknown = sorted(set(raw) - {"name", "data", "budget", "common", "arms"}, key=str)
    if unknown:
        raise _fail(source, f"unknown top-level key(s) {unknown}")
    data = _section(raw, "data", _DATA_KEYS, source)
    budget = _section(raw, "budget", _BUDGET_KEYS, source)
    data = {
        "train": _positive_int(data, "train", "data", source),
        "val": _positive_int(data, "val", "data", source),
        "test": _positive_int(data, "test", "data", source),
        "image_size": _positive_int(data, "image_size", "data", source, 128),
        "seed": _positive_int(data, "seed", "data", source, 0),
        "workers": _positive_int(data, "workers", "data", source, 2),
        "focal": _focal(data.get("focal", [0.9, 4.0]), source),
        "cache": _flag(data, "cache", "data", source),
        "pose_mix": _pose_mix(data.get("pose_mix"), source),
    }
    budget = {
        "steps": _positive_int(budget, "steps", "budget", source),
        "batch_size": _positive_int(budget, "batch_size", "budget", source),
        "warmup_steps": _positive_int(budget, "warmup_steps", "budget", source, 0),
        "val_every_steps": _positive_int(budget, "val_every_steps", "budget", source, 0),
        "milestones": budget.get("milestones", [2.0 / 3.0]),
    }
    arms = _arms(raw.get("arms"), source)
    common = raw.get("common", []) or []
    if not isinstance(common, list) or not all(isinstance(o, str) for o in common):
        raise _fail(source, f"common must be a list of key=value overrides, got {common!r}")
    name = str(raw.get("name", source.stem))
    spec = ExperimentSpec(name, data, budget, tuple(common), arms, source)
    for arm in arms:  # every arm's config must load before anything runs
        arm_config(spec, arm, data_root=Path("data"))
    return spec


def _flag(section: dict, key: str, where: str, source: Path) -> bool:
    value = section.get(key, False)
    if not isinstance(value, bool):
        raise _fail(source, f"{where}.{key} must be true or false, got {value!r}")
    return value


def _focal(value: Any, source: Path) -> tuple[float, float]:
    ok = isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value)
    if not ok or not 0 < value[0] <= value[1]:
        raise _fail(source, f"data.focal must be [low, high] with 0 < low <= high, got {value!r}")
    return float(value[0]), float(value[1])


def _pose_mix(value: Any, source: Path) -> tuple[float, float, float] | None:
    """``data.pose_mix`` (shares of the near-frontal, wide and anything poses; None: the generator's)."""
    from trans3dhead.data.synthetic.sampling import check_pose_mix

    if value is None:
        return None
    if not isinstance(value, list):
        raise _fail(source, f"data.pose_mix must be a list [near-frontal, wide, anything], got {value!r}")
    try:
        return check_pose_mix(value)
    except InputError as exc:
        raise _fail(source, f"data.{exc}") from None


def _arms(raw: Any, source: Path) -> tuple[Arm, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(source, "arms must be a non-empty list of {name, config, overrides}")
    arms, names = [], set()
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or set(entry) - {"name", "config", "overrides"} or "name" not in entry:
            raise _fail(source, f"arms[{i}] must be a mapping with name, config and optional overrides")
        name = str(entry["name"])
        if not name.replace("_", "").replace("-", "").isalnum() or name in names:
            raise _fail(source, f"arms[{i}].name {name!r} must be unique, letters, digits, '-' or '_'")
        names.add(name)
        overrides = entry.get("overrides", []) or []
        if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
            raise _fail(source, f"arms[{i}].overrides must be a list of key=value strings")
        config = entry.get("config")
        if not isinstance(config, str):
            raise _fail(source, f"arms[{i}].config must be the path of a config file")
        arms.append(Arm(name, (source.parent / config).resolve(), tuple(overrides)))
    return tuple(arms)


def _schedule(spec: ExperimentSpec) -> tuple[int, int, int]:
    """(epochs, steps per epoch, validate every N epochs) for ``budget.steps`` steps (``train.max_steps``
    ends the last epoch early when the steps do not divide)."""
    b = spec.budget
    available = math.ceil(spec.data["train"] / b["batch_size"])
    per_epoch = min(available, b["steps"])
    epochs = math.ceil(b["steps"] / per_epoch)
    val_every = max(1, round(b["val_every_steps"] / per_epoch)) if b["val_every_steps"] else 1
    return epochs, per_epoch, val_every


def arm_config(spec: ExperimentSpec, arm: Arm, *, data_root: Path):
    """The arm's resolved config: its file, the spec's budget and data, the common and arm overrides."""
    epochs, per_epoch, val_every = _schedule(spec)
    b = spec.budget
    budget = [
        f"data.root={data_root}",
        f"data.batch_size={b['batch_size']}",
        f"data.workers={spec.data['workers']}",
        f"model.input_size={spec.data['image_size']}",
        f"train.epochs={epochs}",
        f"train.max_steps_per_epoch={per_epoch}",
        f"train.max_steps={b['steps']}",
        f"train.val_every={val_every}",
        f"train.warmup_steps={b['warmup_steps']}",
        f"train.milestones={json.dumps(b['milestones'])}",
        "train.schedule=step",
    ]
    if spec.data["cache"]:
        budget.append(f"data.cache={cache_dir(data_root)}")
    try:
        return load_config(arm.config, [*budget, *spec.common, *arm.overrides])
    except ConfigError as exc:
        raise ConfigError(f"{spec.source}: arm {arm.name!r}: {exc}") from None


def cache_dir(data_root: Path) -> Path:
    """Where ``data.cache: true`` keeps the decoded training crops (``trans3dhead data cache``)."""
    return data_root / "cache_train"


def _benchmark_assets(spec: ExperimentSpec):
    """The FLAME-format model the benchmark is rendered with: the one every arm uses (their FLAME files or
    embedded-model settings must agree; the regressed layout may differ)."""
    from trans3dhead.models.build import build_assets

    files = {}
    for arm in spec.arms:
        flame = arm_config(spec, arm, data_root=Path("data")).flame
        key = (
            flame.file,
            flame.aux,
            flame.embedded_vertices,
            flame.embedded_shape,
            flame.embedded_expression,
        )
        files.setdefault(key, arm.name)
    if len(files) > 1:
        raise ConfigError(
            f"{spec.source}: the arms use different FLAME models ({list(files.values())}): the benchmark "
            "is rendered with one, so every arm must use the same flame.file / flame.embedded_* settings"
        )
    return build_assets(arm_config(spec, spec.arms[0], data_root=Path("data")).flame)


def _generate(spec: ExperimentSpec, root: Path, log: Callable[[str], None]) -> None:
    from trans3dhead.data.synthetic import SceneOptions, generate_dataset

    d = spec.data
    counts = {"train": d["train"], "val": d["val"], "test": d["test"]}
    mix = {} if d["pose_mix"] is None else {"pose_mix": d["pose_mix"]}
    options = SceneOptions(size=d["image_size"], focal_range=d["focal"], **mix)
    made, assets = 0, _benchmark_assets(spec)
    for event in generate_dataset(
        root,
        assets=assets,
        counts=counts,
        seed=d["seed"],
        options=options,
        workers=d["workers"],
    ):
        made += 0 if getattr(event, "skipped", False) else 1
    log(f"benchmark ready under {root} ({sum(counts.values())} images, {made} made now)")
    if d["cache"]:
        _cache(spec, root, assets, log)


def _cache(spec: ExperimentSpec, root: Path, assets, log: Callable[[str], None]) -> None:
    """Decode and crop the training split once (``data.cache: true``); a finished cache is kept."""
    from trans3dhead.data.cache import write_cache

    crops = {arm_config(spec, arm, data_root=root).model.crop for arm in spec.arms}
    if len(crops) > 1:
        raise ConfigError(
            f"{spec.source}: data.cache needs one crop style for every arm, the arms use {sorted(crops)}"
        )
    summary = write_cache(
        root=root,
        split="train",
        out=cache_dir(root),
        size=spec.data["image_size"],
        assets=assets,
        crop_style=crops.pop(),
        workers=spec.data["workers"],
    )
    log(f"training crops cached under {summary.path} ({summary.items} items, {summary.written} written now)")


def _pose_rows(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    rows = {}
    for row in report["attributes"]:
        if row["attribute"] == "pose":
            rows[row["value"]] = {k: v["mean"] for k, v in row["metrics"].items()}
            rows[row["value"]]["count"] = row["count"]
    return rows


def _run_arm(spec: ExperimentSpec, arm: Arm, out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    from trans3dhead.devices import default_device
    from trans3dhead.engine.evaluate import evaluate_checkpoint
    from trans3dhead.engine.fit import fit

    folder = out / "arms" / arm.name
    config = arm_config(spec, arm, data_root=out / "data")
    run = folder / "run"
    resume = (run / "last.pt").is_file()
    log(f"arm {arm.name}: {'resuming' if resume else 'training'} ({spec.budget['steps']} steps)")
    start = time.perf_counter()
    result = fit(config, run, resume=resume)
    train_s = time.perf_counter() - start
    model, report = evaluate_checkpoint(
        run / "last.pt",
        root=out / "data",
        split="test",
        out_dir=folder / "test",
        batch_size=spec.budget["batch_size"],
        device=default_device(),  # where fit trained it: CUDA when there is one
    )
    record = {
        "arm": arm.name,
        "config": str(arm.config),
        "overrides": list(arm.overrides),
        "steps": result.step,
        "batch_size": spec.budget["batch_size"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds_this_session": round(train_s, 1),
        "checkpoint": "last.pt",
        "best_val": result.best,
        "test": {k: report["results"].get(k) for k in RESULT_KEYS},
        "test_pose": _pose_rows(report),
        "landmark_sources": report["landmark_sources"],
    }
    _write_json(folder / "result.json", record)
    return record


def _write_json(path: Path, data: Any) -> None:
    from trans3dhead.metrics._jsonio import write_json

    write_json(path, data, indent=2)


def _number(value: Any, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def results_markdown(spec: ExperimentSpec, records: list[dict[str, Any]], *, hardware: str) -> str:
    b, d = spec.budget, spec.data
    lines = [
        f"# Experiment `{spec.name}`",
        "",
        f"- benchmark: synthetic, {d['train']} train / {d['val']} val / {d['test']} test images at "
        f"{d['image_size']} px, seed {d['seed']}, focal {d['focal'][0]}-{d['focal'][1]} image sizes"
        + ("" if d["pose_mix"] is None else f", pose mix {list(d['pose_mix'])} (near, wide, any)"),
        f"- budget per arm: {b['steps']} optimiser steps x batch {b['batch_size']}, warm-up "
        f"{b['warmup_steps']} steps, lr x gamma at {b['milestones']} of the steps",
        f"- hardware: {hardware}",
        "- test split, the last checkpoint of each arm; NME x100 of sqrt(bbox area); n/a: not defined "
        "for the arm (no landmark branch)",
        "",
        "| arm | NME FLAME | NME branch | Z5 | Chamfer | pose error | pose (deg) | params |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        t = r["test"]
        lines.append(
            f"| {r['arm']} | {_number(t['nme_flame'])} | {_number(t['nme_branch'])} | "
            f"{_number(t['z5_accuracy'], 4)} | {_number(t['chamfer'])} | {_number(t['pose_error'])} | "
            f"{_number(t['pose_angle_deg'], 1)} | {r['parameters'] / 1e6:.2f}M |"
        )
    poses = sorted({p for r in records for p in r["test_pose"]})
    if poses:
        lines += ["", "Per pose subset (NME FLAME / NME branch / pose error):", ""]
        lines += [
            "| arm | "
            + " | ".join(f"{p} (n={records[0]['test_pose'].get(p, {}).get('count', '?')})" for p in poses)
            + " |"
        ]
        lines += ["|---|" + "---|" * len(poses)]
        for r in records:
            cells = []
            for p in poses:
                row = r["test_pose"].get(p, {})
                cells.append(
                    f"{_number(row.get('nme_flame'), 2)} / {_number(row.get('nme_branch'), 2)} / "
                    f"{_number(row.get('pose_error'))}"
                )
            lines.append(f"| {r['arm']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_arms(out: Path, arms: list[str]) -> Path | None:
    """Validation NME (FLAME and branch) and pose error against the step, one line per arm."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ("nme_flame", "nme_branch", "pose_error")
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6))
    drawn = False
    for arm in arms:
        path = out / "arms" / arm / "run" / "val_log.csv"
        if not path.is_file():
            continue
        rows = list(csv.DictReader(path.open()))
        for axis, key in zip(axes, keys, strict=True):
            points = [(float(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
            if points:
                axis.plot(*zip(*points, strict=True), marker=".", label=arm)
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    for axis, key in zip(axes, keys, strict=True):
        axis.set_title(f"val {key}")
        axis.set_xlabel("step")
        axis.set_yscale("log")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    path = out / "curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _hardware() -> str:
    import os
    import platform

    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"CPU ({os.cpu_count()} cores, {platform.machine()}), torch {torch.__version__}"


def run_experiment(
    spec: ExperimentSpec, out: str | Path, *, log: Callable[[str], None] = logger.info
) -> list[dict[str, Any]]:
    """Generate the benchmark, train and evaluate every arm (finished arms are kept), write the results."""
    from trans3dhead.metrics._jsonio import write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _generate(spec, out / "data", log)
    records = []
    for arm in spec.arms:
        done = out / "arms" / arm.name / "result.json"
        if done.is_file():
            log(f"arm {arm.name}: done already")
            records.append(jsonio.read_file(done, what="arm result"))
        else:
            records.append(_run_arm(spec, arm, out, log))
        # after every arm, so a run stopped by a time limit keeps the table of the arms it finished
        _write_json(out / "results.json", {"name": spec.name, "spec": str(spec.source), "arms": records})
        write_text(out / "results.md", results_markdown(spec, records, hardware=_hardware()))
    plot_arms(out, [a.name for a in spec.arms])
    return records
