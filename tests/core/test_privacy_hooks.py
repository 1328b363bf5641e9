"""The core's privacy and trust hooks: a person's export and erasure reach every installed
plugin, a disabled one included, the core's part last; a failing part stops the erasure and
rolls every part back; screens combine to the strictest verdict."""
from __future__ import annotations

import pytest

from musicconnect import ErasureReport, ExportPart, Screening, hookimpl
from musicconnect.contracts import strictest
from musicconnect.models import User
from musicconnect.testing import make_user


def _holder(name: str, order: list, fail: bool = False):
    class plugin:
        @staticmethod
        @hookimpl
        def export_user_data(platform, session, user):
            order.append(name)
            return ExportPart({"notes": [{"of": user.email}]})

        @staticmethod
        @hookimpl
        def erase_user_data(platform, session, user):
            order.append(name)
            if fail:
                raise RuntimeError("the disk is gone")
            user.display_name = f"erased by {name}"
            return ErasureReport({"notes": 1})

    return plugin


def test_export_and_erasure_reach_disabled_plugins(mc_make_platform):
    order: list = []
    p = mc_make_platform(extra_plugins=[("alpha", _holder("alpha", order)), ("beta", _holder("beta", order))],
                         entry_points=False)
    fan = make_user(p, "fan", email="robin@example.com")
    p.plugins.apply_state({"beta": False})  # disabled: its hooks no longer run for requests...
    assert not p.plugins.is_enabled("beta")
    with p.session() as s:
        parts = dict(p.export_user_data(s, s.get(User, fan.id)))
    # ... but its table still holds Robin's data: the export asks it too
    assert parts["alpha"].records == parts["beta"].records == {"notes": [{"of": "robin@example.com"}]}
    assert sorted(order) == ["alpha", "beta"]
    with p.session() as s:
        reports = dict(p.erase_user_data(s, s.get(User, fan.id)))
    assert reports["alpha"].erased == reports["beta"].erased == {"notes": 1}


def test_a_failing_part_stops_the_erasure_and_nothing_is_saved(mc_make_platform):
    order: list = []
    p = mc_make_platform(extra_plugins=[("alpha", _holder("alpha", order)),
                                        ("broken", _holder("broken", order, fail=True))], entry_points=False)
    fan = make_user(p, "fan", email="sam@example.com")
    with pytest.raises(Exception, match="broken"):
        with p.session() as s:
            p.erase_user_data(s, s.get(User, fan.id))
    with p.session() as s:
        assert s.get(User, fan.id).display_name == "sam"  # alpha's change was rolled back with the rest


def test_screens_give_the_strictest_verdict(mc_make_platform):
    class strict:
        @staticmethod
        @hookimpl
        def screen_activity(platform, kind, actor_id, context):
            if kind == "dm.sent" and context.get("burst"):
                return Screening("limit", "dm-burst", "too many messages at once")
            return Screening("flag", "looks-odd") if kind == "play.counted" else None

    class mild:
        @staticmethod
        @hookimpl
        def screen_activity(platform, kind, actor_id, context):
            return Screening("allow")

    p = mc_make_platform(extra_plugins=[("strict", strict), ("mild", mild)], entry_points=False)
    assert p.screen_activity("play.counted", None).reason == "looks-odd"
    assert p.screen_activity("dm.sent", None, burst=True).action == "limit"
    assert p.screen_activity("dm.sent", None).action == "allow"
    assert strictest([None, Screening("review"), Screening("flag")]).action == "review"
    with pytest.raises(ValueError):
        Screening("maybe")


def test_no_screen_costs_no_call(mc_make_platform):
    p = mc_make_platform(entry_points=False)
    assert p.screen_activity("play.counted", None).action == "allow"


def test_export_and_erasure_refuse_when_an_installed_plugin_cannot_be_reached(mc_make_platform):
    """A plugin that failed to import, or that MC_PLUGINS leaves out, may hold the person's data:
    nothing is exported or erased, and the 503 names it."""
    import importlib.metadata as md

    from musicconnect.plugins import PluginUnavailable

    order: list = []
    ghost = md.EntryPoint(name="ghost", value="musicconnect_no_such_module_xyz:plugin", group="musicconnect")
    p = mc_make_platform(extra_plugins=[("alpha", _holder("alpha", order))], entry_points=[ghost])
    assert p.plugins.get("ghost").error
    fan = make_user(p, "fan", email="kim@example.com")
    _was_migrated(p, "ghost")
    for ask in (p.export_user_data, p.erase_user_data):
        with pytest.raises(PluginUnavailable) as err:
            with p.session() as s:
                ask(s, s.get(User, fan.id))
        assert err.value.status == 503 and err.value.slug == "privacy-plugin-unavailable"
        assert "ghost" in err.value.detail and "failed to import" in err.value.detail
    assert order == []  # no part was asked
    with p.read() as s:
        assert s.get(User, fan.id).display_name == "kim"

    # left out by MC_PLUGINS (installed, its tables still there)
    q = mc_make_platform(extra_plugins=[("alpha", _holder("alpha", order)), ("beta", _holder("beta", order))],
                         entry_points=False, plugins="alpha")
    assert not q.plugins.get("beta").allowed
    other = make_user(q, "fan", email="lee@example.com")
    with q.session() as s:  # never migrated here (no tables): it holds nobody's data, so it is no obstacle
        assert [n for n, _ in q.export_user_data(s, s.get(User, other.id))] == ["alpha", "core"]
    order.clear()
    _was_migrated(q, "beta")
    with pytest.raises(PluginUnavailable, match="beta: not allowed by MC_PLUGINS"):
        with q.session() as s:
            q.erase_user_data(s, s.get(User, other.id))
    assert order == []


def _was_migrated(platform, name: str) -> None:
    """As if ``name``'s migrations had run in this database (its tables may hold data)."""
    from sqlalchemy import text

    with platform.session() as s:
        s.execute(text(f"CREATE TABLE alembic_version_{name} (version_num VARCHAR(32) NOT NULL)"))
