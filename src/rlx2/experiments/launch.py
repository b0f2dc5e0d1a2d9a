"""Where the jobs of a sweep run: one job = one ``rlx2 train`` run (new, resumed or skipped).

``run_job`` is what a worker executes; the backends only decide where and how many at once:

- ``run_local``: one fresh process per job (``spawn``), at most ``workers`` at a time. A
  process per job rather than a ``ProcessPoolExecutor``: a job that dies hard (segfault,
  out-of-memory kill) is reported as that job's failure, whereas it would break a pool and
  fail every job still queued in it.
- ``run_ray``: one Ray task per job, inside ``ray_session``: an existing cluster
  (``address``) or a local Ray instance started here and shut down at the end.
- ``run_serial``: one job after another in this process (tests and debugging).

Every backend reports through two callbacks, ``started(job)`` and ``finished(job, result)``,
called in the driver process, so the sweep keeps a single writer of its bookkeeping.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rlx2.errors import ConfigError

DRAIN_SIGNAL: int | None = getattr(signal, "SIGUSR1", None)
"""Asks a sweep's driver to drain (``Drain``); POSIX only."""
DRAIN_EXIT_STATUS = 128 + DRAIN_SIGNAL if DRAIN_SIGNAL is not None else 1
"""A sweep's exit status when a drain left jobs unstarted (a shell's 128 + signal; 138 on Linux)."""
_DRIVER_SIGNALS = {signal.SIGINT} | ({DRAIN_SIGNAL} if DRAIN_SIGNAL is not None else set())
"""Signals meant for a sweep's driver only: its workers block them at start and ignore them."""

Started = Callable[["Job"], None]
Finished = Callable[["Job", "JobResult"], None]

RAY_LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024
"""Object store of a local Ray instance: jobs return a few numbers, so the default (30 % of RAM) is waste."""

_BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Job:
    """One run of a sweep, as a worker needs it (plain data: it crosses process boundaries)."""

    name: str
    """Deterministic job name, also the run directory's name."""
    args: tuple[str, ...]
    """``rlx2 train`` arguments of a new run (``--run-dir`` included)."""
    run_dir: str
    """Absolute run directory (a shared filesystem on a cluster)."""
    log_path: str
    """Absolute log file; each attempt appends to it."""
    threads: int = 1
    """CPU threads of the run (torch intra-op): the job's share of a machine."""
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    """The sweep-file options that define the job (kebab-case keys), for bookkeeping."""


@dataclass(frozen=True)
class JobResult:
    name: str
    status: str
    """"completed" or "failed"."""
    action: str
    """"train" (new run), "resume" (continued an interrupted run), "skip" (completed before),
    or "unknown" (the worker died before it could say)."""
    error: str | None = None
    """One line: why the job failed."""
    final_return: float | None = None
    wall_time_s: float = 0.0
    """Seconds this attempt took (0 for a skip)."""


def decide_action(run_dir: str | Path) -> str:
    """skip a completed run, resume one that holds a run (running/failed), train otherwise."""
    from rlx2.train.rundir import run_status

    status = run_status(Path(run_dir))
    return {"completed": "skip", None: "train"}.get(status, "resume")


def _final_return(summary: dict[str, Any]) -> float | None:
    value = summary.get("final_return")
    return float(value) if isinstance(value, int | float) else None


@contextlib.contextmanager
def redirect_output(log_path: str | Path) -> Iterator[None]:
    """Send this process's output to ``log_path`` (appended) and restore it afterwards (Ray
    reuses worker processes): file descriptors 1 and 2, so C libraries' messages too, and
    ``sys.stdout``/``sys.stderr``, which need not write to those descriptors (pytest's capture)."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved_fds = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    with open(log_path, "ab", buffering=0) as raw, open(log_path, "a", buffering=1) as text:
        os.dup2(raw.fileno(), 1)
        os.dup2(raw.fileno(), 2)
        sys.stdout = sys.stderr = text
        try:
            yield
        finally:
            text.flush()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            os.close(saved_fds[0])
            os.close(saved_fds[1])


def completed_result(job: Job) -> JobResult:
    """The result of a job whose run completed before: nothing to do."""
    from rlx2.train.rundir import SUMMARY, read_json

    summary = read_json(Path(job.run_dir) / SUMMARY)
    return JobResult(job.name, "completed", "skip", final_return=_final_return(summary))


def run_job(job: Job) -> JobResult:
    """Run one job where this function is called: skip, resume or train; never raises on failure.

    The run's output (and a traceback on failure) goes to ``job.log_path``.
    """
    action = decide_action(job.run_dir)
    if action == "skip":
        return completed_result(job)
    for name in _BLAS_THREAD_VARS:  # only takes effect before numpy/torch are first imported
        os.environ.setdefault(name, str(job.threads))
    started = time.perf_counter()
    Path(job.log_path).parent.mkdir(parents=True, exist_ok=True)
    with redirect_output(job.log_path):
        stamp = datetime.now().isoformat(timespec="seconds")
        what = f"resume {job.run_dir}" if action == "resume" else "rlx2 train " + " ".join(job.args)
        print(f"=== {stamp} {job.name}: {what}", flush=True)
        try:
            from rlx2.train import loop

            if action == "resume":
                summary = loop.resume(job.run_dir, quiet=True)
            else:
                from rlx2.config import TrainConfig
                from rlx2.parsing import parse_args

                summary = loop.train(parse_args(TrainConfig, job.args))
        except Exception as exc:
            from rlx2.errors import Interrupted

            if isinstance(exc, Interrupted):  # a clean stop asked for: its message says it all
                print(f"rlx2: {exc}", flush=True)
            else:
                traceback.print_exc()
            print(f"=== {job.name}: failed", flush=True)
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return JobResult(
                job.name, "failed", action, error, wall_time_s=time.perf_counter() - started
            )
        print(f"=== {job.name}: completed", flush=True)
    return JobResult(
        job.name,
        "completed",
        action,
        final_return=_final_return(summary),
        wall_time_s=time.perf_counter() - started,
    )


def _failed(job: Job, error: str) -> JobResult:
    """A job that could not report for itself (its process or Ray task died)."""
    return JobResult(job.name, "failed", "unknown", error)


# ----- serial -------------------------------------------------------------------------------
def run_serial(jobs: Sequence[Job], started: Started, finished: Finished) -> None:
    """One job after another in this process."""
    for job in jobs:
        started(job)
        finished(job, run_job(job))


# ----- local processes ----------------------------------------------------------------------
def _child(job: Job, conn) -> None:
    """Entry point of a job's process: run it and send the result back.

    Only the driver stops a job (SIGTERM, see ``run_local``): Ctrl-C reaches every process of
    the terminal's group, and a worker hit by it while still importing would print a
    KeyboardInterrupt traceback, or stop at once on the driver's second signal. SIGINT (and
    SIGUSR1, the driver's drain request, which would end a worker reached by a signal to the
    whole process group) were blocked when this process was started (``_driver_signals_blocked``);
    they are ignored from here on, then unblocked (one pending meanwhile is discarded).
    """
    for signum in _DRIVER_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _DRIVER_SIGNALS)
    try:
        result = run_job(job)
    except BaseException as exc:  # a bug outside the run itself
        result = _failed(job, f"{type(exc).__name__}: {exc}".splitlines()[0])
    # The driver is gone if it was stopped at once (a second Ctrl-C): the run's own files
    # record how it ended, so there is nobody to tell and nothing to print.
    with contextlib.suppress(OSError):
        conn.send(result)
        conn.close()


@contextlib.contextmanager
def _driver_signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGUSR1 in this thread while a worker is started: the worker inherits
    the blocked mask from its first instruction on (no window where Ctrl-C could reach its
    start-up), and a signal meant for the driver stays pending and is delivered when the
    block ends."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DRIVER_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start_blocked(process: Any) -> None:
    """Start a worker process with SIGINT blocked from its first instruction (see _child).

    A spawn context starts multiprocessing's resource tracker on its first process, and
    starting it ends with SIG_UNBLOCK of SIGINT in this thread (CPython's bpo-33613 guard),
    which would start the first worker with SIGINT deliverable: a Ctrl-C during its start-up
    then printed a KeyboardInterrupt traceback. So the tracker is started before the block.
    """
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    with _driver_signals_blocked():
        process.start()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM (kill, a batch scheduler) like Ctrl-C while jobs run, so the driver
    stops its workers before it exits: an orphaned job would race a later sweep's resume."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Drain:
    """A request to drain a sweep: the running jobs finish, no queued job starts.

    SIGUSR1 asks for it while :func:`drain_on_sigusr1` is active (POSIX; elsewhere nothing
    asks): ``sweep.execute`` holds one for as long as the sweep's lock names the driver, and
    hands it to the backend. Every backend obeys one rule, :meth:`may_start`; the jobs it
    leaves stay ``pending`` and the next invocation of the sweep starts them.
    """

    def __init__(self) -> None:
        self.requested = False

    def may_start(self, queue: Sequence[Job]) -> bool:
        return bool(queue) and not self.requested


@contextlib.contextmanager
def drain_on_sigusr1() -> Iterator[Drain]:
    """A :class:`Drain` that SIGUSR1 sets while the block runs (main thread, POSIX only)."""
    import threading

    drain = Drain()
    if DRAIN_SIGNAL is None or threading.current_thread() is not threading.main_thread():
        yield drain
        return

    def ask(signum, frame):
        drain.requested = True

    previous = signal.signal(DRAIN_SIGNAL, ask)
    try:
        yield drain
    finally:
        signal.signal(DRAIN_SIGNAL, previous)


def _answer(receiver) -> JobResult | None:
    """The worker's result, or None if it died without one: poll() is also true at EOF (the
    worker's end closed by its death), where recv() raises EOFError."""
    try:
        return receiver.recv() if receiver.poll() else None
    except (EOFError, OSError):
        return None


def dispatch(
    queue: list[Job],
    capacity: int,
    drain: Drain,
    running: dict[Any, Any],
    start: Callable[[Job], None],
    wait_any: Callable[[list[Any]], Iterable[Any]],
    finish: Callable[[Any], None],
) -> None:
    """The scheduling every backend shares: start queued jobs while ``drain`` allows it and fewer
    than ``capacity`` run, then wait for some to end, until none is queued or running.
    ``start(job)`` adds the job to ``running`` under a handle, ``wait_any(handles)`` returns the
    handles that ended, ``finish(handle)`` removes one from ``running`` and reports it."""
    while drain.may_start(queue) or running:
        while drain.may_start(queue) and len(running) < capacity:
            start(queue.pop(0))
        if not running:  # a drain asked for after the loop's test: nothing to wait for
            break
        for handle in wait_any(list(running)):
            finish(handle)


def run_local(
    jobs: Sequence[Job],
    workers: int,
    started: Started,
    finished: Finished,
    drain: Drain | None = None,
) -> None:
    """Each job in its own spawned process, at most ``workers`` at a time; none starts once
    ``drain`` is requested."""
    import multiprocessing as mp
    from multiprocessing.connection import wait

    context = mp.get_context("spawn")  # fork after torch/threads is unsafe; spawn is portable
    running: dict[Any, tuple[Job, Any, Any]] = {}  # sentinel -> (job, process, receiving end)

    def start(job: Job) -> None:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(job, sender), name=f"rlx2-{job.name}")
        start_blocked(process)
        sender.close()  # the child holds the only sending end: EOF if it dies
        running[process.sentinel] = (job, process, receiver)
        started(job)

    def finish(sentinel: Any) -> None:
        job, process, receiver = running.pop(sentinel)
        result = _answer(receiver)
        receiver.close()
        process.join()
        if result is None:  # killed (out of memory, signal) before it could answer
            result = _failed(job, f"job process died (exit code {process.exitcode})")
        finished(job, result)

    with sigterm_as_interrupt():
        try:
            dispatch(list(jobs), workers, drain or Drain(), running, start, wait, finish)
        finally:
            # Interrupted (Ctrl-C or SIGTERM; the workers ignore SIGINT): ask each to stop
            # cleanly (it checkpoints and records "interrupted"), then wait; a run that does not
            # stop in time is killed and stays "running" on disk. Either way the next sweep
            # resumes it.
            for _, process, _ in running.values():
                if process.is_alive():
                    with contextlib.suppress(OSError):
                        os.kill(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10.0
            for _, process, receiver in running.values():
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    process.kill()
                    process.join()
                receiver.close()


# ----- Ray ----------------------------------------------------------------------------------
def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--backend ray needs Ray: pip install 'rlx2[ray]' (or pip install ray)"
        ) from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int) -> Iterator[Any]:
    """Connect to the Ray cluster at ``address``, or start a local instance with ``num_cpus``
    CPUs (shut down on exit). Yields the ``ray`` module. An unreachable cluster is a
    ConfigError, raised before a sweep writes anything."""
    ray = import_ray()
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address:
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                ray.init(
                    num_cpus=num_cpus,
                    include_dashboard=False,
                    object_store_memory=RAY_LOCAL_OBJECT_STORE_BYTES,
                    logging_level=logging.WARNING,
                )
        except Exception as exc:  # ConnectionError, timeouts, bad addresses
            where = (
                f"--address {address}: cannot reach a Ray cluster"
                if address
                else "cannot start Ray"
            )
            raise ConfigError(f"{where} ({str(exc).splitlines()[0]})") from None
    try:
        yield ray
    finally:
        if started_here:
            ray.shutdown()


def run_ray(
    jobs: Sequence[Job],
    workers: int | None,
    started: Started,
    finished: Finished,
    drain: Drain | None = None,
) -> None:
    """One Ray task per job (``num_cpus`` = the job's threads) on the connected cluster (see
    ``ray_session``), at most ``workers`` in flight (default: the cluster's CPUs); none is
    submitted once ``drain`` is requested (tasks already submitted still run)."""
    import ray

    threads = max((job.threads for job in jobs), default=1)
    # max_retries=0: a crashed job is reported; re-running the sweep resumes it.
    remote_job = ray.remote(max_retries=0)(run_job)
    capacity = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // threads)
    in_flight: dict[Any, Job] = {}  # object ref -> job

    def start(job: Job) -> None:
        in_flight[remote_job.options(num_cpus=job.threads).remote(job)] = job
        started(job)

    def finish(ref: Any) -> None:
        job = in_flight.pop(ref)
        try:
            result = ray.get(ref)
        except Exception as exc:  # the task's worker died, or Ray itself failed
            result = _failed(job, f"ray: {type(exc).__name__}: {exc}".splitlines()[0])
        finished(job, result)

    def wait_any(refs: list[Any]) -> list[Any]:
        return ray.wait(refs, num_returns=1)[0]

    dispatch(list(jobs), capacity, drain or Drain(), in_flight, start, wait_any, finish)
