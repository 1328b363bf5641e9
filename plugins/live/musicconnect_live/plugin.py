"""Hook implementations of the live plugin (the entry point): listening parties, their chat and
the artist's live room. The work lives in ``parties``, ``chat``, ``api``, ``sockets`` and ``demo``."""
from __future__ import annotations

from pathlib import Path

from musicconnect import JobSpec, hookimpl

from . import models  # noqa: F401 (its tables join the metadata whenever the plugin loads)

SCOPES = {
    "live:read": "see listening parties, their recaps and chat, and the artist's live room",
    "live:write": "RSVP, chat and react; artists: schedule and host parties, moderate",
}


@hookimpl
def register_routes(platform):
    from .api import router

    return [router]


@hookimpl
def register_socket_routes(platform):
    from musicconnect.realtime import SocketRoute

    from .sockets import party_socket, room_socket

    return [SocketRoute("/api/v1/live/parties/{party_id}/socket", party_socket, scope="live:read", optional=True,
                        max_frame_bytes=16_384),
            SocketRoute("/api/v1/live/artists/{artist_id}/room/socket", room_socket, scope="live:read", optional=True,
                        max_frame_bytes=16_384)]


@hookimpl
def register_scopes(platform):
    return dict(SCOPES)


@hookimpl
def register_migrations(platform):
    return Path(__file__).parent / "migrations"


def _sweep(ctx):
    from .parties import sweep

    return {"changed": sweep(ctx.platform)}


@hookimpl
def register_jobs(platform):
    # starting soon (T-15 min), started, ended at the end of the playlist: idempotent transitions
    return [JobSpec("sweep", _sweep, max_retries=1, every_seconds=30)]


@hookimpl
def web_extensions(platform):
    """The listening parties in the web app: the artist's parties (RSVP, join, schedule) on the
    artist page, and the party page (synced player, host controls, chat) at ``/parties/<id>``."""
    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "component", "slot": "artist", "module": "parties.js"},
            {"kind": "page", "path": "/parties", "module": "party.js"}]


@hookimpl(trylast=True)  # after the streaming plugin's demo tracks exist
def seed_demo(platform, session, demo):
    from .demo import seed

    seed(platform, session, demo)


# ---- going live (RTMP ingest, live HLS, recordings): ingest.py, livehls.py, recording.py
from . import ingest_models  # noqa: E402,F401 (live_stream_keys, live_stream_sessions)


@hookimpl(specname="register_routes")
def register_ingest_routes(platform):
    from . import livehls, recording  # noqa: F401 (their routes join the ingest router)
    from .ingest import router

    return [router]


@hookimpl(specname="register_settings")
def register_ingest_settings(platform):
    # a settings model of the whole plugin should subclass ingest.IngestSettings and replace this
    from .ingest import IngestSettings

    return IngestSettings


@hookimpl(specname="check_access")
def check_live_session_access(platform, actor, action, resource, context):
    from .livehls import live_session_rule

    return live_session_rule(platform, actor, action, resource, context)


@hookimpl(specname="on_shutdown")
def stop_ingests(platform):
    from .ingest import stop_all

    stop_all(platform)


# ---------------------------------------------------------------- notifications (read by a notifications plugin)

def _artist_user(platform, event):
    """The artist's own user (told when a party they hosted ends on its own or by a moderator)."""
    from musicconnect.models import Artist

    with platform.session() as s:
        artist = s.get(Artist, event.artist_id) if event.artist_id else None
        return [artist.user_id] if artist is not None else []


@hookimpl
def register_notification_kinds(platform):
    from musicconnect import NotificationKind

    return [
        NotificationKind("live.party_starting", "Listening parties starting soon", "live.party_starting",
                         {"title": "{artist_name}: {title} starts soon", "body": "The listening party starts in 15 minutes.",
                          "url": "/parties/{subject_id}"}, "followers", default_channels=("inbox", "push")),
        NotificationKind("live.party_recap", "Listening party recaps (artists)", "live.party_ended",
                         {"title": "The recap of your listening party is ready",
                          "body": "Peak listeners: {peak_listeners}.", "url": "/parties/{subject_id}/recap"},
                         _artist_user, default_channels=("inbox", "push")),
        NotificationKind("live.artist_live", "Artists going live", "live.started",
                         {"title": "{artist_name} is live", "body": "{title}", "url": "/live/{subject_id}"},
                         "followers", default_channels=("inbox", "push")),
    ]


@hookimpl
def export_user_data(platform, session, user):
    from .privacy import export

    return export(platform, session, user)


@hookimpl
def erase_user_data(platform, session, user):
    from .privacy import erase

    return erase(platform, session, user)
