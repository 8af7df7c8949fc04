"""``trans3dhead demo --tiny`` end to end: every step runs and the page shows its results."""

from __future__ import annotations

import json
import math

import pytest

from trans3dhead.cli import main


@pytest.mark.slow
def test_demo_tiny_end_to_end(tmp_path, capsys):
    assert main(["demo", "--tiny", "--out", str(tmp_path / "demo")]) == 0
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    # a second run continues: generation and training are reused, evaluation is redone
    assert main(["demo", "--tiny", "--out", str(tmp_path / "demo")]) == 0
    out = tmp_path / "demo"
    assert summary["data_check"] == {"errors": 0, "warnings": 0}
    assert summary["test_metrics"]["overall"]["nme_reprojection"]["scored"] == 6
    # and again with flip test-time averaging: another report of the same items
    flip = json.loads((out / "eval_flip" / "metrics.json").read_text())
    assert summary["test_metrics_flip"]["overall"]["nme_reprojection"]["scored"] == 6
    assert "flip" in flip["sources"] and flip["results"] != summary["test_metrics"]["results"]
    for name in ("index.html", "run/best.pt", "run/curves.png", "eval/metrics.md", "eval/submission.json"):
        assert (out / name).is_file(), name
    page = (out / "index.html").read_text()
    assert "not expected to fit real photos" in page and "pose = " in page and "curves.png" in page
    assert "eval_flip/metrics.md" in page
    pictures = [p["file"] for p in summary["pictures"]]
    assert sum(p.startswith("synthetic_") for p in pictures) == 2 and "grace_hopper.png" in pictures
    assert all((out / "pictures" / p).is_file() for p in pictures)
    assert "training already complete" in capsys.readouterr().err
    # data made by another version of the head model (its manifest differs): set aside with its fine-tuning
    manifest = out / "data" / ".synth" / "manifest.json"
    settings = json.loads(manifest.read_text())
    settings["model"]["sha256"] = "0" * 16
    manifest.write_text(json.dumps(settings))
    assert main(["demo", "--tiny", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "generated with other settings" in err and "generating anew" in err
    assert "training already complete" not in err
    assert (out / "data_previous" / ".synth" / "manifest.json").is_file()
    assert (out / "run_previous" / "last.pt").is_file() and (out / "run" / "last.pt").is_file()


def test_demo_bad_arguments(capsys):
    assert main(["demo", "--epochs", "0"]) == 2
    assert "--epochs must be positive" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_starts_from_a_slim_checkpoint_and_fine_tunes(tmp_path, capsys):
    import torch

    from trans3dhead.engine.checkpoint import load_checkpoint

    assert main(["demo", "--tiny", "--out", str(tmp_path / "scratch")]) == 0
    slim = tmp_path / "start.pt"
    assert main(["slim-checkpoint", str(tmp_path / "scratch" / "run" / "last.pt"), str(slim)]) == 0
    stored = load_checkpoint(slim)
    assert "optimizer" not in stored and stored["model"]["param_branch.offset"].dtype == torch.float16
    assert main(["slim-checkpoint", str(tmp_path / "scratch" / "run" / "last.pt"), str(slim)]) == 2  # exists
    out = tmp_path / "tuned"
    assert main(["demo", "--tiny", "--start", str(slim), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["start"] == str(slim)
    assert summary["start_metrics"]["overall"]["nme_flame"]["scored"] == 6
    assert summary["start_metrics_flip"]["overall"]["nme_flame"]["scored"] == 6
    assert set(summary["timings_s"]) >= {"eval_start", "eval_start_flip", "train", "eval", "eval_flip"}
    # the fine-tuning started from the slim weights (float16 -> float32), not from ImageNet
    run_config = json.loads(json.dumps(load_checkpoint(out / "run" / "last.pt")["config"]))
    assert run_config["train"]["init_from"] == str(slim) and run_config["model"]["pretrained"] == "none"
    # with the shipped model's last stages' rotation loss, and rotations in the camera frame of the demo's
    # lens range (2-6 image sizes: their geometric mean)
    assert run_config["loss"]["weights"]["euler"] == 0 and run_config["loss"]["weights"]["geodesic"] == 0.03
    assert run_config["model"]["camera_focal"] == pytest.approx(math.sqrt(12.0))
    page = (out / "index.html").read_text()
    assert "The shipped pretrained model, as it is" in page and "fine-tuned here for 1 epochs" in page
    # the evaluation before fine-tuning is the start checkpoint's own
    again = tmp_path / "eval_again"
    args = ["eval", "--checkpoint", str(slim), "--data", str(out / "data"), "--split", "test"]
    args += ["--camera-focal", repr(math.sqrt(12.0))]
    assert main([*args, "--out", str(again)]) == 0
    before = json.loads((out / "eval_start" / "metrics.json").read_text())["results"]
    after = json.loads((again / "metrics.json").read_text())["results"]
    assert after == pytest.approx(before, rel=1e-5)  # another batch size: float rounding only
    # the start checkpoint changes under the same name (an updated shipped model): the run is set aside
    capsys.readouterr()
    assert main(["demo", "--tiny", "--start", str(slim), "--out", str(out)]) == 0
    assert "training already complete" in capsys.readouterr().err  # same start: reused
    stored["model"]["param_branch.offset"] += 1.0
    torch.save(stored, slim)
    assert main(["demo", "--tiny", "--start", str(slim), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "trained from another start checkpoint" in err and "training already complete" not in err
    (aside,) = out.glob("run_from_*")
    assert (aside / "last.pt").is_file() and (out / "run" / "last.pt").is_file()  # nothing lost


def test_init_from_refuses_other_architectures(tmp_path):
    from train_helpers import make_training_setup

    from trans3dhead.config import load_config
    from trans3dhead.engine.fit import fit

    overrides = make_training_setup(tmp_path)
    fit(load_config(None, [*overrides, "train.epochs=1"]), tmp_path / "a")
    start = f"train.init_from={tmp_path / 'a' / 'last.pt'}"
    config = load_config(None, [*overrides, "train.epochs=1", start])
    result = fit(config, tmp_path / "b")
    assert result.step == 3
    other = load_config(None, [*overrides, "model.decoder_layers=1", start])
    with pytest.raises(ValueError, match="train.init_from=.*do not fit"):
        fit(other, tmp_path / "c")
