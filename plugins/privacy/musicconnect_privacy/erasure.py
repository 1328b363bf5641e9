"""Erasure (GDPR Art. 17): the account and what every plugin holds about it, in one transaction.

The request is confirmed by re-entering the password (an interactive session; personal API
tokens are refused) and runs at once: every installed plugin's ``erase_user_data`` in one
transaction (the core's last: it deletes the user), with the person's refresh and API tokens;
a failure rolls it all back. After the commit the storage objects the reports name are deleted
by a job (retried, logged). What remains is a receipt (``privacy_erasures``): a random id, when,
and the records kept and why (the reports' ``Retained``) — never the email, name or user id.
Nothing emitted names the person.
"""
from __future__ import annotations

import logging
import secrets
import uuid
from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Boolean, Integer, String, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Actor, Base, Forbidden, JobSpec, NotFound, Problem, uuid_pk
from musicconnect.db import JSONType
from musicconnect.models import ApiToken, User
from musicconnect.web import get_platform, session_only

log = logging.getLogger("musicconnect.privacy.erasure")


class Erasure(Base):
    """The receipt of an erasure: names nobody."""

    __tablename__ = "privacy_erasures"
    id: Mapped[uuid.UUID] = uuid_pk()
    receipt: Mapped[str] = mapped_column(String(40), unique=True)
    at: Mapped[datetime] = mapped_column(index=True)
    by_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the admin who ran it (an operator's request received elsewhere), else NULL
    admin_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    #: rows erased by plugin and kind
    erased: Mapped[dict] = mapped_column(JSONType, default=dict)
    #: [{"plugin", "what", "why", "count", "until"}]
    retained: Mapped[list] = mapped_column(JSONType, default=list)


class PendingDelete(Base):
    """A storage object to delete after an erasure committed (the job retries until it is gone);
    a key ending in ``/`` is a prefix: everything under it when the job runs goes, so objects
    written after the erasure's listing (a transcode finishing meanwhile) go too."""

    __tablename__ = "privacy_pending_deletes"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(900))
    attempts: Mapped[int] = mapped_column(Integer, default=0)


def erase(platform, user_id: uuid.UUID, *, by_admin: bool = False, admin_id: uuid.UUID | None = None) -> dict:
    """Erase ``user_id`` everywhere; returns the receipt (``receipt``, ``at``, ``erased``, ``retained``)."""
    now = platform.clock.now()
    with platform.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("user")
        platform.tokens.revoke_all(s, user_id)
        s.execute(delete(ApiToken).where(ApiToken.user_id == user_id))
        reports = platform.erase_user_data(s, user)
        s.flush()
        if s.scalar(select(User.id).where(User.id == user_id)) is not None:
            # the core's part deletes the user; should it not have, the erasure is not done yet
            log.warning("no erase_user_data part deleted the user: deleting the account row")
            s.delete(user)
            s.flush()
        erased: dict[str, dict[str, int]] = {}
        retained: list[dict] = []
        keys: list[str] = []
        for plugin, rep in reports:
            erased[plugin] = {k: int(v) for k, v in (rep.erased or {}).items()}
            retained += [{"plugin": plugin, "what": r.what, "why": r.why, "count": r.count,
                          "until": r.until.isoformat() if r.until else None} for r in rep.retained]
            keys += list(rep.storage_keys)
        receipt = secrets.token_hex(16)
        s.add(Erasure(id=uuid.uuid4(), receipt=receipt, at=now, by_admin=by_admin or admin_id is not None,
                      admin_id=admin_id, erased=erased, retained=retained))
        if admin_id is not None:
            log.info("erasure %s run by admin %s", receipt, admin_id)
        for key in dict.fromkeys(keys):
            s.add(PendingDelete(key=key))
        if keys:
            platform.jobs.enqueue("privacy.purge_objects", session=s)
    platform.forget_user(user_id)
    return {"receipt": receipt, "at": now.isoformat(), "erased": erased, "retained": retained}


def _purge(platform, key: str) -> None:
    """Delete an object, or everything under a prefix (a key ending in ``/``): listed now, so
    what was written after the erasure committed goes too. Another purge deleting the same prefix
    at once is no failure."""
    if not key.endswith("/"):
        platform.storage.delete(key)
        return
    for _ in range(3):
        try:
            platform.storage.delete_prefix(key)
            return
        except FileNotFoundError:  # a concurrent purge removed part of it meanwhile: look again
            continue
    if next(iter(platform.storage.list(key)), None) is not None:
        raise RuntimeError(f"{key} is not empty yet")


def purge_objects(ctx) -> dict:
    """Delete the storage objects of committed erasures; a failure is logged and retried."""
    platform = ctx.platform
    with platform.read() as s:
        rows = list(s.execute(select(PendingDelete.id, PendingDelete.key)).all())
    done, failed = [], 0
    for i, (pid, key) in enumerate(rows):
        try:
            _purge(platform, key)
            done.append(pid)
        except Exception:
            failed += 1
            log.exception("could not delete an erased object; will retry")
        ctx.progress((i + 1) / max(1, len(rows)))
    with platform.session() as s:
        if done:
            s.execute(delete(PendingDelete).where(PendingDelete.id.in_(done)))
    if failed:
        raise RuntimeError(f"{failed} objects could not be deleted yet")
    return {"deleted": len(done)}


#: also hourly: what ten retries could not delete (storage down for a while) is tried again
JOBS = [JobSpec("purge_objects", purge_objects, max_retries=10, min_backoff_ms=5000, every_seconds=3600)]

router = APIRouter(tags=["privacy"])


class ErasureIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"password": "your current password"}]}}
    password: str = Field(min_length=1, max_length=1024)


class ErasureOut(BaseModel):
    receipt: str
    at: str
    erased: dict
    retained: list[dict]


@router.post("/erasure", response_model=ErasureOut)
def erase_me(body: ErasureIn, actor: Actor = Depends(session_only), platform=Depends(get_platform)):
    """Delete your account and your data now, confirmed by your password. Records the law makes us
    keep are listed in the answer (``retained``); the ``receipt`` names nobody."""
    gate = platform.ratelimiter.hit("5/hour", "privacy-erasure", str(actor.user_id))
    if not gate.allowed:
        raise Problem(429, "erasure-attempts", "more than 5 erasure attempts in an hour; retry later",
                      headers={"Retry-After": str(gate.retry_after)}, retry_after=gate.retry_after)
    with platform.read() as s:
        user = s.get(User, actor.user_id)
        hashed = user.password_hash if user is not None else None
    if not platform.passwords.verify(hashed, body.password):
        # 403, not 401: the session is fine (a 401 would make the app refresh and send it again)
        raise Problem(403, "wrong-password", "the password is wrong")
    return erase(platform, actor.user_id)


@router.post("/admin/users/{user_id}/erasure", response_model=ErasureOut)
def erase_user(user_id: uuid.UUID, actor: Actor = Depends(session_only), platform=Depends(get_platform)):
    """Erase an account (an operator acting on a request received elsewhere): an admin, signed in
    (API tokens are refused); the receipt records which admin."""
    if not actor.is_admin:
        raise Forbidden("only an admin can erase another account")
    if user_id == actor.user_id:
        raise Problem(409, "erase-yourself", "erase your own account from your privacy page, with your password")
    return erase(platform, user_id, by_admin=True, admin_id=actor.user_id)
