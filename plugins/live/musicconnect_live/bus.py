"""Publishing to a room through the core's real-time bus (a no-op where the core has none)."""
from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("musicconnect.live")


async def publish(platform, room: str, message: dict[str, Any]) -> None:
    realtime = getattr(platform, "realtime", None)
    if realtime is None:
        return
    try:
        await realtime.publish(room, message)
    except Exception:  # the change is committed; a lost broadcast is caught up by the next state / resume
        log.exception("live: could not publish to %s", room)
