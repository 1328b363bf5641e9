"""The privacy plugin alone (the core's part of exports and erasures included); the scan test
selects every bundled plugin itself."""
from __future__ import annotations

import pytest


@pytest.fixture
def mc_plugins():
    return ["privacy"]
