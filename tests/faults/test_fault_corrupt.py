"""Corrupt files of each kind a run directory holds, met by each command that reads them.

Exit 2 with one line where the command cannot go on (a run without a readable config or
checkpoint cannot be resumed or exported); a file rlx2 rewrites anyway (summary.json,
evaluations.csv, a stale lock) does not stop a resume; `rlx2 report` lists an unreadable run
and goes on (issue 11, defect 3), `--strict` makes it exit 2.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest
from fault_helpers import TINY, assert_one_line, cli, evaluation_steps, read_summary

import toy_envs  # noqa: F401  (registers rlx2test/* tasks)
from rlx2.train import loop


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> dict[str, Path]:
    """An interrupted run (checkpoints/latest.pt at step 400) and a completed one."""
    from rlx2.cli import main

    root = tmp_path_factory.mktemp("pristine")
    args = ["train", *TINY, "--total-steps", "600", "--eval-every", "200"]
    main([*args, "--run-dir", str(root / "completed")])
    original = loop.Trainer._evaluate

    def interrupt_at_400(self, step, *rest):
        original(self, step, *rest)
        if step == 400:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop.Trainer, "_evaluate", interrupt_at_400)
        with pytest.raises(SystemExit):
            main([*args, "--run-dir", str(root / "interrupted")])
    assert read_summary(root / "interrupted")["status"] == "interrupted"
    return {"completed": root / "completed", "interrupted": root / "interrupted"}


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00\xffnot what it should be{")


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def removed(path: Path) -> None:
    path.unlink()


CORRUPTIONS = {"garbage": garbage, "truncated": truncated, "removed": removed}

# (file, corruption, exit status of `rlx2 train --resume`, a phrase of its one-line error)
RESUME_CASES = [
    ("config.json", "garbage", 2, "unreadable config.json"),
    ("config.json", "truncated", 2, "unreadable config.json"),
    ("config.json", "removed", 2, "unreadable config.json"),
    ("checkpoints/latest.pt", "garbage", 2, "unreadable checkpoint latest.pt"),
    ("checkpoints/latest.pt", "truncated", 2, "unreadable checkpoint latest.pt"),
    ("checkpoints/latest.pt", "removed", 0, None),  # no checkpoint: starts again from step 0
    ("summary.json", "garbage", 0, None),  # rewritten
    ("summary.json", "removed", 0, None),
    ("evaluations.csv", "garbage", 0, None),  # rewritten from the checkpoint's rows
    (".lock", "garbage", 0, None),  # a stale lock file: taken over
]


@pytest.mark.parametrize(("name", "how", "status", "phrase"), RESUME_CASES)
def test_resume_with_a_corrupt_file(pristine, tmp_path, capsys, name, how, status, phrase):
    run_dir = tmp_path / "run"
    shutil.copytree(pristine["interrupted"], run_dir)
    target = run_dir / name
    if name == ".lock":
        target.write_text("x")
    CORRUPTIONS[how](target)
    code, err = cli(["train", "--resume", str(run_dir)], capsys)
    assert code == status, err
    if status:
        assert_one_line(err, f"--resume {run_dir}", phrase)
    else:
        assert read_summary(run_dir)["status"] == "completed"
        assert evaluation_steps(run_dir) == [200, 400, 600]


EXPORT_CASES = [
    ("checkpoints/final.pt", "garbage", "final.pt"),
    ("checkpoints/final.pt", "truncated", "final.pt"),
    ("checkpoints/final.pt", "removed", "final.pt"),
    ("config.json", "garbage", "config.json"),
]


@pytest.mark.parametrize(("name", "how", "phrase"), EXPORT_CASES)
def test_export_with_a_corrupt_file(pristine, tmp_path, capsys, name, how, phrase):
    run_dir = tmp_path / "run"
    shutil.copytree(pristine["completed"], run_dir)
    CORRUPTIONS[how](run_dir / name)
    code, err = cli(["export", str(run_dir), "--out", str(tmp_path / "p.safetensors")], capsys)
    assert code == 2
    assert_one_line(err, phrase)
    assert not (tmp_path / "p.safetensors").exists()


REPORT_CASES = [
    ("config.json", "garbage", "unreadable config.json"),
    ("config.json", "removed", "summary.json without config.json"),
    ("summary.json", "garbage", "unreadable summary.json"),
    ("evaluations.csv", "garbage", "evaluations.csv"),
    ("evaluations.csv", "removed", "evaluations.csv is missing"),
]


@pytest.mark.parametrize(("name", "how", "phrase"), REPORT_CASES)
def test_report_with_a_corrupt_run(pristine, tmp_path, capsys, name, how, phrase):
    runs = tmp_path / "runs"
    shutil.copytree(pristine["completed"], runs / "good")
    shutil.copytree(pristine["completed"], runs / "bad")
    CORRUPTIONS[how](runs / "bad" / name)
    code, err = cli(["report", str(runs), "--out", str(tmp_path / "strict"), "--strict"], capsys)
    assert code == 2
    assert_one_line(err, f"{runs / 'bad'}: ", phrase)
    code, err = cli(["report", str(runs), "--out", str(tmp_path / "out")], capsys)
    assert code == 0
    assert err.startswith(f"rlx2 report: warning: left out {runs / 'bad'}: ") and phrase in err
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### Unreadable run directories" in text and phrase in text


def test_evaluate_a_corrupt_policy_file(pristine, tmp_path, capsys):
    policy = tmp_path / "p.safetensors"
    assert cli(["export", str(pristine["completed"]), "--out", str(policy)], capsys)[0] == 0
    truncated(policy)
    code, err = cli(["evaluate", "--policy", str(policy), "--episodes", "1"], capsys)
    assert code == 2
    assert_one_line(err, str(policy))


class _WritesMarker:
    """Unpickled by a full unpickler, this calls ``exec``: what a hostile checkpoint does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


def hostile(path: Path, marker: Path) -> None:
    """Rewrite checkpoint ``path`` as a real checkpoint with one hostile object in it."""
    import torch

    from rlx2.train.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    state["rng"]["numpy"] = _WritesMarker(marker)
    torch.save(state, path)


def test_the_hostile_checkpoint_runs_code_when_fully_unpickled(pristine, tmp_path):
    """The control of the two tests below: the file really is hostile."""
    import torch

    path, marker = tmp_path / "latest.pt", tmp_path / "marker"
    shutil.copy(pristine["interrupted"] / "checkpoints" / "latest.pt", path)
    hostile(path, marker)
    torch.load(path, weights_only=False)
    assert marker.read_text() == "code ran"


def test_resume_refuses_a_checkpoint_that_would_run_code(pristine, tmp_path, capsys):
    """Issue 11 item 8: checkpoints load with torch's restricted unpickler."""
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    shutil.copytree(pristine["interrupted"], run_dir)
    hostile(run_dir / "checkpoints" / "latest.pt", marker)
    code, err = cli(["train", "--resume", str(run_dir)], capsys)
    assert code == 2
    assert_one_line(err, f"--resume {run_dir}: latest.pt: refused to load it", "could run code")
    assert not marker.exists()
    assert read_summary(run_dir)["status"] == "interrupted"  # untouched


def test_export_refuses_a_checkpoint_that_would_run_code(pristine, tmp_path, capsys):
    run_dir, marker = tmp_path / "run", tmp_path / "marker"
    shutil.copytree(pristine["completed"], run_dir)
    hostile(run_dir / "checkpoints" / "final.pt", marker)
    out = tmp_path / "p.safetensors"
    code, err = cli(["export", str(run_dir), "--out", str(out)], capsys)
    assert code == 2
    assert_one_line(err, "checkpoints/final.pt: refused to load it", "could run code")
    assert not marker.exists() and not out.exists()
