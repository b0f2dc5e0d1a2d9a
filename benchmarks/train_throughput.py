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
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_section  # noqa: E402

from rlx2.bench import cpu_model, interleaved_times  # noqa: E402
from rlx2.config import RunConfig, SparseConfig, TrainConfig  # noqa: E402
from rlx2.train.builders import build_agent, build_value_learning  # noqa: E402
from rlx2.train.envs import check_env, make_env  # noqa: E402


class Contender:
    """One agent with its own environment and replay buffer (built as ``rlx2 train`` builds
    them: RLx2's buffer keeps behaviour actions, the others' do not)."""

    def __init__(self, algo: str, env_id: str, method: str, backend: str, nstep: int = 1):
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
        self.nstep = nstep
        self.buffer = build_value_learning(self.config, spec)[0]
        self.obs, _ = self.env.reset(seed=0)
        for _ in range(5_000):  # warm-up data
            self.env_step()

    def env_step(self, action=None, behaviour=None) -> None:
        action = self.env.action_space.sample() if action is None else action
        behaviour = action if behaviour is None else behaviour
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        self.buffer.add(self.obs, action, float(reward), next_obs, terminated, truncated, behaviour)
        self.obs = self.env.reset()[0] if terminated or truncated else next_obs

    def act(self) -> None:
        self.agent.act(self.obs)

    def update(self) -> None:
        self.agent.update(self.buffer.sample(self.config.agent.batch_size, self.nstep))

    def train_step(self) -> None:
        action, behaviour = self.agent.act(self.obs)
        self.env_step(action, behaviour)
        self.update()


def measure(contenders: dict[str, Contender], repeats: int, steps: int) -> list[dict]:
    def each(method: Callable[[Contender], Callable[[], None]]) -> dict[str, dict[str, float]]:
        fns = {name: method(c) for name, c in contenders.items()}
        for fn in fns.values():  # warm-up: numba compiles or loads its cache
            for _ in range(10):
                fn()
        return interleaved_times(fns, repeats, steps)

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
                "nstep": c.nstep,
                "env_steps_per_second": 1.0 / env_s[name]["wall"],
                "act_us": act_s[name]["wall"] * 1e6,
                "update_ms": update_s[name]["wall"] * 1e3,
                "train_steps_per_second": 1.0 / train_s[name]["wall"],
                "update_share": update_s[name]["wall"] / train_s[name]["wall"],
                "cpu_time": {
                    "env_steps_per_second": 1.0 / env_s[name]["cpu"],
                    "act_us": act_s[name]["cpu"] * 1e6,
                    "update_ms": update_s[name]["cpu"] * 1e3,
                    "train_steps_per_second": 1.0 / train_s[name]["cpu"],
                },
                "repeats": repeats,
                "steps_per_repeat": steps,
                "cpu": cpu_model(),
            }
        )
    return results


def markdown(results: list[dict]) -> str:
    first = results[0]
    lines = [
        "## Training throughput (`benchmarks/train_throughput.py`)",
        "",
        f"{first['env']}, batch {first['batch_size']}, hidden {first['hidden']}, "
        f"{first['nstep']}-step windows, {first['threads']} torch thread, CPU `{first['cpu']}`; "
        f"contenders interleaved in one process, medians of {first['repeats']} repeats of "
        f"{first['steps_per_repeat']} steps. Sparse methods at the paper's sparsities. CPU time "
        "of the benchmark's thread (wall clock in parentheses).",
        "",
        "| algo | method | backend | env only (steps/s) | act (µs) | update (ms) | training (steps/s) | update share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c = r["cpu_time"]
        lines.append(
            f"| {r['algo'].upper()} | {r['method']} | {r['backend']} "
            f"| {c['env_steps_per_second']:.0f} ({r['env_steps_per_second']:.0f}) "
            f"| {c['act_us']:.0f} ({r['act_us']:.0f}) | {c['update_ms']:.2f} ({r['update_ms']:.2f}) "
            f"| {c['train_steps_per_second']:.0f} ({r['train_steps_per_second']:.0f}) "
            f"| {100 * c['update_ms'] / 1e3 * c['train_steps_per_second']:.0f} % |"
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
    parser.add_argument("--nstep", type=int, default=1, help="n of the sampled windows")
    parser.add_argument("--markdown", type=Path, help="write the table into this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for algo in args.algos:
        contenders = {}
        for method in args.methods:
            for backend in args.backends if method not in ("dense", "tiny") else ["dense"]:
                contenders[f"{method}/{backend}"] = Contender(
                    algo, args.env, method, backend, args.nstep
                )
        for result in measure(contenders, args.repeats, args.steps):
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.markdown:
        write_section(args.markdown, "train-throughput", markdown(results))


if __name__ == "__main__":
    main()
