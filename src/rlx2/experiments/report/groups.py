"""Grouping runs by (algorithm, task, method label, sparsities, protocol) and the statistics
of each group: final-score mean, IQM with its bootstrap CI, % of the dense reference."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rlx2.experiments import stats
from rlx2.experiments.report.options import (
    METHOD_ORDER,
    PROTOCOL_PREFIXES,
    RATIO_FIELDS,
    ReportConfig,
)
from rlx2.experiments.report.runs import Run


class GroupKey(NamedTuple):
    algo: str
    env: str
    label: str
    actor_sparsity: float | None
    critic_sparsity: float | None


def label_order(label: str) -> tuple[int, str]:
    method = re.split(r"[\[+\- ]", label, maxsplit=1)[0]
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return rank, label


def key_order(key: GroupKey) -> tuple[Any, ...]:
    return (
        key.algo,
        key.env,
        label_order(key.label),
        -1.0 if key.actor_sparsity is None else key.actor_sparsity,
        -1.0 if key.critic_sparsity is None else key.critic_sparsity,
    )


def group_key(run: Run) -> GroupKey:
    return GroupKey(run.algo, run.env, run.label, run.actor_sparsity, run.critic_sparsity)


def group_runs(runs: Iterable[Run]) -> dict[GroupKey, list[Run]]:
    """Included runs by group key, groups sorted (algo, env, paper method order, sparsity)."""
    groups: dict[GroupKey, list[Run]] = {}
    for run in runs:
        if run.included:
            groups.setdefault(group_key(run), []).append(run)
    return {
        key: sorted(groups[key], key=lambda r: (r.seed is None, r.seed, str(r.path)))
        for key in sorted(groups, key=key_order)
    }


def base_label(run: Run) -> str:
    """Method name; "+" when RLx2 value learning was added to another method (paper Table 3)."""
    from rlx2.presets import METHODS

    label = run.method
    default_topology = METHODS[run.method].topology if run.method in METHODS else None
    if run.topology and default_topology and run.topology != default_topology:
        label += f"[{run.topology}]"  # e.g. --method ss --topology rigl: not plain ss
    if run.rlx2_value_learning and run.method != "rlx2":
        label += "+"
    if run.method == "rlx2" and not run.rlx2_value_learning:
        label += "-novl"  # RLx2's topology without its value learning
    return label


def _option_text(key: str, value: Any) -> str:
    """``run.total_steps``, 3000 -> ``total-steps=3000`` (the flag's name: flags are unique)."""
    return f"{key.rsplit('.', 1)[-1].replace('_', '-')}={value}"


def value_learning_marks(run: Run) -> str:
    """ " n=K" and " fixbuf"/" dynbuf" where a run's n-step or buffer differs from what its
    value learning uses by default (the --nstep and --dynamic-buffer ablations): the method
    itself keeps its plain name, whatever ablations are added beside it."""
    from rlx2.resolve import value_learning_defaults

    default_n, default_dynamic = value_learning_defaults(run.rlx2_value_learning)
    marks = ""
    if run.nstep is not None and run.nstep != default_n:
        marks += f" n={run.nstep}"
    if run.dynamic_buffer is not None and run.dynamic_buffer != default_dynamic:
        marks += " dynbuf" if run.dynamic_buffer else " fixbuf"
    return marks


def assign_labels(runs: Sequence[Run]) -> list[Run]:
    """Give every run its method label, one label per protocol.

    The label is the base label plus the value-learning ablation marks. Runs of one
    (algorithm, task, label, sparsities) whose protocols differ get the differing options
    and their values ("[total-steps=3000]"): two protocols always differ in one of those
    options, so they never share a label, hence never a group. Those options are named on
    every task of that (algorithm, label), so one protocol has one label across tasks (one
    column of the paper-style table). (Only runs that enter the statistics are compared:
    an unfinished run of another length changes no label.)
    """
    labelled = [replace(run, label=base_label(run) + value_learning_marks(run)) for run in runs]
    clusters: dict[tuple[Any, ...], list[Run]] = {}
    for run in labelled:
        if run.included:  # runs left out of the statistics never split a group
            key = (run.algo, run.env, run.label, run.actor_sparsity, run.critic_sparsity)
            clusters.setdefault(key, []).append(run)
    differing: dict[tuple[str, str], set[str]] = {}
    for (algo, _, label, *_), members in clusters.items():
        differing.setdefault((algo, label), set()).update(differing_settings(members))
    for i, run in enumerate(labelled):
        if keys := sorted(differing.get((run.algo, run.label), ())):
            shown = ", ".join(_option_text(k, run.settings.get(k)) for k in keys)
            labelled[i] = replace(run, label=f"{run.label} [{shown}]")
    return labelled


def exclude_repeated_seeds(runs: Sequence[Run]) -> tuple[list[Run], list[Run]]:
    """Each seed counts once per group: a repeated seed (the same run twice, or a copy) would
    weigh double in the statistics. The first run directory (by path) is kept; the others
    are excluded, with the reason naming the one kept. Returns (all runs, the excluded ones)."""
    kept: dict[tuple[Any, ...], Run] = {}
    repeated: dict[Path, Run] = {}
    for run in sorted(runs, key=lambda r: str(r.path)):
        if run.included and run.seed is not None:
            first = kept.setdefault((*group_key(run), run.seed), run)
            if first is not run:
                repeated[run.path] = replace(
                    run,
                    final_score=None,
                    reason=f"seed {run.seed} repeated in its group: {first.path} is counted",
                )
    return [repeated.get(run.path, run) for run in runs], list(repeated.values())


UNRECORDED = "unrecorded"


@dataclass(frozen=True)
class MachineSpeed:
    """Wall-clock of a group's runs on one CPU and one source commit: steps/s compares methods
    only there (a new commit may be faster, as a new machine may)."""

    machine: str
    """config.json's ``machine.cpu`` (UNRECORDED when a run lacks it)."""
    commit: str
    """config.json's ``source.commit`` (UNRECORDED when a run lacks it)."""
    runs: int
    resumed: int
    """How many of them were resumed: their steps/s spans sessions, which config.json's
    machine and commit (the first session's) may not describe."""
    median: float
    low: float
    high: float
    """The slowest and fastest run's steps/s."""
    vs_dense: float | None = None
    """median / the dense reference group's median on the same machine and commit (None
    without one)."""


def short_commit(commit: str) -> str:
    """A commit as people write it: 7 hex digits (and "+dirty"), or UNRECORDED."""
    if commit == UNRECORDED:
        return commit
    return commit[:7] + ("+dirty" if commit.endswith("+dirty") else "")


def machine_speeds(runs: Sequence[Run]) -> tuple[MachineSpeed, ...]:
    """steps/s (env steps per wall-clock second, evaluation included) per machine and commit,
    sorted; runs whose summary lacks a positive number are left out."""
    by_place: dict[tuple[str, str], list[tuple[float, bool]]] = {}  # (steps/s, resumed)
    for run in runs:
        speed = run.summary_number("steps_per_second")
        if speed is not None and speed > 0:
            place = (run.machine or UNRECORDED, run.commit or UNRECORDED)
            resumed = (run.summary_number("resumes") or 0) > 0
            by_place.setdefault(place, []).append((speed, resumed))
    speeds = []
    for (machine, commit), members in sorted(by_place.items()):
        values = [speed for speed, _ in members]
        speeds.append(
            MachineSpeed(
                machine,
                commit,
                len(members),
                sum(resumed for _, resumed in members),
                float(np.median(values)),
                min(values),
                max(values),
            )
        )
    return tuple(speeds)


def _speeds_vs_dense(
    speeds: Sequence[MachineSpeed], dense: Sequence[MachineSpeed]
) -> tuple[MachineSpeed, ...]:
    reference = {(speed.machine, speed.commit): speed.median for speed in dense}
    return tuple(
        replace(speed, vs_dense=speed.median / reference[speed.machine, speed.commit])
        if (speed.machine, speed.commit) in reference
        else speed
        for speed in speeds
    )


@dataclass(frozen=True)
class GroupResult:
    """Statistics of one group; scores are final scores (mean of the last evaluations)."""

    key: GroupKey
    method: str
    rlx2_value_learning: bool
    run_dirs: tuple[str, ...]
    seeds: tuple[int | None, ...]
    scores: tuple[float, ...]
    mean: float
    std: float
    iqm: float
    ci_low: float
    ci_high: float
    dense_mean: float | None = None
    dense_iqm: float | None = None
    pct_of_dense: float | None = None
    pct_of_dense_iqm: float | None = None
    pct_of_dense_iqm_ci: tuple[float, float] | None = None
    """CI of IQM / dense IQM × 100: the group's and dense's seeds resampled independently."""
    paper_pct_of_dense: float | None = None
    """The paper's figure for this method and task (Tables 2 and 3), where it has one."""
    ratios: Mapping[str, float | None] = field(default_factory=dict)
    measured_actor_sparsity: float | None = None
    measured_critic_sparsity: float | None = None
    steps_per_second: float | None = None
    """Mean over the group's runs, whatever machine each ran on (``wall_clock`` splits it)."""
    wall_clock: tuple[MachineSpeed, ...] = ()
    total_steps: int | None = None
    min_evaluations: int = 0
    notes: tuple[str, ...] = ()

    @property
    def num_seeds(self) -> int:
        return len(self.scores)

    @property
    def single_seed(self) -> bool:
        """True when the CI is just the single score (no spread can be estimated)."""
        return len(self.scores) < 2


def _mean_of(runs: Sequence[Run], name: str) -> float | None:
    values = [run.summary_number(name) for run in runs]
    if any(v is None for v in values):
        return None
    return float(np.mean(values))  # type: ignore[arg-type]


def _common_settings(runs: Sequence[Run]) -> dict[str, Any]:
    first = runs[0].settings
    return {k: v for k, v in first.items() if all(r.settings.get(k, None) == v for r in runs)}


def differing_settings(runs: Sequence[Run]) -> list[str]:
    keys = set().union(*(run.settings.keys() for run in runs))
    return sorted(k for k in keys if len({repr(run.settings.get(k)) for run in runs}) > 1)


def summarize_group(key: GroupKey, runs: Sequence[Run], config: ReportConfig) -> GroupResult:
    """Mean ± std, IQM and its stratified-bootstrap CI of one group's final scores."""
    final_scores = [run.final_score for run in runs]
    scores = np.array(final_scores, dtype=np.float64)[:, None]  # [num_seeds, num_tasks = 1]
    mean, std = stats.mean_std(scores[:, 0])  # type: ignore[arg-type]
    iqm = float(stats.iqm(scores))
    if len(runs) >= 2:
        ci_low, ci_high = stats.stratified_bootstrap_ci(
            scores, stats.iqm, config.bootstrap_reps, config.confidence, config.seed
        )
    else:
        ci_low = ci_high = iqm
    notes = []
    if len(runs) < 2:
        notes.append("1 seed: no spread, CI is the single score")
    seeds = [run.seed for run in runs]
    min_evaluations = min(len(run.returns) for run in runs)
    if min_evaluations < config.last:
        notes.append(
            f"a run has only {min_evaluations} evaluations (< {config.last}): its final score averages all of them"
        )
    commits = Counter(run.commit or UNRECORDED for run in runs)
    if len(commits) > 1:
        counts = ", ".join(f"{short_commit(c)} ×{n}" for c, n in sorted(commits.items()))
        notes.append(f"runs from {len(commits)} source commits ({counts})")
    total_steps = {run.total_steps for run in runs}
    return GroupResult(
        key=key,
        method=runs[0].method,
        rlx2_value_learning=runs[0].rlx2_value_learning,
        run_dirs=tuple(str(run.path) for run in runs),
        seeds=tuple(seeds),
        scores=tuple(float(s) for s in scores[:, 0]),
        mean=mean,
        std=std,
        iqm=iqm,
        ci_low=ci_low,
        ci_high=ci_high,
        ratios={name: _mean_of(runs, name) for name in RATIO_FIELDS},
        measured_actor_sparsity=_mean_of(runs, "actor_sparsity"),
        measured_critic_sparsity=_mean_of(runs, "critic_sparsity"),
        steps_per_second=_mean_of(runs, "steps_per_second"),
        wall_clock=machine_speeds(runs),
        total_steps=total_steps.pop() if len(total_steps) == 1 else None,
        min_evaluations=min_evaluations,
        notes=tuple(notes),
    )


def _protocol_differences(a: Sequence[Run], b: Sequence[Run]) -> list[str]:
    """Protocol settings (PROTOCOL_PREFIXES) in which two groups' runs differ."""
    mine, theirs = _common_settings(a), _common_settings(b)
    return sorted(
        k
        for k in set(mine) | set(theirs)
        if k.startswith(PROTOCOL_PREFIXES) and mine.get(k) != theirs.get(k)
    )


def dense_reference(
    results: Sequence[GroupResult],
    algo: str,
    env: str,
    groups: Mapping[GroupKey, Sequence[Run]] | None = None,
    key: GroupKey | None = None,
) -> GroupResult | None:
    """The dense group a group of ``algo`` on ``env`` is compared with: the only one, or, among
    several (protocols), the one run with the same protocol as group ``key``."""
    candidates = [
        g
        for g in results
        if g.key.algo == algo
        and g.key.env == env
        and g.method == "dense"
        and not g.rlx2_value_learning
    ]
    if len(candidates) == 1:
        return candidates[0]
    plain = [g for g in candidates if g.key.label == "dense"]
    if len(plain) == 1:
        return plain[0]
    if groups is None or key is None:
        return None
    same = [g for g in candidates if not _protocol_differences(groups[key], groups[g.key])]
    return same[0] if len(same) == 1 else None


def add_dense_reference(
    results: Sequence[GroupResult],
    groups: Mapping[GroupKey, Sequence[Run]],
    config: ReportConfig,
) -> list[GroupResult]:
    """Fill % of dense: group mean (and IQM) / dense mean (IQM) of the same algo and task × 100."""
    completed = []
    for result in results:
        key = result.key
        paper_figure = paper_percent_of_dense(
            key.algo, key.env, key.label, (key.actor_sparsity, key.critic_sparsity)
        )
        result = replace(result, paper_pct_of_dense=paper_figure)
        dense = dense_reference(results, key.algo, key.env, groups, key)
        if dense is None:
            completed.append(result)
            continue
        notes = list(result.notes)
        if dense.mean <= 0:
            notes.append(f"dense final score {dense.mean:.4g} <= 0: % of dense undefined")
        differ = _protocol_differences(groups[result.key], groups[dense.key])
        if differ and dense is not result:
            notes.append(f"dense reference differs in {', '.join(differ)}")
        completed.append(
            replace(
                result,
                dense_mean=dense.mean,
                dense_iqm=dense.iqm,
                pct_of_dense=stats.percent_of(result.mean, dense.mean),
                pct_of_dense_iqm=stats.percent_of(result.iqm, dense.iqm),
                pct_of_dense_iqm_ci=(
                    None if dense.key == key else percent_of_dense_ci(result, dense, config)
                ),
                wall_clock=_speeds_vs_dense(result.wall_clock, dense.wall_clock),
                notes=tuple(notes),
            )
        )
    return completed


def percent_of_dense_ci(
    result: GroupResult, dense: GroupResult, config: ReportConfig
) -> tuple[float, float] | None:
    """CI of 100 · IQM(group) / IQM(dense), each group's seeds resampled on its own (a
    stratified bootstrap with the two groups as strata); None when either group has one seed
    (no spread to resample), dense's IQM is <= 0, or some resample makes the ratio undefined."""
    if result.single_seed or dense.single_seed or dense.iqm <= 0:
        return None

    def ratio(group: np.ndarray, reference: np.ndarray) -> np.ndarray:
        return 100.0 * stats.iqm_1d(group) / stats.iqm_1d(reference)

    low, high = stats.two_sample_bootstrap_ci(
        np.asarray(result.scores),
        np.asarray(dense.scores),
        ratio,
        config.bootstrap_reps,
        config.confidence,
        config.seed,
    )
    return None if math.isnan(low) else (low, high)


def paper_percent_of_dense(
    algo: str, env: str, label: str, sparsities: tuple[float | None, float | None]
) -> float | None:
    """The paper's % of dense for a group (Table 2, or Table 3 for "+" methods and "rlx2
    n=K"); None where the paper has no figure: other tasks, methods or protocols, or
    sparsities other than the paper's for the task."""
    from rlx2 import paper
    from rlx2.errors import ConfigError
    from rlx2.presets import paper_sparsities, task_family

    if sparsities[0] is not None:
        try:
            expected = paper_sparsities(algo, env)
        except ConfigError:
            return None
        if any(
            abs(s - e) > 1e-9 for s, e in zip(sparsities, expected, strict=True) if s is not None
        ):
            return None
    family = task_family(env)
    table2 = paper.PERCENT_OF_DENSE.get(algo, {}).get(family, {})
    table3 = paper.ABLATION_PERCENT_OF_DENSE.get(algo, {}).get(family, {})
    return table2.get(label, table3.get(label))
