"""``musicconnect notify ...``: operators' commands (test email, suppression list, stats)."""
from __future__ import annotations

import uuid

import typer
from sqlalchemy import func, select

from musicconnect import normalise_email

from .channels import CHANNELS, Delivery, PermanentFailure, TemporaryFailure


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def make_app(platform) -> typer.Typer:
    app = typer.Typer(help="Notifications: test the email channel, the suppression list, delivery stats.")

    @app.command("test")
    def test(email: str = typer.Argument(..., help="the address to send a test email to")):
        """Send a test email through the configured email channel, at once."""
        channel = CHANNELS.get("email")
        if channel is None:
            _fail("the email channel is not available (is it configured?)")
        address = normalise_email(email)
        from musicconnect.models import User

        with platform.session() as s:
            uid = s.scalar(select(User.id).where(User.email == address))
        d = Delivery(id=str(uuid.uuid4()), recipient_id=str(uid or ""), kind="notify.test", channel="email",
                     title="MusicConnect test email", body="If you can read this, email notifications work.",
                     data={"to": address})
        try:
            result = channel.deliver(platform, d)
        except (PermanentFailure, TemporaryFailure) as exc:
            _fail(f"not delivered to {address}: {exc}")
        typer.echo(f"sent to {address}" + (f" ({result.detail})" if getattr(result, "detail", "") else ""))

    @app.command("suppress")
    def suppress(email: str = typer.Argument(..., help="the address never to email again"),
                 reason: str = typer.Option("operator", help="why")):
        """Add an address to the suppression list (nothing is emailed to it any more)."""
        from .channel_models import EmailSuppression
        from .pipeline import _insert

        address = normalise_email(email)
        with platform.session() as s:
            new = s.execute(_insert(s)(EmailSuppression.__table__).values(
                email=address, reason=reason, source="operator", created_at=platform.clock.now())
                .on_conflict_do_nothing().returning(EmailSuppression.__table__.c.email)).first()
        typer.echo(f"{address} suppressed" if new else f"{address} was already suppressed")

    @app.command("stats")
    def stats():
        """Deliveries per channel and status."""
        from .models import Delivery as Row

        with platform.session() as s:
            rows = s.execute(select(Row.channel, Row.status, func.count()).group_by(Row.channel, Row.status)
                             .order_by(Row.channel, Row.status)).all()
        for channel, status, n in rows:
            typer.echo(f"{channel}\t{status}\t{n}")
        if not rows:
            typer.echo("no deliveries yet")

    return app
