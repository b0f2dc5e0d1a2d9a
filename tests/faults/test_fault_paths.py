"""Unwritable and invalid output paths (issue 11, defect 4): `rlx2 train --run-dir`, and
`--out` of `rlx2 report`, `rlx2 export` and `rlx2 sweep`, under a read-only place or below a
regular file. Each is one line naming the path and the OS error, exit 2, nothing written.

Before: a Python traceback, exit 1.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fault_helpers import PENDULUM, TINY, assert_one_line, cli

import toy_envs  # noqa: F401  (registers rlx2test/* tasks)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A completed run to report on and export."""
    from rlx2.cli import main

    run_dir = tmp_path_factory.mktemp("runs") / "run"
    main(
        [
            "train",
            *TINY,
            "--total-steps",
            "300",
            "--eval-every",
            "300",
            "--run-dir",
            str(run_dir),
        ]
    )
    return run_dir


def _refusal(path: Path) -> str | None:
    """The OS's message for creating a directory at ``path`` (None if it can be created)."""
    try:
        os.mkdir(path)
    except OSError as exc:
        return exc.strerror
    os.rmdir(path)
    return None


@pytest.fixture(params=["read-only", "below-a-file"])
def bad_place(request, tmp_path):
    """(a path where no directory can be created, the OS's reason)."""
    if request.param == "below-a-file":
        (tmp_path / "file").write_text("x")
        return tmp_path / "file" / "out", os.strerror(20)  # ENOTDIR
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        request.addfinalizer(lambda: locked.chmod(stat.S_IRWXU))
        return locked / "out", os.strerror(13)  # EACCES
    path = Path("/sys/rlx2-fault-test-out")  # sysfs refuses mkdir, even to root
    reason = _refusal(path)
    if reason is None:
        pytest.skip("no read-only place for root here")
    return path, reason


def test_train_run_dir(bad_place, capsys):
    path, reason = bad_place
    code, err = cli(["train", *TINY, "--total-steps", "300", "--run-dir", str(path)], capsys)
    assert code == 2
    assert_one_line(err, f"--run-dir {path}", reason)
    assert not path.exists()


def test_report_out(bad_place, finished_run, capsys):
    path, reason = bad_place
    code, err = cli(["report", str(finished_run), "--out", str(path)], capsys)
    assert code == 2
    assert_one_line(err, f"--out {path}", reason)


def test_export_out(bad_place, finished_run, capsys):
    path, reason = bad_place
    code, err = cli(
        ["export", str(finished_run), "--out", str(path / "policy.safetensors")], capsys
    )
    assert code == 2
    assert_one_line(err, f"--out {path / 'policy.safetensors'}", reason)


def test_sweep_out(bad_place, capsys):
    path, reason = bad_place
    args = [
        "sweep",
        "--grid",
        "seed=0,1",
        "--set",
        "env=rlx2test/Counter-v0",
        "--set",
        "total-steps=300",
    ]
    code, err = cli([*args, "--set", "learning-starts=256", "--out", str(path)], capsys)
    assert code == 2
    assert_one_line(err, f"--out {path}", reason)


@pytest.mark.slow
def test_a_read_only_filesystem(tmp_path):
    """EROFS, as on a read-only mount: every command says "Read-only file system"."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare")
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot mount here")
    ro = tmp_path / "ro"
    ro.mkdir()
    rlx2 = f"{sys.executable} -m rlx2.cli"
    command = (
        f"mount -t tmpfs -o ro,size=64k tmpfs {ro} && "
        f"{rlx2} train {' '.join(PENDULUM)} --total-steps 300 --run-dir {ro}/run; echo rc=$?"
    )
    done = subprocess.run(
        [*prefix, "sh", "-c", command], capture_output=True, text=True, timeout=600
    )
    assert "rc=2" in done.stdout, done.stderr
    assert done.stderr.count("\n") == 1 and f"--run-dir {ro}/run" in done.stderr
    assert "Read-only file system" in done.stderr, done.stderr
