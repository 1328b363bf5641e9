"""The plugin-author fixtures load only the plugins a test selects (``mc_plugins``), so a broken
plugin installed in the same environment cannot break another plugin's tests."""
from __future__ import annotations

import importlib
import sys
import types

import pytest
from sqlalchemy import inspect

from musicconnect import Metric, hookimpl
from musicconnect.testing import PluginSelection


@pytest.fixture
def broken_installed(tmp_path, monkeypatch):
    """Installs (on sys.path, as pip would: a dist-info with an entry point) a plugin whose
    migrations directory does not exist: migrating with it fails, so a template database built
    with every installed plugin would fail every test."""
    site = tmp_path / "site"
    pkg = site / "mc_brokenx_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plugin.py").write_text("from musicconnect import hookimpl\n\n@hookimpl\n"
                                   "def register_migrations(platform):\n    return '/nonexistent/brokenx/migrations'\n")
    dist = site / "musicconnect_brokenx-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: musicconnect-brokenx\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[musicconnect]\nbrokenx = mc_brokenx_pkg.plugin\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield "brokenx"
    for mod in [m for m in sys.modules if m.startswith("mc_brokenx_pkg")]:
        del sys.modules[mod]


@pytest.fixture
def mc_plugins(broken_installed):
    return ["hello"]  # this module's default selection, made after the broken plugin is installed


def test_the_broken_plugin_really_breaks_an_unselected_platform(broken_installed, mc_settings):
    from musicconnect import migrate
    from musicconnect.platform import Platform

    p = Platform(mc_settings, entry_points=True)
    try:
        assert p.plugins.get("brokenx") is not None
        with pytest.raises(migrate.MigrationError, match="brokenx"):
            migrate.upgrade(p)
    finally:
        p.close()


def test_selected_plugin_only_is_imported_migrated_and_served(mc_platform, mc_client, mc_users, broken_installed):
    assert [r.name for r in mc_platform.plugins] == ["core", "hello"]
    assert "mc_brokenx_pkg.plugin" not in sys.modules  # never imported
    tables = set(inspect(mc_platform.db.engine).get_table_names())
    assert "hello_greetings" in tables and "alembic_version_hello" in tables
    assert not any(t.startswith(("streaming_", "fanclub_", "billing_")) for t in tables)
    r = mc_client.post(f"/api/v1/hello/artists/{mc_users.artist.artist_id}/greetings",
                       headers=mc_users.fan.headers, json={"message": "hi"})
    assert r.status_code == 201


@pytest.mark.mc_plugins()
def test_marker_wins_over_the_fixture_core_alone(mc_platform, mc_client):
    assert [r.name for r in mc_platform.plugins] == ["core"]
    assert mc_client.get("/api/v1/hello/artists/00000000-0000-0000-0000-000000000000/greetings").status_code == 404


_tiny = types.SimpleNamespace(register_metrics=hookimpl(
    lambda platform: [Metric("tiny_one", "One", "always one", lambda p, a, w: 1)]))


@pytest.mark.mc_plugins("tiny")
@pytest.mark.parametrize("mc_extra_plugins", [[("tiny", _tiny)]])
def test_extra_plugins_count_as_installed(mc_platform, mc_client, mc_users):
    assert [r.name for r in mc_platform.plugins] == ["core", "tiny"]
    r = mc_client.get(f"/api/v1/artists/{mc_users.artist.artist_id}/metrics", params={"metric": "tiny_one"},
                      headers=mc_users.artist.headers)
    assert r.status_code == 200 and r.json()["metrics"][0]["value"] == 1


def test_a_name_that_is_not_installed_is_one_readable_error():
    with pytest.raises(pytest.UsageError, match=r"mc_plugins names 'nosuchplugin', which is not installed"):
        PluginSelection(("hello", "nosuchplugin")).entry_points()
    assert [ep.name for ep in PluginSelection(("hello",)).entry_points()] == ["hello"]
    assert PluginSelection(None).entry_points() is True


def test_explicit_entry_points_still_win(mc_make_platform):
    p = mc_make_platform(entry_points=False)
    assert [r.name for r in p.plugins] == ["core"]
