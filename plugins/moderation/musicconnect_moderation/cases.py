"""The review queue and the audit log every moderation feature files into.

A **case** is one thing a moderator should look at: an upload that matched another artist's
track (``fingerprint-match``), a copyright notice or counter-notice (``dmca-notice``,
``dmca-counter``), an account or its acts flagged as abuse (``abuse``). A feature registers what
a decision on its kind does (:func:`resolver`); :func:`decide` applies it and closes the case.
Every step (opened, decided, and whatever a feature does on its own: a take-down, a strike, a
restore) goes into the append-only **audit log** (:func:`audit`) with who did it and when.

Public: :class:`Case`, :class:`AuditEntry`, :func:`open_case`, :func:`decide`, :func:`audit`,
:func:`resolver`, :func:`serialize`; ``router`` (admins: the queue, one case, a decision, the log).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Float, Integer, ForeignKey, Index, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from musicconnect import Actor, Base, Problem, uuid_pk
from musicconnect.db import JSONType
from musicconnect.web import get_platform, scope

STATUSES = ("open", "decided")


class Case(Base):
    """One item of the review queue."""

    __tablename__ = "moderation_cases"
    __table_args__ = (Index("ix_moderation_cases_queue", "status", "kind", "opened_at"),)
    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: what the case is about: ("content", id), ("user", id), ("notice", id), ...
    subject_type: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    #: the account concerned (an uploader, a flagged listener), if any
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True,
                                                      nullable=True)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    opened_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class AuditEntry(Base):
    """One line of the append-only audit log."""

    __tablename__ = "moderation_audit"
    #: increasing: the log's order (several lines of one transaction share a timestamp)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    #: who acted: a moderator's user id, or None for the system (a rule, a scheduled restore)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    action: Mapped[str] = mapped_column(String(48))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("moderation_cases.id", ondelete="SET NULL"),
                                                      index=True, nullable=True)
    subject_type: Mapped[str] = mapped_column(String(24), default="")
    subject_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)


#: kind -> (the decisions it allows, what a decision does)
_RESOLVERS: dict[str, tuple[tuple[str, ...], Callable[..., None]]] = {}


def resolver(kind: str, decisions: tuple[str, ...]):
    """Register what a decision on ``kind`` does: ``fn(platform, session, case, decision, actor_id)``
    (it may raise a :class:`musicconnect.Problem` to refuse the decision)."""
    def register(fn: Callable[..., None]) -> Callable[..., None]:
        _RESOLVERS[kind] = (decisions, fn)
        return fn
    return register


def audit(platform, session: Session, action: str, *, actor_id: uuid.UUID | None = None, case: Case | None = None,
          subject_type: str = "", subject_id: str = "", **data: Any) -> AuditEntry:
    """Append one line to the audit log (in the caller's transaction)."""
    entry = AuditEntry(at=platform.clock.now(), actor_id=actor_id, action=action,
                       case_id=case.id if case is not None else None,
                       subject_type=subject_type or (case.subject_type if case is not None else ""),
                       subject_id=subject_id or (case.subject_id if case is not None else ""), data=_jsonable(data))
    session.add(entry)
    return entry


def open_case(platform, session: Session, kind: str, subject_type: str, subject_id, *, reason: str,
              detail: str = "", score: float | None = None, user_id: uuid.UUID | None = None,
              data: dict | None = None, dedupe: bool = True) -> Case:
    """File a case (in the caller's transaction). With ``dedupe`` an open case of the same kind
    about the same subject is returned instead of a second one."""
    subject_id = str(subject_id)
    if dedupe:
        found = session.scalar(select(Case).where(Case.kind == kind, Case.subject_type == subject_type,
                                                  Case.subject_id == subject_id, Case.status == "open"))
        if found is not None:
            return found
    case = Case(kind=kind, status="open", subject_type=subject_type, subject_id=subject_id, user_id=user_id,
                reason=reason, detail=detail, score=score, data=_jsonable(data or {}), opened_at=platform.clock.now())
    session.add(case)
    session.flush()
    audit(platform, session, "case.opened", case=case, kind=kind, reason=reason, score=score)
    return case


def decide(platform, session: Session, case: Case, decision: str, actor_id: uuid.UUID | None, note: str = "") -> Case:
    """Apply a moderator's decision (the kind's resolver), close the case, log it."""
    if case.status != "open":
        raise Problem(409, "case-decided", f"the case was already decided ({case.decision})")
    decisions, fn = _RESOLVERS.get(case.kind, (("dismiss",), None))
    if decision not in decisions:
        raise Problem(422, "invalid-decision",
                      f"a {case.kind} case is decided with one of {', '.join(decisions)}, not {decision!r}")
    if fn is not None:
        fn(platform, session, case, decision, actor_id)
    case.status, case.decision, case.note = "decided", decision, note[:2000]
    case.decided_at, case.decided_by = platform.clock.now(), actor_id
    audit(platform, session, "case.decided", actor_id=actor_id, case=case, decision=decision, note=note[:500])
    return case


def serialize(case: Case) -> dict:
    return {"id": str(case.id), "kind": case.kind, "status": case.status, "subject_type": case.subject_type,
            "subject_id": case.subject_id, "user_id": str(case.user_id) if case.user_id else None,
            "reason": case.reason, "detail": case.detail, "score": case.score, "data": case.data,
            "opened_at": case.opened_at.isoformat(), "decided_at": case.decided_at.isoformat() if case.decided_at else None,
            "decision": case.decision, "note": case.note,
            "decisions": list(_RESOLVERS.get(case.kind, (("dismiss",), None))[0])}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (uuid.UUID, datetime)):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return value


# --------------------------------------------------------------------------- routes (admins)

router = APIRouter()


class CaseOut(BaseModel):
    id: str
    kind: str = Field(description="fingerprint-match, dmca-notice, dmca-counter, abuse, ...")
    status: Literal["open", "decided"]
    subject_type: str
    subject_id: str
    user_id: str | None
    reason: str = Field(description="a stable slug (docs/moderation.md)")
    detail: str
    score: float | None
    data: dict
    opened_at: str
    decided_at: str | None
    decision: str | None
    note: str
    decisions: list[str] = Field(description="the decisions this kind of case takes")


class CasesOut(BaseModel):
    cases: list[CaseOut]


class DecisionIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"decision": "dismiss", "note": "a false alarm: a cover the artist licensed"}]}}
    decision: str = Field(min_length=1, max_length=32)
    note: str = Field("", max_length=2000)


class AuditOut(BaseModel):
    at: str
    actor_id: str | None
    action: str
    case_id: str | None
    subject_type: str
    subject_id: str
    data: dict


@router.get("/cases", response_model=CasesOut)
def list_cases(status: Literal["open", "decided"] = "open", kind: str | None = Query(None, max_length=40),
               limit: int = Query(50, ge=1, le=200), actor: Actor = Depends(scope("admin")),
               platform=Depends(get_platform)):
    """The review queue (oldest first while open, newest first once decided); admins only."""
    q = select(Case).where(Case.status == status)
    if kind:
        q = q.where(Case.kind == kind)
    q = q.order_by(Case.opened_at if status == "open" else Case.decided_at.desc()).limit(limit)
    with platform.read() as s:
        return {"cases": [serialize(c) for c in s.scalars(q)]}


@router.get("/cases/{case_id}", response_model=CaseOut, responses={404: {"description": "case-not-found"}})
def get_case(case_id: uuid.UUID, actor: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    with platform.read() as s:
        case = s.get(Case, case_id)
        if case is None:
            raise Problem(404, "case-not-found", "no such case")
        return serialize(case)


@router.post("/cases/{case_id}/decision", response_model=CaseOut,
             responses={404: {"description": "case-not-found"}, 409: {"description": "case-decided"},
                        422: {"description": "invalid-decision"}})
def decide_case(case_id: uuid.UUID, body: DecisionIn, actor: Actor = Depends(scope("admin")),
                platform=Depends(get_platform)):
    """Decide an open case with one of its kind's decisions (what it does: docs/moderation.md)."""
    with platform.session() as s:
        case = s.get(Case, case_id, with_for_update=True)
        if case is None:
            raise Problem(404, "case-not-found", "no such case")
        return serialize(decide(platform, s, case, body.decision, actor.user_id, body.note))


@router.get("/audit", response_model=list[AuditOut])
def audit_log(subject_id: str | None = Query(None, max_length=64), limit: int = Query(100, ge=1, le=500),
              actor: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """The audit log, newest first (of one subject with ``subject_id``); admins only."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if subject_id:
        q = q.where(AuditEntry.subject_id == subject_id)
    with platform.read() as s:
        return [{"at": e.at.isoformat(), "actor_id": str(e.actor_id) if e.actor_id else None, "action": e.action,
                 "case_id": str(e.case_id) if e.case_id else None, "subject_type": e.subject_type,
                 "subject_id": e.subject_id, "data": e.data} for e in s.scalars(q)]
