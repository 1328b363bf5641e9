"""The AI plugin with the bundled plugins whose events it learns from (streaming plays, fan club
follows and reactions) and whose content it recommends (streaming tracks)."""
from __future__ import annotations

import pytest


@pytest.fixture
def mc_plugins():
    return ["ai", "streaming", "fanclub"]
