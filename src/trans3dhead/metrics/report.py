"""Benchmark reports: ``metrics.json`` (everything, machine-readable) and ``metrics.md`` (tables).

Both come from a :class:`~trans3dhead.metrics.benchmark.BenchmarkResult`, so ``trans3dhead score`` (from
files) and an in-memory evaluation write the same report for the same predictions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trans3dhead.metrics._jsonio import write_json, write_text
from trans3dhead.metrics.benchmark import METRICS, BenchmarkResult, MetricSummary

__all__ = ["POLICY", "landmark_sources", "report_dict", "report_markdown", "write_report"]

#: How missing / invalid predictions enter the means; written into every report.
POLICY = (
    "A missing or invalid prediction field is listed under problems and leaves out of the means only the "
    "metrics that need that field, for that item; it never counts as perfect or as zero. 'scored' is "
    "the number of items each mean covers, out of 'total' GT items."
)
_LABELS = {spec.key: spec.label for spec in METRICS}
_NO_BRANCH = (
    "n/a: the predictions carry no landmark-branch output (a model without a landmark branch, e.g. the "
    "only-3DMM Trans3DHead)"
)


def landmark_sources(result: BenchmarkResult) -> dict[str, str]:
    """What each landmark NME of the report measures (and which one is missing, with why)."""
    keys = result.metric_keys
    sources = {"nme_reprojection": "the submitted 68_landmarks_2d (the benchmark's NME)"}
    if "nme_flame" in keys:
        sources["nme_flame"] = "68 landmarks of the predicted FLAME mesh, projected"
    if "nme_branch" in keys:
        sources["nme_branch"] = "68 landmarks regressed by the landmark branch / head"
    elif "nme_flame" in keys:
        sources["nme_branch"] = _NO_BRANCH
    return sources


_MD_PROBLEM_ROWS = 200


def _summary_dict(summary: MetricSummary) -> dict[str, Any]:
    return {**asdict(summary), "coverage": summary.coverage}


def report_dict(
    result: BenchmarkResult, *, sources: Mapping[str, str] | None = None, per_item: bool = False
) -> dict[str, Any]:
    """The ``metrics.json`` content.  ``sources`` names the inputs (GT file, submission, FLAME file...)."""
    problems = result.problems
    report: dict[str, Any] = {
        "benchmark": "DAD-3DHeads",
        "sources": dict(sources or {}),
        "options": asdict(result.options),
        "num_items": len(result.items),
        "num_predictions": result.num_predictions,
        "results": {key: result.overall[key].mean for key in result.metric_keys},
        "landmark_sources": landmark_sources(result),
        "overall": {key: _summary_dict(result.overall[key]) for key in result.metric_keys},
        "attributes": [
            {
                "attribute": row.attribute,
                "value": row.value,
                "count": row.count,
                "metrics": {key: _summary_dict(row.metrics[key]) for key in result.metric_keys},
            }
            for row in result.attributes
        ],
        "policy": POLICY,
        "problems": {
            "count": len(problems),
            "items_affected": len({p.item_id for p in problems if p.kind != "unexpected_id"}),
            "by_kind": dict(Counter(p.kind for p in problems)),
            "list": [p.to_dict() for p in problems],
        },
    }
    if per_item:
        report["per_item"] = [
            {"id": item.item_id, **item.values, "attributes": item.attributes} for item in result.items
        ]
    return report


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _problem_lines(result: BenchmarkResult) -> list[str]:
    problems = result.problems
    lines = ["", f"## Missing / invalid predictions ({len(problems)})", ""]
    if not problems:
        return lines + ["None: every item was scored on every metric."]
    by_kind = Counter(p.kind for p in problems)
    lines += [", ".join(f"{kind}: {count}" for kind, count in sorted(by_kind.items())), ""]
    rows = [
        [_escape(p.item_id), _escape(p.field), p.kind, _escape(p.message), ", ".join(p.metrics) or "-"]
        for p in problems[:_MD_PROBLEM_ROWS]
    ]
    lines += _table(["id", "field", "problem", "detail", "unscored"], rows)
    if len(problems) > _MD_PROBLEM_ROWS:
        lines += ["", f"... and {len(problems) - _MD_PROBLEM_ROWS} more (see metrics.json)."]
    return lines


def report_markdown(result: BenchmarkResult, *, sources: Mapping[str, str] | None = None) -> str:
    """The ``metrics.md`` content: overall table, one row per attribute value, problems."""
    keys = result.metric_keys
    lines = ["# DAD-3DHeads benchmark", ""]
    lines += [f"- {name}: `{value}`" for name, value in (sources or {}).items()]
    options = ", ".join(f"{k}={v}" for k, v in asdict(result.options).items())
    lines += [f"- items: {len(result.items)}, predictions: {result.num_predictions}, options: {options}", ""]
    lines += ["## Overall", ""]
    rows = [
        [_LABELS[k], _number(s.mean), str(s.scored), f"{100 * s.coverage:.1f}%"]
        for k, s in ((k, result.overall[k]) for k in keys)
    ]
    lines += _table(["metric", "value", "scored", "coverage"], rows)
    lines += ["", "Landmark sources:", ""]
    lines += [f"- {_LABELS[k]}: {text}" for k, text in landmark_sources(result).items()]
    lines += ["", POLICY]
    if result.attributes:
        lines += ["", "## Per attribute", ""]
        rows = [
            [_escape(r.attribute), _escape(r.value), str(r.count)]
            + [_number(r.metrics[k].mean) for k in keys]
            for r in result.attributes
        ]
        lines += _table(["attribute", "value", "count"] + [_LABELS[k] for k in keys], rows)
    lines += _problem_lines(result)
    return "\n".join(lines) + "\n"


def write_report(
    result: BenchmarkResult,
    out_dir: str | Path,
    *,
    sources: Mapping[str, str] | None = None,
    per_item: bool = False,
) -> tuple[Path, Path]:
    """Write ``OUT/metrics.json`` and ``OUT/metrics.md`` (atomically); returns their paths."""
    out = Path(out_dir)
    json_path = write_json(
        out / "metrics.json", report_dict(result, sources=sources, per_item=per_item), indent=2
    )
    md_path = write_text(out / "metrics.md", report_markdown(result, sources=sources))
    return json_path, md_path
