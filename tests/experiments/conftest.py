"""The experiments plugin alone (feature flags are the core's)."""
from __future__ import annotations

import pytest


@pytest.fixture
def mc_plugins():
    return ["experiments"]
