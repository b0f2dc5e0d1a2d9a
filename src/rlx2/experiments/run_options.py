"""The one mapping from option names to ``TrainConfig`` fields: ``rlx2 train`` flags, sweep-file
keys, ``rlx2 train --config`` files and ``rlx2.train(**options)`` keywords all go through it,
kebab- or snake-case, so the four spellings can never drift apart."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from collections.abc import Mapping
from typing import Any

from rlx2.errors import ConfigError

OWNED_OPTIONS = {
    "run-dir": "the sweep names run directories itself (OUT/<job name>)",
    "overwrite": "re-running a sweep skips completed runs and resumes the others, never replaces them",
}


@functools.cache
def option_fields() -> dict[str, tuple[tuple[str, ...], Any]]:
    """Every ``rlx2 train`` option: kebab flag -> (path of attributes in TrainConfig, type)."""
    from rlx2.config import TrainConfig

    fields: dict[str, tuple[tuple[str, ...], Any]] = {}

    def walk(cls: type, path: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            kind = hints[f.name]
            if dataclasses.is_dataclass(kind):
                # tyro flattens sub-configs (OmitArgPrefixes)
                walk(kind, (*path, f.name))  # type: ignore[arg-type]
            else:
                fields[f.name.replace("_", "-")] = ((*path, f.name), kind)

    walk(TrainConfig, ())
    return fields


def config_value(config: Any, key: str) -> Any:
    value = config
    for attr in option_fields()[key][0]:
        value = getattr(value, attr)
    return value


def is_bool_option(key: str) -> bool:
    return option_fields()[key][1] is bool


def normalise_options(
    raw: Any, where: str, owned: Mapping[str, str] = OWNED_OPTIONS, context: str = "a sweep"
) -> dict[str, Any]:
    """Check a mapping of options: kebab-case keys that ``rlx2 train`` knows and the caller
    allows (``owned``: option -> why ``context`` sets it itself)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping of rlx2 train options, got {raw!r}")
    known = option_fields()
    options: dict[str, Any] = {}
    for raw_key, value in raw.items():
        key = str(raw_key).strip().removeprefix("--").replace("_", "-")
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            if close and "_" in str(raw_key):  # answer in the caller's spelling
                close = [close[0].replace("-", "_")]
            hint = f"; did you mean {close[0]!r}?" if close else " (see rlx2 train --help)"
            raise ConfigError(f"{where}: unknown option {raw_key!r}{hint}")
        if key in owned:
            raise ConfigError(f"{where}: {key!r} cannot be set in {context}: {owned[key]}")
        if key in options:
            raise ConfigError(f"{where}: option {key!r} given twice")
        options[key] = value
    return options


def check_scalar(key: str, value: Any, where: str) -> None:
    if is_bool_option(key):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {value!r}")
    elif value is not None and not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: {key} must be a single value, got {value!r}")


def train_args(
    raw: Any, where: str, owned: Mapping[str, str] = OWNED_OPTIONS, context: str = "a sweep"
) -> list[str]:
    """One run's options (a sweep job, a ``rlx2 train --config`` file, ``rlx2.train``'s
    keywords) -> ``rlx2 train`` arguments: the one mapping from option names to a config."""
    options = normalise_options(raw, where, owned, context)
    for key, value in options.items():
        check_scalar(key, value, where)
    return option_args(options)


def cli_value(value: Any) -> str:
    """One option value as ``rlx2 train`` reads it (None -> "None"; 3000000.0 -> "3000000")."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def option_args(options: Mapping[str, Any]) -> list[str]:
    """Options -> ``rlx2 train`` arguments: booleans become --flag / --no-flag."""
    args: list[str] = []
    for key, value in options.items():
        if is_bool_option(key):
            args.append(f"--{key}" if value else f"--no-{key}")
        else:
            args += [f"--{key}", cli_value(value)]
    return args
