"""The report's diagnostics section and plot (docs/diagnostics.md), on synthetic run
directories whose values are checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_report import PNG_MAGIC, report_of, write_run

from rlx2.experiments import report_diagnostics
from rlx2.experiments.report import make_plots, render_markdown, write_report
from rlx2.train import rundir

NAN = float("nan")


def _columns(base: float, n: int = 3) -> dict[str, list[float]]:
    """Every diagnostic column, value ``base + column index / 100 + evaluation / 1000``."""
    return {
        column: [base + j / 100 + i / 1000 for i in range(n)]
        for j, column in enumerate(rundir.DIAGNOSTIC_COLUMNS)
    }


def test_final_values_average_the_last_evaluation_over_seeds_ignoring_nan():
    runs = [
        {"q_bias": (1.0, 2.0), "dormant_actor": (0.1, 0.3)},
        {"q_bias": (5.0, NAN), "dormant_actor": (0.2, 0.5)},
    ]
    values = report_diagnostics.final_values(runs)
    assert values["q_bias"] == 2.0  # the seed without a comparable state is left out
    assert values["dormant_actor"] == pytest.approx(0.4)
    assert math.isnan(values["churn_critic"])  # not logged by any seed


def test_curves_are_means_at_the_steps_every_seed_evaluated():
    steps = [(1.0, 2.0, 3.0), (2.0, 3.0)]
    runs = [
        {c: (10.0, 20.0, 30.0) for c in rundir.DIAGNOSTIC_COLUMNS},
        {c: (40.0, NAN) for c in rundir.DIAGNOSTIC_COLUMNS},
    ]
    curves = report_diagnostics.curves("rlx2", steps, runs)
    assert list(curves.steps) == [2.0, 3.0]
    for column in rundir.DIAGNOSTIC_COLUMNS:
        expected = [(20.0 + 40.0) / 2, 30.0]  # brute force: NaN does not count
        assert list(curves.columns[column]) == expected
    assert report_diagnostics.curves("dense", [(1.0,)], [{}]) is None


def test_report_has_a_diagnostics_table_and_plot_when_runs_logged_them(tmp_path):
    for seed, base in ((0, 0.1), (1, 0.3)):
        write_run(
            tmp_path,
            f"rlx2_s{seed}",
            returns=[1.0, 2.0, 3.0],
            method="rlx2",
            sparsity=(0.9, 0.85),
            seed=seed,
            diagnostics=_columns(base),
        )
    write_run(tmp_path, "dense_s0", returns=[1.0, 2.0, 3.0])  # trained with --no-diagnostics
    report = report_of(tmp_path)
    plots = make_plots(report)
    names = [name for name, _, _ in plots]
    assert "diagnostics_td3_Hopper-v5.png" in names
    assert all(png.startswith(PNG_MAGIC) for _, png, _ in plots)
    markdown = render_markdown(report, [(n, c) for n, _, c in plots])
    section = markdown.split("## Diagnostics")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| TD3")]
    assert len(rows) == 1 and "| rlx2 |" in rows[0]  # the dense group logged nothing
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    # Last evaluation (i = 2), column j: mean over bases 0.1 and 0.3 = 0.2 + j/100 + 0.002.
    for j, _ in enumerate(rundir.DIAGNOSTIC_COLUMNS):
        assert float(cells[4 + j]) == pytest.approx(0.2 + j / 100 + 0.002, rel=1e-3)
    written = write_report(report, tmp_path / "out")
    assert (tmp_path / "out" / "diagnostics_td3_Hopper-v5.png") in written


def test_runs_without_diagnostics_give_no_section_and_no_plot(tmp_path):
    write_run(tmp_path, "dense_s0", returns=[1.0, 2.0])
    report = report_of(tmp_path)
    plots = make_plots(report)
    assert not any(name.startswith("diagnostics_") for name, _, _ in plots)
    assert "## Diagnostics" not in render_markdown(report, [(n, c) for n, _, c in plots])


def test_a_diagnostic_cell_left_empty_reads_as_nan(tmp_path):
    path = write_run(
        tmp_path,
        "rlx2_s0",
        returns=[1.0, 2.0],
        method="rlx2",
        sparsity=(0.9, 0.9),
        diagnostics={"q_bias": [0.5, 0.7]},
    )
    text = (path / rundir.EVALUATIONS).read_text().replace(",0.7\n", ",\n")
    (path / rundir.EVALUATIONS).write_text(text)
    (run,) = report_of(tmp_path).runs
    assert run.diagnostics["q_bias"][0] == 0.5 and np.isnan(run.diagnostics["q_bias"][1])
