"""experiments/topology_dips.py: the actor's topology-update steps equal a step-by-step replay
of the training loop's counters with the sparse engine's own schedule, and the ratios equal a
brute-force count on synthetic returns with dips placed at those steps."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from experiment_scripts import load

from rlx2.sparse.schedule import DropSchedule

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "results" / "td3-1m" / "td3_Walker2d-v5_rlx2_s0"


dips = load("topology_dips")


def _config(total, starts, delay, interval, end_fraction=1.0, evolves=True):
    critic = total - starts
    actor = critic // delay
    effective = {"network_updates": {"actor": actor, "critic": critic}}
    if evolves:
        effective |= {
            "topology_interval": interval,
            "topology_end_updates": {"actor": int(end_fraction * actor)},
        }
    return {
        "config": {"run": {"learning_starts": starts}, "sparse": {"topology_interval": interval}},
        "effective": effective,
    }


def _replayed(total, starts, delay, interval, end):
    """The loop's counters, step by step: one critic update per env step after the warm-up,
    an actor update every `delay` of them, the schedule deciding topology updates."""
    schedule = DropSchedule(interval_updates=interval, end_update=end)
    critic = actor = 0
    found = []
    for step in range(1, total + 1):
        if step > starts:
            critic += 1
            if critic % delay == 0:
                actor += 1
                if schedule.is_update(actor):
                    found.append(step)
    return found


@pytest.mark.parametrize(
    "total, starts, delay, interval, end_fraction",
    [(60_000, 5_000, 2, 1_000, 1.0), (40_000, 1_000, 1, 700, 0.5), (33_333, 25, 3, 999, 0.8)],
)
def test_update_steps_replay_the_training_counters(total, starts, delay, interval, end_fraction):
    config = _config(total, starts, delay, interval, end_fraction)
    end = config["effective"]["topology_end_updates"]["actor"]
    expected = _replayed(total, starts, delay, interval, end)
    assert expected and dips.actor_update_steps(config) == expected


def test_a_run_without_evolution_gets_its_settings_schedule_as_the_control():
    evolving = _config(50_000, 5_000, 2, 1_000)
    static = _config(50_000, 5_000, 2, 1_000, evolves=False)
    assert dips.actor_update_steps(static) == _replayed(50_000, 5_000, 2, 1_000, 10**9)
    assert dips.actor_update_steps(static) == dips.actor_update_steps(evolving)


def _brute(steps, returns, updates, last):
    after = [
        any(steps[i - 1] < u <= steps[i] for u in updates) if i else False
        for i in range(len(steps))
    ]
    found = {(w, a): [] for w in ("first half", "final") for a in (True, False)}
    for i in range(1, len(steps) - 1):
        mean = (returns[i - 1] + returns[i + 1]) / 2
        if mean <= 0 or (not after[i] and (after[i - 1] or after[i + 1])):
            continue
        window = (
            "final"
            if i >= len(steps) - last
            else ("first half" if 2 * steps[i] <= steps[-1] else None)
        )
        if window:
            found[(window, after[i])].append(returns[i] / mean)
    return found


def test_ratios_equal_a_brute_force_count():
    rng = __import__("numpy").random.default_rng(3)
    steps = list(range(500, 100_001, 500))
    updates = list(range(2_100, 100_000, 2_000))
    returns = list(100 + rng.normal(0, 30, len(steps)))
    returns[7] = -400.0  # a non-positive neighbours' mean is left out
    for last in (1, 30, 150):
        assert dips.split_ratios(steps, returns, updates, last) == _brute(
            steps, returns, updates, last
        )


def _synthetic_run(tmp_path, drop):
    """A copy of a committed run whose evaluations are 1 000, and 1 000·(1 − drop) right after
    each actor topology update."""
    run = tmp_path / "results" / RUN.name
    run.mkdir(parents=True)
    shutil.copy(RUN / "config.json", run / "config.json")
    updates = dips.actor_update_steps(json.loads((RUN / "config.json").read_text()))
    with (RUN / "evaluations.csv").open() as f:
        rows = list(csv.DictReader(f))
    previous = 0
    for row in rows:
        step = int(float(row["step"]))
        hit = any(previous < u <= step for u in updates)
        row["return_mean"] = str(1000.0 * (1 - drop) if hit else 1000.0)
        previous = step
    summary = json.loads((RUN / "summary.json").read_text())  # its score: the new last 30
    summary["final_return"] = sum(float(r["return_mean"]) for r in rows[-30:]) / 30
    (run / "summary.json").write_text(json.dumps(summary))
    with (run / "evaluations.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return run.parent


def test_table_states_the_dip_and_the_control_level(tmp_path, capsys):
    results = _synthetic_run(tmp_path, drop=0.25)
    [row] = dips.table_rows(results)
    assert row[:4] == ["Walker2d-v5", "rlx2", "rigl", "1"]
    # topology updates continue to the end, so the final window has dips too
    assert row[4:] == ["0.750", "1.000", "0.750", "1.000"]
    assert dips.main([str(results)]) == 0
    assert (
        "| Walker2d-v5 | rlx2 | rigl | 1 | 0.750 | 1.000 | 0.750 | 1.000 |"
        in capsys.readouterr().out
    )


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert dips.main([str(tmp_path / "missing")]) == 2
    assert dips.main([str(tmp_path)]) == 2  # no run in it
    assert dips.main([str(tmp_path), "--last", "0"]) == 2
    assert dips.main([]) == 2
    err = capsys.readouterr().err
    assert "missing is not a directory" in err and "no completed run" in err and "--last" in err
