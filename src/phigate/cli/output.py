"""How every command reports: ``--json`` for scripts, one-line reasons on failure (exit 1)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import orjson
import typer

from phigate.errors import ConfigError, PhigateError


def emit(payload: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        typer.echo(render(payload))


def fail(reason: str, code: int = 1) -> NoReturn:
    typer.echo(f"phigate: {reason}", err=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn our errors into a one-line reason (several for a ConfigError) and exit 1; never a traceback."""
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems or [exc.message]:
            typer.echo(f"phigate: {problem}", err=True)
        raise typer.Exit(1) from None
    except PhigateError as exc:
        fail(exc.message)


def table(columns: tuple[str, ...]) -> Callable[[list[dict[str, Any]]], str]:
    """A renderer of rows as lines of these columns, two spaces apart (``none`` when there is no row)."""

    def render(rows: list[dict[str, Any]]) -> str:
        return "\n".join("  ".join(str(row[c]) for c in columns) for row in rows) or "none"

    return render
