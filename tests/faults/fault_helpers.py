"""Shared pieces of the fault battery: tiny runs, the CLI in-process and as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import FAST, assert_one_line, cli  # noqa: F401  (re-exported for the battery)

# A few-second run on a toy task (tests/toy_envs.py): tiny networks, one evaluation episode.
TINY = ["--env", "rlx2test/Counter-v0", *FAST]  # FAST: tests/helpers.py, the quick-run settings
# The same on Pendulum-v1, for runs in a separate process (toy tasks are registered only in
# this one).
PENDULUM = ["--env", "Pendulum-v1", *TINY[2:]]


def rlx2_process(*args: str, **kwargs) -> subprocess.Popen:
    """``rlx2 ARGS`` as its own process (so it can be signalled), output captured."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "rlx2.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def read_summary(run_dir: Path) -> dict | None:
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def wait_for(condition, timeout: float = 300.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def evaluation_steps(run_dir: Path) -> list[int]:
    import csv

    with open(run_dir / "evaluations.csv", newline="") as f:
        return [int(float(row["step"])) for row in csv.DictReader(f)]


def checkpoint_step(path: Path) -> int:
    from rlx2.train.checkpoint import load_checkpoint

    return int(load_checkpoint(path)["step"])


def lock_owner_pid(run_dir: Path) -> int | None:
    """The pid recorded in a run directory's lock file, if any."""
    try:
        return int(json.loads((run_dir / ".lock").read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def report_blocked_signals(conn) -> None:
    """Target of a spawned process: send back the signals blocked at its start."""
    import signal

    conn.send(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))
    conn.close()
