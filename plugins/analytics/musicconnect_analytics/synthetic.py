"""Synthetic fans with planted behaviour for one artist (owner: models).

:func:`generate` writes, in bulk and deterministically for a seed, the rows and domain events the
real code paths write, so that rollups (:mod:`.rollups` ``rebuild``) and the models see
real-looking data, and returns the *planted truths* that the accuracy tests compare the models
with. Used by the tests, the demo (``demo``) and the benchmark (10M events: rows are inserted
with SQLAlchemy core ``insert`` in chunks, one executemany per chunk).

What is written (``when`` spread over ``weeks`` before ``platform.clock.now()``):

* ``users`` (fans; unusable password) and ``user.registered``;
* tracks: ``content_items`` of kind ``track`` (public, ready) and ``content.published``;
* follows: ``fan.followed`` (plus a ``fanclub_follows`` row when that table exists);
* the fan's time zone in ``notify_preferences`` when that table exists (where
  :mod:`.release_time` reads it);
* subscriptions: ``entitlements`` (source ``synthetic``) with ``entitlement.granted`` /
  ``entitlement.revoked`` and the provider's ``payment.subscription.created`` / ``.ended``, monthly ``payment.succeeded`` while active, ``payment.failed`` before a
  cancellation. Each paid tier has a **constant monthly hazard** (lifetimes are exponential), so
  the planted LTV is exactly ``price / hazard`` (minor units; a month = 30 days);
* plays: ``play.started`` / ``play.counted`` / ``play.completed`` (plus ``streaming_plays`` rows
  when that table exists) with a planted rhythm: a share of each fan's plays falls in the
  planted slot (``BEST_WEEKDAY``/``BEST_HOUR`` in the fan's own time zone);
* engagement with posts: ``fan.commented`` / ``fan.reacted``;
* churn signals: in the weeks before a cancellation (past, or planted within 30 days after now)
  the member listens far less, a payment fails and they stop engaging; a little noise elsewhere;
* shares: share links (:class:`.model_store.ShareLink`, ``analytics.shared``) and clicks; one planted viral track is
  shared far more and its visitors (new fans) play it and follow the artist.

The truths: ``{"artist_id", "now", "ltv": {tier key: {"hazard", "price", "ltv"}},
"best_slot": {"weekday", "hour"}, "viral_track_id", "churn_labels": {user id: churns within 30
days}, "tracks", "fans", "events"}``.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import insert, select

from musicconnect.db import JSONType, UTCDateTime
from musicconnect.models import ContentItem, DomainEvent, Entitlement, Tier, User

from .model_store import ShareClick, ShareLink

#: planted activity peak, in each fan's own time zone (Monday = 0)
BEST_WEEKDAY, BEST_HOUR = 4, 20
#: constant monthly cancellation hazard per paid tier key (others: DEFAULT_HAZARD)
HAZARDS = {"supporter": 0.10, "superfan": 0.07}
DEFAULT_HAZARD = 0.08
MONTH = timedelta(days=30)
TIME_ZONES = (("America/New_York", 4), ("Europe/Berlin", 3), ("America/Los_Angeles", 2), ("Asia/Tokyo", 1),
              ("Europe/London", 2), ("Australia/Sydney", 1))
#: background listening by local hour (evenings heavier); the planted slot is added on top
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 6, 6, 6, 6, 4, 2]
TRACK_SECONDS = 180.0
#: the listening drop starts this many days before a cancellation (engagement stops 30 days earlier)
SIGNAL_DAYS = 50


def planted_ltv(price: int, hazard: float) -> float:
    """Expected revenue of a subscription with a constant monthly hazard (continuous time)."""
    return price / hazard


class _Writer:
    """Buffers rows per table and inserts them in chunks (one executemany each)."""

    def __init__(self, session, chunk: int):
        self.session, self.chunk, self.rows, self.counts = session, chunk, {}, {}

    def add(self, table, row: dict) -> None:
        buf = self.rows.setdefault(table, [])
        buf.append(row)
        if len(buf) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        """Every buffer, parents first (users, content, share links), so foreign keys hold."""
        first = (User, ContentItem, ShareLink)
        for t in [t for t in first if t in self.rows] + [t for t in self.rows if t not in first]:
            buf = self.rows.get(t)
            if buf:
                table = getattr(t, "__table__", t)
                if not self._copy(table, buf):
                    # the Core table, not the ORM entity: one plain executemany per chunk
                    self.session.execute(insert(table), buf)
                self.counts[t] = self.counts.get(t, 0) + len(buf)
                self.rows[t] = []

    def _copy(self, table, rows: list[dict]) -> bool:
        """PostgreSQL: ``COPY ... FROM STDIN`` in the session's transaction (several times faster
        than an executemany; what makes the 10M-event benchmark data quick to write). False when
        it does not apply (another database, rows with different keys)."""
        conn = self.session.connection()
        if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
            return False
        keys = rows[0].keys()
        if any(r.keys() != keys for r in rows):
            return False
        cols = list(keys)
        self.session.flush()  # rows the ORM still holds (parents) go first
        raw = conn.connection.driver_connection
        names = ", ".join(f'"{c}"' for c in cols)
        text = "".join("\t".join(_copy_text(r[c]) for c in cols) + "\n" for r in rows)
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            copy.write(text.encode())
        return True


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value) -> str:
    """One value in COPY's text format (NULL is ``\\N``; backslash, tab and line breaks escaped)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    return str(value).translate(_COPY_ESCAPES)


def _optional_tables(session) -> dict[str, sa.Table]:
    """The other plugins' tables the real code paths write too, when they exist here (named by
    table, never imported: analytics depends on the core only)."""
    names = set(sa.inspect(session.connection()).get_table_names())
    c, U, T = sa.column, sa.Uuid(), UTCDateTime()
    out = {}
    if "fanclub_follows" in names:
        out["follows"] = sa.table("fanclub_follows", c("user_id", U), c("artist_id", U), c("created_at", T))
    if "notify_preferences" in names:
        out["prefs"] = sa.table("notify_preferences", c("user_id", U), c("channels", JSONType), c("muted", JSONType),
                                c("email_opt_out", sa.Boolean()), c("digest", sa.String()),
                                c("timezone", sa.String()), c("updated_at", T))
    if "streaming_plays" in names:
        out["plays"] = sa.table("streaming_plays", c("id", U), c("content_id", U), c("artist_id", U),
                                c("listener", sa.String()), c("user_id", U), c("started_at", T),
                                c("last_report_at", T), c("seconds", sa.Float()), c("duration", sa.Float()),
                                c("counted_at", T), c("completed", sa.Boolean()))
    return out


def generate(platform, artist_id: uuid.UUID, *, fans: int = 3000, weeks: int = 26, seed: int = 15,
             plays_per_week: float = 3.0, tracks: int = 6, subscribe_share: float = 0.5,
             chunk: int = 5000, session=None, existing_tracks: list[uuid.UUID] | None = None) -> dict:
    """Write the synthetic population of ``artist_id`` (see the module docstring); returns the
    planted truths. ``session``: write in that transaction (default: a new one).
    ``existing_tracks``: listen to these tracks of the artist (the first is the viral one)
    instead of writing ``tracks`` synthetic ones (the demo: its tracks have audio)."""
    if session is None:
        with platform.session() as s:
            return generate(platform, artist_id, fans=fans, weeks=weeks, seed=seed, plays_per_week=plays_per_week,
                            tracks=tracks, subscribe_share=subscribe_share, chunk=chunk, session=s,
                            existing_tracks=existing_tracks)
    s = session
    rng = random.Random(seed)  # the behaviour: the same for a seed, whatever the artist
    ids = random.Random(f"{seed}:{artist_id}")  # row ids: unique per artist
    now = platform.clock.now().astimezone(timezone.utc)
    start = now - timedelta(weeks=weeks)
    extra = _optional_tables(s)
    w = _Writer(s, chunk)
    n_events = 0

    def event(type_, at, actor=None, subject=None, data=None, of_artist=True):
        nonlocal n_events
        n_events += 1
        w.add(DomainEvent, {"id": uuid.UUID(int=ids.getrandbits(128), version=4), "type": type_, "occurred_at": at,
                            "actor_id": actor, "artist_id": artist_id if of_artist else None,
                            "subject_type": subject[0] if subject else None,
                            "subject_id": str(subject[1]) if subject else None, "data": data or {}})

    def new_id():
        return uuid.UUID(int=ids.getrandbits(128), version=4)

    paid = [t for t in s.scalars(select(Tier).where(Tier.artist_id == artist_id, Tier.is_active.is_(True))
                                 .order_by(Tier.rank)) if t.price_amount > 0]
    ltv = {t.key: {"tier_id": str(t.id), "price": t.price_amount, "hazard": HAZARDS.get(t.key, DEFAULT_HAZARD),
                   "ltv": planted_ltv(t.price_amount, HAZARDS.get(t.key, DEFAULT_HAZARD)),
                   "currency": t.currency} for t in paid}

    # tracks: released over the first half of the history; track 0 is the viral one
    track_ids = list(existing_tracks or [])
    for i in range(0 if track_ids else tracks):
        tid = new_id()
        at = start + timedelta(days=rng.uniform(0, weeks * 7 / 2))
        track_ids.append(tid)
        w.add(ContentItem, {"id": tid, "artist_id": artist_id, "kind": "track", "title": f"Synthetic track {i + 1}",
                            "description": "", "status": "ready", "visibility": "public", "required_tier_id": None,
                            "publish_at": at, "data": {"duration": TRACK_SECONDS, "synthetic": True},
                            "created_at": at, "updated_at": at})
        event("content.published", at, subject=("content", tid), data={"kind": "track"})
    viral = track_ids[0]
    zones = {name: ZoneInfo(name) for name, _ in TIME_ZONES}
    zone_names = [n for n, _ in TIME_ZONES]
    zone_weights = [k for _, k in TIME_ZONES]
    tag = hashlib.sha256(f"{artist_id}:{seed}".encode()).hexdigest()[:8]
    churn_labels: dict[str, bool] = {}
    users_made = 0

    def make_fan(joined: datetime, zone: str) -> uuid.UUID:
        nonlocal users_made
        uid = new_id()
        users_made += 1
        w.add(User, {"id": uid, "email": f"synthetic-{tag}-{users_made}@example.invalid", "password_hash": "!",
                     "display_name": f"Fan {users_made}", "role": "fan", "is_active": True,
                     "created_at": joined, "updated_at": joined})
        event("user.registered", joined, actor=uid, subject=("user", uid), data={"role": "fan", "synthetic": True},
              of_artist=False)
        if "prefs" in extra:
            w.add(extra["prefs"], {"user_id": uid, "channels": {}, "muted": {}, "email_opt_out": False,
                                   "digest": "off", "timezone": zone, "updated_at": joined})
        return uid

    def follow(uid, at):
        event("fan.followed", at, actor=uid, subject=("artist", artist_id))
        if "follows" in extra:
            w.add(extra["follows"], {"user_id": uid, "artist_id": artist_id, "created_at": at})

    def play(uid, track, at, complete=None):
        if at >= now:
            return
        listener = f"u:{uid}"
        pid = new_id()
        done = rng.random() < 0.75 if complete is None else complete
        listened = TRACK_SECONDS if done else round(rng.uniform(31, TRACK_SECONDS * 0.8), 1)
        counted = at + timedelta(seconds=30)
        base = {"session_id": str(pid), "listener": listener}
        event("play.started", at, uid, ("content", track), base)
        event("play.counted", counted, uid, ("content", track), {"session_id": str(pid), "seconds": 30.0})
        if done:
            event("play.completed", at + timedelta(seconds=listened), uid, ("content", track),
                  {"session_id": str(pid), "seconds": listened})
        if "plays" in extra:
            w.add(extra["plays"], {"id": pid, "content_id": track, "artist_id": artist_id, "listener": listener,
                                   "user_id": uid, "started_at": at, "last_report_at": at + timedelta(seconds=listened),
                                   "seconds": listened, "duration": TRACK_SECONDS, "counted_at": counted,
                                   "completed": done})

    def local_time(zone, week_start_utc, weekday, hour):
        """The instant of ``weekday hour:mm`` local time in the week that starts at
        ``week_start_utc`` (a Monday 00:00 in the zone)."""
        local_monday = week_start_utc.astimezone(zones[zone]).replace(hour=0, minute=0, second=0, microsecond=0)
        local_monday -= timedelta(days=local_monday.weekday())
        naive = local_monday.replace(tzinfo=None) + timedelta(days=weekday, hours=hour, minutes=rng.uniform(0, 59.9))
        return naive.replace(tzinfo=zones[zone]).astimezone(timezone.utc)

    for i in range(fans):
        zone = rng.choices(zone_names, zone_weights)[0]
        joined = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds() * 0.8))
        uid = make_fan(joined, zone)
        if rng.random() < 0.85:
            follow(uid, joined + timedelta(minutes=rng.uniform(1, 600)))
        # subscription
        sub_end = None
        tier = None
        if paid and rng.random() < subscribe_share:
            tier = paid[0] if len(paid) == 1 or rng.random() < 0.5 else paid[1 + rng.randrange(len(paid) - 1)]
            hazard = ltv[tier.key]["hazard"]
            sub_start = joined + timedelta(days=rng.uniform(0, 10))
            if sub_start >= now:
                tier = None
            else:
                # constant hazard per month: exponential lifetime with mean 1/hazard months
                life = timedelta(days=rng.expovariate(hazard) * 30)
                sub_end = sub_start + life
        rate = plays_per_week * rng.lognormvariate(0, 0.5)
        # the listening-drop / failed-payment / silence window before a cancellation
        signal_from = sub_end - timedelta(days=SIGNAL_DAYS) if sub_end is not None else None
        if tier is not None:
            ended = sub_end <= now
            ent_id = new_id()
            w.add(Entitlement, {"id": ent_id, "user_id": uid, "artist_id": artist_id, "tier_id": tier.id,
                                "source": "synthetic", "source_ref": f"{tag}:{i}",
                                "status": "ended" if ended else "active", "starts_at": sub_start,
                                "expires_at": sub_end if ended else None, "created_at": sub_start,
                                "updated_at": sub_end if ended else sub_start})
            data = {"user_id": str(uid), "tier_id": str(tier.id), "source": "synthetic", "changes": {}}
            event("entitlement.granted", sub_start, subject=("entitlement", ent_id), data={**data, "status": "active"})
            # the payment provider's subscription facts, as billing publishes them (MRR and its
            # movements are computed from these)
            sub_ref = f"syn-sub-{ent_id}"
            facts = {"provider": "synthetic", "subscription": sub_ref, "amount": tier.price_amount,
                     "currency": tier.currency, "interval": "month", "tier_id": str(tier.id), "status": "active"}
            event("payment.subscription.created", sub_start, uid, ("subscription", sub_ref), facts)
            if ended:
                event("entitlement.revoked", sub_end, subject=("entitlement", ent_id), data={**data, "status": "ended"})
                event("payment.subscription.ended", sub_end, uid, ("subscription", sub_ref),
                      {**facts, "status": "canceled"})
            else:
                churn_labels[str(uid)] = sub_end <= now + timedelta(days=30)
            k, due = 0, sub_start
            failed_at = sub_end - timedelta(days=rng.uniform(20, 45))  # a failed payment, then the end
            noise_fail = rng.random() < 0.10
            while due < min(sub_end, now):
                fee = tier.price_amount // 10
                pdata = {"provider": "synthetic", "amount": tier.price_amount, "currency": tier.currency,
                         "tier_id": str(tier.id), "platform_fee": fee, "artist_net": tier.price_amount - fee,
                         "shares": []}
                if (noise_fail and k == 1) or (due <= failed_at < due + MONTH and failed_at > sub_start
                                               and failed_at < now):
                    at = failed_at if not (noise_fail and k == 1) else due
                    event("payment.failed", at, uid, ("payment", f"syn-f-{tag}-{i}-{k}"), pdata)
                if due < now:
                    event("payment.succeeded", due, uid, ("payment", f"syn-{tag}-{i}-{k}"), pdata)
                k += 1
                due = sub_start + k * MONTH
        # plays: a Poisson number over the fan's weeks, each in a random week, in the fan's zone
        week0 = joined - timedelta(days=joined.weekday())
        n_weeks = max(1, math.ceil((now - week0).total_seconds() / (7 * 86400)))
        noise_drop_at = now - timedelta(days=rng.uniform(5, 30)) if rng.random() < 0.08 else None
        for _ in range(_poisson(rng, rate * n_weeks)):
            week = week0 + timedelta(days=7 * rng.randrange(n_weeks))
            if rng.random() < 0.4:
                at = local_time(zone, week, BEST_WEEKDAY, BEST_HOUR)
            else:
                at = local_time(zone, week, rng.randrange(7), rng.choices(range(24), HOUR_WEIGHTS)[0])
            if at < joined or at >= now:
                continue
            if (signal_from is not None and at >= signal_from) or (noise_drop_at and at >= noise_drop_at):
                if rng.random() > 0.15:  # the listening drop
                    continue
            if sub_end is not None and at >= sub_end and rng.random() > 0.3:
                continue
            track = viral if len(track_ids) == 1 or rng.random() < 0.2 else \
                track_ids[1 + rng.randrange(len(track_ids) - 1)]
            play(uid, track, at)
        # engagement with posts (members engage more; silence before a cancellation)
        lurker = rng.random() < 0.3  # a third of fans hardly ever comment or react, churning or not
        n_eng = _poisson(rng, (weeks / 4) * (1.5 if tier is not None else 0.3) * (0.1 if lurker else 1.0))
        for _ in range(n_eng):
            at = joined + timedelta(seconds=rng.uniform(0, (now - joined).total_seconds()))
            if signal_from is not None and at >= signal_from - timedelta(days=30):
                continue
            kind = "fan.commented" if rng.random() < 0.4 else "fan.reacted"
            event(kind, at, uid, ("content", rng.choice(track_ids)), {"synthetic": True})
        # shares: the viral track is shared by 10 % of fans, the others by 1 %
        for track in track_ids:
            share_p = 0.10 if track == viral else 0.01
            if rng.random() >= share_p:
                continue
            at = joined + timedelta(seconds=rng.uniform(0, (now - joined).total_seconds()))
            if at >= now - timedelta(hours=1):
                continue
            link_id = new_id()
            code = f"s{tag[:4]}{link_id.hex[:10]}"
            w.add(ShareLink, {"id": link_id, "code": code, "artist_id": artist_id,
                              "content_id": track, "user_id": uid, "created_at": at})
            event("analytics.shared", at, uid, ("content", track), {"code": code, "channel": "link"})
            clicks = rng.randint(3, 7) if track == viral else rng.randint(0, 2)
            convert = 0.7 if track == viral else 0.15
            for _ in range(clicks):
                click_at = at + timedelta(minutes=rng.uniform(1, 600))
                if click_at >= now:
                    continue
                if rng.random() < convert:  # a new fan arrives through the link
                    vzone = rng.choices(zone_names, zone_weights)[0]
                    visitor = make_fan(click_at - timedelta(minutes=1), vzone)
                    w.add(ShareClick, {"id": new_id(), "link_id": link_id, "artist_id": artist_id,
                                       "content_id": track, "visitor": f"u:{visitor}", "user_id": visitor,
                                       "clicked_at": click_at})
                    play(visitor, track, click_at + timedelta(minutes=rng.uniform(0.5, 30)))
                    if rng.random() < 0.5:
                        follow(visitor, click_at + timedelta(minutes=rng.uniform(1, 60)))
                else:
                    anon = "a:" + hashlib.sha256(f"{tag}-{link_id}-{ids.random()}".encode()).hexdigest()[:32]
                    w.add(ShareClick, {"id": new_id(), "link_id": link_id, "artist_id": artist_id,
                                       "content_id": track, "visitor": anon, "user_id": None, "clicked_at": click_at})
    w.flush()
    s.flush()
    return {"artist_id": str(artist_id), "now": now.isoformat(), "ltv": ltv,
            "best_slot": {"weekday": BEST_WEEKDAY, "hour": BEST_HOUR}, "viral_track_id": str(viral),
            "tracks": [str(t) for t in track_ids], "churn_labels": churn_labels, "fans": users_made,
            "events": n_events, "time_zones": zone_names}


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
