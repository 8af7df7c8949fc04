"""train.ema_decay: the moving average of the weights, validated, checkpointed and resumed exactly."""

from __future__ import annotations

import csv

import pytest
import torch
from torch import nn
from train_helpers import make_training_setup

from trans3dhead.checkpoint import CheckpointError, slim_checkpoint
from trans3dhead.config import ConfigError, load_config
from trans3dhead.engine.checkpoint import load_checkpoint
from trans3dhead.engine.ema import ModelEMA, ema_decay_at
from trans3dhead.engine.evaluate import evaluate_checkpoint
from trans3dhead.engine.fit import fit


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ema")
    return root, make_training_setup(root)


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_decay_warms_up_to_its_setting():
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)
    assert ema_decay_at(0.999, 10) == pytest.approx(11 / 20)
    assert ema_decay_at(0.9, 10_000) == 0.9


def test_update_averages_floats_and_copies_integer_buffers():
    torch.manual_seed(0)
    live = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = ModelEMA(live, 0.5)
    start = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for p in live.parameters():
            p.add_(1.0)
    live.train()
    live(torch.randn(4, 3))  # moves the running statistics and the step counter
    ema.update(live)
    d = ema_decay_at(0.5, 0)  # 0.1
    now = live.state_dict()
    for key, value in ema.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, d * start[key] + (1 - d) * now[key])
        else:
            assert torch.equal(value, now[key]), key
    assert ema.updates == 1 and not ema.module.training
    assert all(not p.requires_grad for p in ema.module.parameters())
    assert all(p.requires_grad for p in live.parameters())
    for _ in range(300):  # a model that stops changing: the average converges to it
        ema.update(live)
    for key, value in ema.state_dict().items():
        torch.testing.assert_close(value, now[key])


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, True])
def test_model_ema_refuses_a_decay_outside_0_1(decay):
    with pytest.raises(ValueError, match="EMA decay must lie in"):
        ModelEMA(nn.Linear(1, 1), decay)


@pytest.mark.parametrize("value", ["1.0", "-0.1", "2"])
def test_config_refuses_a_decay_outside_0_1(value):
    with pytest.raises(ConfigError, match=rf"train\.ema_decay must lie in \[0, 1\).*got {value}"):
        load_config(None, [f"train.ema_decay={value}"])


class Interrupted(Exception):
    pass


def test_ema_run_validates_the_average_and_resumes_exactly(setup, tmp_path):
    _, overrides = setup
    config = load_config(
        None, [*overrides, "train.epochs=2", "train.ema_decay=0.9", "train.checkpoint_every=2"]
    )
    whole = fit(config, tmp_path / "whole")
    last = load_checkpoint(tmp_path / "whole" / "last.pt")
    assert last["ema_updates"] == last["step"] == whole.step == 6
    assert last["model"].keys() == last["train_model"].keys()
    live = last["train_model"]
    differ = [k for k, v in last["model"].items() if v.is_floating_point() and not torch.equal(v, live[k])]
    assert differ, "the average equals the live weights"
    assert_same(last["model"], whole.model.state_dict())  # the run's result is the average
    # slim-checkpoint deploys the average; --live (live=True) the live weights
    for live, key in ((False, "model"), (True, "train_model")):
        out = tmp_path / f"slim_{key}.pt"
        slim_checkpoint(tmp_path / "whole" / "last.pt", out, dtype=torch.float32, live=live)
        assert_same(load_checkpoint(out)["model"], last[key])

    # validation scored the average: evaluating last.pt's "model" gives the last validation row
    row = list(csv.DictReader((tmp_path / "whole" / "val_log.csv").open()))[-1]
    _, report = evaluate_checkpoint(
        tmp_path / "whole" / "last.pt", root=config.data.root, split="val", out_dir=tmp_path / "eval"
    )
    assert float(row["nme_flame"]) == pytest.approx(report["results"]["nme_flame"], abs=1e-5)

    # interrupted mid-epoch right after the step-4 checkpoint, then resumed: the same average and weights
    def stop(stats):
        if stats.step == 4:
            raise Interrupted

    with pytest.raises(Interrupted):
        fit(config, tmp_path / "split", on_step=stop)
    assert load_checkpoint(tmp_path / "split" / "last.pt")["ema_updates"] == 4
    resumed = fit(config, tmp_path / "split", resume=True)
    assert resumed.step == 6
    again = load_checkpoint(tmp_path / "split" / "last.pt")
    assert_same(again["model"], last["model"])
    assert_same(again["train_model"], last["train_model"])


def test_resume_without_the_average_is_a_clear_error(setup, tmp_path):
    _, overrides = setup
    config = load_config(None, [*overrides, "train.epochs=1", "train.ema_decay=0.9"])
    fit(config, tmp_path / "run")
    path = tmp_path / "run" / "last.pt"
    data = load_checkpoint(path)
    del data["train_model"]
    data["config"]["train"]["epochs"] = 2
    torch.save(data, path)
    with pytest.raises(CheckpointError, match=r"last\.pt: cannot resume a run with train\.ema_decay"):
        longer = load_config(None, [*overrides, "train.epochs=2", "train.ema_decay=0.9"])
        fit(longer, path.parent, resume=True)
