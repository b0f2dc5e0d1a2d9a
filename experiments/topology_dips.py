"""How much an evaluation right after an actor topology update drops, from committed runs.

    python experiments/topology_dips.py RESULTS_DIR [--last N]

A run's evaluation at step s is set against the mean of its two neighbours (s - e and s + e,
e the evaluation interval): ratio = return(s) / that mean. An evaluation "follows an update"
when the actor's topology changed since the previous evaluation (the update steps come from
the run's config.json: learning_starts, the actor's and critic's update counts, the topology
interval and end). Per task and method, the table gives the median ratio of the evaluations
that follow an update and of the others (no update since the previous evaluation, none
before the next), in the first half of the budget and in the final-score
window (the last N evaluations, 30 by default). Runs without topology evolution (dense, Tiny,
SS) are the control: the same update steps, computed from the same settings, with nothing
happening at them. Evaluations whose neighbours' mean is not positive are left out (a ratio of
returns near or below zero says nothing). docs/results.md's marked table is this output
(experiments/update_results_doc.py writes it).
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from rlx2.errors import ConfigError
from rlx2.experiments.report.groups import assign_labels, label_order
from rlx2.experiments.report.runs import Run, find_run_dirs, load_runs

COLUMNS = (
    "task",
    "method",
    "topology",
    "runs",
    "first half: after an update",
    "first half: others",
    "final-score window: after an update",
    "final-score window: others",
)


def actor_update_steps(config: dict) -> list[int]:
    """Env steps after whose training step the actor's topology changes: the critic updates
    once per env step from learning_starts on, the actor once per `delay` critic updates, and
    the actor's topology every `interval` actor updates before its end
    (DropSchedule.is_update)."""
    effective = config["effective"]
    actor, critic = (effective["network_updates"][k] for k in ("actor", "critic"))
    delay = round(critic / actor)
    # runs without topology evolution (the control) take the schedule their settings name
    interval = effective.get("topology_interval", config["config"]["sparse"]["topology_interval"])
    end = (effective.get("topology_end_updates") or {}).get("actor", actor + 1)
    starts = config["config"]["run"]["learning_starts"]
    return [starts + delay * t for t in range(interval, min(end, actor + 1), interval)]


def split_ratios(
    steps: Sequence[float], returns: Sequence[float], updates: Sequence[int], last: int
) -> dict[tuple[str, bool], list[float]]:
    """(window, follows an update) -> the ratios of return to the neighbours' mean there. The
    others are the evaluations with no update since their previous neighbour's, nor before
    their next neighbour: a dip beside them would lift their ratio."""
    follows = [
        i > 0 and any(steps[i - 1] < u <= steps[i] for u in updates) for i in range(len(steps))
    ]
    found: dict[tuple[str, bool], list[float]] = {
        (w, a): [] for w in ("first half", "final") for a in (True, False)
    }
    for i in range(1, len(steps) - 1):
        neighbours = (returns[i - 1] + returns[i + 1]) / 2
        beside = follows[i - 1] or follows[i + 1]
        if neighbours <= 0 or (beside and not follows[i]):
            continue
        if i >= len(steps) - last:
            window = "final"
        elif steps[i] <= steps[-1] / 2:
            window = "first half"
        else:
            continue
        found[(window, follows[i])].append(returns[i] / neighbours)
    return found


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}" if values else "–"


def table_rows(results: Path, last: int = 30) -> list[list[str]]:
    """One row per (task, method) of the completed runs under `results`, in the report's order
    (runs the report cannot read are named on stderr and left out)."""
    runs, unreadable = load_runs(find_run_dirs([str(results)]), last)
    for skipped in unreadable:
        print(f"topology_dips: left out {skipped.path}: {skipped.reason}", file=sys.stderr)
    groups: dict[tuple[str, str], list[Run]] = {}
    for run in assign_labels([r for r in runs if r.included and len(r.steps) > 2]):
        groups.setdefault((run.env, run.label), []).append(run)
    rows = []
    for (env, label), members in groups.items():
        pooled: dict[tuple[str, bool], list[float]] = {}
        for run in members:
            updates = actor_update_steps(json.loads((run.path / "config.json").read_text()))
            for key, values in split_ratios(run.steps, run.returns, updates, last).items():
                pooled.setdefault(key, []).extend(values)
        rows.append(
            [env, label, members[0].topology or "static", str(len(members))]
            + [_median(pooled[(w, a)]) for w in ("first half", "final") for a in (True, False)]
        )
    return sorted(rows, key=lambda r: (r[0], label_order(r[1])))


def main(argv: list[str]) -> int:
    args = list(argv)
    last = 30
    if "--last" in args:
        i = args.index("--last")
        value = args[i + 1] if i + 1 < len(args) else ""
        if not value.isdigit() or int(value) < 1:
            print(f"topology_dips: --last needs a positive integer, not {value!r}", file=sys.stderr)
            return 2
        last = int(value)
        del args[i : i + 2]
    if len(args) != 1 or args[0].startswith("-"):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    results = Path(args[0])
    if not results.is_dir():
        print(f"topology_dips: {results} is not a directory", file=sys.stderr)
        return 2
    try:
        rows = table_rows(results, last)
    except ConfigError:
        rows = []
    if not rows:
        print(f"topology_dips: no completed run under {results}", file=sys.stderr)
        return 2
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
