"""A saved run's TrainConfig, rebuilt from its config.json (``rundir.read_run_record``): the
one way resume, export and ``rlx2.load`` get it. Apart from rundir so that rundir stays free
of the config (and of torch): the NumPy-only deploy path reads run directories too."""

from __future__ import annotations

from pathlib import Path

from rlx2.config import TrainConfig, config_from_dict
from rlx2.errors import ConfigError
from rlx2.train import rundir


def load_train_config(run_dir: Path) -> tuple[rundir.RunRecord, TrainConfig]:
    """(the record, its TrainConfig validated as a new run's would be); RunDirError if not."""
    record = rundir.read_run_record(run_dir)
    try:
        return record, config_from_dict(record.options)
    except (ConfigError, KeyError, TypeError, ValueError) as exc:
        raise rundir.record_error(record, exc) from None
