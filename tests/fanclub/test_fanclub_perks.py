"""The fan club's perks: declared with types and limits, listed in docs/fanclub.md, and added to
the demo tiers by its seed_demo (the core seeds bare tiers)."""
from __future__ import annotations

from pathlib import Path

import musicconnect_fanclub.plugin as fanclub
from musicconnect_fanclub.rules import DEMO_PERKS, PERKS

DOC = Path(__file__).resolve().parents[2] / "docs" / "fanclub.md"


def _n(v) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def _limits(spec) -> str:
    return f", {_n(spec.min)}–{_n(spec.max)}" if spec.min is not None and spec.max is not None else ""


def test_every_declared_perk_is_documented_with_its_type_and_limits():
    text = DOC.read_text()
    for name, spec in PERKS.items():
        row = f"| `{name}` | {spec.type_name}{_limits(spec)} |"
        assert row in text, f"docs/fanclub.md lacks {row!r}"
    table = text.split("| perk | type | meaning |", 1)[1].split("\n\n", 1)[0]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert documented == set(PERKS), documented ^ set(PERKS)  # nothing undeclared in the table either


def test_demo_tiers_get_their_perks_from_the_plugin(mc_make_platform):
    from musicconnect.seed import seed_demo

    p = mc_make_platform(extra_plugins=[("fanclub", fanclub)], entry_points=False)
    demo = seed_demo(p)
    tiers = {t.key: t for t in p.access.tiers(demo.artist_profile.id)}
    assert tiers["free"].perks == {}
    assert dict(tiers["supporter"].perks) == DEMO_PERKS["supporter"]
    assert dict(tiers["superfan"].perks) == DEMO_PERKS["superfan"]
    for perks in DEMO_PERKS.values():  # the demo's own values fit the declarations
        assert all(PERKS[k].problem(k, v) is None for k, v in perks.items())
    seed_demo(p)  # idempotent
    assert dict(p.access.tiers(demo.artist_profile.id)[2].perks) == DEMO_PERKS["superfan"]
