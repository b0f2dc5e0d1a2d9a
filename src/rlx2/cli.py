"""The ``rlx2`` command: subcommands generated from the config dataclasses by tyro.

Bad input never shows a traceback: parse errors and ``ConfigError``s become one line on
stderr and exit status 2.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence

from rlx2 import __version__
from rlx2.errors import ConfigError
from rlx2.parsing import PROG, fail, parse

CONFIG_HELP = """
 --config FILE: options from a YAML (or .toml) file, a flat mapping with the keys of a sweep
 file's fixed: section (kebab or snake case), e.g. "env: Pendulum-v1" and
 "total-steps: 20000"; flags given on the command line win over the file (docs/api.md).
"""


def _split_equals(args: Sequence[str], *flags: str) -> list[str]:
    """``--flag=VALUE`` -> ``--flag VALUE`` for the flags this module reads itself."""
    return [
        part
        for a in args
        for part in (a.split("=", 1) if a.split("=", 1)[0] in flags and "=" in a else [a])
    ]


def config_file_args(args: Sequence[str]) -> list[str]:
    """``rlx2 train`` arguments with ``--config FILE`` replaced by the file's options, placed
    first so that flags on the command line win (the parser keeps an option's last value).

    The file's keys are those of a sweep file's ``fixed:`` (``rlx2.experiments.sweep``'s
    mapping, the one every source of options goes through); raises ConfigError naming the
    file for an unreadable file, an unknown key or a value that is not a single value.
    """
    args = list(args)
    if "--config" not in args:
        return args
    at = args.index("--config")
    if at + 1 >= len(args) or args[at + 1].startswith("-"):
        raise ConfigError("--config needs a FILE (YAML, or TOML for .toml)")
    path = args[at + 1]
    rest = args[:at] + args[at + 2 :]
    if "--config" in rest:
        raise ConfigError("--config given twice; merge the files into one")
    from rlx2.experiments.run_options import train_args
    from rlx2.experiments.sweep_file import SWEEP_KEYS, read_options_file

    data = read_options_file(path, "--config")
    if isinstance(data, dict):
        sections = [key for key in data if key in SWEEP_KEYS]
        if sections:
            raise ConfigError(
                f"{path}: {sections[0]!r} is a sweep-file section; --config takes the options "
                "themselves, a flat mapping (what a sweep file's fixed: holds)"
            )
    owned = {"resume": "continue a run with rlx2 train --resume RUN_DIR (and no --config)"}
    return [*train_args(data or {}, path, owned=owned, context="a --config file"), *rest]


def _train(args: Sequence[str]) -> None:
    args = _split_equals(args, "--resume", "--config")
    if "--resume" in args:
        if "--config" in args:
            fail("--resume continues a run with its own config.json; it takes no --config")
        summary = _resume(args)
    else:
        from rlx2.config import TrainConfig

        if "-h" in args or "--help" in args:
            try:
                parse(TrainConfig, ["--help"], f"{PROG} train")
            finally:
                print(CONFIG_HELP)
        config = parse(TrainConfig, config_file_args(args), f"{PROG} train")
        from rlx2.train.loop import train

        summary = train(config)
    final = summary.get("final_return")
    print(
        f"completed: final_return={final:.2f} steps/s={summary['steps_per_second']:.1f} "
        f"wall_time_s={summary['wall_time_s']:.1f} run_dir={summary['run_dir']}"
        if final is not None
        else f"completed: no evaluation (total steps < --eval-every); "
        f"steps/s={summary['steps_per_second']:.1f} run_dir={summary['run_dir']}"
    )


def _resume(args: Sequence[str]) -> dict:
    """``rlx2 train --resume RUN_DIR [--quiet]``: the run's own config.json gives every other option."""
    rest = list(args)
    rest.remove("--resume")
    quiet = "--quiet" in rest
    rest = [a for a in rest if a != "--quiet"]
    if len(rest) != 1 or rest[0].startswith("-"):
        fail(
            "--resume takes exactly one RUN_DIR (and optionally --quiet); the run's config.json gives the rest"
        )
    from rlx2.train.loop import resume

    return resume(rest[0], quiet=quiet or None)


def _cost(args: Sequence[str]) -> None:
    import json

    from rlx2.config import CostConfig

    config = parse(CostConfig, args, f"{PROG} cost")
    from rlx2.presets import METHODS, paper_sparsities
    from rlx2.resolve import value_learning_defaults
    from rlx2.sparse.accounting import cost_report

    obs_dim, act_dim = config.obs_dim, config.act_dim
    actor, critic = config.actor_sparsity, config.critic_sparsity
    if config.env is not None:
        from rlx2.train.envs import check_env

        spec = check_env(config.env)
        obs_dim, act_dim = spec.obs_dim, spec.act_dim
        if config.method != "dense" and (actor is None or critic is None):
            paper = paper_sparsities(config.algo, config.env)
            actor = paper[0] if actor is None else actor
            critic = paper[1] if critic is None else critic
    if config.method == "dense":
        actor, critic = actor or 0.0, critic or 0.0
    if actor is None or critic is None:
        fail(f"--method {config.method} needs --actor-sparsity and --critic-sparsity")
    default_n, _ = value_learning_defaults(METHODS[config.method].rlx2_value_learning)
    nstep = config.nstep if config.nstep is not None else default_n
    report = cost_report(
        config.algo,
        obs_dim,
        act_dim,
        config.method,
        actor,
        critic,
        nstep,
        config.hidden,
        config.sparsity_distribution,
        config.policy_delay,
    )
    print(json.dumps(report, indent=2))


def _sweep(args: Sequence[str]) -> None:
    from rlx2.experiments.sweep import cli_main

    cli_main(args)


def _report(args: Sequence[str]) -> None:
    from rlx2.experiments.report import cli_main

    cli_main(args)


def _compress(args: Sequence[str]) -> None:
    from rlx2.experiments.compress import cli_main

    cli_main(args)


def _bench(args: Sequence[str]) -> None:
    from rlx2.bench import cli_main

    cli_main(list(args))


def _export(args: Sequence[str]) -> None:
    from rlx2.deploy.export import cli_main

    cli_main(list(args))


def _evaluate(args: Sequence[str]) -> None:
    from rlx2.deploy.evaluate import cli_main

    cli_main(list(args))


COMMANDS: dict[str, tuple[Callable[[Sequence[str]], None], str]] = {
    "train": (_train, "train one agent (TD3 or SAC) on a Gymnasium task and write a run directory"),
    "sweep": (
        _sweep,
        "run a grid of training runs in parallel (local processes or Ray), resumable",
    ),
    "report": (
        _report,
        "tables, statistics (IQM with bootstrap CIs) and plots from run directories",
    ),
    "compress": (
        _compress,
        "the ultimate compression ratio: dense + a sparsity ladder × seeds (a sweep), then its report",
    ),
    "bench": (
        _bench,
        "time TD3/SAC updates and actor inference: dense vs masked vs sparse execution",
    ),
    "export": (
        _export,
        "write a run's final actor as a compact sparse policy file (safetensors) or C99 source",
    ),
    "evaluate": (_evaluate, "evaluate an exported policy file with NumPy only"),
    "cost": (
        _cost,
        "model size and training/inference FLOPs of a method as fractions of dense (JSON)",
    ),
}


def usage() -> str:
    rows = "\n".join(f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items())
    return (
        f"usage: {PROG} COMMAND [OPTIONS]   ({PROG} COMMAND --help for its options)\n\n"
        f"Sparse deep RL from scratch (RLx2).\n\ncommands:\n{rows}\n"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """``rlx2 ARGS``. Output into a pipe that closed early (``rlx2 cost ... | head``) ends
    quietly with status 141 (128 + SIGPIPE), as a command the pipe's signal stops would."""
    try:
        _main(argv)
        sys.stdout.flush()  # buffered output meets a closed pipe here at the latest
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's last flush at exit fails no more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise SystemExit(128 + signal.SIGPIPE) from None


def _main(argv: Sequence[str] | None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:  # a command is required: usage on stderr, as for any other usage error
        print(usage(), file=sys.stderr)
        raise SystemExit(2)
    if argv[0] in {"-h", "--help"}:
        print(usage())
        return
    if argv[0] == "--version":
        print(f"{PROG} {__version__}")
        return
    command = COMMANDS.get(argv[0])
    if command is None:
        fail(f"unknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)}")
    from rlx2.errors import Interrupted, TrainingFailed, os_error_text

    try:
        command[0](argv[1:])
    except ConfigError as exc:
        fail(str(exc))
    except TrainingFailed as exc:  # the run directory's summary.json records it too
        fail(f"training failed: {exc}", code=1)
    except Interrupted as exc:  # a clean stop on SIGTERM/SIGINT: the shell's 128 + signal
        fail(str(exc), code=128 + exc.signum)
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except BrokenPipeError:
        raise  # our reader is gone: main() ends quietly
    except OSError as exc:  # bad paths are checked up front (exit 2); this is a failure midway
        fail(os_error_text(exc), code=1)


if __name__ == "__main__":
    main()
