"""Options of ``rlx2 report`` and the names it writes (one place for both)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated

import tyro

from rlx2.config import EXECUTION_FIELDS
from rlx2.errors import ConfigError
from rlx2.experiments.compression import CompressionOptions

REPORT_MD, RESULTS_CSV, RUNS_CSV = "report.md", "results.csv", "runs.csv"
COMPRESSION_CSV = "compression.csv"
WALLCLOCK_CSV = "wallclock.csv"
PROGRESS_CSV = "progress.csv"
PLOT_PREFIXES = ("curves_", "sparsity_", "diagnostics_", "profile_")
METHOD_ORDER = ("dense", "tiny", "ss", "set", "rigl", "rlx2")
# Settings that may differ between the seeds of one group without changing the experiment.
IGNORED_SETTINGS = tuple(sorted({"run.seed"} | {f"run.{name}" for name in EXECUTION_FIELDS}))
# Options that dense networks never read (a dense run given them is the same experiment).
SPARSE_ONLY_SETTINGS = (
    "sparse.actor_sparsity",
    "sparse.critic_sparsity",
    "sparse.preset",
    "sparse.sparsity_distribution",
    "sparse.topology",
    "sparse.topology_interval",
    "sparse.drop_fraction",
    "sparse.topology_end_fraction",
    "sparse.reset_moments",
)
# Settings that define "the same protocol" for a sparse group and its dense reference (§8).
PROTOCOL_PREFIXES = ("env", "algo", "run.", "agent.", "td3.", "sac.")
RATIO_FIELDS = (
    "model_size_ratio",
    "compression_ratio",
    "train_flops_ratio",
    "inference_flops_ratio",
)


@dataclass(frozen=True)
class ReportConfig:
    """``rlx2 report``: statistics, tables and plots over finished training runs."""

    runs: Annotated[tuple[str, ...], tyro.conf.Positional, tyro.conf.arg(metavar="RUNS...")]
    """Run directories, or directories searched recursively for run directories (holding config.json)."""
    out: str
    """Directory to write report.md, results.csv, runs.csv and the PNG plots into."""
    overwrite: bool = False
    """Replace the report files of a non-empty --out directory (other files there are left alone)."""
    last: int = 30
    """Evaluations averaged into a run's final score (spec §8: the last 30)."""
    bootstrap_reps: int = 2000
    """Bootstrap replicates per CI and curve band (rliable's default is 50 000; with 2000 a bound's Monte-Carlo error is ~2-3 % of the CI width)."""
    confidence: float = 0.95
    """Coverage of the confidence intervals, in (0, 1)."""
    seed: int = 0
    """Seed of the bootstrap resampling (the same seed gives the same intervals)."""
    strict: bool = False
    """Fail (exit 2) on an unreadable run directory or a seed repeated within a group, instead of listing and excluding it."""
    compression: CompressionOptions = field(default_factory=CompressionOptions)
    """The ultimate compression ratio of every method run at >= 2 sparsity levels (docs/compression.md)."""

    def __post_init__(self) -> None:
        if not self.runs:
            raise ConfigError("give at least one run directory (or a directory holding runs)")
        if not self.out:
            raise ConfigError("--out must name a directory")
        if self.last < 1:
            raise ConfigError(f"--last must be >= 1, got {self.last}")
        if self.bootstrap_reps < 1:
            raise ConfigError(f"--bootstrap-reps must be >= 1, got {self.bootstrap_reps}")
        if not 0.0 < self.confidence < 1.0:
            raise ConfigError(f"--confidence must be in (0, 1), got {self.confidence}")


def safe_name(text: str) -> str:
    """A file-name-safe form of an env id (``ALE/Pong-v5`` -> ``ALE_Pong-v5``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)
