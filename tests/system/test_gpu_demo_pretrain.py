"""benchmarks/gpu_demo_pretrain.py, the one-command GPU run that continues the demo model's pretraining, runs
end to end on the CPU at its --tiny sizes (every step: evaluation splits, fresh data, cache, calibration,
training, slimming, scoring), and its step planning fits the time it is given."""

from __future__ import annotations

import json
import math
import re
import sys
from types import SimpleNamespace

import pytest
import torch
from benchmark_scripts import load_benchmark


def test_tiny_run_on_the_cpu_returns_the_eight_files(tmp_path, monkeypatch):
    module = load_benchmark("gpu_demo_pretrain")
    out, work = tmp_path / "out", tmp_path / "work"
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the training runs in child processes
    argv = ["gpu_demo_pretrain.py", "--out", str(out), "--work", str(work), "--tiny", "--device", "cpu"]
    monkeypatch.setattr(sys, "argv", argv)
    module.main()

    names = {p.name for p in out.iterdir()}
    assert names == {
        module.CHECKPOINT_NAME, "eval.json", "eval.md", "train_log.csv", "val_log.csv", "curves.png",
        "recipe.json", "session.log",
    }  # a lent GPU machine returns at most 8 files
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["finished"] and recipe["calibrated_images_per_s"] > 0
    steps = [c for c in recipe["commands"] if c["step"] == "training"]
    assert len(steps) == 1 and f"train.max_steps={recipe['steps']}" in steps[0]["argv"]
    assert "train.ema_decay=0.999" in steps[0]["argv"] and "train.amp=bf16" in steps[0]["argv"]

    checkpoint = torch.load(out / module.CHECKPOINT_NAME, map_location="cpu", weights_only=False)
    assert checkpoint["config"]["model"]["camera_focal"] == pytest.approx(math.sqrt(12))
    assert {t.dtype for t in checkpoint["model"].values() if t.is_floating_point()} == {torch.float16}
    scores = json.loads((out / "eval.json").read_text())
    assert set(scores) == {"demo_test", "demo_val", "s1_test", "s1_val", "demo_test_flip", "s1_test_flip"}
    assert scores["demo_test_flip"]["pose_error"] != scores["demo_test"]["pose_error"]
    assert all(0 <= row["pose_error"] < 2 * math.sqrt(2) for row in scores.values())
    table = (out / "eval.md").read_text()
    assert "| demo_test | 4 |" in table


def test_the_planned_steps_fit_the_time_left():
    module = load_benchmark("gpu_demo_pretrain")
    session = SimpleNamespace(left=lambda: 300.0)
    args = SimpleNamespace(batch=100, reserve_s=90.0, min_steps=1, max_steps=10**6)
    # 1,000 images/s; the calibration took 20 s for 60 steps (6 s of steps, 14 s of start-up)
    steps = module.plan_steps(args, session, 1000.0, 20.0, 60)
    assert steps == int(0.9 * (300 - 90 - 14) * 1000 / 100)
    args.max_steps = 500
    assert module.plan_steps(args, session, 1000.0, 20.0, 60) == 500
    session = SimpleNamespace(left=lambda: 50.0)  # less left than the reserve: the floor
    args.min_steps = 7
    assert module.plan_steps(args, session, 1000.0, 20.0, 60) == 7


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--batch", "0"], "--batch must be at least 1, got 0"),
        (["--min-steps", "9", "--max-steps", "3"], r"--min-steps \(9\) is above --max-steps \(3\)"),
        (["--start", "nowhere.pt"], "--start: no checkpoint at nowhere.pt"),
        ("finished", "exists already"),
        ("earlier run", "holds an earlier run"),
    ],
)
def test_bad_arguments_stop_before_any_work(tmp_path, monkeypatch, capsys, extra, message):
    module = load_benchmark("gpu_demo_pretrain")
    out, work = tmp_path / "out", tmp_path / "work"
    if extra == "finished":  # a finished run's checkpoint is never overwritten
        out.mkdir()
        (out / module.CHECKPOINT_NAME).write_bytes(b"")
        extra = []
    elif extra == "earlier run":
        (work / "run").mkdir(parents=True)
        extra = []
    argv = ["gpu_demo_pretrain.py", "--out", str(out), "--work", str(work), *extra]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stop:
        module.main()
    assert stop.value.code == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (out / "session.log").exists()  # nothing started
