"""Writes that stay right when the same request arrives many times at once, on SQLite and
PostgreSQL alike: an insert that is a no-op when the row exists (its row count says whether this
request made it), a delete whose row count says whether this request removed it, and a
per-(fan, artist) lock for the few check-then-act steps that go through the core's services
(joining and leaving, which grant and revoke entitlements)."""
from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import delete, false, func, select, update
from sqlalchemy.orm import Session


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def insert_once(session: Session, model, **values) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``: whether this call created the row. A concurrent
    creator of the same key makes it wait (PostgreSQL) or queue on the write lock (SQLite), then
    do nothing."""
    table = model.__table__
    stmt = _insert(session)(table).values(**values).on_conflict_do_nothing()
    # RETURNING says it on every driver (a row count after ON CONFLICT is not portable)
    return session.execute(stmt.returning(*table.primary_key.columns)).first() is not None


def delete_once(session: Session, model, *where) -> bool:
    """``DELETE … WHERE``: whether this call removed the row (of N concurrent deletes, one)."""
    table = model.__table__
    return session.execute(delete(table).where(*where).returning(*table.primary_key.columns)).first() is not None


def _key(*parts) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def member_lock(session: Session, user_id: uuid.UUID, artist_id: uuid.UUID) -> None:
    """Serialise this transaction with every other one holding the lock of the same fan and
    artist, until it ends. PostgreSQL: a transaction-scoped advisory lock. SQLite: the database
    write lock, taken by a write that changes nothing (the transaction's first write, so its
    reads after this see everything committed before). Read what you decide on after this call,
    with ``populate_existing`` if the session may hold it already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_key("fanclub-member", user_id, artist_id))))
    else:
        from .models import Follow

        table = Follow.__table__
        session.execute(update(table).where(false()).values(user_id=table.c.user_id))
