"""Masked-backend update time, eager against ``--compile``, on the CPU or a CUDA device.

The masked path is the reference and the GPU path: on a GPU a 256-wide TD3/SAC update is
bound by kernel launches, which ``--compile`` removes (fused kernels; CUDA graphs with mode
reduce-overhead on CUDA). Two agents built as ``rlx2 train`` builds them (same seed, same
masks), timed in turns within each repeat; the figure is the median over repeats of the mean
time per update (CUDA: synchronised before each clock read). Prints one JSON object.

    python benchmarks/masked_compile.py --algo td3 --obs-dim 11 --act-dim 3 \\
        --actor-sparsity 0.98 --critic-sparsity 0.95 [--device cuda] [--markdown docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_section  # noqa: E402

from rlx2.bench import BenchConfig, _batches  # noqa: E402
from rlx2.config import AgentConfig, RunConfig, SparseConfig, TrainConfig  # noqa: E402
from rlx2.train.builders import build_agent  # noqa: E402
from rlx2.train.envs import EnvSpec  # noqa: E402


def build(args: argparse.Namespace, spec: EnvSpec, compiled: bool):
    config = TrainConfig(
        env=spec.env_id,
        algo=args.algo,
        # A long nominal run: no topology update falls inside the timed updates.
        run=RunConfig(
            total_steps=10**9,
            learning_starts=10**6,
            backend="masked",
            device=args.device,
            compile=compiled,
            seed=0,
        ),
        agent=AgentConfig(batch_size=args.batch_size, hidden=args.hidden),
        sparse=SparseConfig(
            method="rigl", actor_sparsity=args.actor_sparsity, critic_sparsity=args.critic_sparsity
        ),
    )
    torch.manual_seed(0)
    return build_agent(config, spec)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=["td3", "sac"], default="td3")
    parser.add_argument("--obs-dim", type=int, default=11)
    parser.add_argument("--act-dim", type=int, default=3)
    parser.add_argument("--actor-sparsity", type=float, default=0.98)
    parser.add_argument("--critic-sparsity", type=float, default=0.95)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--markdown", type=Path, help="write the result into this markdown file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ones = np.ones(args.act_dim, dtype=np.float32)
    spec = EnvSpec(
        env_id=f"obs{args.obs_dim}-act{args.act_dim}",
        obs_dim=args.obs_dim,
        act_dim=args.act_dim,
        low=-ones,
        high=ones,
        max_episode_steps=None,
    )
    bench = BenchConfig(
        algo=args.algo,
        obs_dim=args.obs_dim,
        act_dim=args.act_dim,
        actor_sparsity=args.actor_sparsity,
        critic_sparsity=args.critic_sparsity,
        batch_size=args.batch_size,
    )
    device = torch.device(args.device)
    batches = [
        dataclasses.replace(
            b, **{f.name: getattr(b, f.name).to(device) for f in dataclasses.fields(b)}
        )
        for b in _batches(bench, spec)
    ]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    agents = {"eager": build(args, spec, False), "compiled": build(args, spec, True)}

    started = time.perf_counter()
    for agent in agents.values():  # warm-up; the compiled agent compiles here
        for i in range(max(4, args.updates // 2)):
            agent.update(batches[i % len(batches)])
    sync()
    warmup_s = time.perf_counter() - started

    samples: dict[str, list[float]] = {name: [] for name in agents}
    names = list(agents)
    for r in range(args.repeats):
        for name in names[r % 2 :] + names[: r % 2]:  # alternate who goes first
            agent = agents[name]
            sync()
            start = time.perf_counter()
            for i in range(args.updates):
                agent.update(batches[i % len(batches)])
            sync()
            samples[name].append((time.perf_counter() - start) / args.updates)
    eager_us = statistics.median(samples["eager"]) * 1e6
    compiled_us = statistics.median(samples["compiled"]) * 1e6
    result = {
        "benchmark": "masked_compile",
        "algo": args.algo,
        "obs_dim": args.obs_dim,
        "act_dim": args.act_dim,
        "actor_sparsity": args.actor_sparsity,
        "critic_sparsity": args.critic_sparsity,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (platform.processor() or platform.machine()),
        "compile_mode": agents["compiled"].compiled.mode,
        "threads": torch.get_num_threads(),
        "update": {
            "eager_us": eager_us,
            "compiled_us": compiled_us,
            "speedup": eager_us / compiled_us,
        },
        "warmup_s": warmup_s,
        "torch": torch.__version__,
    }
    print(json.dumps(result))
    if args.markdown:
        body = (
            "| algo | dims | sparsity | device | mode | eager (µs) | compiled (µs) | speedup |\n"
            "|---|---|---|---|---|---|---|---|\n"
            f"| {args.algo.upper()} | obs {args.obs_dim}, act {args.act_dim} | "
            f"{args.actor_sparsity:.0%} / {args.critic_sparsity:.0%} | {result['device_name']} | "
            f"{result['compile_mode']} | {eager_us:.0f} | {compiled_us:.0f} | "
            f"**{result['update']['speedup']:.2f}×** |"
        )
        write_section(args.markdown, f"masked-compile-{args.algo}-{device.type}", body)


if __name__ == "__main__":
    main()
