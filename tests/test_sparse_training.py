"""Sparse methods wired into TD3/SAC and `rlx2 train`/`rlx2 cost` (issue: sparse engine, spec §2–§4, §9)."""

import json

import numpy as np
import pytest
import torch
from helpers import FAST, assert_one_line_error, run_cli

import toy_envs  # noqa: F401
from rlx2.cli import main
from rlx2.config import AgentConfig, RunConfig, SparseConfig, TrainConfig
from rlx2.sparse.masks import linear_weights
from rlx2.train.builders import build_agent, dense_weight_counts
from rlx2.train.envs import check_env
from rlx2.value.replay import ReplayBuffer


def make_config(algo, method, actor=0.9, critic=0.8, **sparse):
    return TrainConfig(
        env="Pendulum-v1",
        algo=algo,
        # The masked reference (nn.Linear + masks); tests/test_backend.py covers the sparse one.
        run=RunConfig(total_steps=2_000, learning_starts=256, backend="masked"),
        agent=AgentConfig(hidden=32, batch_size=32),
        sparse=SparseConfig(method=method, actor_sparsity=actor, critic_sparsity=critic, **sparse),
    )


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("method", ["ss", "set", "rigl"])
def test_pruned_weights_stay_zero_and_counts_stay_exact_in_online_and_target(algo, method):
    config = make_config(algo, method, topology_interval=3)
    spec = check_env(config.env)
    agent, _ = build_agent(config, spec)
    buffer = ReplayBuffer(spec.obs_dim, spec.act_dim, 1000, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(300):
        buffer.add(
            rng.normal(size=3),
            rng.uniform(-2, 2, size=1),
            rng.normal(),
            rng.normal(size=3),
            False,
            False,
            np.zeros(1),
        )
    counts = {name: [int(m.sum()) for m in u.masks.masks] for name, u in agent.updaters().items()}
    for _ in range(40):
        agent.update(buffer.sample(32))
        for name, updater in agent.updaters().items():
            masks = updater.masks.masks
            assert [int(m.sum()) for m in masks] == counts[name]
            for w, m in zip(linear_weights(getattr(agent, name)), masks, strict=True):
                assert torch.all(w[~m.bool()] == 0)
            target = agent.networks().get(f"{name}_target")
            if target is not None and agent.updates % getattr(agent.config, "policy_delay", 1) == 0:
                for w, m in zip(linear_weights(target), masks, strict=True):
                    assert torch.all(w[~m.bool()] == 0)
    changed = sum(u.connections_changed for u in agent.updaters().values())
    assert (changed > 0) == (method != "ss")


def test_tiny_widths_match_sparse_weight_counts():
    config = make_config("td3", "tiny", actor=0.9, critic=0.8)
    spec = check_env(config.env)
    agent, effective = build_agent(config, spec)
    dense = dense_weight_counts(config, spec)
    for name, sparsity in (("actor", 0.9), ("critic", 0.8)):
        weights = sum(w.numel() for w in linear_weights(getattr(agent, name)))
        width = effective["tiny_hidden"][name]
        assert abs(weights - (1 - sparsity) * dense[name]) <= 2 * (
            width + 10
        )  # closest integer width
        assert agent.updaters()[name].masks is None  # Tiny is dense


def test_sparse_run_summary_counts_sparsity_from_final_weights(tmp_path):
    run_dir = tmp_path / "rigl"
    main(
        [
            "train",
            "--env",
            "Pendulum-v1",
            "--method",
            "rigl",
            "--actor-sparsity",
            "0.9",
            "--critic-sparsity",
            "0.8",
            "--total-steps",
            "800",
            "--eval-every",
            "400",
            "--hidden",
            "32",
            "--topology-interval",
            "50",
            "--run-dir",
            str(run_dir),
            *FAST,
            "--hidden",
            "32",  # after FAST: the last occurrence wins
        ]
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["method"] == "rigl"
    assert summary["actor_sparsity"] == pytest.approx(0.9, abs=2e-3)
    assert summary["critic_sparsity"] == pytest.approx(0.8, abs=2e-3)
    assert summary["actor_target_sparsity"] >= summary["actor_sparsity"] - 1e-9
    assert summary["critic_target_sparsity"] >= summary["critic_sparsity"] - 1e-9
    assert 0 < summary["model_size_ratio"] < 1 and summary["compression_ratio"] == pytest.approx(
        1 / summary["model_size_ratio"]
    )
    assert 0 < summary["train_flops_ratio"] < 1 and 0 < summary["inference_flops_ratio"] < 1
    topo = summary["topology"]
    assert topo["critic"]["topology_updates"] == (800 - 256) // 50
    assert topo["actor"]["topology_updates"] == (800 - 256) // 2 // 50
    assert topo["critic"]["connections_changed"] > 0
    config = json.loads((run_dir / "config.json").read_text())
    assert (
        config["effective"]["topology"] == "rigl"
        and config["effective"]["topology_end_updates"]["critic"] == 544
    )


def test_dense_summary_has_unit_ratios(tmp_path):
    main(
        [
            "train",
            "--env",
            "rlx2test/Counter-v0",
            "--total-steps",
            "300",
            "--eval-every",
            "300",
            "--hidden",
            "16",
            "--run-dir",
            str(tmp_path / "d"),
            *FAST,
        ]
    )
    summary = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert (
        summary["model_size_ratio"] == 1.0
        and summary["train_flops_ratio"] == 1.0
        and summary["actor_sparsity"] < 0.01
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        (
            ["--method", "rigl", "--actor-sparsity", "1.0", "--critic-sparsity", "0.5"],
            "--actor-sparsity must be in [0, 1)",
        ),
        (
            ["--method", "rigl", "--actor-sparsity", "0.5", "--critic-sparsity", "-0.1"],
            "--critic-sparsity must be in [0, 1)",
        ),
        (["--method", "rigl"], "--method rigl needs --actor-sparsity and --critic-sparsity"),
        (
            [
                "--method",
                "set",
                "--actor-sparsity",
                "0.9",
                "--critic-sparsity",
                "0.9",
                "--topology-interval",
                "0",
            ],
            "--topology-interval must be positive",
        ),
        (
            [
                "--method",
                "set",
                "--actor-sparsity",
                "0.9",
                "--critic-sparsity",
                "0.9",
                "--drop-fraction",
                "0",
            ],
            "--drop-fraction must be in (0, 1]",
        ),
        (
            [
                "--method",
                "set",
                "--actor-sparsity",
                "0.9",
                "--critic-sparsity",
                "0.9",
                "--drop-fraction",
                "1.5",
            ],
            "--drop-fraction must be in (0, 1]",
        ),
        (["--method", "rigl", "--preset", "paper"], "--preset paper covers"),
        (
            [
                "--method",
                "rigl",
                "--actor-sparsity",
                "0.9",
                "--critic-sparsity",
                "0.9",
                "--topology",
                "magic",
            ],
            "magic",
        ),
        (
            ["--method", "rigl", "--actor-sparsity", "0.99999", "--critic-sparsity", "0.5"],
            "--actor-sparsity 0.99999: sparsity=0.99999 leaves layer 0",
        ),
    ],
)
def test_sparse_bad_input_exits_2(args, needle, capsys, tmp_path):
    code, err = run_cli(
        ["train", "--env", "Pendulum-v1", "--run-dir", str(tmp_path / "r"), *args], capsys
    )
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "r").exists()


def test_preset_paper_sets_the_tables_sparsities(tmp_path):
    config = TrainConfig(
        env="Hopper-v5", algo="td3", sparse=SparseConfig(method="rlx2", preset="paper")
    )
    assert config.sparsities() == (0.98, 0.95)
    sac = TrainConfig(
        env="Ant-v5",
        algo="sac",
        sparse=SparseConfig(method="rigl", preset="paper", critic_sparsity=0.5),
    )
    assert sac.sparsities() == (0.90, 0.5)  # explicit values win over the preset


def test_cost_command_reproduces_table2_hopper(capsys):
    main(
        [
            "cost",
            "--algo",
            "td3",
            "--obs-dim",
            "11",
            "--act-dim",
            "3",
            "--method",
            "rlx2",
            "--actor-sparsity",
            "0.98",
            "--critic-sparsity",
            "0.95",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert round(report["model_size_ratio"], 3) == 0.040
    assert round(report["train_flops_ratio"], 3) == 0.043
    assert round(report["inference_flops_ratio"], 3) == 0.020
    assert [layer["shape"] for layer in report["actor"]["layers"]] == [
        [256, 11],
        [256, 256],
        [3, 256],
    ]
    assert sum(layer["active"] for layer in report["actor"]["layers"]) == round(
        0.02 * (11 * 256 + 256 * 256 + 256 * 3)
    )


def test_cost_command_bad_input(capsys):
    code, err = run_cli(["cost", "--method", "rigl"], capsys)
    assert code == 2 and "give --env or both --obs-dim and --act-dim" in err
    code, err = run_cli(["cost", "--env", "Pendulum-v1", "--method", "rigl"], capsys)
    assert code == 2 and "--preset paper covers" in err


@pytest.mark.parametrize(("method", "nstep"), [("rlx2", 3), ("rigl", 1)])
def test_cost_command_counts_the_n_step_target_a_run_of_the_method_uses(capsys, method, nstep):
    """SAC's training FLOPs depend on n; without --nstep, `rlx2 cost` counts the n that `rlx2
    train` resolves for the method (3 with RLx2's value learning, 1 without)."""
    from rlx2.sparse.accounting import cost_report

    main(
        ["cost", "--algo", "sac", "--obs-dim", "17", "--act-dim", "6", "--method", method]
        + ["--actor-sparsity", "0.9", "--critic-sparsity", "0.8"]
    )
    printed = json.loads(capsys.readouterr().out)
    expected, other = (cost_report("sac", 17, 6, method, 0.9, 0.8, n) for n in (nstep, 4 - nstep))
    assert expected["train_flops_ratio"] != other["train_flops_ratio"]  # n is visible
    assert printed == json.loads(json.dumps(expected))
