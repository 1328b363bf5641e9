"""A listening party across two API processes sharing one database and Redis: a fan on process A
speaks and a listener on process B receives the message (same id, once); the host seeks and pauses
on A and the listener on B follows; the chat history read back on A holds the message once."""
from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

import httpx
import orjson
import pytest

from conftest import add_track
from helpers import free_port, serve_process, wait_ready
from musicconnect.testing import make_user

class Listener:
    """A party socket that keeps every frame it received, to check what came and how often."""

    def __init__(self, ws):
        self.ws, self.frames = ws, []

    async def until(self, kind: str, timeout: float = 10.0, **match) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {kind} {match or ''} within {timeout} s; got {self.frames}"
            try:
                msg = orjson.loads(await asyncio.wait_for(self.ws.recv(), left))
            except asyncio.TimeoutError:
                raise AssertionError(f"no {kind} {match or ''} within {timeout} s; got {self.frames}") from None
            self.frames.append(msg)
            if msg["type"] == kind and all(msg.get(k) == v for k, v in match.items()):
                return msg

    async def send(self, msg: dict) -> None:
        await self.ws.send(orjson.dumps(msg).decode())

    def count(self, kind: str, **match) -> int:
        return sum(1 for m in self.frames if m["type"] == kind and all(m.get(k) == v for k, v in match.items()))


def test_chat_and_host_controls_cross_processes(proc_env, mc_redis_url, mc_make_platform, mc_clock):
    if not mc_redis_url:
        pytest.skip("needs Redis (the distributed run sets MC_TEST_REDIS_URL)")
    import websockets

    mc_clock.set(datetime.now(timezone.utc))  # the servers run on the real clock: tokens must be fresh
    p = mc_make_platform()
    artist = make_user(p, "artist", artist_name="Two Rooms")
    speaker, listener = make_user(p, "fan"), make_user(p, "fan")
    tracks = [add_track(p, artist.artist_id, "One", duration=600.0), add_track(p, artist.artist_id, "Two")]
    env = {**proc_env, "MC_REDIS_URL": mc_redis_url, "MC_PLUGINS": "live", "MC_REALTIME_PING_SECONDS": "5"}
    ports = free_port(), free_port()
    procs = [serve_process(env, port) for port in ports]
    a, b = (f"http://127.0.0.1:{port}" for port in ports)
    try:
        for proc, base in zip(procs, (a, b)):
            wait_ready(proc, base)
        starts = datetime.now(timezone.utc) + timedelta(seconds=3)
        r = httpx.post(f"{a}/api/v1/live/parties", headers=artist.headers, timeout=10,
                       json={"title": "Across", "starts_at": starts.isoformat(), "playlist": [str(t) for t in tracks]})
        assert r.status_code == 201, r.text
        party = r.json()["id"]
        time.sleep(max(0.0, (starts - datetime.now(timezone.utc)).total_seconds()) + 0.3)

        def url(port, last_seen=None):
            tail = f"?last_seen_id={last_seen}" if last_seen is not None else ""
            return f"ws://127.0.0.1:{port}/api/v1/live/parties/{party}/socket{tail}"

        def auth(user):
            return {"additional_headers": user.headers}

        async def scenario():
            async with websockets.connect(url(ports[0]), **auth(artist)) as h, \
                    websockets.connect(url(ports[0]), **auth(speaker)) as s, \
                    websockets.connect(url(ports[1]), **auth(listener)) as ls:
                host, spk, lis = Listener(h), Listener(s), Listener(ls)
                w = await host.until("welcome")
                assert w["host"] is True and w["state"]["playing"] is True  # the party is live
                assert (await spk.until("welcome"))["host"] is False
                w = await lis.until("welcome")
                assert w["host"] is False and w["user_id"] == str(listener.id) and w["messages"] == []

                # (1) a fan on A speaks; the listener on B receives it with the same id
                await spk.send({"type": "chat", "text": "hello from A"})
                sent = await spk.until("chat")
                got = await lis.until("chat")
                assert got["id"] == sent["id"] and got["text"] == "hello from A"
                assert got["user_id"] == str(speaker.id)
                assert (await host.until("chat"))["id"] == sent["id"]

                # (2) the host seeks over the socket on A; the listener on B gets the new state
                await host.send({"type": "control", "action": "seek", "position": 300})
                seek = await host.until("state")
                assert 300 <= seek["position"] < 301 and seek["playing"] is True and seek["index"] == 0
                st = await lis.until("state", timeout=5)
                assert st["version"] == seek["version"] and st["position"] == seek["position"] and st["playing"] is True
                assert abs(time.time() - st["at"]) < 5

                # ... and pauses through the REST host controls on A
                async with httpx.AsyncClient() as http:
                    resp = await http.post(f"{a}/api/v1/live/parties/{party}/control", json={"action": "pause"},
                                           headers=artist.headers, timeout=10)
                assert resp.status_code == 200, resp.text
                paused = resp.json()
                assert paused["playing"] is False and paused["version"] == seek["version"] + 1
                assert 300 <= paused["position"] < 310
                st = await lis.until("state", timeout=5, version=paused["version"])
                assert st["playing"] is False and st["position"] == paused["position"]
                # B reads the same state back from the shared database
                await lis.send({"type": "sync"})
                again = await lis.until("state", version=paused["version"])
                assert again["playing"] is False and again["position"] == paused["position"]

                # every process delivered each message once (A skips its own copy from Redis)
                await spk.until("state", version=paused["version"])
                await host.until("state", version=paused["version"])
                for sock in (lis, spk, host):
                    assert sock.count("chat", id=sent["id"]) == 1, sock.frames
                    assert sock.count("state", version=seek["version"]) == 1, sock.frames
                    assert sock.count("state", version=paused["version"]) == (2 if sock is lis else 1), sock.frames

            # (3) B's socket is closed; the listener reconnects to A: the message is there once
            async with websockets.connect(url(ports[0]), **auth(listener)) as ws:
                w = await Listener(ws).until("welcome")
                assert [m["id"] for m in w["messages"]] == [sent["id"]]
                assert w["state"]["playing"] is False and w["state"]["position"] == paused["position"]
            async with websockets.connect(url(ports[0], sent["id"] - 1), **auth(listener)) as ws:
                w = await Listener(ws).until("welcome")
                assert w["resumed"] is True and [m["id"] for m in w["messages"]] == [sent["id"]]
            async with websockets.connect(url(ports[0], sent["id"]), **auth(listener)) as ws:
                assert (await Listener(ws).until("welcome"))["messages"] == []

        asyncio.run(scenario())
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
