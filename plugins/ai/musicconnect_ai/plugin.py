"""Hook implementations of the AI plugin (the entry point): gathered from the feature modules
by :func:`musicconnect.feature_hooks` (``METRICS``, ``router``, ``JOBS``, ``SETTINGS``, ``on_event``,
... of each module in :data:`FEATURES`); the CLI lives in ``cli``, demo data in ``demo``."""
from __future__ import annotations

from pathlib import Path

from musicconnect import feature_hooks, hookimpl

#: the feature modules, in the order their metrics and routes are listed
FEATURES = ("interactions", "recommend", "feed", "matching", "prediction", "posts", "api")

SCOPES = {
    "ai:read": "read your recommendations, discovery feed, artist matches, demo predictions and post drafts",
    "ai:write": "send discovery-feed feedback (likes, skips, watch time)",
}

globals().update(feature_hooks(__package__, FEATURES, scopes=SCOPES))


@hookimpl
def web_extensions(platform):
    """The discovery feed in the web app (docs/ai.md, "In the web app"): ``/discover/feed``,
    a menu link for everyone (it asks to sign in when signed out)."""
    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "page", "path": "/discover/feed", "module": "feed.js", "title": "Feed for you"}]


@hookimpl
def export_user_data(platform, session, user):
    from . import privacy

    return privacy.export_user_data(platform, session, user)


@hookimpl
def erase_user_data(platform, session, user):
    from . import privacy

    return privacy.erase_user_data(platform, session, user)
