"""``trans3dhead data check`` on a hand-built mini dataset, clean and damaged."""

from __future__ import annotations

import json

from dataset_files import write_split

from trans3dhead.cli import main
from trans3dhead.data.check import check_split


def test_clean_dataset_passes(tmp_path, tiny_assets, capsys):
    write_split(tmp_path, "train", tiny_assets)
    write_split(tmp_path, "val", tiny_assets)
    assert check_split(tmp_path, "train") == []
    assert main(["data", "check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "train: 0 errors" in out and "val: 0 errors" in out and "OK" in out


def test_every_problem_is_reported(tmp_path, tiny_assets, capsys):
    entries = write_split(tmp_path, "val", tiny_assets, items=5)
    (tmp_path / "val" / "images" / "val_000.png").write_bytes(b"\x89PNG broken")
    (tmp_path / "val" / "annotations" / "val_001.json").write_text('{"vertices": [[0, 0')
    entries[2]["bbox"] = [500.0, 500.0, 10.0, 10.0]
    entries[3]["attributes"] = {"pose": "upside-down"}
    entries[4]["bbox"] = [150.0, 10.0, 20.0, 20.0]  # partly outside the 160 px wide image: a warning
    (tmp_path / "val" / "val.json").write_text(json.dumps(entries))
    problems = [str(p) for p in check_split(tmp_path, "val")]
    assert any("val_000.png: not a decodable image" in p for p in problems)
    assert any("val_001.json: invalid JSON" in p for p in problems)
    assert any(
        "(val_002): bbox [500.0, 500.0, 10.0, 10.0] lies outside the 160x120 image" in p for p in problems
    )
    assert any("(val_003): attribute 'pose' has unknown value 'upside-down'" in p for p in problems)
    assert any(p.startswith("warning") and "(val_004)" in p for p in problems)
    assert main(["data", "check", str(tmp_path), "--split", "val"]) == 1
    assert "FAILED: 4 errors, 1 warnings" in capsys.readouterr().out


def test_vertex_count_checked_against_model(tmp_path, tiny_assets):
    write_split(tmp_path, "val", tiny_assets, items=1)
    problems = check_split(tmp_path, "val", num_vertices=41)
    assert len(problems) == 1 and "field 'vertices' has shape (40, 3), expected 41x3" in str(problems[0])


def test_missing_root(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nothing")]) == 2
    assert "no split folders" in capsys.readouterr().err
