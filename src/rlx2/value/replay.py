"""Float32 ring replay buffer with n-step window sampling and oldest-first dropping.

Transitions are numbered by insertion (0, 1, 2, ...). The buffer stores the contiguous
range ``[total_added - size, total_added)``; insertion number i lives in row
``i % capacity``. Every window is a run of n consecutive stored insertion numbers, so it
never reads across the write head, never mixes laps of the ring and never returns data that
``drop_oldest`` forgot (spec §5, §6).

Nothing derivable is stored: a transition's next observation is, within an episode, the
observation stored with the following transition, so only the next observations that are
not (an episode's real final observation, and the newest transition's, whose successor has
not arrived) are kept, in a small side store. ``sample`` returns exactly what ``add`` was
given. Terminated and truncated are bits of one byte; behaviour actions are kept only by a
buffer that is asked for them (the dynamic capacity's policy distance reads them, spec §6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rlx2.errors import ConfigError

__all__ = ["Batch", "ReplayBuffer"]

_TERMINATED, _TRUNCATED = 1, 2  # bits of the per-row flags byte
_NO_SLOT = -1
_STATE_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated")


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
    """Ring buffer of (s, a, r, s', terminated, truncated[, behaviour action]).

    A truncated step keeps its real final observation (spec §1): next observations that are
    not the following transition's observation live in a side store (see the module).
    ``behaviour_action`` is the behaviour policy's deterministic action at collection time
    (the random action during warm-up); the dynamic-capacity check compares it with the
    current policy (spec §6).

    :param obs_dim: length of a flat observation.
    :param act_dim: length of an action.
    :param capacity: physical number of rows (the maximum capacity); a full buffer
        overwrites its oldest transition.
    :param seed: seed of the sampling RNG (numpy PCG64); None draws one from the OS.
    :param device: torch device of sampled batches.
    :param behaviour_actions: store the behaviour actions (``oldest`` returns them); False
        saves ``4 * act_dim`` bytes per transition where nothing reads them.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        capacity: int,
        seed: int | None = None,
        device: str = "cpu",
        behaviour_actions: bool = True,
    ) -> None:
        self.obs_dim = _positive_int("obs_dim", obs_dim)
        self.act_dim = _positive_int("act_dim", act_dim)
        self.capacity = _positive_int("capacity", capacity)
        self.device = torch.device(device)
        self.stores_behaviour_actions = bool(behaviour_actions)
        self._on_cpu = self.device.type == "cpu"
        self._rng = np.random.default_rng(seed)
        # np.zeros is lazily committed by the OS, so an unfilled 1 M buffer costs little RAM.
        self._obs = np.zeros((self.capacity, self.obs_dim), dtype=np.float32)
        self._actions = np.zeros((self.capacity, self.act_dim), dtype=np.float32)
        self._rewards = np.zeros(self.capacity, dtype=np.float32)
        self._flags = np.zeros(self.capacity, dtype=np.uint8)  # _TERMINATED | _TRUNCATED
        self._behaviour_actions = np.zeros(
            (self.capacity if behaviour_actions else 0, self.act_dim), dtype=np.float32
        )
        # The side store: row -> slot of its own next observation (_NO_SLOT: the next row's).
        self._final_slot = np.full(self.capacity, _NO_SLOT, dtype=np.int32)
        self._final_obs = np.zeros((0, self.obs_dim), dtype=np.float32)
        self._free_slots: list[int] = []
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
        obs_row = self._flat("obs", obs, self.obs_dim)
        action_row = self._flat("action", action, self.act_dim)
        next_row = self._flat("next_obs", next_obs, self.obs_dim)
        behaviour_row = self._flat("behaviour_action", behaviour_action, self.act_dim)
        if self._total_added:
            # The previous transition's next observation, kept until now: if this transition
            # starts from it (bit for bit), it is derivable and its slot is freed.
            previous = (self._total_added - 1) % self.capacity
            slot = self._final_slot[previous]
            if slot != _NO_SLOT and self._final_obs[slot].tobytes() == obs_row.tobytes():
                self._release(previous)
        row = self._total_added % self.capacity
        self._release(row)  # the transition it held is overwritten
        self._obs[row] = obs_row
        self._actions[row] = action_row
        self._rewards[row] = reward
        self._flags[row] = (_TERMINATED if terminated else 0) | (_TRUNCATED if truncated else 0)
        if self.stores_behaviour_actions:
            self._behaviour_actions[row] = behaviour_row
        self._keep_next_obs(row, next_row)
        self._total_added += 1
        self._size = min(self._size + 1, self.capacity)

    @staticmethod
    def _flat(name: str, value: Any, dim: int) -> np.ndarray:
        array = np.asarray(value, dtype=np.float32).reshape(-1)
        if array.shape[0] != dim:
            raise ConfigError(f"{name} must have {dim} entries, got shape {np.shape(value)}")
        return array

    def _keep_next_obs(self, row: int, next_obs: np.ndarray) -> None:
        if not self._free_slots:  # grow the side store (amortised doubling)
            old = self._final_obs.shape[0]
            grown = np.zeros((max(2 * old, 16), self.obs_dim), dtype=np.float32)
            grown[:old] = self._final_obs
            self._final_obs = grown
            self._free_slots = list(range(grown.shape[0] - 1, old - 1, -1))
        slot = self._free_slots.pop()
        self._final_obs[slot] = next_obs
        self._final_slot[row] = slot

    def _release(self, row: int) -> None:
        slot = int(self._final_slot[row])
        if slot != _NO_SLOT:
            self._free_slots.append(slot)
            self._final_slot[row] = _NO_SLOT

    def truncate_newest(self) -> None:
        """Mark the newest stored transition as truncated (no-op when empty).

        Used when training resumes from a checkpoint: the episode in progress was cut off and
        a new one starts, so n-step windows must not run from one into the other (spec §5).
        """
        if self._size:
            self._flags[(self._total_added - 1) % self.capacity] |= _TRUNCATED

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
    def bytes_per_transition(self) -> int:
        """Bytes each row costs whatever it holds: obs, action, reward, flags, side-store
        index and (if stored) the behaviour action. Episode ends add ``4 * obs_dim`` each."""
        per_row = (self.obs_dim + self.act_dim + 1) * 4 + 1 + 4
        return per_row + (4 * self.act_dim if self.stores_behaviour_actions else 0)

    @property
    def nbytes(self) -> int:
        """Bytes of the storage arrays (all ``capacity`` rows and the side store)."""
        arrays = (
            self._obs,
            self._actions,
            self._rewards,
            self._flags,
            self._behaviour_actions,
            self._final_slot,
            self._final_obs,
        )
        return sum(a.nbytes for a in arrays)

    def _oldest_number(self) -> int:
        return self._total_added - self._size

    def oldest(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of (obs [k, obs_dim], behaviour_actions [k, act_dim]) of the k oldest
        stored transitions, oldest first."""
        if not self.stores_behaviour_actions:
            raise ConfigError("this buffer keeps no behaviour actions (behaviour_actions=False)")
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
        # Fresh arrays: the tensors never alias the ring.
        return Batch(*(self._to_torch(array) for array in self._windows(starts, n)))

    def _windows(self, starts: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        """Fresh (obs [B, obs_dim], actions [B, act_dim], rewards [B, n], next_obs [B, n,
        obs_dim], terminated [B, n], truncated [B, n]) of the windows of n stored transitions
        that start at the insertion numbers ``starts`` [B]."""
        from rlx2.value.replay_kernels import gather_windows  # numba, imported once used

        batch = starts.shape[0]
        out = (
            np.empty((batch, self.obs_dim), dtype=np.float32),
            np.empty((batch, self.act_dim), dtype=np.float32),
            np.empty((batch, n), dtype=np.float32),
            np.empty((batch, n, self.obs_dim), dtype=np.float32),
            np.empty((batch, n), dtype=np.float32),
            np.empty((batch, n), dtype=np.float32),
        )
        gather_windows(
            starts, self.capacity, _NO_SLOT, _TERMINATED, _TRUNCATED, self._obs, self._actions,
            self._rewards, self._flags, self._final_slot, self._final_obs, *out,
        )  # fmt: skip
        return out

    def _to_torch(self, array: np.ndarray) -> Tensor:
        tensor = torch.from_numpy(array)
        return tensor if self._on_cpu else tensor.to(self.device)

    # ------------------------------------------------------------------ checkpoint
    def state_dict(self) -> dict[str, Any]:
        """Complete state: sizes, counters, RNG and the stored transitions (oldest first),
        every field written out (next_obs and float flags included), so checkpoints read the
        same whatever the in-memory layout.

        Arrays are CPU torch tensors and the rest plain Python values, so the dict loads
        with ``torch.load(..., weights_only=True)``.
        """
        numbers = self._oldest_number() + np.arange(self._size)  # [size]
        rows = numbers % self.capacity
        obs, actions, rewards, next_obs, terminated, truncated = self._windows(numbers, 1)
        state: dict[str, Any] = {
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "capacity": self.capacity,
            "total_added": self._total_added,
            "size": self._size,
            "rng_state": self._rng.bit_generator.state,
            "obs": torch.from_numpy(obs),
            "actions": torch.from_numpy(actions),
            "rewards": torch.from_numpy(rewards[:, 0]),
            "next_obs": torch.from_numpy(next_obs[:, 0]),
            "terminated": torch.from_numpy(terminated[:, 0]),
            "truncated": torch.from_numpy(truncated[:, 0]),
        }
        if self.stores_behaviour_actions:
            state["behaviour_actions"] = torch.from_numpy(self._behaviour_actions[rows])
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict``; the buffer must have the same dims and capacity."""
        for key in ("obs_dim", "act_dim", "capacity"):
            if state[key] != getattr(self, key):
                raise ConfigError(
                    f"{key} of the saved buffer is {state[key]}, this buffer has "
                    f"{getattr(self, key)}"
                )
        if self.stores_behaviour_actions and "behaviour_actions" not in state:
            raise ConfigError("the saved buffer holds no behaviour actions; this one needs them")
        size, total_added = int(state["size"]), int(state["total_added"])
        if not 0 <= size <= min(self.capacity, total_added):
            raise ConfigError(f"size={size} is inconsistent with total_added={total_added}")
        saved = {
            name: np.asarray(
                state[name].detach().cpu().numpy()
                if isinstance(state[name], Tensor)
                else state[name],
                dtype=np.float32,
            )
            for name in (*_STATE_FIELDS, "behaviour_actions")
            if name in state
        }
        rows = (total_added - size + np.arange(size)) % self.capacity  # [size]
        for name in ("obs", "actions", "rewards"):
            storage = getattr(self, "_" + name)
            storage.fill(0.0)
            storage[rows] = saved[name]
        self._flags.fill(0)
        self._flags[rows] = np.where(saved["terminated"] != 0, _TERMINATED, 0) | np.where(
            saved["truncated"] != 0, _TRUNCATED, 0
        )
        if self.stores_behaviour_actions:
            self._behaviour_actions.fill(0.0)
            self._behaviour_actions[rows] = saved["behaviour_actions"]
        # Rebuild the side store: keep the next observations that the following stored
        # transition does not start from (bit for bit), and the newest one.
        self._final_slot.fill(_NO_SLOT)
        self._final_obs = np.zeros((0, self.obs_dim), dtype=np.float32)
        self._free_slots = []
        next_obs, obs = saved["next_obs"], saved["obs"]
        derivable = np.zeros(size, dtype=bool)
        if size > 1:
            derivable[:-1] = np.all(
                next_obs[:-1].view(np.uint32) == obs[1:].view(np.uint32), axis=1
            )
        for j in np.flatnonzero(~derivable):
            self._keep_next_obs(int(rows[j]), next_obs[j])
        self._total_added, self._size = total_added, size
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng_state"]
        self._rng = rng
