"""Hook implementations of the notify plugin (the entry point). The pipeline lives in
``pipeline`` (fan-out, deliveries), ``digests``, ``prefs``; routes in ``api``; the channel
contract in ``channels`` (inbox here, push and email in their own modules); commands in ``cli``."""
from __future__ import annotations

from pathlib import Path

from musicconnect import JobSpec, NotificationKind, hookimpl

from . import inbox, models  # noqa: F401 (inbox registers its channel; models join the metadata)
from . import pipeline

for _channel_module in ("push", "email_channel"):  # the channels engineer's modules register themselves
    try:
        __import__(f"{__package__}.{_channel_module}")
    except ImportError:
        pass

SCOPES = {
    "notify:read": "read your notifications (inbox, unread count) and your notification preferences",
    "notify:write": "change your notification preferences, mark notifications read, message your fans (artists)",
}


@hookimpl
def register_scopes(platform):
    return dict(SCOPES)


@hookimpl
def register_routes(platform):
    from . import push_api, unsubscribe_api
    from .api import router

    return [router, push_api.router, unsubscribe_api.router]


@hookimpl
def register_settings(platform):
    from .email_channel import EmailSettings
    from .push import PushSettings

    class NotifySettings(PushSettings, EmailSettings):
        """The notify plugin's settings (web push and email channels)."""

    return NotifySettings


@hookimpl
def register_migrations(platform):
    return Path(__file__).parent / "migrations"


@hookimpl
def register_jobs(platform):
    from . import digests

    return [JobSpec("fanout", pipeline.fanout, max_retries=5, min_backoff_ms=2000),
            JobSpec("batch", pipeline.batch, max_retries=5, min_backoff_ms=2000),
            JobSpec("deliver", pipeline.deliver, max_retries=3, min_backoff_ms=2000),
            JobSpec("due", pipeline.due_job, every_seconds=60, max_retries=1),
            JobSpec("digests", digests.job, every_seconds=3600, max_retries=2)]


@hookimpl
def on_event(platform, event):
    pipeline.on_event(platform, event)


def _segment(platform, event):
    return platform.audience_members(event.artist_id, event.data["segment"]) if event.artist_id else ()


@hookimpl
def register_notification_kinds(platform):
    return [NotificationKind("notify.artist_message", "Messages from artists", "notify.artist_message",
                             {"title": "{artist_name}: {title}", "body": "{body}", "url": "/artists/{artist_id}"},
                             _segment, default_channels=("inbox", "push", "email"))]


@hookimpl
def register_commands(platform):
    from .cli import make_app

    return make_app(platform)


@hookimpl
def seed_demo(platform, session, demo):
    from .demo import seed

    seed(platform, session, demo)


@hookimpl
def web_extensions(platform):
    """The inbox in the web app: its page (with preferences and the push opt-in) and the inbox
    link with the unread count in the navigation (the page has no title: the link is the slot's)."""
    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "page", "path": "/inbox", "module": "inbox.js"},
            {"kind": "component", "slot": "nav", "module": "unread.js"}]


@hookimpl
def export_user_data(platform, session, user):
    from .privacy import export

    return export(platform, session, user)


@hookimpl
def erase_user_data(platform, session, user):
    from .privacy import erase

    return erase(platform, session, user)
