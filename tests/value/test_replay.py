"""Replay buffer: traceable fixtures where observation = insertion index (spec §5, §6)."""

import io
import subprocess
import sys

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
    # Per transition: obs (105) + action (8) + behaviour (8) + reward, float32; a flags byte and
    # an int32 side-store index. Before next_obs was derived and the flags packed: 916.
    ant = ReplayBuffer(obs_dim=105, act_dim=8, capacity=1000)
    assert ant.bytes_per_transition == 4 * (105 + 8 + 8 + 1) + 1 + 4 == 493
    assert ant.nbytes == 493 * 1000
    lean = ReplayBuffer(obs_dim=105, act_dim=8, capacity=1000, behaviour_actions=False)
    assert lean.bytes_per_transition == lean.nbytes // 1000 == 493 - 32
    # Hopper: 124 bytes before; 77 with behaviour actions (RLx2), 65 without (the rest).
    assert ReplayBuffer(obs_dim=11, act_dim=3, capacity=10).bytes_per_transition == 77
    assert ReplayBuffer(11, 3, 10, behaviour_actions=False).bytes_per_transition == 65
    # An episode end keeps its final observation in the side store (grown in blocks of 16).
    for i in range(40):
        add_index(ant, i, terminated=(i % 10 == 9))
    assert ant.nbytes == 493 * 1000 + 16 * 105 * 4


class ListBuffer:
    """The brute-force reference: every transition as given, in a list; the stored ones are
    the last ``size``; windows are read straight from the list."""

    def __init__(self):
        self.transitions, self.size = [], 0

    def add(self, *transition, capacity):
        self.transitions.append(transition)
        self.size = min(self.size + 1, capacity)

    def window(self, start, n):
        fields = list(zip(*self.transitions[start : start + n], strict=True))
        obs, action, reward, next_obs, terminated, truncated, behaviour = fields
        return obs[0], action[0], reward, next_obs, terminated, truncated


def random_observation(rng, dim):
    obs = rng.normal(size=dim).astype(np.float32)
    special = rng.random(dim)
    obs[special < 0.05] = -0.0  # bitwise different from 0.0, equal as numbers
    obs[(special > 0.05) & (special < 0.08)] = np.nan
    return obs


@pytest.mark.parametrize("capacity", [1, 5, 64])
@pytest.mark.parametrize("behaviour", [True, False])
def test_windows_hold_exactly_what_was_added(capacity, behaviour):
    """Episodes of random length ending in termination, truncation or both, observations
    that jump without an episode end, -0.0 and NaN entries, drops, wraps and a resume cut:
    every sampled field is bit for bit the transition added, next_obs included."""
    rng = np.random.default_rng(capacity)
    obs_dim, act_dim = 3, 2
    buffer = ReplayBuffer(obs_dim, act_dim, capacity, seed=1, behaviour_actions=behaviour)
    reference = ListBuffer()
    obs = random_observation(rng, obs_dim)
    for i in range(400):
        action = rng.normal(size=act_dim).astype(np.float32)
        next_obs = random_observation(rng, obs_dim)
        terminated, truncated = bool(rng.random() < 0.08), bool(rng.random() < 0.05)
        transition = (obs, action, np.float32(rng.normal()), next_obs, terminated, truncated)
        behaviour_action = rng.normal(size=act_dim).astype(np.float32)
        buffer.add(*transition, behaviour_action)
        reference.add(*transition, behaviour_action, capacity=capacity)
        if terminated or truncated:
            obs = random_observation(rng, obs_dim)  # reset
        elif rng.random() < 0.03:
            obs = random_observation(rng, obs_dim)  # a jump the buffer cannot know about
        elif next_obs[0].tobytes() == np.float32(-0.0).tobytes() and rng.random() < 0.5:
            obs = next_obs.copy()
            obs[0] = 0.0  # equal as numbers, not bit for bit: a jump too
        else:
            obs = next_obs
        if i % 37 == 36 and len(buffer) > 1:
            count = int(rng.integers(1, len(buffer)))
            buffer.drop_oldest(count)
            reference.size -= count
        if i == 200:
            buffer.truncate_newest()
            reference.transitions[-1] = (
                *reference.transitions[-1][:5],
                True,
                *reference.transitions[-1][6:],
            )
        assert len(buffer) == reference.size
        for n in {1, min(3, len(buffer))}:
            batch = buffer.sample(8, n)
            oldest = len(reference.transitions) - reference.size
            for b in range(8):
                # The start: the stored window whose first obs and action match.
                starts = [
                    s
                    for s in range(oldest, len(reference.transitions) - n + 1)
                    if reference.transitions[s][0].tobytes() == batch.obs[b].numpy().tobytes()
                    and reference.transitions[s][1].tobytes() == batch.actions[b].numpy().tobytes()
                ]
                assert starts, "a window that is not stored"
                o, a, r, nxt, term, trunc = reference.window(starts[0], n)
                assert batch.rewards[b].numpy().tobytes() == np.array(r, np.float32).tobytes()
                assert batch.next_obs[b].numpy().tobytes() == np.stack(nxt).tobytes()
                assert batch.terminated[b].tolist() == [float(t) for t in term]
                assert batch.truncated[b].tolist() == [float(t) for t in trunc]
        # The side store holds the episode ends and jumps of the stored rows, the newest
        # transition's next observation, and nothing else forever.
        assert buffer._final_obs.shape[0] <= 2 * capacity + 16
    if behaviour:
        k = min(4, len(buffer))
        obs_k, behaviour_k = buffer.oldest(k)
        oldest = len(reference.transitions) - reference.size
        for j in range(k):
            assert obs_k[j].tobytes() == reference.transitions[oldest + j][0].tobytes()
            assert behaviour_k[j].tobytes() == reference.transitions[oldest + j][6].tobytes()
    else:
        with pytest.raises(ConfigError, match="no behaviour actions"):
            buffer.oldest(1)


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


@pytest.mark.parametrize("behaviour", [True, False])
def test_state_dict_writes_every_field_and_round_trips_the_side_store(behaviour):
    """Checkpoints hold every field written out (the format of buffers that stored
    next_obs), so old checkpoints load and new ones read the same."""
    source = ReplayBuffer(obs_dim=2, act_dim=1, capacity=9, seed=6, behaviour_actions=behaviour)
    for i in range(23):
        add_index(
            source,
            i,
            terminated=(i % 5 == 0),
            truncated=(i % 7 == 0),
            final_obs=(np.array([-i, -i], dtype=np.float32) if i % 5 == 0 else None),
        )
    state = source.state_dict()
    stored = list(range(23 - 9, 23))
    assert state["obs"][:, 0].tolist() == stored
    expected_next = [-i if i % 5 == 0 else i + 1 for i in stored]
    assert state["next_obs"][:, 0].tolist() == expected_next
    assert state["terminated"].tolist() == [float(i % 5 == 0) for i in stored]
    assert state["truncated"].tolist() == [float(i % 7 == 0) for i in stored]
    assert ("behaviour_actions" in state) == behaviour
    restored = ReplayBuffer(obs_dim=2, act_dim=1, capacity=9, seed=1, behaviour_actions=behaviour)
    restored.load_state_dict(state)
    again = restored.state_dict()
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, again[key]), key
    # Only the episode ends and the newest transition need a slot after loading.
    assert sum(restored._final_slot >= 0) == sum(i % 5 == 0 for i in stored[:-1]) + 1
    if not behaviour:
        with pytest.raises(ConfigError, match="no behaviour actions"):
            ReplayBuffer(obs_dim=2, act_dim=1, capacity=9).load_state_dict(state)


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


def test_import_does_not_load_numba_until_a_batch_is_gathered():
    """rlx2.value imports without numba; the first sample compiles the gather kernel through
    rlx2.jit, which configures numba's CPU target before numba is imported."""
    code = (
        "import sys, numpy as np, rlx2.value\n"
        "print('numba' in sys.modules)\n"
        "from rlx2.value.replay import ReplayBuffer\n"
        "b = ReplayBuffer(2, 1, 8, seed=0)\n"
        "b.add(np.zeros(2), np.zeros(1), 0.0, np.ones(2), False, False, np.zeros(1))\n"
        "b.sample(4)\n"
        "print('numba' in sys.modules, 'rlx2.jit' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]


def test_capacity_is_invisible_until_the_buffer_is_full():
    """Two buffers that differ only in capacity store, shrink and sample alike until the
    smaller one is full: a run with a larger dynamic-buffer cap repeats the run with the
    smaller cap exactly up to that point (the HalfCheetah follow-up pairs runs on this)."""
    small = ReplayBuffer(obs_dim=1, act_dim=1, capacity=12, seed=7)
    large = ReplayBuffer(obs_dim=1, act_dim=1, capacity=40, seed=7)
    compared = 0
    for i in range(40):
        add_index(small, i)
        add_index(large, i)
        if i % 7 == 6:  # shrink the oldest, as the capacity check does
            small.drop_oldest(2)
            large.drop_oldest(2)
        if len(small) == small.capacity:
            break
        if len(small) >= 3:
            a, b = vars(small.sample(16, n=3)), vars(large.sample(16, n=3))
            pairs = zip(a.values(), b.values(), strict=True)
            assert all(torch.equal(x, y) for x, y in pairs)
            assert torch.equal(
                torch.from_numpy(small.oldest(1)[0]), torch.from_numpy(large.oldest(1)[0])
            )
            compared += 1
    assert compared > 10 and len(small) == len(large) == 12
    add_index(small, i + 1)  # full: the small one overwrites its oldest, the large one keeps it
    add_index(large, i + 1)
    assert (len(small), len(large)) == (12, 13)
    assert small.oldest(1)[0].item() == large.oldest(1)[0].item() + 1
