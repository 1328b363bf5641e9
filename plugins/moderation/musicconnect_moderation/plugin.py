"""Hook implementations of the moderation plugin (the entry point): gathered from the feature
modules by :func:`musicconnect.feature_hooks` (``router``, ``JOBS``, ``SETTINGS``, ``on_event``,
``NOTIFICATION_KINDS`` of each module in :data:`FEATURES`); the screens (``screen_audio``,
``screen_activity``) delegate to their feature; the CLI lives in ``cli``."""
from __future__ import annotations

from musicconnect import feature_hooks

#: the feature modules: the review queue and audit log every feature files into, then each feature
FEATURES = ("cases", "fingerprint", "dmca", "abuse")

SCOPES = {
    "moderation:write": "send copyright notices and counter-notices about your content",
}

globals().update(feature_hooks(__package__, FEATURES, scopes=SCOPES))
