"""A fan's preferences: which channels of which kind, muted artists, quiet hours in the fan's time
zone, the email opt-out and the digest window. No row means the defaults (the kinds' default
channels, no quiet hours, daily digest of digestible kinds by email)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .models import Preference

DIGESTS = ("off", "daily", "weekly")


@dataclass(frozen=True)
class Prefs:
    channels: dict = field(default_factory=dict)
    muted: frozenset = frozenset()
    quiet_start: str | None = None
    quiet_end: str | None = None
    email_opt_out: bool = False
    digest: str = "daily"
    timezone: str = "UTC"

    def wants(self, kind: str, channel: str, default_channels) -> bool:
        if channel == "email" and self.email_opt_out:
            return False
        override = (self.channels.get(kind) or {}).get(channel)
        return bool(override) if override is not None else channel in default_channels

    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def quiet_until(self, now: datetime) -> datetime | None:
        """The end of the quiet hours ``now`` falls in (UTC), or ``None`` outside them."""
        if not (self.quiet_start and self.quiet_end) or self.quiet_start == self.quiet_end:
            return None
        local = now.astimezone(self.zone())
        start, end = parse_hhmm(self.quiet_start), parse_hhmm(self.quiet_end)
        t = local.time().replace(tzinfo=None)
        inside = (start <= t < end) if start < end else (t >= start or t < end)
        if not inside:
            return None
        until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        if until <= local:
            until = (local + timedelta(days=1)).replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
        # re-localise (a DST change between now and the end keeps the wall-clock end)
        until = until.replace(tzinfo=None).replace(tzinfo=self.zone())
        return until.astimezone(now.tzinfo)


def parse_hhmm(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


def of_row(row: Preference | None) -> Prefs:
    if row is None:
        return Prefs()
    return Prefs(channels=dict(row.channels or {}), muted=frozenset((row.muted or {}).get("artists", [])),
                 quiet_start=row.quiet_start, quiet_end=row.quiet_end, email_opt_out=row.email_opt_out,
                 digest=row.digest, timezone=row.timezone or "UTC")


def load(session, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, Prefs]:
    """The prefs of many fans (active users only) in two queries per 500."""
    from sqlalchemy import select

    from musicconnect.models import User

    out: dict[uuid.UUID, Prefs] = {}
    for i in range(0, len(user_ids), 500):
        chunk = user_ids[i:i + 500]
        active = set(session.scalars(select(User.id).where(User.id.in_(chunk), User.is_active.is_(True))))
        rows = {r.user_id: r for r in session.scalars(select(Preference).where(Preference.user_id.in_(chunk)))}
        for uid in chunk:
            if uid in active:  # a user deleted or disabled meanwhile gets nothing
                out[uid] = of_row(rows.get(uid))
    return out
