"""One source of network shapes: the networks that train, the allocation, Tiny and `rlx2 cost`
agree (issue 10: `rlx2 cost --algo sac` counted an actor with |A| outputs, the trained one has
2·|A|, and its Tiny-SAC width differed from training's; accounting ignored --policy-delay)."""

import json

import numpy as np
import pytest
import torch

from rlx2.cli import main
from rlx2.config import AgentConfig, RunConfig, SparseConfig, TD3Config, TrainConfig
from rlx2.shapes import actor_shapes, critic_shapes, mlp_shapes, network_shapes
from rlx2.sparse.accounting import cost_report
from rlx2.sparse.kernels import weight_matrices
from rlx2.train.builders import build_agent
from rlx2.train.envs import EnvSpec

HOPPER = EnvSpec(
    env_id="Hopper-v5",
    obs_dim=11,
    act_dim=3,
    low=-np.ones(3, dtype=np.float32),
    high=np.ones(3, dtype=np.float32),
    max_episode_steps=1000,
)


def built(algo, method, **run):
    config = TrainConfig(
        env="Hopper-v5",
        algo=algo,
        run=RunConfig(total_steps=10_000, learning_starts=1_000, **run),
        agent=AgentConfig(),
        sparse=SparseConfig(method=method, preset="paper"),
    )
    torch.manual_seed(0)
    return build_agent(config, HOPPER)


def test_shape_functions_against_hand_written_layers():
    assert mlp_shapes(11, 3, 256) == [(256, 11), (256, 256), (3, 256)]
    assert actor_shapes("td3", 11, 3, 256) == [(256, 11), (256, 256), (3, 256)]
    assert actor_shapes("sac", 11, 3, 256) == [(256, 11), (256, 256), (6, 256)]
    head = [(256, 14), (256, 256), (1, 256)]
    assert critic_shapes(11, 3, 256) == head + head
    shapes = network_shapes("sac", 11, 3, 256)
    assert shapes.weights("actor") == 11 * 256 + 256 * 256 + 256 * 6 == 69_888
    assert shapes.weights("critic") == 2 * (14 * 256 + 256 * 256 + 256)


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("method", ["rigl", "tiny"])
def test_cost_network_block_is_the_network_that_trains(algo, method):
    agent, effective = built(algo, method, backend="masked" if method == "rigl" else "auto")
    report = cost_report(algo, 11, 3, method, 0.98, 0.95)["network"]
    for name in ("actor", "critic"):
        weights = weight_matrices(getattr(agent, name))
        block = report[name]
        assert [layer["shape"] for layer in block["layers"]] == [list(w.shape) for w in weights]
        assert block["active"] == sum(int(torch.count_nonzero(w)) for w in weights)
        assert [layer["active"] for layer in block["layers"]] == [
            int(torch.count_nonzero(w)) for w in weights
        ]
        full = network_shapes(algo, 11, 3, 256)
        assert block["dense_weights"] == full.weights(name)
        if method == "tiny":
            assert block["hidden"] == effective["tiny_hidden"][name]


def test_sac_paper_convention_and_network_differ_as_documented():
    report = cost_report("sac", 11, 3, "tiny", 0.98, 0.95)
    # The paper's convention: an actor with |A| outputs (reproduces Table 2).
    assert report["convention"] == "paper" and report["actor"]["dense_weights"] == 69_120
    # The network that trains: 2·|A| outputs, and the Tiny width training uses.
    assert report["network"]["actor"]["dense_weights"] == 69_888
    assert report["actor"]["hidden"] == 31 and report["network"]["actor"]["hidden"] == 30
    _, effective = built("sac", "tiny")
    assert effective["tiny_hidden"]["actor"] == 30


def test_network_flops_follow_the_policy_delay():
    """The "network" training FLOPs against a brute-force count of each pass of a TD3 update."""

    def brute(a, c, delay):
        # per iteration: target actor, target critic, critic fwd + bwd; every delay-th: actor
        # fwd + bwd, Q1 forward (half the critic) and its input-gradient backward.
        per_iteration = a + c + 3 * c
        per_actor_update = 3 * a + 0.5 * c + 0.5 * c
        return 2 * (per_iteration + per_actor_update / delay)

    ratios = {}
    for delay in (1, 2, 3):
        r = cost_report("td3", 17, 6, "rigl", 0.9, 0.85, policy_delay=delay)["network"]
        a, c = r["actor"]["active"], r["critic"]["active"]
        A, C = r["actor"]["dense_weights"], r["critic"]["dense_weights"]
        assert r["flops"]["train_per_iteration_per_sample"] == pytest.approx(brute(a, c, delay))
        assert r["train_flops_ratio"] == pytest.approx(brute(a, c, delay) / brute(A, C, delay))
        assert r["policy_delay"] == delay
        ratios[delay] = r["train_flops_ratio"]
    assert len(set(ratios.values())) == 3
    # The paper's convention stays at its fixed delay 2 whatever the option.
    paper = {
        cost_report("td3", 17, 6, "rigl", 0.9, 0.85, policy_delay=d)["train_flops_ratio"]
        for d in (1, 3)
    }
    assert len(paper) == 1


def test_training_summary_reports_both_conventions(tmp_path):
    run_dir = tmp_path / "run"
    main([
        "train", "--env", "Pendulum-v1", "--algo", "td3", "--method", "rigl",
        "--actor-sparsity", "0.8", "--critic-sparsity", "0.8", "--policy-delay", "3",
        "--total-steps", "400", "--learning-starts", "256", "--batch-size", "32",
        "--eval-every", "400", "--eval-episodes", "1", "--hidden", "16", "--quiet",
        "--run-dir", str(run_dir),
    ])  # fmt: skip
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["network"]["convention"] == "network"
    assert summary["network"]["train_flops_ratio"] != summary["train_flops_ratio"]
    config = json.loads((run_dir / "config.json").read_text())
    networks = config["effective"]["networks"]
    assert networks["actor"]["shapes"] == [[16, 3], [16, 16], [1, 16]]
    assert sum(networks["critic"]["active"]) == summary["active_weights"]["critic"]


def test_cost_cli_prints_the_network_block(capsys):
    main(["cost", "--algo", "sac", "--obs-dim", "11", "--act-dim", "3", "--method", "rlx2",
          "--actor-sparsity", "0.98", "--critic-sparsity", "0.95"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert report["network"]["actor"]["dense_weights"] == 69_888
    assert report["actor"]["dense_weights"] == 69_120


def test_policy_delay_default_has_one_source():
    assert TD3Config().policy_delay == 2
