"""One readable line and a non-zero exit for every expected failure."""
from __future__ import annotations

import functools
import sys

import typer

from musicconnect.errors import MusicConnectError


class UsageError(Exception):
    """The operator asked for something that cannot be (exit code 2)."""


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def guarded(fn):
    """Turn the platform's own errors into one line on stderr and an exit code."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UsageError as exc:
            fail(str(exc), 2)
        except MusicConnectError as exc:
            fail(str(exc), 1)
        except Exception as exc:
            from pydantic import ValidationError
            if isinstance(exc, ValidationError):  # name what was invalid: the settings, or a command's input
                what = "settings" if exc.title == "Settings" else exc.title
                fail(f"invalid {what}: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
            if "Problem" in type(exc).__name__:
                fail(str(exc))
            if _missing_table(exc):
                fail("the database has no MusicConnect tables yet (or misses some): run `musicconnect db upgrade` "
                     "first (`serve` does it when it starts)")
            raise
    return wrapper


def _missing_table(exc: Exception) -> bool:
    """A query against a table that does not exist: SQLite's "no such table", PostgreSQL's
    UndefinedTable (42P01)."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    if not isinstance(exc, (OperationalError, ProgrammingError)):
        return False
    orig = getattr(exc, "orig", None)
    return "no such table" in str(orig) or getattr(orig, "sqlstate", None) == "42P01"


def settings_or_exit():
    from pydantic import ValidationError

    from musicconnect.settings import Settings

    try:
        return Settings()
    except (ValidationError, ValueError) as exc:
        msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        typer.echo(f"error: invalid settings: {msg}", err=True)
        sys.exit(1)
