"""Hook implementations of the experiments plugin (the entry point): the ``experiments`` feature
module (tables, API, exposure log, results) through :func:`musicconnect.feature_hooks`; the
exposure listener is registered with ``platform.flags`` at start-up; the CLI lives in ``cli``."""
from __future__ import annotations

from musicconnect import ErasureReport, ExportPart, feature_hooks, hookimpl

globals().update(feature_hooks(__package__, ("experiments",)))


@hookimpl
def on_startup(platform):
    """Log exposures: register the listener with the flags service."""
    from .experiments import exposure_log

    exposure_log(platform)


@hookimpl
def export_user_data(platform, session, user):
    """The experiments the person was exposed to, with the variant and when."""
    from .experiments import export_user

    rows = export_user(session, user)
    return ExportPart(records={"experiment_exposures": rows},
                      notes="experiment_exposures: the A/B experiments you took part in and the variant you saw.")


@hookimpl
def erase_user_data(platform, session, user):
    """Delete the person's exposures (results keep only aggregates computed at read time)."""
    from .experiments import erase_user

    return ErasureReport(erased={"experiment_exposures": erase_user(session, user)})
