"""`rlx2 train`: bad input (exit 2, one line), the run directory's contents, seeding."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import FAST, assert_one_line_error, run_cli

import rlx2
import toy_envs  # noqa: F401  (registers rlx2test/* tasks)
from rlx2.cli import main
from rlx2.parsing import condense_parse_error


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--env", "NoSuchTask-v9"], "NoSuchTask-v9"),
        (["--env", "rlx2test/Discrete-v0"], "action space must be a 1-D Box"),
        (["--total-steps", "0"], "--total-steps must be positive"),
        (["--total-steps", "-5"], "--total-steps must be positive"),
        (["--batch-size", "0"], "--batch-size must be positive"),
        (["--eval-every", "0"], "--eval-every must be positive"),
        (["--eval-episodes", "-1"], "--eval-episodes must be positive"),
        (["--actor-lr", "0"], "--actor-lr must be positive"),
        (["--critic-lr", "-0.1"], "--critic-lr must be positive"),
        (["--gamma", "0"], "--gamma must be in (0, 1]"),
        (["--gamma", "1.01"], "--gamma must be in (0, 1]"),
        (["--algo", "ppo"], "invalid choice 'ppo'"),
        (["--total-steps", "many"], "--total-steps"),
        (["--no-such-flag", "1"], "--no-such-flag"),
        (["--learning-starts", "8"], "--learning-starts (8) must be >= --batch-size (256)"),
        (["--device", "foo"], "--device 'foo' is not a torch device"),
        (["--device", "mps"], "rlx2 runs on cpu or cuda, not mps"),
        pytest.param(
            ["--device", "cuda"],
            "torch sees no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(args, needle, capsys, tmp_path):
    code, err = run_cli(["train", "--run-dir", str(tmp_path / "run"), *args], capsys)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists(), "nothing may be written on bad input"


def test_unknown_command_and_help(capsys):
    code, err = run_cli(["fly"], capsys)
    assert code == 2 and "unknown command 'fly'" in err
    main(["--help"])
    assert "train" in capsys.readouterr().out


def test_condense_keeps_wrapped_message_whole():
    box = " Value error \n ----- \n  Error parsing run: --x must be  \n  larger than 3  \n  -----\n  For full helptext, see - --help \n"
    assert condense_parse_error(box) == "--x must be larger than 3"


def _check_source_revision(source):
    """config.json names the commit of the checkout rlx2 runs from (None for a wheel)."""
    root = Path(rlx2.__file__).resolve().parents[2]
    if not (root / ".git").exists():
        assert source is None
        return
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert source["commit"] == head and len(head) == 40
    assert isinstance(source["dirty"], bool)


def test_run_directory_contents(tmp_path, capsys):
    run_dir = tmp_path / "run"
    main(
        [
            "train",
            "--env",
            "Pendulum-v1",
            "--total-steps",
            "600",
            "--eval-every",
            "200",
            "--run-dir",
            str(run_dir),
            "--algo",
            "sac",
            *FAST,
        ]
    )
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["env"] == "Pendulum-v1" and config["config"]["algo"] == "sac"
    assert config["config"]["run"]["total_steps"] == 600 and config["env_spec"]["obs_dim"] == 3
    assert {"torch", "gymnasium", "mujoco", "numpy", "rlx2"} <= set(config["versions"])
    assert config["machine"]["cpu"] and config["machine"]["cores"] >= 1
    _check_source_revision(config["source"])
    with open(run_dir / "evaluations.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [200, 400, 600]
    assert {"step", "return_mean", "return_std", "episodes", "wall_time_s"} <= set(rows[0])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["total_steps"] == 600
    assert summary["final_return"] == pytest.approx(sum(float(r["return_mean"]) for r in rows) / 3)
    assert summary["steps_per_second"] > 0 and summary["wall_time_s"] > 0
    assert (run_dir / "checkpoints" / "final.pt").exists()
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    assert not list(run_dir.rglob("*.tmp")), "atomic writes leave no temporary files"


def test_existing_run_is_never_overwritten_silently(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = [
        "train",
        "--env",
        "rlx2test/Counter-v0",
        "--total-steps",
        "300",
        "--eval-every",
        "300",
        "--run-dir",
        str(run_dir),
        *FAST,
    ]
    main(args)
    before = (run_dir / "summary.json").read_text()
    code, err = run_cli(args, capsys)
    assert code == 2 and "already holds a run" in err and "--overwrite" in err
    assert (run_dir / "summary.json").read_text() == before
    main([*args, "--overwrite"])
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_non_empty_foreign_directory_is_refused_even_with_overwrite(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    code, err = run_cli(
        ["train", "--env", "rlx2test/Counter-v0", "--run-dir", str(tmp_path), "--overwrite", *FAST],
        capsys,
    )
    assert code == 2 and "holds no rlx2 run" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_same_seed_same_evaluation_returns(tmp_path):
    def returns(name, seed):
        run_dir = tmp_path / name
        main(
            [
                "train",
                "--env",
                "Pendulum-v1",
                "--total-steps",
                "700",
                "--eval-every",
                "350",
                "--seed",
                str(seed),
                "--run-dir",
                str(run_dir),
                *FAST,
            ]
        )
        with open(run_dir / "evaluations.csv") as f:
            return [r["return_mean"] for r in csv.DictReader(f)]

    first, again, other = returns("a", 3), returns("b", 3), returns("c", 4)
    assert first == again
    assert first != other


def test_console_script_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlx2.cli",
            "train",
            "--gamma",
            "2",
            "--run-dir",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert (
        "Traceback" not in proc.stderr
        and proc.stderr.strip() == "rlx2: error: --gamma must be in (0, 1], got 2.0"
    )


def test_termination_and_truncation_reach_the_buffer_separately(tmp_path, monkeypatch):
    """Counter-v0 only truncates (TimeLimit 7); CounterTerminating-v0 terminates on action > 0.5."""
    from rlx2.value import replay

    stored = []
    original_add = replay.ReplayBuffer.add

    def spy(self, obs, action, reward, next_obs, terminated, truncated, behaviour_action):
        stored.append((float(next_obs[0]), terminated, truncated, float(action[0])))
        return original_add(
            self, obs, action, reward, next_obs, terminated, truncated, behaviour_action
        )

    monkeypatch.setattr(replay.ReplayBuffer, "add", spy)
    main(
        [
            "train",
            "--env",
            "rlx2test/Counter-v0",
            "--total-steps",
            "300",
            "--eval-every",
            "300",
            "--run-dir",
            str(tmp_path / "a"),
            *FAST,
        ]
    )
    truncations = [s for s in stored if s[2]]
    assert truncations and all(s[0] == 7.0 and not s[1] for s in truncations)
    assert not any(s[1] for s in stored)
    stored.clear()
    main(
        [
            "train",
            "--env",
            "rlx2test/CounterTerminating-v0",
            "--total-steps",
            "300",
            "--eval-every",
            "300",
            "--run-dir",
            str(tmp_path / "b"),
            *FAST,
        ]
    )
    assert all(s[1] == (s[3] > 0.5) for s in stored)
    assert any(s[1] for s in stored) and not any(s[2] and s[1] for s in stored)
