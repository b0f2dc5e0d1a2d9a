"""Shared test helpers: running the CLI in-process and the small settings of quick runs."""

import pytest

from rlx2.cli import main

# A few-second run: tiny networks and batches, short warm-up, one evaluation episode.
FAST = [
    "--learning-starts",
    "256",
    "--batch-size",
    "32",
    "--hidden",
    "16",
    "--eval-episodes",
    "1",
    "--quiet",
]


def run_cli(args, capsys) -> tuple[int, str]:
    """Run `rlx2 ARGS` expecting it to exit; returns (exit status, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr().err


def cli(args: list[str], capsys) -> tuple[int, str]:
    """Run ``rlx2 ARGS`` in this process: (exit status, stderr); 0 when it returns."""
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().err


def assert_one_line(err: str, *needles: str) -> None:
    """One line, ``rlx2: error: ...``, no traceback, naming each of ``needles``."""
    assert err.count("\n") == 1 and err.startswith("rlx2: error:"), err
    assert "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def assert_one_line_error(code: int, err: str, needle: str, status: int = 2) -> None:
    """Bad input: the given exit status and a single line that names the problem."""
    assert code == status, err
    assert_one_line(err, needle)
