"""Across groups: paper-style tables (Table 2 layout), method comparisons (probability of
improvement, performance profiles) and compression ladders."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rlx2.experiments import comparisons, compression, stats
from rlx2.experiments.compression import LadderResult
from rlx2.experiments.report.groups import (
    GroupKey,
    GroupResult,
    dense_reference,
    key_order,
    label_order,
)
from rlx2.experiments.report.options import ReportConfig


def column_names(results: Sequence[GroupResult]) -> dict[GroupKey, str]:
    """Table column of each group: its label, plus "actor/critic" sparsities when that label
    ran at several sparsity settings on some task of the same algorithm."""
    settings: dict[tuple[str, str, str], set[tuple[Any, Any]]] = {}
    for g in results:
        settings.setdefault((g.key.algo, g.key.env, g.key.label), set()).add(
            (g.key.actor_sparsity, g.key.critic_sparsity)
        )
    several = {(algo, label) for (algo, _, label), s in settings.items() if len(s) > 1}
    return {
        g.key: (
            f"{g.key.label} {g.key.actor_sparsity:g}/{g.key.critic_sparsity:g}"
            if (g.key.algo, g.key.label) in several and g.key.actor_sparsity is not None
            else g.key.label
        )
        for g in results
    }


@dataclass(frozen=True)
class PaperTable:
    """Table 2 layout for one algorithm: rows tasks, columns methods."""

    algo: str
    tasks: tuple[str, ...]
    columns: tuple[str, ...]
    score: Mapping[tuple[str, str], GroupResult]
    """(task, column) -> group."""
    average_pct: Mapping[str, float | None]
    """column -> mean over tasks of % of dense (None unless every task has it); ≥ 2 tasks."""
    aggregate: Mapping[str, tuple[float, float, float] | None]
    """column -> IQM of per-run % of dense over all tasks with its stratified-bootstrap CI."""
    aggregate_notes: Mapping[str, str]

    @property
    def sparse_columns(self) -> tuple[str, ...]:
        """Columns of methods other than dense (the % of dense table)."""
        dense = {column for (_, column), g in self.score.items() if g.method == "dense"}
        return tuple(c for c in self.columns if c not in dense)


def paper_tables(results: Sequence[GroupResult], config: ReportConfig) -> list[PaperTable]:
    names = column_names(results)
    tables = []
    for algo in sorted({g.key.algo for g in results}):
        mine = [g for g in results if g.key.algo == algo]
        tasks = tuple(sorted({g.key.env for g in mine}))
        order: list[str] = []
        for g in sorted(mine, key=lambda g: (label_order(g.key.label), key_order(g.key))):
            if names[g.key] not in order:
                order.append(names[g.key])
        score = {(g.key.env, names[g.key]): g for g in mine}
        average: dict[str, float | None] = {}
        aggregate: dict[str, tuple[float, float, float] | None] = {}
        aggregate_notes: dict[str, str] = {}
        for column in order:
            cells = [score.get((task, column)) for task in tasks]
            pcts = [c.pct_of_dense if c is not None else None for c in cells]
            average[column] = (
                float(np.mean(pcts))  # type: ignore[arg-type]
                if len(tasks) >= 2 and all(p is not None for p in pcts)
                else None
            )
            aggregate[column] = None
            if len(tasks) < 2 or any(p is None for p in pcts):
                continue
            counts = {c.num_seeds for c in cells if c is not None}
            if len(counts) != 1:
                aggregate_notes[column] = "seed counts differ between tasks: no IQM over tasks"
                continue
            # [num_seeds, num_tasks]: each run's final score as % of its task's dense mean.
            normalized = np.array(
                [[100.0 * s / c.dense_mean for s in c.scores] for c in cells]  # type: ignore[union-attr, operator]
            ).T
            value = float(stats.iqm(normalized))
            low, high = stats.stratified_bootstrap_ci(
                normalized, stats.iqm, config.bootstrap_reps, config.confidence, config.seed
            )
            aggregate[column] = (value, low, high)
        tables.append(
            PaperTable(algo, tasks, tuple(order), score, average, aggregate, aggregate_notes)
        )
    return tables


def method_comparisons(
    tables: Sequence[PaperTable], config: ReportConfig
) -> tuple[tuple[comparisons.Improvement, ...], tuple[comparisons.Profile, ...]]:
    """Probability of improvement of every RLx2 column over the other columns of its
    algorithm, and performance profiles (experiments/comparisons.py)."""
    found: list[comparisons.Improvement] = []
    profiles: list[comparisons.Profile] = []
    for table in tables:
        cells = {key: (g.scores, g.dense_mean) for key, g in table.score.items()}
        references = [
            c
            for c in table.columns
            if any(g.key.label == "rlx2" for (_, cc), g in table.score.items() if cc == c)
        ]
        found += comparisons.improvements(
            table.algo,
            cells,
            references,
            table.columns,
            config.bootstrap_reps,
            config.confidence,
            config.seed,
        )
        profile = comparisons.profile(
            table.algo, cells, table.columns, config.bootstrap_reps, config.confidence, config.seed
        )
        if profile is not None:
            profiles.append(profile)
    return tuple(found), tuple(profiles)


# ------------------------------------------------------------------ ultimate compression


def compression_ladders(
    results: Sequence[GroupResult],
    config: ReportConfig,
    measure: Callable[[str], float] = compression.random_policy_score,
) -> list[LadderResult]:
    """The compression search of every (algorithm, task, label) that ran at >= 2 sparsity
    levels, against the dense group of that task (``dense_reference``, as % of dense is).

    ``measure`` gives a task's random-policy score when the baseline needs it (once per task).
    """
    ladders: dict[tuple[str, str, str], list[GroupResult]] = {}
    for g in results:
        if g.method != "dense" and g.key.actor_sparsity is not None:
            ladders.setdefault((g.key.algo, g.key.env, g.key.label), []).append(g)
    random_scores: dict[str, float] = {}

    def measure_once(env: str) -> float:
        if env not in random_scores:
            random_scores[env] = measure(env)
        return random_scores[env]

    options = config.compression
    found = []
    for (algo, env, label), members in ladders.items():
        if len(members) < 2:
            continue  # one sparsity is no search; its % of dense is in the group table
        levels = [
            compression.Level(g.key.actor_sparsity, g.key.critic_sparsity, g.scores, g.ratios)  # type: ignore[arg-type]
            for g in members
        ]
        notes = sorted({n for g in members for n in g.notes if n.startswith("dense reference")})
        dense = dense_reference(results, algo, env)
        baseline, source = (
            (None, "none")
            if dense is None
            else compression.resolve_baseline(options.baseline, env, dense.iqm, measure_once)
        )
        found.append(
            compression.search_ladder(
                algo,
                env,
                label,
                levels,
                None if dense is None else dense.scores,
                baseline,
                source,
                options,
                config.bootstrap_reps,
                config.confidence,
                config.seed,
                notes,
            )
        )
    return found
