"""TD3 and SAC training throughput on a Gymnasium task (default Hopper-v5), dense or masked-sparse.

Measures, in one process with 1 torch thread (medians of repeats):
- ``env_steps_per_second``: the environment alone with random actions (the baseline),
- ``act_us``: one exploration action at batch 1,
- ``update_ms``: one gradient update (batch 256) from a filled buffer,
- ``train_steps_per_second``: the real interaction+update step (act, env.step, buffer add,
  sample, update), and ``update_share``: the fraction of a training step spent updating.

    python benchmarks/train_throughput.py [--env Hopper-v5] [--methods dense rlx2] [--markdown docs/benchmarks.md]

Prints one JSON object per algorithm on stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_time, write_section  # noqa: E402

from rlx2.config import SparseConfig, TrainConfig  # noqa: E402
from rlx2.train.builders import build_agent  # noqa: E402
from rlx2.train.envs import check_env, make_env  # noqa: E402
from rlx2.value.replay import ReplayBuffer  # noqa: E402


def measure(algo: str, env_id: str, repeats: int, steps: int, method: str = "dense") -> dict:
    torch.manual_seed(0)
    sparse = SparseConfig(method=method, preset="paper") if method != "dense" else SparseConfig()
    config = TrainConfig(env=env_id, algo=algo, sparse=sparse)
    spec = check_env(env_id)
    agent, _ = build_agent(config, spec)
    env = make_env(env_id)
    env.action_space.seed(0)
    buffer = ReplayBuffer(spec.obs_dim, spec.act_dim, capacity=100_000, seed=0)
    obs, _ = env.reset(seed=0)

    def env_step(action=None):
        nonlocal obs
        action = env.action_space.sample() if action is None else action
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, float(reward), next_obs, terminated, truncated, action)
        obs = env.reset()[0] if terminated or truncated else next_obs

    for _ in range(5_000):  # fill the buffer with warm-up data
        env_step()
    batch_size = config.agent.batch_size
    env_s = median_time(env_step, repeats, inner=steps)
    act_s = median_time(lambda: agent.act(obs), repeats, inner=steps)
    update_s = median_time(lambda: agent.update(buffer.sample(batch_size)), repeats, inner=steps)

    def train_step():
        action, _ = agent.act(obs)
        env_step(action)
        agent.update(buffer.sample(batch_size))

    train_s = median_time(train_step, repeats, inner=steps)
    return {
        "benchmark": "train_throughput",
        "algo": algo,
        "method": method,
        "env": env_id,
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "hidden": config.agent.hidden,
        "env_steps_per_second": 1.0 / env_s,
        "act_us": act_s * 1e6,
        "update_ms": update_s * 1e3,
        "train_steps_per_second": 1.0 / train_s,
        "update_share": update_s / train_s,
        "repeats": repeats,
        "steps_per_repeat": steps,
    }


def markdown(results: list[dict]) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "## Training throughput (`benchmarks/train_throughput.py`)",
        "",
        f"{results[0]['env']}, batch {results[0]['batch_size']}, hidden {results[0]['hidden']}, "
        f"{results[0]['threads']} torch thread, CPU `{cpu}`; medians of {results[0]['repeats']} repeats "
        f"of {results[0]['steps_per_repeat']} steps.",
        "",
        "| algo | method | env only (steps/s) | act (µs) | update (ms) | training (steps/s) | update share |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['algo'].upper()} | {r['method']} | {r['env_steps_per_second']:.0f} | {r['act_us']:.0f} | {r['update_ms']:.2f} "
            f"| {r['train_steps_per_second']:.0f} | {100 * r['update_share']:.0f} % |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--algos", nargs="+", default=["td3", "sac"], choices=["td3", "sac"])
    parser.add_argument(
        "--methods", nargs="+", default=["dense"], help="dense and/or sparse methods (masked execution, --preset paper)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", type=Path, help="write the table into this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for algo in args.algos:
        for method in args.methods:
            result = measure(algo, args.env, args.repeats, args.steps, method)
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.markdown:
        write_section(args.markdown, "train-throughput", markdown(results))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
