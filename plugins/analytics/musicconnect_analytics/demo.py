"""The analytics plugin's demo data (``seed_demo``, idempotent): the demo artist's dashboard is
populated.

In the demo's transaction, :func:`.synthetic.generate` writes ``FANS`` synthetic fans with
``WEEKS`` weeks of history for the demo artist (follows, subscriptions with their payments and
cancellations, plays with a daily rhythm, comments, shares and a viral track), once: a second
seed finds the synthetic entitlements and adds nothing. Once that transaction has committed (so
the other plugins' demo data, written in the same transaction, is there too), the artist's
rollups are rebuilt (:func:`.rollups.rebuild`), last week's summary is emitted
(:func:`.summary.summarise`, so the artist's inbox holds one) and the models' fitting jobs are
enqueued for the artist (LTV, churn risk, viral potential, release time).
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from musicconnect.db import on_commit
from musicconnect.models import Entitlement

log = logging.getLogger("musicconnect.analytics")

FANS = 300
WEEKS = 26
SEED = 15
#: the models' fitting jobs, enqueued for the demo artist after the seed (unknown ones are skipped)
FITS = ("analytics.fit_ltv", "analytics.fit_churn", "analytics.fit_viral", "analytics.fit_release_time")


def seeded(session, artist_id) -> bool:
    return session.scalar(select(Entitlement.id).where(Entitlement.artist_id == artist_id,
                                                       Entitlement.source == "synthetic").limit(1)) is not None


def seed(platform, session, demo) -> None:
    artist_id = demo.artist_profile.id
    if seeded(session, artist_id):
        return
    from . import synthetic

    from musicconnect.models import ContentItem

    # the demo's own tracks (they have audio): no unplayable synthetic ones in its catalogue
    tracks = list(session.scalars(select(ContentItem.id).where(
        ContentItem.artist_id == artist_id, ContentItem.kind == "track", ContentItem.status.in_(("ready", "processing")))
        .order_by(ContentItem.created_at, ContentItem.id)))
    synthetic.generate(platform, artist_id, fans=FANS, weeks=WEEKS, seed=SEED, session=session,
                       existing_tracks=tracks or None)
    on_commit(session, lambda: after_commit(platform, artist_id))


def after_commit(platform, artist_id) -> None:
    """Rollups and last week's summary of the freshly seeded artist; its models are fitted by
    their jobs (in the background: the demo starts without waiting for them)."""
    from . import rollups, summary

    rollups.rebuild(platform, artist_id)
    label, start, end = summary.iso_week(now=platform.clock.now())
    summary.summarise(platform, artist_id, label, start, end)
    for job in FITS:
        try:
            platform.jobs.enqueue(job, artist_id=str(artist_id))
        except Exception:  # a model module that is not there: nothing to fit
            log.info("demo: no job %s", job)
