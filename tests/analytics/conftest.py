"""The analytics plugin with the bundled plugins whose events it reads (streaming plays, fan club
follows, billing payments) and notify (weekly summaries become notifications)."""
from __future__ import annotations

import pytest


@pytest.fixture
def mc_plugins():
    return ["analytics", "streaming", "fanclub", "billing", "notify"]
