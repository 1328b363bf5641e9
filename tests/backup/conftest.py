"""Fixtures for the backup tests: the source deployment's environment for `musicconnect`
subprocesses and empty target deployments (a new data dir, and a new PostgreSQL database and S3
bucket in the distributed pass)."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from musicconnect.testing import TEST_DB, TEST_S3

BIN = Path(sys.executable).parent / "musicconnect"
CHEAP = {"MC_ARGON2_TIME_COST": "1", "MC_ARGON2_MEMORY_COST": "1024", "MC_LOG_LEVEL": "WARNING"}


def deployment_env(data_dir: Path, database_url: str | None, bucket: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MC_")}
    env.update(CHEAP, MC_DATA_DIR=str(data_dir))
    if database_url:
        env["MC_DATABASE_URL"] = database_url
    if bucket:
        env.update(MC_S3_BUCKET=bucket, MC_S3_ENDPOINT_URL=TEST_S3, MC_S3_ACCESS_KEY_ID="test",
                   MC_S3_SECRET_ACCESS_KEY="test")
    return env


def run(env: dict, *args: str, ok: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


def one_line_error(r: subprocess.CompletedProcess, code: int = 1) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


@pytest.fixture
def source_env(mc_settings):
    """`musicconnect` in the deployment the test's platform runs (same database, storage, key)."""
    return deployment_env(mc_settings.data_dir, mc_settings.effective_database_url, mc_settings.s3_bucket)


@pytest.fixture
def empty_deployment(tmp_path):
    """``make() -> env`` of a new, empty deployment: new data dir; new PostgreSQL database and new S3
    bucket when the tests run on them."""
    made: list[str] = []
    admin = None
    if TEST_DB:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        admin = create_engine(make_url(TEST_DB).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")

    def make() -> dict[str, str]:
        tag = uuid.uuid4().hex[:10]
        url = None
        if TEST_DB:
            name = f"mc_restore_{tag}"
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{name}"'))
            made.append(name)
            url = make_url(TEST_DB).set(database=name).render_as_string(hide_password=False)
        return deployment_env(tmp_path / f"target-{tag}", url, f"mc-restore-{tag}" if TEST_S3 else None)

    yield make
    if admin is not None:
        with admin.connect() as c:
            for name in made:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
