"""Float32 ring replay buffer with n-step window sampling and oldest-first dropping.

Transitions are numbered by insertion (0, 1, 2, ...). The buffer stores the contiguous
range ``[total_added - size, total_added)``; insertion number i lives in row
``i % capacity``. Every window is a run of n consecutive stored insertion numbers, so it
never reads across the write head, never mixes laps of the ring and never returns data that
``drop_oldest`` forgot (spec §5, §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rlx2.errors import ConfigError

__all__ = ["Batch", "ReplayBuffer"]

_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "behaviour_actions")


@dataclass
class Batch:
    """A batch of windows of n consecutive transitions (float32, on the buffer's device)."""

    obs: Tensor
    """[B, obs_dim] s_t, the first state of each window."""
    actions: Tensor
    """[B, act_dim] a_t, the action taken in s_t."""
    rewards: Tensor
    """[B, n] r_{t..t+n-1}."""
    next_obs: Tensor
    """[B, n, obs_dim] s_{t+k+1} as stored with transition t+k (the real final observation
    for truncated steps)."""
    terminated: Tensor
    """[B, n] 1. where transition t+k ended its episode in a true terminal state."""
    truncated: Tensor
    """[B, n] 1. where transition t+k ended its episode by a time limit."""


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


class ReplayBuffer:
    """Ring buffer of (s, a, r, s', terminated, truncated, behaviour action).

    obs and next_obs are stored separately so a truncated step keeps its real final
    observation (spec §1). ``behaviour_action`` is the behaviour policy's deterministic
    action at collection time (the random action during warm-up); the dynamic-capacity
    check compares it with the current policy (spec §6).

    :param obs_dim: length of a flat observation.
    :param act_dim: length of an action.
    :param capacity: physical number of rows (the maximum capacity); a full buffer
        overwrites its oldest transition.
    :param seed: seed of the sampling RNG (numpy PCG64); None draws one from the OS.
    :param device: torch device of sampled batches.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        capacity: int,
        seed: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.obs_dim = _positive_int("obs_dim", obs_dim)
        self.act_dim = _positive_int("act_dim", act_dim)
        self.capacity = _positive_int("capacity", capacity)
        self.device = torch.device(device)
        self._on_cpu = self.device.type == "cpu"
        self._rng = np.random.default_rng(seed)
        # np.zeros is lazily committed by the OS, so an unfilled 1 M buffer costs little RAM.
        self._obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)
        self._actions = np.zeros((self.capacity, self.act_dim), dtype=np.float32)
        self._rewards = np.zeros(self.capacity, dtype=np.float32)
        self._next_obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)
        self._terminated = np.zeros(self.capacity, dtype=np.float32)
        self._truncated = np.zeros(self.capacity, dtype=np.float32)
        self._behaviour_actions = np.zeros((self.capacity, self.act_dim), dtype=np.float32)
        self._total_added = 0  # insertion number of the next transition
        self._size = 0

    # ------------------------------------------------------------------ writing
    def add(
        self,
        obs: Any,
        action: Any,
        reward: float,
        next_obs: Any,
        terminated: bool,
        truncated: bool,
        behaviour_action: Any,
    ) -> None:
        """Store one transition; when full, it overwrites the oldest one."""
        row = self._total_added % self.capacity
        self._obs[row] = self._flat("obs", obs, self.obs_dim)
        self._actions[row] = self._flat("action", action, self.act_dim)
        self._rewards[row] = reward
        self._next_obs[row] = self._flat("next_obs", next_obs, self.obs_dim)
        self._terminated[row] = bool(terminated)
        self._truncated[row] = bool(truncated)
        self._behaviour_actions[row] = self._flat(
            "behaviour_action", behaviour_action, self.act_dim
        )
        self._total_added += 1
        self._size = min(self._size + 1, self.capacity)

    @staticmethod
    def _flat(name: str, value: Any, dim: int) -> np.ndarray:
        array = np.asarray(value, dtype=np.float32).reshape(-1)
        if array.shape[0] != dim:
            raise ConfigError(f"{name} must have {dim} entries, got shape {np.shape(value)}")
        return array

    def truncate_newest(self) -> None:
        """Mark the newest stored transition as truncated (no-op when empty).

        Used when training resumes from a checkpoint: the episode in progress was cut off and
        a new one starts, so n-step windows must not run from one into the other (spec §5).
        """
        if self._size:
            self._truncated[(self._total_added - 1) % self.capacity] = 1.0

    def drop_oldest(self, count: int) -> None:
        """Forget the oldest ``count`` transitions (dynamic capacity, spec §6).

        The rows are not cleared; they are simply no longer stored and later adds refill
        the buffer up to ``capacity``.
        """
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ConfigError(f"count must be an integer >= 0, got {count!r}")
        if count > self._size:
            raise ConfigError(f"count={count} exceeds the {self._size} stored transitions")
        self._size -= int(count)

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes of the storage arrays (all ``capacity`` rows)."""
        return sum(getattr(self, "_" + name).nbytes for name in _FIELDS)

    def _oldest_number(self) -> int:
        return self._total_added - self._size

    def oldest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (obs [k, obs_dim], behaviour_actions [k, act_dim]) of the k oldest
        stored transitions, oldest first."""
        k = _positive_int("k", k)
        if k > self._size:
            raise ConfigError(f"k={k} exceeds the {self._size} stored transitions")
        rows = (self._oldest_number() + np.arange(k)) % self.capacity  # [k]
        return self._obs[rows], self._behaviour_actions[rows]

    def newest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (obs [k, obs_dim], actions [k, act_dim]) of the k newest stored
        transitions, oldest of them first (a deterministic batch: no random draw)."""
        k = _positive_int("k", k)
        if k > self._size:
            raise ConfigError(f"k={k} exceeds the {self._size} stored transitions")
        rows = (self._total_added - k + np.arange(k)) % self.capacity  # [k]
        return self._obs[rows], self._actions[rows]

    def sample(self, batch_size: int, n: int = 1) -> Batch:
        """Uniformly sample ``batch_size`` windows of n consecutive stored transitions.

        Valid starts are the stored insertion numbers whose n - 1 successors are stored too
        (so the n - 1 newest are not valid starts). Episode ends inside a window are left to
        the target (``window_end_index``). Raises RuntimeError when no window fits yet.
        """
        batch_size = _positive_int("batch_size", batch_size)
        n = _positive_int("n", n)
        if n > self.capacity:
            raise ConfigError(f"n={n} exceeds the buffer capacity {self.capacity}")
        num_starts = self._size - n + 1
        if num_starts < 1:
            raise RuntimeError(
                f"cannot sample windows of n={n}: the buffer holds {self._size} transitions"
            )
        starts = self._oldest_number() + self._rng.integers(0, num_starts, size=batch_size)
        if n == 1:  # the common case: one cheap modulo, as fast as a plain buffer
            first = starts % self.capacity  # [B]
            rows = first[:, None]  # [B, 1]
        else:
            rows = (starts[:, None] + np.arange(n)) % self.capacity  # [B, n]
            first = rows[:, 0]  # [B]
        # np.take copies rows faster than fancy indexing; each field is one from_numpy.
        return Batch(
            obs=self._to_torch(np.take(self._obs, first, axis=0)),  # [B, obs_dim]
            actions=self._to_torch(np.take(self._actions, first, axis=0)),  # [B, act_dim]
            rewards=self._to_torch(np.take(self._rewards, rows)),  # [B, n]
            next_obs=self._to_torch(np.take(self._next_obs, rows, axis=0)),  # [B, n, obs_dim]
            terminated=self._to_torch(np.take(self._terminated, rows)),  # [B, n]
            truncated=self._to_torch(np.take(self._truncated, rows)),  # [B, n]
        )

    def _to_torch(self, array: np.ndarray) -> Tensor:
        # np.take already copied, so the tensor never aliases the ring.
        tensor = torch.from_numpy(array)
        return tensor if self._on_cpu else tensor.to(self.device)

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Complete state: sizes, counters, RNG and the stored rows (oldest first).

        Arrays are CPU torch tensors and the rest plain Python values, so the dict loads
        with ``torch.load(..., weights_only=True)``.
        """
        rows = (self._oldest_number() + np.arange(self._size)) % self.capacity  # [size]
        state: dict[str, Any] = {
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "capacity": self.capacity,
            "total_added": self._total_added,
            "size": self._size,
            "rng_state": self._rng.bit_generator.state,
        }
        for name in _FIELDS:
            state[name] = torch.from_numpy(getattr(self, "_" + name)[rows])
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``; the buffer must have the same dims and capacity."""
        for key in ("obs_dim", "act_dim", "capacity"):
            if state[key] != getattr(self, key):
                raise ConfigError(
                    f"{key} of the saved buffer is {state[key]}, this buffer has "
                    f"{getattr(self, key)}"
                )
        size, total_added = int(state["size"]), int(state["total_added"])
        if not 0 <= size <= min(self.capacity, total_added):
            raise ConfigError(f"size={size} is inconsistent with total_added={total_added}")
        rows = (total_added - size + np.arange(size)) % self.capacity  # [size]
        for name in _FIELDS:
            storage = getattr(self, "_" + name)
            storage.fill(0.0)
            saved = state[name]
            if isinstance(saved, Tensor):
                saved = saved.detach().cpu().numpy()
            storage[rows] = np.asarray(saved, dtype=np.float32)
        self._total_added, self._size = total_added, size
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng_state"]
        self._rng = rng
