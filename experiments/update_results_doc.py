"""Rewrite the marked tables of docs/results.md from `rlx2 report` of the committed runs.

    python experiments/update_results_doc.py [docs/results.md] [--check]

A table is marked by the comment line above it: `<!-- rlx2 report SOURCE: ALGO TASK -->` for a
summary table (Table 2's form: one row per method) and `<!-- rlx2 report SOURCE: ALGO TASK runs -->`
for a per-run table (commit, machine, final score, mean return per tenth of the budget, best
evaluation, wall time, steps/s). SOURCE is a results directory relative to the repository root.
Every table gets all of the report's groups (runs) of its task, in a fixed method order, unless
a SOURCE, ALGO and TASK mark several tables of one kind: each of those keeps the methods it
lists. A row whose method is bold stays bold. A table marked
`<!-- experiments/topology_dips.py SOURCE -->` gets that script's rows for SOURCE, and one
marked `<!-- experiments/topology_dip_probe.py table FILE... -->` that script's table of those
committed files. Nothing outside the tables changes.
tests/experiments/test_results_docs.py checks each table cell by cell against the report.
--check writes nothing and exits 1 when a table is out of date. Needs rlx2 (run it with the
project's environment).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from rlx2.experiments.report import ReportConfig, build_report, render_markdown
from rlx2.experiments.report.render import progress_csv, runs_csv

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- rlx2 report (\S+): (\S+) (\S+)( runs)? -->")
DIPS_MARKER = re.compile(r"<!-- experiments/topology_dips.py (\S+) -->")
PROBE_MARKER = re.compile(r"<!-- experiments/topology_dip_probe.py table (.+) -->")
METHOD_NAMES = {
    "dense": "dense",
    "tiny": "Tiny",
    "ss": "SS",
    "set": "SET",
    "rigl": "RigL",
    "rlx2": "RLx2",
}
"""Report method -> its name in the docs, in the order tables list methods."""


# ----- reading a report ------------------------------------------------------------------------
def normal(cell: str) -> str:
    """A cell as the report writes it: no bold, no digit-group spaces (3 993.6 -> 3993.6)."""
    cell = cell.replace("**", "").strip()
    return re.sub(r"(?<=\d)[  ](?=\d)", "", cell)


def cells(line: str) -> list[str]:
    """The normalised cells of one markdown table line."""
    return [normal(c) for c in line.strip().strip("|").split("|")]


def body_rows(lines: list[str]) -> list[list[str]]:
    """The body rows of the markdown table at the start of `lines` (header and rule skipped)."""
    table = []
    for line in lines:
        if not line.startswith("|"):
            break
        table.append(cells(line))
    return table[2:]


def section_table(markdown: str, heading: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """(algo, task, method) -> {column: cell} of the first table under `heading` ({} if the
    report has no such section)."""
    lines = markdown.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:  # e.g. no dense runs, so no "Against the paper"
        return {}
    first = next(i for i in range(start, len(lines)) if lines[i].startswith("|"))
    header = cells(lines[first])
    rows = {}
    for row in body_rows(lines[first:]):
        named = dict(zip(header, row, strict=True))
        rows[(named["algo"].lower(), named["task"], named["method"])] = named
    return rows


def report_tables(runs: tuple[str, ...], out: Path) -> dict[str, Any]:
    """The report of `runs` (run or results directories) as tables: its groups, "Against the
    paper" and compute sections by (algo, task, method), runs.csv rows, progress.csv rows by run
    directory, and the whole markdown."""
    report = build_report(ReportConfig(runs=runs, out=str(out)))
    markdown = render_markdown(report, [])
    progress: dict[str, list[dict[str, str]]] = {}
    for row in csv.DictReader(io.StringIO(progress_csv(report))):
        progress.setdefault(row["run_dir"], []).append(row)
    return {
        "groups": section_table(markdown, "## Groups"),
        "paper": section_table(markdown, "## Against the paper (Table 2 form)"),
        "compute": section_table(markdown, "## Compute"),
        "runs": list(csv.DictReader(io.StringIO(runs_csv(report)))),
        "markdown": markdown,
        "progress": progress,
    }


# ----- names and numbers as the docs write them ----------------------------------------------
def display(label: str) -> str:
    """A report label as the docs name it: "rlx2 n=1" -> "RLx2 n=1", "ss+" -> "SS+"."""
    method, plus, rest = re.fullmatch(r"([a-z0-9]+)(\+?)(.*)", label).groups()  # type: ignore[union-attr]
    return METHOD_NAMES[method] + plus + rest


def method_of(run_name: str) -> str:
    """ "RLx2 n=1 s3" -> "RLx2 n=1"."""
    return run_name.rsplit(" s", 1)[0]


def _order(name: str) -> tuple[int, str]:
    """Tables list methods in METHOD_NAMES's order, a method's variants after it."""
    base = re.match(r"[A-Za-z0-9]+", name).group()  # type: ignore[union-attr]
    return list(METHOD_NAMES.values()).index(base), name


def grouped(text: str) -> str:
    """Digit groups in every number's integer part: 3993.6 -> 3 993.6."""
    return re.sub(r"(?<![\d.])\d{4,}", lambda m: f"{int(m.group()):,}".replace(",", " "), text)


def machine_name(cpu: str) -> str:
    """ "Intel(R) Xeon(R) Processor" -> "Intel Xeon"; "AMD EPYC" stays."""
    words = re.sub(r"\((R|TM)\)", "", cpu).split()
    return " ".join(w for w in words if w not in ("Processor", "CPU"))


# ----- table bodies ----------------------------------------------------------------------------
def summary_rows(
    tables: dict[str, Any], algo: str, task: str, methods: list[str]
) -> list[list[str]]:
    """One row per method (docs names), cells as the docs write them."""
    by_name = {display(m): m for (a, t, m) in tables["groups"] if (a, t) == (algo, task)}
    rows = []
    for name in methods:
        key = (algo, task, by_name[name])
        group, compute = tables["groups"][key], tables["compute"][key]
        ratios = [compute["size"], compute["train FLOPs"], compute["inference FLOPs"]]
        if by_name[name] == "dense":
            rows.append([name, group["seeds"], group["IQM [95 % CI]"], "100", "–", "100", *ratios])
            continue
        paper = tables["paper"][key]
        rows.append(
            [
                name,
                group["seeds"],
                group["IQM [95 % CI]"],
                paper["% of dense, IQM [95 % CI]"],
                paper["within 3 % of dense?"],
                paper["paper (% of dense)"],
                *ratios,
            ]
        )
    return rows


def _minutes(run_dir: str) -> str:
    summary = json.loads((Path(run_dir) / "summary.json").read_text())
    resumes = summary.get("resumes") or 0
    return f"{summary['wall_time_s'] / 60:.0f} min" + (f" (resumed {resumes}×)" if resumes else "")


def run_rows(tables: dict[str, Any], algo: str, task: str, methods: list[str]) -> list[list[str]]:
    """One row per committed run of `methods`, by method then seed."""
    runs = [
        r
        for r in tables["runs"]
        if (r["algo"], r["env"]) == (algo, task)
        and r["included"] == "True"
        and display(r["label"]) in methods
    ]
    runs.sort(key=lambda r: (methods.index(display(r["label"])), int(r["seed"])))
    rows = []
    for run in runs:
        windows = sorted(tables["progress"][run["run_dir"]], key=lambda w: int(w["window"]))
        means = " → ".join(f"{float(w['return_mean']):.0f}" for w in windows)
        best = max(float(w["return_best"]) for w in windows)
        rows.append(
            [
                f"{display(run['label'])} s{run['seed']}",
                f"`{run['commit'][:7]}`, {machine_name(run['machine'])}",
                f"{float(run['final_score']):.1f}",
                means,
                f"{best:.0f}",
                _minutes(run["run_dir"]),
                f"{float(run['steps_per_second']):.0f}",
            ]
        )
    return rows


def _line(row: list[str], bold: bool) -> str:
    shown = [grouped(c) for c in row]
    if bold:  # the method, its score and its % of dense
        shown[0], shown[2], shown[3] = (f"**{c}**" for c in (shown[0], shown[2], shown[3]))
    return "| " + " | ".join(shown) + " |"


# ----- the document ----------------------------------------------------------------------------
def _methods(tables: dict[str, Any], algo: str, task: str, runs: bool) -> list[str]:
    """Every method (docs names) the report has on the task, in table order."""
    if runs:
        found = {
            display(r["label"])
            for r in tables["runs"]
            if (r["algo"], r["env"]) == (algo, task) and r["included"] == "True"
        }
    else:
        found = {display(m) for (a, t, m) in tables["groups"] if (a, t) == (algo, task)}
    return sorted(found, key=_order)


def _script(name: str) -> Any:
    """experiments/NAME.py, beside this file, as a module."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _table_end(lines: list[str], mark: int) -> int:
    """The index after the last line of the table right below line `mark`."""
    end = mark + 1
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return end


def update_dips(lines: list[str], root: Path) -> list[str]:
    """`lines` with each table marked `<!-- experiments/topology_dips.py SOURCE -->` rewritten."""
    lines = list(lines)
    marks = [i for i, line in enumerate(lines) if DIPS_MARKER.search(line)]
    dips = _script("topology_dips") if marks else None  # executed once, only when needed
    for i in reversed(marks):
        source = DIPS_MARKER.search(lines[i]).group(1)  # type: ignore[union-attr]
        rows = dips.table_rows(root / source)
        lines[i + 3 : _table_end(lines, i)] = [
            _line([r[0], display(r[1]), *r[2:]], False) for r in rows
        ]
    return lines


def update_probe_tables(lines: list[str], root: Path) -> list[str]:
    """`lines` with each table marked `<!-- experiments/topology_dip_probe.py table FILE... -->`
    rewritten, header included (its columns name the runs), from those committed files."""
    lines = list(lines)
    marks = [i for i, line in enumerate(lines) if PROBE_MARKER.search(line)]
    probe = _script("topology_dip_probe") if marks else None
    for i in reversed(marks):
        names = PROBE_MARKER.search(lines[i]).group(1).split()  # type: ignore[union-attr]
        outputs = [json.loads((root / name).read_text()) for name in names]
        lines[i + 1 : _table_end(lines, i)] = probe.table(outputs)
    return lines


def update(text: str, root: Path, out: Path) -> str:
    """`text` with every marked table's body regenerated from the report of its source."""
    lines = update_probe_tables(update_dips(text.splitlines(), root), root)
    marks = [(i, m) for i, line in enumerate(lines) if (m := MARKER.search(line))]
    kinds = Counter((*m.groups()[:3], bool(m.group(4))) for _, m in marks)
    reports: dict[str, dict[str, Any]] = {}
    for i, match in reversed(marks):  # bottom up, so the earlier marks' lines stay where they are
        source, algo, task, runs = *match.groups()[:3], bool(match.group(4))
        if source not in reports:
            reports[source] = report_tables((str(root / source),), out / f"report{len(reports)}")
        end = _table_end(lines, i)
        old = lines[i + 3 : end]  # below the marker, the header and the rule
        names = [cells(line)[0] for line in old]
        bold = {n for n, line in zip(names, old, strict=True) if line.startswith("| **")}
        if kinds[(source, algo, task, runs)] > 1:  # several such tables: each keeps its methods
            methods = list(dict.fromkeys(method_of(n) if runs else n for n in names))
        else:
            methods = _methods(reports[source], algo, task, runs)
        rows = (run_rows if runs else summary_rows)(reports[source], algo, task, methods)
        lines[i + 3 : end] = [_line(row, row[0] in bold) for row in rows]
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    if len(paths) > 1 or any(a.startswith("-") for a in paths):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    doc = Path(paths[0]) if paths else ROOT / "docs" / "results.md"
    if not doc.is_file():
        print(f"update_results_doc: {doc} is not a file", file=sys.stderr)
        return 2
    text = doc.read_text()
    with tempfile.TemporaryDirectory() as out:
        try:
            new = update(text, ROOT, Path(out))
        except KeyError as exc:  # a kept method the report no longer has
            print(f"update_results_doc: no group or run {exc} in the report", file=sys.stderr)
            return 2
    if new == text:
        print(f"update_results_doc: {doc} is up to date")
        return 0
    if check:
        print(f"update_results_doc: {doc} is out of date", file=sys.stderr)
        return 1
    tmp = doc.with_name(f".{doc.name}.tmp")
    tmp.write_text(new)
    os.replace(tmp, doc)  # atomic: the old text or the new, never half
    print(f"update_results_doc: rewrote the tables of {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
