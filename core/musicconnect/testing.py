"""pytest plugin for MusicConnect and its plugin authors (auto-loaded through ``pytest11``).

Fixtures
--------
``mc_plugins``    which installed plugins a test loads: ``None`` (the default) = every installed
                  plugin; a list of entry-point names = only those. Override it in a conftest
                  (``@pytest.fixture def mc_plugins(): return ["guestbook"]``) or mark a test or
                  module ``@pytest.mark.mc_plugins("guestbook", "streaming")`` (the marker wins).
``mc_extra_plugins``  ``[(name, module), ...]`` loaded as if installed (default none)
``mc_clock``      a :class:`~musicconnect.clock.FrozenClock` every platform here uses
``mc_settings``   settings for one test: temp data dir, cheap argon2, its own database
``mc_make_platform(extra_plugins=(), entry_points=None, **settings)``  build more platforms
``mc_platform``   a migrated platform with the selected plugins
``mc_app`` / ``mc_client``  the ASGI app and a ``TestClient`` (lifespan run: jobs worker on)
``mc_users``      a fan, an artist and an admin with ``.headers`` for requests

A plugin's own tests should select it (``mc_plugins = ["guestbook"]``): then a broken plugin
that happens to be installed in the same environment is never imported, migrated or called.

Helpers: :func:`concurrently` fires N attempts at the same instant (limits under concurrency),
:func:`make_user` makes one more signed-in user.

Databases: SQLite by default. Set ``MC_TEST_DATABASE_URL`` to a PostgreSQL server URL (its
maintenance database) and each test gets a fresh database cloned from a migrated template (one
template per plugin selection). ``MC_TEST_REDIS_URL`` makes platforms use Redis (flushed before
each test) for jobs, pub/sub, rate limits. ``MC_TEST_S3_ENDPOINT`` makes storage an S3 bucket on
that endpoint.
"""
from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from .clock import FrozenClock

TEST_DB = os.environ.get("MC_TEST_DATABASE_URL")
TEST_REDIS = os.environ.get("MC_TEST_REDIS_URL")
TEST_S3 = os.environ.get("MC_TEST_S3_ENDPOINT")
FAST_HASH = {"argon2_time_cost": 1, "argon2_memory_cost": 1024}


def pytest_report_header(config):
    return (f"musicconnect: database={'postgresql' if TEST_DB else 'sqlite'} "
            f"redis={'yes' if TEST_REDIS else 'no'} storage={'s3' if TEST_S3 else 'local'}")


def _pg_admin(url: str):

    from .db import make_engine

    engine = make_engine(url)
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def pytest_configure(config):
    config.addinivalue_line("markers", "mc_plugins(*names): load only these installed plugins (by entry-point "
                                       "name) in the musicconnect fixtures; no names = the core alone")
    # starlette's TestClient (mc_client) warns about its own httpx transport: not the author's concern
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def mc_plugins():
    """The installed plugins this test loads, by entry-point name; ``None`` = all of them.
    Override in a conftest or use the ``mc_plugins`` marker."""
    return None


@pytest.fixture
def mc_extra_plugins():
    """``[(name, module), ...]`` loaded as if installed (a plugin not installed, a test double)."""
    return []


@dataclass(frozen=True)
class PluginSelection:
    """What the fixtures load: ``names`` (``None`` = every installed plugin) plus ``extra`` pairs."""

    names: tuple[str, ...] | None
    extra: tuple[tuple[str, Any], ...] = ()

    def entry_points(self):
        """The installed entry points to load: all (``True``) or the named ones."""
        if self.names is None:
            return True
        from .plugins import installed_entry_points

        installed = {ep.name: ep for ep in installed_entry_points()}
        own = {name for name, _ in self.extra}
        missing = [n for n in self.names if n not in installed and n not in own]
        if missing:
            raise pytest.UsageError(
                f"mc_plugins names {', '.join(map(repr, missing))}, which is not installed "
                f"(installed: {', '.join(sorted(installed)) or 'none'}); pip install -e your plugin, "
                f"or give it as mc_extra_plugins = [(name, module)]")
        return [installed[n] for n in self.names if n in installed]

    @property
    def key(self) -> tuple:
        return (self.names, tuple((n, getattr(m, "__name__", repr(m))) for n, m in self.extra))


@pytest.fixture
def mc_plugin_selection(request, mc_plugins, mc_extra_plugins) -> PluginSelection:
    marker = request.node.get_closest_marker("mc_plugins")
    names = marker.args if marker is not None else mc_plugins
    if isinstance(names, str):
        names = [names]
    return PluginSelection(None if names is None else tuple(names), tuple(mc_extra_plugins))


@pytest.fixture(scope="session")
def mc_template_databases(tmp_path_factory):
    """Session cache: one migrated template database per plugin selection."""
    from . import migrate
    from .platform import Platform
    from .settings import Settings

    made: dict[tuple, str] = {}
    names: list[str] = []

    def template(selection: PluginSelection) -> str:
        if selection.key in made:
            return made[selection.key]
        base = tmp_path_factory.mktemp("mc-template")
        if TEST_DB:
            from sqlalchemy import text

            name = f"mc_tpl_{uuid.uuid4().hex[:10]}"
            admin = _pg_admin(TEST_DB)
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            names.append(name)
            url = _with_database(TEST_DB, name)
        else:
            url = f"sqlite:///{base / 'template.db'}"
        p = Platform(Settings(data_dir=base, database_url=url, **FAST_HASH), extra_plugins=selection.extra,
                     entry_points=selection.entry_points())
        try:
            migrate.upgrade(p)
        finally:
            p.close()
        made[selection.key] = url
        return url

    yield template
    if TEST_DB and names:
        from sqlalchemy import text

        admin = _pg_admin(TEST_DB)
        with admin.connect() as c:
            for name in names:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def mc_template_database(mc_template_databases, mc_plugin_selection) -> str:
    """A database migrated once per session for this test's plugin selection (core + those plugins)."""
    return mc_template_databases(mc_plugin_selection)


@pytest.fixture
def mc_database_url(mc_template_database, tmp_path) -> str:
    if TEST_DB:
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        tpl = make_url(mc_template_database).database
        name = f"mc_t_{uuid.uuid4().hex[:12]}"
        admin = _pg_admin(TEST_DB)
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{tpl}"'))
        yield _with_database(TEST_DB, name)
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        src = Path(mc_template_database[len("sqlite:///"):])
        dst = tmp_path / "mc.db"
        shutil.copyfile(src, dst)
        yield f"sqlite:///{dst}"


@pytest.fixture
def mc_redis_url():
    """The test Redis (flushed), or None on the embedded configuration."""
    if not TEST_REDIS:
        yield None
        return
    import redis

    r = redis.Redis.from_url(TEST_REDIS)
    r.flushall()
    yield TEST_REDIS
    r.close()


@pytest.fixture
def mc_clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def mc_settings(tmp_path, mc_database_url, mc_redis_url):
    from .settings import Settings

    extra: dict[str, Any] = {}
    if TEST_S3:
        extra.update(s3_bucket=f"mc-{uuid.uuid4().hex[:12]}", s3_endpoint_url=TEST_S3,
                     s3_access_key_id="test", s3_secret_access_key="test")
    return Settings(env="test", data_dir=tmp_path / "data", database_url=mc_database_url, redis_url=mc_redis_url,
                    base_url="http://testserver", **FAST_HASH, **extra)


@pytest.fixture
def mc_make_platform(mc_settings, mc_clock, mc_plugin_selection):
    """Factory: ``mc_make_platform(extra_plugins=[("name", module)], entry_points=None, **overrides)``.

    ``entry_points=None`` loads this test's selection (``mc_plugins``, all installed by default);
    ``False`` none, ``True`` every installed one, or a list of entry points. ``mc_extra_plugins``
    are always added, then ``extra_plugins``.
    """
    from . import migrate
    from .platform import Platform

    made = []

    def make(extra_plugins=(), entry_points=None, migrate_db: bool = True, **overrides):
        settings = mc_settings.model_copy(update=overrides) if overrides else mc_settings
        if entry_points is None:
            entry_points = mc_plugin_selection.entry_points()
        p = Platform(settings, clock=mc_clock, extra_plugins=[*mc_plugin_selection.extra, *extra_plugins],
                     entry_points=entry_points)
        p.run_worker = True
        if migrate_db:
            migrate.upgrade(p)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


@pytest.fixture
def mc_platform(mc_make_platform):
    return mc_make_platform()


@pytest.fixture
def mc_app(mc_platform):
    from .app import create_app

    return create_app(mc_platform, state_poll_interval=0.2)


@pytest.fixture
def mc_client(mc_app):
    from starlette.testclient import TestClient

    with TestClient(mc_app) as client:
        yield client


@dataclass
class TestUser:
    id: uuid.UUID
    email: str
    password: str
    role: str
    access_token: str
    refresh_token: str
    artist_id: uuid.UUID | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def renew(self, platform) -> "TestUser":
        """A fresh access token (after moving the frozen clock past its expiry)."""
        from .models import User

        with platform.session() as s:
            self.access_token = platform.tokens.issue_access(s.get(User, self.id))
        return self


def make_user(platform, role: str = "fan", email: str | None = None, password: str = "s3cret-passphrase",
              artist_name: str | None = None) -> TestUser:
    from .accounts import create_user

    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    with platform.session() as s:
        user = create_user(platform, s, email=email, password=password, display_name=email.split("@")[0],
                           role=role, artist_name=artist_name)
        pair = platform.tokens.issue_pair(s, user)
        return TestUser(user.id, email, password, role, pair.access_token, pair.refresh_token,
                        user.artist.id if user.artist else None)


@dataclass
class TestUsers:
    fan: TestUser
    artist: TestUser
    admin: TestUser
    platform: Any

    def make(self, role: str = "fan", **kw) -> TestUser:
        return make_user(self.platform, role, **kw)


@pytest.fixture
def mc_users(mc_platform) -> TestUsers:
    return TestUsers(fan=make_user(mc_platform, "fan"), artist=make_user(mc_platform, "artist", artist_name="Test Artist"),
                     admin=make_user(mc_platform, "admin"), platform=mc_platform)


def concurrently(n: int, attempt, *, timeout: float = 60.0) -> list:
    """Run ``attempt(i)`` for ``i in range(n)`` in ``n`` threads released at the same instant
    (a barrier), and return the results in order; an exception is returned in its slot.

    The shared helper for "a limit holds under concurrency": fire N simultaneous requests through
    one ``TestClient`` (its portal runs them concurrently on the app's event loop and thread pool)
    or N direct service calls, then count what succeeded::

        codes = concurrently(10, lambda i: client.post(url, json=body, headers=h).status_code)
        assert codes.count(201) == 5
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(n)

    def run(i: int):
        barrier.wait(timeout)
        try:
            return attempt(i)
        except Exception as exc:  # returned, so that one failure does not hide the others
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n), timeout=timeout))
