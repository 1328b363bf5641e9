"""Shared test helpers. Fixtures come from the core's pytest plugin (musicconnect.testing)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


#: a test that uses one of these (directly or through mc_platform, mc_client, proc_env...) runs
#: against the services, so it runs in both passes; the rest run once (the embedded pass)
SERVICE_FIXTURES = frozenset({"mc_database_url", "mc_redis_url"})
SERVICE_ENV = ("MC_TEST_DATABASE_URL", "MC_TEST_REDIS_URL", "MC_TEST_S3_ENDPOINT")
_reads_env: dict[str, bool] = {}


def _uses_services(item) -> bool:
    if "browser" in getattr(item, "fixturenames", ()):
        return False  # the web app's screens in Chromium: their API is tested on both passes
    if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("services"):
        return True
    path = str(item.path)
    if path not in _reads_env:  # a module that reads the services' URLs itself
        text = item.path.read_text(encoding="utf-8", errors="replace")
        _reads_env[path] = any(name in text for name in SERVICE_ENV)
    return _reads_env[path]


def pytest_collection_modifyitems(config, items):
    """The distributed pass (``MC_TEST_DATABASE_URL`` set) runs only the tests that touch the
    database, Redis or S3: a test of pure code (lint, docs, the contract compiler, property tests
    of a pure function) learns nothing new from a second run, and neither does a browser test of
    the web app's screens (the API behind them is tested on both passes; the server they drive
    runs without Redis either way)."""
    import os

    if not os.environ.get("MC_TEST_DATABASE_URL"):
        return
    keep = [i for i in items if _uses_services(i)]
    dropped = [i for i in items if not _uses_services(i)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def proc_env(tmp_path, mc_database_url):
    """Environment for `musicconnect` subprocesses: this test's database, cheap hashing, no Redis."""
    import os

    env = {**os.environ, "MC_DATA_DIR": str(tmp_path / "data"), "MC_DATABASE_URL": mc_database_url,
           "MC_ARGON2_TIME_COST": "1", "MC_ARGON2_MEMORY_COST": "1024", "MC_LOG_LEVEL": "WARNING"}
    env.pop("MC_REDIS_URL", None)
    return env
