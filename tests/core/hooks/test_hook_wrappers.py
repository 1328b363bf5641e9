"""Issue 11, part 1: wrappers (``wrapper=True`` and old-style ``hookwrapper=True``) and
``firstresult`` behave as pluggy documents; each hook is called only through the method of its
declared convention; plugin load errors name the hook they probably meant."""
from __future__ import annotations

import types

import pytest

from musicconnect import hookimpl
from musicconnect.hookspecs import FIRST_RESULT, spec
from musicconnect.plugins import HookConventionError, create_plugin_manager

from test_hook_ordering import plugin


def scopes(name: str, scope: str | None = None, **opts):
    @hookimpl(**opts)
    def register_scopes(platform):
        return {scope or f"{name}:read": name}
    return plugin(name, register_scopes=register_scopes)


def test_new_style_wrapper_sees_and_changes_the_result():
    seen = []

    @hookimpl(wrapper=True)
    def register_scopes(platform):
        result = yield
        seen.append([dict(d) for d in result])
        # drop one plugin's answer, add one of its own
        return [d for d in result if "beta:read" not in d] + [{"wrap:extra": "added by the wrapper"}]

    reg = create_plugin_manager(entry_points=False, extra=[scopes("alpha"), scopes("beta"),
                                                           plugin("wrap", register_scopes=register_scopes)])
    got = reg.collect("register_scopes", platform=None)
    assert seen == [[{"beta:read": "beta"}, {"alpha:read": "alpha"}]]  # the wrapper got every implementation's answer
    assert got == [("alpha", {"alpha:read": "alpha"}), ("wrap", {"wrap:extra": "added by the wrapper"})]


def test_old_style_hookwrapper_forces_the_result():
    @hookimpl(hookwrapper=True)
    def register_scopes(platform):
        outcome = yield
        outcome.force_result(outcome.get_result() + [{"legacy:read": "forced"}])

    reg = create_plugin_manager(entry_points=False, extra=[scopes("alpha"), plugin("legacy", register_scopes=register_scopes)])
    assert reg.collect("register_scopes", platform=None) == [("alpha", {"alpha:read": "alpha"}), ("legacy", {"legacy:read": "forced"})]


def test_wrappers_run_around_notifications_in_order():
    calls = []

    @hookimpl(wrapper=True)
    def on_event(platform, event):
        calls.append("wrapper before")
        yield
        calls.append("wrapper after")

    @hookimpl
    def on_event_plain(platform, event):
        calls.append("plain")
    on_event_plain.musicconnect_impl["specname"] = "on_event"

    reg = create_plugin_manager(entry_points=False, extra=[plugin("wrapping", on_event=on_event),
                                                           plugin("plain", on_event_plain=on_event_plain)])
    assert reg.notify("on_event", platform=None, event=None) == []
    assert calls == ["wrapper before", "plain", "wrapper after"]


# ------------------------------------------------------------------ first-result
def _specs():
    """A first-result spec (no core hook needs one today; the mechanism is tested with this)."""
    ns = types.ModuleType("first_result_specs")

    @spec(FIRST_RESULT)
    def pick_codec(platform, name):
        """The codec for ``name``: the first plugin that knows it answers."""
    ns.pick_codec = pick_codec
    return ns


def codec(name: str, answer, calls: list, **opts):
    @hookimpl(**opts)
    def pick_codec(platform, name):
        calls.append(plugin_name)
        return answer(name) if callable(answer) else answer
    plugin_name = name
    return plugin(name, pick_codec=pick_codec)


def test_first_result_stops_at_the_first_answer():
    calls: list[str] = []
    reg = create_plugin_manager(entry_points=False, specs=[_specs()], extra=[
        codec("fallback", "pcm", calls, trylast=True), codec("opus", lambda n: "opus" if n.endswith(".ogg") else None, calls),
        codec("undecided", None, calls, tryfirst=True)])
    assert reg.first("pick_codec", platform=None, name="a.ogg") == ("opus", "opus")
    assert calls == ["undecided", "opus"]  # the fallback was never asked
    calls.clear()
    assert reg.first("pick_codec", platform=None, name="a.wav") == ("fallback", "pcm")
    assert calls == ["undecided", "opus", "fallback"]
    assert reg.call("pick_codec", platform=None, name="a.ogg") == ("opus", "opus")  # call() dispatches the same way


def test_first_result_with_nobody_answering_and_with_a_wrapper():
    calls: list[str] = []

    @hookimpl(wrapper=True)
    def pick_codec(platform, name):
        answer = yield
        return answer.upper() if answer else "default"

    reg = create_plugin_manager(entry_points=False, specs=[_specs()],
                                extra=[codec("undecided", None, calls), plugin("shout", pick_codec=pick_codec)])
    assert reg.first("pick_codec", platform=None, name="x") == ("shout", "default")
    reg2 = create_plugin_manager(entry_points=False, specs=[_specs()], extra=[codec("undecided", None, calls)])
    assert reg2.first("pick_codec", platform=None, name="x") is None


@pytest.mark.anyio
async def test_first_result_async():
    @hookimpl
    async def pick_codec(platform, name):
        return "flac"

    reg = create_plugin_manager(entry_points=False, specs=[_specs()], extra=[plugin("lossless", pick_codec=pick_codec)])
    assert await reg.afirst("pick_codec", platform=None, name="x") == ("lossless", "flac")


# ------------------------------------------------------------------ one method per convention
def test_a_hook_is_called_only_through_its_convention():
    reg = create_plugin_manager(entry_points=False)
    with pytest.raises(HookConventionError, match=r"on_event is a notify hook: call it with plugins.notify\(\)"):
        reg.collect("on_event", platform=None, event=None)
    with pytest.raises(HookConventionError, match="check_access is a vote hook"):
        reg.notify("check_access", platform=None, actor=None, action="view", resource=None, context=None)
    with pytest.raises(HookConventionError, match="serialize_content is a merge hook"):
        reg.collect("serialize_content", platform=None, item=None, viewer=None)
    with pytest.raises(HookConventionError, match="validate_perks is a collect hook"):
        reg.merge("validate_perks", platform=None, rank=1, perks={})
    with pytest.raises(HookConventionError, match="did you mean register_routes"):
        reg.collect("register_route", platform=None)
    with pytest.raises(HookConventionError, match="did you mean on_event"):
        reg.call("on_evnt", platform=None, event=None)
    assert reg.call("register_scopes", platform=None) == []
    assert reg.call("serialize_content", platform=None, item=None, viewer=None) == {}


def test_merge_dicts_first_in_call_order_wins_and_sequences_concatenate():
    @hookimpl(tryfirst=True)
    def serialize_content(platform, item, viewer):
        return {"badge": "early", "early": 1}

    @hookimpl
    def serialize_content_late(platform, item, viewer):
        return {"badge": "late", "late": 2}
    serialize_content_late.musicconnect_impl["specname"] = "serialize_content"

    @hookimpl
    def extra_entitlements(platform, user_id, artist_id):
        return ["token-1", "token-2"]

    @hookimpl
    def extra_entitlements_one(platform, user_id, artist_id):
        return "token-3"
    extra_entitlements_one.musicconnect_impl["specname"] = "extra_entitlements"

    reg = create_plugin_manager(entry_points=False, extra=[
        plugin("early", serialize_content=serialize_content, extra_entitlements=extra_entitlements),
        plugin("late", serialize_content_late=serialize_content_late, extra_entitlements_one=extra_entitlements_one)])
    assert reg.merge("serialize_content", platform=None, item=None, viewer=None) == {"badge": "early", "early": 1,
                                                                                    "late": 2}
    assert reg.merge("extra_entitlements", platform=None, user_id=None, artist_id=None) == (
        "token-3", "token-1", "token-2")


# ------------------------------------------------------------------ load errors
def test_unknown_hook_names_suggest_the_closest_spec():
    @hookimpl
    def register_route(platform):
        return None

    @hookimpl
    def on_content_publish(platform, item):
        return None

    reg = create_plugin_manager(entry_points=False, extra=[plugin("typo", register_route=register_route,
                                                                  on_content_publish=on_content_publish)])
    rec = reg.get("typo")
    assert rec.status == "error" and not reg.is_enabled("typo")
    assert "on_content_publish (did you mean on_content_published?)" in rec.error
    assert "register_route (did you mean register_routes?)" in rec.error
    assert reg.collect("register_scopes", platform=None) == []  # nothing of it was registered


def test_a_wrapper_must_be_a_generator():
    @hookimpl(wrapper=True)
    def register_scopes(platform):
        return {"x:y": "not a generator"}

    reg = create_plugin_manager(entry_points=False, extra=[plugin("flat", register_scopes=register_scopes)])
    assert reg.get("flat").status == "error" and "must be a generator function" in reg.get("flat").error


def test_an_argument_no_spec_has_is_a_load_error():
    @hookimpl
    def register_scopes(platform, colour):
        return None

    reg = create_plugin_manager(entry_points=False, extra=[plugin("odd", register_scopes=register_scopes)])
    assert reg.get("odd").status == "error" and "colour" in reg.get("odd").error
