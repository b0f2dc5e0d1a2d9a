"""The report's figures: learning curves, score against sparsity, diagnostics, profiles."""

from __future__ import annotations

import numpy as np

from rlx2.experiments import report_diagnostics, stats
from rlx2.experiments.report.build import Report
from rlx2.experiments.report.groups import GroupResult, dense_reference, group_runs
from rlx2.experiments.report.options import safe_name
from rlx2.experiments.report.tables import column_names


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
            dense = dense_reference(report.groups, algo, env)
            points = {
                label: [
                    plots.SparsityPoint(
                        g.key.actor_sparsity,  # type: ignore[arg-type]  # a sparse group
                        g.key.critic_sparsity,  # type: ignore[arg-type]
                        g.iqm,
                        g.ci_low,
                        g.ci_high,  # type: ignore[arg-type]
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
