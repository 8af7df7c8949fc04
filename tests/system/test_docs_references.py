"""Docstrings cite the repository's own docs: every ``docs/conventions.md`` section they name exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"conventions\.md`*\)?,? sections? (\d+)(?:(?: and |-|, )(\d+))*")


def _sections() -> set[int]:
    text = (ROOT / "docs" / "conventions.md").read_text(encoding="utf-8")
    return {int(n) for n in re.findall(r"^## (\d+)\.", text, flags=re.MULTILINE)}


def test_cited_conventions_sections_exist() -> None:
    sections = _sections()
    cited: dict[str, set[int]] = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        text = " ".join(path.read_text(encoding="utf-8").split())
        for match in CITATION.finditer(text):
            numbers = {int(n) for n in re.findall(r"\d+", match.group(0))}
            cited.setdefault(str(path.relative_to(ROOT)), set()).update(numbers)
    assert cited, "no docstring cites docs/conventions.md"
    missing = {path: sorted(numbers - sections) for path, numbers in cited.items() if numbers - sections}
    assert missing == {}


def test_no_citation_of_a_spec_outside_the_repository() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "src").rglob("*.py"))
        if re.search(r"SPEC(?:'s)? (?:section|formula|GT)", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
