"""``trans3dhead demo --tiny`` end to end: every step runs and the page shows its results."""

from __future__ import annotations

import json

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
    for name in ("index.html", "run/best.pt", "run/curves.png", "eval/metrics.md", "eval/submission.json"):
        assert (out / name).is_file(), name
    page = (out / "index.html").read_text()
    assert "not expected to fit real photos" in page and "pose = " in page and "curves.png" in page
    pictures = [p["file"] for p in summary["pictures"]]
    assert sum(p.startswith("synthetic_") for p in pictures) == 2 and "grace_hopper.png" in pictures
    assert all((out / "pictures" / p).is_file() for p in pictures)
    assert "training already complete" in capsys.readouterr().err


def test_demo_bad_arguments(capsys):
    assert main(["demo", "--epochs", "0"]) == 2
    assert "--epochs must be positive" in capsys.readouterr().err
