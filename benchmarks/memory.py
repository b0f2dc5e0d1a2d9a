"""Memory of a run: replay bytes per stored transition (exact) and resident memory over a
Hopper run with a 1 M-transition buffer (measured, then extrapolated to 1 M steps).

(a) ``bytes_per_transition``: what each stored transition costs in ``rlx2.value.ReplayBuffer``
    for the paper's tasks, with behaviour actions (RLx2: the dynamic buffer reads them) and
    without (every other method), against the layout before next observations were derived
    (obs, next_obs, action, behaviour action, reward, terminated, truncated, all float32).
    The side store of final observations is measured on a real stream of the task
    (random actions, so episodes are short: an upper bound for a trained policy).
(b) ``rss``: ``rlx2 train``'s own loop (``Trainer``) with the paper's budget (3 M steps, so
    the buffer has 1 M rows: TD3's fixed buffer, and RLx2-TD3's dynamic maximum), stopped
    after ``--steps`` steps. VmRSS is read every ``--every`` steps. The RSS at 1 M stored
    transitions is the last reading plus the buffer's bytes per transition for every row
    still to fill (its arrays are np.zeros: pages are committed as rows are written, and
    nothing else grows with the stored transitions). The measured growth per step is
    reported too, but does not extrapolate: transparent huge pages commit 2 MiB at a time
    and one-off allocations (the first n-step windows, a topology update) fall between
    readings. The peak (VmHWM) is as measured; checkpoints are off here (a checkpoint
    writes a copy of the buffer: the campaign's real 1 M-step runs show that peak). A 1 M-step
    run takes hours on a shared core, so the 1 M figure is an estimate, and says so.

    python benchmarks/memory.py [--steps 40000] [--every 5000] [--methods dense rlx2]
        [--markdown docs/benchmarks.md]

Prints one JSON object per measurement on stdout.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_section  # noqa: E402

from rlx2.bench import cpu_model  # noqa: E402
from rlx2.value.replay import ReplayBuffer  # noqa: E402

TASKS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Ant-v5")


def status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS: resident now; VmHWM: peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def bytes_per_transition(task: str, samples: int) -> dict:
    from rlx2.train.envs import check_env, make_env

    spec = check_env(task)
    before = 4 * (2 * spec.obs_dim + 2 * spec.act_dim + 3)
    env = make_env(task)
    env.action_space.seed(0)
    buffer = ReplayBuffer(spec.obs_dim, spec.act_dim, capacity=samples, seed=0)
    obs, _ = env.reset(seed=0)
    episodes = 0
    for _ in range(samples):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, float(reward), next_obs, terminated, truncated, action)
        if terminated or truncated:
            episodes += 1
            obs, _ = env.reset()
        else:
            obs = next_obs
    env.close()
    side_slots = int((buffer._final_slot >= 0).sum())  # final observations kept, newest included
    lean = ReplayBuffer(spec.obs_dim, spec.act_dim, capacity=1, behaviour_actions=False)
    return {
        "benchmark": "memory",
        "measure": "bytes_per_transition",
        "env": task,
        "obs_dim": spec.obs_dim,
        "act_dim": spec.act_dim,
        "before": before,
        "with_behaviour_actions": buffer.bytes_per_transition,
        "without_behaviour_actions": lean.bytes_per_transition,
        "random_policy_episode_length": samples / max(episodes, 1),
        "side_store_bytes_per_transition": round(side_slots * 4 * spec.obs_dim / samples, 3),
    }


class _Stop(Exception):
    pass


def rss_of_run(method: str, steps: int, every: int, learning_starts: int) -> dict:
    import torch

    from rlx2.config import RunConfig, SparseConfig, TrainConfig
    from rlx2.train.envs import check_env
    from rlx2.train.loop import Trainer
    from rlx2.train.signals import StopSignals

    sparse = SparseConfig() if method == "dense" else SparseConfig(method=method, preset="paper")
    readings: list[tuple[int, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        config = TrainConfig(
            env="Hopper-v5",
            algo="td3",
            sparse=sparse,
            run=RunConfig(
                total_steps=3_000_000,
                learning_starts=learning_starts,
                eval_every=10**9,
                quiet=True,
                run_dir=str(run_dir),
            ),
        )
        run_dir.mkdir()
        trainer = Trainer(config, check_env("Hopper-v5"), run_dir)
        capacity = trainer.buffer.capacity
        per_row = trainer.buffer.bytes_per_transition
        backend = trainer.resolved.backend
        update = trainer._update

        def update_and_read(step, progress, logger):  # the loop calls this after warm-up
            update(step, progress, logger)
            if step % every == 0:
                readings.append((step, status_kib("VmRSS")))
            if step >= steps:
                raise _Stop

        readings.append((0, status_kib("VmRSS")))
        trainer._update = update_and_read  # type: ignore[method-assign]
        try:
            trainer._loop(None, StopSignals())  # not entered: no handlers, never requested
        except _Stop:
            pass
        stored = len(trainer.buffer)
    peak = status_kib("VmHWM")
    (s0, r0), (s1, r1) = readings[1], readings[-1]  # growth after the first reading
    slope = (r1 - r0) * 1024 / (s1 - s0)  # bytes per step
    return {
        "benchmark": "memory",
        "measure": "rss",
        "env": "Hopper-v5",
        "algo": "td3",
        "method": method,
        "backend": backend,
        "buffer_capacity": capacity,
        "buffer_bytes_per_transition": per_row,
        "steps": steps,
        "stored_transitions": stored,
        "rss_kib": dict(readings),
        "peak_rss_kib": peak,
        "rss_growth_bytes_per_step": round(slope, 1),
        "extrapolated_rss_at_1m_transitions_mib": round(
            (r1 * 1024 + per_row * (min(capacity, 1_000_000) - stored)) / 2**20, 1
        ),
        "torch": torch.__version__,
        "cpu": cpu_model(),
    }


def markdown(per_transition: list[dict], runs: list[dict]) -> str:
    lines = [
        "## Memory (`benchmarks/memory.py`)",
        "",
        "Replay bytes per stored transition (float32 fields; a flags byte and an int32 "
        "side-store index per row); the side store of final observations measured on a "
        "random-action stream (short episodes: an upper bound).",
        "",
        "| task | obs / act | before | now, RLx2 (behaviour actions) | now, other methods | side store (B/transition, random policy) |",
        "|---|---|---|---|---|---|",
    ]
    for r in per_transition:
        lines.append(
            f"| {r['env']} | {r['obs_dim']} / {r['act_dim']} | {r['before']} | "
            f"{r['with_behaviour_actions']} | {r['without_behaviour_actions']} | "
            f"{r['side_store_bytes_per_transition']:.2f} |"
        )
    if runs:
        first = runs[0]
        lines += [
            "",
            f"Resident memory of `rlx2 train`'s loop on Hopper-v5 (TD3, the paper's 3 M-step "
            f"budget, so a {first['buffer_capacity']:,}-row buffer), stopped after "
            f"{first['steps']:,} steps, checkpoints off; CPU `{first['cpu']}`. The 1 M figure is "
            "the last reading plus the buffer's bytes per transition for every row still to "
            "fill; the measured growth per step includes 2 MiB huge pages and one-off "
            "allocations, so it is shown but not extrapolated.",
            "",
            "| method | backend | RSS at start (MiB) | RSS at the last reading (MiB) | growth (B/step) | buffer B/transition | **RSS at 1 M transitions (MiB, extrapolated)** | peak RSS measured (MiB) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in runs:
            rss = list(r["rss_kib"].values())
            lines.append(
                f"| {r['method']} | {r['backend']} | {rss[0] / 1024:.0f} | {rss[-1] / 1024:.0f} | "
                f"{r['rss_growth_bytes_per_step']:.0f} | {r['buffer_bytes_per_transition']} | "
                f"**{r['extrapolated_rss_at_1m_transitions_mib']:.0f}** | "
                f"{r['peak_rss_kib'] / 1024:.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS))
    parser.add_argument("--samples", type=int, default=20_000, help="transitions per task in (a)")
    parser.add_argument("--methods", nargs="*", default=["dense", "rlx2"], help="(b); none: skip")
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--every", type=int, default=5_000)
    parser.add_argument("--learning-starts", type=int, default=25_000)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    first = (args.learning_starts // args.every + 1) * args.every  # first reading after warm-up
    if (args.child or args.methods) and args.steps < first + args.every:
        parser.error(
            "--steps must leave two RSS readings (every --every steps) after --learning-starts"
        )
    if args.child:
        result = rss_of_run(args.child, args.steps, args.every, args.learning_starts)
        print(json.dumps(result), flush=True)
        return
    np.random.seed(0)
    per_transition = []
    for task in args.tasks:
        result = bytes_per_transition(task, args.samples)
        print(json.dumps(result), flush=True)
        per_transition.append(result)
    runs = []
    for method in args.methods:  # one process per run: its own peak, nothing left over
        child = [sys.executable, __file__, "--child", method, "--tasks", "--methods"]
        child += ["--steps", str(args.steps), "--every", str(args.every)]
        child += ["--learning-starts", str(args.learning_starts)]
        done = subprocess.run(child, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result), flush=True)
        runs.append(result)
    if args.markdown:
        write_section(args.markdown, "memory", markdown(per_transition, runs))


if __name__ == "__main__":
    main()
