"""MusicConnect core: the plugin contract and the services every plugin uses.

Public API for plugin authors (import from here, nothing else is promised to stay):
``hookimpl``, ``Platform``, value types from :mod:`musicconnect.contracts`, ``Problem`` and its
helpers, ``PluginSettings``, ``Base`` and the core models, ``emit``, ``JobContext``, ``Budget``.
"""
from .contracts import (AccessContext, Actor, ContentKind, Decision, EntitlementInfo, JobSpec, Metric,
                        MetricWindow, PaymentEvent, PaymentProvider, PerkSpec, Resource, RevenueShare, TierInfo,
                        Verdict, Vote)
from .accounts import normalise_email
from .budget import Budget
from .content import resource_of
from .db import Base, UTCDateTime, on_commit, uuid_pk
from .errors import Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized
from .events import Event, emit
from .hookimpl import hookimpl
from .jobs import JobContext, PermanentJobError
from .plugin_state import PluginSettings

__version__ = "0.1.0"

__all__ = [
    "AccessContext", "Actor", "Base", "Budget", "Conflict", "ContentKind", "Decision", "EntitlementInfo", "Event",
    "Forbidden", "Invalid", "JobContext", "JobSpec", "Metric", "MetricWindow", "NotFound", "PaymentEvent",
    "PaymentProvider", "PerkSpec", "PermanentJobError", "PluginSettings", "Problem", "Resource", "RevenueShare",
    "TierInfo", "UTCDateTime", "Unauthorized", "Verdict", "Vote", "emit", "hookimpl", "normalise_email", "on_commit",
    "resource_of", "uuid_pk",
]
