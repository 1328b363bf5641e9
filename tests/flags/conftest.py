"""Feature flags are the core's: the core alone (no plugin) unless a test says otherwise."""
from __future__ import annotations

import pytest


@pytest.fixture
def mc_plugins():
    return []
