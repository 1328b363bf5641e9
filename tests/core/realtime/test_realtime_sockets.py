"""Real-time sockets through the core (embedded path, real WebSocket sessions of Starlette's
TestClient): authentication by header and by single-use ticket, scopes, frame checks, rooms,
the personal channel, slow consumers and the plugin guard."""
from __future__ import annotations

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from helpers import bearer, problem

from musicconnect import hookimpl
from musicconnect.testing import make_user


class echoer:
    """A plugin with one socket route: join a room, say things into it, or burst messages."""

    @staticmethod
    @hookimpl
    def register_socket_routes(platform):
        from musicconnect.realtime import SocketRoute

        return [SocketRoute("/api/v1/echoer/rooms/{room}/socket", room_socket, scope="content:read",
                            optional=True, max_frame_bytes=64)]


async def room_socket(sock):
    room = f"echo:{sock.params['room']}"
    await sock.join(room)
    await sock.send({"type": "hello", "user": str(sock.actor.user_id) if sock.actor else None,
                     "members": sock.platform.realtime.local_members(room), "query": sock.query})
    async for msg in sock:
        if "say" in msg:
            await sock.platform.realtime.publish(room, {"type": "said", "text": msg["say"]})
        elif "burst" in msg:
            for i in range(int(msg["burst"])):
                await sock.send({"type": "burst", "i": i})
        elif msg.get("leave"):
            await sock.leave(room)
            await sock.send({"type": "left", "members": sock.platform.realtime.local_members(room)})
        elif msg.get("bye"):
            return


@pytest.fixture
def mc_plugins():
    return []  # the core alone, and the test plugin below


@pytest.fixture
def mc_extra_plugins():
    return [("echoer", echoer)]


@pytest.fixture
def rt(mc_make_platform):
    def make(**overrides):
        p = mc_make_platform(**overrides)
        from musicconnect.app import create_app

        return p, TestClient(create_app(p, state_poll_interval=0.2))
    return make


def close_code(ws) -> tuple[int, str]:
    with pytest.raises(WebSocketDisconnect) as exc:
        while True:
            ws.receive_json()
    return exc.value.code, exc.value.reason


def test_the_personal_channel_needs_credentials_and_answers_its_user(rt):
    p, client = rt()
    fan = make_user(p, "fan")
    with client:
        with client.websocket_connect("/api/v1/realtime") as ws:
            assert close_code(ws) == (4401, "unauthorized")
        with client.websocket_connect("/api/v1/realtime", headers=bearer("made-up")) as ws:
            assert close_code(ws)[0] == 4401
        with client.websocket_connect("/api/v1/realtime", headers=fan.headers) as ws:
            hello = ws.receive_json()
            assert hello == {"type": "hello", "user_id": str(fan.id), "rooms": [f"user:{fan.id}"]}
            assert p.realtime.local_members(f"user:{fan.id}") == 1
            ws.send_json({"type": "ping"})
            assert ws.receive_json() == {"type": "pong"}
        # the room is left when the socket closes
        for _ in range(50):
            if p.realtime.local_members(f"user:{fan.id}") == 0:
                break
            import time

            time.sleep(0.02)
        assert p.realtime.local_members(f"user:{fan.id}") == 0


def test_a_ticket_opens_one_socket_once_and_expires(rt, mc_clock):
    p, client = rt()
    fan = make_user(p, "fan")
    with client:
        problem(client.post("/api/v1/realtime/tickets"), 401, "unauthorized")
        r = client.post("/api/v1/realtime/tickets", headers=fan.headers)
        assert r.status_code == 201, r.text
        ticket = r.json()["ticket"]
        assert r.json()["expires_in"] == p.settings.realtime_ticket_seconds
        with client.websocket_connect(f"/api/v1/realtime?ticket={ticket}") as ws:
            assert ws.receive_json()["user_id"] == str(fan.id)
        with client.websocket_connect(f"/api/v1/realtime?ticket={ticket}") as ws:  # single use
            assert close_code(ws)[0] == 4401
        late = client.post("/api/v1/realtime/tickets", headers=fan.headers).json()["ticket"]
        mc_clock.advance(seconds=p.settings.realtime_ticket_seconds + 1)
        with client.websocket_connect(f"/api/v1/realtime?ticket={late}") as ws:
            assert close_code(ws)[0] == 4401
        with client.websocket_connect("/api/v1/realtime?ticket=rtt_nonsense") as ws:
            assert close_code(ws)[0] == 4401


def test_scopes_are_enforced_for_headers_and_tickets(rt):
    p, client = rt()
    fan = make_user(p, "fan")
    with client:
        def token(*scopes):
            r = client.post("/api/v1/me/tokens", headers=fan.headers, json={"name": "t", "scopes": list(scopes)})
            assert r.status_code == 201, r.text
            return r.json()["token"]

        content_only, profile_only = token("content:read"), token("profile:read")
        with client.websocket_connect("/api/v1/realtime", headers=bearer(content_only)) as ws:
            assert close_code(ws) == (4403, "insufficient-scope")
        with client.websocket_connect("/api/v1/realtime", headers=bearer(profile_only)) as ws:
            assert ws.receive_json()["user_id"] == str(fan.id)
        # an optional route: a token without the scope is treated as anonymous
        with client.websocket_connect("/api/v1/echoer/rooms/a/socket", headers=bearer(profile_only)) as ws:
            assert ws.receive_json()["user"] is None
        with client.websocket_connect("/api/v1/echoer/rooms/a/socket", headers=bearer(content_only)) as ws:
            assert ws.receive_json()["user"] == str(fan.id)
        # a ticket carries the scopes of the credentials that asked for it, no more
        ticket = client.post("/api/v1/realtime/tickets", headers=bearer(profile_only)).json()["ticket"]
        with client.websocket_connect(f"/api/v1/echoer/rooms/a/socket?ticket={ticket}&x=1") as ws:
            hello = ws.receive_json()
            assert hello["user"] is None and hello["query"]["x"] == "1"
        problem(client.post("/api/v1/realtime/tickets", headers=bearer(content_only)), 403, "insufficient-scope")


def test_frames_must_be_json_objects_within_the_route_cap(rt):
    p, client = rt()
    with client:
        for frame in ("not json", "[1, 2]", '"a string"'):
            with client.websocket_connect("/api/v1/echoer/rooms/a/socket") as ws:
                ws.receive_json()
                ws.send_text(frame)
                code, reason = close_code(ws)
                assert code == 1007 and "JSON object" in reason
        with client.websocket_connect("/api/v1/echoer/rooms/a/socket") as ws:
            ws.receive_json()
            ws.send_json({"say": "x" * 100})  # the route caps frames at 64 bytes
            code, reason = close_code(ws)
            assert code == 1009 and "64 bytes" in reason
        with client.websocket_connect("/api/v1/echoer/rooms/a/socket") as ws:
            ws.receive_json()
            ws.send_json({"bye": True})  # the handler returns: a normal close
            assert close_code(ws)[0] == 1000


def test_rooms_deliver_to_every_member_and_leaving_stops_it(rt):
    p, client = rt()
    with client:
        with client.websocket_connect("/api/v1/echoer/rooms/r1/socket") as a, \
                client.websocket_connect("/api/v1/echoer/rooms/r1/socket") as b, \
                client.websocket_connect("/api/v1/echoer/rooms/r2/socket") as other:
            a.receive_json(), b.receive_json(), other.receive_json()  # each has joined its room
            assert p.realtime.local_members("echo:r1") == 2 and p.realtime.local_members("echo:r2") == 1
            a.send_json({"say": "hi"})
            assert a.receive_json() == {"type": "said", "text": "hi"}
            assert b.receive_json() == {"type": "said", "text": "hi"}
            b.send_json({"leave": True})
            assert b.receive_json() == {"type": "left", "members": 1}
            a.send_json({"say": "again"})
            assert a.receive_json() == {"type": "said", "text": "again"}
            other.send_json({"say": "elsewhere"})
            assert other.receive_json() == {"type": "said", "text": "elsewhere"}
            b.send_json({"say": "from outside"})  # publishing needs no membership: a hears it, b does not
            assert a.receive_json()["text"] == "from outside"
            b.send_json({"bye": True})
            with pytest.raises(WebSocketDisconnect) as exc:
                b.receive_json()  # the close comes first: nothing was queued for b after it left
            assert exc.value.code == 1000


def test_admins_push_to_a_users_open_sockets(rt):
    p, client = rt()
    fan, other, admin = make_user(p, "fan"), make_user(p, "fan"), make_user(p, "admin")
    with client:
        with client.websocket_connect("/api/v1/realtime", headers=fan.headers) as one, \
                client.websocket_connect("/api/v1/echoer/rooms/x/socket", headers=fan.headers) as two, \
                client.websocket_connect("/api/v1/realtime", headers=other.headers) as theirs:
            one.receive_json(), two.receive_json(), theirs.receive_json()
            url = f"/api/v1/realtime/users/{fan.id}/messages"
            problem(client.post(url, headers=fan.headers, json={"type": "x"}), 403)
            r = client.post(url, headers=admin.headers, json={"type": "notice", "n": 1})
            assert r.status_code == 202 and r.json() == {"room": f"user:{fan.id}", "local_members": 2}
            assert one.receive_json() == {"type": "notice", "n": 1}
            assert two.receive_json() == {"type": "notice", "n": 1}
            theirs.send_json({"type": "ping"})
            assert theirs.receive_json() == {"type": "pong"}  # the other user got nothing before it
            # from synchronous code (a job thread): the same delivery, without an event loop
            p.realtime.publish_threadsafe(f"user:{fan.id}", {"type": "from-a-thread"})
            assert one.receive_json() == {"type": "from-a-thread"}
            assert two.receive_json() == {"type": "from-a-thread"}
            # many at once (a notification batch): each user gets only their own, in order
            p.realtime.publish_many_threadsafe([(f"user:{fan.id}", {"type": "n", "i": 1}),
                                                (f"user:{other.id}", {"type": "n", "i": 2}),
                                                (f"user:{fan.id}", {"type": "n", "i": 3})])
            assert [one.receive_json()["i"] for _ in range(2)] == [1, 3]
            assert [two.receive_json()["i"] for _ in range(2)] == [1, 3]
            assert theirs.receive_json() == {"type": "n", "i": 2}


def test_a_client_that_falls_behind_is_dropped_not_buffered(rt):
    p, client = rt(realtime_send_queue=3)
    with client:
        with client.websocket_connect("/api/v1/echoer/rooms/s/socket") as ws:
            ws.receive_json()
            ws.send_json({"burst": 3})  # fits the queue
            assert [ws.receive_json()["i"] for _ in range(3)] == [0, 1, 2]
            ws.send_json({"burst": 50})  # queued faster than it can be written: dropped
            assert close_code(ws) == (1013, "too slow")
        with client.websocket_connect("/api/v1/echoer/rooms/s/socket") as ws:
            assert ws.receive_json()["members"] == 1  # the dropped socket is no longer a member


def test_unknown_paths_and_disabled_plugins_are_refused(rt):
    p, client = rt()
    with client:
        with pytest.raises(WebSocketDenialResponse) as exc:
            with client.websocket_connect("/api/v1/nowhere/socket"):
                pass
        assert exc.value.status_code == 404
        assert exc.value.json()["type"] == "/problems/not-found"
        p.plugins.apply_state({"echoer": False})
        with client.websocket_connect("/api/v1/echoer/rooms/a/socket") as ws:
            assert close_code(ws) == (4404, "plugin-disabled")
        p.plugins.apply_state({"echoer": True})
        with client.websocket_connect("/api/v1/echoer/rooms/a/socket") as ws:
            assert ws.receive_json()["type"] == "hello"


def test_a_socket_route_without_a_scope_is_not_mounted(mc_make_platform, caplog):
    from musicconnect.app import create_app
    from musicconnect.realtime import SocketRoute

    class careless:
        @staticmethod
        @hookimpl
        def register_socket_routes(platform):
            return [SocketRoute("/api/v1/careless/socket", room_socket)]

    p = mc_make_platform(extra_plugins=[("careless", careless)], entry_points=False)
    with TestClient(create_app(p)) as client:
        with pytest.raises(WebSocketDenialResponse) as exc:
            with client.websocket_connect("/api/v1/careless/socket"):
                pass
        assert exc.value.status_code == 404
    assert "declares no scope" in caplog.text


def test_server_options_carry_the_socket_settings(mc_settings):
    from musicconnect.server import uvicorn_options

    s = mc_settings.model_copy(update={"realtime_ping_seconds": 7.0, "realtime_max_frame_bytes": 4096})
    opts = uvicorn_options(s)
    assert opts["ws_ping_interval"] == 7.0 and opts["ws_ping_timeout"] == 7.0
    assert opts["ws_max_size"] == 4096 and opts["ws"] == "websockets-sansio" and opts["ws_per_message_deflate"] is False


def _frames(data: bytes) -> list[int]:
    """The opcodes of the (unmasked) server frames in ``data``."""
    out, i = [], 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n, i = int.from_bytes(data[i:i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(data[i:i + 8], "big"), i + 8
        out.append(op)
        i += n
    return out


def test_under_uvicorn_pings_drop_a_silent_client_and_refusals_reach_clients(proc_env, mc_make_platform, mc_clock):
    """Under uvicorn (``musicconnect serve``): a raw client that never answers the server's pings
    is disconnected after about two ping periods while a client that answers them stays; no
    route is an HTTP 404 problem on the upgrade, no credentials a 4401 close."""
    import asyncio
    import base64
    import os
    import socket
    import subprocess
    import sys
    import time
    from datetime import datetime, timezone
    from pathlib import Path

    import httpx
    import websockets

    mc_clock.set(datetime.now(timezone.utc))  # the server runs on the real clock
    p = mc_make_platform()
    fan = make_user(p, "fan")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**proc_env, "MC_REALTIME_PING_SECONDS": "1", "MC_PLUGINS": ""}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "musicconnect"), "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)

        async def scenario():
            async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/realtime",
                                          additional_headers=fan.headers, ping_interval=None) as polite:
                assert json_of(await polite.recv())["type"] == "hello"
                raw = socket.create_connection(("127.0.0.1", port))
                key = base64.b64encode(os.urandom(16)).decode()
                raw.sendall((f"GET /api/v1/realtime HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                             f"Authorization: {fan.headers['Authorization']}\r\n\r\n").encode())
                raw.settimeout(0.2)
                data, started = b"", time.monotonic()
                while time.monotonic() - started < 10:
                    try:
                        chunk = raw.recv(65536)
                    except socket.timeout:
                        await asyncio.sleep(0.05)
                        continue
                    if not chunk:
                        break
                    data += chunk
                took = time.monotonic() - started
                raw.close()
                head, _, frames = data.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 101"), head
                ops = _frames(frames)
                assert ops[0] == 0x1 and 0x9 in ops, ops  # the hello, then the server's ping
                assert 1.0 <= took < 8, took  # dropped for not answering, well before our 10 s
                await polite.send('{"type": "ping"}')  # the client that answers pings is still served
                assert json_of(await asyncio.wait_for(polite.recv(), 5)) == {"type": "pong"}
            # the refusals as a real client sees them: an HTTP 404 for no route, a close code otherwise
            with pytest.raises(websockets.InvalidStatus) as denied:
                async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/nowhere"):
                    pass
            assert denied.value.response.status_code == 404
            assert json_of(denied.value.response.body)["type"] == "/problems/not-found"
            async with websockets.connect(f"ws://127.0.0.1:{port}/api/v1/realtime") as anonymous:
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(anonymous.recv(), 5)
                assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4401, "unauthorized")

        asyncio.run(scenario())
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def json_of(frame) -> dict:
    import json

    return json.loads(frame)


def test_a_redis_outage_still_serves_local_members(mc_make_platform, caplog):
    """Redis unreachable: joins and publishes are logged, not raised, and the members of this
    process still get what is published here."""
    from musicconnect.app import create_app

    p = mc_make_platform(redis_url="redis://127.0.0.1:9/0")  # nothing listens on the discard port
    with TestClient(create_app(p)) as client:
        with client.websocket_connect("/api/v1/echoer/rooms/down/socket") as a, \
                client.websocket_connect("/api/v1/echoer/rooms/down/socket") as b:
            a.receive_json(), b.receive_json()
            a.send_json({"say": "still here"})
            assert a.receive_json() == {"type": "said", "text": "still here"}
            assert b.receive_json() == {"type": "said", "text": "still here"}
            b.send_json({"say": "and again"})  # neither handler died of the failed publish
            assert a.receive_json() == {"type": "said", "text": "and again"}
            assert b.receive_json() == {"type": "said", "text": "and again"}
    assert "real-time Redis failed" in caplog.text
