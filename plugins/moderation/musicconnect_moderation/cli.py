"""``musicconnect moderation ...``: the review queue and decisions for operators."""
from __future__ import annotations

import json
import uuid

import typer
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def _database_error(exc: SQLAlchemyError) -> None:
    first = str(exc).splitlines()[0]
    if "no such table" in first or "does not exist" in first:
        _fail("the moderation tables do not exist yet: run `musicconnect db upgrade` first")
    _fail(f"the database failed: {first}")


def make_app(platform) -> typer.Typer:
    app = typer.Typer(help="Moderation: the review queue (fingerprint matches, copyright notices, abuse), decisions.",
                      no_args_is_help=True)

    @app.command("queue")
    def queue(kind: str = typer.Option(None, "--kind", help="only this kind (fingerprint-match, dmca-notice, abuse, ...)"),
              limit: int = typer.Option(50, "--limit", min=1, max=1000),
              as_json: bool = typer.Option(False, "--json", help="one JSON object per line")):
        """The open cases, oldest first."""
        from .cases import Case, serialize

        q = select(Case).where(Case.status == "open")
        if kind:
            q = q.where(Case.kind == kind)
        try:
            with platform.read() as s:
                rows = [serialize(c) for c in s.scalars(q.order_by(Case.opened_at).limit(limit))]
        except SQLAlchemyError as exc:
            _database_error(exc)
        if as_json:
            for row in rows:
                typer.echo(json.dumps(row))
            return
        if not rows:
            typer.echo("the queue is empty")
            return
        for row in rows:
            score = f" score {row['score']:.2f}" if row["score"] is not None else ""
            typer.echo(f"{row['id']}  {row['opened_at'][:16]}  {row['kind']:<18} {row['reason']}{score}  "
                       f"{row['subject_type']} {row['subject_id']}  [{'|'.join(row['decisions'])}]")

    @app.command("decide")
    def decide_cmd(case_id: str = typer.Argument(..., help="the case's id (from `moderation queue`)"),
                   decision: str = typer.Argument(..., help="one of the case's decisions"),
                   note: str = typer.Option("", "--note", help="why (kept in the audit log)")):
        """Decide an open case (as the system operator: the audit log names no user)."""
        from musicconnect import Problem

        from .cases import Case, decide

        try:
            cid = uuid.UUID(case_id)
        except ValueError:
            _fail(f"{case_id!r} is not a case id")
        try:
            with platform.session() as s:
                case = s.get(Case, cid, with_for_update=True)  # one decision even if two operators race
                if case is None:
                    _fail(f"no case {case_id}")
                decide(platform, s, case, decision, None, note)
        except Problem as exc:
            _fail(exc.detail or exc.slug)
        except SQLAlchemyError as exc:
            _database_error(exc)
        typer.echo(f"case {case_id}: {decision}")

    @app.command("status")
    def status_cmd():
        """What screens run (fingerprints: on, or off and why)."""
        from .fingerprint import status

        info = status(platform)
        typer.echo(f"fingerprints: {info['fingerprints']}" + (f" ({info['reason']})" if info["reason"] else
                                                              f" ({info['fpcalc']})"))

    return app
