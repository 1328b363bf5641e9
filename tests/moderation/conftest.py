"""The moderation plugin with the plugins whose acts it screens (streaming uploads and plays, the
fan club's messages and comments, live chat) and notify (people are told)."""
from __future__ import annotations

import pytest


@pytest.fixture
def mc_plugins():
    return ["moderation", "streaming", "fanclub", "live", "notify"]
