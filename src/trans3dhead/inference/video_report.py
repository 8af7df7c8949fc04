"""The ``eval-video`` report: ``metrics.json`` (everything) and ``metrics.md`` (one table) from the report
dict of :func:`~trans3dhead.inference.video_eval.evaluate_videos`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trans3dhead.inference.video_eval import VARIANTS
from trans3dhead.metrics._jsonio import write_json, write_text

__all__ = ["video_report_markdown", "write_video_report"]


def _cell(value: float, digits: int) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


#: Report columns: (key, header, digits).
_COLUMNS = (
    ("nme", "NME", 3),
    ("pose_error", "pose error", 4),
    ("pose_deg", "pose (deg)", 2),
    ("jitter_landmarks", "jitter lmk", 3),
    ("jitter_pose_deg", "jitter pose", 3),
    ("lag_landmarks", "lag lmk", 2),
    ("lag_pose", "lag pose", 2),
)


def _rows(name: str, result: dict[str, Any]) -> list[str]:
    truth = {**result["gt"], "lag_landmarks": 0.0, "lag_pose": 0.0}
    rows = []
    for label, values in (*((v, result[v]) for v in VARIANTS), ("ground truth", truth)):
        cells = [_cell(values[key], digits) if key in values else "" for key, _, digits in _COLUMNS]
        rows.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return rows


def _ratio(a: float, b: float) -> str:
    return _cell(a / b, 2) if b and math.isfinite(a) and math.isfinite(b) else "n/a"


def video_report_markdown(report: dict[str, Any], *, title: str = "Video evaluation") -> str:
    """The ``metrics.md`` text of an :func:`evaluate_videos` report."""
    overall = report["overall"]
    raw, smooth = overall["raw"], overall["smoothed"]
    every = report["tracking"]["detect_every"]
    lines = [
        f"# {title}",
        "",
        f"{len(report['sequences'])} sequence(s), {overall['frames']} frames; head found in "
        f"{overall['found']}; {overall['id_switches']} id switch(es); detector: {report['detector']}, "
        f"every {every} frame(s).",
        "",
        "NME x100 of sqrt(GT box area); pose error = ||I - R R_gt^T||_F; jitter = mean acceleration "
        "(landmarks: x100 of the head size per frame^2; pose: degrees per frame^2); lag in frames "
        "(the delay that best aligns prediction and truth, positive = behind the truth).",
        "",
        "| sequence | variant | " + " | ".join(header for _, header, _ in _COLUMNS) + " |",
        "|---|---|" + "---|" * len(_COLUMNS),
        *_rows("all", overall),
    ]
    if len(report["sequences"]) > 1:
        for name, result in report["sequences"].items():
            lines += _rows(name, result)
    lag_lmk = smooth["lag_landmarks"] - raw["lag_landmarks"]
    lag_pose = smooth["lag_pose"] - raw["lag_pose"]
    lines += [
        "",
        f"Smoothing: landmark jitter x{_ratio(smooth['jitter_landmarks'], raw['jitter_landmarks'])}, "
        f"pose jitter x{_ratio(smooth['jitter_pose_deg'], raw['jitter_pose_deg'])}; lag "
        f"{_cell(lag_lmk, 2)} (landmarks) and {_cell(lag_pose, 2)} (pose) frames more than without; "
        f"NME {_cell(raw['nme'], 3)} -> {_cell(smooth['nme'], 3)}, pose error "
        f"{_cell(raw['pose_error'], 4)} -> {_cell(smooth['pose_error'], 4)}.",
        "",
        f"Smoothing parameters: {report['smoothing']}",
        "",
    ]
    return "\n".join(lines)


def write_video_report(report: dict[str, Any], out_dir: str | Path, **sources: str) -> tuple[Path, Path]:
    """Write ``metrics.json`` (with ``sources``, e.g. checkpoint and data) and ``metrics.md``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"sources": sources, **report}
    json_path = write_json(out_dir / "metrics.json", _finite(document), indent=2)
    return json_path, write_text(out_dir / "metrics.md", video_report_markdown(report))


def _finite(value: Any) -> Any:
    """NaN -> None throughout (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
