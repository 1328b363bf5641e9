"""``musicconnect.feature_hooks``: a plugin made of feature modules gets its hook implementations
from what each module defines; missing modules are skipped, a module's import error is not."""
from __future__ import annotations

import sys
import textwrap

import pytest

from musicconnect import feature_hooks


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "musicconnect_featured"
    (root / "migrations").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "stats.py").write_text(textwrap.dedent('''
        from musicconnect import Metric, PluginSettings
        METRICS = [Metric("m1", "One", "the first", lambda p, a, w: 1)]
        class StatsSettings(PluginSettings):
            stats_days: int = 7
        SETTINGS = [StatsSettings]
        seen = []
        def on_event(platform, event):
            seen.append(event)
        def on_shutdown(platform):
            raise RuntimeError("boom")
    '''))
    (root / "api.py").write_text(textwrap.dedent('''
        from fastapi import APIRouter
        from musicconnect import Metric, PluginSettings
        router = APIRouter()
        METRICS = [Metric("m2", "Two", "the second", lambda p, a, w: 2)]
        class ApiSettings(PluginSettings):
            api_limit: int = 5
        SETTINGS = [ApiSettings]
        stopped = []
        def on_shutdown(platform):
            stopped.append(platform)
    '''))
    (root / "broken.py").write_text("import musicconnect_no_such_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "musicconnect_featured"
    for name in [n for n in sys.modules if n.startswith("musicconnect_featured")]:
        del sys.modules[name]


def test_hooks_gather_what_the_modules_define(package):
    hooks = feature_hooks(package, ("stats", "missing", "api"), scopes={"featured:read": "read"})
    assert [m.id for m in hooks["register_metrics"](None)] == ["m1", "m2"]  # module order; "missing" skipped
    assert hooks["register_scopes"](None) == {"featured:read": "read"}
    assert len(hooks["register_routes"](None)) == 1
    settings = hooks["register_settings"](None)()
    assert (settings.stats_days, settings.api_limit) == (7, 5)
    assert hooks["register_migrations"](None).name == "migrations"
    hooks["on_event"]("platform", "an event")
    assert sys.modules[f"{package}.stats"].seen == ["an event"]
    hooks["on_shutdown"]("platform")  # the first module's failure is logged; the second still runs
    assert sys.modules[f"{package}.api"].stopped == ["platform"]
    assert hooks["register_commands"](None) is None and hooks["register_jobs"](None) == []
    # every function is a hook implementation pluggy recognises
    assert all(getattr(fn, "musicconnect_impl", None) is not None for fn in hooks.values())


def test_an_import_error_inside_a_feature_is_not_hidden(package):
    hooks = feature_hooks(package, ("stats", "broken"))
    with pytest.raises(ModuleNotFoundError, match="musicconnect_no_such_module"):
        hooks["register_metrics"](None)


def test_hooks_that_are_not_lists_are_delegated_by_name(package):
    """``delegated``: the function of that name in that module is the hook (marked as a hook
    implementation of the plugin); a missing module or function gives no hook; a hook that
    feature_hooks makes itself cannot be delegated."""
    import importlib
    from pathlib import Path

    root = Path(importlib.import_module(package).__path__[0])
    (root / "perks.py").write_text(textwrap.dedent('''
        def extra_entitlements(platform, user_id, artist_id):
            return ("held", user_id, artist_id)
    '''))
    hooks = feature_hooks(package, ("stats",), delegated={"extra_entitlements": "perks",
                                                          "check_access": "perks", "web_extensions": "nowhere"})
    assert hooks["extra_entitlements"](None, 1, 2) == ("held", 1, 2)
    assert hooks["extra_entitlements"].__module__ == f"{package}.plugin"
    assert hasattr(hooks["extra_entitlements"], "musicconnect_impl")
    assert "check_access" not in hooks and "web_extensions" not in hooks
    with pytest.raises(ValueError, match="cannot be delegated"):
        feature_hooks(package, ("stats",), delegated={"on_event": "perks"})
