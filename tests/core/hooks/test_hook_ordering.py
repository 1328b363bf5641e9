"""Issue 11, part 1: the core calls hooks through pluggy, so the order is pluggy's documented one
(later registrations first, ``tryfirst`` before and ``trylast`` after the rest), for every
convention, sync and async, with each answer credited to the plugin that gave it."""
from __future__ import annotations

import types

import pytest

from musicconnect import hookimpl
from musicconnect.plugins import create_plugin_manager


def plugin(name: str, **hooks) -> tuple[str, types.ModuleType]:
    """A plugin module named ``name`` carrying the given (already marked) hook functions."""
    mod = types.ModuleType(name)
    for attr, fn in hooks.items():
        setattr(mod, attr, fn)
    return name, mod


def scopes_plugin(name: str, calls: list, **opts):
    @hookimpl(**opts)
    def register_scopes(platform):
        calls.append(name)
        return {f"{name}:read": f"read {name}"}

    @hookimpl(**opts)
    def on_event(platform, event):
        calls.append(name)
    return plugin(name, register_scopes=register_scopes, on_event=on_event)


@pytest.fixture
def ordered():
    calls: list[str] = []
    # registered in this order; pluggy calls: tryfirst, then the others last-registered first, then trylast
    reg = create_plugin_manager(entry_points=False, extra=[
        scopes_plugin("late", calls, trylast=True), scopes_plugin("early", calls, tryfirst=True),
        scopes_plugin("first", calls), scopes_plugin("second", calls)])
    return reg, calls


def test_collect_follows_pluggys_order_with_provenance(ordered):
    reg, calls = ordered
    got = reg.collect("register_scopes", platform=None)
    assert calls == ["early", "second", "first", "late"]
    assert got == [("early", {"early:read": "read early"}), ("second", {"second:read": "read second"}),
                   ("first", {"first:read": "read first"}), ("late", {"late:read": "read late"})]
    # the order is pluggy's own: calling the hook directly gives the same sequence
    calls.clear()
    assert [next(iter(d)) for d in reg.pm.hook.register_scopes(platform=None)] == [
        "early:read", "second:read", "first:read", "late:read"]
    assert calls == ["early", "second", "first", "late"]


def test_notify_follows_the_same_order(ordered):
    reg, calls = ordered
    assert reg.notify("on_event", platform=None, event=None) == []
    assert calls == ["early", "second", "first", "late"]


def test_enable_order_changes_with_registration_not_with_names(ordered):
    reg, calls = ordered
    reg.apply_state({"first": False})
    reg.apply_state({"first": True})  # registered again: now the most recent plain plugin
    reg.collect("register_scopes", platform=None)
    assert calls == ["early", "first", "second", "late"]


@pytest.mark.anyio
async def test_async_implementations_keep_order_and_provenance():
    calls: list[str] = []

    def make(name, **opts):
        @hookimpl(**opts)
        async def register_scopes(platform):
            calls.append(name)
            return [{f"{name}:a": "a"}, None, {f"{name}:b": "b"}]
        return plugin(name, register_scopes=register_scopes)

    reg = create_plugin_manager(entry_points=False, extra=[make("slow", trylast=True), make("quick", tryfirst=True),
                                                           make("plain")])
    got = await reg.acollect("register_scopes", platform=None)
    assert [p for p, _ in got] == ["quick", "quick", "plain", "plain", "slow", "slow"]  # lists flattened, None dropped
    assert got[0] == ("quick", {"quick:a": "a"}) and got[-1] == ("slow", {"slow:b": "b"})
    # the sync variant awaits them too (from a worker thread, as sync routes run)
    import anyio

    calls.clear()
    assert await anyio.to_thread.run_sync(lambda: reg.collect("register_scopes", platform=None)) == got
    assert calls == ["quick", "plain", "slow"]
