"""The ultimate compression ratio: pure statistics against brute force, the report section on
synthetic run directories, and ``rlx2 compress`` (ladder -> sweep -> report).

Synthetic runs have constant returns, so a run's final score is that constant and every
expected % of dense is arithmetic written beside it.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, run_cli
from hypothesis import given, settings
from hypothesis import strategies as st
from test_report import report_of, write_run

from rlx2.errors import ConfigError
from rlx2.experiments import compression, stats
from rlx2.experiments.compress import CompressConfig, ladder_levels, ladder_spec, main
from rlx2.experiments.compression import (
    CompressionOptions,
    Level,
    highest_contiguous,
    highest_passing,
    percent_of_dense,
    search_ladder,
)
from rlx2.experiments.report import write_report
from rlx2.experiments.sweep import expand, plan_jobs
from rlx2.experiments.sweep_file import load_sweep_file

# --------------------------------------------------------------------------- brute force


def iqm_loop(values) -> float:
    """scipy's 25 % trimmed mean written out: drop int(n / 4) values at each end."""
    ordered = sorted(values)
    cut = int(0.25 * len(ordered))
    kept = ordered[cut : len(ordered) - cut]
    return sum(kept) / len(kept)


def pct_loop(level_scores, dense_scores, baseline) -> float:
    return 100.0 * (iqm_loop(level_scores) - baseline) / (iqm_loop(dense_scores) - baseline)


def two_sample_ci_loop(first, second, reps, confidence, seed, baseline):
    """The bootstrap of % of dense as a loop: first all replicates' draws of the level's seeds,
    then all of dense's, from one RandomState (the order the vectorised code documents)."""
    rng = np.random.RandomState(seed)
    first_draws = [rng.choice(len(first), len(first), replace=True) for _ in range(reps)]
    second_draws = [rng.choice(len(second), len(second), replace=True) for _ in range(reps)]
    replicates = [
        pct_loop([first[i] for i in a], [second[j] for j in b], baseline)
        for a, b in zip(first_draws, second_draws, strict=True)
    ]
    alpha = (1 - confidence) / 2
    return tuple(np.percentile(replicates, [100 * alpha, 100 * (1 - alpha)]))


# ------------------------------------------------------------------------ pure statistics


def test_percent_of_dense_by_hand_positive_and_negative_returns():
    # Paper's convention (b = 0): 97 / 100.
    assert percent_of_dense(97.0, 100.0, 0.0) == pytest.approx(97.0)
    # Pendulum-like: dense −150, random −1200; −181.5 keeps (1200 − 181.5) / (1200 − 150) = 97 %.
    assert percent_of_dense(-181.5, -150.0, -1200.0) == pytest.approx(97.0)
    # A worse score is a smaller % whatever the sign (the raw ratio −160 / −150 would be 107 %).
    assert percent_of_dense(-160.0, -150.0, -1200.0) < 100.0
    # Dense not above the baseline: undefined.
    assert math.isnan(percent_of_dense(5.0, -150.0, 0.0))
    assert math.isnan(percent_of_dense(5.0, 3.0, 3.0))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=9),
    st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=9),
    st.floats(-1e4, 1e4),
)
def test_percent_of_dense_is_invariant_to_shifting_every_score(level, dense, shift):
    """Adding a constant to every return (and so to the random baseline) changes nothing:
    the reason a random baseline, not 0, normalises tasks with negative returns."""
    baseline = min(dense) - 100.0
    a = float(percent_of_dense(iqm_loop(level), iqm_loop(dense), baseline))
    b = float(
        percent_of_dense(
            iqm_loop([x + shift for x in level]),
            iqm_loop([x + shift for x in dense]),
            baseline + shift,
        )
    )
    assert b == pytest.approx(a, rel=1e-6, abs=1e-6)


def test_selection_rules_equal_brute_force_on_every_pattern():
    for n in range(7):
        for passes in itertools.product([False, True], repeat=n):
            passing = [i for i in range(n) if passes[i]]
            assert highest_passing(passes) == (passing[-1] if passing else None)
            prefixes = [i for i in range(n) if all(passes[: i + 1])]
            assert highest_contiguous(passes) == (prefixes[-1] if prefixes else None)


@pytest.mark.parametrize(
    "level, dense, baseline",
    [
        ([95.0, 99.0, 101.0], [100.0, 104.0, 98.0], 0.0),
        ([-170.0, -210.0, -160.0, -400.0, -155.0], [-150.0, -140.0, -165.0], -1230.0),
        (
            [10.0, 12.0, 9.0, 30.0, 11.0, 8.0, 10.5, 9.5],
            [12.0, 11.0, 13.0, 12.5, 40.0, 11.5, 12.0, 0.0],
            0.0,
        ),
    ],
)
def test_two_sample_bootstrap_equals_a_loop(level, dense, baseline):
    got = stats.two_sample_bootstrap_ci(
        np.array(level),
        np.array(dense),
        lambda s, d: percent_of_dense(stats.iqm(s[..., None]), stats.iqm(d[..., None]), baseline),
        reps=300,
        confidence=0.9,
        seed=7,
    )
    want = two_sample_ci_loop(level, dense, 300, 0.9, 7, baseline)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_two_sample_bootstrap_undefined_when_a_replicate_is():
    # Dense {−1, 5} with b = 0: a resample of dense can be {−1, −1}, IQM −1 <= 0.
    low, high = stats.two_sample_bootstrap_ci(
        np.array([3.0, 4.0]),
        np.array([-1.0, 5.0]),
        lambda s, d: percent_of_dense(s.mean(-1), d.mean(-1), 0.0),
        reps=200,
    )
    assert math.isnan(low) and math.isnan(high)


def test_identical_seeds_give_a_point_interval():
    result = compression.evaluate_level(
        Level(0.9, 0.9, (97.0, 97.0, 97.0)), [100.0] * 3, 0.0, CompressionOptions(), 500, 0.95, 0
    )
    assert (result.pct, result.ci_low, result.ci_high) == (97.0, 97.0, 97.0)
    assert result.passes and result.passes_point and result.passes_lower  # >= 97 passes


def levels_from(pcts: dict[float, list[float]]) -> list[Level]:
    """Levels at sparsity s with scores given as % of a dense score of 100 (b = 0)."""
    return [
        Level(s, s, tuple(scores), {"compression_ratio": 1 / (1 - s), "model_size_ratio": 1 - s})
        for s, scores in pcts.items()
    ]


def test_non_monotone_ladder_takes_the_highest_passing_level_and_reports_the_contiguous_one():
    # Shuffled on purpose: the search orders levels by compression ratio.
    ladder = search_ladder(
        "td3", "Hopper-v5", "rlx2",
        levels_from({0.95: [98.0] * 3, 0.5: [99.0] * 3, 0.98: [60.0] * 3, 0.8: [90.0] * 3}),
        [100.0] * 3, 0.0, "0", CompressionOptions(),
    )  # fmt: skip
    assert [r.level.actor_sparsity for r in ladder.levels] == [0.5, 0.8, 0.95, 0.98]
    assert [r.pct for r in ladder.levels] == pytest.approx([99.0, 90.0, 98.0, 60.0])
    assert ladder.ultimate == 2 and ladder.contiguous == 0  # 0.95 (paper), 0.5 (contiguous)
    text = ladder.statement()
    assert "ultimate compression ratio 20.0× at sparsity 0.95 / 0.95" in text
    assert "Not monotone: 0.8 / 0.8 (90.0 %) below it fails" in text
    assert "passing is 0.5 / 0.5 (2.0×)" in text


def test_threshold_and_criterion_change_the_answer():
    levels = levels_from({0.5: [96.0, 98.0, 100.0], 0.9: [94.0, 95.0, 96.0]})
    dense = [100.0] * 3

    def ultimate(**options):
        ladder = search_ladder(
            "td3", "T", "m", levels, dense, 0.0, "0", CompressionOptions(**options)
        )
        return (
            None if ladder.ultimate is None else ladder.levels[ladder.ultimate].level.actor_sparsity
        )

    assert ultimate() == 0.5  # 98 % >= 97; 95 % < 97
    assert ultimate(threshold=5.0) == 0.9  # 95 >= 95
    assert ultimate(threshold=1.0) is None  # 98 < 99
    # The lower CI bound of 0.5 (seeds 96, 98, 100) is 96 < 97: nothing passes.
    assert ultimate(criterion="lower") is None
    assert ultimate(criterion="lower", threshold=4.0) == 0.5  # lower bound 96 >= 96


@pytest.mark.parametrize(
    "options, message",
    [
        ({"threshold": 100.0}, "--threshold must be in [0, 100)"),
        ({"threshold": -1.0}, "--threshold must be in [0, 100)"),
        ({"baseline": "median"}, "--baseline must be auto, zero, random or a number"),
        ({"baseline": "nan"}, "--baseline must be finite"),
    ],
)
def test_options_are_validated(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        CompressionOptions(**options)


def test_resolve_baseline():
    measured = []

    def measure(env):
        measured.append(env)
        return -1200.0

    assert compression.resolve_baseline("auto", "T", 10.0, measure) == (0.0, "0")
    assert compression.resolve_baseline("auto", "T", -150.0, measure)[0] == -1200.0
    assert compression.resolve_baseline("random", "T", 10.0, measure)[0] == -1200.0
    assert compression.resolve_baseline("zero", "T", -150.0, measure) == (0.0, "0")
    assert compression.resolve_baseline("-7.5", "T", 10.0, measure) == (-7.5, "-7.5 (given)")
    assert measured == ["T", "T"]


def test_random_policy_score_of_pendulum_is_deterministic_and_random_like():
    a = compression.random_policy_score("Pendulum-v1", episodes=5)
    assert a == compression.random_policy_score("Pendulum-v1", episodes=5)
    assert -1700.0 < a < -800.0  # a random policy's cost on Pendulum (trained: about −150)


# ----------------------------------------------------------------- report, synthetic runs


def write_ladder(root: Path, dense: list[float], levels: dict[float, list[float]], **kw) -> None:
    for seed, score in enumerate(dense):
        write_run(root, f"dense_s{seed}", returns=[score] * 3, seed=seed, **kw)
    for sparsity, scores in levels.items():
        for seed, score in enumerate(scores):
            write_run(
                root,
                f"rlx2_{sparsity}_s{seed}",
                returns=[score] * 3,
                seed=seed,
                method="rlx2",
                sparsity=(sparsity, sparsity),
                summary_extra={
                    "model_size_ratio": 1 - sparsity,
                    "compression_ratio": 1 / (1 - sparsity),
                    "train_flops_ratio": 1.1 * (1 - sparsity),
                    "inference_flops_ratio": 0.9 * (1 - sparsity),
                },
                **kw,
            )


def test_report_section_and_csv_match_brute_force(tmp_path):
    dense = [100.0, 104.0, 98.0, 102.0]
    levels = {
        0.5: [99.0, 101.0, 100.0, 97.0],
        0.8: [95.0, 99.0, 100.0, 96.0],
        0.9: [99.0, 98.0, 100.0, 97.0],
        0.95: [80.0, 85.0, 90.0, 70.0],
    }
    write_ladder(tmp_path / "runs", dense, levels)
    report = report_of(tmp_path / "runs", bootstrap_reps=500)
    (ladder,) = report.ladders
    expected = {s: pct_loop(scores, dense, 0.0) for s, scores in levels.items()}
    for result in ladder.levels:
        s = result.level.actor_sparsity
        assert result.pct == pytest.approx(expected[s], rel=1e-12)
        want = two_sample_ci_loop(levels[s], dense, 500, 0.95, 0, 0.0)
        assert (result.ci_low, result.ci_high) == pytest.approx(want, rel=1e-12)
        assert result.passes == (expected[s] >= 97.0)
    passing = [s for s in sorted(levels) if expected[s] >= 97.0]
    assert ladder.levels[ladder.ultimate].level.actor_sparsity == passing[-1]
    assert ladder.baseline == 0.0 and ladder.dense_iqm == pytest.approx(iqm_loop(dense))

    written = write_report(report, tmp_path / "out")
    assert tmp_path / "out" / "compression.csv" in written
    with open(tmp_path / "out" / "compression.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["actor_sparsity"]) for r in rows] == [0.5, 0.8, 0.9, 0.95]
    assert [r["ultimate"] for r in rows] == [str(s == passing[-1]) for s in sorted(levels)]
    best = rows[[r["ultimate"] for r in rows].index("True")]
    assert float(best["compression_ratio"]) == pytest.approx(1 / (1 - passing[-1]))
    assert float(best["train_flops_ratio"]) == pytest.approx(1.1 * (1 - passing[-1]))
    text = (tmp_path / "out" / "report.md").read_text()
    assert "## Ultimate compression ratio" in text and ladder.statement() in text
    assert "**← ultimate**" in text


def test_negative_returns_use_the_random_policy(tmp_path):
    """Pendulum: dense IQM < 0, so auto measures the random policy's score on the task."""
    write_ladder(
        tmp_path,
        [-150.0, -160.0],
        {0.8: [-170.0, -180.0], 0.9: [-300.0, -320.0]},
        env="Pendulum-v1",
    )
    (ladder,) = report_of(tmp_path).ladders
    random_score = compression.random_policy_score("Pendulum-v1")
    assert ladder.baseline == random_score and "random policy" in ladder.baseline_source
    for result, scores in zip(ladder.levels, ([-170.0, -180.0], [-300.0, -320.0]), strict=True):
        assert result.pct == pytest.approx(pct_loop(scores, [-150.0, -160.0], random_score))
    # A given number replaces the measurement.
    (given_ladder,) = report_of(tmp_path, compression=CompressionOptions(baseline="-1000")).ladders
    assert given_ladder.baseline == -1000.0
    assert given_ladder.levels[0].pct == pytest.approx(100 * (1000 - 175) / (1000 - 155))
    # zero: dense is not above 0, so no % of dense, said in one sentence.
    (zero,) = report_of(tmp_path, compression=CompressionOptions(baseline="zero")).ladders
    assert zero.ultimate is None and "not above the baseline" in zero.statement()


def test_no_ladder_for_one_level_and_a_note_without_dense(tmp_path):
    write_run(tmp_path, "rigl", returns=[5.0], method="rigl", sparsity=(0.9, 0.9))
    write_run(tmp_path, "dense", returns=[10.0])
    assert report_of(tmp_path).ladders == ()  # one sparsity is no search
    write_run(tmp_path, "rigl2", returns=[5.0], method="rigl", sparsity=(0.8, 0.8), env="Ant-v5")
    write_run(tmp_path, "rigl3", returns=[5.0], method="rigl", sparsity=(0.9, 0.9), env="Ant-v5")
    (ladder,) = report_of(tmp_path).ladders
    assert ladder.env == "Ant-v5" and ladder.dense_iqm is None
    assert "no dense runs" in ladder.statement()


def test_no_level_passes(tmp_path):
    write_ladder(tmp_path, [100.0, 100.0], {0.5: [90.0, 92.0], 0.9: [50.0, 60.0]})
    (ladder,) = report_of(tmp_path).ladders
    assert ladder.ultimate is None and ladder.contiguous is None
    assert "no level keeps 97 % of dense" in ladder.statement()
    assert "the least compressed, 0.5 / 0.5, keeps 91.0 %" in ladder.statement()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--threshold", "100"], "--threshold must be in [0, 100)"),
        (["--baseline", "best"], "--baseline must be auto, zero, random or a number"),
        (["--criterion", "upper"], "--criterion"),
    ],
)
def test_report_compression_options_bad_input(tmp_path, capsys, args, needle):
    write_run(tmp_path / "runs", "dense", returns=[1.0])
    code, err = run_cli(
        ["report", str(tmp_path / "runs"), "--out", str(tmp_path / "o"), *args], capsys
    )
    assert_one_line_error(code, err, needle)


# ---------------------------------------------------------------------- rlx2 compress


def config(tmp_path, **kw) -> CompressConfig:
    options = {
        "env": "Pendulum-v1",
        "out": str(tmp_path / "out"),
        "actor_sparsities": (0.9, 0.5),
        "seeds": (0, 1),
        "set": ("total-steps=600", "learning-starts=256", "batch-size=32", "hidden=16"),
    }
    return CompressConfig(**{**options, **kw})


def test_ladder_levels():
    assert ladder_levels([0.9, 0.5]) == [(0.5, 0.5), (0.9, 0.9)]
    assert ladder_levels([0.98], critic_density_ratio=2.5) == [(0.98, 0.95)]  # paper's Hopper
    assert ladder_levels([0.9, 0.8], critic=[0.85, 0.7]) == [(0.8, 0.7), (0.9, 0.85)]
    for kwargs, message in (
        ({"actor": [0.5], "critic": [0.5], "critic_density_ratio": 2.0}, "not both"),
        ({"actor": [0.5, 0.9], "critic": [0.5]}, "1 values for 2 actor sparsities"),
        ({"actor": [1.0]}, "actor sparsity must be in [0, 1), got 1"),
        ({"actor": [0.0]}, "sparsity 0 / 0 is dense"),
        ({"actor": [0.5], "critic_density_ratio": 3.0}, "from --critic-density-ratio"),
        ({"actor": [0.5, 0.5]}, "repeats a level"),
        ({"actor": []}, "at least one"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            ladder_levels(**kwargs)


def test_ladder_is_an_ordinary_sweep_with_deterministic_names(tmp_path):
    spec = ladder_spec(config(tmp_path, actor_sparsities=(0.9, 0.6), critic_density_ratio=2.0))
    jobs = plan_jobs(spec, tmp_path / "out")
    # Dense for every seed (the grid), then seed by seed every level: 2 + 2 × 2 jobs.
    assert [job.name for job in jobs] == [
        "td3_Pendulum-v1_dense_s0",
        "td3_Pendulum-v1_dense_s1",
        "td3_Pendulum-v1_rlx2_a0.6_c0.2_s0",
        "td3_Pendulum-v1_rlx2_a0.9_c0.8_s0",
        "td3_Pendulum-v1_rlx2_a0.6_c0.2_s1",
        "td3_Pendulum-v1_rlx2_a0.9_c0.8_s1",
    ]
    # Every job gets --set; sparsities only the ladder's jobs.
    assert all(job.args[job.args.index("--total-steps") + 1] == "600" for job in jobs)
    assert all("--actor-sparsity" not in job.args for job in jobs[:2])
    assert not (tmp_path / "out").exists()  # planning writes nothing


def test_write_sweep_round_trips_to_the_same_jobs(tmp_path, capsys):
    path = tmp_path / "ladder.yaml"
    cfg = config(tmp_path, write_sweep=str(path), method=("rlx2", "rigl"))
    assert main(cfg, ["--the", "command"]) == 0
    assert "rlx2 sweep" in capsys.readouterr().out
    text = path.read_text()
    assert text.startswith("# Ultimate-compression ladder, written by: rlx2 compress --the command")
    assert expand(load_sweep_file(path)) == expand(ladder_spec(cfg))
    assert len(expand(ladder_spec(cfg))) == 2 + 2 * 2 * 2  # dense + 2 methods × 2 levels, × 2 seeds
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError, match="exists"):
        main(cfg)  # never replaced silently


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--set", "seed=3"], "--set seed: the ladder sets it"),
        (["--set", "actor_sparsity=0.5"], "--set actor-sparsity: the ladder sets it"),
        (["--set", "total-stepz=5"], "unknown option 'total-stepz'; did you mean 'total-steps'?"),
        (["--method", "dense"], "--method 'dense': choose sparse methods"),
        (["--method", "rigl", "rigl"], "lists a method twice"),
        (["--seeds", "1", "1"], "--seeds must be distinct"),
        (["--critic-sparsities", "0.5"], "1 values for 2 actor sparsities"),
        (["--threshold", "-3"], "--threshold must be in [0, 100)"),
        (["--set", "hidden=0"], "--hidden must be positive"),
        (["--address", "auto"], "--address needs --backend ray"),
    ],
)
def test_compress_bad_input_exits_2_with_one_line(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    base = [
        "compress",
        "--env",
        "Pendulum-v1",
        "--out",
        str(out),
        "--actor-sparsities",
        "0.5",
        "0.9",
    ]
    code, err = run_cli([*base, *args], capsys)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_compress_dry_run_lists_the_jobs_and_writes_nothing(tmp_path, capsys):
    cfg = config(tmp_path)
    from rlx2.experiments.sweep import LaunchOptions

    cfg = CompressConfig(**{**cfg.__dict__, "launch": LaunchOptions(dry_run=True)})
    assert main(cfg) == 0
    out = capsys.readouterr().out
    assert out.count("new ") == 6 and "td3_Pendulum-v1_rlx2_a0.9_c0.9_s1" in out
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_compress_end_to_end_on_pendulum(tmp_path, capsys):
    """Real training: dense and two levels × two seeds on Pendulum (tiny networks and budget),
    then the report; running it again trains nothing and gives the same result. At 600 steps
    nothing has learned (dense is below the random policy), so the baseline is given."""
    cfg = config(
        tmp_path,
        set=(*config(tmp_path).set, "eval-every=100", "eval-episodes=1"),
        compression=CompressionOptions(baseline="-3000"),
    )
    assert main(cfg) == 0
    first = capsys.readouterr().out
    out = tmp_path / "out"
    assert "TD3 rlx2 on Pendulum-v1" in first
    with open(out / "report" / "compression.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["actor_sparsity"], r["num_seeds"]) for r in rows] == [("0.5", "2"), ("0.9", "2")]
    report = report_of(out, compression=cfg.compression)
    (ladder,) = report.ladders
    dense = report.group("dense", "Pendulum-v1")
    assert ladder.dense_iqm == dense.iqm and ladder.baseline == -3000.0
    for result in ladder.levels:
        group = report.group("rlx2", "Pendulum-v1", actor_sparsity=result.level.actor_sparsity)
        want = pct_loop(group.scores, dense.scores, ladder.baseline)
        assert result.pct == pytest.approx(want, rel=1e-9)
        assert result.level.ratios["compression_ratio"] == group.ratios["compression_ratio"]
    assert main(cfg) == 0  # resumable: every run is skipped
    assert capsys.readouterr().out.splitlines()[-1] == first.splitlines()[-1]
