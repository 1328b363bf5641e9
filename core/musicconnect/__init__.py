"""MusicConnect core: the plugin contract and the services every plugin uses.

The public API for plugin authors is exactly two lists, kept here: the names in ``__all__``
(import them from ``musicconnect``) and the modules in ``PUBLIC_MODULES``. Everything else in
the package is internal and may change without notice. docs/plugins.md ("The public API")
shows the same lists, and tests/test_public_api.py fails when the docs and this module disagree
or when a plugin in this repository (or the ``plugins new`` scaffold) imports anything else.
"""
from .contracts import (AccessContext, Actor, ContentKind, Decision, EntitlementInfo, ErasureReport, ExportFile,
                        ExportPart, JobSpec, Metric, MetricWindow, NotificationKind, PaymentContext, PaymentEvent, PaymentProvider, PerkSpec,
                        Resource, Retained, RevenueShare, Screening, TierInfo, Verdict, Vote)
from .accounts import normalise_email
from .budget import Budget
from .content import resource_of
from .db import Base, UTCDateTime, on_commit, uuid_pk
from .errors import Conflict, Forbidden, Invalid, NotFound, Problem, Unauthorized
from .events import Event, emit
from .features import feature_hooks
from .flags import Exposure, FlagEvaluation
from .hookimpl import hookimpl
from .jobs import JobContext, PermanentJobError
from .plugin_state import PluginSettings
from .tracing import span

__version__ = "0.1.0"

__all__ = [
    "AccessContext", "Actor", "Base", "Budget", "Conflict", "ContentKind", "Decision", "EntitlementInfo", "ErasureReport",
    "Event", "ExportFile", "ExportPart", "Exposure", "FlagEvaluation", "Forbidden", "Invalid", "JobContext", "JobSpec", "Metric", "MetricWindow", "NotFound", "NotificationKind", "PaymentContext", "PaymentEvent",
    "PaymentProvider", "PerkSpec", "PermanentJobError", "PluginSettings", "Problem", "Resource", "Retained", "RevenueShare",
    "Screening",
    "TierInfo", "UTCDateTime", "Unauthorized", "Verdict", "Vote", "emit", "feature_hooks", "hookimpl", "normalise_email", "on_commit",
    "resource_of", "span", "uuid_pk",
]

#: the core modules a plugin may import; the rest of the package is internal
PUBLIC_MODULES = (
    "musicconnect", "musicconnect.clock", "musicconnect.contracts", "musicconnect.db", "musicconnect.errors",
    "musicconnect.events", "musicconnect.fastpath", "musicconnect.models", "musicconnect.realtime", "musicconnect.storage",
    "musicconnect.testing", "musicconnect.web",
)
