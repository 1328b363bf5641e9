"""The plugin manager: discovery, load errors, allow-list, operator state, isolation, routes."""
from __future__ import annotations

import importlib.metadata as md
import time

import pytest

import testplugins
from helpers import problem
from musicconnect.plugins import create_plugin_manager


def ep(name, value):
    return md.EntryPoint(name=name, value=value, group="musicconnect")


def test_installed_example_plugin_is_discovered():
    reg = create_plugin_manager()
    rec = reg.get("hello")
    assert rec is not None and rec.loaded and rec.distribution == "musicconnect-hello" and rec.version == "0.1.0"
    assert {"register_routes", "check_access", "register_metrics", "register_migrations"} <= set(reg.hooks_of("hello"))
    assert reg.get("core").builtin


def test_broken_plugin_is_recorded_not_fatal():
    reg = create_plugin_manager(entry_points=[ep("broken", "no_such_module_xyz.plugin"), ep("hello", "musicconnect_hello.plugin")])
    assert reg.get("broken").status == "error" and "ModuleNotFoundError" in reg.get("broken").error
    assert reg.is_enabled("hello")


def test_plugin_with_unknown_hook_is_an_error():
    import types

    from musicconnect import hookimpl

    mod = types.SimpleNamespace(on_coffee=hookimpl(lambda platform: None))
    reg = create_plugin_manager(entry_points=False, extra=[("typo", mod)])
    assert reg.get("typo").status == "error" and "on_coffee" in reg.get("typo").error


@pytest.mark.parametrize("name", ["auth", "Bad-Name", "x"])
def test_reserved_or_invalid_ids_refused(name):
    import types

    reg = create_plugin_manager(entry_points=False, extra=[(name, types.SimpleNamespace())])
    assert reg.get(name).status == "error"


def test_allow_list_rescues_from_a_plugin_that_breaks_at_import():
    reg = create_plugin_manager(allow="", entry_points=[ep("broken", "no_such_module_xyz.plugin")])
    assert reg.get("broken").status == "not-allowed" and reg.get("broken").error is None  # never imported
    reg = create_plugin_manager(allow="hello", entry_points=[ep("broken", "no_such_module_xyz.plugin"),
                                                            ep("hello", "musicconnect_hello.plugin")])
    assert reg.is_enabled("hello") and not reg.is_enabled("broken")


def test_disabled_state_blocks_hooks_and_can_be_reapplied():
    reg = create_plugin_manager(enabled={"hello": False}, entry_points=[ep("hello", "musicconnect_hello.plugin")])
    assert reg.get("hello").status == "disabled"
    assert {p for p, _ in reg.collect("register_metrics", platform=None)} == {"core"}
    assert reg.apply_state({"hello": True}) == ["hello"]
    assert {p for p, _ in reg.collect("register_metrics", platform=None)} == {"core", "hello"}
    assert reg.apply_state({"hello": False}) == ["hello"]
    assert not reg.is_enabled("hello")


def test_notification_isolation():
    reg = create_plugin_manager(entry_points=False, extra=[("exploding", testplugins.exploding)])
    assert reg.notify("on_event", platform=None, event=None) == ["exploding"]


def test_disabled_plugin_routes_answer_404_and_come_back(mc_client, mc_platform, mc_users):
    from musicconnect.plugin_state import set_enabled

    artist = mc_users.artist
    url = f"/api/v1/hello/artists/{artist.artist_id}/greetings"
    r = mc_client.post(url, headers=mc_users.fan.headers, json={"message": "love the new single"})
    assert r.status_code == 201 and r.json()["message"] == "Hello! love the new single"
    set_enabled(mc_platform.db, "hello", False)  # what `musicconnect plugins disable hello` does
    _eventually(lambda: mc_client.get(url).status_code == 404)
    problem(mc_client.get(url), 404, "plugin-disabled")
    assert "hello_greetings_30d" not in _metric_ids(mc_client, artist)
    set_enabled(mc_platform.db, "hello", True)
    _eventually(lambda: mc_client.get(url).status_code == 200)
    assert len(mc_client.get(url).json()) == 1  # data was kept
    assert "hello_greetings_30d" in _metric_ids(mc_client, artist)


def test_plugin_settings_validation(mc_client, mc_platform, mc_users, monkeypatch):
    from musicconnect.plugin_state import PluginConfigError, set_config

    model = mc_platform.plugin_settings_model("hello")
    set_config(mc_platform.db, model, "hello", "max_length", "5", {})
    mc_platform.cache.clear()
    url = f"/api/v1/hello/artists/{mc_users.artist.artist_id}/greetings"
    problem(mc_client.post(url, headers=mc_users.fan.headers, json={"message": "too long!"}), 422, "greeting-too-long")
    with pytest.raises(PluginConfigError, match="max_length"):
        set_config(mc_platform.db, model, "hello", "max_length", "-3", {})
    with pytest.raises(PluginConfigError, match="no setting"):
        set_config(mc_platform.db, model, "hello", "colour", "red", {})
    monkeypatch.setenv("MC_HELLO_GREETING_WORD", "Howdy")
    mc_platform.cache.clear()
    set_config(mc_platform.db, model, "hello", "max_length", None, {})
    assert mc_platform.plugin_settings("hello").greeting_word == "Howdy"


def test_plugin_job_runs_with_progress(mc_client, mc_platform, mc_users):
    job_id = mc_platform.jobs.enqueue("hello.count", owner_id=mc_users.artist.id, artist_id=str(mc_users.artist.artist_id))
    mc_platform.jobs.wait_idle(30)
    r = mc_client.get(f"/api/v1/jobs/{job_id}", headers=mc_users.artist.headers).json()
    assert r["state"] == "succeeded" and r["progress"] == 1.0 and r["result"] == {"greetings": 0}
    problem(mc_client.get(f"/api/v1/jobs/{job_id}", headers=mc_users.fan.headers), 403)
    problem(mc_client.post(f"/api/v1/hello/artists/{mc_users.artist.artist_id}/recount", headers=mc_users.fan.headers), 403)
    r = mc_client.post(f"/api/v1/hello/artists/{mc_users.artist.artist_id}/recount", headers=mc_users.artist.headers)
    assert r.status_code == 202
    assert mc_client.get(f"/api/v1/jobs/{job_id}", headers=mc_users.admin.headers).status_code == 200


def test_plugins_api_for_admins(mc_client, mc_users):
    rows = {r["name"]: r for r in mc_client.get("/api/v1/plugins", headers=mc_users.admin.headers).json()}
    assert rows["hello"]["enabled"] and rows["core"]["builtin"]
    problem(mc_client.get("/api/v1/plugins", headers=mc_users.fan.headers), 403)


def test_openapi_shows_core_and_plugin_routes(mc_client):
    spec = mc_client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/api/v1/auth/login", "/api/v1/me", "/api/v1/artists/{artist_id}/tiers",
              "/api/v1/artists/{artist_id}/metrics", "/api/v1/content/{content_id}",
              "/api/v1/hello/artists/{artist_id}/greetings", "/healthz", "/readyz"):
        assert p in paths, p
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


def _metric_ids(client, artist):
    return [m["id"] for m in client.get(f"/api/v1/artists/{artist.artist_id}/metrics", headers=artist.headers).json()["metrics"]]


def _eventually(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
