"""Hooks may return values or awaitables; these helpers resolve both from sync or async code."""
from __future__ import annotations

import asyncio
import inspect
from typing import Any

import anyio.from_thread


async def _await(value: Any) -> Any:
    return await value


def resolve_sync(value: Any) -> Any:
    """Return ``value``, awaiting it first if it is awaitable (from a worker thread or plain code)."""
    if not inspect.isawaitable(value):
        return value
    try:
        return anyio.from_thread.run(_await, value)
    except RuntimeError:
        pass  # not in an anyio worker thread
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(value))
    raise RuntimeError("an awaitable hook result reached sync code on the event loop thread; "
                       "call the registry's async variant (acollect, anotify, avote, amerge, afirst) instead")

