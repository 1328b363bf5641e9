"""Feature flags end to end: the admin API (scopes, problem+json), GET /api/v1/me/flags (only the
client-visible flags, evaluated for the caller), and the CLI against the same database."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import bearer, problem

BIN = Path(sys.executable).parent / "musicconnect"


def test_admin_api_crud_rules_rollout(mc_client, mc_users):
    admin, fan = mc_users.admin.headers, mc_users.fan.headers
    r = mc_client.post("/api/v1/flags", json={"key": "new-player", "client_visible": True}, headers=admin)
    assert r.status_code == 201, r.text
    flag = r.json()
    assert (flag["variants"], flag["default_variant"], flag["version"]) == ({"on": True, "off": False}, "off", 1)
    assert flag["environment"] == "test" and flag["updated_by"] == str(mc_users.admin.id)
    problem(mc_client.post("/api/v1/flags", json={"key": "new-player"}, headers=admin), 409, "flag-exists")
    problem(mc_client.post("/api/v1/flags", json={"key": "x", "kind": "string"}, headers=admin), 422, "validation")
    problem(mc_client.post("/api/v1/flags", json={"key": "Bad Key"}, headers=admin), 422, "validation")
    # fans and anonymous callers cannot manage flags
    problem(mc_client.get("/api/v1/flags", headers=fan), 403)
    problem(mc_client.post("/api/v1/flags", json={"key": "mine"}, headers=fan), 403)
    problem(mc_client.get("/api/v1/flags"), 401)

    r = mc_client.put("/api/v1/flags/new-player/rules", headers=admin,
                      json={"rules": [{"name": "artists", "roles": ["artist"], "variant": "on"}]})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = mc_client.put("/api/v1/flags/new-player/rollout", json={"percentage": 100}, headers=admin)
    assert [x["name"] for x in r.json()["rules"]] == ["artists", "rollout"] and r.json()["version"] == 3
    problem(mc_client.patch("/api/v1/flags/new-player", json={"enabled": False, "expect_version": 1}, headers=admin),
            409, "flag-version-conflict")
    problem(mc_client.put("/api/v1/flags/new-player/rollout", json={"percentage": 101}, headers=admin), 422)
    problem(mc_client.put("/api/v1/flags/nope/rollout", json={"percentage": 5}, headers=admin), 404, "not-found")

    # the fan sees the evaluated client-visible flag; the change shows at once (cache dropped)
    assert mc_client.get("/api/v1/me/flags", headers=fan).json() == {"new-player": {"value": True, "variant": "on"}}
    r = mc_client.patch("/api/v1/flags/new-player", json={"enabled": False, "expect_version": 3}, headers=admin)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert mc_client.get("/api/v1/me/flags", headers=fan).json() == {"new-player": {"value": False, "variant": "off"}}
    r = mc_client.get(f"/api/v1/flags/new-player/evaluate?user_id={mc_users.fan.id}", headers=admin)
    assert r.json()["reason"] == "disabled"

    assert [f["key"] for f in mc_client.get("/api/v1/flags", headers=admin).json()] == ["new-player"]
    assert mc_client.get("/api/v1/flags?environment=production", headers=admin).json() == []
    assert mc_client.delete("/api/v1/flags/new-player", headers=admin).status_code == 204
    problem(mc_client.get("/api/v1/flags/new-player", headers=admin), 404, "not-found")
    assert mc_client.get("/api/v1/me/flags", headers=fan).json() == {}


def test_me_flags_lists_only_client_visible_flags_evaluated_per_user(mc_client, mc_users, mc_platform):
    admin = mc_users.admin.headers
    for body in ({"key": "public-ui", "client_visible": True, "rules": [{"roles": ["artist"], "variant": "on"}]},
                 {"key": "server-secret", "rules": [{"variant": "on"}]},
                 {"key": "theme", "kind": "string", "variants": {"light": "light", "dark": "dark"},
                  "default_variant": "light", "client_visible": True, "rules": [{"variant": "dark"}]}):
        assert mc_client.post("/api/v1/flags", json=body, headers=admin).status_code == 201
    fan = mc_client.get("/api/v1/me/flags", headers=mc_users.fan.headers).json()
    artist = mc_client.get("/api/v1/me/flags", headers=mc_users.artist.headers).json()
    anonymous = mc_client.get("/api/v1/me/flags").json()
    assert fan == {"public-ui": {"value": False, "variant": "off"}, "theme": {"value": "dark", "variant": "dark"}}
    assert artist["public-ui"] == {"value": True, "variant": "on"} and "server-secret" not in artist
    assert anonymous["public-ui"]["value"] is False
    # a personal API token with profile:read reads them too
    r = mc_client.post("/api/v1/me/tokens", json={"name": "flags", "scopes": ["profile:read"]},
                       headers=mc_users.artist.headers)
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    assert mc_client.get("/api/v1/me/flags", headers=bearer(token)).json()["public-ui"]["value"] is True


def test_cli_manages_flags_the_server_evaluates(mc_client, mc_users, mc_platform, proc_env):
    env = {**proc_env, "MC_ENV": "test", "MC_CLI_NO_PLUGINS": "1"}

    def run(*args, ok=True, input=None):
        r = subprocess.run([str(BIN), "flags", *args], capture_output=True, text=True, env=env, input=input,
                           timeout=120)
        assert (r.returncode == 0) == ok, (args, r.returncode, r.stdout, r.stderr)
        return r

    run("create", "cli-flag", "--client-visible", "--description", "from the shell")
    run("create", "copy", "--kind", "string", "--variant", "a=Join", "--variant", 'b="Join now"', "--default", "a")
    r = run("create", "cli-flag", ok=False)
    assert r.stderr.strip().count("\n") == 0 and "already exists" in r.stderr
    r = run("rollout", "cli-flag", "100")
    assert "rollout 100%" in r.stdout
    rows = [json.loads(line) for line in run("list", "--json").stdout.splitlines()]
    assert {row["key"] for row in rows} == {"cli-flag", "copy"}
    shown = json.loads(run("show", "copy", "--json").stdout)
    assert shown["variants"] == {"a": "Join", "b": "Join now"} and shown["default_variant"] == "a"
    run("set", "copy", "--rules", json.dumps([{"roles": ["fan"], "variant": "b"}]))
    r = run("set", "copy", "--rules", '[{"variant": "zzz"}]', ok=False)
    assert "unknown variant" in r.stderr
    r = run("set", "copy", "--rules", '[{"roles": ["fan"], "serve": "b"}]', ok=False)  # a misspelt field
    assert r.stderr.strip().count("\n") == 0 and "serve" in r.stderr and "settings" not in r.stderr, r.stderr
    r = run("eval", "copy", "--user", mc_users.fan.email)
    assert json.loads(r.stdout)["value"] == "Join now"
    assert json.loads(run("eval", "copy").stdout)["reason"] == "default"
    run("rollout", "nope", "5", ok=False)
    # the server (another process's change; embedded: its cache dropped here by hand, TTL otherwise)
    mc_platform.flags.refresh()
    assert mc_client.get("/api/v1/me/flags", headers=mc_users.fan.headers).json() == {
        "cli-flag": {"value": True, "variant": "on"}}
    run("set", "cli-flag", "--disabled")
    mc_platform.flags.refresh()
    assert mc_client.get("/api/v1/me/flags", headers=mc_users.fan.headers).json()["cli-flag"]["value"] is False
    run("delete", "cli-flag", "--yes")
    r = run("show", "cli-flag", ok=False)
    assert "not found" in r.stderr
