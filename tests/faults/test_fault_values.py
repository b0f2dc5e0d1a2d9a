"""Values that used to pass validation and then fail or be ignored (issue 11 item 7).

What cannot work is refused before anything is written (exit 2, one line naming the
option); what is ignored is run, with one warning naming the ignored options.
"""

from __future__ import annotations

import pytest
from fault_helpers import TINY, assert_one_line, cli, read_summary

import toy_envs  # noqa: F401  (registers rlx2test/* tasks)
from rlx2.config import TrainConfig
from rlx2.parsing import parse_args

MAX_SEED = 2**32 - 1  # np.random.seed's bound
SPARSE = ["--actor-sparsity", "0.5", "--critic-sparsity", "0.5"]

# (extra arguments after TINY --total-steps 400, a phrase of the one-line error)
REFUSED = [
    (["--nstep", "5000", "--buffer-size", "1000"], "--nstep (5000) must not exceed"),
    (
        ["--nstep", "401"],
        "--nstep (401) must not exceed the transitions the replay buffer can hold (400",
    ),
    (
        ["--method", "rlx2", *SPARSE, "--buffer-min", "64", "--nstep", "65"],
        "--nstep (65) must not exceed the transitions the replay buffer can hold (64: --buffer-min",
    ),
    (["--seed", str(2**32)], f"--seed must be in [0, {MAX_SEED}], got {2**32}"),
    (["--seed", str(2**64)], f"--seed must be in [0, {MAX_SEED}]"),
    (["--algo", "sac", "--target-entropy", "nan"], "--target-entropy must be a finite number"),
    (["--algo", "sac", "--target-entropy", "-inf"], "--target-entropy must be a finite number"),
    (["--buffer-size", "16"], "--buffer-size (16) must be >= --batch-size (32)"),
    (
        ["--method", "rlx2", *SPARSE, "--buffer-min", "16", "--distance-samples", "16"],
        "--buffer-min (16) must be >= --batch-size (32)",
    ),
    (
        ["--learning-starts", "400"],
        "--learning-starts (400) must be smaller than --total-steps (400)",
    ),
    (["--learning-starts", "1000"], "the run would never learn"),
]


@pytest.mark.parametrize(("extra", "phrase"), REFUSED)
def test_what_cannot_work_is_refused_before_anything_is_written(tmp_path, capsys, extra, phrase):
    run_dir = tmp_path / "run"
    code, err = cli(
        ["train", *TINY, "--total-steps", "400", *extra, "--run-dir", str(run_dir)], capsys
    )
    assert code == 2
    assert_one_line(err, phrase)
    assert not run_dir.exists()


def test_the_largest_seed_runs(tmp_path, capsys):
    """The bound is the real one: NumPy's global seeding takes it."""
    run_dir = tmp_path / "run"
    args = ["train", *TINY, "--total-steps", "300", "--seed", str(MAX_SEED)]
    assert cli([*args, "--run-dir", str(run_dir)], capsys)[0] == 0
    assert read_summary(run_dir)["seed"] == MAX_SEED


def config(*args: str) -> TrainConfig:
    return parse_args(TrainConfig, ["--env", "Pendulum-v1", *args])


@pytest.mark.parametrize(
    ("args", "ignored"),
    [
        ([], []),
        (["--actor-sparsity", "0.5", "--preset", "paper"], ["--actor-sparsity", "--preset"]),
        (["--topology", "set", "--no-reset-moments"], ["--topology", "--no-reset-moments"]),
        (
            ["--drop-fraction", "0.3", "--sparsity-distribution", "uniform"],
            ["--sparsity-distribution", "--drop-fraction"],
        ),
        (["--method", "tiny", *SPARSE, "--topology-interval", "7"], ["--topology-interval"]),
        (["--method", "ss", *SPARSE, "--drop-fraction", "0.3"], ["--drop-fraction"]),
        (
            [
                "--method",
                "set",
                *SPARSE,
                "--drop-fraction",
                "0.5",
                "--sparsity-distribution",
                "uniform",
            ],
            [],
        ),
        (
            ["--actor-sparsity", "0.5", "--backend", "dense", "--method", "dense"],
            ["--actor-sparsity"],
        ),
    ],
)
def test_options_the_method_does_not_use(args, ignored):
    from rlx2.resolve import ignored_options

    assert sorted(ignored_options(config(*args))) == sorted(ignored)


def test_ignored_options_are_named_in_one_warning(tmp_path, capsys):
    run_dir = tmp_path / "run"
    args = ["train", *TINY, "--total-steps", "300", "--actor-sparsity", "0.5", "--preset", "paper"]
    code, err = cli([*args, "--run-dir", str(run_dir)], capsys)
    assert code == 0
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == ["rlx2: warning: --method dense ignores --actor-sparsity, --preset"]
    code, err = cli(
        ["train", *TINY, "--total-steps", "300", "--run-dir", str(tmp_path / "b")], capsys
    )
    assert code == 0 and "warning" not in err
