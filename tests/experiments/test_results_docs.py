"""docs/results.md states what `rlx2 report results/td3-1m` computes from the committed runs:
each summary table marked `<!-- rlx2 report results/td3-1m: ALGO TASK -->` is regenerated
here and compared cell by cell (seeds, IQM with CI, % of dense with CI, the "within 3 %"
verdict, the paper's figure, size and FLOPs), so a hand-copied number cannot drift from the
data."""

import re
from pathlib import Path

import pytest

from rlx2.experiments.report import ReportConfig, build_report, render_markdown

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DOC = ROOT / "docs" / "results.md"
MARKER = re.compile(r"<!-- rlx2 report (\S+): (\S+) (\S+) -->")


def _normal(cell: str) -> str:
    """A cell as the report writes it: no bold, no digit-group spaces (3 993.6 -> 3993.6)."""
    cell = cell.replace("**", "").strip()
    return re.sub(r"(?<=\d)[  ](?=\d)", "", cell)


def _rows(lines: list[str]) -> list[list[str]]:
    """The body rows of the markdown table at the start of `lines` (header and rule skipped)."""
    table = []
    for line in lines:
        if not line.startswith("|"):
            break
        table.append([_normal(c) for c in line.strip().strip("|").split("|")])
    return table[2:]


def _section_table(markdown: str, heading: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """(algo, task, method) -> {column: cell} of the first table under `heading`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    header = [_normal(c) for c in lines[first].strip().strip("|").split("|")]
    rows = {}
    for row in _rows(lines[first:]):
        cells = dict(zip(header, row, strict=True))
        rows[(cells["algo"].lower(), cells["task"], cells["method"])] = cells
    return rows


def _documented_tables() -> list[tuple[str, str, str, list[list[str]]]]:
    """(results dir, algo, task, rows) of every marked table in docs/results.md."""
    lines = RESULTS_DOC.read_text().splitlines()
    found = []
    for i, line in enumerate(lines):
        match = MARKER.search(line)
        if match:
            found.append((*match.groups(), _rows(lines[i + 1 :])))
    return found


TABLES = _documented_tables()


def test_results_doc_marks_its_summary_tables():
    assert TABLES, "docs/results.md marks no table as checked against rlx2 report"
    assert all(rows for *_, rows in TABLES)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """results dir -> its report.md sections as tables, built once per directory."""
    built = {}
    for results in {t[0] for t in TABLES}:
        out = tmp_path_factory.mktemp("report")
        markdown = render_markdown(
            build_report(ReportConfig(runs=(str(ROOT / results),), out=str(out))), []
        )
        built[results] = {
            "groups": _section_table(markdown, "## Groups"),
            "paper": _section_table(markdown, "## Against the paper (Table 2 form)"),
            "compute": _section_table(markdown, "## Compute"),
        }
    return built


@pytest.mark.parametrize(
    "results, algo, task, rows", TABLES, ids=[f"{t[1]}-{t[2]}" for t in TABLES]
)
def test_documented_table_equals_the_report(reports, results, algo, task, rows):
    report = reports[results]
    methods = [row[0].lower() for row in rows]
    expected_methods = sorted(m for (a, t, m) in report["groups"] if (a, t) == (algo, task))
    assert sorted(methods) == expected_methods, "the table's methods are not the report's groups"
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
