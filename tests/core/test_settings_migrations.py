"""Settings sources and per-plugin migration histories."""
from __future__ import annotations

import pytest
from sqlalchemy import inspect

from musicconnect import migrate
from musicconnect.settings import Settings


def test_toml_file_env_and_plugin_tables(tmp_path, monkeypatch):
    cfg = tmp_path / "mc.toml"
    cfg.write_text('platform_name = "Garage Radio"\naccess_token_ttl = 600\n[plugins.hello]\nmax_length = 99\n')
    monkeypatch.setenv("MC_CONFIG", str(cfg))
    monkeypatch.setenv("MC_ACCESS_TOKEN_TTL", "300")
    s = Settings(data_dir=tmp_path)
    assert s.platform_name == "Garage Radio"
    assert s.access_token_ttl == 300  # environment beats the file
    assert s.plugin_config == {"hello": {"max_length": 99}}
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'musicconnect.db'}"


def test_bad_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("MC_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ValueError, match="not a file"):
        Settings(data_dir=tmp_path)
    monkeypatch.delenv("MC_CONFIG")
    with pytest.raises(ValueError):
        Settings(data_dir=tmp_path, storage_backend="s3")


def test_signing_key_generated_once(tmp_path):
    a = Settings(data_dir=tmp_path).signing_key()
    b = Settings(data_dir=tmp_path).signing_key()
    assert a == b and len(a) >= 48
    assert oct((tmp_path / "secret.key").stat().st_mode)[-3:] == "600"


def test_plugin_history_up_and_down(mc_platform):
    status = {r["name"]: r for r in migrate.status(mc_platform)}
    assert status["core"]["up_to_date"] and status["hello"]["up_to_date"]
    assert inspect(mc_platform.db.engine).has_table("hello_greetings")
    assert inspect(mc_platform.db.engine).has_table("alembic_version_hello")
    migrate.downgrade(mc_platform, "hello", "base")
    assert not inspect(mc_platform.db.engine).has_table("hello_greetings")
    assert inspect(mc_platform.db.engine).has_table("users")  # the core is untouched
    out = migrate.upgrade(mc_platform)
    assert ("hello", None, "hello_0001") in out
    assert inspect(mc_platform.db.engine).has_table("hello_greetings")


def test_unknown_history(mc_platform):
    with pytest.raises(migrate.MigrationError, match="no migration history"):
        migrate.upgrade(mc_platform, only="nope")


def test_models_match_migrations(mc_platform):
    """Autogenerate against a migrated database finds nothing to do (models and migrations agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from musicconnect.db import Base

    with mc_platform.db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [d for d in compare_metadata(ctx, Base.metadata)
                if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name.startswith("alembic_version"))]
    assert diff == []
