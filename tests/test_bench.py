"""`rlx2 bench`: JSON fields, markdown table, medians of interleaved rounds, bad input."""

import json

import pytest
from helpers import assert_one_line_error, run_cli

from rlx2.bench import BACKENDS, MEASURES, interleaved_medians, interleaved_times
from rlx2.cli import main

SMALL = ["--hidden", "16", "--batch-size", "32", "--repeats", "2", "--updates", "2"]
SMALL += ["--inference-calls", "10"]


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_bench_prints_every_measure_for_every_backend(algo, tmp_path, capsys):
    table = tmp_path / "bench.md"
    main(
        [
            "bench",
            "--algo",
            algo,
            "--obs-dim",
            "11",
            "--act-dim",
            "3",
            "--actor-sparsity",
            "0.9",
            "--critic-sparsity",
            "0.8",
            "--markdown",
            str(table),
            *SMALL,
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert result["algo"] == algo and result["obs_dim"] == 11 and result["act_dim"] == 3
    assert result["threads"] == 1 and result["repeats"] == 2
    assert 0 < result["active_weights"]["actor"] < result["dense_weights"]["actor"]
    assert result["cpu"]  # the CPU model the figures belong to
    for measure in MEASURES:
        row = result[measure]
        for backend in BACKENDS:
            assert row[f"{backend}_us"] > 0
            # CPU time of the thread: never more than the wall time it ran in (+ clock jitter)
            assert 0 < row[f"{backend}_cpu_us"] <= row[f"{backend}_us"] * 1.05 + 5
        assert row["speedup"] == pytest.approx(row["dense_us"] / row["sparse_us"], rel=1e-2)
        assert row["speedup_cpu"] == pytest.approx(
            row["dense_cpu_us"] / row["sparse_cpu_us"], rel=1e-2
        )
    text = table.read_text()
    assert f"rlx2-bench-{algo}-obs-11-act-3:start" in text
    assert text.count(f"| {algo.upper()} | obs 11, act 3 |") == len(MEASURES)


def test_bench_reads_the_task_and_the_paper_sparsities(capsys):
    main(["bench", "--env", "Hopper-v5", "--preset", "paper", *SMALL])
    result = json.loads(capsys.readouterr().out)
    assert (result["obs_dim"], result["act_dim"]) == (11, 3)
    assert (result["actor_sparsity"], result["critic_sparsity"]) == (0.98, 0.95)


def test_interleaved_times_count_cpu_time_apart_from_waiting():
    import time

    times = interleaved_times({"sleep": lambda: time.sleep(0.002)}, repeats=3, calls=2)
    assert times["sleep"]["wall"] >= 0.002
    assert times["sleep"]["cpu"] < 0.001  # sleeping costs no CPU time


def test_interleaved_medians_are_medians_of_rounds():
    calls = []
    fns = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    medians = interleaved_medians(fns, repeats=3, calls=2)
    assert set(medians) == {"a", "b", "c"} and all(v >= 0 for v in medians.values())
    # Each round runs every function `calls` times; the order rotates between rounds.
    assert calls[:6] == ["a", "a", "b", "b", "c", "c"]
    assert calls[6:12] == ["b", "b", "c", "c", "a", "a"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--obs-dim", "11"], "--obs-dim and --act-dim are required"),
        (["--env", "Hopper-v5", "--obs-dim", "11", "--act-dim", "3"], "exclude each other"),
        (["--obs-dim", "11", "--act-dim", "3"], "--actor-sparsity and --critic-sparsity"),
        (
            [
                "--obs-dim",
                "11",
                "--act-dim",
                "3",
                "--actor-sparsity",
                "1",
                "--critic-sparsity",
                "0.5",
            ],
            "--actor-sparsity must be in [0, 1)",
        ),
        (["--obs-dim", "0", "--act-dim", "3"], "--obs-dim must be positive"),
        (["--env", "Pendulum-v1", "--preset", "paper"], "--preset paper covers"),
        (["--obs-dim", "4", "--act-dim", "2", "--preset", "paper"], "--preset paper needs --env"),
        (["--algo", "ppo"], "invalid choice 'ppo'"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle, capsys):
    code, err = run_cli(["bench", *args], capsys)
    assert_one_line_error(code, err, needle)
