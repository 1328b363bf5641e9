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
import logging
import re
import threading
import time
import uuid
from datetime import datetime

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
        default=10, ge=1, description="distinct accounts from one address playing one artist per hour")
    abuse_address_plays_per_hour: int = Field(default=600, ge=1, description="counted plays per client address per hour")
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


# --------------------------------------------------------------------------- sliding windows

_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. tostring(now - win))
if ARGV[3] ~= '' then
  redis.call('ZADD', key, tonumber(ARGV[4]), ARGV[3])
end
redis.call('EXPIRE', key, math.ceil(win) + 60)
local all = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
local n = 0
local total = 0
local oldest = now
for i = 1, #all, 2 do
  n = n + 1
  total = total + (tonumber(string.match(all[i], '|([^|]*)$')) or 1)
  local sc = tonumber(all[i + 1])
  if sc < oldest then oldest = sc end
end
return {n, tostring(total), tostring(oldest)}
"""


class Windows:
    """Sliding windows: members with a score (a time) and a cost; :meth:`add` trims what left the
    window, adds (or moves) a member and returns ``(members, total cost, oldest score)``."""

    def __init__(self, redis_url: str | None = None, prefix: str = "mc:abuse:"):
        self.prefix = prefix
        self.lock = threading.Lock()
        self.mem: dict[str, dict[str, tuple[float, float]]] = {}
        self.redis = None
        if redis_url:
            import redis

            self.redis = redis.Redis.from_url(redis_url)
            self.script = self.redis.register_script(_LUA)

    def add(self, key: str, member: str | None, now: float, window: float, *, score: float | None = None,
            cost: float = 1.0) -> tuple[int, float, float]:
        score = now if score is None else score
        if self.redis is not None:
            n, total, oldest = self.script(keys=[self.prefix + key],
                                           args=[now, window, f"{member}|{cost}" if member else "", score])
            return int(n), float(total), float(oldest)
        with self.lock:
            entries = self.mem.setdefault(key, {})
            for m in [m for m, (sc, _c) in entries.items() if sc < now - window]:
                del entries[m]
            if member:
                entries[member] = (score, cost)
            if not entries:
                self.mem.pop(key, None)
                return 0, 0.0, now
            return len(entries), sum(c for _s, c in entries.values()), min(now, *(sc for sc, _c in entries.values()))

    def clear(self, *prefixes: str) -> None:
        if self.redis is not None:
            for p in prefixes:
                for k in self.redis.scan_iter(match=self.prefix + p + "*", count=500):
                    self.redis.delete(k)
            return
        with self.lock:
            for k in [k for k in self.mem if k.startswith(prefixes)]:
                del self.mem[k]


class State:
    """The per-platform state of the rules: the windows and the quarantine list."""

    def __init__(self, platform):
        self.windows = Windows(platform.settings.redis_url)
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


def _h(value) -> str:
    return hashlib.sha256(b"mc-abuse\x00" + str(value).encode()).hexdigest()[:24]


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


def _screen_play(platform, actor_id, ctx) -> Screening | None:
    cfg = _settings(platform)
    st = state(platform)
    w = st.windows
    now = platform.clock.now().timestamp()
    account = str(actor_id) if actor_id is not None else None
    address = _h(ctx.get("address") or "unknown")
    artist = str(ctx.get("artist_id") or "")
    verdicts: list[Screening] = []
    session = str(ctx.get("session_id") or "")
    if session:  # a flagged session reported again: the same answer, nothing counted twice
        again, _t, _o = w.add(f"flagged-session:{session}", None, now, 3600)
        if again:
            return Screening("flag", "flagged-session", "this listening session was flagged", 1.0,
                             {"session_id": session})
    if account is not None:
        if st.is_quarantined(platform, cfg, account):
            if session:
                w.add(f"flagged-session:{session}", "x", now, 3600)
            return Screening("flag", "quarantined", "the account is quarantined until a moderator decides", 1.0,
                             {"account": account})
        n, _t, _o = w.add(f"acct-plays:{account}", uuid.uuid4().hex, now, 3600)
        if n > cfg.abuse_account_plays_per_hour:
            verdicts.append(Screening("flag", "play-rate", f"{n} counted plays in an hour from one account", 0.9,
                                      {"plays_per_hour": n, "limit": cfg.abuse_account_plays_per_hour}))
        listened = max(0.0, float(ctx.get("seconds") or 0))
        elapsed = ctx.get("elapsed")
        cost = min(listened, float(elapsed)) if elapsed is not None else listened
        _n, total, oldest = w.add(f"acct-listen:{account}", uuid.uuid4().hex, now, 3600, score=now - cost, cost=cost)
        span = max(now - oldest, cost)
        if total > cfg.abuse_listen_ratio * span + cfg.abuse_listen_grace_seconds:
            verdicts.append(Screening("flag", "impossible-listening",
                                      f"{total:.0f} s listened within {span:.0f} s of wall-clock time", 0.95,
                                      {"listened_seconds": round(total, 1), "wall_clock_seconds": round(span, 1)}))
        if artist:
            accounts, _t, _o = w.add(f"addr-artist:{address}:{artist}", account, now, 3600)
            if accounts > cfg.abuse_address_accounts_per_artist:
                verdicts.append(Screening("flag", "address-farm",
                                          f"{accounts} accounts from one address played this artist within an hour",
                                          0.9, {"accounts": accounts, "address": address, "artist_id": artist,
                                                "limit": cfg.abuse_address_accounts_per_artist}))
    n, _t, _o = w.add(f"addr-plays:{address}", uuid.uuid4().hex, now, 3600)
    if n > cfg.abuse_address_plays_per_hour:
        verdicts.append(Screening("flag", "address-rate", f"{n} counted plays in an hour from one address", 0.8,
                                  {"plays_per_hour": n, "address": address}))
    if not verdicts:
        return None
    if session:
        w.add(f"flagged-session:{session}", "x", now, 3600)
    worst = max(verdicts, key=lambda v: v.score or 0)
    return Screening("flag", worst.reason, worst.detail, worst.score,
                     {**worst.data, "rules": [v.reason for v in verdicts],
                      "quarantine": bool(cfg.abuse_quarantine and account)})


def _screen_message(platform, kind, actor_id, ctx) -> Screening | None:
    cfg = _settings(platform)
    w = state(platform).windows
    now = platform.clock.now().timestamp()
    account = str(actor_id)
    text = " ".join(str(ctx.get("text") or "").lower().split())
    recipient = str(ctx.get("recipient") or ctx.get("artist_id") or ctx.get("room") or "")
    out: Screening | None = None
    n, _t, oldest = w.add(f"msg:{account}", uuid.uuid4().hex, now, 60)
    if n > cfg.abuse_messages_per_minute:
        out = Screening("limit", "message-burst", f"{n} messages within a minute", 0.8,
                        {"retry_after": max(1, int(oldest + 60 - now + 0.999)), "messages_per_minute": n})
    if text and recipient:
        r, _t, oldest_r = w.add(f"text:{account}:{_h(text)}", recipient, now, 3600)
        if r > cfg.abuse_same_text_recipients and out is None:
            out = Screening("limit", "repeated-text", f"the same text to {r} recipients within an hour", 0.9,
                            {"retry_after": max(1, int(oldest_r + 3600 - now + 0.999)), "recipients": r})
    if text and _LINK.search(text):
        k, _t, oldest_l = w.add(f"links:{account}", uuid.uuid4().hex, now, 600)
        if k > cfg.abuse_links_per_10_minutes and out is None:
            out = Screening("limit", "link-flood", f"{k} messages with links within 10 minutes", 0.85,
                            {"retry_after": max(1, int(oldest_l + 600 - now + 0.999)), "messages_with_links": k})
    if out is not None:
        _file_later(platform, kind, actor_id, out)
    return out


def _screen_signup(platform, ctx) -> Screening | None:
    cfg = _settings(platform)
    w = state(platform).windows
    now = platform.clock.now().timestamp()
    address = _h(ctx.get("address") or "unknown")
    member = uuid.uuid4().hex
    hour, _t, oldest_h = w.add(f"signup-h:{address}", member, now, 3600)
    day, _t, oldest_d = w.add(f"signup-d:{address}", member, now, 86400)
    if hour > cfg.abuse_signups_per_address_hour:
        return Screening("limit", "signup-burst", f"{hour} sign-ups from one address within an hour", 0.8,
                         {"retry_after": max(1, int(oldest_h + 3600 - now + 0.999)), "address": address})
    if day > cfg.abuse_signups_per_address_day:
        return Screening("limit", "signup-burst", f"{day} sign-ups from one address within a day", 0.8,
                         {"retry_after": max(1, int(oldest_d + 86400 - now + 0.999)), "address": address})
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
           quarantine: bool = False) -> cases.Case | None:
    """Store one flag, open (or join) the account's ``abuse`` case, quarantine it if asked."""
    user = uuid.UUID(str(user_id)) if user_id else None
    case = None
    if user is not None:
        case = cases.open_case(platform, s, KIND, "user", user, reason=reason, detail=detail, score=score,
                               user_id=user, data={"first": {"kind": kind, **data}})
        evidence = dict(case.data or {})
        evidence["flags"] = int(evidence.get("flags", 0)) + 1
        evidence["last"] = cases._jsonable({"kind": kind, "reason": reason, "detail": detail, **data})
        case.data = evidence
        if quarantine and s.get(Quarantine, user) is None:
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
                   subject_id=str(data.get("session_id") or ""), quarantine=bool(data.pop("quarantine", False)))
    except Exception:
        log.exception("abuse: could not record a flagged play")


# --------------------------------------------------------------------------- decisions

@cases.resolver(KIND, ("clear", "confirm"))
def _decide(platform, s, case: cases.Case, decision: str, actor_id) -> None:
    """``clear``: lift the quarantine and reset the account's counters; ``confirm``: it stays."""
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
