"""One writer per run directory (issue 11, defect 1).

Before: two ``rlx2 train`` on one --run-dir, or --resume of a run still training, both
"completed", interleaving their files and TensorBoard events.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from fault_helpers import (
    TINY,
    assert_one_line,
    cli,
    read_summary,
)

import toy_envs  # noqa: F401  (registers rlx2test/* tasks)
from rlx2 import locking
from rlx2.errors import LockHeld
from rlx2.locking import DirectoryLock, Owner
from rlx2.train import rundir


def dead_pid() -> int:
    """The pid of a process of this host that has exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(child.stdout)


def write_record(path, pid: int, host: str) -> None:
    record = {"pid": pid, "host": host, "started": "2026-01-01T00:00:00", "command": "rlx2 train"}
    path.write_text(json.dumps(record))


def owner_text() -> str:
    return f"is in use by rlx2 (pid {os.getpid()} on host {socket.gethostname()}, since "


# ----- the lock itself ------------------------------------------------------------------------
def test_a_held_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    path = tmp_path / ".lock"
    first = DirectoryLock(path, "--run-dir x").acquire()
    recorded = locking.read_owner(path)
    assert recorded is not None and (recorded.pid, recorded.host) == (
        os.getpid(),
        socket.gethostname(),
    )
    with pytest.raises(LockHeld, match=r"--run-dir x " + owner_text().replace("(", r"\(")) as info:
        DirectoryLock(path, "--run-dir x").acquire()  # another open file: flock refuses it too
    assert info.value.owner == recorded
    first.release()
    assert not path.exists()  # released: the file goes with it
    with DirectoryLock(path, "--run-dir x"):
        assert path.exists()
    first.release()  # idempotent


def hold_without_record(path):
    """A holder caught between its flock and its owner record: the file is locked and empty."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_holder_still_writing_its_record_is_named_once_it_has(tmp_path):
    """Two writers started together: the loser waits for the winner's record to name it (the
    CI failure of stop 14 was "owner not recorded yet" here)."""
    path = tmp_path / ".lock"
    fd = hold_without_record(path)
    timer = threading.Timer(0.2, write_record, (path, os.getpid(), socket.gethostname()))
    timer.start()
    try:
        with pytest.raises(LockHeld, match=owner_text().replace("(", r"\(")):
            DirectoryLock(path, "--run-dir x").acquire()
    finally:
        timer.join()
        os.close(fd)


def test_a_holder_that_never_records_itself_is_refused_without_a_name(tmp_path, monkeypatch):
    monkeypatch.setattr(locking, "OWNER_RECORD_WAIT_S", 0.05)
    path = tmp_path / ".lock"
    fd = hold_without_record(path)
    try:
        with pytest.raises(LockHeld, match=r"is in use by rlx2 \(owner not recorded yet\)"):
            DirectoryLock(path, "--run-dir x").acquire()
    finally:
        os.close(fd)


@pytest.mark.parametrize("content", ["", "garbage{", None])
def test_a_lock_file_left_by_a_dead_process_is_stale(tmp_path, content):
    path = tmp_path / ".lock"
    if content is None:
        write_record(path, dead_pid(), socket.gethostname())
    else:
        path.write_text(content)
    with DirectoryLock(path, "x"):
        assert locking.read_owner(path).pid == os.getpid()


def test_without_flock_the_record_is_the_lock(tmp_path, monkeypatch):
    """Filesystems that cannot flock: a live owner here or any owner elsewhere refuses; a dead
    owner here is stale."""

    def no_flock(fd):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(locking, "_flock", no_flock)
    path = tmp_path / ".lock"
    write_record(path, os.getpid(), socket.gethostname())  # alive, this host
    with pytest.raises(LockHeld, match=owner_text().replace("(", r"\(")):
        DirectoryLock(path, "x").acquire()
    write_record(path, os.getpid(), "some-other-host")
    with pytest.raises(LockHeld, match=r"on host some-other-host.*if that process is gone, delete"):
        DirectoryLock(path, "x").acquire()
    write_record(path, dead_pid(), socket.gethostname())
    with DirectoryLock(path, "x"):
        assert locking.read_owner(path) == Owner(
            os.getpid(),
            socket.gethostname(),
            locking.read_owner(path).started,
            locking.read_owner(path).command,
        )
    assert not path.exists()


# ----- rlx2 train and --resume ----------------------------------------------------------------
def test_train_on_a_run_directory_in_use_exits_2_naming_the_owner(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    held = DirectoryLock(run_dir / rundir.LOCK, "test").acquire()  # as another process would
    args = [
        "train",
        *TINY,
        "--total-steps",
        "300",
        "--eval-every",
        "300",
        "--run-dir",
        str(run_dir),
    ]
    code, err = cli(args, capsys)
    assert code == 2
    assert_one_line(err, f"--run-dir {run_dir} {owner_text()}")
    assert [p.name for p in run_dir.iterdir()] == [rundir.LOCK]  # nothing written
    held.release()
    assert cli(args, capsys)[0] == 0
    assert rundir.run_status(run_dir) == "completed" and not (run_dir / rundir.LOCK).exists()


def test_resume_of_a_run_in_use_exits_2_naming_the_owner(tmp_path, capsys):
    run_dir = tmp_path / "run"
    cli(
        ["train", *TINY, "--total-steps", "300", "--eval-every", "300", "--run-dir", str(run_dir)],
        capsys,
    )
    summary = read_summary(run_dir)
    rundir.atomic_write_json(run_dir / rundir.SUMMARY, {**summary, "status": "running"})
    before = (run_dir / rundir.SUMMARY).read_bytes()
    with DirectoryLock(run_dir / rundir.LOCK, "test"):
        code, err = cli(["train", "--resume", str(run_dir)], capsys)
    assert code == 2
    assert_one_line(err, f"--resume {run_dir} {owner_text()}")
    assert (run_dir / rundir.SUMMARY).read_bytes() == before  # untouched
