"""Streaming's perk: declared with its type and limits and listed in docs/streaming.md."""
from __future__ import annotations

from pathlib import Path

from musicconnect_streaming.plugin import PERKS

DOC = Path(__file__).resolve().parents[2] / "docs" / "streaming.md"


def test_every_declared_perk_is_documented_with_its_type_and_limits():
    text = DOC.read_text()
    assert set(PERKS) == {"offline_downloads"}
    for name, spec in PERKS.items():
        row = f"| `{name}` | {spec.type_name}, {spec.min:g}–{spec.max:g} |"
        assert row in text, f"docs/streaming.md lacks {row!r}"
