"""Reading a sweep file (YAML, or TOML by extension) into a checked ``SweepSpec``, and applying
command-line overrides (``--set KEY=VALUE``). Nothing here runs a job."""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlx2.errors import ConfigError
from rlx2.experiments.run_options import check_scalar, normalise_options

SWEEP_KEYS = ("out", "name", "fixed", "grid", "exclude", "include")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed, checked sweep file: what to run, before it is expanded into jobs."""

    source: str = "command line"
    """Where it came from (named in error messages)."""
    out: str | None = None
    name: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    exclude: list[dict[str, Any]] = field(default_factory=list)
    include: list[dict[str, Any]] = field(default_factory=list)


def spec_from_dict(data: Any, source: str = "command line") -> SweepSpec:
    """Check the structure of a sweep file (keys and value shapes; values are checked per job)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{source}: a sweep file must be a mapping with keys {', '.join(SWEEP_KEYS)}"
        )
    for key in data:
        if key not in SWEEP_KEYS:
            close = difflib.get_close_matches(str(key), SWEEP_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{source}: unknown key {key!r} (valid: {', '.join(SWEEP_KEYS)}){hint}"
            )
    for key in ("out", "name"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(f"{source}: {key} must be a string, got {data[key]!r}")
    fixed = normalise_options(data.get("fixed") or {}, f"{source}: fixed")
    for key, value in fixed.items():
        check_scalar(key, value, f"{source}: fixed")
    grid: dict[str, list[Any]] = {}
    for key, values in normalise_options(data.get("grid") or {}, f"{source}: grid").items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: grid: {key} must be a non-empty list, got {values!r}")
        for value in values:
            check_scalar(key, value, f"{source}: grid")
        if key in fixed:
            raise ConfigError(f"{source}: {key!r} is both in fixed and in grid")
        grid[key] = list(values)
    lists: dict[str, list[dict[str, Any]]] = {}
    for section in ("exclude", "include"):
        entries = data.get(section) or []
        if not isinstance(entries, list):
            raise ConfigError(f"{source}: {section} must be a list of option mappings")
        lists[section] = []
        for i, entry in enumerate(entries):
            where = f"{source}: {section}[{i}]"
            options = normalise_options(entry, where)
            if not options:
                raise ConfigError(f"{where} is empty")
            for key, value in options.items():
                check_scalar(key, value, where)
            lists[section].append(options)
    return SweepSpec(source, data.get("out"), data.get("name"), fixed, grid, **lists)


class _YamlLoader(yaml.SafeLoader):
    """YAML with 1.2 booleans (only true/false: ``dynamic-buffer: on`` stays the string "on")
    and duplicate keys rejected (PyYAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_BOOL_TAG = "tag:yaml.org,2002:bool"
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_YamlLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: invalid YAML{at}: {problem}") from None


def read_options_file(path: str | Path, what: str = "sweep file") -> Any:
    """The data of a sweep file or a ``rlx2 train --config`` file: TOML for ``.toml``, YAML
    otherwise. Raises ConfigError (one line) for an unreadable or malformed file."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else None
        raise ConfigError(f"{what} {path}: {reason or exc}") from None
    if path.suffix.lower() == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[import-not-found, no-redef]
            except ImportError:
                raise ConfigError(
                    f"{path}: TOML sweep files need Python >= 3.11 (or tomli)"
                ) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    else:
        data = parse_yaml(text, str(path))
    return data


def load_sweep_file(path: str | Path) -> SweepSpec:
    """Read a sweep file: TOML for ``.toml``, YAML otherwise."""
    return spec_from_dict(read_options_file(path), str(Path(path)))


def _parse_assignment(text: str, flag: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{flag} {text!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


def apply_overrides(
    spec: SweepSpec, sets: Sequence[str] = (), grids: Sequence[str] = ()
) -> SweepSpec:
    """``--set KEY=VALUE`` pins an option for every job (removing its grid axis);
    ``--grid KEY=V1,V2`` adds or replaces a grid axis (removing the fixed value)."""
    fixed, grid = dict(spec.fixed), dict(spec.grid)
    for text in sets:
        key, value = _parse_assignment(text, "--set")
        options = normalise_options({key: parse_yaml(value, "--set")}, "--set")
        for key, value in options.items():
            check_scalar(key, value, "--set")
            grid.pop(key, None)
            fixed[key] = value
    for text in grids:
        key, value = _parse_assignment(text, "--grid")
        values = [parse_yaml(v.strip(), "--grid") for v in value.split(",") if v.strip()]
        (key,) = normalise_options({key: values}, "--grid")
        if not values:
            raise ConfigError(f"--grid {text!r}: give at least one value")
        for v in values:
            check_scalar(key, v, "--grid")
        fixed.pop(key, None)
        grid[key] = values
    return dataclasses.replace(spec, fixed=fixed, grid=grid)
