"""Abuse detection: play farming, message spam, sign-up bursts (``screen_activity``).

Every rule is a sliding window on the platform clock, kept in this process's memory, or in Redis
when ``MC_REDIS_URL`` is set (one Lua script per act: trim, add, read; atomic, shared by every API
process). :func:`screen` answers from those windows only (no database query on the hot path,
except the quarantine list re-read at most every ``abuse_quarantine_refresh_seconds``).

Plays (``play.counted``): a play of a quarantined account, of an account over its plays per hour,
listening faster than the wall clock (overlapping sessions: more listened seconds than
``abuse_listen_ratio`` x the time they span), from an address where too many accounts play the
same artist, or from an address over its plays per hour is **flagged**: the caller stores it and
does not count it (no ``play.counted`` event, so analytics and milestones never see it) and emits
``play.flagged``; this module then records the flag (:class:`AbuseFlag`), files an ``abuse``
case for the account with the evidence (deduplicated while open) and quarantines the account:
its plays are not counted until a moderator decides ``clear`` (counters reset) or ``confirm``
(stays quarantined).

Messages (``dm.sent``, ``chat.sent``, ``comment.created``): bursts per account, the same text to
many recipients, links flood → ``limit`` (the caller answers 429 ``activity-limited`` with
Retry-After) and an ``abuse`` case. Sign-ups (``account.created``): too many per address per
hour or day → ``limit`` (429 ``signup-limited``).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from datetime import datetime
from functools import lru_cache

from pydantic import Field
from sqlalchemy import ForeignKey, Index, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Base, PluginSettings, uuid_pk
from musicconnect.contracts import Screening
from musicconnect.db import JSONType

from . import cases

log = logging.getLogger(__name__)

KIND = "abuse"
MESSAGE_KINDS = ("dm.sent", "chat.sent", "comment.created")
_LINK = re.compile(r"https?://|www\.", re.I)


class AbuseSettings(PluginSettings):
    abuse_account_plays_per_hour: int = Field(
        default=120, ge=1, description="counted plays per account per hour (a play counts after 30 s: 120 is the most "
                                       "one person can do by skipping every track at 30 s)")
    abuse_listen_ratio: float = Field(
        default=1.1, ge=1.0, description="listened seconds of an account's counted plays per hour may exceed the wall-clock "
                                         "time they span by this factor (overlapping sessions)")
    abuse_listen_grace_seconds: float = Field(default=60.0, ge=0, description="slack on the listening-rate rule")
    abuse_address_accounts_per_artist: int = Field(
        default=25, ge=1, description="distinct accounts from one address playing one artist per hour; the plays of "
                                      "accounts beyond these are not counted (a shared address: NAT, campus, carrier)")
    abuse_address_plays_per_hour: int = Field(
        default=3000, ge=1, description="counted plays per client address per hour; plays beyond are not counted "
                                        "(a campus or carrier-grade NAT: hundreds of listeners on one address)")
    abuse_quarantine: bool = Field(default=True, description="a flagged account is quarantined until a moderator decides")
    abuse_messages_per_minute: int = Field(default=10, ge=1, description="DMs, chat lines and comments per account per minute")
    abuse_same_text_recipients: int = Field(
        default=5, ge=1, description="recipients of the same text from one account per hour")
    abuse_links_per_10_minutes: int = Field(default=5, ge=1, description="messages with links per account per 10 minutes")
    abuse_signups_per_address_hour: int = Field(default=10, ge=1, description="sign-ups per client address per hour")
    abuse_signups_per_address_day: int = Field(default=30, ge=1, description="sign-ups per client address per day")
    abuse_quarantine_refresh_seconds: float = Field(
        default=10.0, ge=0, description="how often a process re-reads the quarantine list")


SETTINGS = (AbuseSettings,)


class AbuseFlag(Base):
    """One flagged act (a play stored but not counted, a refused message or sign-up)."""

    __tablename__ = "moderation_abuse_flags"
    __table_args__ = (Index("ix_moderation_abuse_flags_user", "user_id", "at"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(48))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=True)
    #: what was flagged: the listening session of a play, ...
    subject_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("moderation_cases.id", ondelete="SET NULL"),
                                                      nullable=True)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)


class Quarantine(Base):
    """An account whose plays are not counted until a moderator decides its case."""

    __tablename__ = "moderation_abuse_quarantine"
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    since: Mapped[datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(String(48))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("moderation_cases.id", ondelete="SET NULL"),
                                                      nullable=True)


# --------------------------------------------------------------------------- windows

#: a window is kept as this many fixed buckets (an hour: 60 one-minute buckets): a count covers the
#: current bucket and the 59 before it, so it is O(1) per act instead of a scan of every act
BUCKETS = 60
_INF = float("inf")


class _Ring:
    """Fixed-bucket counts of one window (sparse: only the buckets with acts, oldest first)."""

    __slots__ = ("width", "counts", "lows", "total", "last")

    def __init__(self, width: float, lows: bool = False):
        self.width = width
        self.counts: dict[int, float] = {}
        self.lows: dict[int, float] | None = {} if lows else None
        self.total = 0.0
        self.last = -1

    def hit(self, now: float, cost: float, score: float | None) -> float:
        b = int(now // self.width)
        counts = self.counts
        if b > self.last:
            self.last = b
            floor = b - BUCKETS
            while counts:
                k = next(iter(counts))
                if k > floor:
                    break
                self.total -= counts.pop(k)
                if self.lows is not None:
                    self.lows.pop(k, None)
            if not counts:
                self.total = 0.0
        else:  # the clock went back (another process's clock): count it in the newest bucket
            b = self.last
        if cost:
            counts[b] = counts.get(b, 0.0) + cost
            self.total += cost
            if self.lows is not None and score is not None and score < self.lows.get(b, _INF):
                self.lows[b] = score
        return self.total

    def oldest(self, now: float) -> float:
        return min(now, *self.lows.values()) if self.lows else now

    def retry_after(self, now: float) -> float:
        """Seconds until the oldest bucket leaves the window (the count drops)."""
        first = next(iter(self.counts), self.last)
        return (first + BUCKETS) * self.width - now


class _Distinct:
    """The distinct members seen in a window, least recently seen first (admission order kept for
    the members admitted while under the limit)."""

    __slots__ = ("seen",)

    def __init__(self):
        self.seen: OrderedDict[str, float] = OrderedDict()

    def admit(self, member: str, now: float, window: float, limit: int) -> tuple[bool, int]:
        seen = self.seen
        while seen:
            k, at = next(iter(seen.items()))
            if at >= now - window:
                break
            del seen[k]
        if member in seen:
            seen[member] = now
            seen.move_to_end(member)
            return True, len(seen)
        if len(seen) < limit:
            seen[member] = now
            return True, len(seen)
        return False, len(seen) + 1


#: one window in Redis: a hash of fixed buckets (``c<bucket>``: the acts' cost summed, ``l<bucket>``:
#: the lowest score), BUCKETS of them at most: trim, add, read are O(BUCKETS) per act, whatever the
#: number of acts (a flooding address costs no more than a quiet one)
_LUA_COUNT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local score = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local width = win / n
local b = math.floor(now / width)
local floor = b - n
if cost ~= 0 then
  local cb = 'c' .. string.format('%d', b)
  local lb = 'l' .. string.format('%d', b)
  redis.call('HINCRBYFLOAT', key, cb, cost)
  local low = redis.call('HGET', key, lb)
  if (not low) or score < tonumber(low) then
    redis.call('HSET', key, lb, tostring(score))
  end
  redis.call('EXPIRE', key, math.ceil(win) + 60)
end
local all = redis.call('HGETALL', key)
local total = 0
local oldest = now
local first = nil
for i = 1, #all, 2 do
  local f = all[i]
  local kb = tonumber(string.sub(f, 2))
  if kb <= floor then
    redis.call('HDEL', key, f)
  elseif string.sub(f, 1, 1) == 'c' then
    total = total + tonumber(all[i + 1])
    if first == nil or kb < first then first = kb end
  else
    local sc = tonumber(all[i + 1])
    if sc < oldest then oldest = sc end
  end
end
local retry = 0
if first ~= nil then retry = (first + n) * width - now end
return {tostring(total), tostring(oldest), tostring(retry)}
"""

_LUA_ADMIT = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local limit = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. tostring(now - win))
redis.call('EXPIRE', key, math.ceil(win) + 60)
local n = redis.call('ZCARD', key)
if redis.call('ZSCORE', key, ARGV[3]) or n < limit then
  redis.call('ZADD', key, now, ARGV[3])
  return {1, redis.call('ZCARD', key)}
end
return {0, n + 1}
"""


class Windows:
    """The rules' windows, in this process's memory (fixed buckets, O(1) per act) or in Redis
    (fixed buckets in a hash for counts, a sorted set bounded by the limit for distinct members;
    one Lua script per act: trim, add, read; atomic, shared by every API process)."""

    def __init__(self, redis_url: str | None = None, prefix: str = "mc:abuse:"):
        self.prefix = prefix
        self.lock = threading.Lock()
        self.rings: dict[str, _Ring] = {}
        self.sets: dict[str, _Distinct] = {}
        self.marks: OrderedDict[str, float] = OrderedDict()
        self.swept = 0.0
        self.redis = None
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url)
            self.count_script = self.redis.register_script(_LUA_COUNT)
            self.admit_script = self.redis.register_script(_LUA_ADMIT)

    def count(self, key: str, now: float, window: float, *, cost: float = 1.0, score: float | None = None,
              oldest: bool = False) -> tuple[float, float, float]:
        """Count one act (``cost``: 0 to only read) → ``(total in the window, oldest score, seconds
        until the total drops)``; ``score`` (default ``now``) is what :attr:`oldest` reports."""
        if self.redis is not None:
            total, first, retry = self.count_script(
                keys=[self.prefix + key], args=[repr(now), repr(window), repr(float(cost)),
                                                repr(now if score is None else score), BUCKETS])
            return float(total), float(first), max(0.0, float(retry))
        with self.lock:
            ring = self.rings.get(key)
            if ring is None:
                if not cost:
                    return 0.0, now, 0.0
                if now - self.swept > 600:
                    self._sweep(now)
                ring = self.rings[key] = _Ring(window / BUCKETS, lows=oldest)
            total = ring.hit(now, cost, now if score is None else score)
            return total, ring.oldest(now) if oldest else now, ring.retry_after(now)

    def admit(self, key: str, member: str, now: float, window: float, limit: int) -> tuple[bool, int]:
        """``member`` counts among the first ``limit`` distinct members of the window (or is
        already one of them) → ``(admitted, distinct members including this one)``."""
        if self.redis is not None:
            ok, n = self.admit_script(keys=[self.prefix + key], args=[now, window, member, limit])
            return bool(ok), int(n)
        with self.lock:
            d = self.sets.get(key)
            if d is None:
                d = self.sets[key] = _Distinct()
            return d.admit(member, now, window, limit)

    def marked(self, key: str, now: float) -> bool:
        if self.redis is not None:  # the mark holds its end on the platform clock
            until = self.redis.get(self.prefix + "mark:" + key)
            return until is not None and float(until) > now
        at = self.marks.get(key)
        return at is not None and at > now

    def mark(self, key: str, now: float, ttl: float) -> None:
        if self.redis is not None:
            self.redis.set(self.prefix + "mark:" + key, repr(now + ttl), ex=max(1, int(ttl)) + 60)
            return
        with self.lock:
            marks = self.marks
            while marks:
                k, until = next(iter(marks.items()))
                if until > now:
                    break
                del marks[k]
            marks[key] = now + ttl

    def _sweep(self, now: float) -> None:
        """Drop the windows nothing happened in for longer than they span (memory stays bounded)."""
        self.swept = now
        for k in [k for k, r in self.rings.items() if (r.last + BUCKETS) * r.width < now]:
            del self.rings[k]
        for k in [k for k, d in self.sets.items() if not d.seen or next(reversed(d.seen.values())) < now - 86400]:
            del self.sets[k]

    def clear(self, *prefixes: str) -> None:
        if self.redis is not None:
            for p in prefixes:
                for k in self.redis.scan_iter(match=self.prefix + p + "*", count=500):
                    self.redis.delete(k)
            return
        with self.lock:
            for store in (self.rings, self.sets):
                for k in [k for k in store if k.startswith(prefixes)]:
                    del store[k]


class State:
    """The per-platform state of the rules: the windows, the quarantine list, the settings."""

    def __init__(self, platform):
        self.windows = Windows(platform.settings.redis_url)
        #: the key of the pseudonyms (:func:`_h`), read once
        self.key = platform.settings.signing_key()
        self.quarantined: set[str] = set()
        self.loaded_at = float("-inf")
        self.lock = threading.Lock()

    def is_quarantined(self, platform, settings, user_id: str) -> bool:
        if time.monotonic() - self.loaded_at > settings.abuse_quarantine_refresh_seconds:
            with self.lock:
                if time.monotonic() - self.loaded_at > settings.abuse_quarantine_refresh_seconds:
                    with platform.read() as s:
                        self.quarantined = {str(u) for u in s.scalars(select(Quarantine.user_id))}
                    self.loaded_at = time.monotonic()
        return user_id in self.quarantined


_STATES_LOCK = threading.Lock()


def state(platform) -> State:
    st = platform.__dict__.get("_mc_abuse_state")
    if st is None:
        with _STATES_LOCK:
            st = platform.__dict__.get("_mc_abuse_state")
            if st is None:
                st = platform.__dict__["_mc_abuse_state"] = State(platform)
    return st


def _h(platform, value: str) -> str:
    """A pseudonym of a client address or a text: HMAC-SHA256 keyed by the platform's signing key
    (a bare hash of an IPv4 address is reversed by hashing all 2^32 of them)."""
    return _hmac(state(platform).key, value)


@lru_cache(maxsize=65536)
def _hmac(key: bytes, value: str) -> str:
    return hmac.new(key, b"mc-abuse\x00" + value.encode(), hashlib.sha256).hexdigest()[:24]


# --------------------------------------------------------------------------- the screen

def screen(platform, kind: str, actor_id, context: dict) -> Screening | None:
    """The ``screen_activity`` hook: the rules' verdict on one act (``None``: nothing to say)."""
    if kind == "play.counted":
        return _screen_play(platform, actor_id, context)
    if kind in MESSAGE_KINDS and actor_id is not None:
        return _screen_message(platform, kind, actor_id, context)
    if kind == "account.created":
        return _screen_signup(platform, context)
    return None


def _settings(platform) -> AbuseSettings:
    return platform.plugin_settings("moderation")


#: rules whose evidence is the account's own behaviour (they may quarantine it); the others are
#: about an address many people may share (a NAT, a campus, a mobile carrier): they only flag the
#: plays beyond their threshold and file a case about the address
ACCOUNT_RULES = frozenset({"play-rate", "impossible-listening"})


def _screen_play(platform, actor_id, ctx) -> Screening | None:
    cfg = _settings(platform)
    st = state(platform)
    w = st.windows
    now = platform.clock.now().timestamp()
    account = str(actor_id) if actor_id is not None else None
    address = _h(platform, str(ctx.get("address") or "unknown"))
    artist = ctx.get("artist_id")
    session = str(ctx.get("session_id") or "")
    if session and w.marked(session, now):  # a flagged session reported again: the same answer, nothing counted twice
        return Screening("flag", "flagged-session", "this listening session was flagged", 1.0, {"session_id": session})
    verdicts: list[Screening] = []
    if account is not None:
        if st.is_quarantined(platform, cfg, account):
            if session:
                w.mark(session, now, 3600)
            return Screening("flag", "quarantined", "the account is quarantined until a moderator decides", 1.0,
                             {"account": account})
        n, _o, _r = w.count("acct-plays:" + account, now, 3600)
        if n > cfg.abuse_account_plays_per_hour:
            verdicts.append(Screening("flag", "play-rate", f"{n:.0f} counted plays in an hour from one account", 0.9,
                                      {"plays_per_hour": int(n), "limit": cfg.abuse_account_plays_per_hour}))
        listened = max(0.0, float(ctx.get("seconds") or 0))
        elapsed = ctx.get("elapsed")
        cost = min(listened, float(elapsed)) if elapsed is not None else listened
        total, oldest, _r = w.count("acct-listen:" + account, now, 3600, cost=cost, score=now - cost, oldest=True)
        span = max(now - oldest, cost)
        if total > cfg.abuse_listen_ratio * span + cfg.abuse_listen_grace_seconds:
            verdicts.append(Screening("flag", "impossible-listening",
                                      f"{total:.0f} s listened within {span:.0f} s of wall-clock time", 0.95,
                                      {"listened_seconds": round(total, 1), "wall_clock_seconds": round(span, 1)}))
        if artist:
            limit = cfg.abuse_address_accounts_per_artist
            ok, accounts = w.admit(f"addr-artist:{address}:{artist}", account, now, 3600, limit)
            if not ok:
                verdicts.append(Screening("flag", "address-farm",
                                          f"{accounts} accounts from one address played this artist within an hour",
                                          0.9, {"accounts": accounts, "address": address, "artist_id": str(artist),
                                                "limit": limit}))
    n, _o, _r = w.count("addr-plays:" + address, now, 3600)
    if n > cfg.abuse_address_plays_per_hour:
        verdicts.append(Screening("flag", "address-rate", f"{n:.0f} counted plays in an hour from one address", 0.8,
                                  {"plays_per_hour": int(n), "address": address,
                                   "limit": cfg.abuse_address_plays_per_hour}))
    if not verdicts:
        return None
    if session:
        w.mark(session, now, 3600)
    own = [v for v in verdicts if v.reason in ACCOUNT_RULES]
    worst = max(own or verdicts, key=lambda v: v.score or 0)
    return Screening("flag", worst.reason, worst.detail, worst.score,
                     {**worst.data, "rules": [v.reason for v in verdicts], "address": address,
                      "evidence": "account" if own else "address",
                      "quarantine": bool(cfg.abuse_quarantine and account and own)})


def _screen_message(platform, kind, actor_id, ctx) -> Screening | None:
    cfg = _settings(platform)
    w = state(platform).windows
    now = platform.clock.now().timestamp()
    account = str(actor_id)
    text = " ".join(str(ctx.get("text") or "").lower().split())
    recipient = str(ctx.get("recipient") or ctx.get("artist_id") or ctx.get("room") or "")
    out: Screening | None = None
    n, _o, retry = w.count("msg:" + account, now, 60)
    if n > cfg.abuse_messages_per_minute:
        out = Screening("limit", "message-burst", f"{n:.0f} messages within a minute", 0.8,
                        {"retry_after": max(1, int(retry + 0.999)), "messages_per_minute": int(n)})
    if text and recipient:
        ok, r = w.admit(f"text:{account}:{_h(platform, text)}", recipient, now, 3600, cfg.abuse_same_text_recipients)
        if not ok and out is None:
            out = Screening("limit", "repeated-text", f"the same text to {r} recipients within an hour", 0.9,
                            {"retry_after": 3600, "recipients": r})
    if text and _LINK.search(text):
        k, _o, retry_l = w.count("links:" + account, now, 600)
        if k > cfg.abuse_links_per_10_minutes and out is None:
            out = Screening("limit", "link-flood", f"{k:.0f} messages with links within 10 minutes", 0.85,
                            {"retry_after": max(1, int(retry_l + 0.999)), "messages_with_links": int(k)})
    if out is not None:
        _file_later(platform, kind, actor_id, out)
    return out


def _screen_signup(platform, ctx) -> Screening | None:
    cfg = _settings(platform)
    w = state(platform).windows
    now = platform.clock.now().timestamp()
    address = _h(platform, str(ctx.get("address") or "unknown"))
    hour, _o, retry_h = w.count("signup-h:" + address, now, 3600)
    day, _o, retry_d = w.count("signup-d:" + address, now, 86400)
    if hour > cfg.abuse_signups_per_address_hour:
        return Screening("limit", "signup-burst", f"{hour:.0f} sign-ups from one address within an hour", 0.8,
                         {"retry_after": max(1, int(retry_h + 0.999)), "address": address})
    if day > cfg.abuse_signups_per_address_day:
        return Screening("limit", "signup-burst", f"{day:.0f} sign-ups from one address within a day", 0.8,
                         {"retry_after": max(1, int(retry_d + 0.999)), "address": address})
    return None


def _file_later(platform, kind: str, actor_id, verdict: Screening) -> None:
    """File the case of a refused message (the caller holds no transaction yet: its own session)."""
    try:
        with platform.session() as s:
            record(platform, s, kind, actor_id, verdict.reason, verdict.detail, verdict.score, dict(verdict.data),
                   quarantine=False)
    except Exception:  # the refusal stands even if the queue is unreachable
        log.exception("abuse: could not file the case of a refused %s", kind)


def record(platform, s, kind: str, user_id, reason: str, detail: str, score, data: dict, *, subject_id: str = "",
           quarantine: bool = False, address: str | None = None) -> cases.Case | None:
    """Store one flag, open (or join) the ``abuse`` case of the account (or, with ``address``:
    evidence about a shared address only, of that address: no account is blamed for it) and
    quarantine the account if asked."""
    user = uuid.UUID(str(user_id)) if user_id else None
    case = None
    if address:
        case = cases.open_case(platform, s, KIND, "address", address, reason=reason, detail=detail, score=score,
                               data={"first": {"kind": kind, **data}})
    elif user is not None:
        case = cases.open_case(platform, s, KIND, "user", user, reason=reason, detail=detail, score=score,
                               user_id=user, data={"first": {"kind": kind, **data}})
    if case is not None:
        evidence = dict(case.data or {})
        evidence["flags"] = int(evidence.get("flags", 0)) + 1
        evidence["last"] = cases._jsonable({"kind": kind, "reason": reason, "detail": detail, **data})
        case.data = evidence
    if quarantine and user is not None and case is not None and s.get(Quarantine, user) is None:
        s.add(Quarantine(user_id=user, since=platform.clock.now(), reason=reason, case_id=case.id))
        cases.audit(platform, s, "abuse.quarantined", case=case, reason=reason)
        state(platform).quarantined.add(str(user))
    s.add(AbuseFlag(at=platform.clock.now(), kind=kind, reason=reason, user_id=user, subject_id=subject_id,
                    case_id=case.id if case else None, data=cases._jsonable(data)))
    return case


def on_event(platform, event) -> None:
    """A flagged play (``play.flagged``, emitted by the plugin that counts plays): record it."""
    if event.type != "play.flagged":
        return
    data = dict(event.data or {})
    if data.get("reason") == "flagged-session":
        return
    try:
        with platform.session() as s:
            record(platform, s, "play.counted", event.actor_id, data.pop("reason", "play-farming"),
                   data.pop("detail", ""), data.pop("score", None),
                   {**data, "content_id": event.subject_id, "artist_id": event.artist_id},
                   subject_id=str(data.get("session_id") or ""), quarantine=bool(data.pop("quarantine", False)),
                   address=data.get("address") if data.get("evidence") == "address" else None)
    except Exception:
        log.exception("abuse: could not record a flagged play")


# --------------------------------------------------------------------------- decisions

@cases.resolver(KIND, ("clear", "confirm"))
def _decide(platform, s, case: cases.Case, decision: str, actor_id) -> None:
    """``clear``: lift the quarantine and reset the account's counters; ``confirm``: it stays."""
    if case.subject_type == "address":  # shared-address evidence: clear lets the address start afresh
        if decision == "clear":
            state(platform).windows.clear(f"addr-plays:{case.subject_id}", f"addr-artist:{case.subject_id}:")
        return
    try:
        user = uuid.UUID(case.subject_id) if case.subject_type == "user" else None
    except ValueError:
        user = None
    if user is None:
        return
    if decision == "clear":
        removed = s.execute(delete(Quarantine).where(Quarantine.user_id == user)).rowcount
        st = state(platform)
        st.quarantined.discard(str(user))
        st.windows.clear(f"acct-plays:{user}", f"acct-listen:{user}", f"msg:{user}", f"text:{user}", f"links:{user}")
        if removed:
            cases.audit(platform, s, "abuse.released", actor_id=actor_id, case=case)
