"""``musicconnect analytics rebuild [--artist ID] | status``."""
from __future__ import annotations

import uuid

import typer
from sqlalchemy.exc import SQLAlchemyError


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def _database_error(exc: Exception) -> None:
    """A database failure as one line (no traceback): tables missing, locked, unreachable."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    if "no such table" in first or getattr(orig, "sqlstate", None) == "42P01":
        _fail("the analytics tables do not exist yet: run `musicconnect db upgrade` first")
    _fail(f"the database failed: {first}")


def make_app(platform) -> typer.Typer:
    app = typer.Typer(help="Analytics: rebuild the rollups from the events table, show their freshness.",
                      no_args_is_help=True)

    @app.command("rebuild")
    def rebuild(artist: str = typer.Option(None, "--artist", help="only this artist (artist id)")):
        """Recompute the rollups (of one artist, or all) from the domain events; idempotent."""
        from musicconnect.models import Artist

        from . import rollups

        artist_id = None
        if artist:
            try:
                artist_id = uuid.UUID(artist)
            except ValueError:
                _fail(f"{artist!r} is not an artist id")
            try:
                with platform.read() as s:
                    found = s.get(Artist, artist_id) is not None
            except SQLAlchemyError as exc:
                _database_error(exc)
            if not found:
                _fail(f"no artist {artist}")
        try:
            result = rollups.rebuild(platform, artist_id)
        except SQLAlchemyError as exc:
            _database_error(exc)
        typer.echo(f"rebuilt {result.rows} rollup rows from {result.events} events "
                   f"in {result.chunks} day ranges" + (f" for artist {artist_id}" if artist_id else ""))

    @app.command("status")
    def status():
        """When the rollups were last flushed and rebuilt, and the newest event."""
        from . import rollups

        try:
            f = rollups.freshness(platform)
        except SQLAlchemyError as exc:
            _database_error(exc)
        for key in ("last_flush", "last_rebuild", "newest_event"):
            v = f[key]
            typer.echo(f"{key}: {v.isoformat() if v else 'never'}")
        typer.echo(f"rollup_rows: {f['rollup_rows']}")

    return app
