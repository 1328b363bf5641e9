"""Meta-tests on the plugin contract and the architecture rules."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import testplugins
from musicconnect import hookspecs
from musicconnect.plugins import spec_names

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = sorted(p for p in (ROOT / "plugins").glob("*") if (p / "pyproject.toml").exists()) + [
    ROOT / "examples" / "musicconnect-hello"]


def test_every_hookspec_has_a_docstring_and_takes_platform_first():
    for name in spec_names():
        fn = getattr(hookspecs, name)
        assert (fn.__doc__ or "").strip(), f"{name} has no docstring"
        assert next(iter(inspect.signature(fn).parameters)) == "platform", name


def test_every_hookspec_is_documented_in_plugins_md():
    doc = (ROOT / "docs" / "plugins.md").read_text()
    missing = [n for n in spec_names() if f"`{n}" not in doc]
    assert not missing, f"undocumented hooks in docs/plugins.md: {missing}"


def test_every_hook_is_exercised(mc_make_platform, mc_clock, tmp_path):
    """One scenario through the public surfaces that makes the core call every hook spec."""
    from starlette.testclient import TestClient

    from musicconnect import PaymentEvent
    from musicconnect.app import create_app
    from musicconnect.seed import seed_demo
    from musicconnect.testing import make_user

    rec = testplugins.make_recorder()
    p = mc_make_platform(extra_plugins=[("recorder", rec)], entry_points=False)
    artist = make_user(p, "artist", artist_name="Band")
    fan = make_user(p, "fan")
    with TestClient(create_app(p)) as client:
        h = artist.headers
        item = client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=h,
                           json={"kind": "memo", "title": "m"}).json()
        client.patch(f"/api/v1/content/{item['id']}", headers=h, json={"title": "m2"})
        client.get(f"/api/v1/content/{item['id']}", headers=fan.headers)
        client.post(f"/api/v1/content/{item['id']}/take-down", headers=h, json={"reason": "r"})
        client.delete(f"/api/v1/content/{item['id']}", headers=h)
        tiers = client.get(f"/api/v1/artists/{artist.artist_id}/tiers").json()
        r = client.patch(f"/api/v1/artists/{artist.artist_id}/tiers/{tiers[1]['id']}", headers=h,
                         json={"perks": {"direct_messages": 2}})
        assert r.status_code == 422 and r.json()["type"] == "/problems/unknown-perk"  # nobody declares it
        r = client.patch(f"/api/v1/artists/{artist.artist_id}/tiers/{tiers[1]['id']}", headers=h,
                         json={"perks": {"recorded": -1}})
        assert r.status_code == 422 and r.json()["type"] == "/problems/invalid-perks"  # validate_perks said no
        client.post(f"/api/v1/artists/{artist.artist_id}/comps", headers=h, json={"email": fan.email, "tier_id": tiers[1]["id"]})
        client.get(f"/api/v1/artists/{artist.artist_id}/metrics", headers=h)
        assert client.get("/api/v1/recorder/ping").json() == {"pong": True}
        assert client.get("/api/v1/recorder/echo/hi").json() == {"echo": "hi"}
        assert [x["id"] for x in client.get("/api/v1/payment-providers").json()] == ["recpay"]
        p.jobs.enqueue("recorder.noop")
        p.jobs.wait_idle(10)
        with p.session() as s:
            p.payments.publish(s, PaymentEvent("payment.succeeded", "recpay", fan.id, artist.artist_id, amount=1000,
                                               currency="USD", external_id="pi_1"))
        split = p.payments.split(artist.artist_id, 1000, "USD")
        assert split["artist_net"] == 900 and split["shares"][0].amount == 100
        p.plugin_settings("recorder")
        seed_demo(p)
        assert p.scopes()["recorder:read"] == "read what the recorder saw"  # asks register_scopes
        assert p.perks()["recorded"] == "the recorder notes it (boolean)"  # asks register_perks
        assert "recorder.memo" in p.notification_kinds()  # asks register_notification_kinds
        assert p.audience_members(artist.artist_id, "members") >= {fan.id}  # asks audience_members (fan holds a comp)
        # a text generator (the AI plugin's post drafts ask it; the first answer wins)
        assert p.plugins.call("generate_text", platform=p, purpose="release", context={}) == ("recorder", "recorded release")
        # web screens (the web plugin asks for GET /api/v1/web/extensions)
        assert p.plugins.collect("web_extensions", platform=p)[0][0] == "recorder"
        from musicconnect import migrate
        migrate.histories(p)  # asks register_migrations
        from musicconnect.backup import state_files
        assert state_files(p) == []  # asks register_state_files (the recorder keeps none)
        from cli_import import plugin_command_names
        assert "recorder" in plugin_command_names(p)
        # privacy and trust: a person's export and erasure reach every installed plugin; screens
        from musicconnect.models import User
        with p.session() as s:
            parts = dict(p.export_user_data(s, s.get(User, fan.id)))
            assert parts["recorder"].records == {"memos": [{"user": str(fan.id)}]}
            assert p.screen_audio(s, None, tmp_path / "upload.wav").action == "review"
        assert p.screen_activity("play.counted", fan.id, address="127.0.0.1").action == "flag"
        assert p.screen_activity("dm.sent", fan.id).action == "allow"
        with p.session() as s:
            reports = dict(p.erase_user_data(s, s.get(User, fan.id)))
            assert reports["recorder"].erased == {"memos": 1}
    called = {name for name, calls in rec.calls.items() if calls}
    assert called == set(spec_names()), f"never called: {sorted(set(spec_names()) - called)}"


def _imports(path: Path) -> set[str]:
    mods = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            mods.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods.add(node.module)
    return mods


def test_core_imports_no_plugin_and_no_cli():
    for path in (ROOT / "core" / "musicconnect").rglob("*.py"):
        bad = {m for m in _imports(path) if m.startswith(("musicconnect_",))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


@pytest.mark.parametrize("plugin_dir", PLUGIN_DIRS, ids=lambda p: p.name)
def test_plugins_import_only_themselves_and_the_public_core(plugin_dir):
    packages = [p for p in plugin_dir.iterdir() if (p / "__init__.py").exists() and p.name.startswith("musicconnect_")]
    assert len(packages) == 1, plugin_dir
    own = packages[0].name
    import musicconnect

    public = set(musicconnect.PUBLIC_MODULES)  # the one authoritative list (tests/test_public_api.py)
    for path in packages[0].rglob("*.py"):
        for m in _imports(path):
            if m.startswith("musicconnect_"):
                assert m.split(".")[0] == own, f"{path.relative_to(ROOT)} imports another plugin: {m}"
            elif m.startswith("musicconnect"):
                assert m in public, f"{path.relative_to(ROOT)} imports {m}, which is not the core's public API"


def test_test_module_names_are_unique():
    """pytest imports test modules of folders without __init__.py by basename: two with the same
    name stop the whole run at collection."""
    from collections import Counter

    here = Path(__file__).parent
    names = Counter(p.name for p in here.rglob("test_*.py") if not (p.parent / "__init__.py").exists())
    assert [n for n, c in names.items() if c > 1] == []
