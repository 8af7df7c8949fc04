"""Run logs: CSV files of training steps and validation epochs, optional TensorBoard, a PNG of the curves.

Files in the run folder: ``train_log.csv`` (epoch, step, loss, each named loss, lr, items/s) and
``val_log.csv`` (epoch, step, each validation metric).  Both are appended to, so a resumed run continues
them (rows past the resume point are dropped first, so they never hold a step twice).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

__all__ = ["RunLog", "plot_curves"]

logger = logging.getLogger(__name__)


class RunLog:
    """Appends rows to the run's CSV logs (and TensorBoard when asked and installed)."""

    def __init__(
        self, run_dir: str | Path, *, tensorboard: bool = False, resume_step: int | None = None
    ) -> None:
        self.run_dir = Path(run_dir)
        self.train_path, self.val_path = self.run_dir / "train_log.csv", self.run_dir / "val_log.csv"
        if resume_step is not None:
            for path in (self.train_path, self.val_path):
                _truncate_after(path, resume_step)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))
            except ImportError:
                logger.warning("tensorboard is not installed; logging to CSV only (pip install tensorboard)")

    def _append(self, path: Path, row: dict[str, Any]) -> None:
        exists = path.is_file() and path.stat().st_size > 0
        fields = list(row)
        if exists:
            with path.open(newline="") as handle:
                header = next(csv.reader(handle), [])
            fields = header + [k for k in row if k not in header]
            if fields != header:  # a new column: rewrite with the wider header
                rows = list(csv.DictReader(path.open(newline="")))
                with path.open("w", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=fields)
                    writer.writeheader()
                    writer.writerows(rows)
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            if not exists:
                writer.writeheader()
            writer.writerow(row)

    def train(self, row: dict[str, Any]) -> None:
        self._append(self.train_path, row)
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("epoch", "step") and isinstance(value, int | float):
                    self.writer.add_scalar(f"train/{key}", value, row["step"])

    def val(self, row: dict[str, Any]) -> None:
        self._append(self.val_path, row)
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("epoch", "step") and isinstance(value, int | float):
                    self.writer.add_scalar(f"val/{key}", value, row["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _truncate_after(path: Path, step: int) -> None:
    if not path.is_file():
        return
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, [r for r in reader if int(float(r["step"])) <= step]
    if fields:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def plot_curves(run_dir: str | Path, out: str | Path | None = None) -> Path | None:
    """Training loss and validation metrics against the step, as a PNG (None when nothing was logged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    train, val = _read(run_dir / "train_log.csv"), _read(run_dir / "val_log.csv")
    if not train and not val:
        return None
    metrics = [k for k in (val[0] if val else {}) if k not in ("epoch", "step")]
    panels = 1 + len(metrics)
    columns = min(4, panels)
    rows = (panels + columns - 1) // columns
    fig, grid = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    axes = grid.ravel()
    ax = axes[0]
    if train:
        steps = [float(r["step"]) for r in train]
        ax.plot(steps, [float(r["loss"]) for r in train], label="total")
        for key in [k for k in train[0] if k.startswith("loss_")]:
            ax.plot(steps, [float(r[key]) for r in train], label=key[5:], alpha=0.7)
        ax.set_yscale("log")
    ax.set_title("training loss")
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    for axis, key in zip(axes[1:panels], metrics, strict=True):
        values = [(float(r["step"]), float(r[key])) for r in val if r.get(key) not in (None, "")]
        axis.plot([s for s, _ in values], [v for _, v in values], marker="o")
        axis.set_title(f"val {key}")
        axis.set_xlabel("step")
    for axis in axes[panels:]:
        axis.set_visible(False)
    fig.tight_layout()
    out = Path(out) if out is not None else run_dir / "curves.png"
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
