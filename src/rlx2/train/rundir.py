"""The run directory: config.json, evaluations.csv, summary.json, checkpoints, TensorBoard events.

Every file is written atomically (write a temporary file in the same directory, then rename),
so a run killed at any moment leaves complete files, and a run never silently replaces
another run's results. One process at a time writes a run directory: it holds the
directory's lock (``LOCK``, see ``rlx2.locking``) from before its first write to its last.

This module is the one definition of the format: file names, columns, the format version,
and the typed readers (:func:`read_run_record`, :func:`read_summary`) that every reader uses
(resume, export, report, the Python API), so a change to the layout is made here once.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlx2.errors import ConfigError, RunDirError, os_error_text
from rlx2.locking import DirectoryLock

FORMAT_VERSION = 2
"""Version of the run-directory format, written as ``"format"`` in config.json and
summary.json. Files without the field are format 1 (written before it existed) and are read
the same way; a format newer than this one is refused with a clear message."""

CONFIG = "config.json"
SUMMARY = "summary.json"
EVALUATIONS = "evaluations.csv"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tb"
LOCK = ".lock"
LATEST_CHECKPOINT = "latest.pt"
"""checkpoints/latest.pt: the periodic checkpoint that --resume continues from."""
FINAL_CHECKPOINT = "final.pt"
"""checkpoints/final.pt: the trained agent of a completed run (what export and load read)."""
"""Held by the one process writing the run; removed when it ends (left by a killed one: stale)."""
STATUSES = ("running", "completed", "failed", "interrupted")
"""summary.json's status: interrupted = stopped on a signal (resumable), failed = an error."""
EVALUATION_COLUMNS = [
    "step",
    "return_mean",
    "return_std",
    "return_min",
    "return_max",
    "episodes",
    "wall_time_s",
]
INTEGER_COLUMNS = ("step", "episodes")
"""Columns of evaluations.csv that hold counts; every other column is a float."""
DIAGNOSTIC_COLUMNS = [
    "q_bias",
    "q_bias_relative",
    "dormant_actor",
    "dormant_critic",
    "ever_active_actor",
    "ever_active_critic",
    "churn_actor",
    "churn_critic",
]
"""Optional columns of evaluations.csv, written when diagnostics are on (--diagnostics)."""


def _create_temporary(path: Path) -> tuple[int, str]:
    """Create a new temporary file beside ``path`` (same filesystem, so the rename is atomic)
    with the permissions writing ``path`` in place would give: a new file gets 0666 less the
    umask, as open() does (tempfile.mkstemp would make it 0600 whatever the umask, unreadable
    to colleagues on a shared disk: issue 11 item 9); an existing file keeps its mode."""
    try:
        existing = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        existing = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # the kernel applies the umask, as for open()
        except FileExistsError:  # another writer's temporary file: draw another name
            continue
        if existing is not None:
            os.fchmod(fd, existing)
        return fd, tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all, with the permissions a plain write would give it.
    An OSError names ``path`` (a full disk's ENOSPC comes from write() and would name
    nothing)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(path)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno is not None:
            # Name the file being written, not the temporary one (or nothing, as write() does).
            named = exc.filename is not None and not Path(exc.filename).name.startswith(
                f".{path.name}."
            )
            if not named:
                raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def check_writable_dir(path: Path, what: str) -> None:
    """Raise ConfigError, one line (``what``: "--out runs/x") with the OS error, when no
    directory can be created or written at ``path``; creates nothing (called before any work).

    A check, not a guarantee (some filesystems refuse only when written: callers still turn
    the OSError of their own mkdir into one line, see ``make_dir``).
    """
    path = Path(path)
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent  # exists() is False below a regular file, too
    if not probe.is_dir():
        raise ConfigError(f"{what}: {probe}: {os.strerror(errno.ENOTDIR)}")
    if not os.access(probe, os.W_OK | os.X_OK):
        code = errno.EROFS if os.statvfs(probe).f_flag & os.ST_RDONLY else errno.EACCES
        raise ConfigError(f"{what}: cannot write in {probe} ({os.strerror(code)})")


def make_dir(path: Path, what: str) -> None:
    """mkdir -p ``path``; an OSError becomes a one-line ConfigError (``what``: "--out runs/x")."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot create it ({os_error_text(exc)})") from None


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite_or_none(obj: Any) -> Any:
    """JSON has no NaN/inf: write them as null so every reader can parse the file."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj


def atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(_finite_or_none(obj), indent=2, default=_json_default, sort_keys=False)
    atomic_write_bytes(path, (text + "\n").encode())


def read_json(path: Path) -> Any:
    with open(path) as f:
        return json.load(f)


def _check_format(document: dict[str, Any], run_dir: Path, name: str) -> int:
    version = document.get("format", 1)
    if not isinstance(version, int) or version < 1:
        raise RunDirError(f"{run_dir}: unreadable {name} (format {version!r} is not a version)")
    if version > FORMAT_VERSION:
        raise RunDirError(
            f"{run_dir}: {name} was written by a newer rlx2 (run-directory format {version}; "
            f"this rlx2 reads up to {FORMAT_VERSION}): upgrade rlx2 to read it"
        )
    return version


@dataclass(frozen=True)
class RunRecord:
    """config.json, read and checked: what a run was asked and what that resolved to."""

    run_dir: Path
    format: int
    options: dict[str, Any]
    """``"config"``: every option of the run (``dataclasses.asdict(TrainConfig)``)."""
    effective: dict[str, Any]
    """``"effective"``: the decisions resolved once (``ResolvedRun.record()``); {} if absent."""
    document: dict[str, Any]
    """The whole file: also env_spec, versions, source, machine, command, created."""


def record_error(record: RunRecord, exc: Exception) -> RunDirError:
    """The one message for options in config.json that no longer make a valid config."""
    reason = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
    return RunDirError(f"{record.run_dir}: unreadable {CONFIG} ({reason})")


def read_run_record(run_dir: Path) -> RunRecord:
    """config.json of ``run_dir`` as a RunRecord. RunDirError names the file and the reason
    (missing, unreadable, not JSON, no options, a format newer than this rlx2's)."""
    run_dir = Path(run_dir)
    try:
        document = read_json(run_dir / CONFIG)
    except FileNotFoundError:
        raise RunDirError(f"{run_dir}: unreadable {CONFIG} (missing)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(f"{run_dir}: unreadable {CONFIG} ({type(exc).__name__}: {exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise RunDirError(
            f'{run_dir}: unreadable {CONFIG} (no "config" object: not written by rlx2 train?)'
        )
    version = _check_format(document, run_dir, CONFIG)
    effective = document.get("effective")
    return RunRecord(
        Path(run_dir),
        version,
        document["config"],
        effective if isinstance(effective, dict) else {},
        document,
    )


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json of ``run_dir`` (None when there is none yet), its status checked."""
    run_dir = Path(run_dir)
    try:
        summary = read_json(run_dir / SUMMARY)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunDirError(
            f"{run_dir}: unreadable {SUMMARY} ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(summary, dict):
        raise RunDirError(f"{run_dir}: unreadable {SUMMARY} (not a JSON object)")
    _check_format(summary, run_dir, SUMMARY)
    if summary.get("status", "running") not in STATUSES:
        raise RunDirError(f"{run_dir}: {SUMMARY} has unknown status {summary.get('status')!r}")
    return summary


def holds_run(path: Path) -> bool:
    """Whether ``path`` is (or was started as) a run directory: it has config or summary."""
    return (path / CONFIG).is_file() or (path / SUMMARY).is_file()


def run_status(path: Path) -> str | None:
    """One of ``STATUSES`` ("running": in progress, or killed without a word), or None (no run)."""
    path = Path(path)
    if not holds_run(path):
        return None
    try:
        return str(read_json(path / SUMMARY).get("status", "running"))
    except (OSError, ValueError):
        return "running"  # config.json written, summary not yet: a run that just started


def _is_rlx2_leftover(entry: Path) -> bool:
    """The lock file, or a temporary file of an atomic write cut short: what a run killed
    before its config.json leaves behind."""
    return entry.name == LOCK or (entry.name.startswith(".") and entry.name.endswith(".tmp"))


def _foreign_entries(path: Path) -> list[Path]:
    return [entry for entry in path.iterdir() if not _is_rlx2_leftover(entry)]


def lock_run_dir(path: Path, what: str) -> DirectoryLock:
    """Take ``path``'s writer lock (``what`` names it in messages); raises RunDirError when it
    cannot be written and LockHeld (exit 2, naming the owner) when another process holds it."""
    lock = DirectoryLock(path / LOCK, what)
    try:
        return lock.acquire()
    except OSError as exc:
        raise RunDirError(f"{what}: cannot write there ({os_error_text(exc)})") from None


def claim_new_run_dir(path: Path, overwrite: bool) -> DirectoryLock:
    """Make ``path`` ready for a new run and return its lock, held: the caller releases it.

    Never replaces anything not asked for: a directory that holds a run needs ``overwrite``,
    and a non-empty directory that holds no run is refused before anything is written in it.
    """
    what = f"--run-dir {path}"
    if path.exists() and not path.is_dir():
        raise RunDirError(f"{what} exists and is not a directory")
    if path.is_dir() and not holds_run(path) and _foreign_entries(path):
        raise RunDirError(f"{what} is not empty and holds no rlx2 run; choose another directory")
    try:
        make_dir(path, what)
    except ConfigError as exc:
        raise RunDirError(str(exc)) from None
    lock = lock_run_dir(path, what)
    try:
        # Checked again under the lock: another process may have started a run meanwhile.
        if holds_run(path):
            if not overwrite:
                raise RunDirError(
                    f"{what} already holds a run; pass --overwrite to replace it or choose another directory"
                )
        elif _foreign_entries(path):
            raise RunDirError(
                f"{what} is not empty and holds no rlx2 run; choose another directory"
            )
        for entry in path.iterdir():
            if entry.name == LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    except BaseException:
        lock.release()
        raise
    return lock


def evaluations_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> bytes:
    """The text of evaluations.csv: one row per evaluation step; a missing value is blank.
    ``columns``: the header (default: the standard ones and the diagnostics any row has)."""
    buffer = io.StringIO()
    if columns is None:
        columns = EVALUATION_COLUMNS + [
            c for c in DIAGNOSTIC_COLUMNS if any(c in row for row in rows)
        ]  # a run without diagnostics keeps the plain file
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k, "") for k in columns})
    return buffer.getvalue().encode()


def write_evaluations(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite evaluations.csv whole (small file), atomically."""
    atomic_write_bytes(path / EVALUATIONS, evaluations_csv(rows))


def read_evaluations(path: Path) -> list[dict[str, float]]:
    with open(path / EVALUATIONS, newline="") as f:
        return [
            {k: float(v) if v != "" else math.nan for k, v in row.items()}
            for row in csv.DictReader(f)
        ]


def final_score(returns: list[float], last: int = 30) -> float:
    """Final score of a run: mean of the last 30 evaluations, all if fewer (spec §8)."""
    tail = returns[-last:]
    return float(sum(tail) / len(tail)) if tail else float("nan")
