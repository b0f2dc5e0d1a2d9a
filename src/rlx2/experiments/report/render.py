"""The report as text: results.csv, runs.csv, compression.csv and report.md."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rlx2.experiments import report_diagnostics
from rlx2.experiments.report.build import Report
from rlx2.experiments.report.groups import GroupResult, group_runs, short_commit
from rlx2.experiments.report.options import RATIO_FIELDS
from rlx2.experiments.report.tables import PaperTable, column_names


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
    "pct_of_dense_iqm_ci_low",
    "pct_of_dense_iqm_ci_high",
    "paper_pct_of_dense",
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
                "pct_of_dense_iqm_ci_low": g.pct_of_dense_iqm_ci and g.pct_of_dense_iqm_ci[0],
                "pct_of_dense_iqm_ci_high": g.pct_of_dense_iqm_ci and g.pct_of_dense_iqm_ci[1],
                "paper_pct_of_dense": g.paper_pct_of_dense,
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
    "steps_per_second",
    "machine",
    "commit",
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
            "steps_per_second": run.summary_number("steps_per_second"),
            "machine": run.machine,
            "commit": run.commit,
        }
        for run in report.runs
    ]
    rows += [
        {"run_dir": str(path), "status": "unreadable", "included": False, "reason": reason}
        for path, reason in report.unreadable
    ]
    return _csv_text(rows, RUNS_COLUMNS)


PROGRESS_WINDOWS = 10
"""progress.csv cuts each run's budget into this many equal windows (100 k steps at 1 M)."""

PROGRESS_COLUMNS = (
    "run_dir",
    "algo",
    "env",
    "label",
    "seed",
    "window",
    "step_from",
    "step_to",
    "evaluations",
    "return_mean",
    "return_best",
)


def progress_csv(report: Report) -> str:
    """How each run learned: per tenth of its budget (steps in (step_from, step_to]), the mean
    and the best of its evaluation returns; empty cells for a window without evaluations."""
    rows = []
    for run in report.runs:
        total = run.total_steps or run.last_step
        if not total or not run.steps:
            continue
        for window in range(PROGRESS_WINDOWS):
            low, high = total * window / PROGRESS_WINDOWS, total * (window + 1) / PROGRESS_WINDOWS
            returns = [r for s, r in zip(run.steps, run.returns, strict=True) if low < s <= high]
            rows.append(
                {
                    "run_dir": str(run.path),
                    "algo": run.algo,
                    "env": run.env,
                    "label": run.label,
                    "seed": run.seed,
                    "window": window + 1,
                    "step_from": round(low),
                    "step_to": round(high),
                    "evaluations": len(returns),
                    "return_mean": sum(returns) / len(returns) if returns else None,
                    "return_best": max(returns) if returns else None,
                }
            )
    return _csv_text(rows, PROGRESS_COLUMNS)


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


def _group_cells(g: GroupResult) -> list[str]:
    """A group's first cells in every per-group table: algo, task, method, sparsities."""
    return [
        g.key.algo,
        g.key.env,
        g.key.label,
        _sparsity_text(g.key.actor_sparsity, g.key.critic_sparsity),
    ]


def _groups_section(report: Report, pct: int) -> list[str]:
    rows = [
        [
            *_group_cells(g),
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


def within_verdict(ci: tuple[float, float] | None, threshold: float) -> str:
    """Whether a % of dense is within ``threshold`` % of dense (>= 100 - threshold), by its CI:
    "yes" (the whole CI is), "no" (none of it is) or "undecided"."""
    if ci is None:
        return "–"
    floor = 100.0 - threshold
    return "yes" if ci[0] >= floor else "no" if ci[1] < floor else "undecided"


def _against_paper_section(report: Report, pct: int) -> list[str]:
    """Table 2's form: per task and method, IQM [CI], % of dense with its CI, the paper's figure."""
    from rlx2 import paper

    threshold = paper.COMPRESSION_THRESHOLD
    shown = [g for g in report.groups if g.method != "dense" and g.pct_of_dense_iqm is not None]
    if not shown:
        return []
    rows = [
        [
            g.key.algo,
            g.key.env,
            g.key.label,
            str(g.num_seeds),
            f"{_fmt(g.iqm)} [{_fmt(g.ci_low)}, {_fmt(g.ci_high)}]",
            _fmt(g.pct_of_dense_iqm)
            + (
                f" [{_fmt(g.pct_of_dense_iqm_ci[0])}, {_fmt(g.pct_of_dense_iqm_ci[1])}]"
                if g.pct_of_dense_iqm_ci
                else ""
            )
            + (" ⚠" if g.single_seed else ""),
            within_verdict(g.pct_of_dense_iqm_ci, threshold),
            _fmt(g.paper_pct_of_dense),
        ]
        for g in shown
    ]
    header = [
        "algo",
        "task",
        "method",
        "seeds",
        f"final score IQM [{pct} % CI]",
        f"% of dense, IQM [{pct} % CI]",
        f"within {threshold:g} % of dense?",
        "paper (% of dense)",
    ]
    return [
        "## Against the paper (Table 2 form)",
        "",
        "% of dense here is IQM / the dense group's IQM × 100; its CI resamples the group's and "
        "dense's seeds independently (a stratified bootstrap with the two groups as strata, "
        f'{report.config.bootstrap_reps} replicates). "within {threshold:g} %": yes when the '
        f"whole CI is at or above {100 - threshold:g} %, no when all of it is below, else "
        "undecided. The paper's figures (docs/reference-numbers.md, Tables 2 and 3) are means "
        "of 8 seeds at 3 M steps, shown only at the paper's sparsities.",
        "",
        *_md_table(header, rows),
    ]


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
            *_group_cells(g),
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
        "wall-clock second, evaluation included, averaged over the group's runs whatever "
        "machine each ran on (split by machine below).",
        "",
        *_md_table(COMPUTE_HEADER.split("|"), rows),
        *_wall_clock_lines(report),
    ]


WALLCLOCK_HEADER = "algo|task|method|sparsity (actor / critic)|machine|commit|runs (resumed)|steps/s median [slowest, fastest]|× dense"


def _wall_clock_lines(report: Report) -> list[str]:
    rows = [
        [
            *_group_cells(g),
            speed.machine,
            short_commit(speed.commit),
            f"{speed.runs} ({speed.resumed})" if speed.resumed else str(speed.runs),
            f"{_fmt(speed.median, 1)} [{_fmt(speed.low, 1)}, {_fmt(speed.high, 1)}]",
            _fmt(speed.vs_dense, 2),
        ]
        for g in report.groups
        for speed in g.wall_clock
    ]
    if not rows:
        return []
    return [
        "",
        "### Wall-clock by machine",
        "",
        "steps/s of the runs themselves, per CPU model and source commit (config.json "
        "`machine.cpu`, `source.commit`): a speed compares methods only on the same machine "
        "and code. × dense = median / the dense group's median on the same machine and "
        "commit (– without dense runs there). (resumed): how many of the runs were resumed; "
        "their steps/s spans sessions that config.json's machine and commit (the first "
        "session's) may not all describe. The runs' own load (other runs beside them) is not "
        "recorded: read these as the campaign's conditions, and use `rlx2 bench` or "
        "benchmarks/ for controlled speed figures.",
        "",
        *_md_table(WALLCLOCK_HEADER.split("|"), rows),
    ]


WALLCLOCK_COLUMNS = (
    "algo",
    "env",
    "label",
    "actor_sparsity",
    "critic_sparsity",
    "machine",
    "commit",
    "runs",
    "resumed",
    "steps_per_second_median",
    "steps_per_second_min",
    "steps_per_second_max",
    "vs_dense",
)


def wallclock_csv(report: Report) -> str:
    """One row per group, machine and commit: the runs' steps/s there, and the ratio to dense's."""
    rows = [
        {
            **g.key._asdict(),
            "machine": speed.machine,
            "commit": speed.commit,
            "runs": speed.runs,
            "resumed": speed.resumed,
            "steps_per_second_median": speed.median,
            "steps_per_second_min": speed.low,
            "steps_per_second_max": speed.high,
            "vs_dense": speed.vs_dense,
        }
        for g in report.groups
        for speed in g.wall_clock
    ]
    return _csv_text(rows, WALLCLOCK_COLUMNS)


def _comparisons_section(report: Report, pct: int) -> list[str]:
    if not report.improvements and not report.profiles:
        return []
    lines = [
        "## Probability of improvement and performance profiles",
        "",
        "P(RLx2 > X) (rliable): the probability that a run of RLx2 ends with a higher final "
        "score than a run of X on the same task, ties counting ½, averaged over the tasks "
        f"both ran, then on each task alone; {pct} % CI from a bootstrap of each method's "
        "seeds within each task. 0.5 = no difference; a CI above 0.5 says RLx2 is better.",
        "",
    ]
    lines += _md_table(
        ["algo", "comparison", "over", f"P(improvement) [{pct} % CI]"],
        (
            [
                i.algo.upper(),
                f"{i.reference} > {i.other}",
                i.tasks[0] if len(i.tasks) == 1 else f"{len(i.tasks)} tasks",
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
    lines += _against_paper_section(report, pct)
    lines += _comparisons_section(report, pct)
    lines += _compression_section(report, pct)
    lines += _compute_section(report) + _diagnostics_section(report)
    lines += _excluded_section(report) + ["## Plots", ""]
    for name, caption in plots:
        lines += [f"![{Path(name).stem}]({name})", "", f"*{caption}*", ""]
    if not plots:
        lines += ["None.", ""]
    return "\n".join(lines).rstrip() + "\n"
