"""rlx2 report: statistics against hand computation, grouping, exclusions, errors, real runs.

Synthetic run directories are written by ``write_run`` with returns chosen so every
expected number is simple arithmetic (constant returns: final score = that constant).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from rlx2 import cli as rlx2_cli
from rlx2.errors import ConfigError
from rlx2.experiments import stats
from rlx2.experiments.report import (
    ReportConfig,
    build_report,
    cli_main,
    write_report,
)
from rlx2.train import rundir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_run(
    root: Path,
    name: str,
    *,
    returns: list[float],
    env: str = "Hopper-v5",
    algo: str = "td3",
    method: str = "dense",
    sparsity: tuple[float, float] | None = None,
    seed: int = 0,
    status: str = "completed",
    rlx2_value_learning: bool | None = None,
    nstep: int | None = None,
    eval_every: int = 5000,
    summary_extra: dict | None = None,
    total_steps: int | None = None,
    options: dict | None = None,
    effective_extra: dict | None = None,
    diagnostics: dict[str, list[float]] | None = None,
    machine: str | None = None,
    commit: str | None = None,
) -> Path:
    """A run directory as rlx2 train writes it, with the given evaluation returns.

    ``options`` updates config.json's sections ({"run": {"eval_episodes": 5}}), and
    ``effective_extra`` its "effective" section; ``diagnostics`` adds diagnostic columns
    (name -> one value per evaluation); ``machine`` and ``commit`` record config.json's ``machine.cpu`` and
    ``source.commit``."""
    path = root / name
    path.mkdir(parents=True)
    rlx2_vl = method == "rlx2" if rlx2_value_learning is None else rlx2_value_learning
    total_steps = total_steps or eval_every * max(len(returns), 1)
    effective = {
        "method": method,
        "value_learning": {
            "rlx2_value_learning": rlx2_vl,
            "nstep": nstep if nstep is not None else (3 if rlx2_vl else 1),
            "dynamic_buffer": rlx2_vl,
        },
    }
    if sparsity is not None:
        effective.update(actor_sparsity=sparsity[0], critic_sparsity=sparsity[1])
    config = {
        "env": env,
        "algo": algo,
        "run": {
            "total_steps": total_steps,
            "seed": seed,
            "eval_every": eval_every,
            "run_dir": str(path),
        },
        "agent": {"hidden": 256},
        "sparse": {
            "method": method,
            "actor_sparsity": None if sparsity is None else sparsity[0],
            "critic_sparsity": None if sparsity is None else sparsity[1],
        },
        "value": {"value_learning": "rlx2" if rlx2_vl else "auto"},
    }
    for section, values in (options or {}).items():
        config[section] = {**config.get(section, {}), **values}
    effective.update(effective_extra or {})
    document = {"format": rundir.FORMAT_VERSION, "config": config, "effective": effective}
    if machine is not None:
        document["machine"] = {"cpu": machine, "cores": 2}
    if commit is not None:
        document["source"] = {"commit": commit, "dirty": False}
    rundir.atomic_write_json(path / rundir.CONFIG, document)
    rows = [
        {
            "step": eval_every * (i + 1),
            "return_mean": r,
            "return_std": 0.0,
            "return_min": r,
            "return_max": r,
            "episodes": 10,
            "wall_time_s": float(i),
        }
        for i, r in enumerate(returns)
    ]
    for column, values in (diagnostics or {}).items():
        for row, value in zip(rows, values, strict=True):
            row[column] = value
    if rows:
        rundir.write_evaluations(path, rows)
    summary: dict = {
        "format": rundir.FORMAT_VERSION,
        "status": status,
        "env": env,
        "algo": algo,
        "method": method,
        "seed": seed,
    }
    if status == "completed":
        summary.update(
            final_return=rundir.final_score(returns) if returns else None,
            num_evaluations=len(returns),
            total_steps=total_steps,
            steps_per_second=100.0 + seed,
            model_size_ratio=1.0 if sparsity is None else 0.1,
            compression_ratio=1.0 if sparsity is None else 10.0,
            train_flops_ratio=1.0 if sparsity is None else 0.12,
            inference_flops_ratio=1.0 if sparsity is None else 0.05,
            actor_sparsity=0.0 if sparsity is None else sparsity[0],
            critic_sparsity=0.0 if sparsity is None else sparsity[1],
        )
    if status == "failed":
        summary["reason"] = "TrainingFailed: non-finite critic_loss at step 10000"
    summary.update(summary_extra or {})
    rundir.atomic_write_json(path / rundir.SUMMARY, summary)
    return path


def report_of(root: Path, **options) -> object:
    return build_report(ReportConfig(runs=(str(root),), out=str(root / "out"), **options))


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------- statistics


def test_final_score_is_mean_of_last_30_evaluations(tmp_path):
    # 10 early evaluations at 0 then 30 at 500: the last 30 average to exactly 500.
    write_run(tmp_path, "long", returns=[0.0] * 10 + [500.0] * 30)
    # 4 evaluations (< 30): the final score averages all of them, and the group says so.
    write_run(tmp_path, "short", returns=[10.0, 20.0, 30.0, 40.0], env="Walker2d-v5")
    report = report_of(tmp_path)
    assert report.group("dense", "Hopper-v5").mean == 500.0
    short = report.group("dense", "Walker2d-v5")
    assert short.mean == 25.0
    assert any("only 4 evaluations" in note for note in short.notes)
    # --last 5 uses the last 5 evaluations: 5 of the 500s.
    assert report_of(tmp_path, last=5).group("dense", "Hopper-v5").mean == 500.0
    assert report_of(tmp_path, last=35).group("dense", "Hopper-v5").mean == pytest.approx(
        (5 * 0.0 + 30 * 500.0) / 35
    )


def test_mean_std_and_percent_of_dense_by_hand(tmp_path):
    for seed, score in enumerate([100.0, 200.0, 300.0]):
        write_run(tmp_path, f"dense_s{seed}", returns=[score] * 3, seed=seed)
    for seed, score in enumerate([150.0, 170.0, 190.0]):
        write_run(
            tmp_path,
            f"rigl_s{seed}",
            returns=[score] * 3,
            seed=seed,
            method="rigl",
            sparsity=(0.9, 0.8),
        )
    report = report_of(tmp_path)
    dense, rigl = report.group("dense"), report.group("rigl")
    assert (dense.mean, dense.std) == (200.0, 100.0)  # std: sqrt((100² + 0 + 100²) / 2)
    assert (rigl.mean, rigl.std) == pytest.approx((170.0, 20.0))
    assert rigl.pct_of_dense == pytest.approx(85.0)  # 170 / 200
    assert rigl.pct_of_dense_iqm == pytest.approx(85.0)  # 3 seeds: trim_mean cuts none
    assert dense.pct_of_dense == 100.0
    assert rigl.ratios["model_size_ratio"] == pytest.approx(0.1)
    assert rigl.steps_per_second == 101.0  # mean of 100, 101, 102
    assert rigl.num_seeds == 3 and rigl.seeds == (0, 1, 2)


def test_wall_clock_is_split_by_machine_and_commit_and_compared_with_dense_there(tmp_path):
    # Commit X: dense 100, 120, 200 steps/s on machine A, 50 on B; rigl 300, 500, 320 on A,
    # 150 and 210 on B, 90 on C (no dense there), 77 with no machine recorded. Commit Y, on A:
    # dense 400, rigl 800 (a resumed run). Medians, not means, and the same machine AND commit.
    x, y = "a" * 40, "b" * 40

    def run(name, method, speed, machine, seed, commit=x, **summary):
        write_run(
            tmp_path,
            name,
            returns=[1.0],
            method=method,
            sparsity=None if method == "dense" else (0.9, 0.8),
            seed=seed,
            machine=machine,
            commit=commit,
            summary_extra={"steps_per_second": speed, **summary},
        )

    dense = [(100.0, "A", x), (120.0, "A", x), (200.0, "A", x), (50.0, "B", x), (400.0, "A", y)]
    for seed, (speed, machine, commit) in enumerate(dense):
        run(f"dense_s{seed}", "dense", speed, machine, seed, commit)
    rigl = [(300.0, "A"), (500.0, "A"), (320.0, "A"), (150.0, "B"), (210.0, "B"), (90.0, "C")]
    for seed, (speed, machine) in enumerate([*rigl, (77.0, None)]):
        run(f"rigl_s{seed}", "rigl", speed, machine, seed)
    run("rigl_s7", "rigl", 800.0, "A", 7, y, resumes=1)
    # Not a usable speed: a bool, zero, infinity; only the 60 counts. rlx2 writes a non-finite
    # number as null, so the infinity is what a hand-edited or foreign summary.json may hold.
    for seed, speed in enumerate([True, 0.0, None, 60.0]):
        run(f"ss_s{seed}", "ss", speed, "A", seed)
    summary = tmp_path / "ss_s2" / rundir.SUMMARY
    text = summary.read_text()
    assert '"steps_per_second": null' in text
    summary.write_text(text.replace('"steps_per_second": null', '"steps_per_second": Infinity'))
    report = report_of(tmp_path)

    speeds = {(s.machine, s.commit): s for s in report.group("dense").wall_clock}
    assert (speeds["A", x].runs, speeds["A", x].median, speeds["B", x].median) == (3, 120.0, 50.0)
    assert speeds["A", x].vs_dense == 1.0 and speeds["A", y].median == 400.0
    speeds = {(s.machine, s.commit): s for s in report.group("rigl").wall_clock}
    assert sorted(speeds) == [("A", x), ("A", y), ("B", x), ("C", x), ("unrecorded", x)]
    a = speeds["A", x]
    assert (a.median, a.low, a.high, a.resumed) == (320.0, 300.0, 500.0, 0)
    assert a.vs_dense == pytest.approx(320.0 / 120.0)
    assert speeds["A", y].vs_dense == pytest.approx(2.0) and speeds["A", y].resumed == 1
    assert speeds["B", x].median == 180.0 and speeds["B", x].vs_dense == pytest.approx(3.6)
    assert speeds["C", x].vs_dense is None and speeds["unrecorded", x].median == 77.0
    # The group mean still averages every run, whatever its machine or commit.
    every = [speed for speed, _ in rigl] + [77.0, 800.0]
    assert report.group("rigl").steps_per_second == pytest.approx(sum(every) / len(every))
    (usable,) = report.group("ss").wall_clock
    assert (usable.runs, usable.median) == (1, 60.0)
    assert report.group("ss").steps_per_second is None  # not every run has a number

    out = tmp_path / "out"
    write_report(report, out)
    rows = read_csv(out / "wallclock.csv")
    row = next(r for r in rows if r["label"] == "rigl" and r["machine"] == "B")
    assert (row["commit"], row["runs"], row["resumed"]) == (x, "2", "0")
    assert float(row["steps_per_second_median"]) == 180.0 and float(row["vs_dense"]) == 3.6
    assert next(r for r in rows if r["machine"] == "C")["vs_dense"] == ""
    text = (out / "report.md").read_text()
    assert "### Wall-clock by machine" in text
    assert (
        "| td3 | Hopper-v5 | rigl | 0.9 / 0.8 | B | aaaaaaa | 2 | 180.0 [150.0, 210.0] | 3.60 |"
        in text
    )
    assert (
        "| td3 | Hopper-v5 | rigl | 0.9 / 0.8 | A | bbbbbbb | 1 (1) | 800.0 [800.0, 800.0] | 2.00 |"
        in text
    )
    runs = {r["run_dir"].rsplit("/", 1)[-1]: r for r in read_csv(out / "runs.csv")}
    assert runs["rigl_s3"]["machine"] == "B" and float(runs["rigl_s3"]["steps_per_second"]) == 150.0
    assert runs["rigl_s6"]["machine"] == "" and runs["ss_s0"]["steps_per_second"] == ""


def test_progress_csv_gives_each_tenth_of_a_run_by_hand(tmp_path):
    # 20 evaluations every 5 000 steps of a 100 000-step run: 2 per tenth. Returns 0, 1, ..., 19
    # except the 4th tenth, which is left without evaluations (a gap in evaluations.csv).
    returns = [float(i) for i in range(20)]
    path = write_run(tmp_path, "dense", returns=returns, total_steps=100_000)
    lines = (path / rundir.EVALUATIONS).read_text().splitlines()
    (path / rundir.EVALUATIONS).write_text("\n".join(lines[:7] + lines[9:]) + "\n")
    summary = rundir.read_json(path / rundir.SUMMARY)
    kept = returns[:6] + returns[8:]
    summary.update(num_evaluations=18, final_return=rundir.final_score(kept))
    rundir.atomic_write_json(path / rundir.SUMMARY, summary)
    write_report(report_of(tmp_path), tmp_path / "out")
    rows = read_csv(tmp_path / "out" / "progress.csv")
    assert [int(r["window"]) for r in rows] == list(range(1, 11))
    first, fourth, last = rows[0], rows[3], rows[9]
    assert (first["step_from"], first["step_to"], first["evaluations"]) == ("0", "10000", "2")
    assert (float(first["return_mean"]), float(first["return_best"])) == (0.5, 1.0)
    assert (fourth["evaluations"], fourth["return_mean"], fourth["return_best"]) == ("0", "", "")
    assert (float(last["return_mean"]), float(last["return_best"])) == (18.5, 19.0)


def test_a_group_trained_by_several_commits_says_so(tmp_path):
    old, new = "6b1fa55" + "0" * 33, "7a56a24" + "1" * 33
    for seed, commit in enumerate([old, new, new, None, None]):
        write_run(
            tmp_path,
            f"rigl_s{seed}",
            returns=[1.0],
            method="rigl",
            sparsity=(0.9, 0.8),
            seed=seed,
            commit=commit,
        )
    for seed in range(2):
        write_run(tmp_path, f"dense_s{seed}", returns=[1.0], seed=seed, commit=old)
    report = report_of(tmp_path)
    note = "runs from 3 source commits (6b1fa55 ×1, 7a56a24 ×2, unrecorded ×2)"
    assert note in report.group("rigl").notes
    assert not any("source commits" in note for note in report.group("dense").notes)
    # A checkout with uncommitted changes is not the commit it names.
    config = tmp_path / "dense_s1" / rundir.CONFIG
    config.write_text(config.read_text().replace('"dirty": false', '"dirty": true'))
    note = "runs from 2 source commits (6b1fa55 ×1, 6b1fa55+dirty ×1)"
    assert note in report_of(tmp_path).group("dense").notes
    write_report(report, tmp_path / "out")
    runs = {r["run_dir"].rsplit("/", 1)[-1]: r for r in read_csv(tmp_path / "out" / "runs.csv")}
    assert (runs["rigl_s1"]["commit"], runs["rigl_s3"]["commit"]) == (new, "")


def test_percent_of_dense_undefined_without_dense_or_for_non_positive_dense(tmp_path):
    write_run(tmp_path, "rigl", returns=[5.0], method="rigl", sparsity=(0.9, 0.8))
    assert report_of(tmp_path).group("rigl").pct_of_dense is None  # no dense run
    write_run(tmp_path, "dense", returns=[-200.0])
    group = report_of(tmp_path).group("rigl")
    assert group.dense_mean == -200.0 and group.pct_of_dense is None
    assert any("% of dense undefined" in note for note in group.notes)
    assert stats.percent_of(50.0, 200.0) == 25.0 and stats.percent_of(1.0, 0.0) is None


def test_iqm_of_eight_seeds_is_mean_of_middle_four(tmp_path):
    scores = [7.0, 100.0, 1.0, 5.0, 3.0, -50.0, 4.0, 6.0]  # sorted: -50 1 3 4 5 6 7 100
    for seed, score in enumerate(scores):
        write_run(tmp_path, f"s{seed}", returns=[score], seed=seed)
    from rliable import metrics

    group = report_of(tmp_path).group("dense")
    assert group.iqm == pytest.approx((3 + 4 + 5 + 6) / 4)
    assert group.iqm == pytest.approx(metrics.aggregate_iqm(np.array(scores)[:, None]))
    assert group.ci_low <= group.iqm <= group.ci_high
    assert group.ci_low < group.ci_high and not group.single_seed
    again = report_of(tmp_path).group("dense")
    assert (again.ci_low, again.ci_high) == (group.ci_low, group.ci_high)  # fixed seed
    other = report_of(tmp_path, seed=1).group("dense")
    assert (other.ci_low, other.ci_high) != (group.ci_low, group.ci_high)


def test_bootstrap_of_two_runs_by_hand():
    # Runs {0, 10}: replicate means are 0, 5, 10 with probabilities 1/4, 1/2, 1/4.
    scores = np.array([[0.0], [10.0]])  # [num_runs, num_tasks]
    low, high = stats.stratified_bootstrap_ci(scores, stats.mean, reps=4000, confidence=0.9, seed=3)
    assert (low, high) == (0.0, 10.0)  # 5 % and 95 % quantiles fall in the 1/4 tails
    low, high = stats.stratified_bootstrap_ci(scores, stats.mean, reps=4000, confidence=0.4, seed=3)
    assert (low, high) == (5.0, 5.0)  # 30 % and 70 % quantiles fall in the middle half
    # Stratified: each column (task) is resampled within itself, never mixed with the other.
    two_tasks = np.array([[0.0, 100.0], [0.0, 100.0]])

    def highest(x):
        return x.max(axis=(-2, -1))

    def lowest(x):
        return x.min(axis=(-2, -1))

    assert stats.stratified_bootstrap_ci(two_tasks, highest, reps=50, seed=0) == (100.0, 100.0)
    assert stats.stratified_bootstrap_ci(two_tasks, lowest, reps=50, seed=0) == (0.0, 0.0)
    curves = np.random.default_rng(0).normal(size=(5, 7))  # [num_runs, num_steps]
    generator = np.random.RandomState(2)
    replicate_means = np.array([curves[generator.choice(5, 5)].mean(axis=0) for _ in range(300)])
    expected = np.percentile(replicate_means, [5.0, 95.0], axis=0)
    np.testing.assert_allclose(stats.bootstrap_mean_band(curves, 300, 0.9, seed=2), expected)
    curves = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])  # identical seeds: band = curve
    low_band, high_band = stats.bootstrap_mean_band(curves, reps=100)
    np.testing.assert_array_equal(low_band, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(high_band, [1.0, 2.0, 3.0])


def test_bootstrap_equals_rliables_algorithm_written_as_a_loop():
    # rliable's StratifiedBootstrap: per replicate, np.random.choice(num_runs, (runs, tasks));
    # column m of the draw indexes task m; arch then takes np.percentile of the replicates.
    from rliable import metrics

    scores = np.random.default_rng(5).normal(size=(6, 3))  # [num_runs, num_tasks]
    generator = np.random.RandomState(4)
    replicates = []
    for _ in range(500):
        run_index = generator.choice(6, (6, 3), replace=True)
        replicates.append(metrics.aggregate_iqm(scores[run_index, np.arange(3)]))
    expected = np.percentile(replicates, [2.5, 97.5])
    ours = stats.stratified_bootstrap_ci(scores, stats.iqm, reps=500, confidence=0.95, seed=4)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    batch = np.random.default_rng(6).normal(size=(4, 8, 2))  # [batch, runs, tasks]
    np.testing.assert_allclose(stats.iqm(batch), [metrics.aggregate_iqm(b) for b in batch])


def _rliable_library():
    try:
        from rliable import library
    except Exception as exc:  # rliable 1.2 imports arch; arch 7.x fails under pandas 3
        pytest.skip(f"rliable.library does not import here ({type(exc).__name__}: {exc})")
    return library


@pytest.mark.parametrize("shape", [(8, 1), (5, 3), (2, 1)])
def test_stratified_bootstrap_equals_rliable(shape):
    library = _rliable_library()
    from rliable import metrics

    scores = np.random.default_rng(shape[0]).normal(size=shape)
    np.random.seed(11)  # rliable draws its indices from the global generator
    _, intervals = library.get_interval_estimates(
        {"x": scores}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=300
    )
    ours = stats.stratified_bootstrap_ci(scores, stats.iqm, reps=300, confidence=0.95, seed=11)
    np.testing.assert_allclose(ours, intervals["x"][:, 0], rtol=1e-12, atol=1e-12)


def test_one_seed_ci_is_the_score_and_flagged(tmp_path):
    write_run(tmp_path, "only", returns=[42.0])
    group = report_of(tmp_path).group("dense")
    assert group.single_seed and (group.ci_low, group.iqm, group.ci_high) == (42.0, 42.0, 42.0)
    assert group.std == 0.0


# ------------------------------------------------------------------------------ grouping


def test_grouping_labels_and_sparsity_settings(tmp_path):
    write_run(tmp_path, "dense", returns=[100.0])
    for seed in (0, 1):
        write_run(
            tmp_path,
            f"rigl90_{seed}",
            returns=[80.0 + seed],
            seed=seed,
            method="rigl",
            sparsity=(0.9, 0.8),
        )
    write_run(tmp_path, "rigl50", returns=[95.0], method="rigl", sparsity=(0.5, 0.5))
    write_run(
        tmp_path,
        "ss_plus",
        returns=[70.0],
        method="ss",
        sparsity=(0.9, 0.8),
        rlx2_value_learning=True,
    )
    write_run(tmp_path, "ss", returns=[60.0], method="ss", sparsity=(0.9, 0.8))
    write_run(tmp_path, "rlx2", returns=[99.0], method="rlx2", sparsity=(0.9, 0.8))
    write_run(tmp_path, "sac_dense", returns=[10.0], algo="sac")
    report = report_of(tmp_path)
    keys = [
        (g.key.algo, g.key.label, g.key.actor_sparsity, g.key.critic_sparsity)
        for g in report.groups
    ]
    assert keys == [  # paper method order, then sparsity
        ("sac", "dense", None, None),
        ("td3", "dense", None, None),
        ("td3", "ss", 0.9, 0.8),
        ("td3", "ss+", 0.9, 0.8),
        ("td3", "rigl", 0.5, 0.5),
        ("td3", "rigl", 0.9, 0.8),
        ("td3", "rlx2", 0.9, 0.8),
    ]
    assert report.group("rigl", actor_sparsity=0.9).num_seeds == 2
    assert report.group("ss+").pct_of_dense == pytest.approx(70.0)
    td3 = next(t for t in report.tables if t.algo == "td3")
    assert td3.columns == ("dense", "ss", "ss+", "rigl 0.5/0.5", "rigl 0.9/0.8", "rlx2")


def test_value_learning_variants_are_never_pooled(tmp_path):
    for n in (1, 3):
        write_run(
            tmp_path, f"rlx2_n{n}", returns=[float(n)], method="rlx2", sparsity=(0.9, 0.8), nstep=n
        )
    labels = [g.key.label for g in report_of(tmp_path).groups]
    assert labels == ["rlx2", "rlx2 n=1"]


def test_ablation_marks_name_only_what_differs_from_the_default(tmp_path):
    """RLx2 with its own 3-step target keeps the name "rlx2" on every task as ablations arrive
    (a committed table's rows keep their meaning); each ablation is marked on its own."""
    fixbuf = {"value_learning": {"rlx2_value_learning": True, "nstep": 3, "dynamic_buffer": False}}
    runs = {  # name: (env, method, options)
        "rlx2_h": ("Hopper-v5", "rlx2", {}),
        "rlx2_w": ("Walker2d-v5", "rlx2", {}),
        "n1_w": ("Walker2d-v5", "rlx2", {"nstep": 1}),
        "ssp_w": ("Walker2d-v5", "ss", {"rlx2_value_learning": True}),
        "ss3_w": ("Walker2d-v5", "ss", {"nstep": 3}),
        "fixbuf_w": ("Walker2d-v5", "rlx2", {"effective_extra": fixbuf}),
    }
    for name, (env, method, options) in runs.items():
        write_run(
            tmp_path, name, returns=[1.0], env=env, method=method, sparsity=(0.9, 0.8), **options
        )
    labels = {(g.key.env, g.key.label) for g in report_of(tmp_path).groups}
    assert labels == {
        ("Hopper-v5", "rlx2"),
        ("Walker2d-v5", "rlx2"),
        ("Walker2d-v5", "rlx2 n=1"),
        ("Walker2d-v5", "ss+"),
        ("Walker2d-v5", "ss n=3"),
        ("Walker2d-v5", "rlx2 fixbuf"),
    }


def test_a_protocol_has_one_label_on_every_task(tmp_path):
    """Walker2d holds RLx2 at two budget scales, Hopper only the default one: Hopper's group is
    named by the same option, so the paper-style table shows one column per protocol."""
    for env, scales in (("Walker2d-v5", (None, 1.0)), ("Hopper-v5", (None,))):
        for scale in scales:
            write_run(
                tmp_path,
                f"{env}_{scale}",
                returns=[1.0],
                env=env,
                method="rlx2",
                sparsity=(0.9, 0.8),
                options={"value": {"budget_scale": scale}},
            )
    report = report_of(tmp_path)
    labels = sorted((g.key.env, g.key.label) for g in report.groups)
    assert labels == [
        ("Hopper-v5", "rlx2 [budget-scale=None]"),
        ("Walker2d-v5", "rlx2 [budget-scale=1.0]"),
        ("Walker2d-v5", "rlx2 [budget-scale=None]"),
    ]
    td3 = next(t for t in report.tables if t.algo == "td3")
    assert td3.columns == ("rlx2 [budget-scale=1.0]", "rlx2 [budget-scale=None]")


def test_runs_of_different_protocols_are_never_pooled(tmp_path):
    """Issue 11: runs of 3 000 and 5 000 steps with a repeated seed were one "3 seeds" group
    (2 distinct), and the curve was cut to the shortest run. Each protocol is its own group."""
    write_run(tmp_path, "short_s0", returns=[1.0, 2.0, 3.0], seed=0, eval_every=1000)
    write_run(tmp_path, "long_s0", returns=[5.0] * 5, seed=0, eval_every=1000)
    write_run(tmp_path, "long_s1", returns=[7.0] * 5, seed=1, eval_every=1000)
    report = report_of(tmp_path)
    short = report.group("dense [total-steps=3000]")
    long = report.group("dense [total-steps=5000]")
    assert (short.seeds, short.scores, short.total_steps) == ((0,), (2.0,), 3000)
    assert (long.seeds, long.scores, long.total_steps) == ((0, 1), (5.0, 7.0), 5000)
    assert not report.excluded  # seed 0 of each protocol is no repeat
    assert stats.common_steps([[5000.0, 10000.0, 15000.0], [5000.0, 10000.0]]) == [5000.0, 10000.0]
    write_report(report, tmp_path / "out")
    assert (tmp_path / "out" / "curves_td3_Hopper-v5.png").read_bytes().startswith(PNG_MAGIC)
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| dense [total-steps=3000] |" in text and "| dense [total-steps=5000] |" in text


@pytest.mark.parametrize(
    ("options", "label"),
    [
        ({"run": {"eval_every": 2500}}, "eval-every=2500"),
        ({"run": {"eval_episodes": 5}}, "eval-episodes=5"),
        ({"agent": {"hidden": 64}}, "hidden=64"),
        ({"run": {"learning_starts": 1000}}, "learning-starts=1000"),
    ],
)
def test_every_option_that_changes_results_splits_groups(tmp_path, options, label):
    write_run(tmp_path, "a", returns=[1.0], seed=0)
    write_run(tmp_path, "b", returns=[3.0], seed=1, options=options)
    labels = sorted(g.key.label for g in report_of(tmp_path).groups)
    assert len(labels) == 2 and any(label in name for name in labels), labels


def test_execution_options_do_not_split_groups(tmp_path):
    write_run(tmp_path, "a", returns=[1.0], seed=0, options={"run": {"threads": 1}})
    write_run(
        tmp_path,
        "b",
        returns=[3.0],
        seed=1,
        options={"run": {"threads": 4, "device": "cuda", "checkpoint_every": 7, "quiet": True}},
    )
    assert report_of(tmp_path).group("dense").seeds == (0, 1)


def test_groups_follow_the_effective_reset_of_moments_not_the_flag(tmp_path):
    """The sparse backend resets regrown weights' Adam moments whatever --reset-moments says:
    sparse without the flag = masked with it; masked without it is another experiment."""
    rigl = dict(method="rigl", sparsity=(0.9, 0.8))
    write_run(
        tmp_path,
        "sparse_s0",
        returns=[1.0],
        seed=0,
        **rigl,
        options={"run": {"backend": "sparse"}, "sparse": {"reset_moments": False}},
        effective_extra={"backend": "sparse", "reset_moments": True},
    )
    write_run(
        tmp_path,
        "masked_reset_s1",
        returns=[2.0],
        seed=1,
        **rigl,
        options={"run": {"backend": "masked"}, "sparse": {"reset_moments": True}},
        effective_extra={"backend": "masked", "reset_moments": True},
    )
    write_run(
        tmp_path,
        "masked_keep_s2",
        returns=[4.0],
        seed=2,
        **rigl,
        options={"run": {"backend": "masked"}, "sparse": {"reset_moments": False}},
        effective_extra={"backend": "masked", "reset_moments": False},
    )
    report = report_of(tmp_path)
    assert report.group("rigl [reset-moments=True]").seeds == (0, 1)
    assert report.group("rigl [reset-moments=False]").seeds == (2,)


def test_a_preset_and_the_same_explicit_sparsities_are_one_protocol(tmp_path):
    write_run(
        tmp_path,
        "preset",
        returns=[1.0],
        seed=0,
        method="rigl",
        sparsity=(0.9, 0.8),
        options={"sparse": {"preset": "paper", "actor_sparsity": None, "critic_sparsity": None}},
    )
    write_run(tmp_path, "explicit", returns=[3.0], seed=1, method="rigl", sparsity=(0.9, 0.8))
    assert report_of(tmp_path).group("rigl").seeds == (0, 1)


def test_a_repeated_seed_counts_once_and_is_listed(tmp_path):
    write_run(tmp_path, "a_s0", returns=[1.0], seed=0)
    write_run(tmp_path, "b_s0_copy", returns=[1.0], seed=0)
    write_run(tmp_path, "c_s1", returns=[3.0], seed=1)
    report = report_of(tmp_path)
    group = report.group("dense")
    assert group.seeds == (0, 1) and group.scores == (1.0, 3.0)
    (excluded,) = report.excluded
    assert excluded.path.name == "b_s0_copy"
    assert (
        "seed 0 repeated in its group" in excluded.reason and "a_s0 is counted" in excluded.reason
    )
    with pytest.raises(ConfigError, match=r"b_s0_copy: seed 0 repeated in its group"):
        report_of(tmp_path, strict=True)


def test_dense_reference_is_the_dense_group_of_the_same_protocol(tmp_path):
    for steps, dense_score, rigl_score in ((3000, 100.0, 50.0), (5000, 200.0, 150.0)):
        write_run(tmp_path, f"dense_{steps}", returns=[dense_score], total_steps=steps)
        write_run(
            tmp_path,
            f"rigl_{steps}",
            returns=[rigl_score],
            total_steps=steps,
            method="rigl",
            sparsity=(0.9, 0.8),
        )
    report = report_of(tmp_path)
    assert report.group("rigl [total-steps=3000]").pct_of_dense == pytest.approx(50.0)
    assert report.group("rigl [total-steps=5000]").pct_of_dense == pytest.approx(75.0)


def test_paper_table_average_over_tasks(tmp_path):
    dense = {"Hopper-v5": 100.0, "Walker2d-v5": 400.0}
    sparse = {"Hopper-v5": [90.0, 92.0], "Walker2d-v5": [300.0, 340.0]}  # 91 %, 80 %
    for env in dense:
        for seed in (0, 1):
            write_run(tmp_path, f"{env}_dense_{seed}", env=env, returns=[dense[env]], seed=seed)
            write_run(
                tmp_path,
                f"{env}_rlx2_{seed}",
                env=env,
                returns=[sparse[env][seed]],
                seed=seed,
                method="rlx2",
                sparsity=(0.9, 0.8),
            )
    report = report_of(tmp_path)
    (table,) = report.tables
    assert table.tasks == ("Hopper-v5", "Walker2d-v5")
    assert table.average_pct["rlx2"] == pytest.approx((91.0 + 80.0) / 2)
    value, low, high = table.aggregate["rlx2"]
    # Per-run % of dense: 90, 92, 75, 85; IQM of 4 values = mean of the middle two.
    assert value == pytest.approx((85.0 + 90.0) / 2)
    assert low <= value <= high
    write_report(report, tmp_path / "out")
    text = (tmp_path / "out" / "report.md").read_text()
    assert "| average | 85.5 |" in text


# ------------------------------------------------------------------------ excluded runs


def test_failed_and_running_runs_are_listed_not_counted(tmp_path):
    write_run(tmp_path, "done", returns=[100.0], seed=0)
    write_run(tmp_path, "failed", returns=[5.0, 6.0], seed=1, status="failed")
    write_run(tmp_path, "running", returns=[1000.0], seed=2, status="running")
    starting = write_run(tmp_path, "starting", returns=[], seed=3, status="running")
    (starting / rundir.SUMMARY).unlink()  # config.json written, summary.json not yet
    report = report_of(tmp_path)
    group = report.group("dense")
    assert group.scores == (100.0,) and group.seeds == (0,)
    assert sorted(run.path.name for run in report.excluded) == ["failed", "running", "starting"]
    write_report(report, tmp_path / "out")
    runs = {Path(r["run_dir"]).name: r for r in read_csv(tmp_path / "out" / "runs.csv")}
    assert runs["failed"]["status"] == "failed" and runs["failed"]["included"] == "False"
    assert runs["failed"]["last_step"] == "10000" and "non-finite" in runs["failed"]["reason"]
    assert runs["done"]["included"] == "True" and runs["done"]["final_score"] == "100.0"
    text = (tmp_path / "out" / "report.md").read_text()
    excluded = text.split("## Excluded runs")[1]
    assert "TrainingFailed: non-finite critic_loss" in excluded and "10000 / 10000" in excluded
    assert "running" in excluded and "none / 5000" in excluded
    (row,) = read_csv(tmp_path / "out" / "results.csv")
    assert row["num_seeds"] == "1" and row["ci_single_seed"] == "True"


def test_completed_run_without_evaluations_is_excluded(tmp_path):
    write_run(tmp_path, "done", returns=[100.0])
    write_run(tmp_path, "tiny_budget", returns=[], seed=1)
    report = report_of(tmp_path)
    (excluded,) = report.excluded
    assert excluded.status == "completed" and "without any evaluation" in excluded.reason


# -------------------------------------------------------------------------------- errors


def test_no_runs_names_the_paths(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"no run directories .* found under .*empty"):
        report_of(tmp_path / "empty")
    with pytest.raises(ConfigError, match=r"nowhere: no such directory"):
        build_report(ReportConfig(runs=(str(tmp_path / "nowhere"),), out=str(tmp_path / "o")))


@pytest.mark.parametrize(
    ("break_run", "message"),
    [
        (lambda p: (p / "summary.json").write_text("{not json"), r"unreadable summary.json"),
        (
            lambda p: (p / "evaluations.csv").write_text("step,return_std\n5000,1.0\n"),
            r"evaluations.csv lacks column\(s\) return_mean, return_min",
        ),
        (
            lambda p: (p / "evaluations.csv").unlink(),
            r"has a final_return but evaluations.csv is missing",
        ),
        (
            lambda p: rundir.atomic_write_json(
                p / "summary.json",
                {**json.loads((p / "summary.json").read_text()), "env": "Ant-v5"},
            ),
            r"summary.json says env 'Ant-v5' but config.json says 'Hopper-v5'",
        ),
        (
            lambda p: rundir.atomic_write_json(
                p / "summary.json",
                {**json.loads((p / "summary.json").read_text()), "final_return": 1.0},
            ),
            r"does not match summary.json final_return 1.0",
        ),
        (lambda p: (p / "config.json").unlink(), r"summary.json without config.json"),
        (lambda p: (p / "config.json").write_text('{"config": {}}'), r"config.json lacks"),
    ],
)
def test_unreadable_run_is_listed_and_excluded_or_an_error_with_strict(
    tmp_path, break_run, message
):
    """Issue 11: one unreadable run aborted the whole report. It is left out and named, with
    the reason; --strict makes it the error it was."""
    write_run(tmp_path, "good", returns=[1.0])
    break_run(write_run(tmp_path, "broken_run", returns=[1.0, 2.0]))
    report = report_of(tmp_path)
    assert report.group("dense").scores == (1.0,)
    ((path, reason),) = report.unreadable
    assert path.name == "broken_run" and re.search(message, reason), reason
    write_report(report, tmp_path / "out")
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### Unreadable run directories" in text and "broken_run" in text
    assert "1 unreadable" in text
    rows = {Path(r["run_dir"]).name: r for r in read_csv(tmp_path / "out" / "runs.csv")}
    assert (
        rows["broken_run"]["status"] == "unreadable" and rows["broken_run"]["included"] == "False"
    )
    with pytest.raises(ConfigError, match=r"run directory \S*broken_run: .*" + message) as info:
        report_of(tmp_path, strict=True)
    assert "\n" not in str(info.value)


def test_existing_out_is_never_overwritten_silently(tmp_path):
    write_run(tmp_path / "runs", "a", returns=[1.0])
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(
        ConfigError, match=r"--out \S*out exists and is not empty; pass --overwrite"
    ):
        cli_main([str(tmp_path / "runs"), "--out", str(out)])
    (out / "curves_old_Task.png").write_bytes(b"stale")
    cli_main([str(tmp_path / "runs"), "--out", str(out), "--overwrite"])
    assert (out / "notes.txt").read_text() == "mine"  # not a report file: left alone
    assert not (out / "curves_old_Task.png").exists()  # a stale plot of an earlier report
    assert (out / "report.md").exists()
    with pytest.raises(ConfigError, match=r"holds a training run"):
        cli_main([str(tmp_path / "runs"), "--out", str(tmp_path / "runs" / "a"), "--overwrite"])


def test_cli_parse_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli_main([str(tmp_path), "--out", str(tmp_path / "out"), "--confidence", "1.5"])
    assert info.value.code == 2
    assert capsys.readouterr().err == "rlx2: error: --confidence must be in (0, 1), got 1.5\n"
    with pytest.raises(SystemExit) as info:
        cli_main(["--out", str(tmp_path / "out")])
    assert info.value.code == 2
    assert "give at least one run directory" in capsys.readouterr().err


@pytest.mark.skipif(
    "report" not in rlx2_cli.COMMANDS,
    reason="rlx2.cli.COMMANDS does not register the report subcommand",
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    main = rlx2_cli.main
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as info:
        main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run directories" in err and "empty" in err
    write_run(tmp_path / "runs", "broken", returns=[1.0])
    write_run(tmp_path / "runs", "good", returns=[1.0])
    (tmp_path / "runs" / "broken" / "summary.json").write_text("{")
    with pytest.raises(SystemExit) as info:
        main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), "--strict"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken: unreadable summary.json" in err
    assert not (tmp_path / "out").exists()
    main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "out")])  # exit 0
    captured = capsys.readouterr()
    assert (
        captured.err.startswith("rlx2 report: warning: left out ") and captured.err.count("\n") == 1
    )
    assert "unreadable summary.json" in captured.err and "1 unreadable" in captured.out


# ------------------------------------------------------------------------------ outputs


def test_sparsity_plot_and_files(tmp_path):
    write_run(tmp_path, "dense", returns=[100.0, 110.0])
    for sparsity, score in ((0.5, 95.0), (0.8, 90.0), (0.9, 70.0)):
        for seed in (0, 1):
            write_run(
                tmp_path,
                f"rigl{sparsity}_{seed}",
                returns=[score - 5, score + seed],
                seed=seed,
                method="rigl",
                sparsity=(sparsity, sparsity),
            )
    report = report_of(tmp_path)
    written = write_report(report, tmp_path / "out")
    names = sorted(p.name for p in written)
    assert names == [
        "compression.csv",  # rigl ran at 3 sparsity levels: a compression ladder
        "curves_td3_Hopper-v5.png",
        "profile_td3.png",  # dense ran: performance profiles of % of dense
        "progress.csv",
        "report.md",
        "results.csv",
        "runs.csv",
        "sparsity_td3_Hopper-v5.png",
        "wallclock.csv",
    ]
    for name in ("curves_td3_Hopper-v5.png", "sparsity_td3_Hopper-v5.png"):
        data = (tmp_path / "out" / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    write_report(report_of(tmp_path), tmp_path / "again")
    # No clock, no global RNG: the same bytes.
    for name in ("report.md", "results.csv", "runs.csv", "compression.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "out" / name).read_bytes()
    rows = read_csv(tmp_path / "out" / "results.csv")
    assert [r["label"] for r in rows] == ["dense", "rigl", "rigl", "rigl"]
    # rigl 0.5: seeds score mean(90, 95) = 92.5 and mean(90, 96) = 93; dense mean(100, 110) = 105.
    assert float(rows[1]["pct_of_dense"]) == pytest.approx(100 * 92.75 / 105)


# ---------------------------------------------------------------------------- real runs


def test_report_on_real_training_runs(tmp_path):
    from rlx2.config import TrainConfig
    from rlx2.parsing import parse_args
    from rlx2.train.loop import train

    common = "--env Pendulum-v1 --total-steps 1200 --learning-starts 256 --batch-size 32 --hidden 16 --eval-every 300 --eval-episodes 1 --quiet --seed 0"
    for name, extra in (
        ("dense", ""),
        ("rigl", "--method rigl --actor-sparsity 0.9 --critic-sparsity 0.8"),
    ):
        args = f"{common} {extra} --run-dir {tmp_path / 'runs' / name}".split()
        train(parse_args(TrainConfig, args))
    out = tmp_path / "report"
    cli_main([str(tmp_path / "runs"), "--out", str(out)])
    assert sorted(p.name for p in out.iterdir()) == [
        "curves_td3_Pendulum-v1.png",
        "diagnostics_td3_Pendulum-v1.png",
        "progress.csv",
        "report.md",
        "results.csv",
        "runs.csv",
        "wallclock.csv",
    ]
    # Real runs record their CPU: one machine, dense's ratio to itself is 1.
    speeds = {r["label"]: r for r in read_csv(out / "wallclock.csv")}
    assert set(speeds) == {"dense", "rigl"} and speeds["dense"]["machine"] != ""
    assert speeds["dense"]["machine"] == speeds["rigl"]["machine"]
    assert float(speeds["dense"]["vs_dense"]) == 1.0 and float(speeds["rigl"]["vs_dense"]) > 0
    png = (out / "curves_td3_Pendulum-v1.png").read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 10_000
    rows = {r["label"]: r for r in read_csv(out / "results.csv")}
    assert set(rows) == {"dense", "rigl"}
    for label in rows:
        summary = json.loads((tmp_path / "runs" / label / "summary.json").read_text())
        assert float(rows[label]["final_score_mean"]) == pytest.approx(summary["final_return"])
    assert float(rows["rigl"]["model_size_ratio"]) < 0.5
    text = (out / "report.md").read_text()
    for section in (
        "## Groups",
        "## Paper-style tables: TD3",
        "## Compute",
        "## Excluded runs",
        "## Plots",
    ):
        assert section in text
    assert "(curves_td3_Pendulum-v1.png)" in text
