"""``rlx2 sweep``: a grid of ``rlx2 train`` jobs from a small file, run in parallel, resumably.

A sweep file (YAML, or TOML by extension) has six top-level keys::

    out: runs/pendulum           # output directory (or --out)
    name: "{algo}_{seed}"        # optional job-name template (option names in braces)
    fixed: {env: Pendulum-v1}    # options of every job
    grid: {seed: [0, 1, 2]}      # option -> values: the cartesian product
    exclude: [{seed: 2}]         # drop grid jobs matching all options of one entry
    include: [{seed: 7}]         # extra explicit jobs (fixed options + the entry)

Options are ``rlx2 train`` flags, kebab- or snake-case. Every job is validated (unknown
keys, invalid values, unknown tasks) before any job starts, and nothing is written before
that. Each job gets a deterministic name and the run directory OUT/<name>; its output goes
to OUT/logs/<name>.log; OUT/sweep.json records every job's options and status. Re-running
skips completed runs and resumes interrupted or failed ones (``launch.run_job``).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import tyro

from rlx2.config import EXECUTION_FIELDS
from rlx2.errors import ConfigError, os_error_text
from rlx2.experiments.launch import (
    DRAIN_EXIT_STATUS,
    Job,
    JobResult,
    completed_result,
    decide_action,
    drain_on_sigusr1,
    import_ray,
    ray_session,
    run_local,
    run_ray,
)
from rlx2.experiments.run_options import (
    cli_value,
    config_value,
    is_bool_option,
    option_args,
    option_fields,
)
from rlx2.experiments.sweep_file import SweepSpec, apply_overrides, load_sweep_file
from rlx2.locking import DirectoryLock

# An existing run that differs from its job only in how it is executed is still that job's run.
EXECUTION_OPTIONS = EXECUTION_FIELDS
CORE_NAME_KEYS = ("algo", "env", "method", "seed")
RESERVED_NAMES = frozenset({"logs", "report", "sweep.json"})
SWEEP_JSON = "sweep.json"
SWEEP_LOCK = ".sweep.lock"
LOGS = "logs"
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


# ----- expansion and naming (pure) ------------------------------------------------------------
def _matches(options: Mapping[str, Any], pattern: Mapping[str, Any]) -> bool:
    return all(
        key in options and cli_value(options[key]) == cli_value(v) for key, v in pattern.items()
    )


def expand(spec: SweepSpec) -> list[dict[str, Any]]:
    """The jobs' options: fixed + each grid combination (first key outermost), minus excluded
    ones, then the include entries (fixed + entry). Identical jobs are kept once."""
    axes = list(spec.grid.items())
    jobs = []
    for values in itertools.product(*(vals for _, vals in axes)):
        options = {
            **spec.fixed,
            **{key: value for (key, _), value in zip(axes, values, strict=True)},
        }
        if not any(_matches(options, pattern) for pattern in spec.exclude):
            jobs.append(options)
    jobs += [{**spec.fixed, **entry} for entry in spec.include]
    unique: dict[tuple, dict[str, Any]] = {}
    for options in jobs:
        unique.setdefault(tuple(option_args(dict(sorted(options.items())))), options)
    return list(unique.values())


def unmatched_excludes(spec: SweepSpec) -> list[int]:
    """Indices of exclude entries that match no grid job (a likely typo in a value)."""
    axes = list(spec.grid.items())
    combos = [
        {**spec.fixed, **dict(zip((k for k, _ in axes), values, strict=True))}
        for values in itertools.product(*(vals for _, vals in axes))
    ]
    return [i for i, p in enumerate(spec.exclude) if not any(_matches(c, p) for c in combos)]


def varying_keys(spec: SweepSpec) -> list[str]:
    """Options that may differ between jobs: grid axes and keys of include entries."""
    keys = dict.fromkeys(spec.grid)
    for entry in spec.include:
        keys.update(dict.fromkeys(entry))
    return list(keys)


def sanitise(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-")


def _name_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if value == float(f"{value:g}") else repr(value)
    return cli_value(value)


def default_name(config: Any, options: Mapping[str, Any], varying: Sequence[str]) -> str:
    """``<algo>_<env>_<method>[_a<actor>_c<critic>][_<key>-<value>...]_s<seed>``.

    algo, env, method and seed always appear (adding seeds or methods to a sweep keeps the
    names of its existing jobs); sparsities and other options only when they vary (grid
    axes or include keys) and the job sets them, other options sorted by name.
    """
    parts = [config.algo, config.env, config.sparse.method]
    sparsities = config.sparsities()
    if sparsities is not None:
        if "actor-sparsity" in varying:
            parts.append(f"a{_name_value(sparsities[0])}")
        if "critic-sparsity" in varying:
            parts.append(f"c{_name_value(sparsities[1])}")
    for key in sorted(set(varying) - {*CORE_NAME_KEYS, "actor-sparsity", "critic-sparsity"}):
        if key not in options:
            # An include-only key names only the jobs that set it: adding an ablation to a
            # sweep keeps the names (and the completed runs) of its grid jobs.
            continue
        value = options[key]
        if is_bool_option(key):
            parts.append(key if value else f"no-{key}")
        else:
            parts.append(f"{key}-{_name_value(value)}")
    parts.append(f"s{config.run.seed}")
    return "_".join(sanitise(str(part)) for part in parts)


def template_name(template: str, config: Any, options: Mapping[str, Any], source: str) -> str:
    """Fill ``{option}`` placeholders (kebab or snake case) with the job's values."""

    def fill(match: re.Match) -> str:
        key = match.group(1).strip().replace("_", "-")
        if key not in option_fields():
            raise ConfigError(
                f"{source}: name: unknown option {{{match.group(1)}}} in {template!r}"
            )
        value = options[key] if key in options else config_value(config, key)
        return sanitise(_name_value(value))

    return sanitise(_PLACEHOLDER.sub(fill, template))


# ----- planning: every check before anything runs ---------------------------------------------
def _describe(options: Mapping[str, Any], varying: Sequence[str]) -> str:
    shown = [f"{k}={cli_value(options[k])}" for k in varying if k in options]
    return " ".join(shown) or "the only job"


def _flatten(nested: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """config.json's nested "config" -> (field name, value); field names are unique (flat CLI)."""
    for key, value in nested.items():
        if isinstance(value, Mapping):
            yield from _flatten(value)
        else:
            yield key, value


def config_conflict(config: Any, run_dir: Path) -> str | None:
    """Options in which the run stored in ``run_dir`` differs from ``config`` (None if none)."""
    from rlx2.train.rundir import CONFIG, read_json

    try:
        stored = dict(_flatten(read_json(run_dir / CONFIG)["config"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # config.json not written yet or unreadable: resume will tell
    wanted = dict(_flatten(json.loads(json.dumps(dataclasses.asdict(config)))))
    diffs = [
        f"--{key.replace('_', '-')} {stored[key]!r} there, {value!r} here"
        for key, value in wanted.items()
        if key not in EXECUTION_OPTIONS and key in stored and stored[key] != value
    ]
    return "; ".join(diffs[:3]) + ("; ..." if len(diffs) > 3 else "") if diffs else None


def plan_jobs(spec: SweepSpec, out: str | Path) -> list[Job]:
    """Expand, validate and name every job. Raises ConfigError; writes nothing."""
    from rlx2.config import TrainConfig
    from rlx2.parsing import parse_args
    from rlx2.train.envs import check_env
    from rlx2.train.rundir import holds_run

    out = Path(out).expanduser().absolute()
    varying = varying_keys(spec)
    jobs: list[Job] = []
    seen: dict[str, str] = {}  # lower-cased name -> job index (case-insensitive filesystems)
    checked_envs: set[str] = set()
    for i, options in enumerate(expand(spec)):
        where = f"{spec.source}: job {i} ({_describe(options, varying)})"
        args = option_args(options)
        try:
            config = parse_args(TrainConfig, ["--quiet", *args], prog="rlx2 train")
            if config.env not in checked_envs:
                check_env(config.env)
                checked_envs.add(config.env)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if spec.name:
            name = template_name(spec.name, config, options, spec.source)
        else:
            name = default_name(config, options, varying)
        if not name or name.startswith(".") or name.lower() in RESERVED_NAMES:
            raise ConfigError(f"{where}: job name {name!r} is not usable as a directory name")
        if name.lower() in seen:
            raise ConfigError(
                f"{where}: job {seen[name.lower()]} is also named {name!r}; tell them apart in "
                "the name template, or drop one with exclude (e.g. dense ignores sparsities)"
            )
        seen[name.lower()] = f"{i}"
        run_dir = out / name
        if holds_run(run_dir):
            conflict = config_conflict(config, run_dir)
            if conflict:
                raise ConfigError(
                    f"{where}: {run_dir} holds a run with other options ({conflict}); "
                    "use another --out or delete that run"
                )
        jobs.append(
            Job(
                name=name,
                args=("--quiet", *args, "--run-dir", str(run_dir)),
                run_dir=str(run_dir),
                log_path=str(out / LOGS / f"{name}.log"),
                threads=config.run.threads,
                options=dict(options),
            )
        )
    return jobs


# ----- running --------------------------------------------------------------------------------
class SweepProgress:
    """The driver's view of a sweep: statuses, progress lines, and OUT/sweep.json."""

    def __init__(self, spec: SweepSpec, out: Path, jobs: Sequence[Job], backend: str, stream=None):
        self.spec, self.out, self.backend = spec, out, backend
        self.stream = stream if stream is not None else sys.stderr
        self.started_at = datetime.now().isoformat(timespec="seconds")
        self.records: dict[str, dict[str, Any]] = {
            job.name: {
                "name": job.name,
                "status": "pending",
                "action": decide_action(job.run_dir),
                "run_dir": job.run_dir,
                "log": job.log_path,
                "options": job.options,
                "args": list(job.args),
                "error": None,
                "final_return": None,
                "wall_time_s": None,
            }
            for job in jobs
        }

    def count(self, status: str) -> int:
        return sum(record["status"] == status for record in self.records.values())

    def line(self, text: str) -> None:
        total = len(self.records)
        print(
            f"[sweep] done {self.count('completed')}/{total} running {self.count('running')} "
            f"failed {self.count('failed')} — {text}",
            file=self.stream,
            flush=True,
        )

    def started(self, job: Job) -> None:
        record = self.records[job.name]
        record["status"] = "running"
        self.line(
            f"{job.name} started ({'resuming' if record['action'] == 'resume' else 'new run'})"
        )
        self.write()

    def finished(self, job: Job, result: JobResult) -> None:
        record = self.records[job.name]
        action = result.action if result.action != "unknown" else record["action"]
        record.update(
            status=result.status,
            action=action,
            error=result.error,
            final_return=result.final_return,
            wall_time_s=round(result.wall_time_s, 1),
        )
        if result.status == "completed":
            score = (
                "" if result.final_return is None else f"final_return={result.final_return:.2f}, "
            )
            self.line(f"{job.name} completed ({score}{result.wall_time_s / 60:.1f} min)")
        else:
            self.line(f"{job.name} FAILED: {result.error} (log: {job.log_path})")
        self.write()

    def skipped(self, job: Job, result: JobResult) -> None:
        self.records[job.name].update(
            status="completed", action="skip", final_return=result.final_return
        )

    def write(self) -> None:
        from rlx2.train.rundir import atomic_write_json

        counts = {s: self.count(s) for s in ("completed", "running", "failed", "pending")}
        atomic_write_json(
            self.out / SWEEP_JSON,
            {
                "sweep": {
                    "source": self.spec.source,
                    "out": str(self.out),
                    "backend": self.backend,
                    "started": self.started_at,
                    "updated": datetime.now().isoformat(timespec="seconds"),
                    "name": self.spec.name,
                    "fixed": self.spec.fixed,
                    "grid": self.spec.grid,
                    "exclude": self.spec.exclude,
                    "include": self.spec.include,
                },
                "counts": {"total": len(self.records), **counts},
                "jobs": list(self.records.values()),
            },
        )

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r["status"] == "failed"]


@contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """One sweep at a time per OUT: two would resume the same runs concurrently. (Each job
    also holds its run directory's lock while it trains: rlx2.locking, the same lock.)"""
    lock = DirectoryLock(out / SWEEP_LOCK, f"--out {out}", holder="another rlx2 sweep")
    try:
        lock.acquire()
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({os_error_text(exc)})") from None
    try:
        yield
    finally:
        lock.release()


Backend = Callable[[Sequence[Job], Callable[[Job], None], Callable[[Job, JobResult], None]], None]


def run_sweep(
    spec: SweepSpec,
    jobs: Sequence[Job],
    out: str | Path,
    backend: Backend,
    backend_name: str = "local",
    stream=None,
) -> SweepProgress:
    """Run ``jobs`` (from ``plan_jobs``) with ``backend``: completed runs are skipped here,
    without a worker; the others are trained or resumed. Returns the final bookkeeping."""
    from rlx2.train.rundir import make_dir

    out = Path(out).expanduser().absolute()
    make_dir(out / LOGS, f"--out {out}")
    with sweep_lock(out):
        progress = SweepProgress(spec, out, jobs, backend_name, stream)
        todo = []
        for job in jobs:
            if progress.records[job.name]["action"] == "skip":
                progress.skipped(job, completed_result(job))
            else:
                todo.append(job)
        actions = [progress.records[job.name]["action"] for job in jobs]
        print(
            f"[sweep] {len(jobs)} jobs in {out} ({backend_name}): {actions.count('skip')} completed "
            f"before, {actions.count('resume')} to resume, {actions.count('train')} new",
            file=progress.stream,
            flush=True,
        )
        progress.write()
        try:
            backend(todo, progress.started, progress.finished)
        finally:
            for record in progress.records.values():
                if record["status"] == "running":  # interrupted: the next sweep resumes it
                    record.update(status="failed", error="interrupted")
            progress.write()
    return progress


# ----- the command ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LaunchOptions:
    """Where and how the jobs of a sweep run (``rlx2 sweep``, ``rlx2 compress``)."""

    backend: Literal["local", "ray"] = "local"
    """local: a process per job on this machine; ray: Ray tasks (a cluster with --address)."""
    workers: int | None = None
    """Jobs at once (default: CPU cores / threads per job; Ray with --address: the cluster's CPUs)."""
    address: str | None = None
    """Ray cluster address (auto, or HOST:PORT); default: start a local Ray instance."""
    dry_run: bool = False
    """Validate, print the jobs with what would happen to each (new, resume, skip) and exit."""

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"--workers must be positive, got {self.workers}")
        if self.address is not None and self.backend != "ray":
            raise ConfigError("--address needs --backend ray")


@dataclass(frozen=True)
class SweepConfig(LaunchOptions):
    """``rlx2 sweep``: run a grid of ``rlx2 train`` jobs in parallel; re-running skips completed
    runs and resumes interrupted ones (docs/experiments.md)."""

    file: Annotated[str | None, tyro.conf.Positional, tyro.conf.arg(metavar="[FILE]")] = None
    """Sweep file (.yaml/.yml, or .toml): keys out, name, fixed, grid, exclude, include."""
    out: str | None = None
    """Output directory (overrides the file's out): OUT/<job>/ runs, OUT/logs/, OUT/sweep.json."""
    set: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """KEY=VALUE: set an option for every job (replaces the file's fixed value or grid axis); repeatable."""
    grid: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """KEY=V1,V2,...: a grid axis (adds to or replaces the file's); repeatable."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.file is None and not self.grid:
            raise ConfigError("give a sweep FILE or at least one --grid KEY=V1,V2")


def default_workers(jobs: Sequence[Job]) -> int:
    threads = max((job.threads for job in jobs), default=1)
    return max(1, (os.cpu_count() or 1) // threads)


def main(config: SweepConfig, stream=None) -> int:
    """Run ``rlx2 sweep``; returns the exit status (0: all completed, 1: some failed,
    ``launch.DRAIN_EXIT_STATUS``: drained with jobs left, see ``launch.Drain``)."""
    spec = load_sweep_file(config.file) if config.file is not None else SweepSpec("--grid")
    spec = apply_overrides(spec, config.set, config.grid)
    out = config.out or spec.out
    if not out:
        raise ConfigError(f"{spec.source}: no output directory: give --out or out: in the file")
    return execute(spec, out, config, stream)


def execute(spec: SweepSpec, out: str | Path, launch: LaunchOptions, stream=None) -> int:
    """Plan, check and run (or, with ``dry_run``, list) the jobs of ``spec`` in ``out``; returns
    the exit status (0: all completed, 1: some failed, 128 + SIGUSR1: drained with jobs left).
    Raises ConfigError for bad input."""
    stream = stream if stream is not None else sys.stderr
    jobs = plan_jobs(spec, out)
    from rlx2.train.rundir import check_writable_dir

    check_writable_dir(Path(out).expanduser(), f"--out {out}")
    for i in unmatched_excludes(spec):
        print(f"[sweep] warning: {spec.source}: exclude[{i}] matches no job", file=stream)
    if launch.backend == "ray":
        import_ray()  # a missing Ray fails now, before anything is written
    if launch.dry_run:
        for job in jobs:
            action = {"skip": "completed", "resume": "resume", "train": "new"}[
                decide_action(job.run_dir)
            ]
            print(f"{action:<9} {job.name}  {' '.join(option_args(job.options))}")
        print(f"{len(jobs)} jobs -> {Path(out).expanduser().absolute()}")
        return 0
    # SIGUSR1 drains the sweep from before its lock names this process until it exits.
    with drain_on_sigusr1() as drain:
        backend: Backend
        if launch.backend == "ray":
            threads = max((job.threads for job in jobs), default=1)
            workers = launch.workers or (None if launch.address else default_workers(jobs))
            where: AbstractContextManager = ray_session(launch.address, (workers or 1) * threads)

            def backend(todo, started, finished):
                run_ray(todo, workers, started, finished, drain)

        else:
            local_workers = launch.workers or default_workers(jobs)
            where = nullcontext()

            def backend(todo, started, finished):
                run_local(todo, local_workers, started, finished, drain)

        with where:
            progress = run_sweep(spec, jobs, out, backend, launch.backend, stream)
    failures = progress.failures()
    completed = progress.count("completed")
    # Jobs still pending after the backend returned were left by a drain (SIGUSR1).
    pending = progress.count("pending")
    drained = (
        f", {pending} not started (drained: run the sweep again to start them)" if pending else ""
    )
    print(
        f"sweep: {len(jobs)} jobs, {completed} completed, {len(failures)} failed{drained} ({progress.out / SWEEP_JSON})"
    )
    for record in failures:
        print(f"  FAILED {record['name']}: {record['error']} (log: {record['log']})")
    if failures:  # a failure needs attention before anything else
        return 1
    return DRAIN_EXIT_STATUS if pending else 0


def cli_main(args: Sequence[str]) -> None:
    """Entry point of ``rlx2 sweep ARGS``: bad input exits 2 with one line, failures exit 1."""
    from rlx2.parsing import fail, parse

    config = parse(SweepConfig, args, "rlx2 sweep")
    try:
        code = main(config)
    except ConfigError as exc:
        fail(str(exc))
    if code:
        raise SystemExit(code)
