"""Hook implementations of the moderation plugin (the entry point): gathered from the feature
modules by :func:`musicconnect.feature_hooks` (``router``, ``JOBS``, ``SETTINGS``, ``on_event``,
``NOTIFICATION_KINDS`` of each module in :data:`FEATURES`); the screens (``screen_audio``,
``screen_activity``) delegate to their feature; the CLI lives in ``cli``."""
from __future__ import annotations

from musicconnect import feature_hooks, hookimpl

#: the feature modules: the review queue and audit log every feature files into, then each feature
FEATURES = ("cases", "fingerprint", "dmca", "abuse")

SCOPES = {
    "moderation:write": "send copyright notices and counter-notices about your content",
}

globals().update(feature_hooks(__package__, FEATURES, scopes=SCOPES))


@hookimpl
def screen_activity(platform, kind, actor_id, context):
    """Abuse rules (play farming, message spam, sign-up bursts): see ``abuse``."""
    from .abuse import screen

    return screen(platform, kind, actor_id, context)


@hookimpl
def screen_audio(platform, session, item, audio_path):
    """Audio fingerprints against other artists' tracks: see ``fingerprint``."""
    from .fingerprint import screen_audio as screen

    return screen(platform, session, item, audio_path)


@hookimpl
def web_extensions(platform):
    """The copyright pages (``dmca``): the public notice form and the uploader's counter-notice."""
    from pathlib import Path

    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "page", "path": "/copyright", "module": "copyright.js", "title": "Copyright"},
            {"kind": "page", "path": "/copyright/counter", "module": "counter.js"}]


@hookimpl
def export_user_data(platform, session, user):
    """The person's cases, audit lines, strikes, counter-notices, notices against them, flags: ``privacy``."""
    from .privacy import export

    return export(platform, session, user)


@hookimpl
def erase_user_data(platform, session, user):
    """Scrub the person from cases and the audit log, delete their strikes, counter-notices, flags: ``privacy``."""
    from .privacy import erase

    return erase(platform, session, user)
