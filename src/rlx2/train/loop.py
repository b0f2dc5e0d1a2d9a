"""One training run: warm-up, one update per env step, evaluation and checkpoint cadence.

``train(config)`` validates everything that can be validated before it touches the disk,
then writes the run directory as it goes (see ``rundir``).
"""

from __future__ import annotations

import dataclasses
import io
import platform
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rlx2
from rlx2.config import TrainConfig
from rlx2.errors import ConfigError
from rlx2.train import rundir
from rlx2.train.builders import build_agent, build_value_learning, dense_weight_counts
from rlx2.train.envs import EnvSpec, check_env, describe_env, make_env
from rlx2.train.evaluate import evaluate, evaluation_seed
from rlx2.train.logging import ProgressReporter, ScalarLogger
from rlx2.train.sparsity_report import sparsity_scalars, sparsity_summary


class TrainingFailed(RuntimeError):
    """Training stopped on a condition that makes continuing meaningless (e.g. non-finite losses)."""


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


def default_run_dir(config: TrainConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.env}_{config.algo}_s{config.run.seed}_{stamp}"


def resolved_config(
    config: TrainConfig, spec: EnvSpec, run_dir: Path, extra: dict[str, Any]
) -> dict[str, Any]:
    """Everything needed to understand (and repeat) the run: options, task facts, versions."""
    return {
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
        "command": sys.argv,
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    data = io.BytesIO()
    torch.save(payload, data)
    rundir.atomic_write_bytes(path, data.getvalue())


def _check_finite(metrics: dict[str, float], step: int) -> None:
    bad = [name for name, value in metrics.items() if not np.isfinite(value)]
    if bad:
        raise TrainingFailed(f"non-finite {', '.join(bad)} at step {step}")


def train(config: TrainConfig, stream=None) -> dict[str, Any]:
    """Run one training run described by ``config``; returns the summary (also in summary.json)."""
    spec = check_env(config.env)  # bad env ids fail here, before anything is written
    run_dir = Path(config.run.run_dir) if config.run.run_dir else default_run_dir(config)
    torch.set_num_threads(config.run.threads)
    torch.manual_seed(config.run.seed)
    np.random.seed(config.run.seed)
    # Allocation and value-learning errors fail here, before the run directory exists.
    agent, effective = build_agent(config, spec)
    value_learning = build_value_learning(config, spec)
    effective["value_learning"] = value_learning[3]
    rundir.prepare_new_run_dir(run_dir, overwrite=config.run.overwrite)
    rundir.atomic_write_json(
        run_dir / rundir.CONFIG, resolved_config(config, spec, run_dir, effective)
    )
    status = {
        "status": "running",
        "env": config.env,
        "algo": config.algo,
        "method": config.sparse.method,
        "seed": config.run.seed,
        "total_steps": config.run.total_steps,
    }
    rundir.atomic_write_json(run_dir / rundir.SUMMARY, status)

    try:
        summary = _run(config, spec, run_dir, agent, value_learning[:3], stream)
    except (KeyboardInterrupt, Exception) as exc:
        reason = (
            "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        )
        rundir.atomic_write_json(
            run_dir / rundir.SUMMARY, {**status, "status": "failed", "reason": reason}
        )
        raise
    rundir.atomic_write_json(run_dir / rundir.SUMMARY, summary)
    return summary


def policy_distance_fn(agent, capacity):
    """distance_fn for the dynamic buffer: the current deterministic policy on stored states."""
    half_range = agent.actor.scaling.scale.cpu().numpy()

    def distance(obs: np.ndarray, behaviour_actions: np.ndarray) -> float:
        obs_t = torch.as_tensor(obs, device=agent.device)
        policy_actions = agent.policy_actions(obs_t).cpu().numpy()
        return capacity.distance(policy_actions, behaviour_actions, half_range)

    return distance


def _run(
    config: TrainConfig, spec: EnvSpec, run_dir: Path, agent, value_learning, stream
) -> dict[str, Any]:
    run, seed = config.run, config.run.seed
    buffer, nstep_schedule, capacity = value_learning
    distance_fn = policy_distance_fn(agent, capacity) if capacity is not None else None
    buffer_checks: list[dict[str, Any]] = []
    env = make_env(config.env)
    eval_env = make_env(config.env)
    describe_env(eval_env, config.env)
    env.action_space.seed(seed)
    logger = ScalarLogger(run_dir / rundir.TENSORBOARD)
    evaluations: list[dict[str, Any]] = []
    started = time.perf_counter()
    eval_time = 0.0

    obs, _ = env.reset(seed=seed)
    episode_return, episode_length, episodes = 0.0, 0, 0
    label = f"{config.env} {config.algo} s{seed}"
    with ProgressReporter(run.total_steps, 0, run.quiet, label, stream) as progress:
        for step in range(1, run.total_steps + 1):
            if step <= run.learning_starts:
                action = env.action_space.sample()
                behaviour = (
                    action  # spec §6: during warm-up the random action is the behaviour action
                )
            else:
                action, behaviour = agent.act(obs)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(
                obs, action, float(reward), next_obs, bool(terminated), bool(truncated), behaviour
            )
            episode_return += float(reward)
            episode_length += 1
            if terminated or truncated:
                episodes += 1
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
                nstep = nstep_schedule.n_at(agent.updates)  # 1 until the delay has passed (spec §5)
                metrics = agent.update(buffer.sample(config.agent.batch_size, nstep))
                if capacity is not None:
                    check = capacity.maybe_shrink(step, buffer, distance_fn)
                    if check is not None:
                        buffer_checks.append(dataclasses.asdict(check))
                        logger.scalars(
                            {
                                "buffer/policy_distance": check.distance,
                                "buffer/size_after_check": check.size_after,
                            },
                            step,
                        )
                if step % run.log_every == 0:
                    values = {name: float(value) for name, value in metrics.items()}
                    values["train/nstep"] = nstep
                    _check_finite(values, step)
                    values["train/steps_per_second"] = progress.steps_per_second(step)
                    values["buffer/size"] = len(buffer)
                    values.update(sparsity_scalars(agent))
                    logger.scalars(values, step)

            if step % run.eval_every == 0:
                eval_started = time.perf_counter()
                returns = evaluate(
                    agent.act_deterministic, eval_env, run.eval_episodes, evaluation_seed(seed)
                )
                eval_time += time.perf_counter() - eval_started
                row = {
                    "step": step,
                    "return_mean": float(returns.mean()),
                    "return_std": float(returns.std()),
                    "return_min": float(returns.min()),
                    "return_max": float(returns.max()),
                    "episodes": len(returns),
                    "wall_time_s": round(time.perf_counter() - started, 3),
                }
                evaluations.append(row)
                rundir.write_evaluations(run_dir, evaluations)
                logger.scalars(
                    {"eval/return_mean": row["return_mean"], "eval/return_std": row["return_std"]},
                    step,
                )
                progress.evaluation(step, row["return_mean"], row["return_std"])
            progress.step(step)

    wall_time = time.perf_counter() - started
    _save_checkpoint(
        run_dir / rundir.CHECKPOINTS / "final.pt",
        {
            "agent": agent.state_dict(),
            "step": run.total_steps,
            "config": dataclasses.asdict(config),
        },
    )
    logger.close()
    env.close()
    eval_env.close()
    returns_history = [row["return_mean"] for row in evaluations]
    final_nstep = nstep_schedule.n_at(max(agent.updates - 1, 0))
    return {
        "status": "completed",
        "env": config.env,
        "algo": config.algo,
        "seed": seed,
        "final_return": rundir.final_score(returns_history) if returns_history else None,
        "last_return": returns_history[-1] if returns_history else None,
        "num_evaluations": len(evaluations),
        "total_steps": run.total_steps,
        "episodes": episodes,
        "wall_time_s": round(wall_time, 3),
        "eval_time_s": round(eval_time, 3),
        "steps_per_second": run.total_steps / wall_time,
        "train_steps_per_second": run.total_steps / max(wall_time - eval_time, 1e-9),
        "method": config.sparse.method,
        **sparsity_summary(
            agent, config.algo, dense_weight_counts(config, spec), nstep=final_nstep
        ),
        "value_learning": {
            "final_nstep": final_nstep,
            "buffer_size": len(buffer),
            "buffer_checks": len(buffer_checks),
            "buffer_shrinks": sum(1 for c in buffer_checks if c["size_after"] < c["size_before"]),
            "last_policy_distance": buffer_checks[-1]["distance"] if buffer_checks else None,
        },
    }


__all__ = ["train", "TrainingFailed", "ConfigError"]
