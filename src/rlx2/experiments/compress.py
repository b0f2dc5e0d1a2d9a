"""``rlx2 compress``: the search for the ultimate compression ratio as one command.

It builds an ordinary sweep (docs/experiments.md) in OUT: dense for every seed (the grid), and
every sparsity level of a ladder for every seed (``include`` jobs). ``rlx2 sweep``'s machinery runs it, so
it is resumable, runs locally or on Ray, and names its runs deterministically
(``td3_Pendulum-v1_rlx2_a0.9_c0.9_s0``). The result is then ``rlx2 report OUT --out
OUT/report``: its "Ultimate compression ratio" section and compression.csv, computed from the
run directories alone (``compression.py``), so ``rlx2 report`` regenerates it from committed
runs. ``--write-sweep FILE`` writes the sweep file instead, to run with ``rlx2 sweep``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import tyro
import yaml

from rlx2 import paper
from rlx2.config import Algo
from rlx2.errors import ConfigError
from rlx2.experiments.compression import CompressionOptions
from rlx2.experiments.launch import DRAIN_EXIT_STATUS
from rlx2.experiments.sweep import LaunchOptions, execute, plan_jobs
from rlx2.experiments.sweep_file import SweepSpec, apply_overrides

# Options the ladder itself sets on each job; --set may not touch them.
LADDER_OPTIONS = ("env", "algo", "method", "actor-sparsity", "critic-sparsity", "seed", "preset")
REPORT_DIR = "report"  # OUT/report: the name rlx2 sweep reserves for the sweep's report


@dataclass(frozen=True)
class CompressConfig:
    """``rlx2 compress``: train dense and a ladder of sparsities over several seeds (one
    resumable sweep), then report the most compressed level within --threshold % of dense
    (docs/compression.md)."""

    env: str
    """Gymnasium task (any task rlx2 train accepts)."""
    out: str
    """Sweep directory: OUT/<job>/ runs, OUT/logs/, OUT/sweep.json, and the result in OUT/report/."""
    actor_sparsities: tuple[float, ...]
    """The ladder: the actor sparsity of each level, each in [0, 1)."""
    critic_sparsities: tuple[float, ...] | None = None
    """The critic sparsity of each level, paired with --actor-sparsities (default: the actor's)."""
    critic_density_ratio: float | None = None
    """Instead of --critic-sparsities: critic density = this × actor density at every level (2.5 gives the paper's Hopper 98 % / 95 %)."""
    method: tuple[str, ...] = ("rlx2",)
    """Sparse method(s) to search (each gets its own ladder against the same dense runs)."""
    algo: Algo | None = None
    """Algorithm (default: rlx2 train's)."""
    seeds: tuple[int, ...] = tuple(range(paper.SEEDS))
    """Seeds of every level and of dense (the paper: 8)."""
    set: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """KEY=VALUE: an rlx2 train option for every job, dense included (total-steps=20000); repeatable."""
    write_sweep: str | None = None
    """Write the ladder as a sweep file here and exit (run it with rlx2 sweep FILE, then rlx2 report OUT --out OUT/report)."""
    launch: LaunchOptions = field(default_factory=LaunchOptions)
    compression: CompressionOptions = field(default_factory=CompressionOptions)

    def __post_init__(self) -> None:
        if not self.env:
            raise ConfigError("--env must name a Gymnasium task")
        if not self.out:
            raise ConfigError("--out must name a directory")
        if not self.seeds:
            raise ConfigError("--seeds: give at least one seed")
        if len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ConfigError(f"--seeds must be distinct and >= 0, got {list(self.seeds)}")
        from rlx2.presets import METHODS

        for method in self.method:
            if method not in METHODS or method == "dense":
                valid = ", ".join(m for m in METHODS if m != "dense")
                raise ConfigError(
                    f"--method {method!r}: choose sparse methods among {valid} (dense is always run)"
                )
        if len(set(self.method)) != len(self.method):
            raise ConfigError(f"--method lists a method twice: {list(self.method)}")
        ladder_levels(self.actor_sparsities, self.critic_sparsities, self.critic_density_ratio)


def ladder_levels(
    actor: Sequence[float],
    critic: Sequence[float] | None = None,
    critic_density_ratio: float | None = None,
) -> list[tuple[float, float]]:
    """(actor, critic) sparsity of every level, in increasing actor sparsity. Raises ConfigError.

    Critic sparsities are given (paired), derived as 1 − ratio × (1 − actor), or equal to the
    actor's. Values are rounded to 6 decimals, as ``rlx2 report`` groups them, so a derived
    0.7999999999999998 names and groups as 0.8.
    """
    if not actor:
        raise ConfigError("--actor-sparsities: give at least one sparsity level")
    if critic is not None and critic_density_ratio is not None:
        raise ConfigError("give --critic-sparsities or --critic-density-ratio, not both")
    if critic is not None and len(critic) != len(actor):
        raise ConfigError(
            f"--critic-sparsities has {len(critic)} values for {len(actor)} actor sparsities"
        )
    if critic_density_ratio is not None and not (
        math.isfinite(critic_density_ratio) and critic_density_ratio > 0
    ):
        raise ConfigError(f"--critic-density-ratio must be > 0, got {critic_density_ratio!r}")
    levels = []
    for i, a in enumerate(actor):
        if critic is not None:
            c = critic[i]
        elif critic_density_ratio is not None:
            c = 1.0 - critic_density_ratio * (1.0 - a)
        else:
            c = a
        for name, value in (("actor", a), ("critic", c)):
            if not (0.0 <= value < 1.0):
                derived = critic_density_ratio is not None and name == "critic"
                raise ConfigError(
                    f"level {i}: {name} sparsity must be in [0, 1), got {value:.6g}"
                    + (" (from --critic-density-ratio)" if derived else "")
                )
        if a == 0.0 and c == 0.0:
            raise ConfigError(f"level {i}: sparsity 0 / 0 is dense, which the ladder always runs")
        levels.append((round(float(a), 6), round(float(c), 6)))
    if len(set(levels)) != len(levels):
        raise ConfigError(f"the ladder repeats a level: {levels}")
    return sorted(levels)


def ladder_spec(config: CompressConfig) -> SweepSpec:
    """The sweep: fixed = task, algorithm, dense and the --set options; grid = the seeds (the
    dense jobs); one include job per (seed, method, level), seed outermost so every level
    gets its first seed first."""
    sets = apply_overrides(SweepSpec("rlx2 compress"), config.set).fixed
    owned = [key for key in sets if key in LADDER_OPTIONS]
    if owned:
        raise ConfigError(
            f"--set {owned[0]}: the ladder sets it (use --env, --algo, --method, "
            "--actor-sparsities, --critic-sparsities or --seeds)"
        )
    fixed: dict[str, Any] = {"env": config.env}
    if config.algo is not None:
        fixed["algo"] = config.algo
    fixed["method"] = "dense"
    fixed.update(sets)
    levels = ladder_levels(
        config.actor_sparsities, config.critic_sparsities, config.critic_density_ratio
    )
    include = [
        {"method": method, "actor-sparsity": actor, "critic-sparsity": critic, "seed": seed}
        for seed in config.seeds
        for method in config.method
        for actor, critic in levels
    ]
    return SweepSpec(
        source="rlx2 compress",
        out=config.out,
        fixed=fixed,
        grid={"seed": list(config.seeds)},
        include=include,
    )


def run_hint(path: str | Path, out: str) -> str:
    return f"rlx2 sweep {path} && rlx2 report {out} --out {Path(out) / REPORT_DIR}"


def sweep_file_text(spec: SweepSpec, command: str, path: str | Path) -> str:
    """The sweep as a YAML file that ``rlx2 sweep`` reads back to the same jobs."""
    assert spec.out is not None
    header = (
        f"# Ultimate-compression ladder, written by: {command}\n# Run: {run_hint(path, spec.out)}\n"
    )
    body = {"out": spec.out, "fixed": spec.fixed, "grid": spec.grid, "include": spec.include}
    return header + yaml.safe_dump(body, sort_keys=False, default_flow_style=None)


def main(config: CompressConfig, argv: Sequence[str] = (), stream=None) -> int:
    """Run ``rlx2 compress``; returns the exit status (0: every job completed, 1: some failed,
    ``launch.DRAIN_EXIT_STATUS``: drained with jobs left)."""
    from rlx2.experiments.report import REPORT_MD, ReportConfig, build_report, write_report
    from rlx2.train.rundir import atomic_write_bytes

    spec = ladder_spec(config)
    if config.write_sweep is not None:
        path = Path(config.write_sweep)
        if path.exists():
            raise ConfigError(f"--write-sweep {path} exists; choose another file or remove it")
        jobs = plan_jobs(spec, config.out)  # every job valid before the file exists
        command = "rlx2 compress " + " ".join(argv)
        atomic_write_bytes(path, sweep_file_text(spec, command, path).encode())
        print(f"wrote {path} ({len(jobs)} jobs); run it with: {run_hint(path, config.out)}")
        return 0
    report_out = Path(config.out) / REPORT_DIR
    report_config = ReportConfig(
        runs=(config.out,), out=str(report_out), overwrite=True, compression=config.compression
    )
    code = execute(spec, config.out, config.launch, stream)
    if config.launch.dry_run:
        return code
    report = build_report(report_config)
    write_report(report, report_out, overwrite=True)  # derived from the runs: regenerated
    print(f"report -> {report_out / REPORT_MD}")
    if code == DRAIN_EXIT_STATUS:
        print("drained: the ladder below covers only the runs completed so far")
    for ladder in report.ladders:
        print(ladder.statement())
    return code


def cli_main(args: Sequence[str]) -> None:
    """Entry point of ``rlx2 compress ARGS``: bad input exits 2 with one line, failures exit 1."""
    from rlx2.parsing import fail, parse

    config = parse(CompressConfig, args, "rlx2 compress")
    try:
        code = main(config, args, sys.stderr)
    except ConfigError as exc:
        fail(str(exc))
    if code:
        raise SystemExit(code)
