"""Probability of improvement and performance profiles (experiments/comparisons.py, stats.py)
against brute-force loops, rliable's metrics, and a report on synthetic run directories."""

from __future__ import annotations

import numpy as np
import pytest
from test_report import PNG_MAGIC, report_of, write_run

from rlx2.experiments import comparisons, stats
from rlx2.experiments.report import make_plots, render_markdown


def _poi_by_loops(x_tasks, y_tasks) -> float:
    per_task = []
    for x, y in zip(x_tasks, y_tasks, strict=True):
        total = 0.0
        for a in x:
            for b in y:
                total += 1.0 if a > b else 0.5 if a == b else 0.0
        per_task.append(total / (len(x) * len(y)))
    return sum(per_task) / len(per_task)


def test_probability_of_improvement_equals_the_pairwise_count():
    rng = np.random.default_rng(0)
    x = [rng.integers(0, 4, 5).astype(float), rng.normal(size=3)]  # ties on the first task
    y = [rng.integers(0, 4, 4).astype(float), rng.normal(size=6)]
    assert stats.probability_of_improvement(x, y) == pytest.approx(_poi_by_loops(x, y))
    assert stats.probability_of_improvement([np.ones(3)], [np.ones(2)]) == 0.5
    assert stats.probability_of_improvement([np.array([2.0])], [np.array([1.0])]) == 1.0


def test_probability_of_improvement_equals_rliable():
    from rliable import metrics

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 3)), rng.normal(0.3, size=(5, 3))  # [runs, tasks]
    ours = stats.probability_of_improvement(list(x.T), list(y.T))
    assert ours == pytest.approx(metrics.probability_of_improvement(x, y))


def test_probability_of_improvement_ci_is_the_bootstrap_written_as_a_loop():
    rng = np.random.default_rng(1)
    x = [rng.normal(size=4), rng.normal(size=3)]
    y = [rng.normal(size=5), rng.normal(size=2)]
    reps = 200
    draws = np.random.RandomState(7)
    per_task = []
    for a, b in zip(x, y, strict=True):
        ia = draws.choice(a.size, (reps, a.size), replace=True)
        ib = draws.choice(b.size, (reps, b.size), replace=True)
        per_task.append([_poi_by_loops([a[ia[r]]], [b[ib[r]]]) for r in range(reps)])
    replicates = np.mean(per_task, axis=0)
    expected = np.percentile(replicates, [2.5, 97.5])
    ours = stats.probability_of_improvement_ci(x, y, reps, 0.95, seed=7)
    np.testing.assert_allclose(ours, expected)


def test_performance_profile_averages_fractions_over_tasks():
    tasks = [np.array([50.0, 100.0, 150.0]), np.array([90.0])]
    taus = np.array([0.0, 60.0, 95.0, 120.0, 200.0])
    expected = [(1.0 + 1.0) / 2, (2 / 3 + 1.0) / 2, (2 / 3 + 0.0) / 2, (1 / 3 + 0.0) / 2, 0.0]
    np.testing.assert_allclose(stats.performance_profile(tasks, taus), expected)
    low, high = stats.performance_profile_band(tasks, taus, 300, 0.95, 0)
    assert np.all(low <= expected) and np.all(np.asarray(expected) <= high)
    assert high[0] == low[0] == 1.0  # every resample is above τ = 0


def test_mismatched_tasks_are_refused():
    with pytest.raises(ValueError):
        stats.probability_of_improvement([np.ones(2)], [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError):
        stats.performance_profile([np.array([])], np.array([1.0]))


def test_profile_normalises_each_column_over_its_own_tasks():
    cells = {
        ("A", "dense"): ((100.0, 100.0), 100.0),
        ("A", "rlx2"): ((50.0, 150.0), 100.0),
        ("B", "dense"): ((10.0,), 10.0),
        ("B", "rlx2"): ((20.0,), 10.0),
        ("B", "ss+"): ((5.0,), 10.0),
        ("C", "rlx2"): ((1.0,), -3.0),  # % of dense undefined: left out
    }
    profile = comparisons.profile("td3", cells, ["dense", "rlx2", "ss+"], 50, 0.95, 0)
    assert profile.tasks == {"dense": ("A", "B"), "rlx2": ("A", "B"), "ss+": ("B",)}
    at = {tau: i for i, tau in enumerate(profile.taus)}
    above_100 = next(i for tau, i in at.items() if tau > 100.0)
    # rlx2: A has 50 % and 150 % -> ½ above 100 %; B has 200 % -> 1; mean ¾.
    assert profile.curves["rlx2"][0][above_100] == pytest.approx(0.75)
    assert profile.curves["ss+"][0][0] == 1.0 and profile.curves["ss+"][0][above_100] == 0.0


def test_report_states_rlx2_improvement_and_draws_profiles(tmp_path):
    for seed in range(3):
        for env, dense, rlx2, rigl in (
            ("Hopper-v5", 1000, 990, 500),
            ("Walker2d-v5", 2000, 2100, 800),
        ):
            write_run(
                tmp_path, f"{env}_dense_s{seed}", env=env, returns=[dense + seed] * 2, seed=seed
            )
            write_run(
                tmp_path,
                f"{env}_rlx2_s{seed}",
                env=env,
                returns=[rlx2 + seed] * 2,
                method="rlx2",
                sparsity=(0.9, 0.8),
                seed=seed,
            )
            write_run(
                tmp_path,
                f"{env}_rigl_s{seed}",
                env=env,
                returns=[rigl + seed] * 2,
                method="rigl",
                sparsity=(0.9, 0.8),
                seed=seed,
            )
    report = report_of(tmp_path, bootstrap_reps=200)
    found = {(i.reference, i.other): i for i in report.improvements if len(i.tasks) > 1}
    assert set(found) == {("rlx2", "dense"), ("rlx2", "rigl")}
    per_task = {(i.other, i.tasks): i.probability for i in report.improvements if len(i.tasks) == 1}
    # each task alone: Hopper's RLx2 runs never beat dense, Walker2d's always do
    assert per_task == {
        ("dense", ("Hopper-v5",)): 0.0,
        ("dense", ("Walker2d-v5",)): 1.0,
        ("rigl", ("Hopper-v5",)): 1.0,
        ("rigl", ("Walker2d-v5",)): 1.0,
    }
    assert found[("rlx2", "rigl")].probability == 1.0  # every RLx2 run beats every RigL run
    # Hopper: 990+s vs 1000+t never wins; Walker2d: 2100+s always wins -> mean ½.
    assert found[("rlx2", "dense")].probability == pytest.approx(0.5)
    assert found[("rlx2", "dense")].tasks == ("Hopper-v5", "Walker2d-v5")
    plots = make_plots(report)
    profile = [png for name, png, _ in plots if name == "profile_td3.png"]
    assert profile and profile[0].startswith(PNG_MAGIC)
    markdown = render_markdown(report, [(n, c) for n, _, c in plots])
    assert "| TD3 | rlx2 > rigl | 2 tasks | 1.00 [1.00, 1.00] |" in markdown
    assert "| TD3 | rlx2 > dense | Walker2d-v5 | 1.00 [1.00, 1.00] |" in markdown
