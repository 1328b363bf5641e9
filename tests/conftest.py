"""Shared test helpers. Fixtures come from the core's pytest plugin (musicconnect.testing)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


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
