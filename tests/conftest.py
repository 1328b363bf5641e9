"""Shared test helpers. Fixtures come from the core's pytest plugin (musicconnect.testing)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def anyio_backend():
    return "asyncio"
