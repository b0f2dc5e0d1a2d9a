"""The report's view of the training diagnostics (docs/diagnostics.md).

Runs trained with diagnostics on (the default) carry extra columns in evaluations.csv: the
critic's Q-value bias, τ-dormant neurons, topology exploration and churn. Per group of seeds
this module gives the values at the last evaluation (mean over seeds) and the curves over
training (mean over seeds at the steps all seeds evaluated). Pure functions of plain data:
report.py passes the runs of each group and writes what comes back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rlx2.train.rundir import DIAGNOSTIC_COLUMNS

PANELS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "q_bias_relative",
        "relative Q-value bias (estimate − return) / |return|",
        ("q_bias_relative",),
    ),
    ("dormant", "τ-dormant neurons (critic —, actor --)", ("dormant_critic", "dormant_actor")),
    (
        "ever_active",
        "connections ever active (critic —, actor --)",
        ("ever_active_critic", "ever_active_actor"),
    ),
    (
        "churn",
        "cumulative churn: grown / active (critic —, actor --)",
        ("churn_critic", "churn_actor"),
    ),
)
"""(name, y-axis title, columns): one panel of the diagnostics figure per row."""

TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("q_bias", "Q bias"),
    ("q_bias_relative", "relative Q bias"),
    ("dormant_actor", "dormant actor"),
    ("dormant_critic", "dormant critic"),
    ("ever_active_actor", "ever-active actor"),
    ("ever_active_critic", "ever-active critic"),
    ("churn_actor", "churn actor"),
    ("churn_critic", "churn critic"),
)
"""evaluations.csv column -> report.md table header, in table order."""


@dataclass(frozen=True)
class DiagnosticCurves:
    """One group's diagnostics over training: mean over seeds at their common steps."""

    label: str
    steps: np.ndarray
    """[num_steps] env steps."""
    columns: Mapping[str, np.ndarray]
    """column name -> [num_steps] mean over the seeds that have a value there (NaN if none)."""


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    """Mean ignoring NaN (a Q-bias is NaN where no state was comparable), NaN if all are."""
    finite = np.isfinite(values)
    counts = finite.sum(axis=axis)
    totals = np.where(finite, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, totals / np.maximum(counts, 1), np.nan)


def has_diagnostics(run_columns: Mapping[str, Sequence[float]]) -> bool:
    return any(column in run_columns for column in DIAGNOSTIC_COLUMNS)


def final_values(runs: Sequence[Mapping[str, Sequence[float]]]) -> dict[str, float]:
    """Per column: the last evaluation's value, averaged over the runs that logged it."""
    values = {}
    for column, _ in TABLE_COLUMNS:
        last = np.array([run[column][-1] for run in runs if run.get(column)], dtype=float)
        values[column] = float(_nanmean(last, 0)) if last.size else float("nan")
    return values


def curves(
    label: str,
    steps: Sequence[Sequence[float]],
    runs: Sequence[Mapping[str, Sequence[float]]],
) -> DiagnosticCurves | None:
    """The group's curves at the steps every run evaluated; None without diagnostics."""
    if not runs or not all(has_diagnostics(run) for run in runs):
        return None
    common = sorted(set.intersection(*(set(s) for s in steps)))
    if not common:
        return None
    columns = {}
    for column in DIAGNOSTIC_COLUMNS:
        if not all(column in run for run in runs):
            continue
        table = np.array(
            [
                [dict(zip(run_steps, run[column], strict=True))[s] for s in common]
                for run_steps, run in zip(steps, runs, strict=True)
            ],
            dtype=float,
        )  # [runs, steps]
        columns[column] = _nanmean(table, 0)
    return DiagnosticCurves(label, np.asarray(common, dtype=float), columns)


def _cell(value: float) -> str:
    return "–" if not np.isfinite(value) else f"{value:.3g}"


def table_rows(groups: Sequence[tuple[str, str, str, int, dict[str, float]]]) -> list[list[str]]:
    """report.md rows: (algo, env, label, seeds, final values) -> cells."""
    return [
        [algo.upper(), env, label, str(seeds), *(_cell(values[c]) for c, _ in TABLE_COLUMNS)]
        for algo, env, label, seeds, values in groups
    ]


def table_header() -> list[str]:
    return ["algo", "env", "method", "seeds", *(title for _, title in TABLE_COLUMNS)]


def section_intro() -> list[str]:
    return [
        "## Diagnostics",
        "",
        "At the last evaluation, mean over seeds (docs/diagnostics.md): the critic's Q-value "
        "bias on the evaluation episodes' states against their discounted return (– where no "
        "state had a full horizon), the fraction of τ-dormant hidden neurons, the fraction of "
        "weight positions ever active, and cumulative churn (connections grown / active "
        "connections).",
        "",
    ]
