"""The training engine on a tiny model and dataset: loss falls, exact resume, killed run, NaN, torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from train_helpers import make_training_setup

from trans3dhead.cli import main
from trans3dhead.config import ConfigError, load_config
from trans3dhead.engine.checkpoint import load_checkpoint
from trans3dhead.engine.fit import fit
from trans3dhead.engine.loop import NonFiniteLossError, build_optimizer, train_one_epoch
from trans3dhead.types import LossOutput

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    return root, make_training_setup(root)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_fit_writes_run_artefacts(setup, tmp_path):
    _, overrides = setup
    result = fit(load_config(None, [*overrides, "train.epochs=2"]), tmp_path / "run")
    import csv

    rows = list(csv.DictReader((tmp_path / "run" / "train_log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    for name in (
        "config.yaml",
        "last.pt",
        "best.pt",
        "curves.png",
        "val_log.csv",
        "best_val_report/metrics.md",
    ):
        assert (tmp_path / "run" / name).is_file(), name
    assert {"nme_reprojection", "nme_flame", "nme_branch"} <= set(result.last_metrics)
    assert result.best["epoch"] in (1, 2) and result.best["metric"] == "nme_flame"


def test_fit_stops_its_loader_workers_before_returning(setup, tmp_path):
    # Left to the garbage collector, persistent workers cost a join timeout each (20 s for four, paid by
    # whatever the process did next: the demo's evaluation), so fit() stops them itself.
    import multiprocessing

    _, overrides = setup
    before = set(multiprocessing.active_children())
    fit(load_config(None, [*overrides, "train.epochs=1", "data.workers=1"]), tmp_path / "run")
    assert set(multiprocessing.active_children()) - before == set()


def test_loss_falls(setup):
    _, overrides = setup
    from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate
    from trans3dhead.models.build import build_assets, build_criterion, build_model

    config = load_config(None, [*overrides, "train.lr=3e-3"])
    assets = build_assets(config.flame)
    torch.manual_seed(0)
    model = build_model(config, assets)
    criterion = build_criterion(config, model.flame)
    ds = DAD3DHeadsDataset(root=config.data.root, split="train", assets=assets, input_size=64)
    batch = collate([ds[0], ds[1]])

    def loss() -> float:
        model.eval()
        with torch.no_grad():
            return float(criterion(model(batch.images), batch.targets).total)

    before = loss()
    train_one_epoch(
        model=model,
        criterion=criterion,
        batches=[batch] * 25,
        optimizer=build_optimizer(model, config.train),
        epoch=0,
        step=0,
        device=torch.device("cpu"),
    )
    assert loss() < 0.5 * before


def test_two_epochs_equal_one_then_resume_one(setup, tmp_path):
    _, overrides = setup
    # a constant lr: the step schedule's milestone depends on the planned steps, which differ between a
    # 1-epoch and a 2-epoch plan (exact resumes of one plan: test_killed_run_resumes_exactly)
    both = fit(load_config(None, [*overrides, "train.epochs=2", "train.gamma=1.0"]), tmp_path / "both")
    first = load_config(None, [*overrides, "train.epochs=2", "train.gamma=1.0"])
    # stop after the first epoch by training a copy whose epochs is 1, then extend its checkpoint
    fit(load_config(None, [*overrides, "train.epochs=1", "train.gamma=1.0"]), tmp_path / "split")
    ckpt = load_checkpoint(tmp_path / "split" / "last.pt")
    ckpt["config"]["train"]["epochs"] = 2
    torch.save(ckpt, tmp_path / "split" / "last.pt")
    assert first.train.epochs == 2
    resumed = fit(first, tmp_path / "split", resume=True)
    assert resumed.step == both.step == 6
    assert_same_weights(weights(tmp_path / "both" / "last.pt"), weights(tmp_path / "split" / "last.pt"))



def test_resume_refuses_a_config_other_than_the_runs(setup, tmp_path):
    """A resume continues the run as configured: a given config that differs is an error naming the keys,
    never silently replaced by the saved one."""
    _, overrides = setup
    run = tmp_path / "run"
    fit(load_config(None, [*overrides, "train.epochs=1"]), run)
    before = (run / "last.pt").read_bytes()
    other = load_config(None, [*overrides, "train.epochs=1", "train.lr=0.5"])
    with pytest.raises(ConfigError, match=r"train\.lr \(given 0\.5") as caught:
        fit(other, run, resume=True)
    assert "train.epochs" not in str(caught.value)
    assert (run / "last.pt").read_bytes() == before
    same = fit(load_config(None, [*overrides, "train.epochs=1"]), run, resume=True)  # the same config
    assert same.epochs_done == 1

KILL_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from trans3dhead.config import load_config
    from trans3dhead.engine.fit import fit

    def on_step(stats):
        if stats.step == 4:  # mid-epoch 2 (3 steps per epoch), right after a checkpoint
            os._exit(9)

    config = load_config(None, sys.argv[2:])
    fit(config, sys.argv[1], on_step=on_step)
    """
)


def test_killed_run_resumes_exactly(setup, tmp_path):
    _, overrides = setup
    extra = ["train.epochs=2", "train.checkpoint_every=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "killed"), *overrides, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 9, proc.stderr
    ckpt = load_checkpoint(tmp_path / "killed" / "last.pt")
    assert (ckpt["epoch"], ckpt["step"], ckpt["batch_in_epoch"]) == (1, 4, 1)
    assert main(["train", "--resume", str(tmp_path / "killed")]) == 0
    fit(load_config(None, [*overrides, *extra]), tmp_path / "whole")
    assert_same_weights(weights(tmp_path / "whole" / "last.pt"), weights(tmp_path / "killed" / "last.pt"))


def test_non_finite_loss_names_step_and_items_and_touches_nothing(setup):
    _, overrides = setup
    from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate
    from trans3dhead.models.build import build_assets, build_criterion, build_model

    config = load_config(None, overrides)
    assets = build_assets(config.flame)
    model = build_model(config, assets)
    criterion = build_criterion(config, model.flame)
    ds = DAD3DHeadsDataset(root=config.data.root, split="train", assets=assets, input_size=64)
    batches = [collate([ds[0], ds[1]]), collate([ds[2], ds[3]])]
    calls = []

    def flaky(output, targets):
        result = criterion(output, targets)
        calls.append(1)
        if len(calls) == 2:
            return LossOutput(losses=result.losses, weights=result.weights, total=result.total * float("nan"))
        return result

    optimizer = build_optimizer(model, config.train)
    snapshot = {}

    def remember(stats):  # parameters after the last good step (BN running stats move in every forward)
        snapshot.update({k: v.detach().clone() for k, v in model.named_parameters()})

    with pytest.raises(NonFiniteLossError, match=r"epoch 0 step 2 .*batch items: train_002, train_003"):
        train_one_epoch(
            model=model,
            criterion=flaky,
            batches=batches,
            optimizer=optimizer,
            epoch=0,
            step=0,
            device=torch.device("cpu"),
            on_step=remember,
        )
    assert_same_weights(snapshot, {k: v.detach() for k, v in model.named_parameters()})


def test_non_finite_loss_keeps_the_last_checkpoint(setup, tmp_path, capsys):
    _, overrides = setup
    run = tmp_path / "nan"
    assert main(["train", "--out", str(run), *overrides, "train.epochs=1", "train.checkpoint_every=1"]) == 0
    good = weights(run / "last.pt")
    ckpt = load_checkpoint(run / "last.pt")
    ckpt["config"]["train"]["epochs"] = 2
    for group in ckpt["optimizer"][
        "param_groups"
    ]:  # step 4 (the first of epoch 2) makes the weights infinite
        group["lr"] = float("inf")
    torch.save(ckpt, run / "last.pt")
    assert main(["train", "--resume", str(run)]) == 1
    err = capsys.readouterr().err
    assert "training stopped: non-finite parameters after the update at epoch 1 step 4" in err
    assert "batch items: train_" in err
    assert_same_weights(good, weights(run / "last.pt"))


def test_cli_refuses_to_overwrite_and_bad_resume(setup, tmp_path, capsys):
    _, overrides = setup
    assert main(["train", "--out", str(tmp_path / "r"), *overrides, "train.epochs=1"]) == 0
    assert main(["train", "--out", str(tmp_path / "r"), *overrides]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "none")]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err


TORCHRUN_SCRIPT = textwrap.dedent(
    """
    import os, sys, torch
    from trans3dhead.config import load_config
    from trans3dhead.engine.fit import fit

    torch.set_num_threads(1)
    result = fit(load_config(None, sys.argv[2:]), sys.argv[1])
    # parameters (BatchNorm running statistics are per rank; DDP broadcasts rank 0's, which are saved)
    params = {k: v.detach() for k, v in result.model.named_parameters()}
    torch.save(params, os.path.join(sys.argv[1], f"rank{os.environ['RANK']}.pt"))
    """
)


@pytest.mark.slow
def test_torchrun_two_processes(setup, tmp_path):
    _, overrides = setup
    script = tmp_path / "ddp.py"
    script.write_text(TORCHRUN_SCRIPT)
    run = tmp_path / "ddp"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node=2",
            "--standalone",
            str(script),
            str(run),
            *overrides,
            "train.epochs=1",
        ],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = torch.load(run / "rank0.pt"), torch.load(run / "rank1.pt")
    assert_same_weights(r0, r1)
    assert (run / "last.pt").is_file() and (run / "val_log.csv").is_file()


def test_skip_bad_drops_and_counts_unreadable_items(tmp_path, capsys):
    overrides = make_training_setup(tmp_path)
    data = next(o.split("=", 1)[1] for o in overrides if o.startswith("data.root="))
    (Path(data) / "train" / "images" / "train_002.png").write_bytes(b"broken")
    args = ["train", "--out", str(tmp_path / "run"), *overrides, "train.epochs=1"]
    assert main(args) == 2  # without --skip-bad the bad file stops training with its name
    assert "train_002.png: not a decodable image" in capsys.readouterr().err
    assert main([*args, "--skip-bad"]) == 0
    import csv

    rows = list(csv.DictReader((tmp_path / "run" / "train_log.csv").open()))
    assert sum(int(r["skipped"]) for r in rows) == 1 and len(rows) == 3
