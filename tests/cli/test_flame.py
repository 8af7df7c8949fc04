"""``trans3dhead flame-info`` / ``flame-export``, and their old names ``model-info`` / ``model-export``."""

from __future__ import annotations

import json

from trans3dhead.cli import build_parser, main


def test_flame_info_and_export(tmp_path, capsys):
    assert main(["flame-info", "--json"]) == 0
    captured = capsys.readouterr()
    info = json.loads(captured.out)
    assert info["source"].startswith("embedded(") and captured.err == ""
    out = tmp_path / "embedded"
    assert main(["flame-export", str(out), "--vertices", "1500", "--shape", "10", "--expression", "5"]) == 0
    captured = capsys.readouterr()
    assert f"--flame {out / 'generic_model.npz'} --aux {out / 'aux'}" in captured.out and captured.err == ""
    files = ["--flame", str(out / "generic_model.npz"), "--aux", str(out / "aux")]
    assert main(["flame-info", "--json", *files]) == 0
    assert json.loads(capsys.readouterr().out)["shape_params"] == 10


def test_old_names_still_work_with_a_note_on_stderr(tmp_path, capsys):
    assert main(["model-info", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["source"].startswith("embedded(")  # stdout: the output only
    assert captured.err == "trans3dhead: note: 'model-info' is now 'flame-info' (the old name still works)\n"
    out = tmp_path / "embedded"
    assert main(["model-export", str(out), "--vertices", "1500", "--shape", "10", "--expression", "5"]) == 0
    captured = capsys.readouterr()
    assert (out / "generic_model.npz").is_file() and "'model-export' is now 'flame-export'" in captured.err
    assert captured.err.count("\n") == 1


def test_help_lists_the_new_names_only():
    text = build_parser().format_help()
    assert "flame-info" in text and "flame-export" in text
    assert "model-info" not in text and "model-export" not in text
