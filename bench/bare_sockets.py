"""The reference for bench/sockets.py: a bare ``websockets`` broadcast server (no
authentication, no rooms, no Redis, no queues of its own). Every connection listens; a frame
from a connection that opened ``/publish`` is sent to all the others with
``websockets.broadcast``.

Usage: python bench/bare_sockets.py PORT
"""
from __future__ import annotations

import asyncio
import sys

import websockets
from websockets.asyncio.server import broadcast, serve

LISTENERS: set = set()


async def handler(ws) -> None:
    if ws.request.path == "/publish":
        async for frame in ws:
            broadcast(LISTENERS, frame)
        return
    LISTENERS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        LISTENERS.discard(ws)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, ping_interval=20, ping_timeout=20, compression=None,
                     max_size=65536, backlog=2048):
        print(f"bare websockets {websockets.__version__} on {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:  # the event loop uvicorn runs the API on
        import uvloop

        uvloop.run(main(int(sys.argv[1])))
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
