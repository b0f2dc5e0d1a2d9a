"""Files rlx2 writes get the permissions a plain write gives them (issue 11 item 9).

Atomic writes (write a temporary file, then rename) once made every file 0600 whatever the
umask (tempfile.mkstemp), so colleagues on a shared disk could not read a run's results. The
reference here is what ``open(path, "w")`` creates in the same directory under the same umask.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest
from fault_helpers import TINY, cli

import toy_envs  # noqa: F401  (registers rlx2test/* tasks)
from rlx2.train import rundir

UMASKS = [0o022, 0o077, 0o002]


@contextlib.contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def plain_write_mode(directory: Path) -> int:
    """The mode open(..., "w") gives a new file here, under the current umask."""
    probe = directory / "plain-open-reference"
    with open(probe, "w") as f:
        f.write("x")
    try:
        return mode(probe)
    finally:
        probe.unlink()


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_a_new_file_gets_what_open_gives(tmp_path, mask):
    with umask(mask):
        expected = plain_write_mode(tmp_path)
        rundir.atomic_write_bytes(tmp_path / "a.bin", b"data")
        rundir.atomic_write_json(tmp_path / "sub" / "b.json", {"x": 1})
    assert expected == 0o666 & ~mask
    assert mode(tmp_path / "a.bin") == expected
    assert mode(tmp_path / "sub" / "b.json") == expected
    assert (tmp_path / "a.bin").read_bytes() == b"data"


def test_an_existing_file_keeps_its_mode(tmp_path):
    """As writing it in place would: a file made group-writable (or private) stays so."""
    path = tmp_path / "summary.json"
    for chosen in (0o664, 0o600):
        path.write_text("{}")
        path.chmod(chosen)
        with umask(0o022):
            rundir.atomic_write_json(path, {"status": "running"})
        assert mode(path) == chosen


@pytest.mark.parametrize("mask", [0o022, 0o027], ids=oct)
def test_every_file_of_a_run_and_its_export(tmp_path, capsys, mask):
    run_dir = tmp_path / "run"
    with umask(mask):
        expected = plain_write_mode(tmp_path)
        args = ["train", *TINY, "--total-steps", "300", "--eval-every", "300"]
        assert cli([*args, "--run-dir", str(run_dir)], capsys)[0] == 0
        policy = tmp_path / "policy.safetensors"
        assert cli(["export", str(run_dir), "--out", str(policy)], capsys)[0] == 0
    written = [
        run_dir / "config.json",
        run_dir / "summary.json",
        run_dir / "evaluations.csv",
        run_dir / "checkpoints" / "final.pt",
        policy,
    ]
    assert {path.name: oct(mode(path)) for path in written} == {
        path.name: oct(expected) for path in written
    }
