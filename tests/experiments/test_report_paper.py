"""`rlx2 report`'s Table 2 form (issue 9): % of dense with its CI, the paper's figure beside it,
and the within-3 % verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_report import read_csv, report_of, write_run

from rlx2 import paper
from rlx2.experiments.report.groups import paper_percent_of_dense
from rlx2.experiments.report.render import within_verdict

ROOT = Path(__file__).resolve().parents[2]


def hand_iqm(values) -> float:
    """25 % trimmed mean, written out: drop floor(n/4) from each end, average the rest."""
    ordered = sorted(values)
    cut = int(len(ordered) * 0.25)
    kept = ordered[cut : len(ordered) - cut]
    return sum(kept) / len(kept)


def write_campaign(root: Path, dense: list[float], rlx2: list[float]) -> None:
    for seed, score in enumerate(dense):
        write_run(root, f"dense_s{seed}", returns=[score] * 3, env="Walker2d-v5", seed=seed)
    for seed, score in enumerate(rlx2):
        write_run(
            root,
            f"rlx2_s{seed}",
            returns=[score] * 3,
            env="Walker2d-v5",
            seed=seed,
            method="rlx2",
            sparsity=(0.97, 0.95),
        )


def test_percent_of_dense_ci_equals_a_bootstrap_written_as_a_loop(tmp_path):
    dense, rlx2 = [4000.0, 4400.0, 3900.0, 4600.0, 4100.0], [3700.0, 4300.0, 3500.0, 4000.0]
    write_campaign(tmp_path, dense, rlx2)
    reps, seed = 500, 3
    group = report_of(tmp_path, bootstrap_reps=reps, seed=seed).group("rlx2")
    # The same draws, one replicate at a time: group indices first, then dense's.
    rng = np.random.RandomState(seed)
    first = rng.choice(len(rlx2), (reps, len(rlx2)), replace=True)
    second = rng.choice(len(dense), (reps, len(dense)), replace=True)
    ratios = [
        100.0 * hand_iqm([rlx2[i] for i in a]) / hand_iqm([dense[i] for i in b])
        for a, b in zip(first, second, strict=True)
    ]
    low, high = np.percentile(ratios, [2.5, 97.5])
    assert group.pct_of_dense_iqm == pytest.approx(100.0 * hand_iqm(rlx2) / hand_iqm(dense))
    assert group.pct_of_dense_iqm_ci == pytest.approx((low, high))
    assert low < group.pct_of_dense_iqm < high
    assert group.paper_pct_of_dense == 98.1  # Table 2, TD3 Walker2d, RLx2
    assert report_of(tmp_path).group("dense").pct_of_dense_iqm_ci is None  # dense vs itself
    row = next(r for r in read_csv_of(tmp_path, reps) if r["method"] == "rlx2")
    assert float(row["paper_pct_of_dense"]) == 98.1
    assert float(row["pct_of_dense_iqm_ci_low"]) == pytest.approx(low)


def read_csv_of(root: Path, reps: int) -> list[dict[str, str]]:
    from rlx2.experiments.report import write_report

    out = root / f"out{reps}"
    report = report_of(root, bootstrap_reps=reps, seed=3)
    write_report(report, out)
    assert "## Against the paper (Table 2 form)" in (out / "report.md").read_text()
    return read_csv(out / "results.csv")


def test_no_interval_from_a_single_seed_on_either_side(tmp_path):
    write_campaign(tmp_path, [4000.0], [3700.0, 3900.0])
    group = report_of(tmp_path).group("rlx2")
    assert group.pct_of_dense_iqm is not None and group.pct_of_dense_iqm_ci is None


@pytest.mark.parametrize(
    ("ci", "verdict"),
    [((97.0, 101.0), "yes"), ((90.0, 96.9), "no"), ((95.0, 99.0), "undecided"), (None, "–")],
)
def test_within_three_percent_verdict_follows_the_interval(ci, verdict):
    assert within_verdict(ci, 3.0) == verdict


def test_paper_figure_only_at_the_papers_sparsities_and_labels():
    assert paper_percent_of_dense("td3", "Walker2d-v5", "rlx2", (0.97, 0.95)) == 98.1
    assert paper_percent_of_dense("td3", "Walker2d-v5", "rlx2", (0.9, 0.9)) is None
    assert paper_percent_of_dense("td3", "Hopper-v5", "ss+", (0.98, 0.95)) == 84.2  # Table 3
    assert paper_percent_of_dense("td3", "Walker2d-v5", "rlx2 n=1", (0.97, 0.95)) == 73.9
    assert paper_percent_of_dense("sac", "Ant-v5", "set", (0.90, 0.75)) == 79.8
    assert paper_percent_of_dense("td3", "Pendulum-v1", "rlx2", (0.9, 0.9)) is None
    assert (
        paper_percent_of_dense("td3", "Walker2d-v5", "rlx2 [total-steps=3000]", (0.97, 0.95))
        is None
    )


def markdown_rows(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]


def test_paper_figures_are_those_of_docs_reference_numbers():
    """rlx2.paper's result tables and docs/reference-numbers.md are the same numbers."""
    text = (ROOT / "docs" / "reference-numbers.md").read_text()
    table2 = markdown_rows(text, "## Table 2")
    header = table2[0]
    methods = header[header.index("Tiny") :]
    for row in table2[1:]:
        algo, task = row[0].lower(), row[1]
        if task == "average":
            continue
        figures = dict(
            zip((m.lower() for m in methods), map(float, row[header.index("Tiny") :]), strict=True)
        )
        assert paper.PERCENT_OF_DENSE[algo][task] == figures, (algo, task)
    table3 = markdown_rows(text, "## Table 3")
    labels = {"Tiny+": "tiny+", "SS+": "ss+", "SET+": "set+"}
    labels |= {f"{n}-step": f"rlx2 n={n}" for n in range(1, 6)}
    for row in table3[1:]:
        if row[0] == "average":
            continue
        expected = {
            labels[c]: float(v) for c, v in zip(table3[0][1:], row[1:], strict=True) if c in labels
        }
        assert paper.ABLATION_PERCENT_OF_DENSE["td3"][row[0]] == expected, row[0]
