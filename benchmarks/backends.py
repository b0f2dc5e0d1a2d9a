"""``rlx2 bench`` for the paper's four tasks, TD3 and SAC, at the paper's sparsities.

One process, 1 torch thread: for each (algo, task), ``rlx2.bench.measure`` times the update
and the batch-1 / batch-256 actor inference of the dense, masked and sparse backends,
interleaved within each repeat (medians over repeats).

    python benchmarks/backends.py [--algos td3 sac] [--repeats 15] [--markdown docs/benchmarks.md]

Prints one JSON object per (algo, task) on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_section  # noqa: E402

from rlx2.bench import BenchConfig, markdown_table, measure  # noqa: E402

TASKS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["td3", "sac"], choices=["td3", "sac"])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--markdown", type=Path, help="write the table into this markdown file")
    args = parser.parse_args()
    results = []
    for algo in args.algos:
        for task in args.tasks:
            config = BenchConfig(
                algo=algo, env=task, preset="paper", repeats=args.repeats, updates=args.updates
            )
            result = measure(config)
            print(json.dumps(result), flush=True)
            results.append(result)
    if args.markdown:
        write_section(args.markdown, "backends", markdown(results))


def markdown(results: list[dict]) -> str:
    first = results[0]
    header = (
        "## Backends: dense vs masked vs sparse (`benchmarks/backends.py`, `rlx2 bench`)\n\n"
        f"Batch {first['batch_size']}, hidden {first['hidden']}, {first['threads']} torch "
        f"thread, CPU `{first['cpu']}`, torch {first['torch']}; the paper's sparsities "
        f"(ER allocation). Backends interleaved in one process, medians of "
        f"{first['repeats']} repeats of {first['updates_per_repeat']} updates (TD3: the mean "
        "of a critic-only and a critic+actor update). Times are CPU time of the benchmark's "
        "thread, speedups by CPU time (wall clock in parentheses). Update = "
        "`agent.update(batch)` with 1-step targets (the sparse backend's fused steps); act = "
        "`agent.act_deterministic(obs)` for one observation; actor, batch 256 = `actor(obs)` "
        "without autograd.\n\n"
    )
    return header + markdown_table(results)


if __name__ == "__main__":
    main()
