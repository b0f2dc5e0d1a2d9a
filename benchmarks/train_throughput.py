"""TD3 and SAC training throughput on a Gymnasium task (default Hopper-v5), per method and backend.

Measures, in one process with 1 torch thread, for every contender (a method with a backend):
- ``env_steps_per_second``: the environment alone with random actions (the baseline),
- ``act_us``: one exploration action at batch 1,
- ``update_ms``: one gradient update (batch 256) from a filled buffer,
- ``train_steps_per_second``: the real interaction+update step (act, env.step, buffer add,
  sample, update), and ``update_share``: the fraction of a training step spent updating.

Contenders are built first, each with its own environment and replay buffer (5 000 random
warm-up transitions), then take turns inside every repeat (the order rotates), so a busy
machine slows them alike; figures are medians over repeats.

    python benchmarks/train_throughput.py [--env Hopper-v5] [--methods dense rlx2]
        [--backends masked sparse] [--markdown docs/benchmarks.md]

Sparse methods run at the paper's sparsities (--preset paper) with each of --backends
(masked: nn.Linear with masks; sparse: compact networks, ``rlx2.sparse_nets``); dense
methods run dense. Prints one JSON object per algorithm, method and backend on stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_section  # noqa: E402

from rlx2.bench import interleaved_medians  # noqa: E402
from rlx2.config import RunConfig, SparseConfig, TrainConfig  # noqa: E402
from rlx2.train.builders import build_agent  # noqa: E402
from rlx2.train.envs import check_env, make_env  # noqa: E402
from rlx2.value.replay import ReplayBuffer  # noqa: E402


class Contender:
    """One agent with its own environment and replay buffer."""

    def __init__(self, algo: str, env_id: str, method: str, backend: str):
        torch.manual_seed(0)
        sparse = (
            SparseConfig(method=method, preset="paper") if method != "dense" else SparseConfig()
        )
        self.config = TrainConfig(
            env=env_id, algo=algo, sparse=sparse, run=RunConfig(backend=backend)
        )
        spec = check_env(env_id)
        self.agent, effective = build_agent(self.config, spec)
        self.label = {"algo": algo, "method": method, "backend": effective["backend"]}
        self.env = make_env(env_id)
        self.env.action_space.seed(0)
        self.buffer = ReplayBuffer(spec.obs_dim, spec.act_dim, capacity=100_000, seed=0)
        self.obs, _ = self.env.reset(seed=0)
        for _ in range(5_000):  # warm-up data
            self.env_step()

    def env_step(self, action=None) -> None:
        action = self.env.action_space.sample() if action is None else action
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        self.buffer.add(self.obs, action, float(reward), next_obs, terminated, truncated, action)
        self.obs = self.env.reset()[0] if terminated or truncated else next_obs

    def act(self) -> None:
        self.agent.act(self.obs)

    def update(self) -> None:
        self.agent.update(self.buffer.sample(self.config.agent.batch_size))

    def train_step(self) -> None:
        action, _ = self.agent.act(self.obs)
        self.env_step(action)
        self.update()


def measure(contenders: dict[str, Contender], repeats: int, steps: int) -> list[dict]:
    def each(method: Callable[[Contender], Callable[[], None]]) -> dict[str, float]:
        fns = {name: method(c) for name, c in contenders.items()}
        for fn in fns.values():  # warm-up: numba compiles or loads its cache
            for _ in range(10):
                fn()
        return interleaved_medians(fns, repeats, steps)

    env_s = each(lambda c: c.env_step)
    act_s = each(lambda c: c.act)
    update_s = each(lambda c: c.update)
    train_s = each(lambda c: c.train_step)
    results = []
    for name, c in contenders.items():
        results.append(
            {
                "benchmark": "train_throughput",
                **c.label,
                "env": c.config.env,
                "threads": torch.get_num_threads(),
                "batch_size": c.config.agent.batch_size,
                "hidden": c.config.agent.hidden,
                "env_steps_per_second": 1.0 / env_s[name],
                "act_us": act_s[name] * 1e6,
                "update_ms": update_s[name] * 1e3,
                "train_steps_per_second": 1.0 / train_s[name],
                "update_share": update_s[name] / train_s[name],
                "repeats": repeats,
                "steps_per_repeat": steps,
            }
        )
    return results


def markdown(results: list[dict]) -> str:
    cpu = platform.processor() or platform.machine()
    first = results[0]
    lines = [
        "## Training throughput (`benchmarks/train_throughput.py`)",
        "",
        f"{first['env']}, batch {first['batch_size']}, hidden {first['hidden']}, "
        f"{first['threads']} torch thread, CPU `{cpu}`; contenders interleaved in one process, "
        f"medians of {first['repeats']} repeats of {first['steps_per_repeat']} steps. Sparse "
        "methods at the paper's sparsities.",
        "",
        "| algo | method | backend | env only (steps/s) | act (µs) | update (ms) | training (steps/s) | update share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['algo'].upper()} | {r['method']} | {r['backend']} | {r['env_steps_per_second']:.0f} "
            f"| {r['act_us']:.0f} | {r['update_ms']:.2f} | {r['train_steps_per_second']:.0f} "
            f"| {100 * r['update_share']:.0f} % |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--algos", nargs="+", default=["td3", "sac"], choices=["td3", "sac"])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["dense"],
        help="dense and/or sparse methods (--preset paper)",
    )
    parser.add_argument(
        "--backends",
        nargs="+",
        default=["auto"],
        choices=["auto", "masked", "sparse"],
        help="execution of the sparse methods (dense methods always run dense)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--markdown", type=Path, help="write the table into this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for algo in args.algos:
        contenders = {}
        for method in args.methods:
            for backend in args.backends if method not in ("dense", "tiny") else ["dense"]:
                contenders[f"{method}/{backend}"] = Contender(algo, args.env, method, backend)
        for result in measure(contenders, args.repeats, args.steps):
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.markdown:
        write_section(args.markdown, "train-throughput", markdown(results))


if __name__ == "__main__":
    main()
