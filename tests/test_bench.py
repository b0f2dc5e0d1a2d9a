"""`rlx2 bench`: JSON fields, markdown table, medians of interleaved rounds, bad input."""

import io
import json
import statistics
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from helpers import FAST, assert_one_line_error, run_cli

import rlx2.bench
from rlx2.bench import (
    BACKENDS,
    MEASURES,
    StepClock,
    interleaved_medians,
    interleaved_times,
    round_order,
    timed_run_args,
)
from rlx2.cli import main
from rlx2.parsing import parse_args

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
        # Ratios are rounded to 3 decimals (abs 5e-4: a loaded machine can make one ~0.02).
        assert row["speedup"] == pytest.approx(
            row["dense_us"] / row["sparse_us"], rel=1e-2, abs=5e-4
        )
        assert row["speedup_cpu"] == pytest.approx(
            row["dense_cpu_us"] / row["sparse_cpu_us"], rel=1e-2, abs=5e-4
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


# ---------------------------------------------------------------- --end-to-end

E2E = ["--end-to-end", "--end-to-end-learning-starts", "40", "--end-to-end-window", "50", "80"]
PENDULUM = ["--env", "Pendulum-v1", "--actor-sparsity", "0.9", "--critic-sparsity", "0.8"]


def test_end_to_end_times_a_dense_and_a_sparse_rlx2_run(tmp_path, capsys):
    table = tmp_path / "bench.md"
    main(
        [
            "bench",
            *PENDULUM,
            *SMALL,
            *E2E,
            "--end-to-end-repeats",
            "2",
            "--markdown",
            str(table),
        ]
    )
    result = json.loads(capsys.readouterr().out)
    e2e = result["end_to_end"]
    assert e2e["window"] == [50, 80] and e2e["learning_starts"] == 40 and e2e["repeats"] == 2
    for name in ("dense", "sparse"):
        samples = e2e["samples"][name]
        assert len(samples) == 2 and all(s > 0 for s in samples)
        assert e2e[f"{name}_steps_per_second"] == pytest.approx(statistics.median(samples), 1e-2)
    assert e2e["speedup"] == pytest.approx(
        e2e["sparse_steps_per_second"] / e2e["dense_steps_per_second"], rel=1e-2
    )
    dense, sparse = e2e["commands"]["dense"], e2e["commands"]["sparse"]
    assert "--method dense --backend dense" in dense
    assert "--method rlx2 --actor-sparsity 0.9 --critic-sparsity 0.8 --backend sparse" in sparse
    for command in (dense, sparse):
        assert "--env Pendulum-v1" in command and "--total-steps 80" in command
        assert "--batch-size 32 --hidden 16" in command
    assert result["cpu"]  # the CPU model, for the figures' record
    text = table.read_text()
    assert "| TD3 | Pendulum-v1 | 90% / 80% |" in text and "window (env steps)" in text
    assert text.count("| 50–80 |") == 1


def test_bench_without_end_to_end_has_no_such_field(capsys):
    main(["bench", *PENDULUM, *SMALL])
    assert "end_to_end" not in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    "args,needle",
    [
        (
            ["--obs-dim", "3", "--act-dim", "1", "--actor-sparsity", "0.9"]
            + ["--critic-sparsity", "0.8", "--end-to-end"],
            "--end-to-end trains on a task: give --env",
        ),
        ([*PENDULUM, *E2E, "--end-to-end-learning-starts", "50"], "must start after the 50"),
        (
            [*PENDULUM, *E2E, "--end-to-end-learning-starts", "10"],
            "--learning-starts (10) must be >= --batch-size (256)",
        ),
        ([*PENDULUM, "--end-to-end", "--end-to-end-window", "70", "60"], "70..60"),
        ([*PENDULUM, *E2E, "--end-to-end-repeats", "0"], "--end-to-end-repeats must be positive"),
    ],
)
def test_bad_end_to_end_input_exits_2_with_one_line(args, needle, capsys):
    code, err = run_cli(["bench", *args], capsys)
    assert_one_line_error(code, err, needle)


def test_step_clock_times_the_steps_between_the_window_ends(monkeypatch):
    ticks = iter(range(100, 200))
    monkeypatch.setattr(rlx2.bench.time, "perf_counter", lambda: float(next(ticks)))
    cpu_ticks = iter(range(10, 30, 2))  # the CPU clock runs apart (here: half the wall's rate)
    monkeypatch.setattr(rlx2.bench.time, "process_time", lambda: next(cpu_ticks) / 4)
    clock = StepClock(gym.make("Pendulum-v1"), window=(3, 7))
    clock.reset(seed=0)
    for _ in range(5):
        clock.step(clock.action_space.sample())
    with pytest.raises(RuntimeError, match="ended at env step 5, before 7"):
        clock.steps_per_second()
    for _ in range(5):
        clock.step(clock.action_space.sample())
    # perf_counter is read at steps 3 and 7 only: ticks 100 and 101.
    assert clock.times == {3: 100.0, 7: 101.0}
    assert clock.steps_per_second() == 4.0
    assert clock.cpu_times == {3: 2.5, 7: 3.0}
    assert clock.cpu_steps_per_second() == 8.0


def test_train_wraps_the_training_env_only(tmp_path):
    """wrap_env sees every training step and none of the evaluation episodes."""
    from rlx2.config import TrainConfig
    from rlx2.train.loop import train

    wrapped = []

    def wrap(env):
        wrapped.append(StepClock(env, (1, 2)))
        return wrapped[-1]

    args = ["--env", "Pendulum-v1", "--total-steps", "300", "--eval-every", "100", *FAST]
    config = parse_args(TrainConfig, [*args, "--run-dir", str(tmp_path / "run")])
    summary = train(config, stream=io.StringIO(), wrap_env=wrap)
    assert summary["num_evaluations"] == 3  # 3 × 1 episode of 200 steps on the other env
    (clock,) = wrapped
    assert clock.steps == 300


def test_timed_run_args_make_the_first_steps_of_a_long_run():
    """RLx2's time-like settings of the short timed run are those of the 1 M-step run."""
    from rlx2.config import TrainConfig

    task = ["--env", "Hopper-v5", "--method", "rlx2", "--preset", "paper"]
    short = parse_args(TrainConfig, [*task, *timed_run_args(1000, (2000, 7000))])
    long = parse_args(TrainConfig, [*task, "--total-steps", "1000000"])
    assert short.run.total_steps == 7000 and short.run.learning_starts == 1000
    assert short.run.eval_every > 7000 and short.run.checkpoint_every == 0
    assert short.value_settings() == long.value_settings()
    assert short.value_settings().nstep_delay == 100_000  # never reached in the window
    bad = [*task, *timed_run_args(1000, (2000, 7000), budget_steps=7000)]
    assert parse_args(TrainConfig, bad).value_settings() != long.value_settings()


def test_round_order_rotates_by_one_each_round():
    assert [round_order("abc", r) for r in range(4)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
        ["a", "b", "c"],
    ]
    assert round_order([], 3) == []


def run_memory_child(steps: int, timeout: float) -> subprocess.CompletedProcess:
    """benchmarks/memory.py's child run of RLx2 on its default task: RSS every 200 steps
    after 1 000 warm-up steps."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "memory.py"
    return subprocess.run(
        [sys.executable, str(script), "--child", "rlx2", "--tasks", "--methods",
         "--steps", str(steps), "--every", "200", "--learning-starts", "1000"],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_memory_benchmark_reads_the_rss_of_a_short_run():
    """benchmarks/memory.py (b) drives the trainer's loop itself: a smoke run keeps it working."""
    done = run_memory_child(1400, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["measure"] == "rss" and result["method"] == "rlx2"
    assert result["stored_transitions"] == 1400
    readings = list(result["rss_kib"].values())
    assert min(readings) > 0 and result["peak_rss_kib"] > 0  # VmHWM lags VmRSS by a few KiB
    # The 1 M estimate adds the rows still to fill to the last reading.
    rows_left = result["buffer_capacity"] - result["stored_transitions"]
    estimate = (readings[-1] * 1024 + result["buffer_bytes_per_transition"] * rows_left) / 2**20
    assert result["extrapolated_rss_at_1m_transitions_mib"] == pytest.approx(estimate, abs=0.1)


def test_memory_benchmark_refuses_a_run_too_short_for_two_readings():
    done = run_memory_child(1200, timeout=120)
    assert done.returncode == 2
    assert "--steps must leave two RSS readings" in done.stderr.splitlines()[-1]
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_update_parts_benchmark_runs_and_its_one_call_critic_step_equals_the_fused_one():
    """benchmarks/update_parts.py: every variant runs, and its one-call prototype of TD3's
    critic step (checked against FusedTD3.critic_backward before timing) still computes the
    same losses and gradients: docs/benchmarks.md cites its figures."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "update_parts.py"
    done = subprocess.run(
        [sys.executable, str(script), "--cases", "td3:Hopper-v5", "--repeats", "1",
         "--updates", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["share_of_full_cpu"]) == {
        "full", "no_adam", "no_polyak", "losses_only", "critic_one_call", "losses_only_one_call"
    }  # fmt: skip
    assert result["share_of_full_cpu"]["full"] == 1.0
