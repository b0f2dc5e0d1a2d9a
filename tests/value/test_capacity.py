"""Policy distance by hand and the shrink controller on an observation = index buffer (spec §6)."""

import numpy as np
import pytest
import torch

from rlx2.errors import ConfigError
from rlx2.value.capacity import (
    CapacityCheck,
    DynamicCapacity,
    DynamicCapacityConfig,
    policy_distance,
)
from rlx2.value.replay import ReplayBuffer

POLICY = [[1.0, 0.0], [0.0, 0.0]]
BEHAVIOUR = [[0.0, 0.0], [0.0, 1.0]]


def test_reference_distance_by_hand():
    # ((1/2)² + 0 + 0 + (1/2)²) / 4 entries / 2 = 0.0625
    assert policy_distance(np.array(POLICY), np.array(BEHAVIOUR), 2.0) == pytest.approx(0.0625)
    # per-dim max_action [1, 2]: (1² + (1/2)²) / 4 / 2 = 0.15625
    assert policy_distance(POLICY, BEHAVIOUR, np.array([1.0, 2.0])) == pytest.approx(0.15625)


def test_l2_distance_by_hand():
    # rows differ by (1, 0) and (0, -1): (1 + 1) / 2 = 1, in raw action units
    assert policy_distance(POLICY, BEHAVIOUR, 2.0, form="l2") == pytest.approx(1.0)
    assert policy_distance([[3.0, 4.0]], [[0.0, 0.0]], 1.0, form="l2") == pytest.approx(5.0)


def test_distance_accepts_torch():
    got = policy_distance(torch.tensor(POLICY), torch.tensor(BEHAVIOUR), torch.tensor([1.0, 2.0]))
    assert isinstance(got, float) and got == pytest.approx(0.15625)


def test_distance_errors():
    with pytest.raises(ConfigError, match="distance form"):
        policy_distance(POLICY, BEHAVIOUR, 1.0, form="mse")
    with pytest.raises(ConfigError, match="K, act_dim"):
        policy_distance(POLICY, [[0.0, 0.0]], 1.0)
    with pytest.raises(ConfigError, match="max_action"):
        policy_distance(POLICY, BEHAVIOUR, 0.0)
    with pytest.raises(ConfigError, match="max_action"):
        policy_distance(POLICY, BEHAVIOUR, [1.0, 1.0, 1.0])


def filled(size, capacity=None):
    """obs = index 0..size-1, behaviour action = 10 x index."""
    buffer = ReplayBuffer(obs_dim=1, act_dim=1, capacity=capacity or size, seed=0)
    for i in range(size):
        buffer.add([i], [0.0], 0.0, [i + 1], False, False, [10.0 * i])
    return buffer


def small(**overrides):
    fields = dict(
        threshold=0.2, buffer_check_interval=10, num_oldest=8, buffer_min=40, buffer_max=200
    )
    return DynamicCapacityConfig(**(fields | overrides))


def constant(distance):
    calls = []

    def distance_fn(obs, behaviour_actions):
        calls.append((obs.copy(), behaviour_actions.copy()))
        return distance

    distance_fn.calls = calls
    return distance_fn


def test_checks_only_at_interval_with_enough_data():
    controller, far = DynamicCapacity(small()), constant(1.0)
    assert controller.maybe_shrink(15, filled(100), far) is None
    assert controller.maybe_shrink(10, filled(7), far) is None  # fewer than num_oldest
    assert far.calls == []


def test_distance_fn_sees_oldest_obs_and_behaviour_actions():
    buffer, far = filled(100), constant(0.0)
    buffer.drop_oldest(30)
    DynamicCapacity(small()).maybe_shrink(20, buffer, far)
    obs, behaviour = far.calls[0]
    assert obs[:, 0].tolist() == list(range(30, 38))
    assert behaviour[:, 0].tolist() == [10.0 * i for i in range(30, 38)]


def test_no_shrink_at_or_below_threshold():
    buffer = filled(100)
    check = DynamicCapacity(small()).maybe_shrink(0, buffer, constant(0.2))
    assert check == CapacityCheck(step=0, distance=0.2, size_before=100, size_after=100)


def test_fraction_drops_oldest_tenth():
    buffer = filled(100)
    controller = DynamicCapacity(small())
    check = controller.maybe_shrink(10, buffer, constant(0.5))
    assert (check.size_before, check.size_after, len(buffer)) == (100, 90, 90)
    assert buffer.oldest(1)[0].item() == 10.0  # the 10 oldest went first
    assert controller.last_check == check


def test_fraction_never_below_min():
    buffer, controller = filled(100), DynamicCapacity(small(buffer_min=85))
    assert controller.maybe_shrink(10, buffer, constant(0.5)).size_after == 90
    assert controller.maybe_shrink(20, buffer, constant(0.5)).size_after == 85
    check = controller.maybe_shrink(30, buffer, constant(0.5))
    assert check.size_after == 85 and check.distance == 0.5  # at min: measured, not shrunk
    assert buffer.oldest(1)[0].item() == 15.0


def stale_below(boundary):
    """Distance 1 while any of the K oldest transitions is older than `boundary`."""
    return lambda obs, behaviour_actions: float(obs.min() < boundary)


def test_until_below_pops_oldest_chunks():
    buffer = filled(100)
    check = DynamicCapacity(small(shrink="until_below")).maybe_shrink(0, buffer, stale_below(20))
    # chunks of num_oldest = 8: after 3 chunks the oldest is 24 >= 20, distance 0
    assert check == CapacityCheck(step=0, distance=1.0, size_before=100, size_after=76)
    assert buffer.oldest(1)[0].item() == 24.0


def test_until_below_stops_at_min():
    buffer = filled(100)
    controller = DynamicCapacity(small(shrink="until_below", buffer_min=45))
    assert controller.maybe_shrink(0, buffer, constant(1.0)).size_after == 45
    assert buffer.oldest(1)[0].item() == 55.0
    check = controller.maybe_shrink(10, buffer, constant(1.0))
    assert check.size_before == check.size_after == 45


def test_policy_distance_end_to_end():
    # behaviour actions 10 i vs a policy that outputs 10 i + 1: reference D = ½ (1/2)² = 0.125
    buffer, controller = filled(100), DynamicCapacity(small(threshold=0.1))
    fn = lambda obs, behaviour: controller.distance(10 * obs + 1, behaviour, 2.0)  # noqa: E731
    check = controller.maybe_shrink(0, buffer, fn)
    assert check.distance == pytest.approx(0.125) and check.size_after == 90


def test_state_dict_round_trip():
    controller = DynamicCapacity(small())
    assert controller.state_dict() == {"last_check": None}
    controller.maybe_shrink(10, filled(100), constant(0.5))
    restored = DynamicCapacity(small())
    restored.load_state_dict(controller.state_dict())
    assert restored.last_check == controller.last_check == CapacityCheck(10, 0.5, 100, 90)


def test_defaults_are_reference_td3():
    config = DynamicCapacityConfig()
    assert (config.threshold, config.buffer_check_interval, config.num_oldest) == (
        0.2,
        10_000,
        2048,
    )
    assert (config.buffer_min, config.buffer_max) == (100_000, 1_000_000)
    assert (config.shrink, config.shrink_fraction, config.distance_form) == (
        "fraction",
        0.1,
        "reference",
    )


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"buffer_check_interval": 0}, "buffer_check_interval"),
        ({"num_oldest": 0}, "num_oldest"),
        ({"num_oldest": 201}, "num_oldest"),
        ({"buffer_min": 201}, "buffer_min"),
        ({"buffer_min": -1}, "buffer_min"),
        ({"buffer_max": 0}, "buffer_max"),
        ({"shrink_fraction": 0.0}, "shrink_fraction"),
        ({"shrink_fraction": 1.0}, "shrink_fraction"),
        ({"shrink": "halve"}, "shrink must"),
        ({"distance_form": "mse"}, "distance_form"),
    ],
)
def test_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        small(**overrides)


def test_controller_errors():
    with pytest.raises(ConfigError, match="config"):
        DynamicCapacity({"threshold": 0.2})
    with pytest.raises(ConfigError, match="step"):
        DynamicCapacity(small()).maybe_shrink(-10, filled(10), constant(0.0))
