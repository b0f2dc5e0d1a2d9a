"""`rlx2 sweep`: grid expansion and names (pure), bad input rejected before any job starts,
real sweeps on the local backend (skip completed, resume interrupted, failures listed) and
on a local Ray instance. Jobs are tiny Pendulum-v1 runs (a few seconds each)."""

import contextlib
import dataclasses
import io
import json
import multiprocessing
import os
import sys
from pathlib import Path

import pytest

from rlx2.cli import main as rlx2_main
from rlx2.errors import ConfigError
from rlx2.experiments import launch
from rlx2.experiments.run_options import option_args
from rlx2.experiments.sweep import (
    SweepConfig,
    cli_main,
    expand,
    main,
    plan_jobs,
    run_sweep,
    sanitise,
    sweep_lock,
)
from rlx2.experiments.sweep_file import apply_overrides, load_sweep_file, parse_yaml, spec_from_dict
from rlx2.train import rundir
from rlx2.train.rundir import SUMMARY, read_json, run_status

TINY = {
    "env": "Pendulum-v1",
    "total-steps": 600,
    "learning-starts": 256,
    "batch-size": 32,
    "hidden": 16,
    "eval-every": 300,
    "eval-episodes": 1,
}


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def tiny_sweep_file(path: Path, grid: str = "seed: [0, 1]", extra: str = "") -> Path:
    fixed = "\n".join(f"  {key}: {value}" for key, value in TINY.items())
    return write_yaml(path, f"fixed:\n{fixed}\ngrid:\n  {grid}\n{extra}")


def run_main(args, stream=None):
    """Run `rlx2 sweep ARGS` in-process; returns (exit code, stdout, progress lines)."""
    stream = stream or io.StringIO()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(SweepConfig(**args), stream=stream)
    return code, out.getvalue(), stream.getvalue()


# ----- expansion and naming (pure) ------------------------------------------------------------
def test_grid_is_the_product_minus_excludes_plus_includes():
    spec = spec_from_dict(
        {
            "fixed": {"env": "Pendulum-v1"},
            "grid": {"method": ["dense", "ss"], "seed": [0, 1]},
            "exclude": [{"method": "ss", "seed": 1}],
            "include": [{"method": "rigl", "seed": 9}],
        }
    )
    assert expand(spec) == [
        {"env": "Pendulum-v1", "method": "dense", "seed": 0},
        {"env": "Pendulum-v1", "method": "dense", "seed": 1},
        {"env": "Pendulum-v1", "method": "ss", "seed": 0},
        {"env": "Pendulum-v1", "method": "rigl", "seed": 9},
    ]


def test_identical_jobs_are_kept_once():
    spec = spec_from_dict({"grid": {"seed": [0, 1]}, "include": [{"seed": 1}]})
    assert expand(spec) == [{"seed": 0}, {"seed": 1}]


def test_option_keys_kebab_or_snake_and_their_arguments():
    spec = spec_from_dict(
        {"fixed": {"total_steps": 3.0e6, "reset_moments": True, "quiet": False, "nstep": None}}
    )
    assert spec.fixed == {
        "total-steps": 3.0e6,
        "reset-moments": True,
        "quiet": False,
        "nstep": None,
    }
    assert option_args(spec.fixed) == [
        "--total-steps",
        "3000000",
        "--reset-moments",
        "--no-quiet",
        "--nstep",
        "None",
    ]


def test_yaml_keeps_on_off_as_strings_and_rejects_duplicate_keys():
    assert parse_yaml("dynamic-buffer: on\nquiet: true", "f") == {
        "dynamic-buffer": "on",
        "quiet": True,
    }
    with pytest.raises(ConfigError, match="duplicate key 'seed'"):
        parse_yaml("seed: 0\nseed: 1", "f.yaml")


def test_names_are_readable_stable_and_sanitised(tmp_path):
    spec = spec_from_dict(
        {
            "fixed": TINY,
            "grid": {
                "method": ["dense", "ss"],
                "actor-sparsity": [0.5],
                "critic_sparsity": [0.25],
                "nstep": [1, 3],
                "seed": [0],
            },
            "include": [
                {
                    "algo": "sac",
                    "method": "rlx2",
                    "actor-sparsity": 0.9,
                    "critic-sparsity": 0.9,
                    "reset-moments": True,
                }
            ],
        }
    )
    names = [job.name for job in plan_jobs(spec, tmp_path / "out")]
    assert names == [
        "td3_Pendulum-v1_dense_nstep-1_s0",
        "td3_Pendulum-v1_dense_nstep-3_s0",
        "td3_Pendulum-v1_ss_a0.5_c0.25_nstep-1_s0",
        "td3_Pendulum-v1_ss_a0.5_c0.25_nstep-3_s0",
        # An include-only key (reset-moments) names only the job that sets it; a grid axis the
        # include job leaves unset (nstep) does not appear in its name.
        "sac_Pendulum-v1_rlx2_a0.9_c0.9_reset-moments_s0",
    ]
    # Adding seeds keeps the names of the existing jobs.
    more = apply_overrides(spec, grids=["seed=0,1"])
    assert names[0] in [job.name for job in plan_jobs(more, tmp_path / "out")]
    # So does adding an ablation as an include entry with a new key.
    ablation = dataclasses.replace(
        spec,
        include=[
            *spec.include,
            {
                "method": "ss",
                "actor-sparsity": 0.5,
                "critic-sparsity": 0.25,
                "value-learning": "rlx2",
            },
        ],
    )
    grown = [job.name for job in plan_jobs(ablation, tmp_path / "out")]
    assert grown[: len(names)] == names
    assert grown[-1] == "td3_Pendulum-v1_ss_a0.5_c0.25_value-learning-rlx2_s0"
    assert sanitise("rlx2test/Counter v0") == "rlx2test-Counter-v0"
    assert not (tmp_path / "out").exists(), "planning writes nothing"


def test_name_template_and_colliding_names(tmp_path):
    spec = spec_from_dict({"name": "{env}-s{seed}", "fixed": TINY, "grid": {"seed": [0, 1]}})
    jobs = plan_jobs(spec, tmp_path)
    assert [job.name for job in jobs] == ["Pendulum-v1-s0", "Pendulum-v1-s1"]
    assert jobs[0].run_dir == str(tmp_path.absolute() / "Pendulum-v1-s0")
    assert jobs[0].log_path == str(tmp_path.absolute() / "logs" / "Pendulum-v1-s0.log")
    clash = spec_from_dict({"name": "run-{env}", "fixed": TINY, "grid": {"seed": [0, 1]}})
    with pytest.raises(ConfigError, match="also named 'run-Pendulum-v1'"):
        plan_jobs(clash, tmp_path)
    with pytest.raises(ConfigError, match=r"unknown option \{sede\}"):
        plan_jobs(spec_from_dict({"name": "{sede}", "fixed": TINY}), tmp_path)


def test_toml_sweep_file(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text('out = "runs/x"\n[fixed]\nenv = "Pendulum-v1"\n[grid]\nseed = [0, 1]\n')
    spec = load_sweep_file(path)
    assert (spec.out, spec.fixed, spec.grid) == ("runs/x", {"env": "Pendulum-v1"}, {"seed": [0, 1]})


def test_cli_overrides_pin_or_add_axes():
    spec = spec_from_dict({"fixed": {"algo": "td3"}, "grid": {"seed": [0, 1], "method": ["ss"]}})
    spec = apply_overrides(spec, sets=["seed=4", "total_steps=1000"], grids=["algo=td3,sac"])
    assert spec.fixed == {"seed": 4, "total-steps": 1000}
    assert spec.grid == {"method": ["ss"], "algo": ["td3", "sac"]}


# ----- bad input: exit 2, one line naming the key, nothing written ----------------------------
@pytest.mark.parametrize(
    "text,needle",
    [
        ("grdi:\n  seed: [0]\n", "unknown key 'grdi'"),
        ("fixed:\n  totl-steps: 5\n", "unknown option 'totl-steps'; did you mean 'total-steps'?"),
        ("grid:\n  sede: [0, 1]\n", "unknown option 'sede'"),
        ("grid:\n  total-steps: [30000, 0]\n", "--total-steps must be positive"),
        ("fixed:\n  total-steps: many\n", "--total-steps"),
        ("fixed:\n  method: sparse\n", "invalid choice 'sparse' for argument '--method'"),
        ("fixed:\n  env: NoSuchTask-v9\n", "NoSuchTask-v9"),
        ("fixed:\n  run-dir: somewhere\n", "'run-dir' cannot be set in a sweep"),
        ("grid:\n  seed: 3\n", "grid: seed must be a non-empty list"),
        ("fixed:\n  quiet: 1\n", "quiet must be true or false"),
        ("fixed:\n  seed: 0\ngrid:\n  seed: [1]\n", "'seed' is both in fixed and in grid"),
        ("exclude:\n  - {sed: 1}\n", "exclude[0]: unknown option 'sed'"),
        ("fixed: [1, 2\n", "invalid YAML"),
    ],
)
def test_bad_sweep_file_exits_2_before_any_job(text, needle, tmp_path, capsys):
    path = write_yaml(tmp_path / "bad.yaml", f"out: {tmp_path / 'out'}\n{text}")
    with pytest.raises(SystemExit) as exc:
        rlx2_main(["sweep", str(path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.count("\n") == 1 and err.startswith("rlx2: error:"), err
    assert needle in err and "bad.yaml" in err
    assert not (tmp_path / "out").exists(), "nothing may be written on bad input"


def test_one_invalid_job_stops_the_whole_sweep_before_it_starts(tmp_path):
    path = tiny_sweep_file(tmp_path / "s.yaml", grid="gamma: [0.99, 1.5]")
    with pytest.raises(ConfigError, match=r"job 1 \(gamma=1.5\): --gamma must be in \(0, 1\]"):
        main(SweepConfig(file=str(path), out=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--workers", "0", "--grid", "seed=0"], "--workers must be positive"),
        (["--address", "auto", "--grid", "seed=0"], "--address needs --backend ray"),
        ([], "give a sweep FILE or at least one --grid"),
        (["--grid", "seed=0"], "no output directory"),
        (["--out", "x", "--set", "nosuch=1", "--grid", "seed=0"], "--set: unknown option 'nosuch'"),
        (["missing.yaml", "--out", "x"], "sweep file missing.yaml"),
    ],
)
def test_bad_command_line_exits_2(args, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        rlx2_main(["sweep", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "x").exists()


def test_missing_ray_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    path = tiny_sweep_file(tmp_path / "s.yaml")
    with pytest.raises(SystemExit) as exc:
        cli_main([str(path), "--out", str(tmp_path / "out"), "--backend", "ray"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "--backend ray needs Ray" in err
    assert not (tmp_path / "out").exists()


def test_dry_run_lists_jobs_and_writes_nothing(tmp_path):
    path = tiny_sweep_file(tmp_path / "s.yaml")
    code, out, _ = run_main({"file": str(path), "out": str(tmp_path / "out"), "dry_run": True})
    assert code == 0
    assert out.splitlines()[0].startswith("new       td3_Pendulum-v1_dense_s0  --env Pendulum-v1")
    assert "2 jobs" in out
    assert not (tmp_path / "out").exists()


def test_a_second_sweep_on_the_same_out_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with (
        sweep_lock(out),
        pytest.raises(ConfigError, match=r"is in use by another rlx2 sweep \(pid \d+ on host "),
    ):
        run_sweep(spec_from_dict({}), [], out, backend=lambda jobs, started, finished: None)


# ----- real sweeps --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """Two tiny jobs plus one whose run directory holds a foreign file (so train refuses it),
    on the local process backend with 2 workers."""
    root = tmp_path_factory.mktemp("sweep")
    path = tiny_sweep_file(root / "s.yaml", extra="include:\n  - {seed: 7}\n")
    out = root / "out"
    (out / "td3_Pendulum-v1_dense_s7").mkdir(parents=True)
    (out / "td3_Pendulum-v1_dense_s7" / "notes.txt").write_text("not a run")
    code, stdout, progress = run_main({"file": str(path), "out": str(out), "workers": 2})
    return {"path": path, "out": out, "code": code, "stdout": stdout, "progress": progress}


def test_local_sweep_runs_every_job_and_lists_the_failure(local_sweep):
    out = local_sweep["out"]
    for seed in (0, 1):
        assert run_status(out / f"td3_Pendulum-v1_dense_s{seed}") == "completed"
        assert (out / "logs" / f"td3_Pendulum-v1_dense_s{seed}.log").exists()
    assert local_sweep["code"] == 1
    failed = "td3_Pendulum-v1_dense_s7"
    log = out / "logs" / f"{failed}.log"
    assert f"FAILED {failed}: RunDirError" in local_sweep["stdout"]
    assert f"(log: {log})" in local_sweep["stdout"]
    assert "Traceback" in log.read_text()
    assert "done 2/3 running 0 failed 1" in local_sweep["progress"]
    record = json.loads((out / "sweep.json").read_text())
    assert record["counts"] == {
        "total": 3,
        "completed": 2,
        "running": 0,
        "failed": 1,
        "pending": 0,
    }
    jobs = {job["name"]: job for job in record["jobs"]}
    assert jobs[failed]["status"] == "failed" and "not empty" in jobs[failed]["error"]
    assert jobs["td3_Pendulum-v1_dense_s0"]["options"]["seed"] == 0
    assert jobs["td3_Pendulum-v1_dense_s0"]["final_return"] is not None


def test_rerun_skips_completed_runs_and_retries_the_rest(local_sweep):
    out = local_sweep["out"]
    done = [out / f"td3_Pendulum-v1_dense_s{seed}" / SUMMARY for seed in (0, 1)]
    before = [(p.stat().st_mtime_ns, p.read_text()) for p in done]
    (out / "td3_Pendulum-v1_dense_s7" / "notes.txt").unlink()  # the user fixes the failure
    code, stdout, progress = run_main(
        {"file": str(local_sweep["path"]), "out": str(out), "workers": 2}
    )
    assert code == 0, progress
    assert "2 completed before, 0 to resume, 1 new" in progress
    assert [(p.stat().st_mtime_ns, p.read_text()) for p in done] == before
    assert run_status(out / "td3_Pendulum-v1_dense_s7") == "completed"
    assert "3 completed, 0 failed" in stdout


def test_interrupted_run_is_resumed(tmp_path, monkeypatch, capfd):
    """A run killed after a checkpoint (status "running") is continued, not restarted."""
    from rlx2.config import TrainConfig
    from rlx2.parsing import parse_args
    from rlx2.train import loop

    path = tiny_sweep_file(tmp_path / "s.yaml", grid="seed: [3]", extra="")
    spec = apply_overrides(load_sweep_file(path), sets=["checkpoint-every=300"])
    (job,) = plan_jobs(spec, tmp_path / "out")
    save = loop.Trainer.save_checkpoint

    def save_then_die(self, env, name):
        save(self, env, name)
        if name == rundir.LATEST_CHECKPOINT:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop.Trainer, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        loop.train(parse_args(TrainConfig, job.args))
    monkeypatch.undo()
    summary_path = Path(job.run_dir) / SUMMARY
    killed = {**read_json(summary_path), "status": "running"}  # what a SIGKILL leaves behind
    summary_path.write_text(json.dumps(killed))

    stream = io.StringIO()  # in this process (run_serial): the log redirection must undo itself
    progress = run_sweep(spec, [job], tmp_path / "out", launch.run_serial, "serial", stream)
    assert "0 completed before, 1 to resume, 0 new" in stream.getvalue()
    assert "started (resuming)" in stream.getvalue()
    assert progress.records[job.name]["action"] == "resume"
    summary = read_json(summary_path)
    assert summary["status"] == "completed" and summary["resumes"] == 1
    log = Path(job.log_path).read_text()
    assert f"resume {job.run_dir}" in log and "resumed at step 300" in log
    print("stdout works again")
    assert "stdout works again" in capfd.readouterr().out


def test_a_worker_killed_mid_run_is_a_failed_job_not_a_driver_crash(tmp_path):
    """A worker that dies without answering (SIGKILL, out of memory) leaves its pipe at EOF: the
    driver records the job as failed and carries on. The kill comes once the run has started
    writing, so the worker already holds its end of the pipe (before that, multiprocessing's
    fd-passing thread in the driver still holds it and there is no EOF to see)."""
    import signal
    import threading
    import time

    path = tiny_sweep_file(tmp_path / "s.yaml", grid="seed: [5]")
    spec = apply_overrides(load_sweep_file(path), sets=["total-steps=1000000"])
    (job,) = plan_jobs(spec, tmp_path / "out")
    results = []

    def kill_once_training(job):
        def kill():
            deadline = time.monotonic() + 120
            while not (Path(job.run_dir) / "config.json").exists():
                assert time.monotonic() < deadline, "the run never started"
                time.sleep(0.05)
            (child,) = multiprocessing.active_children()
            os.kill(child.pid, signal.SIGKILL)

        threading.Thread(target=kill, daemon=True).start()

    launch.run_local([job], 1, kill_once_training, lambda job, result: results.append(result))
    (result,) = results
    assert result.status == "failed", result
    assert result.error == f"job process died (exit code {-signal.SIGKILL})"


class _FakeBackend:
    """Jobs that end in start order, ``per_wait`` at a time; records the most ever running."""

    def __init__(self, per_wait: int = 1):
        self.running: dict[int, str] = {}
        self.order: list[tuple[str, str]] = []
        self.most = 0
        self.per_wait = per_wait

    def start(self, job):
        self.running[len(self.order)] = job
        self.order.append(("start", job))
        self.most = max(self.most, len(self.running))

    def wait_any(self, handles):
        assert handles, "waited on no running job"
        return sorted(handles)[: self.per_wait]

    def finish(self, handle):
        self.order.append(("end", self.running.pop(handle)))


@pytest.mark.parametrize("capacity, per_wait", [(1, 1), (2, 1), (3, 2), (9, 1)])
def test_dispatch_runs_every_job_within_capacity_in_queue_order(capacity, per_wait):
    """The scheduling loop run_local and run_ray share, against a brute-force count: every job
    starts once, in queue order, never more than `capacity` at a time, and ends."""
    backend, jobs = _FakeBackend(per_wait), [f"j{i}" for i in range(7)]
    launch.dispatch(
        list(jobs), capacity, launch.Drain(), backend.running, backend.start,
        backend.wait_any, backend.finish,
    )  # fmt: skip
    assert [j for kind, j in backend.order if kind == "start"] == jobs
    assert sorted(j for kind, j in backend.order if kind == "end") == jobs
    running = 0
    for kind, _ in backend.order:
        running += 1 if kind == "start" else -1
        assert 0 <= running <= capacity
    assert backend.most == min(capacity, len(jobs)) and not backend.running


def test_dispatch_starts_nothing_once_drained_and_finishes_what_runs():
    backend = _FakeBackend()
    drain = launch.Drain()
    original = backend.finish

    def finish_then_drain(handle):
        original(handle)
        drain.requested = True  # SIGUSR1 while the first two jobs ran

    backend.finish = finish_then_drain
    queue = ["a", "b", "c", "d"]
    launch.dispatch(
        queue, 2, drain, backend.running, backend.start, backend.wait_any, backend.finish
    )
    assert backend.order == [("start", "a"), ("start", "b"), ("end", "a"), ("end", "b")]
    assert queue == ["c", "d"]  # left for the next sweep


def test_a_drain_between_the_loop_test_and_the_start_ends_the_loop(tmp_path):
    """A drain asked for after run_local's loop test passed and before a job started leaves
    nothing running: the loop must end, not wait on no process at all (that blocks forever)."""
    import threading

    class LateDrain(launch.Drain):
        calls = 0

        def may_start(self, queue):
            self.calls += 1
            return self.calls == 1  # the loop's test passes, then the drain comes

    (job,) = plan_jobs(load_sweep_file(tiny_sweep_file(tmp_path / "s.yaml", "seed: [0]")), tmp_path)
    started = []
    loop = threading.Thread(
        target=launch.run_local, args=([job], 1, started.append, None, LateDrain()), daemon=True
    )
    loop.start()
    loop.join(timeout=30)
    assert not loop.is_alive(), "run_local waited on no running job"
    assert started == [] and not Path(job.run_dir).exists()


@pytest.mark.skipif(not hasattr(__import__("signal"), "SIGUSR1"), reason="POSIX signal")
def test_sigusr1_drains_the_sweep_and_the_next_invocation_starts_the_rest(tmp_path):
    """SIGUSR1 to the driver: the running job completes, no queued one starts, the exit status
    is 128 + SIGUSR1 and sweep.json keeps them pending. The worker, reached by the same signal
    (as a signal to the whole process group would), ignores it."""
    import signal
    import threading
    import time

    path = tiny_sweep_file(tmp_path / "s.yaml", grid="seed: [0, 1, 2]")
    spec_file = write_yaml(tmp_path / "long.yaml", path.read_text().replace("600", "1500"))
    out = tmp_path / "out"
    names = [f"td3_Pendulum-v1_dense_s{seed}" for seed in (0, 1, 2)]
    signalled = []

    def drain_once_training():
        deadline = time.monotonic() + 120
        while not (out / names[0] / "config.json").exists():
            assert time.monotonic() < deadline, "the first run never started"
            time.sleep(0.05)
        (child,) = multiprocessing.active_children()
        signalled.append(child.is_alive())
        os.kill(child.pid, signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGUSR1)

    thread = threading.Thread(target=drain_once_training, daemon=True)
    thread.start()
    code, stdout, _ = run_main({"file": str(spec_file), "out": str(out), "workers": 1})
    thread.join()
    assert signalled == [True]
    assert code == 128 + signal.SIGUSR1, stdout
    assert run_status(out / names[0]) == "completed"
    assert not (out / names[1]).exists() and not (out / names[2]).exists()
    assert "1 completed, 0 failed, 2 not started (drained" in stdout
    assert read_json(out / "sweep.json")["counts"]["pending"] == 2

    code, stdout, progress = run_main({"file": str(spec_file), "out": str(out), "workers": 2})
    assert code == 0, progress
    assert "1 completed before, 0 to resume, 2 new" in progress
    assert "3 completed, 0 failed (" in stdout


@pytest.mark.slow
def test_ray_backend_runs_a_sweep_on_a_local_instance(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_DISABLE_USAGE_STATS", "1")
    path = tiny_sweep_file(tmp_path / "s.yaml")
    code, stdout, progress = run_main(
        {"file": str(path), "out": str(tmp_path / "out"), "backend": "ray", "workers": 2}
    )
    assert code == 0, progress
    for seed in (0, 1):
        assert run_status(tmp_path / "out" / f"td3_Pendulum-v1_dense_s{seed}") == "completed"
        log = tmp_path / "out" / "logs" / f"td3_Pendulum-v1_dense_s{seed}.log"
        assert "step 600/600" in log.read_text()
    assert "(ray)" in progress and "done 2/2 running 0 failed 0" in progress
