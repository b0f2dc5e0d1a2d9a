"""Concurrent writers as a user meets them: separate `rlx2` processes (issue 11, defect 1).

Before: two `rlx2 train` started together on one --run-dir both exited 0 and reported
"completed"; one run's files were overwritten and tb/ held both runs' events.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from fault_helpers import PENDULUM, evaluation_steps, read_summary, rlx2_process, wait_for


@pytest.mark.slow
def test_two_writers_started_together_and_a_resume_meanwhile(tmp_path):
    """Exactly one of two simultaneous `rlx2 train` on one --run-dir runs; the other exits 2
    naming it (or, if it came after the end, saying the directory holds a run); a --resume
    while it trains exits 2 naming it too. The run's files and events are one run's."""
    run_dir = tmp_path / "run"
    args = [
        "train",
        *PENDULUM,
        "--total-steps",
        "2000",
        "--eval-every",
        "200",
        "--run-dir",
        str(run_dir),
    ]
    first, second = rlx2_process(*args), rlx2_process(*args)
    wait_for(lambda: (read_summary(run_dir) or {}).get("num_evaluations", 0) >= 1, what="progress")
    resume = subprocess.run(
        [sys.executable, "-m", "rlx2.cli", "train", "--resume", str(run_dir)],
        capture_output=True,
        text=True,
    )
    outcomes = [(p, *p.communicate(timeout=600)) for p in (first, second)]
    codes = sorted(p.returncode for p, _, _ in outcomes)
    assert codes == [0, 2], outcomes
    (winner, _, _), (loser, _, loser_err) = sorted(outcomes, key=lambda o: o[0].returncode)
    assert loser_err.count("\n") == 1 and "Traceback" not in loser_err, loser_err
    assert (
        f"is in use by rlx2 (pid {winner.pid} on host" in loser_err
        or "already holds a run" in loser_err
    )
    assert "holds no rlx2 run" not in loser_err
    assert (
        resume.returncode == 2 and f"is in use by rlx2 (pid {winner.pid} on host" in resume.stderr
    )
    assert resume.stderr.count("\n") == 1
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["resumes"] == 0
    assert evaluation_steps(run_dir) == list(range(200, 2001, 200))
    assert len(list((run_dir / "tb").glob("events.out.tfevents.*"))) == 1  # one writer's events
    assert not (run_dir / ".lock").exists()
