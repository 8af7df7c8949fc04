"""trans3dhead.frames: the conventions are written once, at the bottom of the package."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import numpy as np
import pytest
import torch

import trans3dhead
from trans3dhead import config, frames
from trans3dhead.geometry import gt_rotation

SRC = Path(trans3dhead.__file__).resolve().parent
# The flip written as numbers in code (strings and comments are dropped, spaces removed): the diagonal
# ``1, -1, -1`` (any float spelling) or the matrix's second / third rows.
_ONE = r"1(?:\.0*)?"
_ZERO = r"0(?:\.0*)?"
FLIP_PATTERNS = (
    re.compile(rf"(?<![\w.]){_ONE},-{_ONE},-{_ONE}(?![\w.])"),
    re.compile(rf"\({_ZERO},-{_ONE},{_ZERO}\),\({_ZERO},{_ZERO},-{_ONE}\)"),
    re.compile(rf"\[{_ZERO},-{_ONE},{_ZERO}\],\[{_ZERO},{_ZERO},-{_ONE}\]"),
)


def _code_without_strings(path: Path) -> str:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    skip = (tokenize.STRING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT)
    return "".join(t.string for t in tokens if t.type not in skip and not t.string.isspace())


def test_flip_matrix_written_once() -> None:
    offenders = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "frames.py"
        and any(p.search(_code_without_strings(path)) for p in FLIP_PATTERNS)
    ]
    assert offenders == []
    assert any(p.search(_code_without_strings(SRC / "frames.py")) for p in FLIP_PATTERNS[:1])


def test_frames_imports_nothing_of_the_project() -> None:
    tree = ast.parse((SRC / "frames.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.startswith("trans3dhead") for name in imported)


def test_flip_is_its_own_inverse_and_read_only() -> None:
    np.testing.assert_array_equal(frames.FLIP_YZ @ frames.FLIP_YZ, np.eye(3))
    np.testing.assert_array_equal(np.asarray(frames.FRONTAL_ROTATION), frames.FLIP_YZ)
    with pytest.raises(ValueError):
        frames.FLIP_YZ[0, 0] = 2.0


def test_gt_rotation_is_the_flip_of_model_view() -> None:
    model_view = torch.randn(5, 4, 4, dtype=torch.float64)
    expected = torch.tensor(frames.FLIP_YZ) @ model_view[:, :3, :3]
    torch.testing.assert_close(gt_rotation(model_view), expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("key", "names"),
    [
        ("arch", frames.ARCHS),
        ("qamem", frames.BRANCH_MODES),
        ("mqinit", frames.BRANCH_MODES),
        ("marr", frames.MARR_MODES),
        ("pose_init", frames.POSE_INITS),
        ("readout", frames.READOUTS),
        ("bifpn_fusion", frames.FUSION_MODES),
        ("crop", frames.CROP_STYLES),
        ("landmarks", frames.LANDMARK_SOURCES),
    ],
)
def test_config_choices_are_the_frames_names(key: str, names: tuple[str, ...]) -> None:
    assert config._CHOICES[("model", key)] is names


def test_numpy_gt_rotation_matches_the_tensor_one() -> None:
    model_view = np.random.default_rng(0).normal(size=(3, 4, 4))
    expected = gt_rotation(torch.from_numpy(model_view)).numpy()
    np.testing.assert_array_equal(frames.gt_rotation_from_model_view(model_view), expected)


def test_heads_split_width() -> None:
    assert frames.heads_split_width(32, 4) and frames.heads_split_width(36, 6)
    assert not frames.heads_split_width(30, 8)
    assert not frames.heads_split_width(0, 1) and not frames.heads_split_width(8, 0)
    assert not frames.heads_split_width(36, 6, multiple_of=8)
    assert frames.heads_split_width(32, 8, multiple_of=4)
