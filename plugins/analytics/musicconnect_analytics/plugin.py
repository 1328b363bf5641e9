"""Hook implementations of the analytics plugin (the entry point): gathered from the feature
modules by :func:`musicconnect.feature_hooks` (``METRICS``, ``router``, ``JOBS``, ``on_event``,
``on_shutdown``, ``SOCKET_ROUTES``, ``NOTIFICATION_KINDS`` of each module in :data:`FEATURES`);
the CLI lives in ``cli``, demo data in ``demo``."""
from __future__ import annotations

from pathlib import Path

from musicconnect import feature_hooks, hookimpl

#: the feature modules, in the order their metrics are listed
FEATURES = ("rollups", "revenue", "audience", "ltv", "churn", "viral", "release_time", "fans", "summary", "listening",
            "live", "api", "charts_api")

SCOPES = {
    "analytics:read": "read your artist dashboard: metrics, exports, charts and live figures",
}

globals().update(feature_hooks(__package__, FEATURES, scopes=SCOPES))


@hookimpl
def web_extensions(platform):
    """The artist's dashboard in the web app (docs/web.md): a page for artists (its link is in the
    studio menu of signed-in artists only; the screen refuses anyone but an artist) and, on the
    artist's own page, the way in (a component in the ``artist`` slot)."""
    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "page", "path": "/studio/dashboard", "module": "dashboard.js", "title": "Dashboard",
             "audience": "artists"},
            {"kind": "component", "slot": "artist", "module": "dashboard-link.js"}]


@hookimpl
def export_user_data(platform, session, user):
    from . import privacy

    return privacy.export_user_data(platform, session, user)


@hookimpl
def erase_user_data(platform, session, user):
    from . import privacy

    return privacy.erase_user_data(platform, session, user)
