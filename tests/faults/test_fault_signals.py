"""Clean stops on SIGTERM and SIGINT, progress in summary.json, kills at random points
(issue 11, defect 5; defect 6's default checkpoints make the stop resumable).

Before: SIGTERM (preemption, `timeout`, `kill`) killed the run at once and left summary.json
at "running" with "step": 0.
"""

from __future__ import annotations

import os
import random
import signal
import time
from types import SimpleNamespace

import pytest
from fault_helpers import (
    PENDULUM,
    TINY,
    assert_one_line,
    checkpoint_step,
    cli,
    evaluation_steps,
    lock_owner_pid,
    read_summary,
    rlx2_process,
    wait_for,
)

import toy_envs  # noqa: F401  (registers rlx2test/* tasks)
from rlx2.config import RunConfig
from rlx2.train import loop, rundir


@pytest.fixture
def sigterm_not_fatal():
    """A SIGTERM that rlx2 fails to handle raises here instead of killing pytest."""

    def unhandled(signum, frame):
        raise RuntimeError("SIGTERM reached the default handler: rlx2 did not handle it")

    previous = signal.signal(signal.SIGTERM, unhandled)
    yield
    signal.signal(signal.SIGTERM, previous)


def signal_at(monkeypatch, steps_and_signals: dict[int, list[int]]) -> None:
    """Send this process the given signals right after the evaluation at each step."""
    original = loop.Trainer._evaluate

    def evaluate_then_signal(self, step, *args):
        original(self, step, *args)
        for signum in steps_and_signals.get(step, []):
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(loop.Trainer, "_evaluate", evaluate_then_signal)


def test_checkpoints_protect_long_runs_by_default():
    """Defect 6: with the defaults a killed long run keeps its work (at most 100 000 steps or
    30 minutes lost), and tiny runs write no periodic checkpoint (no slower tests)."""
    run = RunConfig()
    assert 0 < run.checkpoint_every <= 100_000 and 0 < run.checkpoint_minutes <= 60


def test_checkpoint_cadence_by_steps_and_by_time(tmp_path, monkeypatch, capsys):
    """Defaults: a short run writes no periodic checkpoint. By time alone
    (--checkpoint-every 0), on a clock that advances one second per reading, a checkpoint
    comes every ~60 steps with --checkpoint-minutes 1; by steps, at multiples of the cadence."""
    saved = []
    original = loop.Trainer.save_checkpoint

    def record(self, env, name, with_replay=True):
        saved.append((name, self.step))
        original(self, env, name, with_replay)

    monkeypatch.setattr(loop.Trainer, "save_checkpoint", record)
    args = ["train", *TINY, "--total-steps", "400", "--eval-every", "400"]
    assert cli([*args, "--run-dir", str(tmp_path / "default")], capsys)[0] == 0
    assert saved == [(rundir.FINAL_CHECKPOINT, 400)]

    saved.clear()
    clock = iter(range(10**9))
    monkeypatch.setattr(
        loop,
        "time",
        SimpleNamespace(perf_counter=time.perf_counter, monotonic=lambda: float(next(clock))),
    )
    by_time = ["--checkpoint-every", "0", "--checkpoint-minutes", "1"]
    assert cli([*args, *by_time, "--run-dir", str(tmp_path / "time")], capsys)[0] == 0
    steps = [step for name, step in saved if name == rundir.LATEST_CHECKPOINT]
    assert len(steps) >= 5 and all(
        59 <= b - a <= 62 for a, b in zip(steps, steps[1:], strict=False)
    )
    assert saved[-1] == (rundir.FINAL_CHECKPOINT, 400)

    saved.clear()
    by_steps = ["--checkpoint-every", "150", "--checkpoint-minutes", "1000"]
    assert cli([*args, *by_steps, "--run-dir", str(tmp_path / "steps")], capsys)[0] == 0
    assert saved == [
        (rundir.LATEST_CHECKPOINT, 150),
        (rundir.LATEST_CHECKPOINT, 300),
        (rundir.FINAL_CHECKPOINT, 400),
    ]


def test_summary_shows_progress_at_each_evaluation(tmp_path, monkeypatch, capsys):
    seen = []
    original = loop.Trainer._evaluate

    def evaluate_then_read(self, step, *args):
        original(self, step, *args)
        seen.append(read_summary(self.run_dir))

    monkeypatch.setattr(loop.Trainer, "_evaluate", evaluate_then_read)
    run_dir = tmp_path / "r"
    args = [
        "train",
        *TINY,
        "--total-steps",
        "600",
        "--eval-every",
        "200",
        "--run-dir",
        str(run_dir),
    ]
    assert cli(args, capsys)[0] == 0
    rows = evaluation_steps(run_dir)
    assert [s["step"] for s in seen] == rows == [200, 400, 600]
    for i, summary in enumerate(seen):
        assert summary["status"] == "running" and summary["num_evaluations"] == i + 1
        assert summary["latest_evaluation"]["step"] == rows[i]
        assert summary["latest_evaluation"]["return_mean"] is not None
        assert summary["total_steps"] == 600 and summary["updated"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_run_cleanly_in_process(
    tmp_path, monkeypatch, capsys, signum, sigterm_not_fatal
):
    """Checkpoint of the step reached, status interrupted, exit 128 + signal; resume ends the
    run with every evaluation once."""
    signal_at(monkeypatch, {400: [signum]})
    run_dir = tmp_path / "r"
    args = [
        "train",
        *TINY,
        "--total-steps",
        "600",
        "--eval-every",
        "200",
        "--run-dir",
        str(run_dir),
    ]
    code, err = cli(args, capsys)
    name = signal.Signals(signum).name
    assert code == 128 + signum
    assert_one_line(
        err.splitlines()[-1] + "\n",
        f"interrupted by {name} at step 400/600",
        "checkpoint at step 400",
        f"--resume {run_dir}",
    )
    summary = read_summary(run_dir)
    assert (
        summary["status"] == "interrupted" and summary["step"] == 400 and name in summary["reason"]
    )
    assert (
        summary["checkpoint_step"]
        == 400
        == checkpoint_step(run_dir / "checkpoints" / rundir.LATEST_CHECKPOINT)
    )
    assert summary["latest_evaluation"]["step"] == 400 and evaluation_steps(run_dir) == [200, 400]
    assert not (run_dir / rundir.LOCK).exists()
    monkeypatch.undo()
    assert cli(["train", "--resume", str(run_dir)], capsys)[0] == 0
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["resumes"] == 1
    assert evaluation_steps(run_dir) == [200, 400, 600]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_with_checkpoints_off_the_stop_says_so(tmp_path, monkeypatch, capsys, sigterm_not_fatal):
    signal_at(monkeypatch, {200: [signal.SIGTERM]})
    run_dir = tmp_path / "r"
    args = [
        "train",
        *TINY,
        "--total-steps",
        "600",
        "--eval-every",
        "200",
        "--run-dir",
        str(run_dir),
    ]
    code, err = cli([*args, "--checkpoint-every", "0", "--checkpoint-minutes", "0"], capsys)
    assert code == 143 and "no checkpoint (checkpoints are off)" in err
    assert read_summary(run_dir)["status"] == "interrupted"
    assert not (run_dir / "checkpoints" / rundir.LATEST_CHECKPOINT).exists()


def test_a_second_signal_stops_at_once(tmp_path, monkeypatch, capsys):
    signal_at(monkeypatch, {200: [signal.SIGINT, signal.SIGINT]})
    run_dir = tmp_path / "r"
    args = [
        "train",
        *TINY,
        "--total-steps",
        "600",
        "--eval-every",
        "200",
        "--run-dir",
        str(run_dir),
    ]
    code, err = cli(args, capsys)
    assert code == 130 and err.endswith("rlx2: error: interrupted\n")
    summary = read_summary(run_dir)
    assert summary["status"] == "interrupted" and "stopped at once" in summary["reason"]
    assert not (run_dir / rundir.LOCK).exists()


@pytest.mark.slow
def test_sigterm_to_a_training_process_then_resume(tmp_path):
    """The process as a scheduler sees it: SIGTERM -> exit 143, one line, status interrupted
    at the step reached with its checkpoint; summary.json showed progress while it ran."""
    run_dir = tmp_path / "run"
    proc = rlx2_process(
        "train",
        *PENDULUM,
        "--total-steps",
        "1000",
        "--eval-every",
        "100",
        "--run-dir",
        str(run_dir),
    )
    wait_for(
        lambda: (read_summary(run_dir) or {}).get("step", 0) >= 300, what="progress in summary.json"
    )
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    assert err.splitlines()[-1].startswith("rlx2: error: interrupted by SIGTERM at step ")
    summary = read_summary(run_dir)
    step = summary["step"]
    assert summary["status"] == "interrupted" and 300 <= step < 1000
    assert (
        checkpoint_step(run_dir / "checkpoints" / rundir.LATEST_CHECKPOINT)
        == step
        == summary["checkpoint_step"]
    )
    assert evaluation_steps(run_dir) == list(range(100, step + 1, 100))
    done = rlx2_process("train", "--resume", str(run_dir), "--quiet")
    _, err = done.communicate(timeout=600)
    assert done.returncode == 0, err
    assert evaluation_steps(run_dir) == list(range(100, 1001, 100))
    assert read_summary(run_dir)["status"] == "completed"


@pytest.mark.slow
def test_sigterm_and_sigkill_at_random_points_then_resume(tmp_path):
    """Kill a run again and again at random moments with SIGTERM or SIGKILL, resuming each
    time: the state on disk is consistent after every kill, and the finished run has every
    evaluation exactly once."""
    rng = random.Random(11)
    run_dir = tmp_path / "run"
    total, every = 2400, 200
    train = ["train", *PENDULUM, "--total-steps", str(total), "--eval-every", str(every)]
    train += ["--checkpoint-every", "300", "--run-dir", str(run_dir)]
    log = []

    def start():
        """A new run until one exists, then resumes."""
        if (run_dir / "config.json").exists():
            return rlx2_process("train", "--resume", str(run_dir), "--quiet")
        return rlx2_process(*train)

    for _ in range(8):
        if (read_summary(run_dir) or {}).get("status") == "completed":
            break  # a kill that came after the run completed, before its process exited
        proc = start()
        if rng.random() < 0.25:  # anywhere, start-up included
            time.sleep(rng.uniform(0.0, 8.0))
        else:  # while it trains: once it holds the run directory's lock
            wait_for(
                lambda proc=proc: lock_owner_pid(run_dir) == proc.pid or proc.poll() is not None,
                what="the lock",
            )
            time.sleep(rng.uniform(0.0, 8.0))
        signum = rng.choice([signal.SIGTERM, signal.SIGKILL])
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=600)
        summary = read_summary(run_dir) or {}
        log.append((signum.name, proc.returncode, summary.get("status"), summary.get("step")))
        if proc.returncode == 0:  # it finished before the signal
            break
        if proc.returncode == 143:  # the clean stop
            assert err.splitlines()[-1].startswith("rlx2: error: interrupted by SIGTERM"), err
            assert summary["status"] == "interrupted"
            latest = run_dir / "checkpoints" / rundir.LATEST_CHECKPOINT
            if summary["checkpoint_step"] is None:  # a new run stopped before its first step
                assert summary["step"] == 0 and not latest.exists(), summary
                assert "no checkpoint yet" in err, err
            else:
                assert checkpoint_step(latest) == summary["step"] == summary["checkpoint_step"]
        else:  # SIGKILL, or SIGTERM before the run loop started: nothing more than a kill
            assert proc.returncode in (-signal.SIGKILL, -signal.SIGTERM), (proc.returncode, err)
        if (run_dir / "evaluations.csv").exists():
            steps = evaluation_steps(run_dir)
            assert steps == list(range(every, every * len(steps) + 1, every)), steps
    while (read_summary(run_dir) or {}).get("status") != "completed":
        done = start()
        _, err = done.communicate(timeout=600)
        assert done.returncode == 0, err
    summary = read_summary(run_dir)
    assert evaluation_steps(run_dir) == list(range(every, total + 1, every)), log
    assert summary["num_evaluations"] == total // every and summary["total_steps"] == total
    assert (run_dir / "checkpoints" / rundir.FINAL_CHECKPOINT).exists() and not (
        run_dir / "checkpoints" / rundir.LATEST_CHECKPOINT
    ).exists()
    assert not (run_dir / rundir.LOCK).exists() and not list(run_dir.rglob("*.tmp"))
    print("signal, exit status, status, step after each:", log)
