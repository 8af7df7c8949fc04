"""``python -m trans3dhead`` runs the command line, as the ``trans3dhead`` script does."""

import subprocess
import sys


def _run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "trans3dhead", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_python_m_trans3dhead_prints_the_commands():
    done = _run("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: trans3dhead")
    assert "synth" in done.stdout and "predict" in done.stdout


def test_python_m_trans3dhead_refuses_an_unknown_command_with_exit_2():
    done = _run("no-such-command")
    assert done.returncode == 2
    assert "no-such-command" in done.stderr
