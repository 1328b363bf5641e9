"""The musicconnect command, run as an operator would: real processes, real exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "musicconnect"


@pytest.fixture
def cli(proc_env):
    env = proc_env

    def run(*args, ok=True, extra_env=None, input=None):
        r = subprocess.run([str(BIN), *args], capture_output=True, text=True, env={**env, **(extra_env or {})},
                           timeout=180, input=input)
        if ok:
            assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r

    return run


def one_line_error(r, code):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_plugins_list_table_and_json(cli):
    table = cli("plugins", "list").stdout
    assert "core" in table and "hello" in table and "register_routes" in table
    rows = {r["name"]: r for r in json.loads(cli("plugins", "list", "--json").stdout)}
    assert rows["hello"]["enabled"] and rows["hello"]["version"] == "0.1.0" and "check_access" in rows["hello"]["hooks"]
    assert rows["core"]["builtin"]


def test_disable_enable_roundtrip_and_plugin_commands(cli):
    assert cli("hello", "stats").stdout.strip() == "0 greetings"
    assert cli("plugins", "disable", "hello").stdout.strip() == "hello disabled"
    rows = {r["name"]: r for r in json.loads(cli("plugins", "list", "--json").stdout)}
    assert rows["hello"]["status"] == "disabled" and not rows["hello"]["enabled"]
    r = cli("hello", "stats", ok=False)
    assert r.returncode == 2  # a disabled plugin's commands are gone
    assert cli("plugins", "enable", "hello").stdout.strip() == "hello enabled"
    assert cli("hello", "stats").stdout.strip() == "0 greetings"


def test_enable_unknown_or_core(cli):
    line = one_line_error(cli("plugins", "enable", "nosuchplugin", ok=False), 2)
    assert "no plugin named 'nosuchplugin' is installed" in line
    one_line_error(cli("plugins", "disable", "core", ok=False), 2)
    one_line_error(cli("plugins", "info", "nosuchplugin", ok=False), 2)


def test_allow_list_env(cli):
    rows = {r["name"]: r for r in json.loads(cli("plugins", "list", "--json", extra_env={"MC_PLUGINS": ""}).stdout)}
    assert rows["hello"]["status"] == "not-allowed"
    one_line_error(cli("plugins", "enable", "hello", ok=False, extra_env={"MC_PLUGINS": "streaming"}), 2)


def test_plugin_info_and_config(cli):
    info = json.loads(cli("plugins", "info", "hello").stdout)
    assert info["distribution"] == "musicconnect-hello" and "max_length" in info["settings"]
    assert json.loads(cli("plugins", "config", "hello", "max_length", "120").stdout) == {"max_length": "120"}
    assert json.loads(cli("plugins", "config", "hello").stdout)["max_length"] == 120
    line = one_line_error(cli("plugins", "config", "hello", "max_length", "0", ok=False), 1)
    assert "max_length" in line
    one_line_error(cli("plugins", "config", "hello", "colour", "red", ok=False), 1)
    assert json.loads(cli("plugins", "config", "hello").stdout)["max_length"] == 120  # nothing half-written


def test_db_commands(cli):
    out = cli("db", "current").stdout
    from alembic.script import ScriptDirectory

    import musicconnect.migrations as core_migrations

    heads = set(ScriptDirectory(str(Path(core_migrations.__file__).parent)).get_heads())  # the core's branches
    [core] = [line for line in out.splitlines() if line.startswith("core: ")]
    assert set(core.removeprefix("core: ").split(" ")[0].split(",")) == heads, (core, heads)
    assert "hello: hello_0001" in out and "needs upgrade" not in out
    assert "hello: hello_0001 -> empty" in cli("db", "downgrade", "base", "--plugin", "hello").stdout
    assert "hello: empty (head hello_0001, needs upgrade)" in cli("db", "current").stdout
    assert "hello: empty -> hello_0001" in cli("db", "upgrade").stdout


def test_users_create(cli):
    out = cli("users", "create", "root@example.com", "--role", "admin", "--password", "correct-horse-battery").stdout
    assert out.startswith("created admin root@example.com")
    line = one_line_error(cli("users", "create", "root@example.com", "--password", "correct-horse-battery", ok=False), 1)
    assert "already exists" in line
    one_line_error(cli("users", "create", "weak@example.com", "--password", "123", ok=False), 1)
    one_line_error(cli("users", "create", "not-an-email", "--password", "correct-horse-battery", ok=False), 2)
    one_line_error(cli("users", "create", "x@example.com", "--role", "god", "--password", "correct-horse-battery", ok=False), 2)
    prompted = cli("users", "create", "prompt@example.com", input="correct-horse-battery\ncorrect-horse-battery\n")
    assert "created fan prompt@example.com" in prompted.stdout


def test_demo_seed_is_idempotent(cli):
    assert cli("demo", "seed").stdout.startswith("seeded: artist@demo.com")
    assert cli("demo", "seed").stdout.startswith("already seeded")


def test_unreachable_database_is_one_line(cli):
    for args in (("db", "upgrade"), ("serve",), ("plugins", "list")):
        line = one_line_error(cli(*args, ok=False, extra_env={"MC_DATABASE_URL": "postgresql://mc:pw@127.0.0.1:1/mc"}), 1)
        assert "cannot reach the database" in line and "pw" not in line


def test_bad_settings_are_one_line(cli):
    one_line_error(cli("plugins", "list", ok=False, extra_env={"MC_ENV": "staging"}), 1)
    one_line_error(cli("plugins", "list", ok=False, extra_env={"MC_DATABASE_URL": "::nonsense::"}), 1)


def test_worker_and_multiprocess_need_redis(cli):
    assert "MC_REDIS_URL" in one_line_error(cli("worker", ok=False), 2)
    assert "MC_REDIS_URL" in one_line_error(cli("serve", "--workers", "2", ok=False), 2)


@pytest.mark.slow
def test_plugins_install(cli, tmp_path):
    one_line_error(cli("plugins", "install", str(tmp_path / "does-not-exist"), ok=False), 1)
    pkg = tmp_path / "musicconnect-tiny"
    (pkg / "musicconnect_tiny").mkdir(parents=True)
    (pkg / "musicconnect_tiny" / "__init__.py").write_text("")
    (pkg / "musicconnect_tiny" / "plugin.py").write_text(textwrap.dedent("""
        from musicconnect import hookimpl, Metric

        @hookimpl
        def register_metrics(platform):
            return [Metric("tiny", "Tiny", "a tiny metric", lambda p, a, w: 1)]
    """))
    (pkg / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "musicconnect-tiny"
        version = "0.0.1"
        dependencies = ["musicconnect-core"]
        [project.entry-points.musicconnect]
        tiny = "musicconnect_tiny.plugin"
    """))
    try:
        out = cli("plugins", "install", str(pkg)).stdout
        assert "tiny" in out
        rows = {r["name"]: r for r in json.loads(cli("plugins", "list", "--json").stdout)}
        assert rows["tiny"]["enabled"] and rows["tiny"]["hooks"] == ["register_metrics"]
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "musicconnect-tiny"], capture_output=True)


def test_a_fresh_database_gets_one_line_advice_and_enable_initialises_it(cli, tmp_path):
    fresh = {"MC_DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db", "MC_DATA_DIR": str(tmp_path / "fresh")}
    line = one_line_error(cli("plugins", "disable", "hello", ok=False, extra_env=fresh), 1)
    assert "musicconnect db upgrade" in line
    # enabling a plugin on a fresh database creates the core's tables first, then the plugin's
    assert cli("plugins", "enable", "hello", extra_env=fresh).stdout.strip() == "hello enabled"
    assert cli("hello", "stats", extra_env=fresh).stdout.strip() == "0 greetings"
    assert cli("plugins", "disable", "hello", extra_env=fresh).stdout.strip() == "hello disabled"
