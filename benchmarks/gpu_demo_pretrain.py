"""Continue the demo model's pretraining on a GPU in one prepared, time-boxed run (issue 12, item 5).

    python benchmarks/gpu_demo_pretrain.py --out OUT [--work /tmp/gdp] [--budget-s 540]
    python benchmarks/gpu_demo_pretrain.py --out OUT --tiny --device cpu     # smoke test, under a minute

The CPU stages of the shipped demo model (``src/trans3dhead/pretrained/demo_mnv2_128.md``) gain about
0.002 of pose error per 25 minutes now; a GPU trains this small model on as many images in seconds.  This
script is what one lent GPU session runs, start to end, inside one command's time limit:

1. **Evaluation splits**: the demo's own test split (seed 0: 100 val, 150 test, exactly what ``make demo``
   generates) and the val / test splits of the four pretraining benchmarks (seeds 1-4: 150 / 300 each),
   byte-identical to the ones the CPU stages were scored on, so the figures compare directly.
2. **A fresh training set** (``--train-items`` images of seed ``--seed``, never seen by the shipped model)
   and its crop cache (``trans3dhead data cache``; the augmentation runs on the GPU).
3. **Calibration**: ``--calib-steps`` training steps measure the images/s of this machine; the run's step
   count is what the remaining time allows (``--steps N`` skips this and trains exactly N steps).
4. **Training** from the shipped model with the recipe of its last stages (geodesic rotation loss, a
   moving average of the weights, lr / 10 after 70% of the steps) at the GPU's batch size, bf16.  A run
   that overruns its time is stopped and its last checkpoint (every ``--checkpoint-every`` steps) is used.
5. The moving average, slimmed to float16 with the demo's camera focal length (as the shipped file), and
   its scores on every evaluation split (the benchmark metrics at ``model.camera_focal``).

Each step is a ``trans3dhead`` command; all of them are printed and written to ``recipe.json`` with the
step count the calibration chose, so the run can be repeated exactly on any machine.  What comes back,
flat under ``--out`` (a lent GPU machine returns at most 8 files): ``demo_mnv2_128_gpu.pt``,
``eval.json`` / ``eval.md`` (the scores), ``train_log.csv``, ``val_log.csv``, ``curves.png``,
``recipe.json`` and ``session.log``.  ``--work`` holds the data, the cache and the run (not returned).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "src" / "trans3dhead" / "pretrained" / "demo_mnv2_128.pt"
CONFIG = REPO / "configs" / "cpu" / "trans3dhead_r18_128.yaml"
FOCAL_RANGE = (2.0, 6.0)
CAMERA_FOCAL = math.sqrt(FOCAL_RANGE[0] * FOCAL_RANGE[1])  # the demo's: DemoSettings.camera_focal()
CHECKPOINT_NAME = "demo_mnv2_128_gpu.pt"
# The held-out splits the CPU stages are scored on: (name, seed, val items, test items).  Seed 0 with 100 /
# 150 is the demo's split (make demo's synthetic data, DemoSettings); seeds 1-4 are the pretraining
# benchmarks' (benchmarks/experiments/demo_pretrain*.yaml: their splits do not depend on the train count).
EVAL_SPLITS = [("demo", 0, 100, 150), *((f"s{seed}", seed, 150, 300) for seed in (1, 2, 3, 4))]
TINY_SPLITS = [("demo", 0, 3, 4), ("s1", 1, 3, 4)]
# The demo model's architecture (demo.py's _overrides) and the recipe of its last CPU stages (stages 9-14).
MODEL = [
    "model.backbone=mobilenet_v2",
    "model.pretrained=none",  # the weights come from train.init_from
    "model.input_size=128",
    "model.d_model=128",
    "model.nhead=8",
    "model.dim_feedforward=512",
    "model.dropout=0.0",
    "model.readout=per_query",
]
RECIPE = [
    "data.augment=true",
    "loss.weights.euler=0",
    "loss.weights.geodesic=0.03",
    "train.backbone_lr_mult=1.0",
    "train.schedule=step",
    "train.milestones=[0.7]",
    "train.channels_last=auto",
]
RESULT_KEYS = ("nme_flame", "nme_branch", "z5_accuracy", "chamfer", "pose_error", "pose_angle_deg")


class Session:
    """The time box, the log and the record of every command."""

    def __init__(self, out: Path, budget_s: float) -> None:
        self.out = out
        self.start = time.monotonic()
        self.deadline = self.start + budget_s
        self.commands: list[dict] = []
        self.facts: dict = {}
        self.log_file = (out / "session.log").open("a", encoding="utf-8")

    def record(self, command: dict | None = None, **facts) -> None:
        """Add a command or facts to ``recipe.json``, rewritten each time: a run that stops part-way
        still returns every command it ran."""
        if command is not None:
            self.commands.append(command)
        self.facts.update(facts)
        recipe = {**self.facts, "seconds": round(time.monotonic() - self.start, 1), "commands": self.commands}
        (self.out / "recipe.json").write_text(json.dumps(recipe, indent=1) + "\n")

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, message: str) -> None:
        line = f"[{time.monotonic() - self.start:7.1f} s] {message}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def cli(self, argv: list[str], what: str) -> float:
        """Run ``trans3dhead ARGV`` in this process; returns its wall time.  A failure stops the run."""
        from trans3dhead.cli import main

        self.log(f"{what}: trans3dhead {' '.join(argv)}")
        started = time.monotonic()
        code = main(argv)
        seconds = time.monotonic() - started
        self.record({"step": what, "argv": ["trans3dhead", *argv], "seconds": round(seconds, 1)})
        if code != 0:
            raise SystemExit(f"{what} failed (exit {code}); see the output above")
        self.log(f"{what}: {seconds:.1f} s")
        return seconds


def run_parallel(session: Session, jobs: list[tuple[list[str], str]]) -> None:
    """``trans3dhead ARGV`` for every job at once, in child processes; a failure stops the run.

    Each ``synth`` with workers starts a pool of spawned processes that import torch afresh, which on a
    GPU machine under gVisor costs tens of seconds (docs/gpu.md): the small splits therefore run in one
    process each, beside the training set's pool, instead of one pool after another."""
    started, children = time.monotonic(), []
    for argv, what in jobs:
        session.log(f"{what}: trans3dhead {' '.join(argv)}")
        children.append((argv, what, subprocess.Popen([sys.executable, "-m", "trans3dhead", *argv])))
    failed = []
    for argv, what, child in children:
        code = child.wait()
        seconds = time.monotonic() - started
        session.record({"step": what, "argv": ["trans3dhead", *argv], "seconds": round(seconds, 1)})
        session.log(f"{what}: done after {seconds:.1f} s" if code == 0 else f"{what}: exit {code}")
        if code != 0:
            failed.append(what)
    if failed:
        raise SystemExit(f"{', '.join(failed)} failed; see the output above")


def data_jobs(args, splits) -> tuple[list[tuple[list[str], str]], dict[str, Path]]:
    """The synth commands: the evaluation splits (one process each) and the fresh training set (a pool)."""
    focal = ["--size", "128", "--focal", *map(str, FOCAL_RANGE)]
    jobs, roots = [], {}
    for name, seed, val, test in splits:
        roots[name] = args.work / "eval" / name
        argv = ["synth", str(roots[name]), "--val", str(val), "--test", str(test), "--seed", str(seed)]
        jobs.append(([*argv, *focal, "--workers", "1"], f"evaluation split {name}"))
    pool = max(1, args.workers - len(splits))
    argv = ["synth", str(args.work / "train_data"), "--train", str(args.train_items)]
    argv += ["--val", "4" if args.tiny else "100", "--seed", str(args.seed)]
    jobs.append(([*argv, *focal, "--workers", str(pool)], "fresh training set"))
    return jobs, roots


def train_argv(args, work: Path, run: Path, steps: int, batches_per_epoch: int, start: Path) -> list[str]:
    epochs = max(1, math.ceil(steps / batches_per_epoch))
    overrides = [
        *MODEL,
        *RECIPE,
        f"data.batch_size={args.batch}",
        f"data.workers={args.loader_workers}",
        f"data.cache={work / 'cache'}",
        f"train.init_from={start}",
        f"train.lr={args.lr}",
        f"train.warmup_steps={min(args.warmup, max(1, steps // 5))}",
        f"train.ema_decay={args.ema}",
        f"train.amp={args.amp}",
        f"train.seed={args.seed}",
        f"train.epochs={epochs}",
        f"train.max_steps={steps}",
        f"train.val_every={max(1, epochs // 4)}",
        f"train.log_every={args.log_every}",
        f"train.checkpoint_every={args.checkpoint_every}",
    ]
    where = ["--data", str(work / "train_data"), "--out", str(run)]
    return ["train", "--config", str(CONFIG), *where, *overrides]


def run_training(session: Session, argv: list[str], what: str, timeout: float) -> tuple[float, bool]:
    """``trans3dhead train`` in a child process, stopped after ``timeout`` s; (wall time, finished)."""
    session.log(f"{what}: trans3dhead {' '.join(argv)}")
    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen([sys.executable, "-m", "trans3dhead", *argv], env=env)
    try:
        code = child.wait(timeout=max(1.0, timeout))
        finished = True
    except subprocess.TimeoutExpired:
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        code, finished = 0, False
    seconds = time.monotonic() - started
    session.record(
        {"step": what, "argv": ["trans3dhead", *argv], "seconds": round(seconds, 1), "finished": finished}
    )
    if code != 0:
        raise SystemExit(f"{what} failed (exit {code}); see the output above")
    session.log(f"{what}: {seconds:.1f} s{'' if finished else ' (stopped by the time limit)'}")
    return seconds, finished


def training_rate(run: Path) -> float:
    """Images/s of a run's training log (wall time, data loading included), after its first window."""
    with (run / "train_log.csv").open(newline="") as handle:
        rates = [float(row["items_per_s"]) for row in csv.DictReader(handle)]
    if not rates:
        raise SystemExit(f"{run}/train_log.csv has no rows: the calibration run logged nothing")
    return statistics.median(rates[1:] or rates)


def plan_steps(args, session: Session, rate: float, calib_seconds: float, calib_steps: int) -> int:
    """Steps that fit the time left: the calibration's fixed cost (start-up) counted once more."""
    fixed = max(0.0, calib_seconds - calib_steps * args.batch / rate)
    usable = session.left() - args.reserve_s - fixed
    steps = int(0.9 * usable * rate / args.batch)
    return max(args.min_steps, min(args.max_steps, steps))


def split_rows(report: dict) -> dict:
    row = {key: report["results"].get(key) for key in RESULT_KEYS}
    for attribute in report.get("attributes", []):
        if attribute["attribute"] == "pose":
            row[f"{attribute['value']}_count"] = attribute["count"]
            for key in ("nme_flame", "pose_error"):
                row[f"{attribute['value']}_{key}"] = attribute["metrics"][key]["mean"]
    return row


def write_eval(out: Path, scores: dict) -> None:
    (out / "eval.json").write_text(json.dumps(scores, indent=1) + "\n")
    lines = [
        f"NME FLAME / NME branch / pose error at camera_focal {CAMERA_FOCAL:.4f}; pose subsets: NME FLAME / "
        "pose error (count)",
        "",
        "| split | n | all | front | sided | atypical | Z5 | Chamfer |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def fmt(value, digits):
        return "-" if value is None else f"{value:.{digits}f}"

    def subset(row, pose):
        nme, error = fmt(row.get(f"{pose}_nme_flame"), 2), fmt(row.get(f"{pose}_pose_error"), 3)
        return f"{nme} / {error} ({row.get(f'{pose}_count', 0)})"

    for name, row in scores.items():
        subsets = [subset(row, p) for p in ("front", "sided", "atypical")]
        n = sum(row.get(f"{p}_count", 0) for p in ("front", "sided", "atypical"))
        head = f"{fmt(row['nme_flame'], 2)} / {fmt(row['nme_branch'], 2)} / {fmt(row['pose_error'], 3)}"
        lines.append(
            f"| {name} | {n} | {head} | {' | '.join(subsets)} | {fmt(row['z5_accuracy'], 3)} | "
            f"{fmt(row['chamfer'], 2)} |"
        )
    (out / "eval.md").write_text("\n".join(lines) + "\n")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="what comes back (8 files, flat)")
    p.add_argument("--work", type=Path, default=Path("/tmp/gdp"), help="data, cache and run (not returned)")
    p.add_argument("--device", default="cuda", help="where eval runs (train picks CUDA by itself)")
    p.add_argument("--budget-s", type=float, default=540.0, help="wall time of the whole run (default 540)")
    p.add_argument("--reserve-s", type=float, default=90.0, help="kept after training for slim + eval")
    p.add_argument("--start", type=Path, default=SHIPPED, help="checkpoint to continue (the shipped model)")
    p.add_argument("--train-items", type=int, default=16000, help="fresh training images (default 16,000)")
    p.add_argument("--seed", type=int, default=10, help="the fresh training set's seed and the run's (10)")
    cores = os.cpu_count() or 2
    p.add_argument("--workers", type=int, default=max(1, cores - 1), help="synth / cache processes")
    p.add_argument("--loader-workers", type=int, default=max(1, min(12, cores - 2)))
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=200, help="warm-up steps (at most a fifth of the run)")
    p.add_argument("--ema", type=float, default=0.999, help="train.ema_decay")
    p.add_argument("--amp", default="bf16", choices=["off", "bf16", "fp16"])
    p.add_argument("--steps", type=int, default=0, help="train exactly this many steps (0: calibrate)")
    p.add_argument("--calib-steps", type=int, default=60)
    p.add_argument("--min-steps", type=int, default=200)
    p.add_argument("--max-steps", type=int, default=20000)
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--tiny", action="store_true", help="smoke sizes: a few images and steps (CPU check)")
    args = p.parse_args()
    if args.tiny:
        args.train_items, args.batch, args.calib_steps = 8, 4, 2
        args.min_steps, args.max_steps, args.log_every, args.checkpoint_every = 1, 3, 1, 2
        args.workers, args.loader_workers, args.reserve_s = 1, 0, 20.0
    for name in ("train_items", "batch", "calib_steps", "min_steps", "max_steps", "log_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.min_steps > args.max_steps:
        p.error(f"--min-steps ({args.min_steps}) is above --max-steps ({args.max_steps})")
    if not args.start.is_file():
        p.error(f"--start: no checkpoint at {args.start}")
    if (args.out / CHECKPOINT_NAME).exists():
        p.error(f"--out: {args.out / CHECKPOINT_NAME} exists already (a finished run's): give another --out")
    if (args.work / "run").exists():
        p.error(f"--work: {args.work / 'run'} holds an earlier run: give another --work or remove it")
    return args


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    session = Session(args.out, args.budget_s)
    import torch

    device = args.device if args.device != "cuda" or torch.cuda.is_available() else "cpu"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    session.log(f"device {device} ({gpu}), torch {torch.__version__}, {os.cpu_count()} CPU cores")
    session.record(device=gpu, torch=torch.__version__, start=str(args.start), batch=args.batch)
    jobs, splits = data_jobs(args, TINY_SPLITS if args.tiny else EVAL_SPLITS)
    run_parallel(session, jobs)
    data = args.work / "train_data"
    cache = ["data", "cache", str(data), "--split", "train", "--size", "128"]
    cache += ["--out", str(args.work / "cache"), "--config", str(CONFIG)]
    session.cli([*cache, "--workers", str(args.workers)], "crop cache")

    per_epoch = math.ceil(args.train_items / args.batch)
    steps, rate = args.steps, None
    if not steps:
        calib = args.work / "calib"
        shutil.rmtree(calib, ignore_errors=True)
        argv = train_argv(args, args.work, calib, args.calib_steps, per_epoch, args.start)
        argv = [a for a in argv if not a.startswith("train.log_every=")] + ["train.log_every=1"]
        seconds, _ = run_training(session, argv, "calibration", session.left())
        rate = training_rate(calib)
        steps = plan_steps(args, session, rate, seconds, args.calib_steps)
        session.log(f"calibration: {rate:.0f} images/s -> {steps} steps x {args.batch}")
    session.record(calibrated_images_per_s=rate, steps=steps)

    run = args.work / "run"
    argv = train_argv(args, args.work, run, steps, per_epoch, args.start)
    _, finished = run_training(session, argv, "training", session.left() - args.reserve_s * 0.6)
    session.record(finished=finished)
    for name in ("train_log.csv", "val_log.csv", "curves.png"):
        if (run / name).is_file():
            shutil.copy2(run / name, args.out / name)
    if not (run / "last.pt").is_file():
        raise SystemExit(f"training wrote no checkpoint in {run} (raise --budget-s or lower --steps)")

    model = args.out / CHECKPOINT_NAME
    slim = ["slim-checkpoint", str(run / "last.pt"), str(model)]
    slim += ["--set", f"model.camera_focal={CAMERA_FOCAL!r}"]
    session.cli(slim, "slim")
    scores = {}
    # each split as it is, then the test splits flip-averaged (eval --flip: each crop averaged with its
    # mirror image, docs/inference.md)
    runs = [(name, root, split, []) for name, root in splits.items() for split in ("test", "val")]
    runs += [(name, root, "test", ["--flip"]) for name, root in splits.items()]
    for name, root, split, flip in runs:
        key = f"{name}_{split}" + ("_flip" if flip else "")
        folder = args.work / "scores" / key
        argv = ["eval", "--checkpoint", str(model), "--data", str(root), "--split", split]
        argv += ["--out", str(folder), *flip]
        argv += ["--camera-focal", repr(CAMERA_FOCAL), "--device", device, "--batch", "64"]
        session.cli([*argv, "--workers", str(args.loader_workers)], f"score {key}")
        scores[key] = split_rows(json.loads((folder / "metrics.json").read_text()))
        write_eval(args.out, scores)  # after every split: a run stopped part-way keeps its scores
    print((args.out / "eval.md").read_text(), flush=True)
    session.record()
    ended = "finished" if finished else "stopped by the time limit"
    session.log(f"done: {model} ({model.stat().st_size / 2**20:.1f} MiB), training {ended}")


if __name__ == "__main__":
    main()
