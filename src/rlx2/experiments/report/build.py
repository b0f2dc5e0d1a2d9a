"""The report as data: ``build_report`` reads, checks and summarises the runs; nothing is
written here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rlx2.errors import ConfigError
from rlx2.experiments import comparisons
from rlx2.experiments.compression import LadderResult
from rlx2.experiments.report.groups import (
    GroupResult,
    add_dense_reference,
    assign_labels,
    exclude_repeated_seeds,
    group_runs,
    summarize_group,
)
from rlx2.experiments.report.options import ReportConfig
from rlx2.experiments.report.runs import (
    Run,
    Unreadable,
    find_run_dirs,
    load_runs,
)
from rlx2.experiments.report.tables import (
    PaperTable,
    compression_ladders,
    method_comparisons,
    paper_tables,
)
from rlx2.train import rundir


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
        if rundir.holds_run(out):
            raise ConfigError(f"--out {out} holds a training run; choose another directory")
        if not overwrite:
            raise ConfigError(
                f"--out {out} exists and is not empty; pass --overwrite to replace its report or choose another directory"
            )


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
    results = add_dense_reference(results, groups, config)
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
