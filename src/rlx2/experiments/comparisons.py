"""Method comparisons across tasks (rliable): probability of improvement of RLx2 over each
other method, and performance profiles of % of dense (docs/report.md).

Input is plain data, one algorithm at a time: ``cells[(task, column)]`` = (the seeds' final
scores, the task's dense mean or None). report/tables.py builds it from a paper-style table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rlx2.experiments import stats

Cells = Mapping[tuple[str, str], tuple[Sequence[float], float | None]]
"""(task, column) -> (final scores of the seeds, dense mean of that task or None)."""

PROFILE_POINTS = 201
"""Thresholds τ of a performance profile, evenly spaced from 0 to the largest score."""


@dataclass(frozen=True)
class Improvement:
    """P(reference > other): a run of ``reference`` scores above a run of ``other``."""

    algo: str
    reference: str
    other: str
    tasks: tuple[str, ...]
    probability: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Profile:
    """Performance profiles of one algorithm: fraction of runs above τ % of dense."""

    algo: str
    taus: np.ndarray
    """[T] thresholds in % of dense."""
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    """column -> (fraction [T], band low [T], band high [T])."""
    tasks: Mapping[str, tuple[str, ...]]
    """column -> the tasks its profile averages over."""


def improvements(
    algo: str,
    cells: Cells,
    references: Sequence[str],
    columns: Sequence[str],
    reps: int,
    confidence: float,
    seed: int,
) -> list[Improvement]:
    """P(R > X) for every reference column R and every other column X, over the tasks where
    both ran (raw scores: the statistic compares runs within a task, so no normalisation),
    then, where that is more than one task, on each task alone (the paper's claims are per
    task: "largest on Walker2d")."""
    found = []
    for reference in references:
        for other in columns:
            if other == reference:
                continue
            tasks = tuple(sorted(t for t, c in cells if c == reference and (t, other) in cells))
            if not tasks:
                continue
            per_task = [(t,) for t in tasks] if len(tasks) > 1 else []
            for subset in [tasks, *per_task]:
                x = [np.asarray(cells[(t, reference)][0], float) for t in subset]
                y = [np.asarray(cells[(t, other)][0], float) for t in subset]
                low, high = stats.probability_of_improvement_ci(x, y, reps, confidence, seed)
                probability = stats.probability_of_improvement(x, y)
                found.append(Improvement(algo, reference, other, subset, probability, low, high))
    return found


def profile(
    algo: str, cells: Cells, columns: Sequence[str], reps: int, confidence: float, seed: int
) -> Profile | None:
    """Each column's profile over the tasks where it ran and % of dense is defined (dense
    mean > 0); None when there is no such task."""
    normalized: dict[str, list[np.ndarray]] = {}
    tasks: dict[str, tuple[str, ...]] = {}
    for column in columns:
        mine = sorted(t for t, c in cells if c == column and (cells[(t, c)][1] or 0.0) > 0.0)
        if mine:
            tasks[column] = tuple(mine)
            normalized[column] = [
                100.0 * np.asarray(cells[(t, column)][0], float) / cells[(t, column)][1]  # type: ignore[operator]
                for t in mine
            ]
    if not normalized:
        return None
    top = max(float(np.max(s)) for per_task in normalized.values() for s in per_task)
    taus = np.linspace(0.0, max(top, 100.0) * 1.02, PROFILE_POINTS)
    curves = {}
    for column, per_task in normalized.items():
        low, high = stats.performance_profile_band(per_task, taus, reps, confidence, seed)
        curves[column] = (stats.performance_profile(per_task, taus), low, high)
    return Profile(algo, taus, curves, tasks)
