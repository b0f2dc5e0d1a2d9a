"""docs/results.md states what `rlx2 report results/td3-1m` computes from the committed runs:
each summary table marked `<!-- rlx2 report results/td3-1m: ALGO TASK -->` is regenerated
here and compared cell by cell (seeds, IQM with CI, % of dense with CI, the "within 3 %"
verdict, the paper's figure, size and FLOPs), and so is each per-run table marked
`<!-- rlx2 report results/td3-1m: ALGO TASK runs -->` (commit, machine, final score, mean
return per tenth of the budget, best evaluation, steps/s), so a hand-copied number cannot
drift from the data. A table need not list every method, but a listed method's row counts
all of its committed seeds: committing a run means updating the table."""

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest

from rlx2.experiments.report import ReportConfig, build_report, render_markdown
from rlx2.experiments.report.render import progress_csv, runs_csv

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DOC = ROOT / "docs" / "results.md"
MARKER = re.compile(r"<!-- rlx2 report (\S+): (\S+) (\S+)( runs)? -->")
METHOD_NAMES = {
    "dense": "dense",
    "ss": "SS",
    "rigl": "RigL",
    "rlx2": "RLx2",
    "tiny": "Tiny",
    "set": "SET",
}


def _display(label: str) -> str:
    """A report label as the docs name it: "rlx2 n=1" -> "RLx2 n=1", "ss+" -> "SS+"."""
    method, plus, rest = re.fullmatch(r"([a-z0-9]+)(\+?)(.*)", label).groups()  # type: ignore[union-attr]
    return METHOD_NAMES[method] + plus + rest


def _method_of(run_name: str) -> str:
    """ "RLx2 n=1 s3" -> "RLx2 n=1"."""
    return run_name.rsplit(" s", 1)[0]


def _normal(cell: str) -> str:
    """A cell as the report writes it: no bold, no digit-group spaces (3 993.6 -> 3993.6)."""
    cell = cell.replace("**", "").strip()
    return re.sub(r"(?<=\d)[  ](?=\d)", "", cell)


def _cells(line: str) -> list[str]:
    """The normalised cells of one markdown table line."""
    return [_normal(c) for c in line.strip().strip("|").split("|")]


def _rows(lines: list[str]) -> list[list[str]]:
    """The body rows of the markdown table at the start of `lines` (header and rule skipped)."""
    table = []
    for line in lines:
        if not line.startswith("|"):
            break
        table.append(_cells(line))
    return table[2:]


def _section_table(markdown: str, heading: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """(algo, task, method) -> {column: cell} of the first table under `heading` ({} if the
    report has no such section)."""
    lines = markdown.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:  # e.g. no dense runs, so no "Against the paper"
        return {}
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    header = _cells(lines[first])
    rows = {}
    for row in _rows(lines[first:]):
        cells = dict(zip(header, row, strict=True))
        rows[(cells["algo"].lower(), cells["task"], cells["method"])] = cells
    return rows


def _documented_tables(runs: bool) -> list[tuple[str, str, str, list[list[str]]]]:
    """(results dir, algo, task, rows) of every marked summary (or per-run) table."""
    lines = RESULTS_DOC.read_text().splitlines()
    found = []
    for i, line in enumerate(lines):
        match = MARKER.search(line)
        if match and bool(match.group(4)) == runs:
            found.append((*match.groups()[:3], _rows(lines[i + 1 :])))
    return found


TABLES = _documented_tables(runs=False)
RUN_TABLES = _documented_tables(runs=True)


def test_results_doc_marks_its_tables():
    assert TABLES and RUN_TABLES, "docs/results.md marks no table as checked against rlx2 report"
    assert all(rows for *_, rows in TABLES + RUN_TABLES)


PHASES_1_2 = ("results/td3-1m/td3_Walker2d-v5_*", "results/td3-1m/td3_Hopper-v5_*")
"""The runs the phase-1-2 statements are about: the campaign's runs on Walker2d and Hopper
(phase 3's runs on those tasks change none of them; its HalfCheetah runs would change every
figure over tasks)."""


def _build(sources: tuple[str, ...], out: Path) -> dict[str, Any]:
    """The report of `sources` (paths or globs under the repository) as tables."""
    runs = tuple(str(p) for pattern in sources for p in sorted(ROOT.glob(pattern)))
    report = build_report(ReportConfig(runs=runs, out=str(out)))
    markdown = render_markdown(report, [])
    progress: dict[str, list[dict[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(progress_csv(report))):
        progress.setdefault(row["run_dir"], []).append(row)
    return {
        "groups": _section_table(markdown, "## Groups"),
        "paper": _section_table(markdown, "## Against the paper (Table 2 form)"),
        "compute": _section_table(markdown, "## Compute"),
        "runs": list(csv.DictReader(io.StringIO(runs_csv(report)))),
        "markdown": markdown,
        "progress": progress,
    }


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """results dir (or the PHASES_1_2 globs) -> its report as tables, built once each."""
    sources = {t[0]: (t[0],) for t in TABLES + RUN_TABLES} | {PHASES_1_2: PHASES_1_2}
    return {key: _build(globs, tmp_path_factory.mktemp("report")) for key, globs in sources.items()}


@pytest.mark.parametrize(
    "results, algo, task, rows", TABLES, ids=[f"{t[1]}-{t[2]}" for t in TABLES]
)
def test_documented_table_equals_the_report(reports, results, algo, task, rows):
    report = reports[results]
    methods = [row[0].lower() for row in rows]
    groups = {m for (a, t, m) in report["groups"] if (a, t) == (algo, task)}
    assert set(methods) <= groups, "the table names a method the report has no group of"
    for row in rows:
        method = row[0].lower()
        (seeds, iqm, percent, within, paper, size, train, inference) = row[1:9]
        key = (algo, task, method)
        group, compute = report["groups"][key], report["compute"][key]
        assert (seeds, iqm) == (group["seeds"], group["IQM [95 % CI]"]), key
        assert (size, train, inference) == (
            compute["size"],
            compute["train FLOPs"],
            compute["inference FLOPs"],
        ), key
        if method == "dense":
            assert (percent, within) == ("100", "–"), key
            continue
        against = report["paper"][key]
        assert percent == against["% of dense, IQM [95 % CI]"], key
        assert within == against["within 3 % of dense?"], key
        assert paper == against["paper (% of dense)"], key


def _integer(value: str) -> str:
    return f"{float(value):.0f}"


@pytest.mark.parametrize(
    "results, algo, task, rows", RUN_TABLES, ids=[f"{t[1]}-{t[2]}" for t in RUN_TABLES]
)
def test_documented_runs_equal_the_report(reports, results, algo, task, rows):
    report = reports[results]
    runs = {
        f"{_display(r['label'])} s{r['seed']}": r
        for r in report["runs"]
        if (r["algo"], r["env"]) == (algo, task) and r["included"] == "True"
    }
    listed = {row[0] for row in rows}
    methods = {_method_of(name) for name in listed}
    # every committed run of a listed method is in the table (a new seed needs its row)
    assert listed == {name for name in runs if _method_of(name) in methods}
    for name, where, final, means, best, _time, speed in rows:
        run = runs[name]
        windows = sorted(report["progress"][run["run_dir"]], key=lambda w: int(w["window"]))
        commit, machine = (part.strip().strip("`") for part in where.split(","))
        assert run["commit"].startswith(commit) and len(commit) >= 7, name
        assert machine.split()[0] in run["machine"], name  # "AMD EPYC", "Intel Xeon"
        assert final == f"{float(run['final_score']):.1f}", name
        assert means.split(" → ") == [_integer(w["return_mean"]) for w in windows], name
        assert best == _integer(max(float(w["return_best"]) for w in windows)), name
        assert speed == _integer(run["steps_per_second"]), name


def _intervals_not_in_report(text: str, report_markdown: str) -> tuple[list[str], list[str]]:
    stated = re.findall(r"\[[\d  .]+, [\d  .]+\]", text)
    known = set(re.findall(r"\[[\d.]+, [\d.]+\]", report_markdown))
    return stated, [i for i in stated if _normal(i) not in known]


@pytest.mark.parametrize(
    "path, start, end",
    [
        ("README.md", "**Results so far**", "\n## "),
        ("docs/results.md", "### What phases 1 and 2 say", "\n### "),
    ],
)
def test_summary_intervals_are_the_reports(reports, path, start, end):
    """Every confidence interval of the README's results and of the phase-1-2 summary is one
    that the report of those runs states (% of dense, P(improvement), the IQM of runs over
    tasks)."""
    text = (ROOT / path).read_text()
    begin = text.index(start)
    section = text[begin : text.index(end, begin + len(start))]
    stated, missing = _intervals_not_in_report(section, reports[PHASES_1_2]["markdown"])
    assert stated, f"{path}: the section states no interval"
    assert not missing, f"{path}: intervals not in the report: {missing}"
