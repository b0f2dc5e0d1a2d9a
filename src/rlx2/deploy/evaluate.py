"""``rlx2 evaluate --policy FILE``: deterministic evaluation of an exported policy, NumPy only.

It runs the training loop's own evaluation (``rlx2.train.evaluate``: the env seeded with
seed + 100 and re-seeded at every evaluation), so with the run's seed and episode count it
reproduces the run's last evaluation (docs/deploy.md shows how closely). Neither this module
nor anything it imports needs torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import tyro

from rlx2.deploy.numpy_policy import NumpyPolicy, PolicyFileError, load_policy
from rlx2.errors import ConfigError
from rlx2.train.envs import EnvSpec, describe_env, make_env
from rlx2.train.evaluate import evaluate, evaluation_seed


@dataclass(frozen=True)
class EvaluateConfig:
    """``rlx2 evaluate``: deterministic returns of an exported policy file (NumPy only)."""

    policy: str
    """Policy file written by ``rlx2 export``."""
    env: str | None = None
    """Gymnasium task (default: the task recorded in the policy file)."""
    episodes: int = 10
    """Episodes to evaluate."""
    seed: int | None = None
    """Run seed; the evaluation env is seeded with seed + 100 as in training (default: the run's seed recorded in the file)."""
    execution: Literal["auto", "csr", "dense"] = "auto"
    """How layers are multiplied: csr (active weights only), dense (BLAS), auto (dense above 5 % density)."""
    print_json: Annotated[bool, tyro.conf.arg(name="json")] = False
    """Print a JSON object with every return instead of one line."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ConfigError(f"--episodes must be >= 1, got {self.episodes}")
        if self.seed is not None and self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")


def check_policy_fits(policy: NumpyPolicy, spec: EnvSpec, policy_path: str) -> None:
    """Raise ConfigError unless the policy's observation and action sizes are the task's."""
    if (policy.obs_dim, policy.act_dim) != (spec.obs_dim, spec.act_dim):
        raise ConfigError(
            f"--policy {policy_path} is for obs_dim={policy.obs_dim}, act_dim={policy.act_dim} "
            f"but --env {spec.env_id} has obs_dim={spec.obs_dim}, act_dim={spec.act_dim}"
        )


def evaluate_policy_file(
    policy_path: str | Path,
    env_id: str | None = None,
    episodes: int = 10,
    seed: int | None = None,
    execution: str = "auto",
) -> dict[str, Any]:
    """Load, check against the task, and evaluate; returns the figures ``--json`` prints.

    :raises ConfigError: unusable policy file, unknown task, or dimensions that differ.
    """
    try:
        policy = load_policy(policy_path, execution)
    except PolicyFileError as exc:
        raise ConfigError(f"--policy {exc}") from None
    env_id = env_id or policy.metadata.get("env")
    if not env_id:
        raise ConfigError(f"--policy {policy_path} names no task; pass --env")
    if seed is None:
        try:
            seed = int(policy.metadata.get("seed", 0))
        except ValueError:
            raise ConfigError(f"--policy {policy_path} has a bad seed; pass --seed") from None
    env = make_env(env_id)
    try:
        spec = describe_env(env, env_id)
        check_policy_fits(policy, spec, str(policy_path))
        returns = evaluate(policy, env, episodes, evaluation_seed(seed))  # [episodes]
    finally:
        env.close()
    return {
        "policy": str(policy_path),
        "env": env_id,
        "seed": seed,
        "env_seed": evaluation_seed(seed),
        "episodes": episodes,
        "execution": policy.execution,
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "returns": [float(r) for r in returns],
    }


def cli_main(args: list[str]) -> None:
    """``rlx2 evaluate --policy FILE [--env ENV] [--episodes N] [--seed S] [--json]``."""
    from rlx2.parsing import parse

    config: EvaluateConfig = parse(EvaluateConfig, args, "rlx2 evaluate")
    result = evaluate_policy_file(
        config.policy, config.env, config.episodes, config.seed, config.execution
    )
    if config.print_json:
        print(json.dumps(result, indent=2))
        return
    returns = np.asarray(result["returns"])
    print(
        f"{result['env']}: return {result['return_mean']:.2f} ± {result['return_std']:.2f} over "
        f"{result['episodes']} episodes (min {returns.min():.2f}, max {returns.max():.2f}; "
        f"seed {result['seed']}, eval env seed {result['env_seed']})"
    )


__all__ = ["EvaluateConfig", "check_policy_fits", "cli_main", "evaluate_policy_file"]
