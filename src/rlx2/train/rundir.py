"""The run directory: config.json, evaluations.csv, summary.json, checkpoints, TensorBoard events.

Every file is written atomically (write a temporary file in the same directory, then rename),
so a run killed at any moment leaves complete files, and a run never silently replaces
another run's results.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from rlx2.errors import RunDirError

CONFIG = "config.json"
SUMMARY = "summary.json"
EVALUATIONS = "evaluations.csv"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tb"
EVALUATION_COLUMNS = [
    "step",
    "return_mean",
    "return_std",
    "return_min",
    "return_max",
    "episodes",
    "wall_time_s",
]


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite_or_none(obj: Any) -> Any:
    """JSON has no NaN/inf: write them as null so every reader can parse the file."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj


def atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(_finite_or_none(obj), indent=2, default=_json_default, sort_keys=False)
    atomic_write_bytes(path, (text + "\n").encode())


def read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


def holds_run(path: Path) -> bool:
    return (path / CONFIG).exists() or (path / SUMMARY).exists()


def run_status(path: Path) -> str | None:
    """ "completed", "running" (in progress, or killed without a word), "failed", or None (no run)."""
    path = Path(path)
    if not holds_run(path):
        return None
    try:
        return str(read_json(path / SUMMARY).get("status", "running"))
    except (OSError, ValueError):
        return "running"  # config.json written, summary not yet: a run that just started


def prepare_new_run_dir(path: Path, overwrite: bool) -> None:
    """Make ``path`` ready for a new run, refusing to replace anything not asked for."""
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--run-dir {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        if not holds_run(path):
            raise RunDirError(
                f"--run-dir {path} is not empty and holds no rlx2 run; choose another directory"
            )
        if not overwrite:
            raise RunDirError(
                f"--run-dir {path} already holds a run; pass --overwrite to replace it or choose another directory"
            )
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)


def write_evaluations(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite evaluations.csv whole (small file), atomically: one row per evaluation step."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EVALUATION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in EVALUATION_COLUMNS})
    atomic_write_bytes(path / EVALUATIONS, buffer.getvalue().encode())


def read_evaluations(path: Path) -> list[dict[str, float]]:
    with open(path / EVALUATIONS, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def final_score(returns: list[float], last: int = 30) -> float:
    """Final score of a run: mean of the last 30 evaluations, all if fewer (spec §8)."""
    tail = returns[-last:]
    return float(sum(tail) / len(tail)) if tail else float("nan")
