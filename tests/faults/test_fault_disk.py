"""A full disk mid-run (issue 11, defect 4): one line naming the file and the OS error, the
run ``failed`` with that reason, its last checkpoint intact, and resumable once there is
space again.

Before: a traceback (the OSError of write() names no file), exit 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fault_helpers import (
    PENDULUM,
    TINY,
    assert_one_line,
    checkpoint_step,
    cli,
    evaluation_steps,
    read_summary,
)

import toy_envs  # noqa: F401  (registers rlx2test/* tasks)
from rlx2.train import rundir


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_disk_full_at_the_second_checkpoint(tmp_path, monkeypatch, capsys):
    """The second checkpoint's temporary file is /dev/full, which answers every write with
    ENOSPC as a full disk does."""
    real_create = rundir._create_temporary
    checkpoints = []

    def create(path):
        if path.name == rundir.LATEST_CHECKPOINT:
            checkpoints.append(path)
            if len(checkpoints) == 2:
                return os.open("/dev/full", os.O_WRONLY), str(
                    path.parent / f".{rundir.LATEST_CHECKPOINT}.full.tmp"
                )
        return real_create(path)

    monkeypatch.setattr(rundir, "_create_temporary", create)
    run_dir = tmp_path / "run"
    args = ["train", *TINY, "--total-steps", "900", "--eval-every", "300"]
    code, err = cli([*args, "--checkpoint-every", "300", "--run-dir", str(run_dir)], capsys)
    latest = run_dir / "checkpoints" / rundir.LATEST_CHECKPOINT
    reason = f"cannot write {latest}: No space left on device"
    assert code == 1
    assert_one_line(err.splitlines()[-1] + "\n", f"training failed: {reason}")
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and summary["reason"] == reason
    assert summary["step"] == 600 and summary["checkpoint_step"] == 300
    assert checkpoint_step(latest) == 300  # the last good checkpoint, intact
    assert not list(run_dir.rglob("*.tmp")) and not (run_dir / rundir.LOCK).exists()
    monkeypatch.undo()  # space again: the run resumes from it
    assert cli(["train", "--resume", str(run_dir)], capsys)[0] == 0
    assert evaluation_steps(run_dir) == [300, 600, 900]


def _namespace_prefix() -> list[str] | None:
    """A command prefix that runs a shell in a private mount namespace (so it may mount a
    tmpfs), or None where that is not possible."""
    if shutil.which("unshare") is None:
        return None
    prefix = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-rm"]
    try:
        probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return prefix if probe.returncode == 0 else None


@pytest.mark.slow
def test_a_real_full_disk_a_small_tmpfs(tmp_path):
    """A run on a 512 KiB tmpfs fills it (each checkpoint holds the growing replay buffer): it
    fails at a checkpoint with one line naming it, status failed, the previous checkpoint intact."""
    prefix = _namespace_prefix()
    if prefix is None:
        pytest.skip("cannot mount a tmpfs here (no unshare or no mount namespaces)")
    mnt, saved = tmp_path / "mnt", tmp_path / "saved"
    mnt.mkdir()
    args = ["train", *PENDULUM, "--total-steps", "8000", "--learning-starts", "7500"]
    args += ["--eval-every", "1000", "--checkpoint-every", "500", "--run-dir", str(mnt / "run")]
    command = " ".join(
        [
            f"mount -t tmpfs -o size=512k tmpfs {mnt} &&",
            f"{sys.executable} -m rlx2.cli {' '.join(args)} 2> {tmp_path / 'err'};",
            f"echo $? > {tmp_path / 'rc'}; cp -a {mnt / 'run'} {saved}",
        ]
    )
    subprocess.run([*prefix, "sh", "-c", command], check=True, timeout=900)
    err = (tmp_path / "err").read_text()
    assert (tmp_path / "rc").read_text().strip() == "1", err
    latest = mnt / "run" / "checkpoints" / rundir.LATEST_CHECKPOINT
    assert err.splitlines()[-1] == (
        f"rlx2: error: training failed: cannot write {latest}: No space left on device"
    ), err
    summary = read_summary(saved)
    assert summary["status"] == "failed" and "No space left on device" in summary["reason"]
    good = summary["checkpoint_step"]
    assert good is not None and good < summary["step"] < 8000
    assert checkpoint_step(saved / "checkpoints" / rundir.LATEST_CHECKPOINT) == good
    assert not list(saved.rglob("*.tmp"))
    print(f"full at step {summary['step']}, last checkpoint at step {good}")
