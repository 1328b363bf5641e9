"""Issue 11, part 1: every hook spec declares its calling convention and failure policy in one
place (``@spec`` in hookspecs.py), its docstring says it, and the docs' table agrees."""
from __future__ import annotations

import re
import types

import pytest

from musicconnect import hookspecs
from musicconnect.hookspecs import (CALLING, CLOSED, COLLECT, ISOLATE, MERGE, NOTIFY, QUARANTINE, VOTE, Calling,
                                    declarations, spec)
from musicconnect.plugins import create_plugin_manager, spec_names


def test_every_spec_declares_a_convention_and_a_policy():
    specs = {n for n in dir(hookspecs) if getattr(getattr(hookspecs, n), "musicconnect_spec", None) is not None}
    assert specs and specs == set(CALLING) == set(spec_names())
    for name in specs:
        calling = CALLING[name]
        assert isinstance(calling, Calling)
        doc = getattr(hookspecs, name).__doc__
        assert f"Called as **{calling.convention.value}**" in doc and f"Failure policy **{calling.failure.value}**" in doc
        if name.startswith("register_"):
            assert calling.convention is COLLECT, name
        if name.startswith("on_"):
            assert calling.convention is NOTIFY, name
    # the decisions of issue 11
    assert (CALLING["check_access"].convention, CALLING["check_access"].failure) == (VOTE, QUARANTINE)
    assert CALLING["validate_perks"].failure is CLOSED and CALLING["revenue_shares"].failure is CLOSED
    assert CALLING["serialize_content"] == Calling(MERGE, ISOLATE, dict)
    assert CALLING["extra_entitlements"] == Calling(MERGE, ISOLATE, tuple)
    assert CALLING["seed_demo"].convention is NOTIFY
    # first-result specs are pluggy firstresult specs (none in the core today)
    reg = create_plugin_manager(entry_points=False)
    for name, calling in CALLING.items():
        assert getattr(reg.pm.hook, name).spec.opts["firstresult"] is (calling.convention.value == "first-result")


def test_a_spec_without_a_declaration_is_refused():
    ns = types.ModuleType("undeclared")

    @hookspecs.hookspec
    def on_something(platform):
        """No declaration."""
    ns.on_something = on_something
    with pytest.raises(TypeError, match="on_something declares no calling convention"):
        declarations(ns)
    with pytest.raises(TypeError, match="merged=dict or merged=tuple"):
        spec(MERGE)
    with pytest.raises(TypeError, match="only vote hooks can quarantine"):
        spec(COLLECT, QUARANTINE)
    with pytest.raises(ValueError):
        spec("gather")


def test_the_docs_table_matches_the_declarations(root):
    doc = (root / "docs" / "plugins.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| ([a-z-]+(?: \(\w+\))?) \| [a-z]+ \|$", doc, re.M))
    policies = dict(re.findall(r"^\| `(\w+)` \| [a-z-]+(?: \(\w+\))? \| ([a-z]+) \|$", doc, re.M))
    assert set(rows) == set(CALLING), "docs/plugins.md 'Hook reference' table and hookspecs disagree"
    for name, calling in CALLING.items():
        merged = f" ({calling.merged.__name__})" if calling.merged else ""
        assert rows[name] == calling.convention.value + merged, name
        assert policies[name] == calling.failure.value, name
