"""Output paths checked before work (trans3dhead.outputs) and no half-made output after a failure."""

from __future__ import annotations

import os

import pytest

from trans3dhead.errors import OutputError
from trans3dhead.outputs import check_output_dir, check_output_file, undo_on_failure


def test_check_output_dir_and_file(tmp_path):
    afile = tmp_path / "f.txt"
    afile.write_text("x")
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_output_file(tmp_path / "new" / "r.json") == tmp_path / "new" / "r.json"
    assert check_output_file(afile) == afile  # replaced when written
    with pytest.raises(OutputError, match=r"f\.txt: it is a file, not a folder"):
        check_output_dir(afile)
    with pytest.raises(OutputError, match=rf"--out {afile / 'a' / 'b'}: {afile} is a file, not a folder"):
        check_output_dir(afile / "a" / "b")
    with pytest.raises(OutputError, match="is a folder, expected a file name"):
        check_output_file(tmp_path, option="TARGET")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]  # nothing created


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        with pytest.raises(OutputError, match="is not writable"):
            check_output_dir(locked / "out")
    finally:
        locked.chmod(0o755)


def test_undo_on_failure(tmp_path):
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError), undo_on_failure(fresh):
        (fresh / "sub").mkdir(parents=True)
        (fresh / "sub" / "half.bin").write_bytes(b"x")
        raise RuntimeError("boom")
    assert not fresh.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "mine.txt").write_text("keep me")
    with pytest.raises(RuntimeError), undo_on_failure(existing):
        (existing / "new.txt").write_text("x")
        raise RuntimeError("boom")
    assert [p.name for p in existing.iterdir()] == ["mine.txt"]
    with pytest.raises(RuntimeError), undo_on_failure(fresh, keep=lambda: True):
        fresh.mkdir()
        raise RuntimeError("boom")
    assert fresh.is_dir()  # keep() said the output is worth keeping
    interrupted = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt), undo_on_failure(interrupted):
        interrupted.mkdir()
        raise KeyboardInterrupt
    assert interrupted.is_dir()  # Ctrl-C is not a failure
    with undo_on_failure(tmp_path / "ok") as folder:
        folder.mkdir()
    assert folder.is_dir()
