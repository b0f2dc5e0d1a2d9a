"""The Python API: train, load and query runs from a script or a notebook (docs/api.md).

``rlx2.train(env, **options)`` takes the options of ``rlx2 train`` by name (snake or kebab
case, the keys of a sweep file), checks them with the same configs and runs one training run;
``rlx2.load(run_dir)`` reads any run directory back as a :class:`Run`: its config, its
summary, its evaluations as a pandas-free :class:`Evaluations` table and, for a completed run,
the trained agent with ``predict(obs, deterministic=True)``.

Nothing here imports torch at module level, so ``import rlx2`` stays light; torch comes in
when a run is trained or an agent is loaded.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlx2.errors import RunDirError
from rlx2.train import rundir

if TYPE_CHECKING:
    import numpy as np

    from rlx2.config import TrainConfig

__all__ = ["Evaluations", "Run", "load", "resume", "train"]

# Options that rlx2.train() does not take, and what to use instead.
_NOT_TRAIN_OPTIONS = {"resume": "continue a stopped run with rlx2.resume(run_dir)"}


# ----- the evaluations table ------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Evaluations:
    """A run's evaluations.csv as a small read-only table: one row per evaluation step.

    Columns are NumPy arrays (``step`` and ``episodes`` int64, the others float64 with NaN
    where the file has no value), in the file's order. ``pandas.DataFrame(table.as_dict())``
    makes a DataFrame where pandas is installed; rlx2 does not need it.
    """

    columns: tuple[str, ...]
    """Column names, in the order of evaluations.csv."""
    _data: Mapping[str, np.ndarray] = dataclasses.field(repr=False)

    @classmethod
    def from_rows(
        cls, rows: list[Mapping[str, float]], columns: tuple[str, ...] | None = None
    ) -> Evaluations:
        """Build the table from row mappings (``rundir.read_evaluations``'s output)."""
        import numpy as np

        if columns is None:
            columns = tuple(rows[0]) if rows else tuple(rundir.EVALUATION_COLUMNS)
        data = {}
        for name in columns:
            values = [float(row.get(name, math.nan)) for row in rows]
            if name in rundir.INTEGER_COLUMNS:
                array = np.array([int(v) for v in values], dtype=np.int64)
            else:
                array = np.array(values, dtype=np.float64)
            array.flags.writeable = False  # the table is a record of the file, not a buffer
            data[name] = array
        return cls(tuple(columns), data)

    @classmethod
    def read(cls, run_dir: str | Path) -> Evaluations:
        """The table of ``run_dir/evaluations.csv`` (empty when the run has none yet).

        :raises RunDirError: the file cannot be read or parsed.
        """
        path = Path(run_dir) / rundir.EVALUATIONS
        if not path.exists():
            return cls.from_rows([])
        try:
            rows = rundir.read_evaluations(Path(run_dir))
            table = cls.from_rows(rows)  # type: ignore[arg-type]
        except (OSError, ValueError, TypeError) as exc:
            raise RunDirError(f"{path}: unreadable ({exc})") from None
        missing = [c for c in ("step", "return_mean") if c not in table.columns]
        if rows and missing:
            raise RunDirError(f"{path}: unreadable (no column {', '.join(missing)})")
        return table

    def __len__(self) -> int:
        return len(self._data[self.columns[0]]) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.column(name)

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def column(self, name: str) -> np.ndarray:
        """One column as a read-only NumPy array. Raises KeyError naming the valid columns."""
        try:
            return self._data[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns: {', '.join(self.columns)}") from None

    def rows(self) -> list[dict[str, float | int]]:
        """The rows as dicts of Python numbers, in step order."""
        return [
            {name: self._data[name][i].item() for name in self.columns} for i in range(len(self))
        ]

    def __iter__(self) -> Iterator[dict[str, float | int]]:
        return iter(self.rows())

    def as_dict(self) -> dict[str, np.ndarray]:
        """Column name -> a writable copy of the column (``pandas.DataFrame(table.as_dict())``)."""
        return {name: self._data[name].copy() for name in self.columns}

    def to_csv(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the table in evaluations.csv's format (atomically); returns the path.
        A table read from a run writes that run's evaluations.csv byte for byte (a field the
        file left blank comes back as ``nan``).

        :raises FileExistsError: ``path`` exists and ``overwrite`` is False.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        # NaN is written "nan", as the run writes a diagnostic it could not compute.
        rundir.atomic_write_bytes(path, rundir.evaluations_csv(self.rows(), list(self.columns)))
        return path

    def __repr__(self) -> str:
        return f"Evaluations({len(self)} rows; columns: {', '.join(self.columns)})"


# ----- a run ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Run:
    """A run directory read at one moment (``rlx2.load`` again to see a run that is still
    training). The agent is loaded from ``checkpoints/final.pt`` on first use."""

    run_dir: Path
    config: TrainConfig
    """The run's options, as config.json records them (``backend`` is the one that ran)."""
    status: str
    """running, completed, interrupted or failed (summary.json)."""
    summary: Mapping[str, Any]
    """summary.json (empty before the run wrote one); docs/api.md lists its keys."""
    evaluations: Evaluations
    """evaluations.csv as a table."""
    record: Mapping[str, Any] = dataclasses.field(repr=False)
    """config.json whole: effective derived values, task dimensions, versions, command."""

    @property
    def final_return(self) -> float | None:
        """Mean return of the last 30 evaluations of a completed run (spec §8), else None."""
        value = self.summary.get("final_return")
        return None if value is None else float(value)

    @functools.cached_property
    def agent(self) -> Any:
        """The trained TD3 or SAC agent (``rlx2.algos``) on the CPU, with the final weights.

        :raises RunDirError: the run has no final checkpoint (it did not complete) or the
            checkpoint cannot be read.
        """
        from rlx2.deploy.export import load_final_agent

        if not (self.run_dir / rundir.CHECKPOINTS / rundir.FINAL_CHECKPOINT).exists():
            raise RunDirError(
                f"{self.run_dir}: the run is {self.status} and has no final checkpoint "
                f"({rundir.CHECKPOINTS}/{rundir.FINAL_CHECKPOINT}); only a completed run has an agent"
            )
        agent, _, _ = load_final_agent(self.run_dir)  # the one checkpoint loader (export's)
        return agent

    @functools.cached_property
    def _dims(self) -> tuple[int, int]:
        recorded = self.record.get("env_spec")
        if recorded:
            return int(recorded["obs_dim"]), int(recorded["act_dim"])
        from rlx2.train.envs import check_env  # a run from before config.json recorded them

        spec = check_env(self.config.env)
        return spec.obs_dim, spec.act_dim

    @property
    def obs_dim(self) -> int:
        """Observation size of the run's task."""
        return self._dims[0]

    @property
    def act_dim(self) -> int:
        """Action size of the run's task."""
        return self._dims[1]

    def predict(self, obs: Any, deterministic: bool = True) -> np.ndarray:
        """Actions for one observation ``[obs_dim] -> [act_dim]`` or a batch ``[B, obs_dim] ->
        [B, act_dim]`` (float32, within the action bounds).

        ``deterministic=True``: the policy the run was evaluated with (TD3's π(s), SAC's mean
        action). ``deterministic=False``: the run's behaviour policy, the action the agent
        took to collect its training data: TD3 adds its Gaussian exploration noise
        (``exploration_noise`` × the action half-range) and clips to the bounds; SAC draws a
        sample of its squashed Gaussian (its mean under ``collect_with_mean``). The noise comes
        from torch's global generator (``torch.manual_seed`` makes it repeatable).
        """
        import numpy as np
        import torch

        batch = np.asarray(obs, dtype=np.float32)
        single = batch.ndim == 1
        if single:
            batch = batch[None, :]
        if batch.ndim != 2 or batch.shape[1] != self.obs_dim:
            raise ValueError(
                f"obs must have shape [{self.obs_dim}] or [batch, {self.obs_dim}] for "
                f"{self.config.env}, got {list(np.shape(obs))}"
            )
        agent = self.agent
        if deterministic and single:
            # Exactly the evaluation's path (the sparse backend's fused acting kernel included).
            actions = np.asarray(agent.act_deterministic(batch[0]))[None, :]
        elif deterministic:
            # π(s) for a batch in one network evaluation: equal to act_deterministic up to the
            # order of float sums.
            actions = agent.policy_actions(torch.as_tensor(batch, device=agent.device))
            actions = actions.cpu().numpy()
        else:
            # Row by row through the agent's own acting code: one definition of the behaviour
            # policy (rlx2.algos), the one the training loop collects with.
            actions = np.stack([agent.act(row)[0] for row in batch])
        actions = actions.astype(np.float32, copy=False)
        return actions[0] if single else actions

    def __repr__(self) -> str:
        final = self.final_return
        score = "" if final is None else f", final_return={final:.2f}"
        return (
            f"Run({str(self.run_dir)!r}, {self.config.env}, {self.config.algo}, "
            f"{self.config.sparse.method}, {self.status}{score}, {len(self.evaluations)} "
            "evaluations)"
        )


# ----- the functions --------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """Paths and NumPy scalars as the plain values the options take."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value


def train_config(env: str | None = None, **options: Any) -> TrainConfig:
    """The :class:`~rlx2.config.TrainConfig` of ``train(env, **options)``, checked; nothing
    runs. The options are ``rlx2 train``'s (``rlx2 train --help``), snake or kebab case;
    ``env=None`` keeps the default task, as ``rlx2 train`` without ``--env`` does.

    :raises ConfigError: one line naming the option (unknown name, wrong type, invalid value
        or combination).
    """
    from rlx2.config import TrainConfig
    from rlx2.parsing import parse_args

    return parse_args(TrainConfig, _train_args(env, options), prog="rlx2.train")


def _train_args(env: str | None, options: Mapping[str, Any]) -> list[str]:
    """The ``rlx2 train`` flags of ``train(env, **options)`` (the sweep files' mapping)."""
    from rlx2.experiments.run_options import train_args

    raw = {key: _plain(value) for key, value in options.items()}
    if env is not None:
        raw = {"env": env, **raw}
    return train_args(raw, "rlx2.train", owned=_NOT_TRAIN_OPTIONS, context="rlx2.train()")


def train(env: str | None = None, **options: Any) -> Run:
    """Train one agent and return its :class:`Run` (``rlx2 train`` from Python).

    ``options`` are the options of ``rlx2 train`` by name, in snake case (``total_steps=...``,
    ``method="rlx2"``, ``preset="paper"``, ``run_dir=...``), the same keys a sweep file or
    ``rlx2 train --config`` file takes; unset ones keep their defaults (``rlx2 train --help``).
    Without ``run_dir`` the run goes to ``runs/<env>_<algo>_s<seed>_<time>``; a directory
    that holds a run is refused unless ``overwrite=True``.

    :raises ConfigError: an invalid option (one line naming it), before anything is written.
    :raises TrainingFailed: the run stopped on non-finite losses (summary.json says so).
    :raises Interrupted: the run was stopped by SIGINT/SIGTERM (Ctrl-C, the notebook's
        interrupt); ``rlx2.resume(run_dir)`` continues it.
    """
    config = train_config(env, **options)
    from rlx2.train import loop

    if config.run.run_dir is None:  # fixed here so that the Run can be read back from it
        run = dataclasses.replace(config.run, run_dir=str(loop.default_run_dir(config)))
        config = dataclasses.replace(config, run=run)
    # config.json's "command": the call as flags (a notebook's argv would say nothing).
    loop.train(config, command=["rlx2.train", *_train_args(env, options)])
    return load(config.run.run_dir)  # type: ignore[arg-type]


def resume(run_dir: str | Path, quiet: bool | None = None) -> Run:
    """Continue a stopped run from its last checkpoint (``rlx2 train --resume``)."""
    from rlx2.train import loop

    loop.resume(run_dir, quiet=quiet)
    return load(run_dir)


def load(run_dir: str | Path) -> Run:
    """Read the run in ``run_dir`` (completed or not): config, summary, evaluations; the agent
    and ``predict`` of a completed run.

    Only rlx2's own files are read; the agent comes from ``checkpoints/final.pt`` through
    the same loader as ``rlx2 export``.

    :raises RunDirError: no run there, or config.json, summary.json or evaluations.csv
        cannot be read.
    """

    run_dir = Path(run_dir)
    status = rundir.run_status(run_dir)
    if status is None:
        raise RunDirError(f"{run_dir}: no rlx2 run there (no {rundir.CONFIG})")
    from rlx2.train.records import load_train_config

    run_record, config = load_train_config(run_dir)
    record = run_record.document
    summary: dict[str, Any] = rundir.read_summary(run_dir) or {}
    return Run(
        run_dir=run_dir,
        config=config,
        status=status,
        summary=summary,
        evaluations=Evaluations.read(run_dir),
        record=record,
    )
