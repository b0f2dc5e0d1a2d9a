"""Training steps/s of rlx2 side by side with the libraries users would pick instead.

Stable-Baselines3 (PyTorch) and SBX (SB3 on JAX, CPU) run TD3 and SAC on the same task
(Hopper-v5 by default) with the same hyperparameters as rlx2's dense method and a sparse
rlx2 method (RLx2 at the paper's sparsities): two hidden layers of 256 ReLU units, batch
256, Adam at 3e-4 for every network, γ 0.99, τ 0.005, one gradient step per env step, a
1 M-transition replay buffer (RLx2: its dynamic buffer), the same warm-up of uniformly random
actions. TD3: policy delay 2, Gaussian exploration noise σ = 0.1, target smoothing noise 0.2
clipped at 0.5. SAC: the actor and the targets every step, α auto-tuned from 1.0 towards
−|A| (SB3 and SBX: ``ent_coef="auto"``). Evaluation and checkpoints are off for all. The
settings each library gets are in ``library_settings`` and in the JSON output.

What differs from a library's defaults, and why (all to match rlx2 and each other):
SB3 TD3 defaults to net_arch [400, 300] and learning_rate 1e-3, and SB3/SBX TD3 explore
without noise unless given ``action_noise``; SB3/SBX learn from step 100 unless given
``learning_starts``. SBX's ``train_freq`` and ``gradient_steps`` are 1, as SB3's: SBX does
not batch several gradient steps into one jitted call here.

Every run is a subprocess of its own, pinned to one core (``taskset -c CPU``) with one
thread everywhere (torch, OpenMP/MKL/BLAS, numba; XLA without its multi-threaded Eigen and
with one intra-op thread). Steps/s is measured by the same environment wrapper for every
library (``rlx2.bench.StepClock``) between env steps ``--window START STOP`` (default
2 000–7 000, after the ``--learning-starts`` warm-up of 1 000 steps, the first updates and
JAX's compilation); runs stop at STOP. rlx2 runs are the first STOP steps of a 1 M-step
run (``rlx2.bench.timed_run_args``). Runs take turns, rotating their order each repeat
(``rlx2.bench.round_order``); the figure is the median over ``--repeats``. Ratios compare
medians to SB3's and SBX's of the same algorithm.

    pip install -e ".[peers]"          # after torch==2.13.0, see README
    python benchmarks/peers.py [--cpu 0] [--algos td3 sac] [--repeats 3]
        [--contenders sb3 sbx rlx2:dense rlx2:rlx2] [--output peers.json]
        [--markdown docs/benchmarks.md]

Prints the JSON result on stdout and a table on stderr.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import host_facts, write_section  # noqa: E402

from rlx2.bench import StepClock, check_window, round_order, timed_run_args  # noqa: E402
from rlx2.errors import ConfigError  # noqa: E402
from rlx2.train.loop import machine_facts  # noqa: E402

CONTENDERS = ("sb3", "sbx", "rlx2:dense", "rlx2:rlx2")

# One thread for every library's math: set before the child imports torch, jax or numba.
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "JAX_PLATFORMS": "cpu",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "CUDA_VISIBLE_DEVICES": "",
}

# The shared hyperparameters, in SB3's/SBX's names (rlx2's defaults are the same values;
# rlx2_args passes them explicitly all the same).
SHARED = {
    "learning_rate": 3e-4,
    "buffer_size": 1_000_000,
    "batch_size": 256,
    "tau": 0.005,
    "gamma": 0.99,
    "train_freq": 1,
    "gradient_steps": 1,
    "policy_kwargs": {"net_arch": [256, 256]},  # ReLU is SB3's and SBX's default for TD3/SAC
}
TD3_SETTINGS = {"policy_delay": 2, "target_policy_noise": 0.2, "target_noise_clip": 0.5}
EXPLORATION_NOISE = 0.1  # σ of the Gaussian exploration noise (actions in [-1, 1] on Hopper)


def library_settings(library: str, algo: str, learning_starts: int) -> dict[str, Any]:
    """Keyword arguments of SB3's or SBX's TD3/SAC (without the action noise object)."""
    # A deep copy: the libraries add keys to policy_kwargs.
    settings: dict[str, Any] = {**copy.deepcopy(SHARED), "learning_starts": learning_starts}
    settings["seed"] = 0
    if algo == "td3":
        settings.update(TD3_SETTINGS)
    elif library == "sb3":
        settings.update(ent_coef="auto", target_entropy="auto", target_update_interval=1)
    else:  # SBX's SAC: the actor every step as SB3's and rlx2's (its default, stated)
        settings.update(ent_coef="auto", target_entropy="auto", policy_delay=1)
    return settings


def rlx2_args(method: str, algo: str, env: str, learning_starts: int, window) -> list[str]:
    """``rlx2 train`` options of an rlx2 contender (sparse methods at the paper's sparsities)."""
    args = [
        *("--env", env, "--algo", algo, "--method", method, "--seed", "0", "--threads", "1"),
        *("--hidden", "256", "--batch-size", "256", "--gamma", "0.99", "--tau", "0.005"),
        *("--actor-lr", "3e-4", "--critic-lr", "3e-4", "--buffer-size", "1000000"),
    ]
    if algo == "td3":
        args += ["--exploration-noise", str(EXPLORATION_NOISE), "--policy-delay", "2"]
        args += ["--policy-noise", "0.2", "--noise-clip", "0.5"]
    else:
        args += ["--alpha-lr", "3e-4", "--init-alpha", "1.0"]
    if method not in ("dense", "tiny"):
        args += ["--preset", "paper"]
    return [*args, *timed_run_args(learning_starts, window)]


# ---------------------------------------------------------------- one run (the child)


def run_child(contender: str, algo: str, env_id: str, learning_starts: int, window) -> dict:
    """One timed training run in this process; returns its JSON-ready record."""
    import torch

    torch.set_num_threads(1)
    versions = {"torch": torch.__version__}
    if contender.startswith("rlx2:"):
        import rlx2
        from rlx2.bench import timed_training

        args = rlx2_args(contender.split(":", 1)[1], algo, env_id, learning_starts, window)
        clock = timed_training(args, window)
        versions["rlx2"] = rlx2.__version__
        settings: dict[str, Any] = {"rlx2_train": " ".join(args)}
    else:
        import gymnasium as gym
        import numpy as np
        import stable_baselines3
        from stable_baselines3.common.noise import NormalActionNoise

        if contender == "sb3":
            from stable_baselines3 import SAC, TD3

            extra: dict[str, Any] = {"device": "cpu"}
        else:
            import jax
            import sbx
            from sbx import SAC, TD3

            versions.update(sbx=sbx.__version__, jax=jax.__version__)
            extra = {}
        versions["stable_baselines3"] = stable_baselines3.__version__
        settings = library_settings(contender, algo, learning_starts)
        clock = StepClock(gym.make(env_id), window)
        if algo == "td3":
            act_dim = clock.action_space.shape[0]
            noise = NormalActionNoise(np.zeros(act_dim), EXPLORATION_NOISE * np.ones(act_dim))
            model = TD3("MlpPolicy", clock, action_noise=noise, **settings, **extra)
            settings["action_noise"] = f"NormalActionNoise(0, {EXPLORATION_NOISE})"
        else:
            model = SAC("MlpPolicy", clock, **settings, **extra)
        model.learn(total_timesteps=window[1], progress_bar=False)
    return {
        "contender": contender,
        "algo": algo,
        "env": env_id,
        "steps_per_second": clock.steps_per_second(),
        "cpu_steps_per_second": clock.cpu_steps_per_second(),
        "torch_threads": torch.get_num_threads(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "versions": versions,
        "settings": settings,
    }


# ---------------------------------------------------------------- the parent


def spawn(args: argparse.Namespace, contender: str, algo: str) -> dict:
    command = [
        *("taskset", "-c", args.cpu, sys.executable, str(Path(__file__).resolve())),
        *("--child", contender, "--algos", algo, "--env", args.env),
        *("--learning-starts", str(args.learning_starts), "--window", *map(str, args.window)),
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command, env={**os.environ, **SINGLE_THREAD_ENV}, capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        sys.exit(f"peers: error: {contender} {algo} failed (exit {done.returncode}): {tail}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record["process_wall_s"] = round(time.perf_counter() - started, 1)
    return record


def summarise(args: argparse.Namespace, records: list[dict]) -> dict:
    rows = []
    for algo in args.algos:
        medians: dict[str, dict[str, float]] = {"": {}, "cpu_": {}}  # wall clock, CPU time
        for contender in args.contenders:
            row = {"algo": algo, "contender": contender}
            for clock, of_clock in medians.items():
                samples = [
                    r[f"{clock}steps_per_second"]
                    for r in records
                    if r["algo"] == algo and r["contender"] == contender
                ]
                of_clock[contender] = statistics.median(samples)
                row[f"{clock}steps_per_second"] = round(of_clock[contender], 1)
                row[f"{clock}samples"] = [round(s, 1) for s in samples]
            rows.append(row)
        for row in rows:
            if row["algo"] == algo:
                for clock, of_clock in medians.items():
                    for peer in ("sb3", "sbx"):
                        if peer in of_clock:
                            ratio = of_clock[row["contender"]] / of_clock[peer]
                            row[f"{clock}vs_{peer}"] = round(ratio, 3)
    first = {(r["algo"], r["contender"]): r for r in records}
    return {
        "benchmark": "peers",
        "env": args.env,
        "learning_starts": args.learning_starts,
        "window": list(args.window),
        "repeats": args.repeats,
        "pinned_cpu": args.cpu,
        "threads": 1,
        "single_thread_env": SINGLE_THREAD_ENV,
        **{f"machine_{k}": v for k, v in machine_facts().items()},
        "results": rows,
        "settings": {
            f"{algo} {c}": first[(algo, c)]["settings"]
            for algo in args.algos
            for c in args.contenders
        },
        "versions": {c: first[(args.algos[0], c)]["versions"] for c in args.contenders},
        "runs": records,
        "command": " ".join(["python benchmarks/peers.py", *sys.argv[1:]]),
    }


NAMES = {
    "sb3": "SB3 (PyTorch)",
    "sbx": "SBX (JAX)",
    "rlx2:dense": "rlx2 dense",
    "rlx2:rlx2": "rlx2 RLx2, sparse (paper sparsities)",
}


def markdown(result: dict) -> str:
    start, stop = result["window"]
    lines = [
        f"{result['env']}, CPU `{result['machine_cpu']}`, each run a process of its own on CPU "
        f"{result['pinned_cpu']} (`taskset`), 1 thread; env steps/s between steps {start} and "
        f"{stop} (warm-up {result['learning_starts']} steps); runs interleaved, medians of "
        f"{result['repeats']} repeats.",
        "",
        "| algo | library | training steps/s | vs SB3 | vs SBX | runs (steps/s) | by CPU time: steps/s, vs SBX |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["results"]:
        name = NAMES.get(row["contender"], row["contender"])
        ratios = [f"{row[k]:.2f}×" if k in row else "—" for k in ("vs_sb3", "vs_sbx")]
        samples = ", ".join(f"{s:.0f}" for s in row["samples"])
        cpu = f"{row['cpu_steps_per_second']:.0f}" if "cpu_steps_per_second" in row else "—"
        cpu_ratio = f"{row['cpu_vs_sbx']:.2f}×" if "cpu_vs_sbx" in row else "—"
        lines.append(
            f"| {row['algo'].upper()} | {name} | **{row['steps_per_second']:.0f}** | "
            f"{ratios[0]} | {ratios[1]} | {samples} | {cpu}, {cpu_ratio} |"
        )
    return "\n".join(lines)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--algos", nargs="+", default=["td3", "sac"], choices=["td3", "sac"])
    parser.add_argument(
        "--contenders",
        nargs="+",
        default=list(CONTENDERS),
        help="sb3, sbx, and rlx2:METHOD (rlx2 train --method METHOD; sparse ones --preset paper)",
    )
    parser.add_argument("--learning-starts", type=int, default=1_000)
    parser.add_argument("--window", type=int, nargs=2, default=[2_000, 7_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu", default="0", help="the core every run is pinned to (taskset -c)")
    parser.add_argument("--output", type=Path, help="also write the JSON here (a new file)")
    parser.add_argument("--markdown", type=Path, help="write the table into this markdown file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        check_window(args.learning_starts, tuple(args.window))
    except ConfigError as exc:
        parser.error(str(exc))
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    for contender in args.contenders:
        if contender not in ("sb3", "sbx") and not contender.startswith("rlx2:"):
            parser.error(f"unknown contender {contender!r}: sb3, sbx or rlx2:METHOD")
    return args


def main() -> None:
    args = parse_arguments()
    if args.child:
        print(
            json.dumps(
                run_child(
                    args.child, args.algos[0], args.env, args.learning_starts, tuple(args.window)
                )
            )
        )
        return
    missing = [m for m in ("stable_baselines3", "sbx") if importlib.util.find_spec(m) is None]
    if missing:
        sys.exit(f"peers: error: {', '.join(missing)} missing: pip install -e '.[peers]'")
    if shutil.which("taskset") is None:
        sys.exit("peers: error: taskset (util-linux) is needed to pin the runs to one core")
    if args.output is not None and args.output.exists():
        sys.exit(f"peers: error: {args.output} exists; choose another --output")
    if str(args.cpu) not in {str(c) for c in os.sched_getaffinity(0)}:
        sys.exit(f"peers: error: --cpu {args.cpu} is not one of this process's CPUs")
    runs = [(algo, contender) for algo in args.algos for contender in args.contenders]
    host_before = host_facts()  # lscpu, niceness, /proc/loadavg: the load the runs shared
    records = []
    for r in range(args.repeats):
        for algo, contender in round_order(runs, r):
            record = spawn(args, contender, algo)
            print(
                f"repeat {r + 1}/{args.repeats} {algo} {contender}: "
                f"{record['steps_per_second']:.1f} steps/s ({record['process_wall_s']} s)",
                file=sys.stderr,
                flush=True,
            )
            records.append(record)
    result = {**summarise(args, records), "host_before": host_before, "host_after": host_facts()}
    text = json.dumps(result, indent=2)
    print(text)
    print(markdown(result), file=sys.stderr)
    if args.output is not None:
        tmp = args.output.with_suffix(args.output.suffix + ".tmp")
        tmp.write_text(text + "\n")
        tmp.replace(args.output)
    if args.markdown:
        write_section(args.markdown, "peers", markdown(result))


if __name__ == "__main__":
    main()
