"""The command line's own faults (issue 11 item 10): a closed output pipe, no command, integer
flags written as 1e6, the run directory's name and where it is said."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from fault_helpers import TINY, assert_one_line, cli

import toy_envs  # noqa: F401  (registers rlx2test/* tasks)
from rlx2.config import CostConfig, TrainConfig
from rlx2.parsing import parse_args


@pytest.mark.parametrize(
    "args",
    [
        ["cost", "--obs-dim", "3", "--act-dim", "1", "--method", "dense"],
        ["--help"],
        ["train", "--help"],
    ],
    ids=["cost", "help", "train-help"],
)
def test_a_closed_output_pipe_ends_quietly(args):
    """`rlx2 cost ... | head`: the reader is gone before rlx2 writes (its end is closed at
    once, so the write always fails): no traceback, no message, 128 + SIGPIPE."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rlx2.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert err == ""


def test_no_command_prints_usage_and_exits_2(capsys):
    code, err = cli([], capsys)
    assert code == 2 and err.startswith("usage: rlx2 COMMAND") and "commands:" in err
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("flag", "text", "value"),
    [
        ("--total-steps", "1e6", 1_000_000),
        ("--total-steps", "1E6", 1_000_000),
        ("--total-steps", "2.5e5", 250_000),
        ("--total-steps", "1_000_000", 1_000_000),
        ("--seed", "3.0", 3),
        ("--nstep", "3e0", 3),
        ("--buffer-size", "1e5", 100_000),
    ],
)
def test_integer_flags_take_integral_floats(flag, text, value):
    config = parse_args(TrainConfig, ["--env", "Pendulum-v1", flag, text])
    flat = {**vars(config.run), **vars(config.value)}
    assert (
        flat[flag[2:].replace("-", "_")] == value and type(flat[flag[2:].replace("-", "_")]) is int
    )
    assert parse_args(CostConfig, ["--obs-dim", "1.7e1", "--act-dim", "6"]).obs_dim == 17


@pytest.mark.parametrize("text", ["1.5", "1e-3", "inf", "nan", "many", "0x10", "1e400"])
def test_integer_flags_refuse_what_is_not_an_integer(tmp_path, capsys, text):
    run_dir = tmp_path / "run"
    code, err = cli(["train", "--total-steps", text, "--run-dir", str(run_dir)], capsys)
    assert code == 2
    assert_one_line(err, "--total-steps", repr(text))
    assert not run_dir.exists()


def test_the_run_directory_is_named_at_start_and_end(tmp_path, capsys):
    from rlx2.cli import main

    run_dir = tmp_path / "run"
    main(["train", *TINY, "--total-steps", "300", "--run-dir", str(run_dir)])
    out, err = capsys.readouterr()
    assert f"run directory: {run_dir}\n" in err
    assert out.startswith("completed: ") and out.endswith(f" run_dir={run_dir}\n")


def test_the_default_run_directory_is_the_one_help_describes(tmp_path, capsys, monkeypatch):
    from rlx2.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    described = re.search(r"--run-dir \S+ Exact directory to write; default (\S+?) \(", help_text)
    assert described is not None, help_text
    pattern = re.escape(described.group(1))
    for name, value in {
        "env": "[^/]+/[^/]+",
        "algo": "td3",
        "method": "dense",
        "seed": "7",
    }.items():
        pattern = pattern.replace(re.escape(f"<{name}>"), value)
    pattern = pattern.replace(re.escape("<time>"), r"\d{8}-\d{6}")
    monkeypatch.chdir(tmp_path)
    main(["train", *TINY, "--total-steps", "300", "--seed", "7"])
    made = [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "runs").glob("*/*")]
    assert len(made) == 1 and re.fullmatch(pattern, made[0]), (pattern, made)
    assert capsys.readouterr().out.endswith(f" run_dir={made[0]}\n")
