"""The replay buffer's sampled batch gathered in one numba call (``ReplayBuffer.sample``).

The NumPy version took ~15 array operations per batch (a copy per field, the next
observations of every window step with their side-store substitutions, the flag bits):
~40 µs warm for a batch of 256 windows of 3, and 2-3x that inside a training step, where the
network passes have just evicted the interpreter's and NumPy's code and data from the caches.

Imported lazily by ``replay.py``: importing ``rlx2.value`` never needs numba.
"""

from __future__ import annotations

from rlx2.jit import njit  # numba, compiling for the chosen CPU target


@njit(cache=True, nogil=True)
def gather_windows(
    starts,
    capacity,
    no_slot,
    terminated_bit,
    truncated_bit,
    obs,
    actions,
    rewards,
    flags,
    final_slot,
    final_obs,
    out_obs,
    out_actions,
    out_rewards,
    out_next_obs,
    out_terminated,
    out_truncated,
):  # pragma: no cover - compiled
    """Window b covers insertion numbers ``starts[b] + i``, i < n (n = out_rewards.shape[1]),
    stored in rows ``(starts[b] + i) % capacity``. Writes obs/actions of the first row,
    and per step the reward, the flag bits (``ReplayBuffer``'s) as 0./1. and the next
    observation: the side store's where the row has a slot, else the following row's obs."""
    n = out_rewards.shape[1]
    obs_dim, act_dim = obs.shape[1], actions.shape[1]
    # Element loops, not row slices: a slice or row view per field costs more than its copy,
    # and views picked by a branch defeat numba's reference-count pruning.
    # A first pass that only touches each window's rows: with the copies in the loop, few of
    # the batch's cache misses are in flight at once; alone, the core overlaps dozens.
    touched = 0.0
    for b in range(starts.shape[0]):
        first = starts[b] % capacity
        touched += obs[first, 0] + actions[first, 0]
        for i in range(n):
            row = (starts[b] + i) % capacity
            following = row + 1 if row + 1 < capacity else 0
            touched += rewards[row] + flags[row] + final_slot[row] + obs[following, 0]
    for b in range(starts.shape[0]):
        first = starts[b] % capacity
        for j in range(obs_dim):
            out_obs[b, j] = obs[first, j]
        for j in range(act_dim):
            out_actions[b, j] = actions[first, j]
        for i in range(n):
            row = (starts[b] + i) % capacity
            out_rewards[b, i] = rewards[row]
            f = flags[row]
            out_terminated[b, i] = 1.0 if f & terminated_bit else 0.0
            out_truncated[b, i] = 1.0 if f & truncated_bit else 0.0
            slot = final_slot[row]
            if slot != no_slot:
                for j in range(obs_dim):
                    out_next_obs[b, i, j] = final_obs[slot, j]
            else:
                following = row + 1 if row + 1 < capacity else 0
                for j in range(obs_dim):
                    out_next_obs[b, i, j] = obs[following, j]
    return touched
