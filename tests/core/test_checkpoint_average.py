"""``trans3dhead slim-checkpoint A B ... DST``: the mean of several checkpoints' weights (a model soup)."""

from __future__ import annotations

import pytest
import torch

from trans3dhead.checkpoint import CheckpointError, average_weights, load_checkpoint, save_checkpoint
from trans3dhead.cli import main

CONFIG = {"model": {"backbone": "mobilenet_v2", "d_model": 128}, "train": {"lr": 1e-4}}


def _write(path, weight: float, *, steps: int, config=CONFIG, extra=None):
    model = {
        "layer.weight": torch.full((2, 3), weight),
        "bn.running_mean": torch.full((3,), 2.0 * weight, dtype=torch.float64),
        "bn.num_batches_tracked": torch.tensor(steps),
        **(extra or {}),
    }
    save_checkpoint(path, {"model": model, "config": config, "step": steps, "optimizer": {"state": {}}})
    return path


def test_several_sources_are_averaged_with_the_last_ones_config(tmp_path, capsys):
    a = _write(tmp_path / "a.pt", 1.0, steps=10)
    b = _write(tmp_path / "b.pt", 2.0, steps=20, config={**CONFIG, "train": {"lr": 1e-5}})
    c = _write(tmp_path / "c.pt", 6.0, steps=30)
    out = tmp_path / "soup.pt"
    assert main(["slim-checkpoint", str(a), str(b), str(c), str(out), "--fp32"]) == 0
    assert "wrote" in capsys.readouterr().out
    stored = load_checkpoint(out)
    assert torch.equal(stored["model"]["layer.weight"], torch.full((2, 3), 3.0))
    assert stored["model"]["bn.running_mean"].dtype == torch.float32  # --fp32: every float tensor
    assert torch.allclose(stored["model"]["bn.running_mean"], torch.full((3,), 6.0))
    assert stored["model"]["bn.num_batches_tracked"].item() == 30  # integers: the last source's
    assert stored["config"]["train"]["lr"] == 1e-4 and stored["step"] == 30 and "optimizer" not in stored
    assert stored["slim"]["averaged"] == 3 and stored["slim"]["source"] == [str(a), str(b), str(c)]
    two = average_weights([a, b])  # dtypes kept: float64 stays float64
    assert two["bn.running_mean"].dtype == torch.float64
    assert torch.allclose(two["layer.weight"], torch.tensor(1.5))
    assert main(["slim-checkpoint", str(a), str(b), str(out)]) == 2  # the target exists
    assert "exists already" in capsys.readouterr().err


def test_set_changes_only_read_out_settings(tmp_path, capsys):
    a = _write(tmp_path / "a.pt", 1.0, steps=10)
    out = tmp_path / "set.pt"
    assert main(["slim-checkpoint", str(a), str(out), "--set", "model.camera_focal=3.5"]) == 0
    stored = load_checkpoint(out)
    assert stored["config"]["model"]["camera_focal"] == 3.5
    assert stored["slim"]["set"] == ["model.camera_focal=3.5"]
    assert stored["config"]["model"]["d_model"] == 128 and stored["config"]["train"]["lr"] == 1e-4
    capsys.readouterr()
    assert main(["slim-checkpoint", str(a), str(tmp_path / "x.pt"), "--set", "model.d_model=64"]) == 2
    assert "--set 'model.d_model=64': only model.camera_focal, model.landmarks" in capsys.readouterr().err
    assert main(["slim-checkpoint", str(a), str(tmp_path / "y.pt"), "--set", "model.camera_focal=-1"]) == 2
    assert "model.camera_focal must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists() and not (tmp_path / "y.pt").exists()
    # a read-out setting does not describe the weights: checkpoints that differ only there average
    soup = tmp_path / "soup.pt"
    assert main(["slim-checkpoint", str(out), str(a), str(soup), "--set", "model.camera_focal=2"]) == 0
    assert load_checkpoint(soup)["config"]["model"]["camera_focal"] == 2.0


def test_checkpoints_that_do_not_match_are_refused_by_name(tmp_path):
    a = _write(tmp_path / "a.pt", 1.0, steps=10)
    resnet = {**CONFIG, "model": {"backbone": "resnet18"}}
    other_model = _write(tmp_path / "m.pt", 1.0, steps=10, config=resnet)
    with pytest.raises(CheckpointError, match=r"m\.pt: its model config differs from .*a\.pt's"):
        average_weights([a, other_model])
    more = _write(tmp_path / "k.pt", 1.0, steps=10, extra={"head.bias": torch.zeros(2)})
    with pytest.raises(CheckpointError, match=r"k\.pt: its weights differ .* tensors \['head\.bias'\]"):
        average_weights([a, more])
    wide = tmp_path / "w.pt"
    save_checkpoint(
        wide, {"model": {**load_checkpoint(a)["model"], "layer.weight": torch.zeros(2, 4)}, "config": CONFIG}
    )
    with pytest.raises(CheckpointError, match=r"w\.pt: tensor layer\.weight has shape \(2, 4\), .* \(2, 3\)"):
        average_weights([a, wide])
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        average_weights([a, tmp_path / "missing.pt"])
    with pytest.raises(ValueError, match="at least two checkpoints"):
        average_weights([a])


def test_model_configs_compare_with_their_defaults_filled_in(tmp_path):
    """A checkpoint written before a model key existed averages with a newer one that holds the key's
    default (session 8: model.memory_dilation); a non-default value is a different model."""
    old = _write(tmp_path / "old.pt", 1.0, steps=10)
    current = {**CONFIG, "model": {**CONFIG["model"], "memory_dilation": 1}}
    new = _write(tmp_path / "new.pt", 3.0, steps=20, config=current)
    assert torch.equal(average_weights([old, new])["layer.weight"], torch.full((2, 3), 2.0))
    dilated = {**CONFIG, "model": {**CONFIG["model"], "memory_dilation": 2}}
    other = _write(tmp_path / "dilated.pt", 3.0, steps=20, config=dilated)
    with pytest.raises(CheckpointError, match=r"dilated\.pt: its model config differs"):
        average_weights([old, other])


def _write_ema(path, average: float, live: float, *, steps: int):
    """A checkpoint as a run with train.ema_decay writes it: the average as "model", the live weights
    as "train_model"."""
    def weights(value):
        return {"layer.weight": torch.full((2, 3), value), "bn.num_batches_tracked": torch.tensor(steps)}

    save_checkpoint(
        path, {"model": weights(average), "train_model": weights(live), "config": CONFIG, "step": steps}
    )
    return path


def test_live_takes_the_live_weights_of_an_ema_run(tmp_path, capsys):
    a = _write_ema(tmp_path / "a.pt", 1.0, 5.0, steps=10)
    b = _write_ema(tmp_path / "b.pt", 3.0, 7.0, steps=20)
    assert main(["slim-checkpoint", str(a), str(tmp_path / "avg.pt"), "--fp32"]) == 0
    assert torch.equal(load_checkpoint(tmp_path / "avg.pt")["model"]["layer.weight"], torch.full((2, 3), 1.0))
    assert main(["slim-checkpoint", str(a), str(tmp_path / "live.pt"), "--fp32", "--live"]) == 0
    live = load_checkpoint(tmp_path / "live.pt")
    assert torch.equal(live["model"]["layer.weight"], torch.full((2, 3), 5.0))
    assert live["slim"]["weights"] == "train_model" and "train_model" not in live
    assert main(["slim-checkpoint", str(a), str(b), str(tmp_path / "soup.pt"), "--fp32", "--live"]) == 0
    soup = load_checkpoint(tmp_path / "soup.pt")["model"]
    assert torch.equal(soup["layer.weight"], torch.full((2, 3), 6.0))
    assert soup["bn.num_batches_tracked"].item() == 20
    plain = _write(tmp_path / "plain.pt", 1.0, steps=10)  # no moving average: nothing live to take
    capsys.readouterr()
    for sources in ([plain], [a, plain]):
        target = tmp_path / f"x{len(sources)}.pt"
        assert main(["slim-checkpoint", *map(str, sources), str(target), "--live"]) == 2
        assert "plain.pt: it holds no live weights ('train_model')" in capsys.readouterr().err
        assert not target.exists()


@pytest.mark.parametrize(
    "version",
    [torch.tensor([[float("nan")], [-0.13]]), "1", 1.0, None],
    ids=["tensor", "str", "float", "none"],
)
def test_a_format_version_that_is_no_integer_is_one_clear_line(tmp_path, version):
    """Found by the checkpoint fuzz target: a tensor's repr spans lines, the error must not."""
    path = tmp_path / "odd.pt"
    torch.save({"format_version": version, "model": {}, "config": CONFIG}, path)
    with pytest.raises(CheckpointError, match=r"odd\.pt: 'format_version' must be an integer, got") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)
