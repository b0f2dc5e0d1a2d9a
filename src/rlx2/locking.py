"""One writer per directory: an exclusive lock that names its owner and dies with it.

Used for run directories (``rlx2 train``, ``--resume``, sweep jobs) and for a sweep's output
directory. The lock is ``flock`` on a small file that also records the owner (pid, host,
start time, command), so a refused second writer can say who holds it. The kernel releases
an ``flock`` when its process ends, however it ends (SIGKILL, out-of-memory kill), so a lock
file left behind by a dead process never blocks anyone: it is simply taken over.

Where the filesystem cannot ``flock`` (some cluster filesystems), the owner record alone is
the lock, best effort: a record naming a live process on this host, or any process on
another host (whose liveness cannot be checked from here), refuses; a record naming a dead
process on this host is stale and is taken over.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from rlx2.errors import LockHeld

try:
    import fcntl
except ImportError:  # not POSIX: the owner record alone is the lock
    fcntl = None  # type: ignore[assignment]

# flock errors that mean "this filesystem cannot lock", not "someone holds it".
_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}
# A holder records itself just after its flock succeeds; a refused writer waits this long for
# the record so that it can name the holder (two writers started together hit that window).
OWNER_RECORD_WAIT_S = 2.0


@dataclass(frozen=True)
class Owner:
    """Who holds a lock, as recorded in the lock file."""

    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def me(cls) -> Owner:
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=datetime.now().isoformat(timespec="seconds"),
            command=" ".join(sys.argv)[:500],
        )

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}, since {self.started}"

    def is_dead_here(self) -> bool:
        """True when the owner is a process of this host that no longer exists."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except OSError:  # EPERM: it exists, owned by another user
            return False
        return False


def read_owner(path: Path) -> Owner | None:
    """The owner recorded in a lock file; None when the file is missing, empty or garbled."""
    try:
        data = json.loads(Path(path).read_text())
        return Owner(
            int(data["pid"]), str(data["host"]), str(data["started"]), str(data["command"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _flock(fd: int) -> None:
    if fcntl is None:
        raise OSError(errno.ENOSYS, "no flock on this platform")
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class DirectoryLock:
    """An exclusive lock on the file ``path``; ``acquire`` raises ``LockHeld`` naming the owner.

    ``what`` names the locked thing in messages ("--run-dir runs/x"), ``holder`` the kind of
    process that holds such a lock ("rlx2", "another rlx2 sweep").
    """

    def __init__(self, path: str | Path, what: str, holder: str = "rlx2"):
        self.path = Path(path)
        self.what = what
        self.holder = holder
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DirectoryLock:
        """Take the lock or raise ``LockHeld``; other OSErrors (cannot create the file) propagate."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _flock(fd)
            except BlockingIOError:
                os.close(fd)
                self._refuse(self._recorded_owner())
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    os.close(fd)
                    raise
                owner = read_owner(self.path)  # no flock here: the record is the lock
                if owner is not None and not owner.is_dead_here():
                    os.close(fd)
                    self._refuse(owner, unchecked=owner.host != socket.gethostname())
            # The previous owner removes the file when it releases: if it did so between our
            # open and our flock, we hold a lock on a deleted file. Start again on the new one.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        record = (json.dumps(asdict(Owner.me())) + "\n").encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, record, 0)
            os.fsync(fd)
        except OSError:
            self.release()
            raise
        return self

    def _recorded_owner(self) -> Owner | None:
        """The holder's record, waiting up to OWNER_RECORD_WAIT_S for a holder that is writing it."""
        deadline = time.monotonic() + OWNER_RECORD_WAIT_S
        while (owner := read_owner(self.path)) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return owner

    def _refuse(self, owner: Owner | None, unchecked: bool = False) -> None:
        who = (
            f"{self.holder} ({owner.describe()})"
            if owner
            else f"{self.holder} (owner not recorded yet)"
        )
        hint = (
            f"; if that process is gone, delete {self.path}"
            if unchecked
            else "; wait for it to finish or stop it"
        )
        raise LockHeld(f"{self.what} is in use by {who}{hint}", owner)

    def release(self) -> None:
        """Remove the lock file and release the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):  # unlink while locked: no one can take a dead file
            if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                os.unlink(self.path)
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> DirectoryLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
