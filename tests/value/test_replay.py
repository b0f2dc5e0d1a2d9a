"""Replay buffer: traceable fixtures where observation = insertion index (spec §5, §6)."""

import io

import numpy as np
import pytest
import torch

from rlx2.errors import ConfigError
from rlx2.value.replay import Batch, ReplayBuffer


def add_index(buffer, i, terminated=False, truncated=False, final_obs=None):
    """Transition i: obs = i, action = -i, reward = i, next_obs = i + 1 (or final_obs),
    behaviour action = 10 i, so every field says which transition it came from."""
    obs_dim, act_dim = buffer.obs_dim, buffer.act_dim
    next_obs = np.full(obs_dim, i + 1.0) if final_obs is None else final_obs
    buffer.add(
        np.full(obs_dim, float(i)),
        np.full(act_dim, -float(i)),
        float(i),
        next_obs,
        terminated,
        truncated,
        np.full(act_dim, 10.0 * i),
    )


def stored_indices(buffer, total):
    return set(range(total - len(buffer), total))


def check_windows(batch: Batch, n, stored):
    starts = batch.obs[:, 0].long()
    expected = starts[:, None] + torch.arange(n)  # [B, n]
    assert torch.equal(batch.rewards.long(), expected)  # consecutive in insertion order
    assert torch.equal(batch.next_obs[:, :, 0].long(), expected + 1)
    assert torch.equal(batch.actions[:, 0], -batch.obs[:, 0])
    assert set(expected.flatten().tolist()) <= stored  # never across the head or a wrap


def test_batch_layout():
    buffer = ReplayBuffer(obs_dim=3, act_dim=2, capacity=10, seed=0)
    for i in range(6):
        add_index(buffer, i, terminated=(i == 2), truncated=(i == 4))
    batch = buffer.sample(batch_size=5, n=3)
    assert batch.obs.shape == (5, 3) and batch.actions.shape == (5, 2)
    assert batch.rewards.shape == batch.terminated.shape == batch.truncated.shape == (5, 3)
    assert batch.next_obs.shape == (5, 3, 3)
    for field in vars(batch).values():
        assert field.dtype == torch.float32 and field.device.type == "cpu"
    positions = batch.rewards.long()
    assert torch.equal(batch.terminated, (positions == 2).float())
    assert torch.equal(batch.truncated, (positions == 4).float())
    assert buffer.sample(4).rewards.shape == (4, 1)


def test_windows_never_cross_head_or_wrap():
    buffer = ReplayBuffer(obs_dim=1, act_dim=1, capacity=7, seed=1)
    rng = np.random.default_rng(0)
    for i in range(200):  # ~28 laps of the ring
        add_index(buffer, i)
        if i % 13 == 12 and len(buffer) > 2:
            buffer.drop_oldest(int(rng.integers(1, len(buffer) - 1)))
        stored = stored_indices(buffer, i + 1)
        for n in range(1, 8):
            if len(buffer) < n:
                with pytest.raises(RuntimeError, match="cannot sample"):
                    buffer.sample(4, n)
                continue
            check_windows(buffer.sample(16, n), n, stored)


def test_every_valid_start_is_drawn_uniformly():
    buffer = ReplayBuffer(obs_dim=1, act_dim=1, capacity=8, seed=2)
    for i in range(13):  # wrapped: stores 5..12
        add_index(buffer, i)
    starts = buffer.sample(6000, n=3).obs[:, 0].long()
    counts = torch.bincount(starts - 5, minlength=6)
    assert counts.shape == (6,)  # valid starts 5..10: the 2 newest cannot start a window
    assert counts.min() > 850 and counts.max() < 1150


def test_truncated_step_keeps_its_final_obs():
    buffer = ReplayBuffer(obs_dim=2, act_dim=1, capacity=4, seed=3)
    add_index(buffer, 0)
    add_index(buffer, 1, truncated=True, final_obs=np.array([-7.0, -7.0]))
    add_index(buffer, 2)  # the next episode starts at obs 2, not at the final obs
    batch = buffer.sample(32, n=2)
    ends = batch.truncated[:, 0] == 1  # windows starting at transition 1
    assert ends.any()
    assert torch.equal(batch.next_obs[ends, 0], torch.full((int(ends.sum()), 2), -7.0))
    assert torch.equal(batch.obs[ends], torch.full((int(ends.sum()), 2), 1.0))


def test_drop_oldest_then_sample():
    buffer = ReplayBuffer(obs_dim=1, act_dim=2, capacity=10, seed=4)
    for i in range(15):  # stores 5..14
        add_index(buffer, i)
    buffer.drop_oldest(4)  # stores 9..14
    assert len(buffer) == 6
    obs, behaviour = buffer.oldest(2)
    assert obs[:, 0].tolist() == [9.0, 10.0]
    assert behaviour.tolist() == [[90.0, 90.0], [100.0, 100.0]]
    check_windows(buffer.sample(200, n=2), 2, stored_indices(buffer, 15))
    for i in range(15, 19):  # refills free rows without touching stored ones
        add_index(buffer, i)
    assert len(buffer) == 10
    check_windows(buffer.sample(200, n=3), 3, set(range(9, 19)))
    buffer.drop_oldest(0)
    assert len(buffer) == 10


def test_sample_does_not_alias_storage():
    buffer = ReplayBuffer(obs_dim=1, act_dim=1, capacity=2, seed=5)
    add_index(buffer, 0)
    batch = buffer.sample(1)
    add_index(buffer, 1)
    add_index(buffer, 2)  # overwrites row 0
    assert batch.obs.item() == 0.0


def test_nbytes_and_ant_memory():
    # Per transition: obs + next_obs (2 x 105) + action + behaviour (2 x 8) + 3 scalars, float32.
    assert ReplayBuffer(obs_dim=105, act_dim=8, capacity=1000).nbytes == 916 * 1000


def test_state_dict_round_trip():
    source = ReplayBuffer(obs_dim=2, act_dim=1, capacity=9, seed=6)
    for i in range(23):
        add_index(source, i, terminated=(i % 5 == 0), truncated=(i % 7 == 0))
    source.drop_oldest(3)
    stream = io.BytesIO()
    torch.save(source.state_dict(), stream)
    stream.seek(0)
    restored = ReplayBuffer(obs_dim=2, act_dim=1, capacity=9, seed=123)
    restored.load_state_dict(torch.load(stream, weights_only=True))
    assert len(restored) == len(source)
    for step in range(5):
        for n in (1, 3):
            a, b = source.sample(8, n), restored.sample(8, n)
            for name in vars(a):
                assert torch.equal(getattr(a, name), getattr(b, name)), name
        add_index(source, 23 + step)
        add_index(restored, 23 + step)
    assert all(
        np.array_equal(x, y) for x, y in zip(source.oldest(5), restored.oldest(5), strict=True)
    )


def test_load_into_wrong_shape():
    state = ReplayBuffer(obs_dim=2, act_dim=1, capacity=9).state_dict()
    with pytest.raises(ConfigError, match="capacity"):
        ReplayBuffer(obs_dim=2, act_dim=1, capacity=8).load_state_dict(state)
    with pytest.raises(ConfigError, match="obs_dim"):
        ReplayBuffer(obs_dim=3, act_dim=1, capacity=9).load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"obs_dim": 0, "act_dim": 1, "capacity": 5}, "obs_dim"),
        ({"obs_dim": 1, "act_dim": 0, "capacity": 5}, "act_dim"),
        ({"obs_dim": 1, "act_dim": 1, "capacity": 0}, "capacity"),
        ({"obs_dim": 1, "act_dim": 1, "capacity": 2.5}, "capacity"),
    ],
)
def test_constructor_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        ReplayBuffer(**kwargs)


def test_usage_errors():
    buffer = ReplayBuffer(obs_dim=2, act_dim=1, capacity=4, seed=0)
    with pytest.raises(ConfigError, match="obs must have 2"):
        buffer.add(np.zeros(3), np.zeros(1), 0.0, np.zeros(2), False, False, np.zeros(1))
    with pytest.raises(ConfigError, match="behaviour_action"):
        buffer.add(np.zeros(2), np.zeros(1), 0.0, np.zeros(2), False, False, np.zeros(2))
    with pytest.raises(RuntimeError, match="holds 0"):
        buffer.sample(1)
    add_index(buffer, 0)
    with pytest.raises(ConfigError, match="batch_size"):
        buffer.sample(0)
    with pytest.raises(ConfigError, match="n must"):
        buffer.sample(1, n=0)
    with pytest.raises(ConfigError, match="exceeds the buffer capacity"):
        buffer.sample(1, n=5)
    with pytest.raises(ConfigError, match="count=2"):
        buffer.drop_oldest(2)
    with pytest.raises(ConfigError, match="count must"):
        buffer.drop_oldest(-1)
    with pytest.raises(ConfigError, match="k=2"):
        buffer.oldest(2)


def test_n1_equals_plain_uniform_buffer():
    # Same RNG stream as a plain buffer that draws rows uniformly among the stored ones.
    buffer = ReplayBuffer(obs_dim=1, act_dim=1, capacity=6, seed=7)
    for i in range(9):  # stores 3..8 in rows 3,4,5,0,1,2
        add_index(buffer, i)
    plain_rng = np.random.default_rng(7)
    for _ in range(3):
        expected = 3 + plain_rng.integers(0, 6, size=10)
        batch = buffer.sample(10)
        assert batch.obs[:, 0].long().tolist() == expected.tolist()
        assert batch.next_obs[:, 0, 0].long().tolist() == (expected + 1).tolist()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_land_on_the_buffer_device():
    buffer = ReplayBuffer(obs_dim=2, act_dim=1, capacity=4, seed=0, device="cuda")
    for i in range(4):
        add_index(buffer, i)
    batch = buffer.sample(3, n=2)
    assert all(field.device.type == "cuda" for field in vars(batch).values())


def test_truncate_newest_cuts_windows_at_the_resume_point():
    from rlx2.value.targets import window_end_index

    buffer = ReplayBuffer(obs_dim=1, act_dim=1, capacity=8, seed=0)
    for i in range(5):
        buffer.add([i], [0.0], 1.0, [i + 1], False, False, [0.0])
    buffer.truncate_newest()
    for i in range(5, 8):
        buffer.add([i], [0.0], 1.0, [i + 1], False, False, [0.0])
    batch = buffer.sample(256, n=3)
    starts = batch.obs[:, 0].long()
    last = window_end_index(batch.terminated, batch.truncated)
    for start, m in zip(starts.tolist(), last.tolist(), strict=True):
        assert start + m <= 4 or start >= 5  # no window uses transitions on both sides of index 4
    assert ReplayBuffer(obs_dim=1, act_dim=1, capacity=2).truncate_newest() is None  # empty: no-op
