"""The nft plugin alone (its chain is the embedded eth-tester one unless a test says otherwise)."""
from __future__ import annotations

import pytest


@pytest.fixture
def mc_plugins():
    return ["nft"]
