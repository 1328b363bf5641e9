"""``musicconnect billing sync | replay | status | events``."""
from __future__ import annotations

import json
import uuid

import typer


class _Ctx:
    """What a job function receives, for running one in the CLI process."""

    def __init__(self, platform):
        self.platform = platform
        self.job_id, self.attempt, self.args = uuid.uuid4(), 1, {}

    def progress(self, *a, **k) -> None:
        pass


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(1)


def make_app(platform) -> typer.Typer:
    app = typer.Typer(help="Billing: Stripe catalogue sync, webhook replay, status.", no_args_is_help=True)

    @app.command("sync")
    def sync(artist: str = typer.Option(None, help="only this artist (account email)")):
        """Re-sync tiers to Stripe Products and Prices (idempotent)."""
        from sqlalchemy import select

        from musicconnect import Problem, normalise_email
        from musicconnect.models import Artist, User

        from .catalog import sync_artist
        from .stripe_gateway import ProviderUnavailable, StripeGateway

        settings = platform.plugin_settings("billing")
        if not settings.stripe_enabled:
            _fail("Stripe is not configured (set MC_BILLING_STRIPE_SECRET_KEY)")
        platform.db.check()
        with platform.session() as s:
            if artist:
                user = s.scalar(select(User).where(User.email == normalise_email(artist)))
                if user is None or user.artist is None:
                    _fail(f"{artist} is not an artist account")
                targets = [(user.artist.id, user.artist.name)]
            else:
                targets = [(a.id, a.name) for a in s.scalars(select(Artist).order_by(Artist.name))]
        try:
            api = StripeGateway(settings)
            for artist_id, name in targets:
                c = sync_artist(platform, api, artist_id)
                typer.echo(f"{name}: {c['tiers']} tiers, {c['created']} prices created, {c['archived']} archived")
        except Problem as exc:
            _fail(exc.detail)
        except ProviderUnavailable as exc:
            _fail(str(exc))

    @app.command("replay")
    def replay(event_id: str = typer.Argument(..., help="a provider event id (evt_...) or a ledger id")):
        """Process a stored webhook event again (safe: processing is idempotent)."""
        from . import ledger, processing

        platform.db.check()
        row = ledger.find(platform, event_id)
        if row is None:
            _fail(f"no stored event {event_id}")
        result = processing.process(_Ctx(platform), str(row.id), force=True)
        typer.echo(f"{row.event_id} ({row.type}): {result['status']}"
                   + (f" — {result.get('note')}" if result.get("note") else "")
                   + (f" — {result.get('error')}" if result.get("error") else ""))
        if result["status"] == "failed":
            raise typer.Exit(1)

    @app.command("events")
    def events(status: str = typer.Option(None, help="received, processed, ignored or failed"),
               limit: int = typer.Option(20, min=1, max=1000), as_json: bool = typer.Option(False, "--json")):
        """The latest stored webhook events."""
        from sqlalchemy import select

        from . import ledger
        from .models import WebhookEvent

        platform.db.check()
        with platform.session() as s:
            q = select(WebhookEvent).order_by(WebhookEvent.received_at.desc()).limit(limit)
            if status:
                q = q.where(WebhookEvent.status == status)
            rows = [ledger.view(r) for r in s.scalars(q)]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        for r in rows:
            typer.echo(f"{r['received_at'][:19]}  {r['status']:<9} {r['event_id']:<32} {r['type']:<36} "
                       f"{r['note'] or r['error'] or ''}")

    @app.command("status")
    def status(as_json: bool = typer.Option(False, "--json")):
        """Stripe reachability, webhook secrets, the ledger, and each artist's payout account."""
        from sqlalchemy import func, select

        from musicconnect import Problem
        from musicconnect.models import Artist, Tier

        from . import providers
        from .connect import percent
        from .models import Account, WebhookEvent
        from .stripe_gateway import ProviderUnavailable, StripeGateway

        settings = platform.plugin_settings("billing")
        platform.db.check()
        out: dict = {"providers": [p.id for p in providers.enabled(platform)],
                     "sandbox": providers.sandbox_on(platform, settings),
                     "stripe": {"configured": settings.stripe_enabled, "reachable": None, "error": None,
                                "webhook_secrets": len(settings.webhook_secrets())},
                     "platform_fee_percent": percent(settings.platform_fee_percent)}
        if settings.stripe_enabled:
            try:
                StripeGateway(settings).ping()
                out["stripe"]["reachable"] = True
            except (Problem, ProviderUnavailable) as exc:
                out["stripe"]["reachable"] = False
                out["stripe"]["error"] = getattr(exc, "detail", None) or str(exc)
        with platform.session() as s:
            out["events"] = dict(s.execute(select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)).all())
            paid = select(Tier.artist_id).where(Tier.rank > 0, Tier.is_active.is_(True))
            artists = s.execute(select(Artist, Account).outerjoin(Account, Account.artist_id == Artist.id)
                                .where(Artist.id.in_(paid)).order_by(Artist.name)).all()
            out["artists"] = [{"artist": a.name, "account": acct.external_id if acct else None,
                               "charges_enabled": bool(acct and acct.charges_enabled),
                               "payouts_enabled": bool(acct and acct.payouts_enabled),
                               "fee_percent": percent(acct.fee_percent) if acct and acct.fee_percent is not None else None}
                              for a, acct in artists]
        st = out["stripe"]
        if as_json:
            typer.echo(json.dumps(out, indent=2))
            if st["configured"] and not st["reachable"]:
                raise typer.Exit(1)
            return
        typer.echo(f"providers: {', '.join(out['providers']) or 'none (checkouts are refused)'}")
        if out["sandbox"]:
            typer.echo("SANDBOX ON: test mode, paid tiers are granted without real money (demos and tests only)")
        typer.echo("stripe: " + ("not configured" if not st["configured"] else
                                 ("reachable" if st["reachable"] else f"UNREACHABLE ({st['error']})")))
        typer.echo(f"webhook secrets: {st['webhook_secrets']}" + ("" if st["webhook_secrets"] or not st["configured"]
                                                                 else "  (webhooks will be refused)"))
        typer.echo(f"platform fee: {out['platform_fee_percent']}%")
        typer.echo("events: " + (", ".join(f"{k} {v}" for k, v in sorted(out["events"].items())) or "none"))
        for a in out["artists"]:
            state = ("ready" if a["charges_enabled"] and a["payouts_enabled"] else
                     "onboarding unfinished" if a["account"] else "not connected")
            fee = f", fee {a['fee_percent']}%" if a["fee_percent"] else ""
            typer.echo(f"  {a['artist']}: {state}{fee}")
        if st["configured"] and not st["reachable"]:
            raise typer.Exit(1)

    return app
