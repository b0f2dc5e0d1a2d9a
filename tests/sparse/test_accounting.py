"""Size and FLOPs accounting: Table 2 of the paper from the per-task sparsities (spec §9)."""

import json

import pytest
import torch
from torch import nn

from rlx2.errors import ConfigError
from rlx2.sparse.accounting import (
    actor_shapes,
    cost_report,
    critic_shapes,
    measured_layer_sparsities,
    measured_network_sparsity,
    training_passes,
)
from rlx2.sparse.allocation import erdos_renyi_active_counts
from rlx2.sparse.masks import MaskSet
from rlx2.sparse.tiny import tiny_hidden_width

torch.set_num_threads(1)

V3_DIMS = {"HalfCheetah": (17, 6), "Hopper": (11, 3), "Walker2d": (17, 6), "Ant": (111, 8)}
# docs/reference-numbers.md: per-task (actor, critic) sparsities and Table 2 (size, train, inference).
SPARSITIES = {
    "td3": {
        "HalfCheetah": (0.90, 0.85),
        "Hopper": (0.98, 0.95),
        "Walker2d": (0.97, 0.95),
        "Ant": (0.96, 0.88),
    },
    "sac": {
        "HalfCheetah": (0.90, 0.80),
        "Hopper": (0.98, 0.95),
        "Walker2d": (0.90, 0.90),
        "Ant": (0.90, 0.75),
    },
}
TABLE_2 = {
    "td3": {
        "HalfCheetah": (0.133, 0.138, 0.100),
        "Hopper": (0.040, 0.043, 0.020),
        "Walker2d": (0.043, 0.045, 0.030),
        "Ant": (0.093, 0.100, 0.040),
        "average": (0.077, 0.081, 0.048),
    },
    "sac": {
        "HalfCheetah": (0.180, 0.197, 0.100),
        "Hopper": (0.044, 0.048, 0.020),
        "Walker2d": (0.100, 0.113, 0.100),
        "Ant": (0.220, 0.239, 0.100),
        "average": (0.136, 0.149, 0.080),
    },
}
COLUMNS = ("model_size_ratio", "train_flops_ratio", "inference_flops_ratio")


def rlx2_report(algo, task):
    obs, act = V3_DIMS[task]
    return cost_report(algo, obs, act, "rlx2", *SPARSITIES[algo][task], nstep=3)


@pytest.mark.parametrize("algo", ["td3", "sac"])
@pytest.mark.parametrize("task", list(V3_DIMS))
def test_table_2_is_reproduced(algo, task):
    report = rlx2_report(algo, task)
    for column, expected in zip(COLUMNS, TABLE_2[algo][task], strict=True):
        assert report[column] == pytest.approx(expected, abs=1e-3), column


@pytest.mark.parametrize("algo", ["td3", "sac"])
def test_table_2_averages_are_reproduced(algo):
    reports = [rlx2_report(algo, task) for task in V3_DIMS]
    for i, column in enumerate(COLUMNS):
        mean = sum(r[column] for r in reports) / len(reports)
        assert mean == pytest.approx(TABLE_2[algo]["average"][i], abs=1e-3), column


def test_paper_formulas_hold_exactly():
    # TD3: (2a + 3c)/(2A + 3C) for any n; SAC n=3 vs dense 1-step: (4.5a + 6.5c)/(2.5A + 6.5C).
    A, C = sum(o * i for o, i in actor_shapes(17, 6)), sum(o * i for o, i in critic_shapes(17, 6))
    for nstep in (1, 3, 5):
        r = cost_report("td3", 17, 6, "rigl", 0.9, 0.85, nstep=nstep)
        a, c = r["actor"]["active"], r["critic"]["active"]
        assert r["train_flops_ratio"] == pytest.approx((2 * a + 3 * c) / (2 * A + 3 * C), rel=1e-12)
    r = cost_report("sac", 17, 6, "rlx2", 0.9, 0.8, nstep=3)
    a, c = r["actor"]["active"], r["critic"]["active"]
    assert r["train_flops_ratio"] == pytest.approx(
        (4.5 * a + 6.5 * c) / (2.5 * A + 6.5 * C), rel=1e-12
    )
    assert r["model_size_ratio"] == pytest.approx((a + 2 * c) / (A + 2 * C), rel=1e-12)


def test_sac_extra_next_states_cost_one_actor_forward_each():
    assert training_passes("sac", 1).actor + 2 == training_passes("sac", 3).actor
    assert training_passes("sac", 1).critic == training_passes("sac", 5).critic
    assert training_passes("td3", 1) == training_passes("td3", 4)


def test_report_blocks_use_exact_er_counts():
    r = rlx2_report("td3", "HalfCheetah")
    shapes = critic_shapes(17, 6)
    assert [layer["active"] for layer in r["critic"]["layers"]] == erdos_renyi_active_counts(
        shapes, 0.85
    )
    assert [layer["shape"] for layer in r["critic"]["layers"]] == [list(s) for s in shapes]
    assert r["actor"]["sparsity"] == pytest.approx(
        1 - r["actor"]["active"] / r["actor"]["dense_weights"]
    )
    assert r["compression_ratio"] == pytest.approx(1 / r["model_size_ratio"])
    json.dumps(r)  # JSON-serialisable


def test_dense_is_all_ones():
    r = cost_report("sac", 11, 3, "dense", 0.98, 0.95)
    for column in (*COLUMNS, "compression_ratio"):
        assert r[column] == 1.0
    assert r["actor"]["sparsity"] == 0.0


def test_tiny_reports_its_own_width():
    r = cost_report("td3", 11, 3, "tiny", 0.98, 0.95)
    h = tiny_hidden_width(11, 3, sum(erdos_renyi_active_counts(actor_shapes(11, 3), 0.98)))
    assert r["actor"]["hidden"] == h
    assert r["actor"]["active"] == 11 * h + h * h + h * 3
    assert all(layer["sparsity"] == 0.0 for layer in r["actor"]["layers"])
    assert r["inference_flops_ratio"] == pytest.approx(
        r["actor"]["active"] / (11 * 256 + 256 * 256 + 256 * 3)
    )
    assert r["model_size_ratio"] == pytest.approx(
        0.040, abs=0.005
    )  # close to the sparse model's size
    assert cost_report("td3", 11, 3, "tiny+", 0.98, 0.95, nstep=3)["actor"]["hidden"] == h


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"algo": "ppo"}, "algo='ppo' is unknown; valid: td3, sac"),
        ({"method": "gmp"}, "method='gmp' is unknown"),
        ({"nstep": 0}, "nstep=0"),
        ({"actor_sparsity": 1.0}, r"sparsity=1\.0"),
        ({"distribution": "erk"}, "distribution='erk'"),
        ({"obs_dim": 0}, "obs_dim=0"),
    ],
)
def test_invalid_inputs_are_rejected(kwargs, match):
    args = {
        "algo": "td3",
        "obs_dim": 11,
        "act_dim": 3,
        "method": "rlx2",
        "actor_sparsity": 0.9,
        "critic_sparsity": 0.9,
        **kwargs,
    }
    with pytest.raises(ConfigError, match=match):
        cost_report(**args)


def test_measured_sparsity_helpers():
    net = nn.Sequential(
        nn.Linear(11, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
    )
    masks = MaskSet.for_module(net, 0.8)
    assert measured_network_sparsity(net) == pytest.approx(masks.sparsity())
    expected = [1 - n / (o * i) for n, (o, i) in zip(masks.num_active(), masks.shapes, strict=True)]
    assert measured_layer_sparsities(net) == pytest.approx(expected)
