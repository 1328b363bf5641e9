"""Hook implementations of the analytics plugin (the entry point).

Each feature module may expose ``METRICS`` (a list of :class:`musicconnect.Metric`), ``router``
(an APIRouter), ``JOBS`` (a list of :class:`musicconnect.JobSpec`), ``on_event(platform, event)``,
``SOCKET_ROUTES``, ``NOTIFICATION_KINDS`` and ``on_shutdown(platform)``; this module gathers them, so that modules are added
without editing it. The CLI lives in ``cli``; demo data in ``demo``.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

from musicconnect import hookimpl

log = logging.getLogger("musicconnect.analytics")

#: the feature modules, in the order their metrics are listed
FEATURES = ("rollups", "revenue", "audience", "ltv", "churn", "viral", "release_time", "fans", "summary",
            "live", "api", "charts_api")


def _modules():
    found = []
    for name in FEATURES:
        try:
            found.append(importlib.import_module(f"{__package__}.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
    return found


def _gather(attr: str) -> list:
    out: list = []
    for mod in _modules():
        out.extend(getattr(mod, attr, ()) or ())
    return out


SCOPES = {
    "analytics:read": "read your artist dashboard: metrics, exports, charts and live figures",
}


@hookimpl
def register_scopes(platform):
    return dict(SCOPES)


@hookimpl
def register_metrics(platform):
    return _gather("METRICS")


@hookimpl
def register_routes(platform):
    return [m.router for m in _modules() if getattr(m, "router", None) is not None]


@hookimpl
def register_jobs(platform):
    return _gather("JOBS")


@hookimpl
def register_migrations(platform):
    _modules()  # the feature modules' tables join the metadata the migrations are checked against
    return Path(__file__).parent / "migrations"


@hookimpl
def on_event(platform, event):
    for mod in _modules():
        handler = getattr(mod, "on_event", None)
        if handler is not None:
            handler(platform, event)


@hookimpl
def on_shutdown(platform):
    """Modules with ``on_shutdown(platform)`` write what they hold (the rollup buffer) before the
    process exits."""
    for mod in _modules():
        handler = getattr(mod, "on_shutdown", None)
        if handler is not None:
            try:
                handler(platform)
            except Exception:
                log.exception("analytics: %s.on_shutdown failed", mod.__name__)


@hookimpl
def register_socket_routes(platform):
    return _gather("SOCKET_ROUTES")


@hookimpl
def register_notification_kinds(platform):
    return _gather("NOTIFICATION_KINDS")


@hookimpl
def register_commands(platform):
    try:
        from .cli import make_app
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.cli":
            raise
        return None
    return make_app(platform)


@hookimpl
def seed_demo(platform, session, demo):
    try:
        from .demo import seed
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.demo":
            raise
        return
    seed(platform, session, demo)
