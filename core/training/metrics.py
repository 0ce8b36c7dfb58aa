"""Per-epoch metrics: ``metrics.csv`` in the run directory, and TensorBoard when it is installed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.csv"


class MetricsLog:
    """Appends one row per epoch to ``metrics.csv`` (columns fixed by the first row) and to TensorBoard.

    Args:
        run_dir: The run directory.
        resume_epoch: When resuming, rows of this epoch and later are dropped first (they were written by the
            interrupted run after its last checkpoint).
    """

    def __init__(self, run_dir: Path, resume_epoch: int | None = None) -> None:
        self.path = Path(run_dir) / METRICS_FILE
        self.columns: list[str] | None = None
        if self.path.exists():
            with self.path.open(newline="") as handle:
                reader = csv.DictReader(handle)
                self.columns = list(reader.fieldnames or []) or None
                rows = [r for r in reader if resume_epoch is None or int(r["epoch"]) <= resume_epoch]
            if resume_epoch is not None and self.columns:
                self._rewrite(rows)
        self._tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"))
        except Exception:  # tensorboard is optional
            self._tb = None

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns or [])
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        """Append a row (``epoch`` and ``step`` are required; unknown later columns are ignored)."""
        new = self.columns is None
        if new:
            self.columns = list(row)
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()})
        if self._tb is not None:
            for key, value in row.items():
                if key not in {"epoch", "step"} and isinstance(value, (int, float)):
                    self._tb.add_scalar(key, value, int(row["epoch"]))
            self._tb.flush()

    def close(self) -> None:
        """Close the TensorBoard writer."""
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict[str, float]]:
    """The rows of a run's ``metrics.csv`` as floats (empty cells become NaN)."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [{k: float(v) if v not in ("", None) else float("nan") for k, v in row.items()}
                for row in csv.DictReader(handle)]
