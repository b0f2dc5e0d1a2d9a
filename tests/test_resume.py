"""Checkpoint and resume (issue #5): kill at any moment, resume, nothing lost twice or missing."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import toy_envs  # noqa: F401
from rlx2 import locking
from rlx2.cli import main
from rlx2.config import AgentConfig, RunConfig, SparseConfig, TrainConfig, ValueConfig
from rlx2.train import rundir
from rlx2.train.envs import check_env
from rlx2.train.loop import Trainer, resume

ARGS = [
    "--env",
    "Pendulum-v1",
    "--learning-starts",
    "256",
    "--batch-size",
    "32",
    "--hidden",
    "16",
    "--eval-every",
    "200",
    "--eval-episodes",
    "1",
    "--quiet",
    "--method",
    "rlx2",
    "--actor-sparsity",
    "0.8",
    "--critic-sparsity",
    "0.8",
    "--topology-interval",
    "100",
    "--distance-samples",
    "64",
]


def steps_of(run_dir: Path) -> list[int]:
    with open(run_dir / "evaluations.csv") as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def assert_tensors_equal(a, b, path="state"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_tensors_equal(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_tensors_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), path  # e.g. an undefined Q-bias
    else:
        assert a == b, path


@pytest.mark.slow
def test_sigkill_then_resume_completes_with_every_evaluation_once(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "rlx2.cli",
        "train",
        *ARGS,
        "--total-steps",
        "3000",
        "--checkpoint-every",
        "500",
        "--run-dir",
        str(run_dir),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while (
        time.time() < deadline and not (run_dir / "checkpoints" / rundir.LATEST_CHECKPOINT).exists()
    ):
        time.sleep(0.05)
    time.sleep(0.3)  # kill somewhere after the first checkpoint, mid-training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (run_dir / "checkpoints" / rundir.LATEST_CHECKPOINT).exists(), (
        "no checkpoint was written before the kill"
    )
    assert rundir.run_status(run_dir) == "running"  # killed without a word: still "running"
    # The killed writer's lock file is left, naming it; its flock died with it: no obstacle.
    assert locking.read_owner(run_dir / rundir.LOCK).pid == proc.pid
    done = subprocess.run(
        [sys.executable, "-m", "rlx2.cli", "train", "--resume", str(run_dir), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (
        summary["status"] == "completed"
        and summary["resumes"] == 1
        and summary["total_steps"] == 3000
    )
    assert steps_of(run_dir) == list(
        range(200, 3001, 200)
    )  # every evaluation step exactly once, in order
    assert summary["num_evaluations"] == 15 and summary["final_return"] is not None
    assert (run_dir / "checkpoints" / "final.pt").exists() and not (
        run_dir / "checkpoints" / rundir.LATEST_CHECKPOINT
    ).exists()
    assert not (run_dir / rundir.LOCK).exists()


def test_resume_in_process_after_interruption(tmp_path, monkeypatch, capsys):
    """Ctrl-C (SIGINT) at step 600: a clean stop there, with a checkpoint at 600 (after the one
    at 500), status interrupted, exit 130; resume continues from 601, each step once."""
    run_dir = tmp_path / "run"
    from rlx2.train import loop

    original = loop.Trainer._evaluate

    def ctrl_c_at_600(self, step, *args):
        original(self, step, *args)
        if step == 600:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(loop.Trainer, "_evaluate", ctrl_c_at_600)
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "train",
                *ARGS,
                "--total-steps",
                "1000",
                "--checkpoint-every",
                "500",
                "--run-dir",
                str(run_dir),
            ]
        )
    assert exc.value.code == 128 + signal.SIGINT
    assert "interrupted by SIGINT at step 600/1000" in capsys.readouterr().err
    stopped = json.loads((run_dir / "summary.json").read_text())
    assert stopped["status"] == "interrupted" and stopped["step"] == 600
    assert stopped["checkpoint_step"] == 600 and "SIGINT" in stopped["reason"]
    assert steps_of(run_dir) == [200, 400, 600]
    monkeypatch.setattr(loop.Trainer, "_evaluate", original)
    summary = resume(run_dir)
    assert summary["status"] == "completed" and steps_of(run_dir) == [200, 400, 600, 800, 1000]
    assert (
        summary["topology"]["critic"]["updates"] == 1000 - 256
    )  # updates are not repeated or lost


def test_resumed_training_state_equals_the_saved_one(tmp_path):
    config = TrainConfig(
        env="Pendulum-v1",
        algo="sac",
        run=RunConfig(
            total_steps=600,
            learning_starts=256,
            eval_every=300,
            eval_episodes=1,
            quiet=True,
            run_dir=str(tmp_path / "r"),
        ),
        agent=AgentConfig(hidden=16, batch_size=32),
        sparse=SparseConfig(
            method="set", actor_sparsity=0.7, critic_sparsity=0.7, topology_interval=50
        ),
        value=ValueConfig(value_learning="rlx2", distance_samples=64),
    )
    spec = check_env(config.env)
    trainer = Trainer(config, spec, tmp_path / "r")
    (tmp_path / "r").mkdir()
    trainer.run()
    state = trainer.state_dict({"rng": "state"})
    restored = Trainer(config, spec, tmp_path / "r")
    restored.load_state_dict(state)
    restored._started = time.perf_counter()
    again = restored.state_dict({"rng": "state"})
    for key in ("agent", "capacity", "evaluations", "buffer_checks", "step", "episodes"):
        assert_tensors_equal(state[key], again[key], key)
    # the buffer differs only by the truncation mark of the newest transition (the resume cut)
    newest = (state["buffer"]["truncated"] != again["buffer"]["truncated"]).nonzero()
    assert newest.numel() <= 1
    assert_tensors_equal(state["buffer"]["obs"], again["buffer"]["obs"], "buffer.obs")
    assert_tensors_equal(state["rng"]["torch"], again["rng"]["torch"], "rng")


def test_a_failed_checkpoint_write_never_replaces_a_good_one(tmp_path, monkeypatch):
    good = tmp_path / "checkpoints" / rundir.LATEST_CHECKPOINT
    rundir.atomic_write_bytes(good, b"good checkpoint")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        rundir.atomic_write_bytes(good, b"half-written")
    assert good.read_bytes() == b"good checkpoint"
    assert [p.name for p in good.parent.iterdir()] == [
        rundir.LATEST_CHECKPOINT
    ]  # no temporary file left behind


def test_non_finite_losses_stop_the_run_with_a_failure_status(tmp_path, capsys):
    toy_envs.NaNRewardEnv.total_steps = 0
    run_dir = tmp_path / "nan"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "train",
                "--env",
                "rlx2test/NaNReward-v0",
                "--total-steps",
                "2000",
                "--learning-starts",
                "256",
                "--batch-size",
                "32",
                "--hidden",
                "16",
                "--eval-every",
                "1000",
                "--quiet",
                "--run-dir",
                str(run_dir),
            ]
        )
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith(
        "rlx2: error: training failed: non-finite"
    )  # one line, after progress
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (
        summary["status"] == "failed"
        and "non-finite" in summary["reason"]
        and "loss/critic" in summary["reason"]
    )
    assert summary["step"] < 2000


def test_resume_bad_input(tmp_path, capsys):
    for args, needle in (
        (["--resume", str(tmp_path / "nothing")], "no rlx2 run there"),
        (["--resume"], "--resume takes exactly one RUN_DIR"),
        (["--resume", str(tmp_path), "--seed", "3"], "--resume takes exactly one RUN_DIR"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["train", *args])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and needle in err and err.count("\n") == 1, err
    run_dir = tmp_path / "done"
    main(
        [
            "train",
            "--env",
            "rlx2test/Counter-v0",
            "--total-steps",
            "300",
            "--learning-starts",
            "256",
            "--batch-size",
            "32",
            "--hidden",
            "16",
            "--eval-every",
            "300",
            "--quiet",
            "--run-dir",
            str(run_dir),
        ]
    )
    with pytest.raises(SystemExit) as exc:
        main(["train", "--resume", str(run_dir)])
    assert exc.value.code == 2 and "already completed" in capsys.readouterr().err
