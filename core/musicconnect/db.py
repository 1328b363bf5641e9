"""Database access: one SQLAlchemy 2 engine per platform, sessions as transactions, shared types.

SQLite (WAL, foreign keys on) is the embedded default; PostgreSQL when ``MC_DATABASE_URL`` says so.
Plugins declare their tables on :class:`Base` so that they share the naming convention and types.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, Uuid, create_engine, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from .errors import ConfigError, Problem

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use platform.clock.now()")
        try:
            value = value.astimezone(timezone.utc)
        except (OverflowError, ValueError):  # 9999-12-31T23:59-14:00 has no UTC time
            raise Problem(422, "validation", f"the time {value.isoformat()} is out of range") from None
        if not (1 <= value.year <= 9998):
            raise Problem(422, "validation", f"the time {value.isoformat()} is out of range")
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType, uuid.UUID: Uuid()}


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)


class ConnectionUse:
    """How many pooled connections one unit of work (a request, a job) holds right now, and at
    most. A unit that checks out a second connection while holding one can deadlock the pool (N
    units each holding one and waiting for another): the count makes that visible and testable."""

    __slots__ = ("what", "held", "max_held", "checkouts", "queries")

    def __init__(self, what: str):
        self.what = what
        self.held = 0
        self.max_held = 0
        self.checkouts = 0
        self.queries = 0  # SQL statements run (tests keep read routes free of N+1 queries)


_USE: ContextVar[ConnectionUse | None] = ContextVar("musicconnect_connection_use", default=None)
_OPEN: ContextVar[Session | None] = ContextVar("musicconnect_open_session", default=None)


def wrote(session: Session) -> bool:
    """Has this session written anything not yet committed? (Then what it reads must not be cached.)"""
    return bool(session.info.get("mc_wrote") or session.new or session.dirty or session.deleted)
_NESTED_SEEN: set[str] = set()
#: tests set a list here to collect every unit of work (see tests/core/test_pool.py)
RECORDER: list[ConnectionUse] | None = None


def begin_unit(what: str) -> ConnectionUse:
    """Start counting the connections of the unit of work running in this context (the app does it
    per request, the job runner per job); threads started with the context copied share it."""
    use = ConnectionUse(what)
    _USE.set(use)
    if RECORDER is not None:
        RECORDER.append(use)
    return use


def current_unit() -> ConnectionUse | None:
    return _USE.get()


def _on_checkout(dbapi_conn, record, proxy) -> None:
    use = _USE.get()
    if use is None:
        return
    record.info["mc_use"] = use
    use.checkouts += 1
    use.held += 1
    if use.held > use.max_held:
        use.max_held = use.held
    if use.held > 1 and use.what not in _NESTED_SEEN:
        _NESTED_SEEN.add(use.what)
        import logging

        logging.getLogger("musicconnect.db").warning(
            "%s checked out a second database connection while holding one: under load this can exhaust "
            "the pool; pass the open session down instead", use.what)


def _on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
    use = _USE.get()
    if use is not None:
        use.queries += 1
    _refuse_nul(parameters)


# the JSON escape of a NUL (an odd number of backslashes before "u0000"): SQLite's JSON columns are
# bound as serialized documents (psycopg's as Json/Jsonb wrappers of the object, walked below)
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def _has_nul(value, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value or (value[:1] in ("{", "[") and "\\u0000" in value
                                      and _NUL_ESCAPE.search(value) is not None)
    if depth > 32:
        return False
    if isinstance(value, dict):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v, depth + 1) for v in value)
    if type(value).__name__ in ("Json", "Jsonb"):  # psycopg's JSON/JSONB parameter wrappers
        return _has_nul(getattr(value, "obj", None), depth + 1)
    return False


def _refuse_nul(parameters) -> None:
    """PostgreSQL cannot store U+0000 in text or JSONB (a DataError, so a 500): refuse it on every
    backend alike, wherever it comes from (a body, a path, a query, a plugin), as a 422 problem."""
    rows = parameters if isinstance(parameters, list) else (parameters,)
    for row in rows:
        for value in (row.values() if isinstance(row, dict) else row or ()):
            if _has_nul(value):
                raise Problem(422, "nul-character", "text may not contain the NUL character (U+0000)")


def _on_checkin(dbapi_conn, record) -> None:
    use = record.info.pop("mc_use", None)
    if use is not None:
        use.held -= 1


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"


def make_engine(url: str, *, pool_size: int = 20, pool_timeout: float = 10.0) -> Engine:
    """One engine; its pool holds ``pool_size`` connections and never overflows: every unit of
    work holds at most one (see :class:`ConnectionUse`), and the number of units running at once
    is bounded by the threads that may use it (``Settings.request_threads``, job threads)."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"MC_DATABASE_URL is not a valid database URL: {exc}") from None
    # hide_parameters: an error's text never carries bound values (password hashes, names, e-mails)
    kwargs: dict[str, Any] = {"future": True, "hide_parameters": True}
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            from pathlib import Path
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
        if db and db != ":memory:":
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout)
    else:
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.update(pool_pre_ping=True, pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout)
    try:
        engine = create_engine(parsed, **kwargs)
    except Exception as exc:  # missing driver and the like
        raise ConfigError(f"cannot use database {redact(url)}: {exc}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "checkout", _on_checkout)
    event.listen(engine, "checkin", _on_checkin)
    event.listen(engine, "before_cursor_execute", _on_execute)
    return engine


class Database:
    """Engine + session factory. ``with db.session() as s:`` is one transaction."""

    def __init__(self, url: str, *, pool_size: int = 20, pool_timeout: float = 10.0):
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, pool_timeout=pool_timeout)
        self.Session = sessionmaker(self.engine, expire_on_commit=False, future=True)
        install_commit_hooks(self.Session)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def check(self) -> None:
        """Connect once; raise :class:`ConfigError` with one readable line when that fails."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (OperationalError, DBAPIError) as exc:
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"cannot reach the database at {redact(self.url)}: {reason}") from None

    @contextmanager
    def session(self) -> Iterator[Session]:
        s = self.Session()
        s.info["mc_managed"] = True
        token = _OPEN.set(s)
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise
        finally:
            _OPEN.reset(token)
            committed = s.info.pop("mc_committed", [])
            s.close()
            # after-commit work runs once the connection is back in the pool, so a hook that
            # opens its own session never holds two
            run_callbacks(committed)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session to read with: the one this unit of work already has open (so a read made while
        a transaction is open never takes a second pooled connection), else a fresh one. Whoever
        caches what it read checks :func:`wrote` first: an open transaction may hold writes that
        could still roll back."""
        outer = _OPEN.get()
        if outer is not None:
            yield outer
            return
        with self.session() as s:
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


def on_commit(session: Session, callback) -> None:
    """Run ``callback()`` once this session's transaction has committed (dropped on rollback)."""
    session.info.setdefault("mc_after_commit", []).append(callback)


def run_callbacks(callbacks) -> None:
    import logging

    for cb in callbacks:
        try:
            cb()
        except Exception:  # a callback must never undo or hide a commit
            logging.getLogger("musicconnect.db").exception("after-commit callback failed")


def install_commit_hooks(Session_: sessionmaker) -> None:
    @event.listens_for(Session_, "after_flush")
    def _after_flush(session: Session, _ctx) -> None:
        session.info["mc_wrote"] = True

    @event.listens_for(Session_, "do_orm_execute")
    def _dml(state) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            state.session.info["mc_wrote"] = True

    @event.listens_for(Session_, "after_commit")
    def _after_commit(session: Session) -> None:
        session.info.pop("mc_wrote", None)
        callbacks = session.info.pop("mc_after_commit", [])
        if session.info.get("mc_managed"):
            session.info.setdefault("mc_committed", []).extend(callbacks)  # run by Database.session
        else:
            run_callbacks(callbacks)

    @event.listens_for(Session_, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop("mc_wrote", None)
        session.info.pop("mc_after_commit", None)
