"""``rlx2 report``: group finished runs, compute final-score statistics, write tables and plots.

Runs are grouped by (algorithm, task, method label, actor sparsity, critic sparsity) and
**protocol**: every option that changes results (total steps, evaluation cadence and
episodes, agent and value-learning settings, the effective reset of regrown weights'
moments...; not the seed nor how a run was executed). Runs that differ in protocol are never
pooled: each protocol is a group of its own, its label naming the options that differ
("rigl [total-steps=3000]"). Within a group each seed counts once: a repeated seed is listed
as excluded. Per group: final score mean ± std over seeds, IQM with a stratified-bootstrap
CI (rliable's protocol, ``stats.py``), % of the dense final score of the same algorithm,
task and protocol (spec §8), size/FLOPs ratios and steps/s. Unfinished, failed and
evaluation-less runs are listed apart and never enter the statistics; so are unreadable run
directories (named, with the reason, in report.md and on stderr), unless ``--strict`` makes
them an error. Errors raise ``ConfigError`` naming the directory and the reason (the CLI
prints it as one line, exit 2).

Outputs (every file written atomically): ``report.md``, ``results.csv`` (one row per group),
``runs.csv`` (one row per run, with its status), ``curves_<algo>_<env>.png``,
``sparsity_<algo>_<env>.png``, and ``compression.csv`` when a method ran at several sparsity
levels (the ultimate compression ratio, ``compression.py``).
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import numpy as np
import tyro

from rlx2.config import EXECUTION_FIELDS
from rlx2.errors import ConfigError
from rlx2.experiments import comparisons, compression, report_diagnostics, stats
from rlx2.experiments.compression import CompressionOptions, LadderResult
from rlx2.train import rundir

REPORT_MD, RESULTS_CSV, RUNS_CSV = "report.md", "results.csv", "runs.csv"
COMPRESSION_CSV = "compression.csv"
PLOT_PREFIXES = ("curves_", "sparsity_", "diagnostics_", "profile_")
STATUSES = rundir.STATUSES
METHOD_ORDER = ("dense", "tiny", "ss", "set", "rigl", "rlx2")
# Settings that may differ between the seeds of one group without changing the experiment.
IGNORED_SETTINGS = tuple(sorted({"run.seed"} | {f"run.{name}" for name in EXECUTION_FIELDS}))
# Options that dense networks never read (a dense run given them is the same experiment).
SPARSE_ONLY_SETTINGS = (
    "sparse.actor_sparsity",
    "sparse.critic_sparsity",
    "sparse.preset",
    "sparse.sparsity_distribution",
    "sparse.topology",
    "sparse.topology_interval",
    "sparse.drop_fraction",
    "sparse.topology_end_fraction",
    "sparse.reset_moments",
)
# Settings that define "the same protocol" for a sparse group and its dense reference (§8).
PROTOCOL_PREFIXES = ("env", "algo", "run.", "agent.", "td3.", "sac.")
RATIO_FIELDS = (
    "model_size_ratio",
    "compression_ratio",
    "train_flops_ratio",
    "inference_flops_ratio",
)


@dataclass(frozen=True)
class ReportConfig:
    """``rlx2 report``: statistics, tables and plots over finished training runs."""

    runs: Annotated[tuple[str, ...], tyro.conf.Positional, tyro.conf.arg(metavar="RUNS...")]
    """Run directories, or directories searched recursively for run directories (holding config.json)."""
    out: str
    """Directory to write report.md, results.csv, runs.csv and the PNG plots into."""
    overwrite: bool = False
    """Replace the report files of a non-empty --out directory (other files there are left alone)."""
    last: int = 30
    """Evaluations averaged into a run's final score (spec §8: the last 30)."""
    bootstrap_reps: int = 2000
    """Bootstrap replicates per CI and curve band (rliable's default is 50 000; with 2000 a bound's Monte-Carlo error is ~2-3 % of the CI width)."""
    confidence: float = 0.95
    """Coverage of the confidence intervals, in (0, 1)."""
    seed: int = 0
    """Seed of the bootstrap resampling (the same seed gives the same intervals)."""
    strict: bool = False
    """Fail (exit 2) on an unreadable run directory or a seed repeated within a group, instead of listing and excluding it."""
    compression: CompressionOptions = field(default_factory=CompressionOptions)
    """The ultimate compression ratio of every method run at >= 2 sparsity levels (docs/compression.md)."""

    def __post_init__(self) -> None:
        if not self.runs:
            raise ConfigError("give at least one run directory (or a directory holding runs)")
        if not self.out:
            raise ConfigError("--out must name a directory")
        if self.last < 1:
            raise ConfigError(f"--last must be >= 1, got {self.last}")
        if self.bootstrap_reps < 1:
            raise ConfigError(f"--bootstrap-reps must be >= 1, got {self.bootstrap_reps}")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"--confidence must be in (0, 1), got {self.confidence}")


# ----------------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    """One run directory as read from disk. ``final_score`` is None unless it is usable."""

    path: Path
    status: str
    """completed, running or failed (summary.json; running when there is none yet)."""
    reason: str | None
    """Why the run is excluded from the statistics (None when included)."""
    algo: str
    env: str
    method: str
    topology: str | None
    rlx2_value_learning: bool
    nstep: int | None
    dynamic_buffer: bool | None
    actor_sparsity: float | None
    critic_sparsity: float | None
    seed: int | None
    total_steps: int | None
    steps: tuple[float, ...]
    returns: tuple[float, ...]
    final_score: float | None
    summary: Mapping[str, Any] = field(default_factory=dict, compare=False)
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """The run's protocol (``protocol_settings``): dotted keys (``agent.hidden``) -> values."""
    label: str = ""
    """Method label: method, "+" for RLx2 value learning added to another method (Table 3)."""
    diagnostics: Mapping[str, tuple[float, ...]] = field(default_factory=dict, compare=False)
    """Diagnostic column of evaluations.csv -> its values at ``steps`` (docs/diagnostics.md)."""

    @property
    def included(self) -> bool:
        return self.final_score is not None

    @property
    def last_step(self) -> int | None:
        return int(self.steps[-1]) if self.steps else None


def _flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _holds_run(path: Path) -> bool:
    return (path / rundir.CONFIG).is_file() or (path / rundir.SUMMARY).is_file()


def find_run_dirs(paths: Sequence[str]) -> list[Path]:
    """Run directories among ``paths``: each is a run directory or is searched recursively."""
    found: dict[Path, Path] = {}  # resolved -> as found, so a run given twice counts once
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise ConfigError(f"{given}: no such directory")
        if not root.is_dir():
            raise ConfigError(
                f"{given} is not a directory (give run directories or folders of runs)"
            )
        if _holds_run(root):
            found.setdefault(root.resolve(), root)
            continue
        for dirpath, dirnames, _ in os.walk(root):
            here = Path(dirpath)
            if _holds_run(here):
                found.setdefault(here.resolve(), here)
                dirnames[:] = []  # a run's checkpoints/ and tb/ hold no runs
            else:
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    if not found:
        raise ConfigError(
            f"no run directories (holding config.json) found under {', '.join(paths)}"
        )
    return sorted(found.values(), key=str)


def _read_json_file(path: Path, name: str) -> Any:
    try:
        return rundir.read_json(path / name)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"run directory {path}: {name} is unreadable ({reason})") from None


def _optional_float(text: str | None) -> float:
    """A diagnostic cell: empty (not logged at that evaluation) reads as NaN."""
    return float(text) if text not in (None, "") else math.nan


def _read_evaluation_rows(path: Path) -> list[dict[str, float]]:
    """evaluations.csv checked column by column; [] when there is no file yet."""
    file = path / rundir.EVALUATIONS
    if not file.exists():
        return []
    try:
        with open(file, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in rundir.EVALUATION_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(
                    f"run directory {path}: {rundir.EVALUATIONS} lacks column(s) {', '.join(missing)}"
                )
            diagnostics = [c for c in rundir.DIAGNOSTIC_COLUMNS if c in (reader.fieldnames or [])]
            rows = []
            for number, row in enumerate(reader, start=2):
                try:
                    rows.append(
                        {c: float(row[c]) for c in rundir.EVALUATION_COLUMNS}
                        | {c: _optional_float(row[c]) for c in diagnostics if c in row}
                    )
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"run directory {path}: {rundir.EVALUATIONS} line {number} is not numeric"
                    ) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(
            f"run directory {path}: {rundir.EVALUATIONS} is unreadable ({exc})"
        ) from None
    for number, row in enumerate(rows, start=2):
        if not (math.isfinite(row["return_mean"]) and math.isfinite(row["step"])):
            raise ConfigError(
                f"run directory {path}: {rundir.EVALUATIONS} line {number} has a non-finite step or return_mean"
            )
    steps = [row["step"] for row in rows]
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise ConfigError(f"run directory {path}: {rundir.EVALUATIONS} steps are not increasing")
    return rows


def load_run(path: Path, last: int = 30) -> Run:
    """Read and cross-check one run directory. Raises ConfigError naming it and the problem."""

    def bad(reason: str) -> ConfigError:
        return ConfigError(f"run directory {path}: {reason}")

    if not (path / rundir.CONFIG).is_file():
        raise bad(f"{rundir.SUMMARY} without {rundir.CONFIG}")
    document = _read_json_file(path, rundir.CONFIG)
    options = document.get("config") if isinstance(document, dict) else None
    try:
        env, algo = str(options["env"]), str(options["algo"])
        method = str(options["sparse"]["method"])
        seed = options["run"].get("seed")
        total_steps = options["run"].get("total_steps")
    except (KeyError, TypeError, AttributeError):
        raise bad(
            f"{rundir.CONFIG} lacks config.env/algo/sparse.method/run (not written by rlx2 train?)"
        ) from None
    effective = document.get("effective") or {}
    value = effective.get("value_learning") or {}
    rlx2_value_learning = bool(
        value.get(
            "rlx2_value_learning",
            method == "rlx2" or options.get("value", {}).get("value_learning") == "rlx2",
        )
    )
    if method == "dense":
        actor = critic = None
    else:
        actor = effective.get("actor_sparsity", options["sparse"].get("actor_sparsity"))
        critic = effective.get("critic_sparsity", options["sparse"].get("critic_sparsity"))
        if actor is None or critic is None:
            raise bad(f"{rundir.CONFIG} gives no actor/critic sparsity for method {method}")
        actor, critic = round(float(actor), 6), round(float(critic), 6)

    if (path / rundir.SUMMARY).exists():
        summary = _read_json_file(path, rundir.SUMMARY)
        if not isinstance(summary, dict):
            raise bad(f"{rundir.SUMMARY} is not a JSON object")
    else:
        summary = {"status": "running"}  # config.json written, summary not yet
    status = summary.get("status", "running")
    if status not in STATUSES:
        raise bad(f"{rundir.SUMMARY} has unknown status {status!r}")
    for name, expected in (("env", env), ("algo", algo), ("method", method), ("seed", seed)):
        if name in summary and summary[name] != expected:
            raise bad(
                f"{rundir.SUMMARY} says {name} {summary[name]!r} but {rundir.CONFIG} says {expected!r}"
            )

    rows = _read_evaluation_rows(path)
    steps = tuple(row["step"] for row in rows)
    returns = tuple(row["return_mean"] for row in rows)
    reason: str | None = None
    score: float | None = None
    if status == "completed":
        if "final_return" not in summary:
            raise bad(f"completed {rundir.SUMMARY} lacks final_return")
        if summary.get("total_steps") not in (None, total_steps):
            raise bad(
                f"{rundir.SUMMARY} says total_steps {summary['total_steps']} but {rundir.CONFIG} says {total_steps}"
            )
        if not rows and summary["final_return"] is not None:
            state = "empty" if (path / rundir.EVALUATIONS).exists() else "missing"
            raise bad(
                f"completed {rundir.SUMMARY} has a final_return but {rundir.EVALUATIONS} is {state}"
            )
        expected_rows = summary.get("num_evaluations")
        if expected_rows is not None and expected_rows != len(rows):
            raise bad(
                f"{rundir.SUMMARY} reports {expected_rows} evaluations but {rundir.EVALUATIONS} has {len(rows)}"
            )
        if not rows:
            reason = "completed without any evaluation (total steps < evaluation interval)"
        else:
            score = rundir.final_score(list(returns), last)
            recorded = summary["final_return"]
            if last == 30 and (
                recorded is None or not math.isclose(score, recorded, rel_tol=1e-9, abs_tol=1e-9)
            ):
                raise bad(
                    f"final score {score!r} from {rundir.EVALUATIONS} does not match "
                    f"{rundir.SUMMARY} final_return {recorded!r}"
                )
    else:
        reason = str(
            summary.get("reason")
            or (
                "unfinished (still running, or stopped without writing a status)"
                if status == "running"
                else "no reason recorded"
            )
        )

    settings = protocol_settings(options, effective, method)
    return Run(
        path=path,
        status=status,
        reason=reason,
        algo=algo,
        env=env,
        method=method,
        topology=effective.get("topology"),
        rlx2_value_learning=rlx2_value_learning,
        nstep=value.get("nstep"),
        dynamic_buffer=value.get("dynamic_buffer"),
        actor_sparsity=actor,
        critic_sparsity=critic,
        seed=seed,
        total_steps=total_steps,
        steps=steps,
        returns=returns,
        final_score=score,
        summary=summary,
        diagnostics={
            c: tuple(row[c] for row in rows)
            for c in rundir.DIAGNOSTIC_COLUMNS
            if rows and c in rows[0]
        },
        settings=settings,
    )


def protocol_settings(
    options: Mapping[str, Any], effective: Mapping[str, Any], method: str
) -> dict[str, Any]:
    """Every option of config.json that changes a run's results, as dotted keys -> values.

    Not the seed nor execution options (``EXECUTION_FIELDS``). Options that config.json's
    "effective" section resolves are compared resolved: the sparsities (a preset and the
    same explicit values are one experiment; the group key holds them) and the reset of
    regrown weights' Adam moments, which the sparse backend always does whatever
    ``--reset-moments`` says (so backend = sparse differs from masked without the flag).
    """
    from rlx2.presets import METHODS

    settings = {k: v for k, v in _flatten(options).items() if k not in IGNORED_SETTINGS}
    sparse = METHODS[method].sparse if method in METHODS else True
    if not sparse and method == "dense":
        for key in SPARSE_ONLY_SETTINGS:
            settings.pop(key, None)
    if "actor_sparsity" in effective and "critic_sparsity" in effective:
        for key in ("sparse.actor_sparsity", "sparse.critic_sparsity", "sparse.preset"):
            settings.pop(key, None)
    if "reset_moments" in effective:
        settings["sparse.reset_moments"] = bool(effective["reset_moments"])
    return settings


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


def assign_labels(runs: Sequence[Run]) -> list[Run]:
    """Give every run its method label, one label per protocol.

    When one (algorithm, label) holds runs with different value-learning settings (n-step
    ablations, buffer on/off), each gets " n=K" (and " dynbuf"/" fixbuf"). Runs of one
    (algorithm, task, label, sparsities) whose protocols still differ get the differing
    options and their values ("[total-steps=3000]"): two protocols always differ in one of
    those options, so they never share a label, hence never a group. (Only runs that enter
    the statistics are compared: an unfinished run of another length changes no label.)
    """
    bases = [base_label(run) for run in runs]
    variants: dict[tuple[str, str], set[tuple[Any, Any]]] = {}
    for run, base in zip(runs, bases, strict=True):
        variants.setdefault((run.algo, base), set()).add((run.nstep, run.dynamic_buffer))
    labelled = []
    for run, base in zip(runs, bases, strict=True):
        seen = variants[(run.algo, base)]
        label = base
        if len({n for n, _ in seen}) > 1:
            label += f" n={run.nstep}"
        if len({d for _, d in seen}) > 1:
            label += " dynbuf" if run.dynamic_buffer else " fixbuf"
        labelled.append(replace(run, label=label))
    clusters: dict[tuple[Any, ...], list[int]] = {}
    for i, run in enumerate(labelled):
        if run.included:  # runs left out of the statistics never split a group
            key = (run.algo, run.env, run.label, run.actor_sparsity, run.critic_sparsity)
            clusters.setdefault(key, []).append(i)
    for members in clusters.values():
        differing = _differing_settings([labelled[i] for i in members])
        for i in members if differing else ():
            run = labelled[i]
            shown = ", ".join(_option_text(k, run.settings.get(k)) for k in differing)
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


# --------------------------------------------------------------------------------- groups


class GroupKey(NamedTuple):
    algo: str
    env: str
    label: str
    actor_sparsity: float | None
    critic_sparsity: float | None


def _label_order(label: str) -> tuple[int, str]:
    method = re.split(r"[\[+\- ]", label, maxsplit=1)[0]
    rank = METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER)
    return rank, label


def _key_order(key: GroupKey) -> tuple[Any, ...]:
    return (
        key.algo,
        key.env,
        _label_order(key.label),
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
        for key in sorted(groups, key=_key_order)
    }


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
    ratios: Mapping[str, float | None] = field(default_factory=dict)
    measured_actor_sparsity: float | None = None
    measured_critic_sparsity: float | None = None
    steps_per_second: float | None = None
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
    values = [run.summary.get(name) for run in runs]
    if any(not isinstance(v, int | float) or isinstance(v, bool) for v in values):
        return None
    return float(np.mean(values))


def _common_settings(runs: Sequence[Run]) -> dict[str, Any]:
    first = runs[0].settings
    return {k: v for k, v in first.items() if all(r.settings.get(k, None) == v for r in runs)}


def _differing_settings(runs: Sequence[Run]) -> list[str]:
    keys = set().union(*(run.settings.keys() for run in runs))
    return sorted(k for k in keys if len({repr(run.settings.get(k)) for run in runs}) > 1)


def summarize_group(key: GroupKey, runs: Sequence[Run], config: ReportConfig) -> GroupResult:
    """Mean ± std, IQM and its stratified-bootstrap CI of one group's final scores."""
    final_scores = [run.final_score for run in runs]
    scores = np.array(final_scores, dtype=np.float64)[:, None]  # [num_seeds, num_tasks = 1]
    mean, std = stats.mean_std(scores[:, 0])
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


def _dense_reference(
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
    results: Sequence[GroupResult], groups: Mapping[GroupKey, Sequence[Run]]
) -> list[GroupResult]:
    """Fill % of dense: group mean (and IQM) / dense mean (IQM) of the same algo and task × 100."""
    completed = []
    for result in results:
        dense = _dense_reference(results, result.key.algo, result.key.env, groups, result.key)
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
                notes=tuple(notes),
            )
        )
    return completed


# ------------------------------------------------------------------------ paper-style tables


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
        for g in sorted(mine, key=lambda g: (_label_order(g.key.label), _key_order(g.key))):
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
                float(np.mean(pcts))
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
    levels, against the dense group of that task (``_dense_reference``, as % of dense is).

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
        dense = _dense_reference(results, algo, env)
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


# --------------------------------------------------------------------------------- report


class Unreadable(NamedTuple):
    """A run directory that could not be read (left out of everything but the listing)."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Report:
    config: ReportConfig
    runs: tuple[Run, ...]
    groups: tuple[GroupResult, ...]
    tables: tuple[PaperTable, ...]
    unreadable: tuple[Unreadable, ...] = ()
    ladders: tuple[LadderResult, ...] = ()
    improvements: tuple[comparisons.Improvement, ...] = ()
    """P(RLx2 > X) for every other method X of the same algorithm, over shared tasks."""
    profiles: tuple[comparisons.Profile, ...] = ()
    """Performance profiles of % of dense, one per algorithm with a dense reference."""
    """Compression searches: one per (algo, task, method label) run at >= 2 sparsity levels."""

    @property
    def excluded(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if not run.included)

    def group(
        self, label: str, env: str | None = None, algo: str | None = None, **sparsity: float
    ) -> GroupResult:
        """The one group with this label (and task/algorithm/sparsities if given): for tests and notebooks."""
        found = [
            g
            for g in self.groups
            if g.key.label == label
            and (env is None or g.key.env == env)
            and (algo is None or g.key.algo == algo)
            and all(getattr(g.key, name) == value for name, value in sparsity.items())
        ]
        if len(found) != 1:
            raise KeyError(
                f"{len(found)} groups match {label!r} {env or ''} {algo or ''} {sparsity or ''}"
            )
        return found[0]


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse an --out that would silently replace something."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if _holds_run(out):
            raise ConfigError(f"--out {out} holds a training run; choose another directory")
        if not overwrite:
            raise ConfigError(
                f"--out {out} exists and is not empty; pass --overwrite to replace its report or choose another directory"
            )


def load_runs(paths: Sequence[Path], last: int) -> tuple[list[Run], list[Unreadable]]:
    """Every readable run, and every unreadable one with the reason: one bad directory among
    hundreds must not take the whole report down."""
    runs, unreadable = [], []
    for path in paths:
        try:
            runs.append(load_run(path, last))
        except ConfigError as exc:
            reason = str(exc).removeprefix(f"run directory {path}: ")
            unreadable.append(Unreadable(path, reason))
    return runs, unreadable


def build_report(config: ReportConfig) -> Report:
    """Read, check and summarise the runs (no file is written). With ``config.strict`` an
    unreadable run directory or a repeated seed raises ConfigError instead of being listed."""
    runs, unreadable = load_runs(find_run_dirs(config.runs), config.last)
    if config.strict and unreadable:
        path, reason = unreadable[0]
        more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
        raise ConfigError(f"run directory {path}: {reason}{more}")
    runs, repeated = exclude_repeated_seeds(assign_labels(runs))
    if config.strict and repeated:
        raise ConfigError(f"run directory {repeated[0].path}: {repeated[0].reason}")
    groups = group_runs(runs)
    results = [summarize_group(key, members, config) for key, members in groups.items()]
    results = add_dense_reference(results, groups)
    tables = paper_tables(results, config)
    return Report(
        config,
        tuple(runs),
        tuple(results),
        tuple(tables),
        tuple(unreadable),
        tuple(compression_ladders(results, config)),
        *method_comparisons(tables, config),
    )


# ------------------------------------------------------------------------------- writing


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _sparsity_text(actor: float | None, critic: float | None) -> str:
    return "–" if actor is None or critic is None else f"{actor:g} / {critic:g}"


def _csv_text(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    return buffer.getvalue()


RESULTS_COLUMNS = (
    "algo",
    "env",
    "method",
    "label",
    "actor_sparsity",
    "critic_sparsity",
    "num_seeds",
    "seeds",
    "final_score_mean",
    "final_score_std",
    "iqm",
    "iqm_ci_low",
    "iqm_ci_high",
    "ci_single_seed",
    "dense_mean",
    "pct_of_dense",
    "pct_of_dense_iqm",
    *RATIO_FIELDS,
    "measured_actor_sparsity",
    "measured_critic_sparsity",
    "steps_per_second",
    "total_steps",
    "min_evaluations",
    "notes",
)


def results_csv(report: Report) -> str:
    """One row per group, machine-readable (empty cells for missing values)."""
    rows = []
    for g in report.groups:
        rows.append(
            {
                **g.key._asdict(),
                "method": g.method,
                "num_seeds": g.num_seeds,
                "seeds": " ".join(str(s) for s in g.seeds),
                "final_score_mean": g.mean,
                "final_score_std": g.std,
                "iqm": g.iqm,
                "iqm_ci_low": g.ci_low,
                "iqm_ci_high": g.ci_high,
                "ci_single_seed": g.single_seed,
                "dense_mean": g.dense_mean,
                "pct_of_dense": g.pct_of_dense,
                "pct_of_dense_iqm": g.pct_of_dense_iqm,
                **g.ratios,
                "measured_actor_sparsity": g.measured_actor_sparsity,
                "measured_critic_sparsity": g.measured_critic_sparsity,
                "steps_per_second": g.steps_per_second,
                "total_steps": g.total_steps,
                "min_evaluations": g.min_evaluations,
                "notes": "; ".join(g.notes),
            }
        )
    return _csv_text(rows, RESULTS_COLUMNS)


RUNS_COLUMNS = (
    "run_dir",
    "status",
    "included",
    "reason",
    "algo",
    "env",
    "method",
    "label",
    "actor_sparsity",
    "critic_sparsity",
    "seed",
    "total_steps",
    "last_step",
    "num_evaluations",
    "final_score",
)


def runs_csv(report: Report) -> str:
    """One row per run directory found, with its status and whether it entered the statistics."""
    rows = [
        {
            "run_dir": str(run.path),
            "status": run.status,
            "included": run.included,
            "reason": run.reason,
            "algo": run.algo,
            "env": run.env,
            "method": run.method,
            "label": run.label,
            "actor_sparsity": run.actor_sparsity,
            "critic_sparsity": run.critic_sparsity,
            "seed": run.seed,
            "total_steps": run.total_steps,
            "last_step": run.last_step,
            "num_evaluations": len(run.returns),
            "final_score": run.final_score,
        }
        for run in report.runs
    ]
    rows += [
        {"run_dir": str(path), "status": "unreadable", "included": False, "reason": reason}
        for path, reason in report.unreadable
    ]
    return _csv_text(rows, RUNS_COLUMNS)


COMPRESSION_COLUMNS = (
    "algo",
    "env",
    "label",
    "actor_sparsity",
    "critic_sparsity",
    "num_seeds",
    "iqm",
    "dense_iqm",
    "dense_seeds",
    "baseline",
    "pct_of_dense",
    "pct_ci_low",
    "pct_ci_high",
    "passes_point",
    "passes_lower",
    "passes",
    "ultimate",
    "ultimate_contiguous",
    "threshold",
    "criterion",
    *RATIO_FIELDS,
)


def compression_csv(report: Report) -> str:
    """One row per sparsity level of every ladder (empty cells for missing values)."""
    rows = []
    for ladder in report.ladders:
        for i, result in enumerate(ladder.levels):
            level = result.level
            rows.append(
                {
                    "algo": ladder.algo,
                    "env": ladder.env,
                    "label": ladder.label,
                    "actor_sparsity": level.actor_sparsity,
                    "critic_sparsity": level.critic_sparsity,
                    "num_seeds": len(level.scores),
                    "iqm": result.iqm,
                    "dense_iqm": ladder.dense_iqm,
                    "dense_seeds": ladder.dense_seeds,
                    "baseline": ladder.baseline,
                    "pct_of_dense": result.pct,
                    "pct_ci_low": result.ci_low,
                    "pct_ci_high": result.ci_high,
                    "passes_point": result.passes_point,
                    "passes_lower": result.passes_lower,
                    "passes": result.passes,
                    "ultimate": i == ladder.ultimate,
                    "ultimate_contiguous": i == ladder.contiguous,
                    "threshold": ladder.options.threshold,
                    "criterion": ladder.options.criterion,
                    **{name: level.ratios.get(name) for name in RATIO_FIELDS},
                }
            )
    return _csv_text(rows, COMPRESSION_COLUMNS)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def safe_name(text: str) -> str:
    """A file-name-safe form of an env id (``ALE/Pong-v5`` -> ``ALE_Pong-v5``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


GROUP_HEADER = "algo|task|method|sparsity (actor / critic)|seeds|final score mean ± std|IQM [{pct} % CI]|% of dense|notes"
COMPUTE_HEADER = "algo|task|method|sparsity (actor / critic)|measured sparsity|size|compression|train FLOPs|inference FLOPs|steps/s"
EXCLUDED_HEADER = "run directory|status|reason|algo|task|method|seed|last evaluated step / total"


def _header(template: str, pct: int) -> list[str]:
    return template.format(pct=pct).split("|")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _intro(report: Report, pct: int) -> list[str]:
    config = report.config
    included = len(report.runs) - len(report.excluded)
    unreadable = f", {len(report.unreadable)} unreadable" if report.unreadable else ""
    return [
        "# rlx2 report",
        "",
        f"{len(report.runs) + len(report.unreadable)} run directories: {included} in the "
        f"statistics, {len(report.excluded)} excluded{unreadable} (listed below).",
        "",
        "- **Groups** hold runs of one protocol: the same options except the seed and how "
        "the run was executed (threads, device, backend, checkpoints); the options in which "
        "groups of one method differ are named in brackets. Each seed counts once per group.",
        f"- **Final score** of a run: mean of its last {config.last} evaluations "
        "(all of them if it has fewer), each the mean return of deterministic evaluation "
        "episodes (spec §8).",
        "- **mean ± std**: over seeds (sample std, ddof = 1; 0 for one seed).",
        f"- **IQM [{pct} % CI]**: interquartile mean of the seeds' final scores (rliable's "
        "aggregate_iqm); percentile CI from a stratified bootstrap over seeds "
        f"({config.bootstrap_reps} replicates, seed {config.seed}). With one seed the CI is "
        "that score (⚠, and said in notes).",
        "- **% of dense**: group mean / mean of the dense group of the same algorithm and "
        "task × 100 (IQM-based in results.csv); undefined when the dense score is <= 0.",
        "",
    ]


def _groups_section(report: Report, pct: int) -> list[str]:
    rows = [
        [
            g.key.algo,
            g.key.env,
            g.key.label,
            _sparsity_text(g.key.actor_sparsity, g.key.critic_sparsity),
            str(g.num_seeds),
            f"{_fmt(g.mean)} ± {_fmt(g.std)}",
            f"{_fmt(g.iqm)} [{_fmt(g.ci_low)}, {_fmt(g.ci_high)}]"
            + (" ⚠" if g.single_seed else ""),
            _fmt(g.pct_of_dense),
            "; ".join(g.notes),
        ]
        for g in report.groups
    ]
    if not rows:
        return ["## Groups", "", "None: no completed run with evaluations yet.", ""]
    return ["## Groups", "", *_md_table(_header(GROUP_HEADER, pct), rows)]


def _paper_section(table: PaperTable, pct: int) -> list[str]:
    def cell(task: str, column: str, text) -> str:
        group = table.score.get((task, column))
        return "–" if group is None else text(group)

    lines = [
        f"## Paper-style tables: {table.algo.upper()}",
        "",
        "Final score, mean ± std over seeds (rows tasks, columns methods).",
        "",
    ]
    lines += _md_table(
        ["task", *table.columns],
        (
            [
                task,
                *(
                    cell(task, c, lambda g: f"{_fmt(g.mean)} ± {_fmt(g.std)}")
                    for c in table.columns
                ),
            ]
            for task in table.tasks
        ),
    )
    if not any(g.pct_of_dense is not None for g in table.score.values()):
        return lines + [
            "No % of dense: no dense runs with a positive final score for these tasks.",
            "",
        ]
    columns = table.sparse_columns
    rows = [
        [task, *(cell(task, c, lambda g: _fmt(g.pct_of_dense)) for c in columns)]
        for task in table.tasks
    ]
    if len(table.tasks) >= 2:
        rows.append(["average", *(_fmt(table.average_pct.get(c)) for c in columns)])
        aggregates = [table.aggregate.get(c) for c in columns]
        rows.append(
            [
                f"IQM of runs [{pct} % CI]",
                *(f"{_fmt(a[0])} [{_fmt(a[1])}, {_fmt(a[2])}]" if a else "–" for a in aggregates),
            ]
        )
    lines += ["Performance in % of dense (Table 2 layout: group mean / dense mean × 100).", ""]
    lines += _md_table(["task", *columns], rows)
    if len(table.tasks) >= 2:
        lines += [
            '"average": mean over tasks of % of dense (as in Table 2), shown when every task '
            "has it. \"IQM of runs\": every run's final score as % of its task's dense mean, "
            "IQM over all runs and tasks, CI from a bootstrap of seeds within each task "
            "(stratified).",
            "",
        ]
        lines += [f"- {c}: {note}" for c, note in table.aggregate_notes.items()]
    return lines + [""] if table.aggregate_notes else lines


COMPRESSION_HEADER = "sparsity (actor / critic)|seeds|IQM|% of dense [{pct} % CI]|passes|size|compression|train FLOPs|inference FLOPs"


def _compression_section(report: Report, pct: int) -> list[str]:
    if not report.ladders:
        return []
    config = report.config
    options = config.compression
    lines = [
        "## Ultimate compression ratio",
        "",
        "The most compressed sparsity level of a method that stays within "
        f"{options.threshold:g} % of dense (spec §8; docs/compression.md). Per level: IQM of "
        "the seeds' final scores as % of the dense IQM, 100 · (IQM − b) / (dense IQM − b), "
        "with b = 0 (the paper's % of dense) or, where the dense IQM is <= 0, a uniform "
        f"random policy's score (--baseline {options.baseline}); {pct} % percentile CI from "
        "a bootstrap that resamples the level's and dense's seeds independently "
        f"({config.bootstrap_reps} replicates, seed {config.seed}). A level passes when its "
        + ("IQM's % of dense" if options.criterion == "point" else "CI's lower bound")
        + f" is >= {options.pass_mark:g} % (--criterion {options.criterion}). Levels in "
        "increasing compression (1 / model size); **ultimate** = the most compressed passing "
        "level (the paper's definition), **contiguous** = the most compressed level below "
        "which every level passes.",
        "",
    ]
    for ladder in report.ladders:
        lines += [f"### {ladder.algo.upper()} {ladder.label} on {ladder.env}", ""]
        lines += [ladder.statement(), ""]
        if ladder.dense_iqm is None:
            continue
        lines += [
            f"Dense: IQM {_fmt(ladder.dense_iqm)} over {ladder.dense_seeds} seeds; "
            f"baseline b = {ladder.baseline_source}.",
            "",
        ]
        rows = []
        for i, result in enumerate(ladder.levels):
            level = result.level
            marks = [
                m
                for m, j in (("ultimate", ladder.ultimate), ("contiguous", ladder.contiguous))
                if i == j
            ]
            rows.append(
                [
                    _sparsity_text(level.actor_sparsity, level.critic_sparsity)
                    + (f" **← {', '.join(marks)}**" if marks else ""),
                    str(len(level.scores)),
                    _fmt(result.iqm),
                    f"{_fmt(result.pct)} [{_fmt(result.ci_low)}, {_fmt(result.ci_high)}]",
                    "yes" if result.passes else "no",
                    _fmt(level.ratios.get("model_size_ratio"), 3),
                    _fmt(level.ratios.get("compression_ratio"), 1),
                    _fmt(level.ratios.get("train_flops_ratio"), 3),
                    _fmt(level.ratios.get("inference_flops_ratio"), 3),
                ]
            )
        lines += _md_table(_header(COMPRESSION_HEADER, pct), rows)
        lines += [f"- {note}" for note in ladder.notes] + ([""] if ladder.notes else [])
    return lines


def _compute_section(report: Report) -> list[str]:
    rows = [
        [
            g.key.algo,
            g.key.env,
            g.key.label,
            _sparsity_text(g.key.actor_sparsity, g.key.critic_sparsity),
            _sparsity_text(_round(g.measured_actor_sparsity), _round(g.measured_critic_sparsity)),
            _fmt(g.ratios.get("model_size_ratio"), 3),
            _fmt(g.ratios.get("compression_ratio"), 1),
            _fmt(g.ratios.get("train_flops_ratio"), 3),
            _fmt(g.ratios.get("inference_flops_ratio"), 3),
            _fmt(g.steps_per_second, 1),
        ]
        for g in report.groups
    ]
    if not rows:
        return []
    return [
        "## Compute",
        "",
        "Size and FLOPs as fractions of the dense networks, compression = 1 / size (paper "
        "conventions, spec §9; from each run's summary.json, averaged over seeds). Measured "
        "sparsity counts the non-zero weights of the final networks; steps/s is env steps per "
        "wall-clock second, evaluation included.",
        "",
        *_md_table(COMPUTE_HEADER.split("|"), rows),
    ]


def _comparisons_section(report: Report, pct: int) -> list[str]:
    if not report.improvements and not report.profiles:
        return []
    lines = [
        "## Probability of improvement and performance profiles",
        "",
        "P(RLx2 > X) (rliable): the probability that a run of RLx2 ends with a higher final "
        "score than a run of X on the same task, ties counting ½, averaged over the tasks "
        f"both ran; {pct} % CI from a bootstrap of each method's seeds within each task. "
        "0.5 = no difference; a CI above 0.5 says RLx2 is better.",
        "",
    ]
    lines += _md_table(
        ["algo", "comparison", "tasks", f"P(improvement) [{pct} % CI]"],
        (
            [
                i.algo.upper(),
                f"{i.reference} > {i.other}",
                str(len(i.tasks)),
                f"{i.probability:.2f} [{i.ci_low:.2f}, {i.ci_high:.2f}]",
            ]
            for i in report.improvements
        ),
    )
    if report.profiles:
        lines += [
            "Performance profiles (`profile_<algo>.png`): for each threshold τ, the fraction "
            "of runs whose final score exceeds τ % of their task's dense mean, averaged over "
            f"the tasks where the method ran (tasks with a positive dense score); {pct} % "
            "band from the same stratified bootstrap.",
            "",
        ]
    return lines


def _diagnostics_section(report: Report) -> list[str]:
    runs_of = group_runs(report.runs)
    names = column_names(report.groups)
    rows = report_diagnostics.table_rows(
        [
            (
                g.key.algo,
                g.key.env,
                names[g.key],
                len(runs_of[g.key]),
                report_diagnostics.final_values([run.diagnostics for run in runs_of[g.key]]),
            )
            for g in report.groups
            if any(report_diagnostics.has_diagnostics(run.diagnostics) for run in runs_of[g.key])
        ]
    )
    if not rows:
        return []
    return [
        *report_diagnostics.section_intro(),
        *_md_table(report_diagnostics.table_header(), rows),
    ]


def _unreadable_section(report: Report) -> list[str]:
    if not report.unreadable:
        return []
    return [
        "### Unreadable run directories",
        "",
        "Left out of everything above (`rlx2 report --strict` refuses to report instead).",
        "",
        *_md_table(["run directory", "reason"], ([str(p), r] for p, r in report.unreadable)),
    ]


def _excluded_section(report: Report) -> list[str]:
    if not report.excluded:
        return [
            "## Excluded runs",
            "",
            "None: every run found completed and entered the statistics."
            if not report.unreadable
            else "No readable run was excluded.",
            "",
            *_unreadable_section(report),
        ]
    rows = [
        [
            str(run.path),
            run.status,
            run.reason or "",
            run.algo,
            run.env,
            run.label,
            str(run.seed),
            f"{'none' if run.last_step is None else run.last_step} / {run.total_steps}",
        ]
        for run in report.excluded
    ]
    return [
        "## Excluded runs",
        "",
        "Unfinished, failed, interrupted or evaluation-less runs, and repeated seeds: in no "
        "statistic, table or plot above.",
        "",
        *_md_table(EXCLUDED_HEADER.split("|"), rows),
        *_unreadable_section(report),
    ]


def render_markdown(report: Report, plots: Sequence[tuple[str, str]]) -> str:
    """report.md: definitions, groups, paper-style tables, compression, compute, excluded runs, plots."""
    pct = int(round(100 * report.config.confidence))
    lines = _intro(report, pct) + _groups_section(report, pct)
    for table in report.tables:
        lines += _paper_section(table, pct)
    lines += _comparisons_section(report, pct)
    lines += _compression_section(report, pct)
    lines += _compute_section(report) + _diagnostics_section(report)
    lines += _excluded_section(report) + ["## Plots", ""]
    for name, caption in plots:
        lines += [f"![{Path(name).stem}]({name})", "", f"*{caption}*", ""]
    if not plots:
        lines += ["None.", ""]
    return "\n".join(lines).rstrip() + "\n"


def make_plots(report: Report) -> list[tuple[str, bytes, str]]:
    """(file name, PNG bytes, caption) of every plot of the report."""
    from rlx2.experiments import plots

    config = report.config
    pct = int(round(100 * config.confidence))
    names = column_names(report.groups)
    runs_of = group_runs(report.runs)
    made = []
    for algo, env in sorted({(g.key.algo, g.key.env) for g in report.groups}):
        mine = [g for g in report.groups if g.key.algo == algo and g.key.env == env]
        series = []
        for g in mine:
            members = runs_of[g.key]
            steps = stats.common_steps([run.steps for run in members])
            if not steps:
                continue
            curves = np.array(
                [
                    [dict(zip(run.steps, run.returns, strict=True))[s] for s in steps]
                    for run in members
                ]
            )  # [seeds, steps]
            band = (
                stats.bootstrap_mean_band(
                    curves, config.bootstrap_reps, config.confidence, config.seed
                )
                if len(members) >= 2
                else None
            )
            series.append(
                plots.CurveSeries(
                    names[g.key], np.asarray(steps), curves.mean(axis=0), band, len(members)
                )
            )
        caption = (
            f"{algo.upper()} on {env}: evaluation return, mean over seeds; band = {pct} % "
            "percentile-bootstrap CI of the mean (none for one seed); steps common to all seeds."
        )
        diagnosed = [
            c
            for g in mine
            if (
                c := report_diagnostics.curves(
                    names[g.key],
                    [run.steps for run in runs_of[g.key]],
                    [run.diagnostics for run in runs_of[g.key]],
                )
            )
            is not None
        ]
        if diagnosed:
            made.append(
                (
                    f"diagnostics_{safe_name(algo)}_{safe_name(env)}.png",
                    plots.diagnostics_png(
                        [(c.label, c.steps, c.columns) for c in diagnosed],
                        report_diagnostics.PANELS,
                        f"{env} ({algo.upper()}): training diagnostics",
                    ),
                    f"{algo.upper()} on {env}: diagnostics over training, mean over seeds at "
                    "the steps all seeds evaluated (docs/diagnostics.md).",
                )
            )
        if series:
            made.append(
                (
                    f"curves_{safe_name(algo)}_{safe_name(env)}.png",
                    plots.learning_curves_png(series, f"{env} ({algo.upper()})"),
                    caption,
                )
            )
        by_label: dict[str, list[GroupResult]] = {}
        for g in mine:
            if g.key.actor_sparsity is not None:
                by_label.setdefault(g.key.label, []).append(g)
        sweeps = {label: gs for label, gs in by_label.items() if len(gs) >= 2}
        if sweeps:
            dense = _dense_reference(report.groups, algo, env)
            points = {
                label: [
                    plots.SparsityPoint(
                        g.key.actor_sparsity, g.key.critic_sparsity, g.iqm, g.ci_low, g.ci_high
                    )
                    for g in gs
                ]
                for label, gs in sweeps.items()
            }
            made.append(
                (
                    f"sparsity_{safe_name(algo)}_{safe_name(env)}.png",
                    plots.sparsity_png(
                        points, f"{env} ({algo.upper()})", None if dense is None else dense.iqm
                    ),
                    f"{algo.upper()} on {env}: final score (IQM over seeds, {pct} % stratified-bootstrap CI) "
                    "against sparsity; dashed line: dense IQM.",
                )
            )
    for profile in report.profiles:
        made.append(
            (
                f"profile_{safe_name(profile.algo)}.png",
                plots.profile_png(
                    profile.taus,
                    {c: curve for c, curve in profile.curves.items()},
                    f"{profile.algo.upper()}: performance profiles",
                ),
                f"{profile.algo.upper()}: fraction of runs above τ % of dense, averaged over "
                f"tasks; band = {pct} % stratified-bootstrap CI.",
            )
        )
    return made


def _clear_previous_report(out: Path) -> None:
    for path in out.iterdir():
        if path.is_file() and (
            path.name in (REPORT_MD, RESULTS_CSV, RUNS_CSV, COMPRESSION_CSV)
            or (path.name.startswith(PLOT_PREFIXES) and path.suffix == ".png")
        ):
            path.unlink()


def write_report(report: Report, out: Path, overwrite: bool = False) -> list[Path]:
    """Write every output file atomically; returns their paths."""
    check_out_dir(out, overwrite)
    plots = make_plots(report)  # before touching --out: a plotting error leaves it as it was
    rundir.make_dir(out, f"--out {out}")
    _clear_previous_report(out)
    written = []
    for name, data in (
        (RESULTS_CSV, results_csv(report).encode()),
        (RUNS_CSV, runs_csv(report).encode()),
        *([(COMPRESSION_CSV, compression_csv(report).encode())] if report.ladders else []),
        *((name, png) for name, png, _ in plots),
        (REPORT_MD, render_markdown(report, [(n, c) for n, _, c in plots]).encode()),
    ):
        rundir.atomic_write_bytes(out / name, data)
        written.append(out / name)
    return written


def cli_main(args: Sequence[str]) -> None:
    """``rlx2 report RUNS... --out DIR``."""
    from rlx2.cli import parse

    config: ReportConfig = parse(ReportConfig, args, "rlx2 report")
    out = Path(config.out)
    check_out_dir(out, config.overwrite)  # fail before reading any run
    rundir.check_writable_dir(out, f"--out {out}")
    report = build_report(config)
    for path, reason in report.unreadable:
        print(f"rlx2 report: warning: left out {path}: {reason}", file=sys.stderr)
    write_report(report, out, config.overwrite)
    unreadable = f", {len(report.unreadable)} unreadable" if report.unreadable else ""
    print(
        f"report: {len(report.groups)} groups from {len(report.runs) - len(report.excluded)} runs "
        f"({len(report.excluded)} excluded{unreadable}) -> {out / REPORT_MD}"
    )
    for ladder in report.ladders:
        print(ladder.statement())
