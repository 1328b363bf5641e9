"""Real-time delivery across API processes through Redis: a user's socket is held by process B,
an operator's push arrives at process A, and the message reaches the socket. Only processes
holding members of a room subscribe to it."""
from __future__ import annotations

import asyncio
import signal
import subprocess
from datetime import datetime, timezone

import httpx
import orjson
import pytest

from helpers import free_port, serve_process, wait_ready
from musicconnect.testing import make_user

def test_a_push_on_one_process_reaches_a_socket_on_another(proc_env, mc_redis_url, mc_make_platform, mc_clock):
    if not mc_redis_url:
        pytest.skip("needs Redis (the distributed run sets MC_TEST_REDIS_URL)")
    import redis
    import websockets

    mc_clock.set(datetime.now(timezone.utc))  # the servers run on the real clock: tokens must be fresh
    p = mc_make_platform()
    fan, admin = make_user(p, "fan"), make_user(p, "admin")
    env = {**proc_env, "MC_REDIS_URL": mc_redis_url, "MC_REALTIME_PING_SECONDS": "5"}
    ports = free_port(), free_port()
    procs = [serve_process(env, port) for port in ports]
    a, b = (f"http://127.0.0.1:{port}" for port in ports)
    r = redis.Redis.from_url(mc_redis_url)
    room = f"mc:rt:user:{fan.id}"
    try:
        for proc, base in zip(procs, (a, b)):
            wait_ready(proc, base)

        async def scenario():
            ticket = httpx.post(f"{b}/api/v1/realtime/tickets", headers=fan.headers).json()["ticket"]
            url = f"ws://127.0.0.1:{ports[1]}/api/v1/realtime?ticket={ticket}"
            async with websockets.connect(url) as ws:
                hello = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                assert hello["user_id"] == str(fan.id)
                # only process B holds a member of the user's room: one subscriber in Redis
                assert r.pubsub_numsub(room) == [(room.encode(), 1)]
                async with httpx.AsyncClient() as http:
                    resp = await http.post(f"{a}/api/v1/realtime/users/{fan.id}/messages", headers=admin.headers,
                                           json={"type": "notice", "text": "from A"})
                assert resp.status_code == 202, resp.text
                assert resp.json()["local_members"] == 0  # A holds none of the user's sockets
                assert orjson.loads(await asyncio.wait_for(ws.recv(), 10)) == {"type": "notice", "text": "from A"}
                # the ticket was used on B; A's ticket store is the same Redis: it is spent there too
                async with websockets.connect(f"ws://127.0.0.1:{ports[0]}/api/v1/realtime?ticket={ticket}") as again:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await asyncio.wait_for(again.recv(), 10)
                    assert closed.value.rcvd.code == 4401
            # the last member left: B unsubscribes
            for _ in range(50):
                if r.pubsub_numsub(room) == [(room.encode(), 0)]:
                    break
                await asyncio.sleep(0.1)
            assert r.pubsub_numsub(room) == [(room.encode(), 0)]

        asyncio.run(scenario())
    finally:
        r.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
