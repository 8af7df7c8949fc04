"""``trans3dhead experiment``: a tiny spec end to end, equal budgets, results files, arm-by-arm resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trans3dhead.cli import main
from trans3dhead.config import ConfigError
from trans3dhead.experiment import load_spec

REPO = Path(__file__).resolve().parents[2]
SPEC = """
name: tiny
data: {{train: 8, val: 3, test: 4, image_size: 64, seed: 0, workers: 1}}
budget: {{steps: 3, batch_size: 4, warmup_steps: 1, milestones: [0.5]}}
common: [model.backbone=resnet18, model.d_model=32, model.nhead=4, model.dim_feedforward=64,
         model.dropout=0.0, flame.embedded_vertices=1500, flame.embedded_shape=20,
         flame.embedded_expression=10, data.workers=0]
arms:
  - {{name: dad3dnet, config: {cpu}/dad3dnet_r18_128.yaml}}
  - {{name: final, config: {cpu}/trans3dhead_r18_128.yaml}}
  - name: only3dmm
    config: {cpu}/trans3dhead_r18_128.yaml
    overrides: [model.multitask=false, loss.weights.landmarks=0.0]
"""


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(cpu=REPO / "configs" / "cpu"))
    return path


def test_experiment_end_to_end_and_resume(spec_file, tmp_path, capsys):
    out = tmp_path / "exp"
    # first only one arm (as if interrupted after it), then all: the finished arm is kept
    assert main(["experiment", str(spec_file), "--out", str(out), "--arms", "final"]) == 0
    first = json.loads((out / "arms" / "final" / "result.json").read_text())
    assert main(["experiment", str(spec_file), "--out", str(out)]) == 0
    assert "arm final: done already" in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    arms = {r["arm"]: r for r in results["arms"]}
    assert list(arms) == ["dad3dnet", "final", "only3dmm"]
    assert arms["final"] == first
    assert {r["steps"] for r in arms.values()} == {3}  # equal budget: steps x batch
    assert arms["only3dmm"]["test"]["nme_branch"] is None and arms["final"]["test"]["nme_branch"] > 0
    assert "front" in arms["final"]["test_pose"] or "sided" in arms["final"]["test_pose"]
    table = (out / "results.md").read_text()
    assert "| only3dmm |" in table and "n/a" in table
    assert (out / "curves.png").is_file()


def test_an_interrupted_arm_resumes(spec_file, tmp_path):
    from trans3dhead.engine.checkpoint import load_checkpoint
    from trans3dhead.experiment import arm_config, run_experiment

    spec = load_spec(spec_file)
    out = tmp_path / "exp"
    run_experiment(spec, out)  # everything once
    run = out / "arms" / "final" / "run"
    weights = load_checkpoint(run / "last.pt")["model"]
    (out / "arms" / "final" / "result.json").unlink()  # the arm's evaluation was lost: redo it
    records = run_experiment(spec, out)
    assert records[1]["steps"] == 3 and arm_config(spec, spec.arms[1], data_root=out / "data").train.epochs
    again = load_checkpoint(run / "last.pt")["model"]
    assert all((weights[k] == again[k]).all() for k in weights)  # resumed at its end: nothing retrained


def test_spec_errors_name_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("data: {train: 0, val: 1, test: 1}\nbudget: {steps: 1, batch_size: 1}\narms: []\n")
    with pytest.raises(ConfigError, match=r"data\.train must be a positive integer"):
        load_spec(path)
    path.write_text("data: {train: 1, val: 1, test: 1}\nbudget: {steps: 1, batch_size: 1}\narms: []\n")
    with pytest.raises(ConfigError, match="arms must be a non-empty list"):
        load_spec(path)
    config = REPO / "configs" / "cpu" / "trans3dhead_r18_128.yaml"
    path.write_text(
        "data: {train: 1, val: 1, test: 1}\nbudget: {steps: 1, batch_size: 1}\n"
        f"arms: [{{name: a, config: {config}, overrides: [model.marr=x]}}]\n"
    )
    with pytest.raises(ConfigError, match="arm 'a'.*model.marr must be one of"):
        load_spec(path)
    for mix, message in (
        ("0.5", r"data\.pose_mix must be a list \[near-frontal, wide, anything\], got 0\.5"),
        ("[0.5, 0.6, 0.1]", r"data\.pose_mix shares .* must lie in \[0, 1\] and sum to 1"),
    ):
        path.write_text(
            f"data: {{train: 1, val: 1, test: 1, pose_mix: {mix}}}\nbudget: {{steps: 1, batch_size: 1}}\n"
            f"arms: [{{name: a, config: {config}}}]\n"
        )
        with pytest.raises(ConfigError, match=message):
            load_spec(path)
    path.write_text(
        "data: {train: 1, val: 1, test: 1, pose_mix: [0.4, 0.3, 0.3]}\nbudget: {steps: 1, batch_size: 1}\n"
        f"arms: [{{name: a, config: {config}}}]\n"
    )
    assert load_spec(path).data["pose_mix"] == (0.4, 0.3, 0.3)


def test_shipped_specs_load():
    for path in sorted((REPO / "benchmarks" / "experiments").glob("*.yaml")):
        spec = load_spec(path)
        assert spec.arms, path


def test_cache_trains_every_arm_from_decoded_crops(spec_file, tmp_path):
    from trans3dhead.config import load_config
    from trans3dhead.experiment import run_experiment

    spec_file.write_text(spec_file.read_text().replace("workers: 1}", "workers: 1, cache: true}"))
    spec = load_spec(spec_file)
    out = tmp_path / "exp"
    records = run_experiment(spec, out)
    cache = out / "data" / "cache_train"
    assert (cache / "manifest.json").is_file()
    assert json.loads((cache / "manifest.json").read_text())["settings"]["size"] == 64
    for record in records:
        run_config = load_config(out / "arms" / record["arm"] / "run" / "config.yaml", [])
        assert Path(run_config.data.cache) == cache
        assert record["steps"] == 3
    spec_file.write_text(spec_file.read_text().replace("cache: true", "cache: 1"))
    with pytest.raises(ConfigError, match=r"data\.cache must be true or false, got 1"):
        load_spec(spec_file)


def test_a_run_stopped_after_an_arm_keeps_its_table(spec_file, tmp_path, monkeypatch):
    """results.json and results.md are written after every arm: a run stopped by a time limit (a GPU
    session's command) keeps the table of the arms it finished."""
    import trans3dhead.experiment as experiment

    record = {
        "arm": "dad3dnet",
        "parameters": 1_000_000,
        "test": {k: 1.0 for k in experiment.RESULT_KEYS},
        "test_pose": {"front": {"count": 2, "nme_flame": 1.0, "nme_branch": 1.0, "pose_error": 0.1}},
    }

    def run_arm(spec, arm, out, log):
        if arm.name != "dad3dnet":
            raise KeyboardInterrupt  # the time limit, during the second arm
        return record

    monkeypatch.setattr(experiment, "_generate", lambda spec, root, log: None)
    monkeypatch.setattr(experiment, "_run_arm", run_arm)
    out = tmp_path / "exp"
    with pytest.raises(KeyboardInterrupt):
        experiment.run_experiment(load_spec(spec_file), out)
    assert [r["arm"] for r in json.loads((out / "results.json").read_text())["arms"]] == ["dad3dnet"]
    table = (out / "results.md").read_text()
    assert "| dad3dnet | 1.000 |" in table and "| final |" not in table
