"""Fixtures for the backup tests: the source deployment's environment for `musicconnect`
subprocesses and empty target deployments (a new data dir, and a new PostgreSQL database and S3
bucket in the distributed pass)."""
from __future__ import annotations

import uuid

import pytest

from backup_helpers import deployment_env
from musicconnect.testing import TEST_DB, TEST_S3


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
