"""Training without per-step host syncs: losses and the non-finite checks stay on the device between log
points, counted here on the CPU by watching for the operations that make a GPU wait (reading a value,
data-dependent shapes)."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from train_helpers import make_training_setup

from trans3dhead.config import load_config
from trans3dhead.data.dad3dheads import DAD3DHeadsDataset, collate
from trans3dhead.engine.fit import fit
from trans3dhead.engine.loop import NonFiniteLossError, build_optimizer, train_one_epoch, use_fused_adam
from trans3dhead.models.build import build_assets, build_criterion, build_model
from trans3dhead.types import LossOutput

STEPS = 6
# reading a value to the host, and shapes that depend on values (boolean masks, nonzero, unique)
SYNCING = {"aten._local_scalar_dense.default", "aten.nonzero.default", "aten.masked_select.default"}


class SyncCounter(TorchDispatchMode):
    """Counts the operations that would make the host wait for a GPU: reads of values (``item``,
    ``float``, ``bool``, ``tolist``, ``numpy``) and value-dependent shapes.  Adam's step counters are left
    out: without ``fused`` they live on the host (also on CUDA), so reading them costs no sync."""

    def __init__(self, optimizer: torch.optim.Optimizer, monkeypatch: pytest.MonkeyPatch) -> None:
        # monkeypatch: undoes the counting wrappers of tolist and numpy
        super().__init__()
        self.optimizer, self.calls = optimizer, []
        for name in ("tolist", "numpy"):  # on the CPU these read memory without an operator to see
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _name=name, _original=original, **kwargs):
                self.calls.append(_name)
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        bool_index = name.startswith("aten.index") and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in _indices(args)
        )
        if (name in SYNCING or name.startswith("aten.unique") or bool_index) and not self._host_counter(args):
            self.calls.append(name)
        return func(*args, **(kwargs or {}))

    def _host_counter(self, args) -> bool:
        steps = [s["step"] for s in self.optimizer.state.values() if "step" in s]
        return bool(args) and any(args[0] is step for step in steps)


def _indices(args):
    return args[1] if len(args) > 1 and isinstance(args[1], list | tuple) else []


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    overrides = make_training_setup(tmp_path_factory.mktemp("sync"))
    config = load_config(None, overrides)
    assets = build_assets(config.flame)
    dataset = DAD3DHeadsDataset(root=config.data.root, split="train", assets=assets, input_size=64)
    batches = [collate([dataset[2 * i % 6], dataset[(2 * i + 1) % 6]]) for i in range(STEPS)]
    return overrides, config, assets, batches


def _fresh(parts, *, channels_last: bool = False):
    """A freshly initialised model (the same weights every time), its criterion and optimiser."""
    _, config, assets, _ = parts
    torch.manual_seed(0)
    model = build_model(config, assets)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, build_criterion(config, model.flame), build_optimizer(model, config.train)


def _run(model, criterion, optimizer, batches, **kwargs) -> None:
    train_one_epoch(
        model=model,
        criterion=criterion,
        batches=batches,
        optimizer=optimizer,
        epoch=0,
        step=0,
        device=torch.device("cpu"),
        **kwargs,
    )


def _trained(parts, *, criterion_wrap=None, channels_last=False, steps=STEPS, **kwargs):
    """Train a fresh model over the first ``steps`` batches; returns it and the syncs counted."""
    model, criterion, optimizer = _fresh(parts, channels_last=channels_last)
    criterion = criterion_wrap(criterion) if criterion_wrap else criterion
    with pytest.MonkeyPatch.context() as patch, SyncCounter(optimizer, patch) as counter:
        _run(model, criterion, optimizer, parts[3][:steps], channels_last=channels_last, **kwargs)
    return model, counter.calls


@pytest.fixture(scope="module")
def every_step(parts):
    """The default, a report after every step: its reports and the syncs it made."""
    reports = []
    _, calls = _trained(parts, on_step=reports.append)
    return reports, calls


@pytest.mark.parametrize("grad_clip", [0.0, 1.0])
def test_steps_between_log_points_never_wait_for_the_device(parts, every_step, grad_clip):
    reports = []
    _, calls = _trained(
        parts, report_at=lambda s: s % STEPS == 0, grad_clip=grad_clip, on_step=reports.append
    )
    # one read before the last step's update (its loss) and one after it (the window), whatever STEPS is
    assert calls == ["tolist"] * 2, calls
    (report,) = reports
    assert (report.step, report.steps, report.batch_index) == (STEPS, STEPS, STEPS)
    assert math.isfinite(report.loss) and report.items_per_s > 0 and set(report.losses)
    assert len(every_step[1]) == 2 * STEPS


def test_report_gives_the_means_over_its_window(parts, every_step):
    per_step, windows = every_step[0], []
    _trained(parts, report_at=lambda s: s % 3 == 0, on_step=windows.append)
    assert [w.step for w in windows] == [3, 6] and [w.steps for w in windows] == [3, 3]
    for window, steps in zip(windows, (per_step[:3], per_step[3:]), strict=True):
        assert window.loss == pytest.approx(sum(s.loss for s in steps) / 3, rel=1e-6)
        for name, value in window.losses.items():
            assert value == pytest.approx(sum(s.losses[name] for s in steps) / 3, rel=1e-6)


def _nan_at(step: int):
    def wrap(criterion):
        calls = []

        def flaky(output, targets):
            result = criterion(output, targets)
            calls.append(1)
            if len(calls) == step:
                return LossOutput(
                    losses=result.losses, weights=result.weights, total=result.total * float("nan")
                )
            return result

        return flaky

    return wrap


def test_non_finite_loss_between_log_points_is_reported_at_the_next_one(parts):
    reports = []
    with pytest.raises(
        NonFiniteLossError, match=r"non-finite loss at epoch 0 step 2 .*batch items: train_002, train_003"
    ):
        _trained(parts, report_at=lambda s: s % 4 == 0, criterion_wrap=_nan_at(2), on_step=reports.append)
    assert reports == []  # nothing of the window was reported (so nothing logged or checkpointed)


def test_non_finite_loss_at_a_log_point_touches_no_weight(parts):
    three_steps, _ = _trained(parts, steps=3)
    model, criterion, optimizer = _fresh(parts)
    reports = []
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at epoch 0 step 4 "):
        _run(
            model,
            _nan_at(4)(criterion),
            optimizer,
            parts[3],
            report_at=lambda s: s % 2 == 0,
            on_step=reports.append,
        )
    assert [r.step for r in reports] == [2]
    # step 4 is a log point: its loss is read before its update, so the weights are those after step 3
    for (name, a), b in zip(three_steps.named_parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)


def test_non_finite_weights_name_the_step_that_made_them(parts):
    model, criterion, optimizer = _fresh(parts)
    lrs = iter([1e-3, float("inf")] + [1e-3] * STEPS)

    class Bump:  # a scheduler that sets the next step's lr: the second update makes the weights infinite
        def step(self):
            lr = next(lrs)
            for group in optimizer.param_groups:
                group["lr"] = lr

    Bump().step()
    with pytest.raises(
        NonFiniteLossError, match=r"non-finite parameters after the update at epoch 0 step 2 "
    ):
        _run(model, criterion, optimizer, parts[3], scheduler=Bump(), report_at=lambda s: s % 5 == 0)


def test_channels_last_trains_on_the_cpu_as_the_default_layout(parts, every_step):
    reports = []
    model, calls = _trained(parts, on_step=reports.append, channels_last=True)
    assert len(calls) == 2 * STEPS  # no sync of its own
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain = every_step[0]
    assert reports[0].loss == pytest.approx(plain[0].loss, rel=1e-5)  # the same first forward
    assert [s.loss for s in reports] == pytest.approx([s.loss for s in plain], rel=0.05)


def test_fused_adam_only_for_cuda_floats(parts):
    _, config, assets, _ = parts
    model = build_model(config, assets)
    assert not use_fused_adam(list(model.parameters()))
    assert not build_optimizer(model, config.train).defaults.get("fused")
    assert not use_fused_adam([])


def test_fit_logs_window_means_at_log_points(parts, tmp_path):
    overrides, *_ = parts
    config = load_config(None, [*overrides, "train.epochs=2", "train.log_every=2", "train.channels_last=on"])
    fit(config, tmp_path / "run")
    rows = list(csv.DictReader((tmp_path / "run" / "train_log.csv").open()))
    # each epoch's first step, every second step, and each epoch's last step (3 steps an epoch)
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 6]
