"""RLx2 value learning wired into training: settings, delayed n-step, dynamic buffer (spec §5–§6)."""

import json

import pytest
from helpers import FAST, assert_one_line_error, run_cli

import toy_envs  # noqa: F401
from rlx2.cli import main
from rlx2.config import RunConfig, SparseConfig, TrainConfig, ValueConfig


def settings(method="dense", total_steps=3_000_000, algo="td3", **value):
    sparse = (
        SparseConfig(method=method, actor_sparsity=0.9, critic_sparsity=0.9)
        if method != "dense"
        else SparseConfig()
    )
    return TrainConfig(
        env="Pendulum-v1",
        algo=algo,
        run=RunConfig(total_steps=total_steps),
        sparse=sparse,
        value=ValueConfig(**value),
    ).value_settings()


def test_rlx2_method_uses_reference_values_at_the_paper_budget():
    s = settings("rlx2")
    assert (s.rlx2_value_learning, s.nstep, s.nstep_delay, s.dynamic_buffer) == (
        True,
        3,
        300_000,
        True,
    )
    assert (s.buffer_min, s.buffer_capacity, s.buffer_check_interval, s.budget_scale) == (
        100_000,
        1_000_000,
        10_000,
        1.0,
    )
    sac = settings("rlx2", algo="sac")
    assert (sac.buffer_min, sac.buffer_capacity) == (200_000, 3_000_000)


def test_shorter_budgets_scale_the_time_like_values():
    s = settings("rlx2", total_steps=150_000)
    assert s.budget_scale == pytest.approx(0.05)
    assert (s.nstep_delay, s.buffer_min, s.buffer_capacity, s.buffer_check_interval) == (
        15_000,
        5_000,
        50_000,
        500,
    )
    explicit = settings(
        "rlx2", total_steps=150_000, nstep_delay=7, buffer_max=80_000, budget_scale=0.5
    )
    assert (explicit.nstep_delay, explicit.buffer_capacity, explicit.buffer_min) == (
        7,
        80_000,
        50_000,
    )


def test_other_methods_default_to_standard_value_learning_and_combine_with_rlx2s():
    for method in ("dense", "tiny", "ss", "set", "rigl"):
        s = settings(method)
        assert (s.nstep, s.nstep_delay, s.dynamic_buffer, s.buffer_capacity) == (
            1,
            0,
            False,
            1_000_000,
        )
        plus = settings(method, value_learning="rlx2")  # the paper's "SS+", "SET+", "Tiny+"
        assert (plus.nstep, plus.dynamic_buffer) == (3, True)
    only_nstep = settings("rlx2", dynamic_buffer="off")
    assert only_nstep.nstep == 3 and not only_nstep.dynamic_buffer
    assert settings("rlx2", value_learning="standard").nstep == 1


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--nstep", "0"], "--nstep must be >= 1"),
        (["--nstep-delay", "-1"], "--nstep-delay must be >= 0"),
        (
            ["--dynamic-buffer", "on", "--buffer-max", "1000", "--distance-samples", "2048"],
            "--distance-samples (2048) must not exceed",
        ),
        (
            ["--dynamic-buffer", "on", "--buffer-min", "5000", "--buffer-max", "4000"],
            "--buffer-min (5000) must not exceed --buffer-max (4000)",
        ),
        (["--distance-threshold", "0"], "--distance-threshold must be > 0"),
        (["--distance-threshold", "-1"], "--distance-threshold must be > 0"),
        (["--shrink-fraction", "1"], "--shrink-fraction must be in (0, 1)"),
        (["--dynamic-buffer", "sometimes"], "invalid choice 'sometimes'"),
    ],
)
def test_value_learning_bad_input_exits_2(args, needle, capsys, tmp_path):
    code, err = run_cli(
        ["train", "--env", "Pendulum-v1", "--run-dir", str(tmp_path / "r"), *args], capsys
    )
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "r").exists()


def test_nstep_switches_after_the_delay_in_training(tmp_path, monkeypatch):
    from rlx2.value import replay

    ns = []
    original = replay.ReplayBuffer.sample

    def spy(self, batch_size, n=1):
        ns.append(n)
        return original(self, batch_size, n)

    monkeypatch.setattr(replay.ReplayBuffer, "sample", spy)
    main(
        [
            "train",
            "--env",
            "rlx2test/Counter-v0",
            "--total-steps",
            "400",
            "--eval-every",
            "400",
            "--nstep",
            "3",
            "--nstep-delay",
            "50",
            "--run-dir",
            str(tmp_path / "r"),
            *FAST,
        ]
    )
    assert ns == [1] * 50 + [3] * (400 - 256 - 50)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["value_learning"]["final_nstep"] == 3


def test_dynamic_buffer_checks_and_shrinks_during_training(tmp_path):
    run_dir = tmp_path / "r"
    main(
        [
            "train",
            "--env",
            "Pendulum-v1",
            "--total-steps",
            "1200",
            "--eval-every",
            "1200",
            "--dynamic-buffer",
            "on",
            "--buffer-check-interval",
            "100",
            "--buffer-min",
            "300",
            "--buffer-max",
            "1200",
            "--distance-samples",
            "64",
            "--distance-threshold",
            "1e-6",
            "--run-dir",
            str(run_dir),
            *FAST,
        ]
    )
    summary = json.loads((run_dir / "summary.json").read_text())["value_learning"]
    assert (
        summary["buffer_checks"] == (1200 - 300) // 100 + 1
    )  # checks at steps 300, 400, ..., 1200
    assert summary["buffer_shrinks"] >= 1  # a tiny threshold: every check above the minimum shrinks
    assert 300 <= summary["buffer_size"] < 1200
    config = json.loads((run_dir / "config.json").read_text())["effective"]["value_learning"]
    assert (
        config["dynamic_buffer"]
        and config["buffer_min"] == 300
        and config["buffer_check_interval"] == 100
    )


def test_ablation_ss_plus_runs(tmp_path):
    run_dir = tmp_path / "ssplus"
    main(
        [
            "train",
            "--env",
            "Pendulum-v1",
            "--method",
            "ss",
            "--actor-sparsity",
            "0.8",
            "--critic-sparsity",
            "0.8",
            "--value-learning",
            "rlx2",
            "--total-steps",
            "600",
            "--eval-every",
            "600",
            "--distance-samples",
            "64",
            "--run-dir",
            str(run_dir),
            *FAST,
        ]
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["method"] == "ss" and summary["topology"]["critic"]["topology_updates"] == 0
    effective = json.loads((run_dir / "config.json").read_text())["effective"]["value_learning"]
    assert (
        effective["rlx2_value_learning"] and effective["nstep"] == 3 and effective["dynamic_buffer"]
    )
