"""The run directory's format is defined once (train/rundir.py): every file carries its
format version, and every reader (resume, export, report, the Python API) goes through the
same typed readers, so they accept and refuse the same files with the same words."""

from __future__ import annotations

import json
import shutil

import pytest

from rlx2 import api
from rlx2.cli import main
from rlx2.errors import RunDirError
from rlx2.experiments.report import load_run
from rlx2.train import rundir
from rlx2.train.records import load_train_config

TRAIN = "train --env Pendulum-v1 --algo td3 --total-steps 600 --learning-starts 256 --batch-size 64"
TRAIN += " --hidden 32 --eval-every 300 --eval-episodes 1 --quiet"


@pytest.fixture(scope="module")
def completed(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("records") / "run"
    main([*TRAIN.split(), "--run-dir", str(run_dir)])
    return run_dir


def _copy(completed, tmp_path, edit=None, name=rundir.CONFIG):
    run_dir = tmp_path / "copy"
    shutil.copytree(completed, run_dir)
    if edit is not None:
        document = json.loads((run_dir / name).read_text())
        edit(document)
        (run_dir / name).write_text(json.dumps(document))
    return run_dir


def test_every_file_records_the_format_version_and_the_readers_agree(completed):
    for name in (rundir.CONFIG, rundir.SUMMARY):
        assert json.loads((completed / name).read_text())["format"] == rundir.FORMAT_VERSION
    record, config = load_train_config(completed)
    assert record.format == rundir.FORMAT_VERSION and config.env == "Pendulum-v1"
    assert record.effective["backend"] == record.options["run"]["backend"]
    assert (completed / rundir.CHECKPOINTS / rundir.FINAL_CHECKPOINT).is_file()
    run = load_run(completed)
    loaded = api.load(completed)
    assert run.final_score == loaded.final_return == rundir.read_summary(completed)["final_return"]


def test_files_written_before_the_format_field_read_as_format_1(completed, tmp_path):
    def drop(document):
        del document["format"]

    run_dir = _copy(completed, tmp_path, drop)
    summary = run_dir / rundir.SUMMARY
    summary.write_text(
        json.dumps({k: v for k, v in json.loads(summary.read_text()).items() if k != "format"})
    )
    assert rundir.read_run_record(run_dir).format == 1
    assert load_run(run_dir).final_score is not None
    assert api.load(run_dir).status == "completed"
    assert main(["export", str(run_dir), "--out", str(tmp_path / "p.safetensors")]) in (None, 0)


@pytest.mark.parametrize("name", [rundir.CONFIG, rundir.SUMMARY])
def test_a_newer_format_is_refused_by_every_reader_with_one_message(
    completed, tmp_path, capsys, name
):
    def newer(document):
        document["format"] = rundir.FORMAT_VERSION + 1

    run_dir = _copy(completed, tmp_path, newer, name)
    expected = f"{name} was written by a newer rlx2"
    with pytest.raises(RunDirError, match=expected):
        rundir.read_summary(run_dir) if name == rundir.SUMMARY else rundir.read_run_record(run_dir)
    with pytest.raises(RunDirError, match=expected):
        api.load(run_dir)
    with pytest.raises(Exception, match=expected):
        load_run(run_dir)
    if name == rundir.CONFIG:
        summary = run_dir / rundir.SUMMARY  # a stopped run, so that resume reads its config
        summary.write_text(json.dumps({**json.loads(summary.read_text()), "status": "interrupted"}))
        for command in (
            ["export", str(run_dir), "--out", str(tmp_path / "p.safetensors")],
            ["train", "--resume", str(run_dir)],
        ):
            with pytest.raises(SystemExit) as exit_:
                main(command)
            assert exit_.value.code == 2
            err = capsys.readouterr().err
            assert expected in err and err.count("\n") == 1


def test_a_config_without_options_is_named_by_the_one_reader(completed, tmp_path):
    run_dir = _copy(completed, tmp_path, lambda d: d.pop("config"))
    with pytest.raises(RunDirError, match=r"unreadable config.json \(no \"config\" object"):
        rundir.read_run_record(run_dir)
    with pytest.raises(RunDirError, match="unreadable config.json"):
        api.load(run_dir)
