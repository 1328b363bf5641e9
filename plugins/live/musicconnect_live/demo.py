"""Demo data: filled in below (seed_demo)."""
from __future__ import annotations


def seed(platform, session, demo) -> None:
    return None
