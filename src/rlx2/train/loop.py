"""One training run: warm-up, one update per env step, evaluation and checkpoint cadence.

``train(config)`` validates everything that can be validated before it touches the disk,
then writes the run directory as it goes (see ``rundir``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import rlx2
from rlx2.config import RUN_DIR_TEMPLATE, TrainConfig
from rlx2.errors import Interrupted, RunDirError, TrainingFailed, os_error_text
from rlx2.resolve import ignored_options
from rlx2.train import rundir
from rlx2.train.builders import build_resolved_agent, build_value_learning
from rlx2.train.checkpoint import UnsafeCheckpoint, load_checkpoint
from rlx2.train.diagnostics import (
    comparable_steps,
    network_dormant_fractions,
    q_bias,
    returns_to_go,
)
from rlx2.train.envs import EnvSpec, check_env, describe_env, make_env
from rlx2.train.evaluate import Episode, evaluate, evaluation_seed
from rlx2.train.logging import ProgressReporter, ScalarLogger
from rlx2.train.records import load_train_config
from rlx2.train.signals import StopSignals
from rlx2.train.sparsity_report import sparsity_scalars, sparsity_summary


def library_versions() -> dict[str, str]:
    import gymnasium
    import mujoco

    return {
        "rlx2": rlx2.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "mujoco": mujoco.__version__,
    }


def source_revision() -> dict[str, Any] | None:
    """The git commit rlx2 runs from (and whether its tracked files differ), if it is a checkout.

    Campaigns run from a worktree pinned at one commit; config.json records which, so every
    result can be traced to the code that produced it. None for an installed wheel.
    """
    root = Path(rlx2.__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        git = ["git", "-C", str(root)]
        commit = subprocess.run(
            [*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        changes = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(changes)}


def machine_facts() -> dict[str, Any]:
    """The CPU the run's wall-clock figures belong to."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}


def default_run_dir(config: TrainConfig) -> Path:
    """The run directory when --run-dir is not given (``RUN_DIR_TEMPLATE``, also in --help)."""
    return Path(
        RUN_DIR_TEMPLATE.format(
            env=config.env,
            algo=config.algo,
            method=config.sparse.method,
            seed=config.run.seed,
            time=datetime.now().strftime("%Y%m%d-%H%M%S"),
        )
    )


def resolved_config(
    config: TrainConfig,
    spec: EnvSpec,
    run_dir: Path,
    extra: dict[str, Any],
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Everything needed to understand (and repeat) the run: options, task facts, versions.
    ``command``: what started the run (default: this process's command line)."""
    return {
        "format": rundir.FORMAT_VERSION,
        "config": dataclasses.asdict(config),
        "run_dir": str(run_dir),
        "env_spec": {
            "obs_dim": spec.obs_dim,
            "act_dim": spec.act_dim,
            "action_low": spec.low.tolist(),
            "action_high": spec.high.tolist(),
            "max_episode_steps": spec.max_episode_steps,
        },
        "effective": extra,
        "versions": library_versions(),
        "source": source_revision(),
        "machine": machine_facts(),
        "command": list(sys.argv) if command is None else command,
        "created": datetime.now().isoformat(timespec="seconds"),
    }


DORMANT_BATCH = 1024
"""Newest stored transitions the dormant-neuron diagnostic reads (no random draw)."""


def _check_finite(metrics: dict[str, Any], step: int) -> None:
    bad = [name for name, value in metrics.items() if not math.isfinite(float(value))]
    if bad:
        raise TrainingFailed(f"non-finite {', '.join(sorted(bad))} at step {step}")


def train(
    config: TrainConfig,
    stream=None,
    wrap_env: Callable[[gym.Env], gym.Env] | None = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """Run one new training run described by ``config``; returns the summary (as in
    summary.json) and ``run_dir``.

    ``wrap_env`` wraps the training environment (not the evaluation one): ``rlx2 bench
    --end-to-end`` and benchmarks/peers.py time the loop with it. ``command`` is recorded in
    config.json as what started the run (default: the process's command line; ``rlx2.train``
    records its call as the equivalent ``rlx2 train`` flags).
    """
    spec = check_env(config.env)  # bad env ids fail here, before anything is written
    ignored = ignored_options(config)
    if ignored:
        print(
            f"rlx2: warning: --method {config.sparse.method} ignores {', '.join(ignored)}",
            file=sys.stderr,
            flush=True,
        )
    # config.json names the backend that ran, not "auto": resume and export rebuild the same
    # networks whatever machine they run on (checkpoints differ between backends).
    config = dataclasses.replace(
        config,
        run=dataclasses.replace(config.run, backend=config.effective_backend()),  # type: ignore[arg-type]
    )
    run_dir = Path(config.run.run_dir) if config.run.run_dir else default_run_dir(config)
    # Allocation and value-learning errors fail here too.
    trainer = Trainer(config, spec, run_dir, wrap_env=wrap_env)
    # From the first write on, SIGTERM/SIGINT only ask for a stop (``Trainer.run``).
    with StopSignals() as stop:
        lock = rundir.claim_new_run_dir(run_dir, overwrite=config.run.overwrite)
        try:
            try:
                rundir.atomic_write_json(
                    run_dir / rundir.CONFIG,
                    resolved_config(config, spec, run_dir, trainer.effective, command),
                )
            except OSError as exc:
                raise RunDirError(
                    f"--run-dir {run_dir}: cannot write ({os_error_text(exc)})"
                ) from None
            return {**trainer.run(stream, stop), "run_dir": str(run_dir)}
        finally:
            lock.release()


def resume(run_dir: str | Path, stream=None, quiet: bool | None = None) -> dict[str, Any]:
    """Continue an interrupted run in ``run_dir`` from its latest checkpoint (spec: issue #5).

    The run's own config.json is used. Without a checkpoint the run starts again from step 0
    in the same directory. Evaluations and TensorBoard events after the checkpoint are
    discarded, so every evaluation step appears exactly once when the run completes. A run
    that another process is still writing is refused (``LockHeld``, naming it).
    """
    run_dir = Path(run_dir)
    if rundir.run_status(run_dir) is None:  # checked before the lock: never write elsewhere
        raise RunDirError(f"--resume {run_dir}: no rlx2 run there")
    with StopSignals() as stop:  # a signal while the run is rebuilt stops it before step one
        return _resume_locked(run_dir, stream, quiet, stop)


def _resume_locked(run_dir: Path, stream, quiet: bool | None, stop: StopSignals) -> dict[str, Any]:
    lock = rundir.lock_run_dir(run_dir, f"--resume {run_dir}")
    try:
        if rundir.run_status(run_dir) == "completed":
            raise RunDirError(f"--resume {run_dir}: the run already completed")
        try:
            _, config = load_train_config(run_dir)
        except RunDirError as exc:
            raise RunDirError(f"--resume {exc}") from None
        run = dataclasses.replace(
            config.run, run_dir=str(run_dir), quiet=config.run.quiet if quiet is None else quiet
        )
        config = dataclasses.replace(config, run=run)
        trainer = Trainer(config, check_env(config.env), run_dir)
        checkpoint = run_dir / rundir.CHECKPOINTS / rundir.LATEST_CHECKPOINT
        if checkpoint.exists():
            try:
                state = load_checkpoint(checkpoint, map_location=trainer.agent.device)
            except UnsafeCheckpoint as exc:
                raise RunDirError(f"--resume {run_dir}: {exc}") from None
            except Exception as exc:  # our writes are atomic, but disks fail and files travel
                raise RunDirError(
                    f"--resume {run_dir}: unreadable checkpoint {checkpoint.name} ({exc})"
                ) from None
            trainer.load_state_dict(state)
        return {**trainer.run(stream, stop), "run_dir": str(run_dir)}
    finally:
        lock.release()


class Trainer:
    """The state of one run and the loop that advances it.

    Everything needed to continue is in ``state_dict()``: networks, targets, masks,
    optimisers, topology counters, replay data, dynamic-buffer state, RNG states, counters
    and the evaluation history. The environment's physics state is not: a resumed run
    starts a new episode (the cut one is marked truncated in the buffer).
    """

    def __init__(
        self,
        config: TrainConfig,
        spec: EnvSpec,
        run_dir: Path,
        wrap_env: Callable[[gym.Env], gym.Env] | None = None,
    ):
        self.config, self.spec, self.run_dir = config, spec, run_dir
        self.wrap_env = wrap_env
        torch.set_num_threads(config.run.threads)
        torch.manual_seed(config.run.seed)
        np.random.seed(config.run.seed)
        self.agent, self.resolved = build_resolved_agent(config, spec)
        self.effective = self.resolved.record()
        self.buffer, self.nstep_schedule, self.capacity, _ = build_value_learning(config, spec)
        self.distance_fn = (
            policy_distance_fn(self.agent, self.capacity) if self.capacity is not None else None
        )
        self.step = 0
        self.episodes = 0
        self.resumes = 0
        self.evaluations: list[dict[str, Any]] = []
        self.buffer_checks: list[dict[str, Any]] = []
        self.wall_time_before = 0.0  # seconds spent before the latest (re)start
        self.eval_time = 0.0
        self.diagnostics_time = 0.0
        self.checkpoint_step: int | None = None  # step of checkpoints/latest.pt, if any

    # ----- checkpoint ---------------------------------------------------------------------
    def state_dict(self, env_rng_state: dict) -> dict[str, Any]:
        return {
            "format": 1,
            "step": self.step,
            "episodes": self.episodes,
            "resumes": self.resumes,
            "evaluations": list(self.evaluations),
            "buffer_checks": list(self.buffer_checks),
            "wall_time_s": self.wall_time_before + (time.perf_counter() - self._started),
            "eval_time_s": self.eval_time,
            "diagnostics_time_s": self.diagnostics_time,
            "agent": self.agent.state_dict(),
            "buffer": self.buffer.state_dict(),
            "capacity": self.capacity.state_dict() if self.capacity is not None else None,
            "rng": {
                "torch": torch.get_rng_state(),
                "numpy": np.random.get_state(),
                "action_space": env_rng_state,
            },
            "config": dataclasses.asdict(self.config),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.episodes = int(state["episodes"])
        self.resumes = int(state["resumes"]) + 1
        self.evaluations = list(state["evaluations"])
        self.buffer_checks = list(state["buffer_checks"])
        self.wall_time_before = float(state["wall_time_s"])
        self.eval_time = float(state["eval_time_s"])
        self.diagnostics_time = float(state.get("diagnostics_time_s", 0.0))
        self.agent.load_state_dict(state["agent"])
        self.buffer.load_state_dict(state["buffer"])
        if self.capacity is not None:
            self.capacity.load_state_dict(state["capacity"])
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        self._action_space_rng = state["rng"]["action_space"]
        self.checkpoint_step = self.step
        self.buffer.truncate_newest()  # the episode in progress at the checkpoint is cut here

    def save_checkpoint(self, env, name: str, with_replay: bool = True) -> None:
        """``with_replay=False`` (the final checkpoint) leaves out the replay data: final.pt is
        for evaluation and export, and the buffer would make it up to ~1 GB per run."""
        state = self.state_dict(env.action_space.np_random.bit_generator.state)
        if not with_replay:
            state["buffer"] = None
        data = io.BytesIO()
        torch.save(state, data)
        # Write then rename: a crash mid-write never replaces the previous good checkpoint.
        rundir.atomic_write_bytes(self.run_dir / rundir.CHECKPOINTS / name, data.getvalue())
        if name == rundir.LATEST_CHECKPOINT:
            self.checkpoint_step = self.step

    # ----- the loop -----------------------------------------------------------------------
    def status(self, status: str, **extra: Any) -> dict[str, Any]:
        """summary.json while the run is not completed: where it is and how it is doing."""
        config = self.config
        latest = self.evaluations[-1] if self.evaluations else None
        return {
            "format": rundir.FORMAT_VERSION,
            "status": status,
            **extra,
            "env": config.env,
            "algo": config.algo,
            "method": config.sparse.method,
            "seed": config.run.seed,
            "total_steps": config.run.total_steps,
            "step": self.step,
            "num_evaluations": len(self.evaluations),
            "latest_evaluation": (
                None
                if latest is None
                else {"step": latest["step"], "return_mean": latest["return_mean"]}
            ),
            "diagnostics": self._latest_diagnostics(),
            "checkpoint_step": self.checkpoint_step,
            "resumes": self.resumes,
            "updated": datetime.now().isoformat(timespec="seconds"),
        }

    def run(self, stream=None, stop: StopSignals | None = None) -> dict[str, Any]:
        """Train to the end; returns the summary. The caller holds the run directory's lock.

        SIGTERM/SIGINT stop the run between two steps: a checkpoint (when checkpoints are on),
        status ``interrupted``, then ``Interrupted`` is raised. Any other error leaves status
        ``failed`` with the reason; a write error (a full disk) becomes ``TrainingFailed``
        naming the file, and the previous checkpoint is intact (atomic writes). ``stop``: the
        caller's active ``StopSignals`` (a signal received before this call counts), or None
        to catch signals from here on.
        """
        rundir.atomic_write_json(self.run_dir / rundir.SUMMARY, self.status("running"))
        rundir.write_evaluations(self.run_dir, self.evaluations)  # drops rows after the checkpoint
        try:
            # Covers the end too: a late SIGTERM cannot cut the final writes.
            signals = StopSignals() if stop is None else contextlib.nullcontext(stop)
            with signals as stop:
                summary = self._loop(stream, stop)
                rundir.atomic_write_json(self.run_dir / rundir.SUMMARY, summary)
                # Only now: killed before this line, the run still resumes from latest.pt.
                (self.run_dir / rundir.CHECKPOINTS / rundir.LATEST_CHECKPOINT).unlink(
                    missing_ok=True
                )
        except Interrupted as exc:
            self._record_end(self.status("interrupted", reason=str(exc)))
            raise
        except KeyboardInterrupt:
            # A second signal during the clean stop, or an interrupt from outside the loop.
            self._record_end(
                self.status("interrupted", reason="stopped at once, without a clean stop")
            )
            raise
        except OSError as exc:
            reason = f"cannot write {os_error_text(exc)}"
            self._record_end(self.status("failed", reason=reason))
            raise TrainingFailed(reason) from exc
        except Exception as exc:
            self._record_end(self.status("failed", reason=f"{type(exc).__name__}: {exc}"))
            raise
        return summary

    def _record_end(self, summary: dict[str, Any]) -> None:
        """Write the final status; if even that fails (the disk is still full), say so and
        keep the original error: summary.json then still says "running"."""
        try:
            rundir.atomic_write_json(self.run_dir / rundir.SUMMARY, summary)
        except OSError as exc:
            print(
                f"rlx2: warning: could not record status {summary['status']!r} "
                f"({os_error_text(exc)})",
                file=sys.stderr,
                flush=True,
            )

    @property
    def checkpoints_on(self) -> bool:
        run = self.config.run
        return bool(run.checkpoint_every or run.checkpoint_minutes)

    def _loop(self, stream, stop: StopSignals) -> dict[str, Any]:
        config, run, agent, buffer = self.config, self.config.run, self.agent, self.buffer
        seed = run.seed
        self._started = time.perf_counter()
        env, eval_env = make_env(config.env), make_env(config.env)
        if self.wrap_env is not None:
            env = self.wrap_env(env)
        logger = None
        try:
            describe_env(eval_env, config.env)
            env.action_space.seed(seed)
            if self.resumes:
                env.action_space.np_random.bit_generator.state = self._action_space_rng
            # A resumed run starts a new episode with a seed of its own (the physics state is not saved).
            obs, _ = env.reset(seed=seed + 1_000_003 * self.resumes)
            # TensorBoard: drop events written after the checkpoint so curves have no duplicates.
            logger = ScalarLogger(
                self.run_dir / rundir.TENSORBOARD,
                purge_step=self.step + 1 if self.resumes else None,
            )
            episode_return, episode_length = 0.0, 0
            label = f"{config.env} {config.algo} {config.sparse.method} s{seed}"
            # Periodic checkpoints: every checkpoint_every steps or checkpoint_minutes, whichever
            # comes first (saving reads RNG states but draws nothing: results do not depend on it).
            interval_s = run.checkpoint_minutes * 60.0
            next_checkpoint_time = time.monotonic() + interval_s if interval_s else math.inf
            with ProgressReporter(run.total_steps, self.step, run.quiet, label, stream) as progress:
                progress.message(f"run directory: {self.run_dir}")
                if self.resumes:
                    progress.message(f"resumed at step {self.step} (resume #{self.resumes})")
                if stop.requested:  # during the start-up
                    self._stop(env, stop, progress)
                while self.step < run.total_steps:
                    self.step += 1
                    step = self.step
                    if step <= run.learning_starts:
                        action = env.action_space.sample()
                        behaviour = action  # spec §6: during warm-up the random action is the behaviour action
                    else:
                        action, behaviour = agent.act(obs)
                    next_obs, reward, terminated, truncated, _ = env.step(action)
                    buffer.add(
                        obs,
                        action,
                        float(reward),
                        next_obs,
                        bool(terminated),
                        bool(truncated),
                        behaviour,
                    )
                    episode_return += float(reward)
                    episode_length += 1
                    if terminated or truncated:
                        self.episodes += 1
                        logger.scalars(
                            {
                                "train/episode_return": episode_return,
                                "train/episode_length": episode_length,
                            },
                            step,
                        )
                        obs, _ = env.reset()
                        episode_return, episode_length = 0.0, 0
                    else:
                        obs = next_obs

                    if step > run.learning_starts:
                        self._update(step, progress, logger)
                    if step % run.eval_every == 0:
                        self._evaluate(step, eval_env, progress, logger)
                    if step < run.total_steps and (
                        (run.checkpoint_every and step % run.checkpoint_every == 0)
                        or time.monotonic() >= next_checkpoint_time
                    ):
                        self.save_checkpoint(env, rundir.LATEST_CHECKPOINT)
                        next_checkpoint_time = time.monotonic() + interval_s
                    progress.step(step)
                    if stop.requested and step < run.total_steps:
                        self._stop(env, stop, progress)

            wall_time = self.wall_time_before + (time.perf_counter() - self._started)
            self.save_checkpoint(
                env, rundir.FINAL_CHECKPOINT, with_replay=False
            )  # run() then removes latest.pt
        finally:
            if logger is not None:
                logger.close()
            env.close()
            eval_env.close()
        return self._summary(wall_time)

    def _stop(self, env, stop: StopSignals, progress: ProgressReporter) -> None:
        """The clean stop asked for by a signal: checkpoint the step just completed, then raise."""
        total = self.config.run.total_steps
        progress.message(f"{stop.name} received at step {self.step}: stopping")
        if self.checkpoints_on and self.checkpoint_step != self.step and self.step > 0:
            self.save_checkpoint(env, rundir.LATEST_CHECKPOINT)
        if self.checkpoint_step is not None:
            saved = f"checkpoint at step {self.checkpoint_step}"
        elif not self.checkpoints_on:
            saved = "no checkpoint (checkpoints are off): resuming starts again from step 0"
        else:
            saved = "no checkpoint yet: resuming starts again from step 0"
        raise Interrupted(
            f"interrupted by {stop.name} at step {self.step}/{total}; {saved}; continue with "
            f"rlx2 train --resume {self.run_dir}",
            stop.signum or 0,
        )

    def _update(self, step: int, progress: ProgressReporter, logger: ScalarLogger) -> None:
        config, agent = self.config, self.agent
        nstep = self.nstep_schedule.n_at(agent.updates)  # 1 until the delay has passed (spec §5)
        metrics = agent.update(self.buffer.sample(config.agent.batch_size, nstep))
        # Stop on divergence at once rather than train on garbage (a float() per loss: ~1 µs).
        _check_finite({k: v for k, v in metrics.items() if k.startswith("loss/")}, step)
        if self.capacity is not None:
            check = self.capacity.maybe_shrink(step, self.buffer, self.distance_fn)  # type: ignore[arg-type]
            if check is not None:
                self.buffer_checks.append(dataclasses.asdict(check))
                logger.scalars(
                    {
                        "buffer/policy_distance": check.distance,
                        "buffer/size_after_check": check.size_after,
                    },
                    step,
                )
        if step % config.run.log_every == 0:
            values = {name: float(value) for name, value in metrics.items()}
            values["train/nstep"] = nstep
            values["train/steps_per_second"] = progress.steps_per_second(step)
            values["buffer/size"] = len(self.buffer)
            values.update(sparsity_scalars(agent))
            logger.scalars(values, step)

    def _evaluate(
        self, step: int, eval_env, progress: ProgressReporter, logger: ScalarLogger
    ) -> None:
        run = self.config.run
        started = time.perf_counter()
        episodes: list[Episode] | None = [] if run.diagnostics else None
        returns = evaluate(
            self.agent.act_deterministic,
            eval_env,
            run.eval_episodes,
            evaluation_seed(run.seed),
            record=episodes,
        )
        self.eval_time += time.perf_counter() - started
        row: dict[str, Any] = {
            "step": step,
            "return_mean": float(returns.mean()),
            "return_std": float(returns.std()),
            "return_min": float(returns.min()),
            "return_max": float(returns.max()),
            "episodes": len(returns),
        }
        if episodes is not None:
            diagnosed = time.perf_counter()
            values = self._diagnostics(episodes)
            row.update({k: values[k] for k in rundir.DIAGNOSTIC_COLUMNS})
            logger.scalars(values, step, prefix="diag/")
            self.diagnostics_time += time.perf_counter() - diagnosed
        row["wall_time_s"] = round(self.wall_time_before + time.perf_counter() - self._started, 3)
        self.evaluations.append(row)
        rundir.write_evaluations(self.run_dir, self.evaluations)
        rundir.atomic_write_json(self.run_dir / rundir.SUMMARY, self.status("running"))
        logger.scalars(
            {"eval/return_mean": row["return_mean"], "eval/return_std": row["return_std"]}, step
        )
        progress.evaluation(step, row["return_mean"], row["return_std"])

    def _diagnostics(self, episodes: list[Episode]) -> dict[str, float]:
        """Q-value bias on the evaluation episodes, τ-dormant neurons on the newest stored
        transitions, topology exploration and churn (train/diagnostics.py, docs/diagnostics.md).
        Draws no random number."""
        agent, gamma = self.agent, self.config.agent.gamma
        obs, actions, returns = [], [], []
        for episode in episodes:
            keep = comparable_steps(len(episode.rewards), episode.truncated, gamma)
            obs.append(episode.obs[keep])
            actions.append(episode.actions[keep])
            returns.append(returns_to_go(episode.rewards, gamma)[keep])
        with torch.no_grad():
            estimates = (
                agent.critic.q1_value(
                    torch.as_tensor(np.concatenate(obs), device=agent.device),
                    torch.as_tensor(np.concatenate(actions), device=agent.device),
                )
                .cpu()
                .numpy()
            )
        values: dict[str, float] = dict(q_bias(estimates, np.concatenate(returns)))
        tau = self.config.run.dormant_tau
        states, taken = self.buffer.newest(min(len(self.buffer), DORMANT_BATCH))
        inputs = {
            "actor": torch.as_tensor(states),
            "critic": torch.as_tensor(np.concatenate([states, taken], axis=1)),
        }
        for name, updater in agent.updaters().items():
            layers = network_dormant_fractions(getattr(agent, name), inputs[name], tau)
            values[f"dormant_{name}"] = float(np.mean(layers))
            values.update({f"dormant/{name}/layer{i}": f for i, f in enumerate(layers)})
            explored = getattr(updater, "ever_active_fractions", None)
            fractions = explored() if explored is not None else [1.0]
            ever = getattr(updater, "ever_active", None)
            total = (
                sum(int(m.sum()) for m in ever) / sum(m.numel() for m in ever)
                if ever is not None
                else 1.0
            )
            values[f"ever_active_{name}"] = total
            # Cumulative churn: connections grown so far per active connection (0 when dense).
            masks = getattr(updater, "masks", None)
            active = sum(masks.num_active()) if masks is not None else 0
            values[f"churn_{name}"] = updater.connections_changed / active if active else 0.0
            values.update({f"ever_active/{name}/layer{i}": f for i, f in enumerate(fractions)})
        return values

    def _latest_diagnostics(self) -> dict[str, float] | None:
        """The last evaluation's diagnostics (None when they are off)."""
        if not self.evaluations or rundir.DIAGNOSTIC_COLUMNS[0] not in self.evaluations[-1]:
            return None
        return {k: self.evaluations[-1][k] for k in rundir.DIAGNOSTIC_COLUMNS}

    def _summary(self, wall_time: float) -> dict[str, Any]:
        config, run, agent = self.config, self.config.run, self.agent
        returns = [row["return_mean"] for row in self.evaluations]
        final_nstep = self.nstep_schedule.n_at(max(agent.updates - 1, 0))
        checks = self.buffer_checks
        return {
            "format": rundir.FORMAT_VERSION,
            "status": "completed",
            "env": config.env,
            "algo": config.algo,
            "method": config.sparse.method,
            "backend": self.resolved.backend,
            "seed": run.seed,
            "final_return": rundir.final_score(returns) if returns else None,
            "last_return": returns[-1] if returns else None,
            "num_evaluations": len(self.evaluations),
            "total_steps": run.total_steps,
            "episodes": self.episodes,
            "resumes": self.resumes,
            "wall_time_s": round(wall_time, 3),
            "eval_time_s": round(self.eval_time, 3),
            "diagnostics_time_s": round(self.diagnostics_time, 3),
            "steps_per_second": run.total_steps / wall_time,
            "train_steps_per_second": run.total_steps
            / max(wall_time - self.eval_time - self.diagnostics_time, 1e-9),
            "diagnostics": self._latest_diagnostics(),
            **sparsity_summary(agent, self.resolved, nstep=final_nstep),
            "value_learning": {
                "final_nstep": final_nstep,
                "buffer_size": len(self.buffer),
                "buffer_checks": len(checks),
                "buffer_shrinks": sum(1 for c in checks if c["size_after"] < c["size_before"]),
                "last_policy_distance": checks[-1]["distance"] if checks else None,
            },
        }


def policy_distance_fn(agent, capacity):
    """distance_fn for the dynamic buffer: the current deterministic policy on stored states."""
    half_range = agent.actor.scaling.scale.cpu().numpy()

    def distance(obs: np.ndarray, behaviour_actions: np.ndarray) -> float:
        obs_t = torch.as_tensor(obs, device=agent.device)
        policy_actions = agent.policy_actions(obs_t).cpu().numpy()
        return capacity.distance(policy_actions, behaviour_actions, half_range)

    return distance


__all__ = ["train", "resume", "Trainer", "TrainingFailed"]
