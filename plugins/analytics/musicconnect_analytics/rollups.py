"""Incremental rollups: one additive counter per artist x day x metric x dimension.

What this module offers the other analytics modules (read rollups, never raw events):

* ``series(platform, artist_id, metric, start_day, end_day, dimension="")`` -> ``{day: value}``;
  ``total(...)`` -> the sum over the days; ``by_dimension(...)`` -> ``{dimension: sum}``;
  ``before(platform, artist_id, metric, day, dimension="")`` -> the sum of every day before
  ``day`` (the base of a running total such as followers).
* ``series_many(...)`` / ``befores(...)``: the same for several metrics in one query.
* ``flush(platform)``: write this process's buffer now (every reader calls it first, so a
  process reads its own writes).
* ``rebuild(platform, artist_id=None)``: recompute everything from the ``domain_events`` table.
* ``define(id, title, definition, compute, unit=..., dimension=...)``: a ``Metric`` whose
  dimension and definition the analytics API shows (``DIMENSIONS``).
* ``keep_past(platform, artist_id, key, compute)``: a figure of past days computed once and kept
  (until an event dated a past day arrives); ``today(platform)``: the UTC day now.
* ``days_of(window)``: the UTC days ``[first, last]`` a ``MetricWindow`` covers.

**How it works.** ``on_event`` maps each domain event to increments ``(artist, day, metric,
dimension, +n)`` (the day is the event's UTC date). The high-volume stream (plays, completions,
follows, downloads, comments, reactions, shares) goes into an in-process buffer that merges
increments of the same key and is flushed about every second (``FLUSH_SECONDS``, by a one-shot
timer started when the buffer stops being empty), when it holds ``FLUSH_KEYS`` keys, before any
read, and at process exit. A flush is one transaction of ``INSERT .. ON CONFLICT DO UPDATE SET
value = value + excluded.value`` (SQLite and PostgreSQL), rows in key order so that two processes
never deadlock; there is no read-modify-write, so concurrent writers add up exactly.

Money and membership events (payments, refunds, subscriptions, entitlements) are few; they are
written at once in their own transaction (the subscription state that MRR movements need,
``analytics_subscriptions``, in the same transaction as their increments).

**Per-fan state, so that no metric reads one row per fan x day at request time.** The same flush
merges each fan's counted plays into ``analytics_fans`` (artist x fan: the latest play day and a
62-day bitmap of the days played, merged by one SQL expression, so out-of-order and concurrent
writes lose nothing): the active audience and the listener segments read one row per recently
active fan. Every payment or refund also moves its fan's cells of the ``cohort`` counters (day =
first-support month, dimension = a month paid in), under a per-fan advisory lock on PostgreSQL:
cohort retention reads a few rows per cohort. ``past_version`` tells readers (top fans) when a
figure of past days they keep may have changed.

**On a crash** the buffer (at most about a second of stream events) is lost: the events are safe
in ``domain_events`` (written with the change itself), only the counters lag.
``musicconnect analytics rebuild`` recomputes every counter from ``domain_events``: it deletes
the rollups (of one artist with ``--artist``), the subscription and per-fan state, then, day range by day
range (``CHUNK_DAYS``), aggregates the stream with ``GROUP BY`` in SQL and replays the money and
membership events in order through the same code as ``on_event``. It is idempotent (run it twice:
same figures). Run it when ingestion is quiet: events arriving during the rebuild's own seconds
may be counted twice or missed (run it again).
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (BigInteger, Boolean, Date, Index, Integer, String, case, cast, delete, func, literal, select,
                        text)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, Metric
from musicconnect.models import DomainEvent

log = logging.getLogger("musicconnect.analytics")

FLUSH_SECONDS = 1.0
FLUSH_KEYS = 20_000
CHUNK_DAYS = 31
NONE = ""  # the dimension of a metric's total
PLAY_BITS = 62  # days of play history per fan in ``analytics_fans.play_days``
PLAY_MASK = (1 << PLAY_BITS) - 1
EPOCH = date(1970, 1, 1)


# ---------------------------------------------------------------- tables

class Rollup(Base):
    """``value`` of ``metric`` for ``artist_id`` on UTC ``day``, per ``dimension`` ("" = total)."""

    __tablename__ = "analytics_rollups"
    artist_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_analytics_rollups_fan_months", "artist_id", "dimension", "day",
                            postgresql_where=text("metric = 'fan_paid_month'"),
                            sqlite_where=text("metric = 'fan_paid_month'")),)


class SubscriptionState(Base):
    """The monthly value (minor units) of one subscription as last seen, for MRR movements."""

    __tablename__ = "analytics_subscriptions"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    artist_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    tier: Mapped[str] = mapped_column(String(64))
    mrr: Mapped[int] = mapped_column(BigInteger)
    ever_active: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column()
    __table_args__ = (Index("ix_analytics_subscriptions_artist_user", "artist_id", "user_id"),)


class FanState(Base):
    """Per artist x fan state kept by the same flushes as the rollups, so that the audience metrics
    read one row per fan at most (never one per fan x day):

    * ``last_play``: the UTC day (days since 1970-01-01) of the fan's latest counted play;
    * ``play_days``: a bitmap of the days they played, bit ``i`` = day ``last_play - i``
      (``PLAY_BITS`` days: enough for the 28-day active audience and segments of any period
      ending up to ``PLAY_BITS - 28`` days before the latest play).
    """

    __tablename__ = "analytics_fans"
    artist_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_play: Mapped[int] = mapped_column(Integer)
    play_days: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_analytics_fans_artist_last", "artist_id", "last_play", "play_days"),)


class Meta(Base):
    __tablename__ = "analytics_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column()
    n: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # bumped by every stamp


# ---------------------------------------------------------------- metric definitions

#: metric id -> what its value is broken down by ("none" when it is one figure)
DIMENSIONS: dict[str, str] = {}


def define(id: str, title: str, definition: str, compute: Callable[..., Any], *, unit: str = "count",
           dimension: str = "none") -> Metric:
    DIMENSIONS[id] = dimension
    return Metric(id, title, definition, compute, unit=unit)


def days_of(window) -> tuple[date, date]:
    """The UTC days a window touches (rollups count whole days): the day of ``start`` to the
    day of ``end``, or the day before when ``end`` is exactly midnight."""
    start = window.start.astimezone(timezone.utc)
    end = window.end.astimezone(timezone.utc)
    if end > start and end.time() == datetime.min.time():
        end -= timedelta(microseconds=1)
    return start.date(), end.date()


# ---------------------------------------------------------------- the event -> increment rules

# the stream: (metric, dimension) per event type; "actor" / "subject" = that id as the dimension
STREAM: dict[str, tuple[tuple[str, str], ...]] = {
    "play.counted": (("plays", ""), ("plays", "subject"), ("fan_plays", "actor")),
    "play.completed": (("completions", ""),),
    "fan.followed": (("follows", ""),),
    "fan.unfollowed": (("unfollows", ""),),
    "track.downloaded": (("downloads", ""), ("downloads", "subject")),
    "fan.commented": (("engagements", ""), ("fan_engagements", "actor")),
    "fan.reacted": (("engagements", ""), ("fan_engagements", "actor")),
}
PLAY = "play.counted"  # the play that makes a fan active (the day bitmap of ``analytics_fans``)
SHARE_SUFFIX = ".shared"  # any plugin's "<id>.shared" event: a share of its subject
SHARE_RULES = (("shares", ""), ("shares", "subject"))
MONEY = frozenset({"payment.succeeded", "payment.refunded", "payment.disputed", "payment.failed",
                   "payment.subscription.created", "payment.subscription.updated",
                   "payment.subscription.cancelled", "payment.subscription.ended",
                   "entitlement.granted", "entitlement.updated", "entitlement.revoked"})
ENDED_STATUSES = frozenset({"canceled", "cancelled", "ended", "incomplete_expired", "unpaid"})


def _rules(type_: str) -> tuple[tuple[str, str], ...]:
    if type_ in STREAM:
        return STREAM[type_]
    if type_.endswith(SHARE_SUFFIX):
        return SHARE_RULES
    return ()


def _dim(kind: str, actor_id, subject_id) -> str | None:
    if kind == "":
        return NONE
    if kind == "actor":
        return str(actor_id) if actor_id else None
    return f"{subject_id}"[:80] if subject_id else None


def stream_increments(event) -> list[tuple[uuid.UUID, date, str, str, int]]:
    """The increments of a stream event (empty for any other)."""
    if event.artist_id is None:
        return []
    day = event.occurred_at.astimezone(timezone.utc).date()
    out = []
    for metric, kind in _rules(event.type):
        dim = _dim(kind, event.actor_id, event.subject_id)
        if dim is not None:
            out.append((event.artist_id, day, metric, dim, 1))
    return out


def _int(v: Any) -> int:
    try:
        return int(v or 0)
    except (TypeError, ValueError):
        return 0


def monthly(amount: int, interval: str | None) -> int:
    """A subscription's monthly value: a yearly price / 12 (rounded half up), a weekly one x 52 / 12."""
    if interval == "year":
        return (amount + 6) // 12
    if interval == "week":
        return (amount * 52 + 6) // 12
    return amount


def source_of(data: dict) -> str:
    """Where a payment came from: ``subscriptions``, ``downloads`` or ``other``."""
    src = data.get("source")
    if src in ("subscriptions", "downloads", "other"):
        return src
    if data.get("subscription"):
        return "subscriptions"
    if src == "download" or data.get("content_id") or data.get("download"):
        return "downloads"
    return "other"


def money_increments(session, event) -> list[tuple[uuid.UUID, date, str, str, int]]:
    """The increments of a money or membership event; updates the subscription state in
    ``session`` (the caller's transaction)."""
    if event.artist_id is None:
        return []
    a, day, data, t = event.artist_id, event.occurred_at.astimezone(timezone.utc).date(), dict(event.data or {}), event.type
    out: list[tuple[uuid.UUID, date, str, str, int]] = []

    def add(metric: str, value: int, dim: str = NONE, on: date | None = None) -> None:
        if value:
            out.append((a, on or day, metric, dim, value))

    if t == "payment.succeeded":
        gross = _int(data.get("amount"))
        pfee = _int(data.get("platform_fee"))
        prov = _int(data.get("provider_fee"))
        net = _int(data["artist_net"]) if "artist_net" in data else gross - pfee
        add("gross", gross)
        add("gross", gross, f"source:{source_of(data)}")
        add("platform_fee", pfee)
        add("provider_fee", prov)
        add("net", net - prov)
        add("payments", 1)
        if event.actor_id:
            add("fan_paid", gross, str(event.actor_id))
            add("fan_paid_month", gross, str(event.actor_id), day.replace(day=1))
    elif t in ("payment.refunded", "payment.disputed"):
        # the fees come back in proportion (rounded half up), as the billing ledger does
        amount = _int(data.get("amount"))
        original = _original_payment(session, event)
        odata = dict(original.data or {}) if original is not None else {}
        ogross = _int(odata.get("amount"))
        pfee_back = prov_back = 0
        if ogross:
            amount = min(amount, ogross)
            pfee_back = _share(_int(odata.get("platform_fee")), amount, ogross)
            prov_back = _share(_int(odata.get("provider_fee")), amount, ogross)
        add("refunds", amount)
        add("gross", -amount)
        add("gross", -amount, f"source:{source_of(odata or data)}")
        add("platform_fee", -pfee_back)
        add("provider_fee", -prov_back)
        add("net", -(amount - pfee_back - prov_back))
        if event.actor_id:
            add("fan_paid", -amount, str(event.actor_id))
            if original is not None:
                oday = original.occurred_at.astimezone(timezone.utc).date().replace(day=1)
                add("fan_paid_month", -amount, str(event.actor_id), oday)
    elif t == "payment.failed":
        add("failed_payments", 1)
    elif t.startswith("payment.subscription."):
        _subscription(session, event, data, add)
    elif t == "entitlement.granted":
        if data.get("status") != "ended":
            add("members", 1)
            add("members", 1, f"tier:{data.get('tier_id')}")
            add("new_members", 1)
    elif t == "entitlement.revoked":
        old_tier = ((data.get("changes") or {}).get("tier_id") or [data.get("tier_id")])[0]
        add("members", -1)
        add("members", -1, f"tier:{old_tier}")
        add("ended_members", 1)
    elif t == "entitlement.updated":
        change = (data.get("changes") or {}).get("tier_id")
        if change and len(change) == 2 and change[0] != change[1]:
            add("members", -1, f"tier:{change[0]}")
            add("members", 1, f"tier:{change[1]}")
    return out


def _original_payment(session, event):
    ref = (event.data or {}).get("payment")
    if not ref:
        return None
    return session.scalar(select(DomainEvent).where(
        DomainEvent.artist_id == event.artist_id, DomainEvent.type == "payment.succeeded",
        DomainEvent.subject_id == str(ref)[:64]).limit(1))


def _share(fee: int, amount: int, gross: int) -> int:
    return (2 * fee * amount + gross) // (2 * gross) if gross else 0


def _subscription(session, event, data, add) -> None:
    """MRR movements of one subscription fact, customer by customer (fan x artist)."""
    provider = str(data.get("provider") or "")
    ref = str(data.get("subscription") or event.subject_id or "")
    key = f"{provider}:{ref}"[:200]
    status = str(data.get("status") or "")
    ended = event.type == "payment.subscription.ended" or status in ENDED_STATUSES
    new_mrr = 0 if ended else monthly(_int(data.get("amount")), data.get("interval"))
    tier = str(data.get("tier_id") or data.get("paid_tier_id") or "none")[:64]
    dialect = session.get_bind().dialect.name
    q = select(SubscriptionState).where(SubscriptionState.key == key)
    row = session.scalar(q.with_for_update() if dialect == "postgresql" else q)
    user = event.actor_id
    others = select(func.coalesce(func.sum(SubscriptionState.mrr), 0)).where(
        SubscriptionState.artist_id == event.artist_id, SubscriptionState.user_id == user,
        SubscriptionState.key != key) if user else None
    other_mrr = _int(session.scalar(others)) if others is not None else 0
    had = bool(user) and session.scalar(select(func.count()).select_from(SubscriptionState).where(
        SubscriptionState.artist_id == event.artist_id, SubscriptionState.user_id == user,
        SubscriptionState.ever_active.is_(True))) > 0
    old_mrr, old_tier = (row.mrr, row.tier) if row is not None else (0, tier)
    if row is None:
        row = SubscriptionState(key=key, artist_id=event.artist_id, user_id=user, tier=tier, mrr=0,
                                ever_active=False, updated_at=event.occurred_at)
        session.add(row)
    before, after = other_mrr + old_mrr, other_mrr + new_mrr
    moved = after - before
    kind = None
    if before == 0 and after > 0:
        kind = "reactivation" if had else "new"
    elif before > 0 and after == 0:
        kind = "churn"
    elif moved > 0:
        kind = "expansion"
    elif moved < 0:
        kind = "contraction"
    # MRR per tier moves with the subscription; a movement is credited to the tier the fan
    # ends in (churn: the tier they left)
    if old_mrr:
        add("mrr", -old_mrr, f"tier:{old_tier}")
    if new_mrr:
        add("mrr", new_mrr, f"tier:{tier}")
    add("mrr", new_mrr - old_mrr)
    if kind is not None:
        credit = old_tier if kind == "churn" else tier
        add(f"mrr_{kind}", abs(moved))
        add(f"mrr_{kind}", abs(moved), f"tier:{credit}")
        if kind in ("new", "reactivation", "churn"):
            add(f"subs_{kind}", 1)
            add(f"subs_{kind}", 1, f"tier:{credit}")
    row.mrr, row.tier, row.updated_at = new_mrr, tier, event.occurred_at
    row.ever_active = row.ever_active or new_mrr > 0
    session.flush()


# ---------------------------------------------------------------- writing

def _merge(rows: Iterable[tuple[uuid.UUID, date, str, str, int]]) -> dict[tuple, int]:
    merged: dict[tuple, int] = {}
    for a, d, m, dim, v in rows:
        k = (a, d, m, dim)
        merged[k] = merged.get(k, 0) + v
    return merged


def upsert(session, merged: dict[tuple, int]) -> None:
    """Add ``{(artist, day, metric, dimension): n}`` to the rollups atomically, in key order."""
    if not merged:
        return
    table = Rollup.__table__
    dialect = session.get_bind().dialect.name
    ins = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    stmt = ins.on_conflict_do_update(index_elements=["artist_id", "metric", "day", "dimension"],
                                     set_={"value": table.c.value + ins.excluded.value})
    rows = [{"artist_id": a, "day": d, "metric": m, "dimension": dim, "value": v}
            for (a, d, m, dim), v in sorted(merged.items(), key=lambda kv: (str(kv[0][0]), kv[0][2], kv[0][1], kv[0][3]))
            if v]
    for i in range(0, len(rows), 5000):
        session.execute(stmt, rows[i:i + 5000])


def day_number(d: date) -> int:
    return (d - EPOCH).days


def _shift(bits, by):
    """``bits`` moved ``by`` days older, the days beyond ``PLAY_BITS`` dropped (SQL or Python)."""
    if isinstance(by, int):
        return (bits << by) & PLAY_MASK if by < PLAY_BITS else 0
    return case((by >= PLAY_BITS, 0), else_=bits.op("<<")(by).op("&")(literal(PLAY_MASK, BigInteger)))


def merge_days(old: tuple[int, int] | None, last: int, bits: int) -> tuple[int, int]:
    """Two (last day, day bitmap) pairs of one fan as one."""
    if old is None:
        return last, bits
    l0, b0 = old
    if last >= l0:
        return last, _shift(b0, last - l0) | bits
    return l0, b0 | _shift(bits, l0 - last)


def upsert_fans(session, fans: dict[tuple, tuple[int, int]]) -> None:
    """Merge ``{(artist, fan): (last day, day bitmap)}`` into ``analytics_fans`` atomically, in key
    order (the merge is one SQL expression: concurrent writers lose no day)."""
    if not fans:
        return
    t = FanState.__table__
    dialect = session.get_bind().dialect.name
    ins = pg_insert(t) if dialect == "postgresql" else sqlite_insert(t)
    ex = ins.excluded
    newer = ex.last_play >= t.c.last_play
    stmt = ins.on_conflict_do_update(index_elements=["artist_id", "user_id"], set_={
        "last_play": case((newer, ex.last_play), else_=t.c.last_play),
        "play_days": case((newer, _shift(t.c.play_days, ex.last_play - t.c.last_play).op("|")(ex.play_days)),
                          else_=t.c.play_days.op("|")(_shift(ex.play_days, t.c.last_play - ex.last_play)))})
    rows = [{"artist_id": a, "user_id": f, "last_play": last, "play_days": bits}
            for (a, f), (last, bits) in sorted(fans.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))]
    for i in range(0, len(rows), 5000):
        session.execute(stmt, rows[i:i + 5000])


def _stamp(session, key: str, at: datetime) -> None:
    table = Meta.__table__
    dialect = session.get_bind().dialect.name
    ins = (pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)).values(key=key, at=at, n=1)
    session.execute(ins.on_conflict_do_update(index_elements=["key"], set_={"at": ins.excluded.at,
                                                                            "n": table.c.n + 1}))


def _stamp_late(session, artists: Iterable, at: datetime) -> None:
    """Events dated a past day reached these artists' counters (:func:`past_version`)."""
    for a in sorted({str(a) for a in artists}):
        _stamp(session, f"late:{a}", at)


class _Buffer:
    def __init__(self, platform):
        self.platform = weakref.ref(platform)
        self.lock = threading.Lock()
        self.flush_lock = threading.Lock()
        self.data: dict[tuple, int] = {}
        self.fans: dict[tuple, tuple[int, int]] = {}
        self.timer: threading.Timer | None = None

    def add(self, incs, play: tuple | None = None) -> bool:
        with self.lock:
            for a, d, m, dim, v in incs:
                k = (a, d, m, dim)
                self.data[k] = self.data.get(k, 0) + v
            if play is not None:
                k, day = play
                old = self.fans.get(k)
                self.fans[k] = (day, 1) if old is None else merge_days(old, day, 1)
            if self.timer is None:
                self.timer = threading.Timer(FLUSH_SECONDS, self._tick)
                self.timer.daemon = True
                self.timer.start()
            return len(self.data) >= FLUSH_KEYS

    def _tick(self) -> None:
        with self.lock:
            self.timer = None
        platform = self.platform()
        if platform is not None:
            try:
                self.flush(platform)
            except Exception:  # the platform is gone or its database is down: kept for the next flush
                log.warning("analytics: rollup flush failed; kept for the next one", exc_info=True)

    def flush(self, platform) -> int:
        with self.flush_lock:  # one flush at a time per process: increments keep their order
            with self.lock:
                data, self.data = self.data, {}
                fans, self.fans = self.fans, {}
            if not data and not fans:
                return 0
            try:
                now = platform.clock.now()
                day = now.astimezone(timezone.utc).date()
                late = {k[0] for k in data if k[1] < day} | {k[0] for k, (last, _) in fans.items()
                                                            if last < day_number(day)}
                with platform.session() as s:
                    upsert(s, data)
                    upsert_fans(s, fans)
                    _stamp(s, "flushed", now)
                    _stamp_late(s, late, now)
            except Exception:
                with self.lock:
                    for k, v in data.items():
                        self.data[k] = self.data.get(k, 0) + v
                    for k, (last, bits) in fans.items():
                        self.fans[k] = merge_days(self.fans.get(k), last, bits)
                raise
            return len(data)


_buffers: "weakref.WeakKeyDictionary[Any, _Buffer]" = weakref.WeakKeyDictionary()
_buffers_lock = threading.Lock()


def _buffer(platform) -> _Buffer:
    buf = _buffers.get(platform)
    if buf is None:
        with _buffers_lock:
            buf = _buffers.get(platform)
            if buf is None:
                buf = _buffers[platform] = _Buffer(platform)
    return buf


def flush(platform) -> int:
    """Write this process's buffered increments now; returns how many keys were written."""
    buf = _buffers.get(platform)
    return buf.flush(platform) if buf is not None else 0


def on_shutdown(platform) -> None:
    """The process stops: write what the buffer holds (``atexit`` is the last resort)."""
    flush(platform)


@atexit.register
def _flush_all() -> None:  # pragma: no cover - process exit
    for platform, buf in list(_buffers.items()):
        try:
            buf.flush(platform)
        except Exception:
            log.warning("analytics: rollup flush at exit failed", exc_info=True)


def past_version(platform, artist_id) -> tuple:
    """Changes whenever an event dated before today reaches the artist's counters (in any process:
    stamped in the same transaction as the counters) and with every rebuild: a figure of past
    days kept under one version is still exact."""
    flush(platform)
    with platform.read() as s:
        return tuple(s.execute(select(Meta.key, Meta.n).where(
            Meta.key.in_([f"late:{artist_id}", "rebuilt"])).order_by(Meta.key)).all())


_kept: "weakref.WeakKeyDictionary[Any, OrderedDict]" = weakref.WeakKeyDictionary()
KEEP_SECONDS = 86_400.0
KEEP_ENTRIES = 64
#: at most this many items (per-fan sums and the like) kept in all, whatever the entries: one
#: artist with 100,000 fans asking with 64 different ``end`` or ``days`` would otherwise keep 64
#: per-fan maps (about a gigabyte); the oldest entries go first
KEEP_ITEMS = 400_000


def _weight(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + 1
    if isinstance(value, (tuple, list)):
        return sum(_weight(v) for v in value) + 1 if any(isinstance(v, (dict, tuple, list)) for v in value) \
            else len(value) + 1
    return 1


def keep_past(platform, artist_id, key: tuple, compute: Callable[[], Any]) -> Any:
    """``compute()`` once for a figure of past days only (``key`` says which), kept in this process
    until an event dated a past day reaches the artist in any process (:func:`past_version`); the
    ``KEEP_ENTRIES`` latest figures, a day at most."""
    version = past_version(platform, artist_id)
    full = (artist_id, *key)
    with _buffers_lock:
        cache = _kept.setdefault(platform, OrderedDict())
        hit = cache.get(full)
    if hit is not None and hit[0] > time.monotonic() and hit[1] == version:
        return hit[2]
    value = compute()
    weight = _weight(value)
    with _buffers_lock:
        cache[full] = (time.monotonic() + KEEP_SECONDS, version, value, weight)
        cache.move_to_end(full)
        total = sum(e[3] for e in cache.values())
        while len(cache) > KEEP_ENTRIES or (total > KEEP_ITEMS and len(cache) > 1):
            total -= cache.popitem(last=False)[1][3]
        if total > KEEP_ITEMS:  # one figure larger than the whole budget: not kept
            cache.clear()
    return value


def today(platform) -> date:
    return platform.clock.now().astimezone(timezone.utc).date()


def on_event(platform, event) -> None:
    """Every domain event after its commit: stream events into the buffer, money and
    membership events written at once."""
    if event.artist_id is None:
        return
    if event.type in MONEY:
        with platform.session() as s:
            _money(s, event)
            now = platform.clock.now()
            if event.occurred_at.astimezone(timezone.utc).date() < now.astimezone(timezone.utc).date():
                _stamp_late(s, [event.artist_id], now)
        return
    incs = stream_increments(event)
    if not incs:
        return
    play = None
    if event.type == PLAY and event.actor_id:
        play = ((event.artist_id, event.actor_id), day_number(incs[0][1]))
    if _buffer(platform).add(incs, play):
        flush(platform)


def _money(session, event) -> None:
    """A money or membership event, live: its increments, and the cohort counters of its fan
    (``cohort``: day = first-support month, dimension = a month they paid in; one per fan)."""
    fan = event.actor_id if event.type in ("payment.succeeded", "payment.refunded", "payment.disputed") else None
    months_before: dict[date, int] = {}
    if fan is not None:
        if session.get_bind().dialect.name == "postgresql":  # one payment of a fan at a time
            session.execute(text("select pg_advisory_xact_lock(hashtextextended(:k, 15))"),
                            {"k": f"analytics:{event.artist_id}:{fan}"})
        months_before = _fan_months(session, event.artist_id, str(fan))
    incs = money_increments(session, event)
    upsert(session, _merge(incs))
    if fan is not None:
        after = dict(months_before)
        for _a, d, m, dim, v in incs:
            if m == "fan_paid_month" and dim == str(fan):
                after[d] = after.get(d, 0) + v
        diff: dict[tuple, int] = {}
        for months, sign in ((months_before, -1), (after, 1)):
            for d, m in _cohort_cells(months):
                key = (event.artist_id, d, "cohort", m)
                diff[key] = diff.get(key, 0) + sign
        upsert(session, {k: v for k, v in diff.items() if v})


def _fan_months(session, artist_id, fan: str) -> dict[date, int]:
    return {as_date(d): int(v) for d, v in session.execute(select(Rollup.day, Rollup.value).where(
        Rollup.artist_id == artist_id, Rollup.metric == "fan_paid_month", Rollup.dimension == fan))}


def _cohort_cells(months: dict[date, int]) -> list[tuple[date, str]]:
    """A fan's cells of the cohort table: (first month paid, each month paid)."""
    paid = sorted(d for d, v in months.items() if v > 0)
    return [(paid[0], d.isoformat()) for d in paid] if paid else []


# ---------------------------------------------------------------- reading

def _where(artist_id, metric, start: date | None, end: date | None, dimension: str | None):
    cond = [Rollup.artist_id == artist_id, Rollup.metric == metric]
    if start is not None:
        cond.append(Rollup.day >= start)
    if end is not None:
        cond.append(Rollup.day <= end)
    if dimension is not None:
        cond.append(Rollup.dimension == dimension)
    return cond


def series(platform, artist_id, metric: str, start: date, end: date, dimension: str = NONE) -> dict[date, int]:
    flush(platform)
    with platform.read() as s:
        return {d: int(v) for d, v in s.execute(select(Rollup.day, Rollup.value).where(
            *_where(artist_id, metric, start, end, dimension)))}


def total(platform, artist_id, metric: str, start: date | None, end: date | None, dimension: str = NONE) -> int:
    flush(platform)
    with platform.read() as s:
        return int(s.scalar(select(func.coalesce(func.sum(Rollup.value), 0)).where(
            *_where(artist_id, metric, start, end, dimension))) or 0)


def series_many(platform, artist_id, metrics: Iterable[str], start: date, end: date,
                dimension: str = NONE) -> dict[str, dict[date, int]]:
    """``{metric: {day: value}}`` of several metrics in one query."""
    metrics = list(metrics)
    flush(platform)
    out: dict[str, dict[date, int]] = {m: {} for m in metrics}
    with platform.read() as s:
        for m, d, v in s.execute(select(Rollup.metric, Rollup.day, Rollup.value).where(
                Rollup.artist_id == artist_id, Rollup.metric.in_(metrics), Rollup.day >= start, Rollup.day <= end,
                Rollup.dimension == dimension)):
            out[m][as_date(d)] = int(v)
    return out


def befores(platform, artist_id, metrics: Iterable[str], day: date, dimension: str = NONE) -> dict[str, int]:
    """``{metric: sum of every day before day}`` of several metrics in one query."""
    metrics = list(metrics)
    flush(platform)
    with platform.read() as s:
        found = dict(s.execute(select(Rollup.metric, func.sum(Rollup.value)).where(
            Rollup.artist_id == artist_id, Rollup.metric.in_(metrics), Rollup.day < day,
            Rollup.dimension == dimension).group_by(Rollup.metric)).all())
    return {m: int(found.get(m) or 0) for m in metrics}


def before(platform, artist_id, metric: str, day: date, dimension: str = NONE) -> int:
    return total(platform, artist_id, metric, None, day - timedelta(days=1), dimension)


def by_dimension(platform, artist_id, metric: str, start: date | None, end: date | None,
                 prefix: str = "") -> dict[str, int]:
    """``{dimension: sum}`` over the days, the total ("") left out; only dimensions starting with
    ``prefix`` (which is cut off)."""
    flush(platform)
    cond = _where(artist_id, metric, start, end, None) + [Rollup.dimension != NONE]
    if prefix:
        cond.append(Rollup.dimension.startswith(prefix, autoescape=True))
    with platform.read() as s:
        rows = s.execute(select(Rollup.dimension, func.sum(Rollup.value)).where(*cond).group_by(Rollup.dimension))
        return {d[len(prefix):]: int(v) for d, v in rows}


def freshness(platform) -> dict[str, Any]:
    """When the rollups were last flushed and rebuilt, and the newest event (``status``)."""
    flush(platform)
    with platform.read() as s:
        stamps = {k: at for k, at in s.execute(select(Meta.key, Meta.at))}
        newest = s.scalar(select(func.max(DomainEvent.occurred_at)))
        rows = s.scalar(select(func.count()).select_from(Rollup))
    return {"last_flush": stamps.get("flushed"), "last_rebuild": stamps.get("rebuilt"), "newest_event": newest,
            "rollup_rows": int(rows or 0)}


# ---------------------------------------------------------------- rebuild

@dataclass
class RebuildResult:
    events: int
    rows: int
    chunks: int


def _day_expr(dialect: str):
    if dialect == "postgresql":
        return cast(func.timezone("UTC", DomainEvent.occurred_at), Date)
    return func.date(DomainEvent.occurred_at)


def as_date(v) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def rebuild(platform, artist_id: uuid.UUID | None = None) -> RebuildResult:
    """Recompute the rollups (of one artist, or all) from ``domain_events``; idempotent."""
    flush(platform)
    with platform.session() as s:
        cond = [DomainEvent.artist_id.is_not(None)] + ([DomainEvent.artist_id == artist_id] if artist_id else [])
        first, last = s.execute(select(func.min(DomainEvent.occurred_at), func.max(DomainEvent.occurred_at))
                                .where(*cond)).one()
        s.execute(delete(Rollup).where(*([Rollup.artist_id == artist_id] if artist_id else [])))
        s.execute(delete(SubscriptionState).where(
            *([SubscriptionState.artist_id == artist_id] if artist_id else [])))
        s.execute(delete(FanState).where(*([FanState.artist_id == artist_id] if artist_id else [])))
    events = rows = chunks = 0
    if first is not None:
        day = first.astimezone(timezone.utc).date()
        end_day = last.astimezone(timezone.utc).date()
        while day <= end_day:
            stop = min(day + timedelta(days=CHUNK_DAYS), end_day + timedelta(days=1))
            lo = datetime.combine(day, datetime.min.time(), timezone.utc)
            hi = datetime.combine(stop, datetime.min.time(), timezone.utc)
            n, r = _rebuild_chunk(platform, artist_id, lo, hi)
            events, rows, chunks = events + n, rows + r, chunks + 1
            day = stop
    with platform.session() as s:
        rows += _rebuild_cohorts(s, artist_id)
        _stamp(s, "rebuilt", platform.clock.now())
    return RebuildResult(events=events, rows=rows, chunks=chunks)


def _rebuild_cohorts(s, artist_id) -> int:
    """The cohort counters set-wise from the rebuilt ``fan_paid_month`` rollups (live: :func:`_money`)."""
    paid = [Rollup.metric == "fan_paid_month", Rollup.dimension != NONE, Rollup.value > 0]
    if artist_id:
        paid.append(Rollup.artist_id == artist_id)
    firsts = (select(Rollup.artist_id.label("a"), Rollup.dimension.label("fan"), func.min(Rollup.day).label("first"))
              .where(*paid).group_by(Rollup.artist_id, Rollup.dimension).subquery())
    q = (select(Rollup.artist_id, firsts.c.first, Rollup.day, func.count())
         .join(firsts, (firsts.c.a == Rollup.artist_id) & (firsts.c.fan == Rollup.dimension))
         .where(*paid).group_by(Rollup.artist_id, firsts.c.first, Rollup.day))
    cells = {(a, as_date(first), "cohort", as_date(day).isoformat()): int(n) for a, first, day, n in s.execute(q)}
    upsert(s, cells)
    return len(cells)


def _rebuild_chunk(platform, artist_id, lo: datetime, hi: datetime) -> tuple[int, int]:
    with platform.session() as s:
        dialect = s.get_bind().dialect.name
        day = _day_expr(dialect).label("day")
        cond = [DomainEvent.artist_id.is_not(None), DomainEvent.occurred_at >= lo, DomainEvent.occurred_at < hi]
        if artist_id:
            cond.append(DomainEvent.artist_id == artist_id)
        merged: dict[tuple, int] = {}
        fans: dict[tuple, tuple[int, int]] = {}
        n = 0
        # the stream, set-wise: one GROUP BY per dimension kind
        stream_types = list(STREAM)
        is_share = DomainEvent.type.like(f"%{SHARE_SUFFIX}")
        type_key = case((is_share, SHARE_SUFFIX), else_=DomainEvent.type)
        for kind, column in (("", None), ("actor", DomainEvent.actor_id), ("subject", DomainEvent.subject_id)):
            cols = [DomainEvent.artist_id, type_key.label("t"), day] + ([column] if column is not None else [])
            q = (select(*cols, func.count()).where(*cond, DomainEvent.type.in_(stream_types) | is_share)
                 .group_by(*cols))
            if column is not None:
                q = q.where(column.is_not(None))
            for row in s.execute(q):
                a, t, d = row[0], row[1], as_date(row[2])
                ident = row[3] if column is not None else None
                count = int(row[-1])
                if kind == "":
                    n += count
                elif kind == "actor" and t == PLAY:
                    k = (a, ident if isinstance(ident, uuid.UUID) else uuid.UUID(str(ident)))
                    fans[k] = merge_days(fans.get(k), day_number(d), 1)
                rules = SHARE_RULES if t == SHARE_SUFFIX else STREAM[t]
                for metric, k in rules:
                    if k != kind:
                        continue
                    dim = _dim(k, ident, ident)
                    if dim is not None:
                        key = (a, d, metric, dim)
                        merged[key] = merged.get(key, 0) + count
        upsert(s, merged)
        upsert_fans(s, fans)
        rows = len(merged)
    # money and membership, replayed in order (stateful), in the same code as on_event
    with platform.session() as s:
        # events of the same instant (a frozen clock, one transaction) in their natural order
        rank = case({"payment.subscription.created": 0, "entitlement.granted": 0, "payment.subscription.updated": 1,
                     "entitlement.updated": 1, "payment.subscription.cancelled": 2,
                     "payment.subscription.ended": 3, "entitlement.revoked": 3}, value=DomainEvent.type, else_=1)
        q = (select(DomainEvent).where(*cond, DomainEvent.type.in_(sorted(MONEY)))
             .order_by(DomainEvent.occurred_at, rank, DomainEvent.id))
        money: dict[tuple, int] = {}
        for ev in s.scalars(q).all():
            n += 1
            for a, d, m, dim, v in money_increments(s, ev):
                money[(a, d, m, dim)] = money.get((a, d, m, dim), 0) + v
        upsert(s, money)
        rows += len(money)
    return n, rows
