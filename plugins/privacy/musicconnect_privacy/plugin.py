"""Hook implementations of the privacy plugin (the entry point): gathered from the feature modules
by :func:`musicconnect.feature_hooks`; its own part of a person's export and erasure (the consent
records and the exports it made) and the privacy page of the web app are declared here."""
from __future__ import annotations

from pathlib import Path

from musicconnect import feature_hooks, hookimpl

#: the feature modules
FEATURES = ("consents", "exports", "erasure")

SCOPES = {
    "privacy:export": "request and download a copy of your data",
}

globals().update(feature_hooks(__package__, FEATURES, scopes=SCOPES))


@hookimpl
def export_user_data(platform, session, user):
    """The person's consent history and the exports they asked for."""
    from musicconnect.contracts import ExportPart

    from .consents import consent_records
    from .exports import export_records

    return ExportPart(records={"consents": consent_records(session, user.id), "exports": export_records(session, user.id)},
                      notes="consents: every consent you gave or withdrew (purpose, version of the text, when, "
                            "from where). exports: the copies of your data you asked for.")


@hookimpl
def erase_user_data(platform, session, user):
    """Consent records and exports go entirely (nothing kept); the exports' archives are deleted
    after the commit."""
    from musicconnect.contracts import ErasureReport

    from .consents import erase_consents
    from .exports import erase_exports

    n_consents = erase_consents(session, user.id)
    n_exports, keys = erase_exports(session, user.id)
    return ErasureReport(erased={"consents": n_consents, "exports": n_exports}, storage_keys=tuple(keys))


@hookimpl
def web_extensions(platform):
    """The privacy page (docs/web.md): consents, the data export, account deletion."""
    return [{"kind": "assets", "directory": str(Path(__file__).parent / "web")},
            {"kind": "page", "path": "/privacy", "module": "privacy.js", "title": "Privacy"}]
