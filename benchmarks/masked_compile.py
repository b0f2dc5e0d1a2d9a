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
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_section  # noqa: E402

from rlx2.bench import (  # noqa: E402
    BenchConfig,
    bench_agent,
    interleaved_medians,
    random_batches,
    task_spec,
)


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
    bench = BenchConfig(
        algo=args.algo,
        obs_dim=args.obs_dim,
        act_dim=args.act_dim,
        actor_sparsity=args.actor_sparsity,
        critic_sparsity=args.critic_sparsity,
        batch_size=args.batch_size,
        hidden=args.hidden,
    )
    spec = task_spec(bench)
    device = torch.device(args.device)
    batches = [
        dataclasses.replace(
            b, **{f.name: getattr(b, f.name).to(device) for f in dataclasses.fields(b)}
        )
        for b in random_batches(bench, spec)
    ]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    agents = {
        name: bench_agent(bench, spec, "masked", device=args.device, compile=compiled)
        for name, compiled in (("eager", False), ("compiled", True))
    }

    def updates_of(agent):
        def run() -> None:  # the clock is read only after the device has finished
            for i in range(args.updates):
                agent.update(batches[i % len(batches)])
            sync()

        return run

    runs = {name: updates_of(agent) for name, agent in agents.items()}
    started = time.perf_counter()
    for run in runs.values():  # warm-up; the compiled agent compiles here
        run()
    warmup_s = time.perf_counter() - started
    seconds = interleaved_medians(runs, args.repeats, calls=1)
    eager_us = seconds["eager"] / args.updates * 1e6
    compiled_us = seconds["compiled"] / args.updates * 1e6
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
