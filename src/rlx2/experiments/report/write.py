"""Writing a report atomically, and the ``rlx2 report`` command."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from rlx2.experiments.report.build import Report, build_report, check_out_dir
from rlx2.experiments.report.figures import make_plots
from rlx2.experiments.report.options import (
    COMPRESSION_CSV,
    PLOT_PREFIXES,
    PROGRESS_CSV,
    REPORT_MD,
    RESULTS_CSV,
    RUNS_CSV,
    WALLCLOCK_CSV,
    ReportConfig,
)
from rlx2.experiments.report.render import (
    compression_csv,
    progress_csv,
    render_markdown,
    results_csv,
    runs_csv,
    wallclock_csv,
)
from rlx2.train import rundir


def _clear_previous_report(out: Path) -> None:
    for path in out.iterdir():
        if path.is_file() and (
            path.name
            in (REPORT_MD, RESULTS_CSV, RUNS_CSV, COMPRESSION_CSV, WALLCLOCK_CSV, PROGRESS_CSV)
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
        (WALLCLOCK_CSV, wallclock_csv(report).encode()),
        (PROGRESS_CSV, progress_csv(report).encode()),
        *([(COMPRESSION_CSV, compression_csv(report).encode())] if report.ladders else []),
        *((name, png) for name, png, _ in plots),
        (REPORT_MD, render_markdown(report, [(n, c) for n, _, c in plots]).encode()),
    ):
        rundir.atomic_write_bytes(out / name, data)
        written.append(out / name)
    return written


def cli_main(args: Sequence[str]) -> None:
    """``rlx2 report RUNS... --out DIR``."""
    from rlx2.parsing import parse

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
