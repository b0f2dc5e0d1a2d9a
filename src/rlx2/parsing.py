"""Command-line parsing shared by every subcommand: tyro with rlx2's rules (integer flags
take 1e6), parse errors condensed to one line, and ``fail`` (one line on stderr, exit 2).

Apart from ``cli.py`` so that subcommand modules (report, sweep, export, bench...) can parse
their options without importing the CLI that dispatches to them (no import cycle).
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from rlx2.errors import ConfigError

PROG = "rlx2"
_RULE = re.compile(r"^[\s│╭╮╰╯─━┃\-]*$")  # box-drawing or dashed rule lines of tyro's error box
_BOX_EDGE = re.compile(r"^[│┃\s]+|[│┃\s]+$")


def fail(message: str, code: int = 2) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def condense_parse_error(text: str) -> str:
    """tyro prints errors in a box (title, rule, details); keep the first detail line.

    "Error parsing run: --x must be ..." (a ConfigError from validation) loses its
    "Error parsing <group>:" prefix, since the message already names the option.
    """
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if _RULE.match(line):
            if blocks[-1]:
                blocks.append([])
        else:
            blocks[-1].append(_BOX_EDGE.sub("", line))
    blocks = [block for block in blocks if block]
    if not blocks:
        return "invalid arguments"
    message = " ".join(blocks[1] if len(blocks) > 1 else blocks[0])
    return re.sub(r"^Error parsing [\w.]+: (?=--)", "", message)


def parse_integer(text: str) -> int:
    """An integer flag's value: ``1000000``, ``1_000_000`` or an integral ``1e6`` (exact, via
    Decimal: float(1e23) is not 10**23); ``1.5``, ``inf`` and words are refused."""
    from decimal import Decimal, InvalidOperation

    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"expected an integer (such as 1000000 or 1e6), got {text!r}")
    if value.adjusted() > 30:  # 1e1000000000 would be a gigabyte-sized int: no flag needs it
        raise ValueError(f"{text!r} is too large")
    return int(value)


def _registry() -> Any:
    """tyro's parsing rules with ``int`` read by ``parse_integer`` (every integer flag of
    every subcommand: --total-steps 1e6)."""
    from tyro.constructors import ConstructorRegistry, PrimitiveConstructorSpec

    registry = ConstructorRegistry()

    @registry.primitive_rule
    def integers(info):
        if info.type is not int:
            return None
        return PrimitiveConstructorSpec(
            nargs=1,
            metavar="INT",
            instance_from_str=lambda args: parse_integer(args[0]),
            is_instance=lambda value: isinstance(value, int) and not isinstance(value, bool),
            str_from_instance=lambda value: [str(value)],
        )

    return registry


def parse_args(config_type: type, args: Sequence[str], prog: str = PROG) -> Any:
    """Parse ``args`` into ``config_type``; every problem raises ConfigError with one line.

    ``--help`` still prints the help text and exits 0. Used by the CLI and by ``rlx2 sweep``
    (which validates every job of a grid before starting any).
    """
    import tyro

    captured_err, captured_out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(captured_err), contextlib.redirect_stdout(captured_out):
            return tyro.cli(
                config_type,
                args=list(args),
                prog=prog,
                config=(tyro.conf.OmitArgPrefixes,),
                registry=_registry(),
            )
    except SystemExit as exc:
        if exc.code in (0, None):  # --help
            sys.stdout.write(captured_out.getvalue() + captured_err.getvalue())
            raise
        raise ConfigError(
            condense_parse_error(captured_err.getvalue() + captured_out.getvalue())
        ) from None


def parse(config_type: type, args: Sequence[str], prog: str) -> Any:
    """parse_args for a subcommand: errors exit 2 with one line."""
    try:
        return parse_args(config_type, args, prog)
    except ConfigError as exc:
        fail(str(exc))
