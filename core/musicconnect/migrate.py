"""Schema migrations: one Alembic history for the core and one per plugin, each with its own
version table ``alembic_version_<name>``. ``upgrade`` runs the core first, then every enabled
plugin. Plugin tables are named ``<plugin>_<thing>`` (that is how autogenerate tells them apart)."""
from __future__ import annotations

import contextlib
import zlib
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from . import models
from .db import Base
from .errors import MusicConnectError

HERE = Path(__file__).parent / "migrations"
CORE_TABLES = frozenset(t.name for t in Base.metadata.sorted_tables
                        if t.name in {m.__tablename__ for m in vars(models).values()
                                      if isinstance(m, type) and hasattr(m, "__tablename__")})


class MigrationError(MusicConnectError):
    pass


@dataclass(frozen=True)
class History:
    name: str
    versions: Path

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"

    def owns(self, table: str) -> bool:
        if self.name == "core":
            return table in CORE_TABLES
        return table.startswith(f"{self.name}_")


def histories(platform, *, only: str | None = None) -> list[History]:
    out = [History("core", HERE / "versions")]
    for plugin, path in platform.plugins.collect("register_migrations", platform=platform):
        p = Path(path)
        if not p.is_dir():
            raise MigrationError(f"plugin {plugin} names a migrations directory that does not exist: {p}")
        out.append(History(plugin, p))
    if only is not None:
        out = [h for h in out if h.name == only]
        if not out:
            raise MigrationError(f"no migration history named {only!r} (is the plugin installed and enabled?)")
    return out


def _config(h: History, conn) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_locations", str(h.versions))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes.update(connection=conn, metadata=Base.metadata, version_table=h.version_table,
                          owns_table=h.owns)
    return cfg


@contextlib.contextmanager
def _locked(platform):
    """Serialise concurrent migrators (several API processes starting at once on PostgreSQL)."""
    engine = platform.db.engine
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            key = zlib.crc32(b"musicconnect-migrations")
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        else:
            yield


def upgrade(platform, target: str = "heads", *, only: str | None = None) -> list[tuple[str, str | None, str | None]]:
    """Upgrade every history (or ``only`` one); returns ``(name, before, after)`` per history."""
    result = []
    with _locked(platform):
        for h in histories(platform, only=only):
            before = _current(platform, h)
            with platform.db.engine.begin() as conn:
                command.upgrade(_config(h, conn), target)
            result.append((h.name, before, _current(platform, h)))
    return result


def downgrade(platform, name: str, target: str) -> tuple[str | None, str | None]:
    h = histories(platform, only=name)[0]
    before = _current(platform, h)
    with _locked(platform), platform.db.engine.begin() as conn:
        command.downgrade(_config(h, conn), target)
    return before, _current(platform, h)


def _current(platform, h: History) -> str | None:
    with platform.db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": h.version_table})
        heads = ctx.get_current_heads()
    return ",".join(sorted(heads)) if heads else None


def _heads(h: History, conn) -> str | None:
    """The history's head revision, or its heads joined (a plugin made of feature modules may
    give each feature its own branch from a shared base revision)."""
    heads = ScriptDirectory.from_config(_config(h, conn)).get_heads()
    return ",".join(sorted(heads)) if heads else None


def status_of(platform, name: str) -> dict:
    """One history's current and head revision (``current`` is ``None`` on a fresh database)."""
    h = histories(platform, only=name)[0]
    with platform.db.engine.connect() as conn:
        head = _heads(h, conn)
    cur = _current(platform, h)
    return {"name": h.name, "current": cur, "head": head, "up_to_date": cur == head}


def status(platform) -> list[dict]:
    """Per history: current revision, head revision, and whether it is up to date."""
    out = []
    for h in histories(platform):
        with platform.db.engine.connect() as conn:
            head = _heads(h, conn)
        cur = _current(platform, h)
        out.append({"name": h.name, "current": cur, "head": head, "up_to_date": cur == head})
    return out


def revision(platform, name: str, message: str, *, rev_id: str | None = None) -> str:
    """Autogenerate a revision for one history against a database at its heads (developer tool;
    ``musicconnect db revision`` runs it on a throwaway database)."""
    h = histories(platform, only=name)[0]
    with platform.db.engine.begin() as conn:
        script = command.revision(_config(h, conn), message=message, autogenerate=True, rev_id=rev_id)
    return script.path if script else ""
