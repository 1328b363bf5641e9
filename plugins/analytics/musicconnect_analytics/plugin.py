"""Hook implementations of the analytics plugin (the entry point): gathered from the feature
modules by :func:`musicconnect.feature_hooks` (``METRICS``, ``router``, ``JOBS``, ``on_event``,
``on_shutdown``, ``SOCKET_ROUTES``, ``NOTIFICATION_KINDS`` of each module in :data:`FEATURES`);
the CLI lives in ``cli``, demo data in ``demo``."""
from __future__ import annotations

from musicconnect import feature_hooks

#: the feature modules, in the order their metrics are listed
FEATURES = ("rollups", "revenue", "audience", "ltv", "churn", "viral", "release_time", "fans", "summary",
            "live", "api", "charts_api")

SCOPES = {
    "analytics:read": "read your artist dashboard: metrics, exports, charts and live figures",
}

globals().update(feature_hooks(__package__, FEATURES, scopes=SCOPES))
