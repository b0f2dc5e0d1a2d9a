"""Reading run directories: one ``Run`` per directory, checked file by file, its protocol
settings and method label, repeated seeds set apart."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from rlx2.errors import ConfigError, RunDirError
from rlx2.experiments.report.options import IGNORED_SETTINGS, SPARSE_ONLY_SETTINGS
from rlx2.train import rundir


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
    machine: str | None = None
    """The CPU the run trained on (config.json ``machine.cpu``); None when not recorded."""
    commit: str | None = None
    """The source commit that trained it (config.json ``source.commit``, "+dirty" appended when
    the checkout had uncommitted changes); None when not recorded."""

    @property
    def included(self) -> bool:
        return self.final_score is not None

    def summary_number(self, name: str) -> float | None:
        """A number from summary.json: None unless it is a finite int or float (not a bool)."""
        value = self.summary.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) else None

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
        if rundir.holds_run(root):
            found.setdefault(root.resolve(), root)
            continue
        for dirpath, dirnames, _ in os.walk(root):
            here = Path(dirpath)
            if rundir.holds_run(here):
                found.setdefault(here.resolve(), here)
                dirnames[:] = []  # a run's checkpoints/ and tb/ hold no runs
            else:
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    if not found:
        raise ConfigError(
            f"no run directories (holding config.json) found under {', '.join(paths)}"
        )
    return sorted(found.values(), key=str)


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
            f"run directory {path}: unreadable {rundir.EVALUATIONS} ({exc})"
        ) from None
    for number, row in enumerate(rows, start=2):  # type: ignore[assignment]
        if not (math.isfinite(row["return_mean"]) and math.isfinite(row["step"])):  # type: ignore[arg-type]
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
    try:
        record = rundir.read_run_record(path)  # the one reader of config.json
        read_summary = rundir.read_summary(path)
    except RunDirError as exc:
        raise bad(str(exc).removeprefix(f"{path}: ")) from None
    options = record.options
    try:
        env, algo = str(options["env"]), str(options["algo"])
        method = str(options["sparse"]["method"])
        seed = options["run"].get("seed")
        total_steps = options["run"].get("total_steps")
    except (KeyError, TypeError, AttributeError):
        raise bad(
            f"{rundir.CONFIG} lacks config.env/algo/sparse.method/run (not written by rlx2 train?)"
        ) from None
    effective = record.effective
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

    # config.json written, summary not yet: a run that just started.
    summary = read_summary if read_summary is not None else {"status": "running"}
    status = summary.get("status", "running")
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
                recorded is None or not math.isclose(score, recorded, rel_tol=1e-9, abs_tol=1e-9)  # type: ignore[arg-type]
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
        machine=_recorded(record.document, "machine", "cpu"),
        commit=_source_commit(record.document),
    )


def _source_commit(document: Mapping[str, Any]) -> str | None:
    commit = _recorded(document, "source", "commit")
    source = document.get("source")
    dirty = isinstance(source, Mapping) and source.get("dirty") is True
    return f"{commit}+dirty" if commit and dirty else commit


def _recorded(document: Mapping[str, Any], section: str, name: str) -> str | None:
    """A fact config.json records about how the run was made (``machine.cpu``: wall-clock
    compares runs only on one CPU; ``source.commit``), or None."""
    facts = document.get(section)
    value = facts.get(name) if isinstance(facts, Mapping) else None
    return str(value) if value else None


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


class Unreadable(NamedTuple):
    """A run directory that could not be read (left out of everything but the listing)."""

    path: Path
    reason: str


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
