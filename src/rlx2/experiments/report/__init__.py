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

The package is split by job: ``options`` (ReportConfig, file names), ``runs`` (reading run
directories), ``groups`` (grouping and per-group statistics), ``tables`` (paper tables,
method comparisons, compression ladders), ``build`` (the Report as data), ``render`` (CSV and
Markdown), ``figures`` (PNG plots) and ``write`` (atomic output and the CLI). The names below
are the public API.
"""

from rlx2.experiments.report.build import Report, build_report, check_out_dir
from rlx2.experiments.report.figures import make_plots
from rlx2.experiments.report.groups import GroupKey, GroupResult
from rlx2.experiments.report.options import REPORT_MD, ReportConfig
from rlx2.experiments.report.render import render_markdown
from rlx2.experiments.report.runs import Run, find_run_dirs, load_run
from rlx2.experiments.report.write import cli_main, write_report

__all__ = [
    "REPORT_MD",
    "GroupKey",
    "GroupResult",
    "Report",
    "ReportConfig",
    "Run",
    "build_report",
    "check_out_dir",
    "cli_main",
    "find_run_dirs",
    "load_run",
    "make_plots",
    "render_markdown",
    "write_report",
]
