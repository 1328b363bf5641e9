"""Consent records: who agreed to what, which version of the text, when and from where.

Every change is a new row (the history is the record); the current consent of a purpose is its
newest row. The terms are recorded at sign-up (the core's ``user.registered`` event) with the
version in the settings (``terms_version``).

Public: :class:`Consent`, :data:`PURPOSES`, ``router`` (``GET /api/v1/privacy/consents``,
``PUT /api/v1/privacy/consents/{purpose}``).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Boolean, Integer, ForeignKey, Index, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from musicconnect import Actor, Base, NotFound, PluginSettings, Problem
from musicconnect.web import get_platform, scope, session_only

#: purpose -> what it is about (shown on the privacy page and by the API)
PURPOSES = {
    "terms": "the terms of service and privacy notice",
    "marketing_email": "news and offers by email",
    "push": "push notifications on this device's browser",
    "personalisation": "recommendations from your listening",
}


class ConsentSettings(PluginSettings):
    """Versions of the texts people agree to (``musicconnect plugins config privacy terms_version 2026-11``)."""

    terms_version: str = Field("1", min_length=1, max_length=40, description="version of the terms and privacy notice")
    consent_version: str = Field("1", min_length=1, max_length=40,
                                 description="version of the texts of the optional consents")
    export_ttl_days: int = Field(7, ge=1, le=90, description="days an export can be downloaded before it is deleted")
    exports_per_day: int = Field(3, ge=1, le=100, description="data exports a person may request per 24 hours")


SETTINGS = [ConsentSettings]


class Consent(Base):
    __tablename__ = "privacy_consents"
    __table_args__ = (Index("ix_privacy_consents_user", "user_id", "purpose", "at"),)
    #: increasing: the history's order (changes within one clock tick keep their order)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(40))
    granted: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column()
    #: where it was given: sign-up, account (the web app, a session), api-token
    source: Mapped[str] = mapped_column(String(24))


def settings(platform) -> ConsentSettings:
    return platform.plugin_settings("privacy") or ConsentSettings()


def _version(platform, purpose: str) -> str:
    st = settings(platform)
    return st.terms_version if purpose == "terms" else st.consent_version


def _row(c: Consent) -> dict:
    return {"purpose": c.purpose, "granted": c.granted, "version": c.version, "at": c.at.isoformat(), "source": c.source}


def record(platform, session: Session, user_id: uuid.UUID, purpose: str, granted: bool, source: str) -> Consent:
    c = Consent(user_id=user_id, purpose=purpose, granted=granted, version=_version(platform, purpose),
                at=platform.clock.now(), source=source)
    session.add(c)
    session.flush()
    return c


def consent_records(session: Session, user_id: uuid.UUID) -> list[dict]:
    rows = session.scalars(select(Consent).where(Consent.user_id == user_id).order_by(Consent.at, Consent.id))
    return [_row(c) for c in rows]


def erase_consents(session: Session, user_id: uuid.UUID) -> int:
    return session.execute(delete(Consent).where(Consent.user_id == user_id)).rowcount or 0


def on_event(platform, event) -> None:
    """Sign-up: the person accepted the terms in force."""
    if event.type != "user.registered" or event.actor_id is None:
        return
    with platform.session() as s:
        record(platform, s, event.actor_id, "terms", True, "sign-up")


def _state(platform, session: Session, user_id: uuid.UUID) -> dict:
    history = consent_records(session, user_id)
    current = {}
    for purpose, about in PURPOSES.items():
        latest = next((h for h in reversed(history) if h["purpose"] == purpose), None)
        current[purpose] = {"purpose": purpose, "about": about, "granted": bool(latest and latest["granted"]),
                            "version": latest["version"] if latest else None, "at": latest["at"] if latest else None,
                            "current_version": _version(platform, purpose)}
    return {"current": list(current.values()), "history": history}


router = APIRouter(tags=["privacy"])


class ConsentOut(BaseModel):
    current: list[dict]
    history: list[dict]


class ConsentIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"granted": True}]}}
    granted: bool


@router.get("/consents", response_model=ConsentOut)
def get_consents(actor: Actor = Depends(scope("profile:read")), platform=Depends(get_platform)):
    """Your consents now (one per purpose, with the version of the text you agreed to) and their history."""
    with platform.read() as s:
        return _state(platform, s, actor.user_id)


@router.put("/consents/{purpose}", response_model=ConsentOut)
def put_consent(purpose: str, body: ConsentIn, actor: Actor = Depends(session_only),
                platform=Depends(get_platform)):
    """Give or withdraw a consent, signed in (an API token cannot consent for you); each change is
    kept in the history with the version of the text."""
    if purpose not in PURPOSES:
        raise NotFound(f"consent purpose {purpose!r}")
    if purpose == "terms" and not body.granted:
        raise Problem(409, "terms-withdrawal", "the terms cannot be withdrawn while the account exists: "
                      "delete your account instead (POST /api/v1/privacy/erasure)")
    source = "account" if "*" in actor.scopes else "api-token"
    with platform.session() as s:
        record(platform, s, actor.user_id, purpose, body.granted, source)
        return _state(platform, s, actor.user_id)
