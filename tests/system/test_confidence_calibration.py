"""benchmarks/confidence_calibration.py at a tiny size: single view and flip-averaged (``--flip``)."""

from __future__ import annotations

import json
import sys

import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Both modes on the same 24 + 24 heads (the second run reuses the rendered data)."""
    bench = load_benchmark("confidence_calibration")
    out = tmp_path_factory.mktemp("confidence")
    found = {}
    for flip in (False, True):
        argv = ["confidence_calibration.py", "--out", str(out), "--items", "24", "--success-nme", "5"]
        old, sys.argv = sys.argv, argv + (["--flip"] if flip else [])
        try:
            bench.main()
        finally:
            sys.argv = old
        found[flip] = (
            json.loads((out / "confidence.json").read_text()),
            (out / "confidence.md").read_text(),
            json.loads((out / "eval_test" / "submission.json").read_text()),
        )
    return found


def test_the_report_says_which_mode_it_measured(reports):
    for flip, (report, text, _) in reports.items():
        assert report["flip"] is flip
        assert ("flip-averaged" if flip else "single view") in text.splitlines()[2]
        assert set(report["checks"]) == {"val / fitted", "val / shipped", "test / fitted", "test / shipped"}


def test_flip_changes_the_predictions_it_scores(reports):
    single, flipped = reports[False][2], reports[True][2]
    assert single.keys() == flipped.keys()
    moved = [
        key
        for key in single
        if single[key]["68_landmarks_2d_branch"] != flipped[key]["68_landmarks_2d_branch"]
    ]
    assert len(moved) == len(single)
