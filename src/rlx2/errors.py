"""Errors that the CLI turns into one line on stderr and exit status 2."""


class ConfigError(ValueError):
    """An invalid setting: the message names the offending option and why it is wrong."""


class RunDirError(ConfigError):
    """A run directory that cannot be used as asked (it already holds a run, it is missing...)."""


class TrainingFailed(RuntimeError):
    """Training stopped on a condition that makes continuing meaningless (e.g. non-finite losses)."""
