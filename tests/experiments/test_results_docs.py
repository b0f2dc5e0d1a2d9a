"""docs/results.md states what `rlx2 report results/td3-1m` computes from the committed runs:
each summary table marked `<!-- rlx2 report results/td3-1m: ALGO TASK -->` is regenerated
here and compared cell by cell (seeds, IQM with CI, % of dense with CI, the "within 3 %"
verdict, the paper's figure, size and FLOPs), and so is each per-run table marked
`<!-- rlx2 report results/td3-1m: ALGO TASK runs -->` (commit, machine, final score, mean
return per tenth of the budget, best evaluation, steps/s), so a hand-copied number cannot
drift from the data. A table need not list every method, but a listed method's row counts
all of its committed seeds: committing a run means updating the table."""

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from experiment_scripts import load

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DOC = ROOT / "docs" / "results.md"


docs = load("update_results_doc")
MARKER, _display, _method_of, _normal = docs.MARKER, docs.display, docs.method_of, docs.normal
_grouped = docs.grouped
_rows = docs.body_rows


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

CORE = tuple(f"results/td3-1m/td3_*_{method}_s*" for method in ("dense", "ss", "rigl", "rlx2"))
"""The runs the three-task statements are about: dense, SS, RigL and RLx2 on every task (the
`_s*` leaves out the ablations, whose names carry their option before the seed)."""


def _build(sources: tuple[str, ...], out: Path) -> dict[str, Any]:
    """The report of `sources` (paths or globs under the repository) as tables."""
    return docs.report_tables(tuple(str(p) for g in sources for p in sorted(ROOT.glob(g))), out)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """results dir (or the PHASES_1_2 or CORE globs) -> its report as tables, built once each."""
    sources = {t[0]: (t[0],) for t in TABLES + RUN_TABLES} | {g: g for g in (PHASES_1_2, CORE)}
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
    "path, start, end, runs",
    [
        ("README.md", "**Results**", "[`docs/results.md`]", CORE),
        ("README.md", "[`docs/results.md`]", "\n## ", "results/td3-1m"),
        ("docs/results.md", "### What the three tasks say", "\n### ", CORE),
        ("docs/results.md", "### What phases 1 and 2 say", "\n### ", PHASES_1_2),
    ],
    ids=["readme-three-tasks", "readme-phase-3", "results-three-tasks", "results-phases-1-2"],
)
def test_summary_intervals_are_the_reports(reports, path, start, end, runs):
    """Every confidence interval of the README's results and of the three-task and phase-1-2
    summaries is one that the report of the runs they are about states (% of dense,
    P(improvement), the IQM of runs over tasks): the three-task statements against the four
    methods' runs, the phase-1-2 ones against those two tasks' runs, the README's phase-3
    paragraph against every committed run."""
    text = (ROOT / path).read_text()
    begin = text.index(start)
    section = text[begin : text.index(end, begin + len(start))]
    stated, missing = _intervals_not_in_report(section, reports[runs]["markdown"])
    assert stated, f"{path}: the section states no interval"
    assert not missing, f"{path}: intervals not in the report: {missing}"


def test_three_task_section_counts_the_runs_it_is_about():
    """The three-task section's "(complete: N runs)" is what the CORE globs match: five seeds of
    each of the four methods on each of the three tasks."""
    runs = [p for g in CORE for p in ROOT.glob(g)]
    heading = re.search(
        r"### What the three tasks say.*\(complete: (\d+) runs\)", RESULTS_DOC.read_text()
    )
    assert heading and int(heading.group(1)) == len(runs) == 3 * 4 * 5


# ----- experiments/update_results_doc.py ------------------------------------------------------
def test_results_doc_is_what_update_results_doc_writes(tmp_path):
    """The marked tables are the generator's output, formatting included (digit groups, wall
    time), so `python experiments/update_results_doc.py` after a commit of runs is the whole
    update, and the cell checks above hold for what it writes."""
    text = RESULTS_DOC.read_text()
    assert docs.update(text, ROOT, tmp_path) == text


STALE = """Some prose that stays.

<!-- rlx2 report results/td3-1m: td3 Hopper-v5 -->
| method | seeds | IQM | % | within | paper | size | train | inference |
|---|---|---|---|---|---|---|---|---|
| dense | 1 | 1.0 | 100 | – | 100 | 1 | 1 | 1 |
| **RLx2** | 1 | 1.0 | 1 | no | 1 | 1 | 1 | 1 |

<!-- rlx2 report results/td3-1m: td3 Hopper-v5 runs -->
| run | where | final | means | best | time | steps/s |
|---|---|---|---|---|---|---|
| SS s0 | x | 1 | 1 | 1 | 1 | 1 |

<!-- rlx2 report results/td3-1m: td3 Hopper-v5 runs -->
| run | where | final | means | best | time | steps/s |
|---|---|---|---|---|---|---|
| RigL s7 | x | 1 | 1 | 1 | 1 | 1 |
"""


def test_update_lists_every_method_keeps_bold_and_splits_shared_marks(reports, tmp_path):
    report = reports["results/td3-1m"]
    new = docs.update(STALE, ROOT, tmp_path).splitlines()
    assert new[:3] == STALE.splitlines()[:3]  # prose and marker untouched
    tables = [i for i, line in enumerate(new) if MARKER.search(line)]
    summary = [_rows(new[i + 1 :]) for i in tables]
    # the one summary table of its kind gets every group of the task, dense first
    groups = {_display(m) for (a, t, m) in report["groups"] if (a, t) == ("td3", "Hopper-v5")}
    assert [row[0] for row in summary[0]][0] == "dense"
    assert {row[0] for row in summary[0]} == groups
    assert [line for line in new if line.startswith("| **")] == [
        next(line for line in new if line.startswith("| **RLx2** | "))
    ]
    # two run tables with one mark: each keeps its methods and gets all their seeds
    seeds = {
        m: sorted(
            int(r["seed"])
            for r in report["runs"]
            if (r["env"], r["label"], r["included"]) == ("Hopper-v5", m.lower(), "True")
        )
        for m in ("SS", "RigL")
    }
    assert [row[0] for row in summary[1]] == [f"SS s{s}" for s in seeds["SS"]]
    assert [row[0] for row in summary[2]] == [f"RigL s{s}" for s in seeds["RigL"]]


def test_update_check_reports_a_stale_doc_and_writes_nothing(tmp_path, capsys):
    doc = tmp_path / "results.md"
    doc.write_text(STALE)
    assert docs.main([str(doc), "--check"]) == 1
    assert doc.read_text() == STALE
    assert docs.main([str(doc)]) == 0
    assert docs.main([str(doc), "--check"]) == 0
    assert docs.main([str(tmp_path / "missing.md")]) == 2
    assert docs.main(["--bogus"]) == 2
    assert "missing.md is not a file" in capsys.readouterr().err


def _evaluations(run: Path) -> list[tuple[int, float]]:
    with (run / "evaluations.csv").open() as f:
        return [(int(r["step"]), float(r["return_mean"])) for r in csv.DictReader(f)]


def _window_means(evaluations: list[tuple[int, float]]) -> list[float]:
    """Mean return of each 100 k-step window (5 000-step evaluations: 20 per window)."""
    windows = [
        [r for s, r in evaluations if k * 100_000 < s <= (k + 1) * 100_000] for k in range(10)
    ]
    return [sum(w) / len(w) for w in windows]


def _signed(value: int) -> str:
    return _grouped(f"−{-value}" if value < 0 else f"+{value}")


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _cpu(run: Path) -> str:
    """The CPU model a committed run recorded (config.json)."""
    return str(_load_json(run / "config.json")["machine"]["cpu"])


WINDOWS_HEADER = (
    "| method | 100–200 k | 200–300 k | 300–400 k | 400–500 k | 900 k–1 M | gain after 400 k |"
)


def test_halfcheetah_window_table_is_the_committed_seeds_0_to_2():
    """The follow-up's hand-written table: each method's mean return per 100 k-step window,
    averaged over seeds 0-2 of its committed HalfCheetah runs, and the gain from 300-400 k to
    the last window, recomputed here from evaluations.csv."""
    lines = RESULTS_DOC.read_text().splitlines()
    rows = _rows(lines[lines.index(WINDOWS_HEADER) :])
    assert [row[0] for row in rows] == ["dense", "SET", "RigL", "RLx2", "SS"]
    for label, *documented in rows:
        means = [
            _window_means(
                _evaluations(
                    ROOT / "results" / "td3-1m" / f"td3_HalfCheetah-v5_{label.lower()}_s{seed}"
                )
            )
            for seed in range(3)
        ]
        mean = [sum(m[k] for m in means) / 3 for k in range(10)]
        expected = [mean[1], mean[2], mean[3], mean[4], mean[9]]
        assert documented[:5] == [f"{v:.0f}" for v in expected], label
        assert documented[5] == f"+{round(mean[9]) - round(mean[3])}", label


FOLLOWUP_HC = ROOT / "results" / "td3-followup-hc"


def test_halfcheetah_followup_pairing_figures_are_the_committed_runs():
    """The follow-up's prose figures, recomputed. Each committed run (1 M cap or 1-step
    targets) is paired with the campaign's RLx2 run of the same seed where both ran on the same
    CPU model, else with the first follow-up run of that seed (in name order) that did: for each
    pair, the step up to which the two runs' evaluations are identical and the range of their
    differences per 100 k-step window after it. For every committed run, its buffer's final
    size (summary.json)."""
    lines = RESULTS_DOC.read_text().splitlines()
    start = next(
        i for i, line in enumerate(lines) if line.startswith("### Follow-up on HalfCheetah")
    )
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("### "))
    section = " ".join(" ".join(lines[start:end]).split())
    runs = sorted(FOLLOWUP_HC.glob("td3_HalfCheetah-v5_rlx2_*_s*"))
    assert runs
    paired = 0
    seeds = {run: run.name.rsplit("_s", 1)[1] for run in runs}
    for k, run in enumerate(runs):
        seed = seeds[run]
        size = _load_json(run / "summary.json")["value_learning"]["buffer_size"]
        assert _grouped(str(size)) in section, (seed, size)
        candidates = [ROOT / "results" / "td3-1m" / f"td3_HalfCheetah-v5_rlx2_s{seed}"]
        candidates += [r for r in runs[:k] if seeds[r] == seed]
        # different CPUs take different floating-point paths: such runs part from the first update
        base = next((r for r in candidates if _cpu(r) == _cpu(run)), None)
        if base is None:
            continue
        paired += 1
        changed, original = _evaluations(run), _evaluations(base)
        same = next(i for i, (a, b) in enumerate(zip(changed, original, strict=True)) if a != b)
        assert same > 0, run.name
        assert f"up to {changed[same - 1][0] // 1000} k steps" in section, run.name
        after = (same - 1) // 20  # first window in which the two runs can differ
        diffs = [
            round(b) - round(a)
            for a, b in zip(
                _window_means(original)[after:], _window_means(changed)[after:], strict=True
            )
        ]
        phrase = f"by {_signed(min(diffs))} to {_signed(max(diffs))}"
        assert phrase in section, (run.name, diffs)
    assert paired, "no committed follow-up run is paired with another run of its seed"
