"""Issue 12's speed targets, measured in one process: sparse against dense updates and steps.

For each (algo, task) at the paper's sparsities, four agents built as ``rlx2 train`` builds
them (same seed; masked/sparse ones share their masks) take turns within every repeat:

* ``dense``: dense networks as ``--method dense`` trains them now on a CPU: the fused steps
  over BLAS passes (``rlx2.algos.fused_dense``) and LeanAdam;
* ``dense_autograd``: the same networks and optimiser through torch autograd (dense before);
* ``sparse``: the sparse backend with its fused steps (``rlx2.algos.fused``);
* ``sparse_autograd``: the sparse backend through torch autograd (the sparse backend before).

``update``: ``agent.update(batch)`` on replay batches of random transitions (n-step windows
with ``--nstep``; TD3's figure is the mean of a critic-only and a critic+actor update).
``train_step`` (``--steps``, default on for Hopper): act, ``env.step``, buffer add, sample and
update on the real task, as ``rlx2 train`` does after its warm-up (benchmarks/train_throughput.py).
Every figure is a median over repeats of the mean per call, by wall clock and by the
thread's CPU time (on a machine shared with other work, CPU time leaves out the waits for a
core; ratios of either clock are measured in the same process, interleaved).

    python benchmarks/speed.py [--cases td3:Hopper-v5 td3:HalfCheetah-v5 sac:Hopper-v5]
        [--nstep 1] [--repeats 15] [--markdown docs/benchmarks.md]
        [--output benchmarks/results/speed.json]

Prints one JSON object per case on stdout; ``--output`` also writes them, with the host's
facts (``lscpu``, niceness, cores, ``/proc/loadavg`` before and after), to a new file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import parse_cases, run_cases, write_section  # noqa: E402
from train_throughput import Contender  # noqa: E402

from rlx2.bench import (  # noqa: E402
    BenchConfig,
    bench_agent,
    cpu_model,
    interleaved_times,
    random_batches,
    task_spec,
)

CONTENDERS = ("dense", "dense_autograd", "sparse", "sparse_autograd")
CASES = ("td3:Hopper-v5", "td3:HalfCheetah-v5", "sac:Hopper-v5", "sac:HalfCheetah-v5")


def without_fused_steps(agent):
    """The agent computing its losses' gradients with torch autograd (before)."""
    agent.fused = None
    return agent


def agents(config: BenchConfig, spec) -> dict:
    return {
        "dense": bench_agent(config, spec, "dense"),
        "dense_autograd": without_fused_steps(bench_agent(config, spec, "dense")),
        "sparse": bench_agent(config, spec, "sparse"),
        "sparse_autograd": without_fused_steps(bench_agent(config, spec, "sparse")),
    }


def updates_of(agent, batches):
    position = [0]

    def update() -> None:
        agent.update(batches[position[0] % len(batches)])
        position[0] += 1

    return update


def ratios(times: dict[str, dict[str, float]], clock: str) -> dict[str, float]:
    sparse = times["sparse"][clock]
    return {
        "sparse_vs_dense": round(times["dense"][clock] / sparse, 3),
        "sparse_vs_dense_autograd": round(times["dense_autograd"][clock] / sparse, 3),
        "sparse_vs_sparse_autograd": round(times["sparse_autograd"][clock] / sparse, 3),
        "dense_autograd_vs_dense": round(times["dense_autograd"][clock] / times["dense"][clock], 3),
    }


def measure_case(algo: str, env: str, args) -> dict:
    torch.set_num_threads(1)
    config = BenchConfig(algo=algo, env=env, preset="paper", nstep=args.nstep, seed=0)
    spec = task_spec(config)
    batches = random_batches(config, spec)
    fns = {name: updates_of(agent, batches) for name, agent in agents(config, spec).items()}
    for fn in fns.values():  # warm-up: numba compiles or loads its cache, allocators settle
        for _ in range(10):
            fn()
    times = interleaved_times(fns, args.repeats, args.updates)
    actor_sparsity, critic_sparsity = config.sparsities()
    result = {
        "benchmark": "speed",
        "algo": algo,
        "env": env,
        "actor_sparsity": actor_sparsity,
        "critic_sparsity": critic_sparsity,
        "nstep": args.nstep,
        "batch_size": config.batch_size,
        "hidden": config.hidden,
        "update_us": {n: round(t["wall"] * 1e6, 1) for n, t in times.items()},
        "update_cpu_us": {n: round(t["cpu"] * 1e6, 1) for n, t in times.items()},
        "update_ratio": ratios(times, "wall"),
        "update_ratio_cpu": ratios(times, "cpu"),
        "repeats": args.repeats,
        "updates_per_repeat": args.updates,
    }
    if env in args.steps_envs:
        result.update(measure_steps(algo, env, args))
    return {
        **result,
        "threads": torch.get_num_threads(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
    }


def measure_steps(algo: str, env: str, args) -> dict:
    """Training steps/s of the real loop's step (act, env, add, sample, update), dense vs
    sparse RLx2 (paper sparsities), interleaved."""
    contenders = {
        "dense": Contender(algo, env, "dense", "dense", nstep=args.nstep),
        "sparse": Contender(algo, env, "rlx2", "sparse", nstep=args.nstep),
    }
    steps = {name: c.train_step for name, c in contenders.items()}
    acts = {name: c.act for name, c in contenders.items()}
    for fns in (steps, acts):
        for fn in fns.values():
            for _ in range(20):
                fn()
    step_t = interleaved_times(steps, args.repeats, args.steps)
    act_t = interleaved_times(acts, args.repeats, 10 * args.steps)
    return {
        "train_steps_per_second": {n: round(1 / t["wall"], 1) for n, t in step_t.items()},
        "train_steps_per_second_cpu": {n: round(1 / t["cpu"], 1) for n, t in step_t.items()},
        "train_step_ratio": round(step_t["dense"]["wall"] / step_t["sparse"]["wall"], 3),
        "train_step_ratio_cpu": round(step_t["dense"]["cpu"] / step_t["sparse"]["cpu"], 3),
        "act_us": {n: round(t["wall"] * 1e6, 1) for n, t in act_t.items()},
        "act_cpu_us": {n: round(t["cpu"] * 1e6, 1) for n, t in act_t.items()},
        "steps_per_repeat": args.steps,
    }


def markdown(results: list[dict]) -> str:
    first = results[0]
    lines = [
        "## Issue 12 targets: sparse against dense in one process (`benchmarks/speed.py`)",
        "",
        f"CPU `{first['cpu']}`, {first['threads']} torch thread, torch {first['torch']}; batch "
        f"{first['batch_size']}, hidden {first['hidden']}, {first['nstep']}-step windows, the "
        f"paper's sparsities. Contenders interleaved in one process, medians of "
        f"{first['repeats']} repeats; times are CPU time of the benchmark's thread (wall-clock "
        "ratios in parentheses). dense = what --method dense runs on a CPU (fused steps over BLAS, "
        "LeanAdam); dense, autograd = the same through autograd (before); sparse = fused steps; "
        "sparse, autograd = before.",
        "",
        "| algo | task | sparsity | dense (µs) | dense, autograd (µs) | sparse, autograd (µs) | sparse (µs) | **sparse vs dense** | vs dense, autograd | vs sparse, autograd |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t, ratio, wall = r["update_cpu_us"], r["update_ratio_cpu"], r["update_ratio"]
        lines.append(
            f"| {r['algo'].upper()} | {r['env']} | {r['actor_sparsity']:.0%} / "
            f"{r['critic_sparsity']:.0%} | {t['dense']:.0f} | {t['dense_autograd']:.0f} | "
            f"{t['sparse_autograd']:.0f} | {t['sparse']:.0f} | "
            f"**{ratio['sparse_vs_dense']:.2f}×** ({wall['sparse_vs_dense']:.2f}×) | "
            f"{ratio['sparse_vs_dense_autograd']:.2f}× ({wall['sparse_vs_dense_autograd']:.2f}×) | "
            f"{ratio['sparse_vs_sparse_autograd']:.2f}× ({wall['sparse_vs_sparse_autograd']:.2f}×) |"
        )
    steps = [r for r in results if "train_steps_per_second" in r]
    if steps:
        lines += [
            "",
            "Training steps (act, `env.step`, buffer add, sample, update; RLx2 at the paper's "
            "sparsities against dense), steps/s by CPU time (wall clock in parentheses):",
            "",
            "| algo | task | dense (steps/s) | RLx2, sparse (steps/s) | **ratio** | act dense / sparse (µs) |",
            "|---|---|---|---|---|---|",
        ]
        for r in steps:
            cpu, wall = r["train_steps_per_second_cpu"], r["train_steps_per_second"]
            act = r["act_cpu_us"]
            lines.append(
                f"| {r['algo'].upper()} | {r['env']} | {cpu['dense']:.0f} ({wall['dense']:.0f}) | "
                f"{cpu['sparse']:.0f} ({wall['sparse']:.0f}) | **{r['train_step_ratio_cpu']:.2f}×** "
                f"({r['train_step_ratio']:.2f}×) | {act['dense']:.0f} / {act['sparse']:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), help="algo:env pairs")
    parser.add_argument("--nstep", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--steps", type=int, default=100, help="train steps per repeat")
    parser.add_argument(
        "--steps-envs", nargs="*", default=["Hopper-v5"], help="tasks whose train steps to time"
    )
    parser.add_argument("--markdown", type=Path, help="write the tables into this markdown file")
    parser.add_argument("--output", type=Path, help="also write the results here (a new file)")
    args = parser.parse_args()
    cases = parse_cases(parser, args.cases, args.output)
    results = run_cases(
        "speed", cases, lambda algo, env: measure_case(algo, env, args), args.output
    )
    if args.markdown:
        write_section(args.markdown, "speed", markdown(results))


if __name__ == "__main__":
    main()
