"""Copyright notices and counter-notices (17 U.S.C. §512), and the repeat-infringer policy.

* A **notice** (``POST /dmca/notices``, public, rate-limited per address) must carry the six
  elements of §512(c)(3)(A); a missing one is a 422 ``dmca-notice-incomplete`` whose ``errors``
  name the field and the element. The infringing material is named by URLs or ids of content on
  this platform, resolved here to content items (unknown: refused by field). A valid notice takes
  the items down at once (``platform.content.take_down``, reason ``dmca:<notice id>``), tells each
  uploader (``moderation.dmca.takedown``: the complainant's name and email and their words,
  length-capped and labelled as theirs), files a ``dmca-notice`` case per uploader and records a
  **strike** — only for an uploader whose content this notice actually took down (naming what is
  already down adds nothing). The sender's address is rate-limited per IPv4 address or IPv6 /64
  and stored only as an HMAC under the platform's signing key.
* A **counter-notice** (``POST /dmca/notices/{id}/counter``, by the artist whose content it took
  down) must carry the four elements of §512(g)(3). It files a ``dmca-counter`` case (the
  complainant is not a user: the operator forwards it, the case says to whom) and schedules the
  restore **10 business days** later (weekends skipped; the ``dmca_restore`` job, hourly, restores
  what is due) unless a moderator records ``suit-filed`` (stays down), ``restore-now`` or
  ``reject-counter`` (stays down).
* **Repeat infringers**: 3 strikes within 365 days open a ``repeat-infringer`` case (never an
  automatic termination); its ``terminate`` decision disables the account (``users.is_active``
  false, every item of the artist taken down, reason ``repeat-infringer``), ``dismiss`` leaves it.
  ``POST /dmca/users/{id}/reinstate`` (admins) undoes a termination. A restore (counter-notice,
  or the notice rejected on review) withdraws its strike.

Every step goes into the audit log (``cases.audit``). Public: :func:`business_days_after`,
:func:`restore_due`, :func:`active_strikes`; the tables :class:`Notice`, :class:`Strike`,
:class:`Counter`.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint, func, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from musicconnect import Actor, Base, JobSpec, NotificationKind, Problem, on_commit, uuid_pk
from musicconnect.db import JSONType
from musicconnect.models import Artist, ContentItem, User
from musicconnect.web import get_platform, public, scope

from . import cases

RESTORE_BUSINESS_DAYS = 10
STRIKES_TO_TERMINATE = 3
STRIKE_WINDOW = timedelta(days=365)
TERMINATED = "repeat-infringer"
#: how much of the complainant's own words the uploader's notification relays
RELAY_CHARS = 200
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class DmcaSettings(BaseModel):
    """Settings of the copyright notices (``musicconnect plugins config moderation dmca_notices_per_hour 5``)."""

    dmca_notices_per_hour: int = Field(10, ge=1, le=10_000,
                                       description="copyright notices one address may send per hour")


SETTINGS = [DmcaSettings]


class Notice(Base):
    """A copyright notice as received (the complainant need not be a user)."""

    __tablename__ = "moderation_dmca_notices"
    id: Mapped[uuid.UUID] = uuid_pk()
    received_at: Mapped[datetime] = mapped_column(index=True)
    signature: Mapped[str] = mapped_column(String(200))
    work: Mapped[str] = mapped_column(Text)
    material: Mapped[list] = mapped_column(JSONType, default=list)
    content_ids: Mapped[list] = mapped_column(JSONType, default=list)
    complainant_name: Mapped[str] = mapped_column(String(200))
    complainant_address: Mapped[str] = mapped_column(Text)
    complainant_phone: Mapped[str] = mapped_column(String(64))
    complainant_email: Mapped[str] = mapped_column(String(320))
    #: the sender's address, hashed (rate limits and abuse, not shown)
    sender: Mapped[str] = mapped_column(String(64), default="")


class Strike(Base):
    """One strike of the repeat-infringer policy: a notice against one uploader."""

    __tablename__ = "moderation_dmca_strikes"
    __table_args__ = (UniqueConstraint("notice_id", "user_id", name="uq_moderation_dmca_strikes_notice_user"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    notice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("moderation_dmca_notices.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column(nullable=True)
    withdrawn_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Counter(Base):
    """A counter-notice of one uploader against one notice."""

    __tablename__ = "moderation_dmca_counters"
    __table_args__ = (UniqueConstraint("notice_id", "user_id", name="uq_moderation_dmca_counters_notice_user"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    notice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("moderation_dmca_notices.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    received_at: Mapped[datetime] = mapped_column()
    signature: Mapped[str] = mapped_column(String(200))
    material: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(String(64))
    good_faith: Mapped[bool] = mapped_column(Boolean)
    consent_jurisdiction: Mapped[bool] = mapped_column(Boolean)
    accept_service: Mapped[bool] = mapped_column(Boolean)
    #: pending (a restore is scheduled), restored, suit-filed, rejected
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    restore_at: Mapped[datetime] = mapped_column(index=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("moderation_cases.id", ondelete="SET NULL"),
                                                      nullable=True)


# --------------------------------------------------------------------------- rules

def business_days_after(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` business days (Saturdays and Sundays skipped; public holidays are
    not known here, so they count): a Friday plus 10 is the Friday two weeks later."""
    at, left = start, days
    while left > 0:
        at += timedelta(days=1)
        if at.weekday() < 5:
            left -= 1
    return at


def active_strikes(platform, session: Session, user_id: uuid.UUID) -> int:
    """Strikes of ``user_id`` not withdrawn, within the last 365 days."""
    since = platform.clock.now() - STRIKE_WINDOW
    return session.scalar(select(func.count()).select_from(Strike).where(
        Strike.user_id == user_id, Strike.withdrawn_at.is_(None), Strike.at > since)) or 0


def _reason(notice_id) -> str:
    return f"dmca:{notice_id}"


def _items_of(session: Session, notice: Notice, user_id: uuid.UUID, lock: bool = False) -> list[ContentItem]:
    ids = [uuid.UUID(i) for i in notice.content_ids]
    q = select(ContentItem).join(Artist, Artist.id == ContentItem.artist_id).where(
        ContentItem.id.in_(ids), Artist.user_id == user_id).order_by(ContentItem.title)
    if lock:  # concurrent notices naming the same item: one takes it down (and strikes)
        q = q.with_for_update(of=ContentItem).execution_options(populate_existing=True)
    return list(session.scalars(q))


def _uploader_ids(session: Session, notice: Notice) -> list[uuid.UUID]:
    ids = [uuid.UUID(i) for i in notice.content_ids]
    return list(session.scalars(select(Artist.user_id).join(ContentItem, ContentItem.artist_id == Artist.id)
                                .where(ContentItem.id.in_(ids)).distinct()))


def _restore(platform, session: Session, notice: Notice, user_id: uuid.UUID, actor_id, why: str,
             case: cases.Case | None = None) -> list[str]:
    """Bring back what ``notice`` took down of ``user_id`` and withdraw the strike."""
    restored = []
    for item in _items_of(session, notice, user_id):
        if item.status == "taken_down" and item.status_reason == _reason(notice.id):
            platform.content.restore(session, item, actor_id, reason=_reason(notice.id))
            restored.append(str(item.id))
    strike = session.scalar(select(Strike).where(Strike.notice_id == notice.id, Strike.user_id == user_id))
    if strike is not None and strike.withdrawn_at is None:
        strike.withdrawn_at, strike.withdrawn_reason = platform.clock.now(), why
        cases.audit(platform, session, "dmca.strike-withdrawn", actor_id=actor_id, case=case,
                    subject_type="user", subject_id=str(user_id), notice_id=notice.id, reason=why)
    cases.audit(platform, session, "dmca.restored", actor_id=actor_id, case=case, subject_type="dmca-notice",
                subject_id=str(notice.id), content_ids=restored, reason=why, user_id=user_id)
    platform.emit(session, "moderation.dmca.restored", actor_id=actor_id, subject=("dmca-notice", notice.id),
                  data={"notice_id": str(notice.id), "user_id": str(user_id), "content_ids": restored,
                        "count": len(restored), "reason": why})
    return restored


def _terminate(platform, session: Session, user_id: uuid.UUID, actor_id, case: cases.Case | None) -> None:
    """The repeat-infringer policy, on a moderator's decision: the account is disabled and its
    artist's content taken down (reason ``repeat-infringer``; :func:`reinstate` undoes both)."""
    # a conditional UPDATE: of concurrent decisions exactly one terminates the account
    done = session.execute(update(User).where(User.id == user_id, User.is_active.is_(True))
                           .values(is_active=False, updated_at=platform.clock.now()))
    if not done.rowcount:
        raise Problem(409, "dmca-already-terminated", "this account is already disabled")
    taken = []
    artist_id = session.scalar(select(Artist.id).where(Artist.user_id == user_id))
    if artist_id is not None:
        for item in session.scalars(select(ContentItem).where(ContentItem.artist_id == artist_id,
                                                              ContentItem.status != "taken_down")):
            platform.content.take_down(session, item, TERMINATED, actor_id)
            taken.append(str(item.id))
    cases.audit(platform, session, "dmca.account-terminated", actor_id=actor_id, case=case, subject_type="user",
                subject_id=str(user_id), strikes=active_strikes(platform, session, user_id), content_ids=taken)
    platform.emit(session, "moderation.dmca.terminated", actor_id=actor_id, artist_id=artist_id,
                  subject=("user", user_id), data={"user_id": str(user_id), "taken_down": len(taken)})
    on_commit(session, lambda: platform.forget_user(user_id))


def reinstate(platform, session: Session, user_id: uuid.UUID, actor_id) -> list[str]:
    """Undo a termination: the account is active again and what the termination took down
    (reason ``repeat-infringer``) is restored; returns the restored content ids."""
    _lock_user(session, user_id)  # (User's eager joins cannot be FOR UPDATE on PostgreSQL)
    user = session.get(User, user_id)
    if user is None:
        raise Problem(404, "user-not-found", "no such user")
    if user.is_active:
        raise Problem(409, "dmca-not-terminated", "this account is not disabled")
    user.is_active, user.updated_at = True, platform.clock.now()
    restored = []
    artist_id = session.scalar(select(Artist.id).where(Artist.user_id == user_id))
    if artist_id is not None:
        for item in session.scalars(select(ContentItem).where(ContentItem.artist_id == artist_id,
                                                              ContentItem.status == "taken_down",
                                                              ContentItem.status_reason == TERMINATED)):
            platform.content.restore(session, item, actor_id, reason=TERMINATED)
            restored.append(str(item.id))
    cases.audit(platform, session, "dmca.account-reinstated", actor_id=actor_id, subject_type="user",
                subject_id=str(user_id), content_ids=restored)
    on_commit(session, lambda: platform.forget_user(user_id))
    return restored


def restore_due(platform) -> int:
    """Restore what counter-notices asked for once their 10 business days have passed (no suit
    recorded); returns how many counter-notices were carried out."""
    now = platform.clock.now()
    done = 0
    with platform.read() as s:
        due = list(s.scalars(select(Counter.id).where(Counter.status == "pending", Counter.restore_at <= now)))
    for counter_id in due:
        with platform.session() as s:
            counter = s.get(Counter, counter_id, with_for_update=True)
            if counter is None or counter.status != "pending":
                continue
            notice = s.get(Notice, counter.notice_id)
            case = s.get(cases.Case, counter.case_id) if counter.case_id else None
            counter.status = "restored"
            _restore(platform, s, notice, counter.user_id, None, "counter-notice", case)
            if case is not None and case.status == "open":
                case.status, case.decision, case.decided_at = "decided", "restored", now
                cases.audit(platform, s, "case.decided", case=case, decision="restored",
                            note="no suit recorded within 10 business days")
            done += 1
    return done


def _restore_job(ctx) -> dict:
    return {"restored": restore_due(ctx.platform)}


JOBS = [JobSpec("dmca_restore", _restore_job, max_retries=3, every_seconds=3600)]


# --------------------------------------------------------------------------- decisions

@cases.resolver("dmca-notice", ("uphold", "reject"))
def _decide_notice(platform, session: Session, case: cases.Case, decision: str, actor_id) -> None:
    notice = session.get(Notice, uuid.UUID(case.subject_id))
    if decision == "reject" and notice is not None and case.user_id is not None:
        counter = session.scalar(select(Counter).where(Counter.notice_id == notice.id, Counter.user_id == case.user_id,
                                                       Counter.status == "pending"))
        if counter is not None:
            counter.status = "restored"
        _restore(platform, session, notice, case.user_id, actor_id, "notice-rejected", case)
    else:
        cases.audit(platform, session, "dmca.notice-upheld", actor_id=actor_id, case=case)


@cases.resolver("dmca-counter", ("suit-filed", "restore-now", "reject-counter"))
def _decide_counter(platform, session: Session, case: cases.Case, decision: str, actor_id) -> None:
    counter = session.get(Counter, uuid.UUID(case.subject_id), with_for_update=True)
    if counter is None:
        raise Problem(404, "dmca-counter-not-found", "the counter-notice of this case no longer exists")
    if counter.status != "pending":
        raise Problem(409, "case-decided", f"the counter-notice was already carried out ({counter.status})")
    if decision == "restore-now":
        counter.status = "restored"
        _restore(platform, session, session.get(Notice, counter.notice_id), counter.user_id, actor_id,
                 "counter-notice", case)
    else:
        counter.status = "suit-filed" if decision == "suit-filed" else "rejected"
        cases.audit(platform, session, f"dmca.{counter.status}", actor_id=actor_id, case=case,
                    notice_id=counter.notice_id)


@cases.resolver(TERMINATED, ("terminate", "dismiss"))
def _decide_repeat(platform, session: Session, case: cases.Case, decision: str, actor_id) -> None:
    if decision == "terminate":
        _terminate(platform, session, uuid.UUID(case.subject_id), actor_id, case)


# --------------------------------------------------------------------------- notifications

def _uploader(platform, event) -> list:
    return [uuid.UUID(event.data["user_id"])] if event.data.get("user_id") else []


NOTIFICATION_KINDS = [
    NotificationKind("moderation.dmca.takedown", "Your content was taken down after a copyright notice",
                     "moderation.dmca.takedown",
                     {"title": "Taken down after a copyright notice: {titles}",
                      "body": "A copyright notice from {complainant_name} <{complainant_email}> names this "
                              "content. The complainant's own words, not checked by us: “{work}”. "
                              "If it was removed by mistake or misidentified, you may send a counter-notice "
                              "(the notice's full details are on the counter-notice page).",
                      "url": "/copyright/counter?notice={notice_id}"}, _uploader, default_channels=("inbox", "email")),
    NotificationKind("moderation.dmca.restored", "Your content was restored after a copyright notice",
                     "moderation.dmca.restored",
                     {"title": "Restored: {count} item(s) are back after a copyright notice",
                      "body": "The content a copyright notice took down is available again ({reason}).",
                      "url": "/copyright/counter?notice={notice_id}"}, _uploader, default_channels=("inbox", "email")),
]


# --------------------------------------------------------------------------- routes

router = APIRouter()

NOTICE_ELEMENTS = {
    "signature": "(i) a physical or electronic signature: type your full legal name",
    "copyrighted_work": "(ii) identification of the copyrighted work claimed to be infringed",
    "infringing_material": "(iii) identification of the infringing material: its URL(s) or id(s) on this platform",
    "complainant_name": "(iv) contact information: your name",
    "complainant_address": "(iv) contact information: your postal address",
    "complainant_phone": "(iv) contact information: your telephone number",
    "complainant_email": "(iv) contact information: your email address",
    "good_faith": "(v) a statement of good-faith belief that the use is not authorised",
    "accurate_under_penalty": "(vi) a statement that the notice is accurate and, under penalty of perjury, "
                              "that you are authorised to act for the owner",
}
COUNTER_ELEMENTS = {
    "signature": "(A) a physical or electronic signature: type your full legal name",
    "material": "(B) identification of the material removed and where it appeared before removal",
    "good_faith_mistake": "(C) a statement under penalty of perjury of good-faith belief that it was removed "
                          "by mistake or misidentification",
    "name": "(D) your name", "address": "(D) your address", "phone": "(D) your telephone number",
    "consent_jurisdiction": "(D) consent to the jurisdiction of the federal district court for your address",
    "accept_service": "(D) acceptance of service of process from the complainant",
}


def _elements_schema(strings: tuple[str, ...], trues: tuple[str, ...], lists: tuple[str, ...] = ()):
    """The OpenAPI schema says what the law requires (the model itself stays lenient, so that a
    missing element is refused by name: 422 ``dmca-*-incomplete`` with ``errors`` by field)."""
    def amend(schema: dict) -> None:
        props = schema.get("properties", {})
        for name in strings:
            props[name].update(minLength=1, pattern=r"\S")
        for name in trues:
            props[name]["const"] = True
        for name in lists:
            props[name]["minItems"] = 1
            props[name].setdefault("items", {}).update(minLength=1, pattern=r"\S")
        for name in (*strings, *trues, *lists):
            props[name].pop("default", None)
        if "complainant_email" in props:
            props["complainant_email"]["pattern"] = _EMAIL.pattern
        schema["required"] = sorted({*strings, *trues, *lists})
    return amend


class NoticeIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "signature": "Jordan Reyes", "copyrighted_work": "\"Night Drive\" (2024), written and recorded by Jordan Reyes",
        "infringing_material": ["/tracks/2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d"],
        "complainant_name": "Jordan Reyes", "complainant_address": "12 Harbour Street, Bristol BS1 4RN, UK",
        "complainant_phone": "+44 117 496 0000", "complainant_email": "jordan@example.com",
        "good_faith": True, "accurate_under_penalty": True}]}}
    signature: str = Field("", max_length=200, description="(i) your full legal name, typed, as your signature")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        schema = handler(core_schema)
        _elements_schema(("signature", "copyrighted_work", "complainant_name", "complainant_address",
                          "complainant_phone", "complainant_email"), ("good_faith", "accurate_under_penalty"),
                         ("infringing_material",))(handler.resolve_ref_schema(schema))
        return schema
    copyrighted_work: str = Field("", max_length=5000, description="(ii) the copyrighted work")
    infringing_material: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list, max_length=50,
                                           description="(iii) URLs or ids of the content on this platform")
    complainant_name: str = Field("", max_length=200)
    complainant_address: str = Field("", max_length=1000)
    complainant_phone: str = Field("", max_length=64)
    complainant_email: str = Field("", max_length=320)
    good_faith: bool = Field(False, description="(v) must be true")
    accurate_under_penalty: bool = Field(False, description="(vi) must be true")


class NoticeOut(BaseModel):
    id: str
    received_at: str
    content_ids: list[str]
    status: str = Field(description="received: the material was taken down")


class CounterIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{
        "signature": "Nova Lane", "material": "\"Open Sky\", at /tracks/2f1c9a4e-8b7d-4c3a-9e21-5d6f7a8b9c0d before removal",
        "good_faith_mistake": True, "name": "Nova Lane", "address": "4 Rue des Lilas, 75011 Paris, France",
        "phone": "+33 1 23 45 67 89", "consent_jurisdiction": True, "accept_service": True}]}}
    signature: str = Field("", max_length=200)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        schema = handler(core_schema)
        _elements_schema(("signature", "material", "name", "address", "phone"),
                         ("good_faith_mistake", "consent_jurisdiction", "accept_service"))(handler.resolve_ref_schema(schema))
        return schema
    material: str = Field("", max_length=5000, description="(B) the material and its location before removal")
    good_faith_mistake: bool = False
    name: str = Field("", max_length=200)
    address: str = Field("", max_length=1000)
    phone: str = Field("", max_length=64)
    consent_jurisdiction: bool = False
    accept_service: bool = False


class CounterOut(BaseModel):
    id: str
    notice_id: str
    status: str = Field(description="pending, restored, suit-filed, rejected")
    received_at: str
    restore_at: str = Field(description="when the content comes back unless the complainant files suit")


class ItemOut(BaseModel):
    id: str
    title: str
    status: str


class NoticeView(BaseModel):
    id: str
    received_at: str
    copyrighted_work: str
    complainant_name: str
    complainant_address: str
    complainant_phone: str
    complainant_email: str
    items: list[ItemOut] = Field(description="your items the notice names")
    strike: str = Field(description="active or withdrawn")
    counter: CounterOut | None


def _incomplete(errors: list[dict], what: str) -> Problem:
    return Problem(422, f"dmca-{what}-incomplete",
                   f"the {what.replace('-', ' ')} lacks: " + "; ".join(
                       e["element"] + ("" if e.get("message") == "required" else f" ({e['message']})") for e in errors),
                   errors=errors)


def sender_net(address: str) -> str:
    """What one sender is for the rate limit: an IPv4 address, or an IPv6 address's /64 (one
    subscriber usually holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def sender_key(platform, address: str) -> str:
    """The sender's network (:func:`sender_net`) as an HMAC under the platform's signing key (a
    bare hash of an IPv4 address is reversed by trying them all)."""
    key = hmac.new(platform.settings.signing_key(), b"musicconnect-moderation/dmca-sender/v1", hashlib.sha256).digest()
    return hmac.new(key, sender_net(address).encode(), hashlib.sha256).hexdigest()[:32]


def _relay(text: str, limit: int) -> str:
    """Someone else's words for a notification: one line of plain text, capped."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def _lock_user(session: Session, user_id: uuid.UUID) -> None:
    """Serialise the strikes of one uploader (concurrent notices; SQLite ignores FOR UPDATE and
    serialises writers anyway)."""
    session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _resolve(session: Session, refs: list[str]) -> tuple[list[uuid.UUID], list[str]]:
    found, unknown = [], []
    for ref in refs:
        match = _UUID.search(ref or "")
        item = session.get(ContentItem, uuid.UUID(match.group(0))) if match else None
        if item is None or item.status not in ("ready", "taken_down"):
            unknown.append(ref)
        elif item.id not in found:
            found.append(item.id)
    return found, unknown


@router.post("/dmca/notices", response_model=NoticeOut, status_code=201, dependencies=[Depends(public)],
             responses={422: {"description": "dmca-notice-incomplete"}, 429: {"description": "rate-limited"}})
def send_notice(body: NoticeIn, request: Request, platform=Depends(get_platform)):
    """A copyright notice (§512(c)(3)(A)); anyone may send one. The material is taken down at once."""
    who = sender_key(platform, request.client.host if request.client else "unknown")
    per_hour = platform.plugin_settings("moderation").dmca_notices_per_hour
    state = platform.ratelimiter.hit(f"{per_hour}/hour", "moderation-dmca-notice", who)
    if not state.allowed:
        raise Problem(429, "rate-limited", "too many copyright notices from here; try again later",
                      headers={"Retry-After": str(state.retry_after)}, retry_after=state.retry_after)
    errors = []
    for field, element in NOTICE_ELEMENTS.items():
        value = getattr(body, field)
        if isinstance(value, str):
            value = value.strip()
        if not value or (field == "infringing_material" and not any(v.strip() for v in value)):
            errors.append({"field": field, "element": element, "message": "required"})
        elif field == "complainant_email" and not _EMAIL.match(value):
            errors.append({"field": field, "element": element, "message": "not an email address"})
    with platform.session() as s:
        refs = [r.strip() for r in body.infringing_material if r.strip()]
        content_ids, unknown = _resolve(s, refs)
        if unknown:
            errors.append({"field": "infringing_material", "element": NOTICE_ELEMENTS["infringing_material"],
                           "message": "not content on this platform: " + ", ".join(unknown[:10]), "unknown": unknown})
        if errors:
            raise _incomplete(errors, "notice")
        now = platform.clock.now()
        notice = Notice(received_at=now, signature=body.signature.strip(), work=body.copyrighted_work.strip(),
                        material=refs, content_ids=[str(i) for i in content_ids],
                        complainant_name=body.complainant_name.strip(),
                        complainant_address=body.complainant_address.strip(),
                        complainant_phone=body.complainant_phone.strip(),
                        complainant_email=body.complainant_email.strip(), sender=who)
        s.add(notice)
        s.flush()
        cases.audit(platform, s, "dmca.notice-received", subject_type="dmca-notice", subject_id=str(notice.id),
                    content_ids=notice.content_ids, complainant=notice.complainant_name,
                    complainant_email=notice.complainant_email)
        for user_id in _uploader_ids(s, notice):
            items = _items_of(s, notice, user_id, lock=True)
            # only what this notice takes down counts: naming content already down adds nothing
            taken = [i for i in items if i.status != "taken_down"]
            if not taken:
                cases.audit(platform, s, "dmca.nothing-taken-down", subject_type="dmca-notice",
                            subject_id=str(notice.id), user_id=user_id, content_ids=[str(i.id) for i in items])
                continue
            items = taken
            case = cases.open_case(platform, s, "dmca-notice", "dmca-notice", notice.id, reason="copyright-notice",
                                   detail=f"{notice.complainant_name}: {notice.work[:300]}", user_id=user_id,
                                   data={"content_ids": [str(i.id) for i in items], "work": notice.work,
                                         "complainant": {"name": notice.complainant_name,
                                                         "email": notice.complainant_email}},
                                   dedupe=False)
            for item in items:
                platform.content.take_down(s, item, _reason(notice.id))
            cases.audit(platform, s, "dmca.taken-down", case=case, content_ids=[str(i.id) for i in items])
            _lock_user(s, user_id)
            s.add(Strike(user_id=user_id, notice_id=notice.id, at=now))
            s.flush()
            strikes = active_strikes(platform, s, user_id)
            cases.audit(platform, s, "dmca.strike", case=case, subject_type="user", subject_id=str(user_id),
                        notice_id=notice.id, strikes=strikes)
            platform.emit(s, "moderation.dmca.takedown", artist_id=items[0].artist_id if items else None,
                          subject=("dmca-notice", notice.id),
                          data={"notice_id": str(notice.id), "user_id": str(user_id),
                                "titles": _relay(", ".join(i.title for i in items), 300),
                                "work": _relay(notice.work, RELAY_CHARS),
                                "complainant_name": _relay(notice.complainant_name, 100),
                                "complainant_email": _relay(notice.complainant_email, 120), "strikes": strikes})
            if strikes >= STRIKES_TO_TERMINATE:
                # never automatic: a moderator decides (terminate or dismiss); one open case per user
                cases.open_case(platform, s, TERMINATED, "user", user_id, reason=TERMINATED, user_id=user_id,
                                detail=f"{strikes} active copyright strikes within 365 days",
                                data={"strikes": strikes, "notice_id": notice.id})
        return {"id": str(notice.id), "received_at": now.isoformat(), "content_ids": notice.content_ids,
                "status": "received"}


def _counter_exists(s: Session, notice_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return s.scalar(select(Counter.id).where(Counter.notice_id == notice_id, Counter.user_id == user_id)) is not None


def _counter_out(c: Counter) -> dict:
    return {"id": str(c.id), "notice_id": str(c.notice_id), "status": c.status,
            "received_at": c.received_at.isoformat(), "restore_at": c.restore_at.isoformat()}


def _notice_for(s: Session, notice_id: uuid.UUID, actor: Actor) -> tuple[Notice, list[ContentItem]]:
    notice = s.get(Notice, notice_id)
    items = _items_of(s, notice, actor.user_id) if notice is not None else []
    if notice is None or not items:
        # a notice about someone else's content is not revealed
        raise Problem(404, "dmca-notice-not-found", "no copyright notice about your content with this id")
    return notice, items


@router.get("/dmca/notices/{notice_id}", response_model=NoticeView,
            responses={404: {"description": "dmca-notice-not-found"}})
def read_notice(notice_id: uuid.UUID, actor: Actor = Depends(scope("moderation:write")),
                platform=Depends(get_platform)):
    """A notice about your content: who sent it, what it names, your strike, your counter-notice."""
    with platform.read() as s:
        notice, items = _notice_for(s, notice_id, actor)
        strike = s.scalar(select(Strike).where(Strike.notice_id == notice.id, Strike.user_id == actor.user_id))
        counter = s.scalar(select(Counter).where(Counter.notice_id == notice.id, Counter.user_id == actor.user_id))
        return {"id": str(notice.id), "received_at": notice.received_at.isoformat(),
                "copyrighted_work": notice.work, "complainant_name": notice.complainant_name,
                "complainant_address": notice.complainant_address, "complainant_phone": notice.complainant_phone,
                "complainant_email": notice.complainant_email,
                "items": [{"id": str(i.id), "title": i.title, "status": i.status} for i in items],
                "strike": "withdrawn" if strike is None or strike.withdrawn_at else "active",
                "counter": _counter_out(counter) if counter else None}


@router.post("/dmca/notices/{notice_id}/counter", response_model=CounterOut, status_code=201,
             responses={404: {"description": "dmca-notice-not-found"}, 409: {"description": "dmca-counter-exists"},
                        422: {"description": "dmca-counter-notice-incomplete"}})
def send_counter(notice_id: uuid.UUID, body: CounterIn, actor: Actor = Depends(scope("moderation:write")),
                 platform=Depends(get_platform)):
    """A counter-notice (§512(g)(3)) by the artist whose content the notice took down: the content
    comes back 10 business days later unless the complainant files suit."""
    with platform.session() as s:
        notice, items = _notice_for(s, notice_id, actor)
        errors = []
        for field, element in COUNTER_ELEMENTS.items():
            value = getattr(body, field)
            if not (value.strip() if isinstance(value, str) else value):
                errors.append({"field": field, "element": element, "message": "required"})
        if errors:
            raise _incomplete(errors, "counter-notice")
        exists = Problem(409, "dmca-counter-exists", "you already sent a counter-notice for this notice")
        if _counter_exists(s, notice.id, actor.user_id):
            raise exists
        now = platform.clock.now()
        counter = Counter(notice_id=notice.id, user_id=actor.user_id, received_at=now,
                          signature=body.signature.strip(), material=body.material.strip(), name=body.name.strip(),
                          address=body.address.strip(), phone=body.phone.strip(), good_faith=True,
                          consent_jurisdiction=True, accept_service=True, status="pending",
                          restore_at=business_days_after(now, RESTORE_BUSINESS_DAYS))
        try:
            with s.begin_nested():  # a concurrent second counter-notice loses on the unique key
                s.add(counter)
                s.flush()
        except IntegrityError:
            raise exists from None
        case = cases.open_case(platform, s, "dmca-counter", "dmca-counter", counter.id, reason="counter-notice",
                               detail=f"{counter.name} disputes the notice of {notice.complainant_name}",
                               user_id=actor.user_id, dedupe=False,
                               data={"notice_id": notice.id, "content_ids": [str(i.id) for i in items],
                                     "restore_at": counter.restore_at, "material": counter.material,
                                     "counter": {"signature": counter.signature, "name": counter.name,
                                                 "address": counter.address, "phone": counter.phone},
                                     # the complainant may have no account here: the operator sends
                                     # them the counter-notice (§512(g)(2)(B))
                                     "forward_to": {"name": notice.complainant_name,
                                                    "email": notice.complainant_email,
                                                    "address": notice.complainant_address},
                                     "operator_must_forward": True})
        counter.case_id = case.id
        cases.audit(platform, s, "dmca.counter-received", actor_id=actor.user_id, case=case, notice_id=notice.id,
                    restore_at=counter.restore_at, forward_to=notice.complainant_email)
        platform.emit(s, "moderation.dmca.counter", actor_id=actor.user_id, subject=("dmca-counter", counter.id),
                      data={"notice_id": str(notice.id), "restore_at": counter.restore_at.isoformat(),
                            "complainant_email": notice.complainant_email})
        return _counter_out(counter)


class ReinstatedOut(BaseModel):
    user_id: str
    restored: list[str] = Field(description="the content ids the termination had taken down, now restored")


@router.post("/dmca/users/{user_id}/reinstate", response_model=ReinstatedOut,
             responses={404: {"description": "user-not-found"}, 409: {"description": "dmca-not-terminated"}})
def reinstate_user(user_id: uuid.UUID, actor: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """Undo a repeat-infringer termination (admins): the account is active again and what the
    termination took down comes back (take-downs of single notices stay)."""
    with platform.session() as s:
        return {"user_id": str(user_id), "restored": reinstate(platform, s, user_id, actor.user_id)}
