"""Plugins used by the tests, passed to platforms as ``extra_plugins``."""
from __future__ import annotations

import types
from collections import defaultdict

from musicconnect import (ContentKind, ErasureReport, ExportPart, Metric, NotificationKind, RevenueShare, Screening, Vote,
                          hookimpl)


class membership:
    """Tier rule: members of the required tier's rank or above may view (like the fan club will)."""

    @staticmethod
    @hookimpl
    def check_access(actor, action, resource, context):
        if resource.visibility != "tier" or resource.status != "ready" or actor is None:
            return None
        required = context.tier(resource.required_tier_id)
        best = context.best_rank()
        if required is not None and best is not None and best >= required.rank and (
                resource.publish_at is None or resource.publish_at <= context.now):
            return Vote.ALLOW
        return None

    @staticmethod
    @hookimpl
    def register_content_kinds(platform):
        from pydantic import BaseModel, ConfigDict

        class PostData(BaseModel):
            model_config = ConfigDict(extra="forbid")
            body: str = ""
            secret: int | None = None

        return [ContentKind("post", "Post", "A text post.", data_model=PostData)]


class exploding:
    """Raises from every notification and from the access hook."""

    @staticmethod
    @hookimpl
    def on_event(platform, event):
        raise RuntimeError("boom in on_event")

    @staticmethod
    @hookimpl
    def on_content_created(platform, item):
        raise RuntimeError("boom in on_content_created")

    @staticmethod
    @hookimpl
    def check_access(actor, action, resource, context):
        raise RuntimeError("boom in check_access")


class denier:
    @staticmethod
    @hookimpl
    def check_access(actor, action, resource, context):
        return Vote.DENY if resource.data.get("embargo") else None


class weird_voter:
    @staticmethod
    @hookimpl
    def check_access(actor, action, resource, context):
        return "yes please"


class async_voter:
    """Async hook implementations are awaited by the core."""

    @staticmethod
    @hookimpl
    async def check_access(actor, action, resource, context):
        return Vote.ALLOW if resource.data.get("async_open") else None


class legacy_fee:
    """A ``revenue_shares`` written before the spec gained ``payment``: still called (pluggy passes
    by name only the arguments an implementation declares)."""

    @staticmethod
    @hookimpl
    def revenue_shares(platform, artist_id, amount, currency):
        return [RevenueShare("platform", amount // 20, "legacy 5%")]


def make_recorder():
    """A plugin implementing every hook and recording each call (the hook-coverage test uses it)."""
    calls: dict[str, list] = defaultdict(list)
    mod = types.SimpleNamespace(calls=calls)

    def rec(name, result=None):
        def impl(**kw):
            calls[name].append(kw)
            return result(**kw) if callable(result) else result
        return impl


    import typer
    from fastapi import APIRouter, Depends

    from musicconnect.web import public

    from musicconnect import JobSpec, PluginSettings

    router = APIRouter()

    @router.get("/ping", dependencies=[Depends(public)])
    def ping():
        return {"pong": True}

    class RecSettings(PluginSettings):
        level: int = 1

    from musicconnect.fastpath import FastResponse, FastRoute

    async def fast_echo(req):
        return FastResponse(b'{"echo": "%s"}' % req.params["word"].encode())

    provider = types.SimpleNamespace(id="recpay", label="Recorder Pay", checkout=None, portal=None, handle_webhook=None)
    specs = {
        "register_routes": lambda platform: router,
        "register_commands": lambda platform: typer.Typer(),
        "register_fast_routes": lambda platform: [FastRoute("GET", "/api/v1/recorder/echo/{word}", fast_echo,
                                                                           scope="public")],
        "register_socket_routes": None, "register_site_routes": None,
        "register_jobs": lambda platform: [JobSpec("noop", lambda ctx, **kw: {"ok": True}, max_retries=0)],
        "register_migrations": None,
        "register_settings": lambda platform: RecSettings,
        "register_state_files": None,
        "register_scopes": lambda platform: {"recorder:read": "read what the recorder saw"},
        "register_perks": lambda platform: {"recorded": "the recorder notes it (boolean)"},
        "on_startup": None, "on_shutdown": None, "seed_demo": None,
        "register_content_kinds": lambda platform: [ContentKind("memo", "Memo")],
        "on_content_created": None, "on_content_published": None, "on_content_updated": None,
        "on_content_taken_down": None, "on_content_deleted": None,
        "serialize_content": lambda platform, item, viewer: {"recorded": True},
        "check_access": None,
        "extra_entitlements": None,
        "on_entitlement_changed": None,
        "validate_perks": lambda platform, rank, perks: "no negative perks" if any(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0 for v in perks.values()) else None,
        "register_payment_providers": lambda platform: [provider],
        "on_payment_event": None,
        "revenue_shares": lambda platform, artist_id, amount, currency, payment: RevenueShare("platform", amount // 10,
                                                                                             "fee"),
        "distribute_net": None,
        "on_event": None,
        "register_metrics": lambda platform: [Metric("memo_count", "Memos", "test metric", lambda p, a, w: 42)],
        "register_notification_kinds": lambda platform: [NotificationKind(
            "recorder.memo", "Memo", "content.published", {"title": "memo", "body": "memo"}, "followers")],
        "audience_members": None,
        "generate_text": lambda platform, purpose, context: f"recorded {purpose}",
        "web_extensions": lambda platform: [{"kind": "nav", "path": "/recorder", "title": "Recorder"}],
        "export_user_data": lambda platform, session, user: ExportPart({"memos": [{"user": str(user.id)}]}),
        "erase_user_data": lambda platform, session, user: ErasureReport({"memos": 1}),
        "screen_audio": lambda platform, session, item, audio_path: Screening("review", "recorded"),
        "screen_activity": lambda platform, kind, actor_id, context: (
            Screening("flag", "recorded") if kind == "play.counted" else None),
    }
    import inspect

    from musicconnect import hookspecs

    for name, result in specs.items():
        argnames = list(inspect.signature(getattr(hookspecs, name)).parameters)
        impl = rec(name, result)
        # pluggy reads the argument names of the implementation: give it the spec's signature
        ns: dict = {"impl": impl}
        exec(f"def {name}({', '.join(argnames)}): return impl({', '.join(f'{a}={a}' for a in argnames)})", ns)
        setattr(mod, name, hookimpl(ns[name]))
    mod.__name__ = "recorder"
    return mod
