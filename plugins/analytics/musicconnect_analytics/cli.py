"""``musicconnect analytics rebuild [--artist ID] | status``."""
from __future__ import annotations

import uuid

import typer


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


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
            with platform.session() as s:
                if s.get(Artist, artist_id) is None:
                    _fail(f"no artist {artist}")
        result = rollups.rebuild(platform, artist_id)
        typer.echo(f"rebuilt {result.rows} rollup rows from {result.events} events "
                   f"in {result.chunks} day ranges" + (f" for artist {artist_id}" if artist_id else ""))

    @app.command("status")
    def status():
        """When the rollups were last flushed and rebuilt, and the newest event."""
        from . import rollups

        f = rollups.freshness(platform)
        for key in ("last_flush", "last_rebuild", "newest_event"):
            v = f[key]
            typer.echo(f"{key}: {v.isoformat() if v else 'never'}")
        typer.echo(f"rollup_rows: {f['rollup_rows']}")

    return app
