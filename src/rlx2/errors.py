"""Errors that the CLI turns into one line on stderr and exit status 2."""


class ConfigError(ValueError):
    """An invalid setting: the message names the offending option and why it is wrong."""


class RunDirError(ConfigError):
    """A run directory that cannot be used as asked (it already holds a run, it is missing...)."""


class TrainingFailed(RuntimeError):
    """Training stopped on a condition that makes continuing meaningless (e.g. non-finite losses)."""


class LockHeld(ConfigError):
    """A directory another rlx2 process is writing (``owner``: its ``locking.Owner``, if known)."""

    def __init__(self, message: str, owner=None):
        super().__init__(message)
        self.owner = owner


class Interrupted(Exception):
    """A run stopped cleanly on a signal; the CLI exits with 128 + ``signum``."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum


def os_error_text(exc: OSError) -> str:
    """An OSError in one line: the path(s) and the system's message, without the errno noise."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{' -> '.join(paths)}: {reason}" if paths else reason
