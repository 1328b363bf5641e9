"""``musicconnect gdpr ...``: a person's data export and erasure for operators."""
from __future__ import annotations

import uuid
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from musicconnect.errors import Problem


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def _user_id(platform, email: str) -> uuid.UUID:
    from musicconnect import normalise_email
    from musicconnect.models import User

    try:
        with platform.read() as s:
            uid = s.scalar(select(User.id).where(User.email == normalise_email(email)))
    except SQLAlchemyError as exc:
        _fail(f"the database failed: {str(exc).splitlines()[0]}")
    if uid is None:
        _fail(f"no account with the email {email}")
    return uid


def make_app(platform) -> typer.Typer:
    app = typer.Typer(name="gdpr", help="A person's data: export it (Art. 15/20), erase it (Art. 17).",
                      no_args_is_help=True)

    @app.command("export")
    def export_cmd(email: str = typer.Argument(..., help="the account's email"),
                   out: Path = typer.Option(None, "--out", help="the ZIP to write (default: export-<id>.zip here)")):
        """Write the person's data export as a ZIP (made here, not by the worker)."""
        from .exports import write_archive

        uid = _user_id(platform, email)
        out = out or Path(f"export-{uid}.zip")
        try:
            with open(out, "wb") as fh:
                manifest = write_archive(platform, uid, fh)
        except OSError as exc:
            _fail(f"cannot write {out}: {exc.strerror}")
        except Problem as exc:
            out.unlink(missing_ok=True)
            _fail(exc.detail or exc.title)
        typer.echo(f"wrote {out} ({len(manifest['plugins'])} parts)")

    @app.command("erase")
    def erase_cmd(email: str = typer.Argument(..., help="the account's email"),
                  yes: bool = typer.Option(False, "--yes", help="confirm: this cannot be undone")):
        """Erase the account and everything the plugins hold about it, now."""
        from .erasure import erase

        uid = _user_id(platform, email)
        if not yes:
            _fail(f"erasing {email} cannot be undone: add --yes to confirm")
        try:
            result = erase(platform, uid, by_admin=True)
        except Problem as exc:
            _fail(exc.detail or exc.title)
        typer.echo(f"erased; receipt {result['receipt']}")
        for r in result["retained"]:
            typer.echo(f"  kept {r['what']} ({r['count']}): {r['why']}")

    return app
