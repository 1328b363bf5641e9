"""Fan milestones: the awarding used by the hooks (first support, 100 plays) and the scheduled
jobs (one year as a member, top-10 fan of the month)."""
from __future__ import annotations

from sqlalchemy import func, select

from musicconnect.models import DomainEvent, Entitlement

from .metrics import _effective


def _milestone(platform, user_id, artist_id, kind: str, data=None) -> None:
    with platform.session() as s:
        platform.emit(s, "fan.milestone", actor_id=user_id, artist_id=artist_id, subject=("user", user_id),
                      data={"milestone": kind, **(data or {})})


def _has_milestone(s, user_id, artist_id, kind: str, **match) -> bool:
    rows = s.scalars(select(DomainEvent).where(DomainEvent.type == "fan.milestone", DomainEvent.actor_id == user_id,
                                               DomainEvent.artist_id == artist_id)).all()
    return any(r.data.get("milestone") == kind and all(r.data.get(k) == v for k, v in match.items()) for r in rows)


def anniversaries(ctx):
    """1 year as a member: the earliest still-effective membership began a year ago or more."""
    from datetime import timedelta

    platform = ctx.platform
    now = platform.clock.now()
    done = 0
    with platform.session() as s:
        rows = s.execute(select(Entitlement.user_id, Entitlement.artist_id, func.min(Entitlement.starts_at))
                         .where(*_effective(now)).group_by(Entitlement.user_id, Entitlement.artist_id)).all()
        due = [(u, a) for u, a, since in rows if since <= now - timedelta(days=365)
               and not _has_milestone(s, u, a, "member_1y")]
    for user_id, artist_id in due:
        _milestone(platform, user_id, artist_id, "member_1y")
        done += 1
    return {"awarded": done}


def monthly_top_fans(ctx):
    """Top-10 fan of the month: after a month ends, its ten biggest listeners of each artist."""
    from datetime import datetime, timezone

    platform = ctx.platform
    now = platform.clock.now()
    end = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
    start = datetime(end.year - (end.month == 1), 12 if end.month == 1 else end.month - 1, 1, tzinfo=timezone.utc)
    month = start.strftime("%Y-%m")
    awarded = 0
    with platform.session() as s:
        rows = s.execute(select(DomainEvent.artist_id, DomainEvent.actor_id, func.count())
                         .where(DomainEvent.type == "play.counted", DomainEvent.actor_id.is_not(None),
                                DomainEvent.occurred_at >= start, DomainEvent.occurred_at < end)
                         .group_by(DomainEvent.artist_id, DomainEvent.actor_id)).all()
    by_artist: dict = {}
    for artist_id, user_id, n in rows:
        by_artist.setdefault(artist_id, []).append((n, str(user_id), user_id))
    for artist_id, fans in by_artist.items():
        for rank, (n, _, user_id) in enumerate(sorted(fans, key=lambda f: (-f[0], f[1]))[:10], 1):
            with platform.session() as s:
                if _has_milestone(s, user_id, artist_id, "top10_month", month=month):
                    continue
            _milestone(platform, user_id, artist_id, "top10_month", {"month": month, "rank": rank, "plays": n})
            awarded += 1
    return {"month": month, "awarded": awarded}
