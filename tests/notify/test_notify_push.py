"""Web push end to end: subscriptions through the HTTP API, deliveries through the ``push`` channel
to a push service on loopback that decrypts each message (RFC 8291, aes128gcm) with the
subscription's private key and checks the VAPID JWT (RFC 8292)."""
from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from musicconnect_notify import push
from musicconnect_notify.channels import CHANNELS, Delivery, PermanentFailure, TemporaryFailure

pytestmark = pytest.mark.mc_plugins("notify")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class _Server(ThreadingHTTPServer):
    # a push service takes many connections at once: the channel sends a batch concurrently
    # (MC_NOTIFY_PUSH_CONCURRENCY), and the stdlib default backlog of 5 refuses some of them on a
    # loaded machine (seen in CI: one extra retry)
    request_queue_size = 128


class PushService:
    """A push service on loopback: records each message; answers what ``plan[path]`` says next
    (201 when nothing is planned)."""

    def __init__(self):
        self.received: list[dict] = []
        self.plan: dict[str, list[int]] = {}
        svc = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                svc.received.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
                queue = svc.plan.get(self.path) or []
                status = queue.pop(0) if queue else 201
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def to(self, path: str) -> list[dict]:
        return [r for r in self.received if r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Device:
    """A browser: its own P-256 key pair and auth secret, as ``pushManager.subscribe()`` makes."""

    def __init__(self, service: PushService, name: str = "dev"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.path = f"/wpush/{name}-{uuid.uuid4().hex[:8]}"
        self.endpoint = service.origin + self.path

    @property
    def p256dh(self) -> str:
        return b64(self.key.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint))

    def json(self) -> dict:
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": self.p256dh, "auth": b64(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        return json.loads(http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"))


@pytest.fixture
def service():
    svc = PushService()
    yield svc
    svc.close()


@pytest.fixture
def mc_settings(mc_settings):
    return mc_settings.model_copy(update={"plugin_config": {"notify": {"push_allow_http_loopback": True,
                                                                        "vapid_subject": "mailto:ops@example.org"}}})


def subscribe(client, user, device: Device, status: int = 201) -> dict:
    r = client.post("/api/v1/notify/push/subscriptions", headers=user.headers, json=device.json())
    assert r.status_code == status, r.text
    return r.json()


def delivery(user, *, title="New release", body="Nova released “Aurora”.", url="/releases/1", kind="release") -> Delivery:
    return Delivery(id=str(uuid.uuid4()), recipient_id=str(user.id), kind=kind, channel="push", title=title,
                    body=body, url=url)


def test_vapid_key_is_generated_once_and_served(mc_client, mc_make_platform):
    r = mc_client.get("/api/v1/notify/push/vapid-public-key")
    assert r.status_code == 200
    key = r.json()["public_key"]
    raw = unb64(key)
    assert len(raw) == 65 and raw[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # a real P-256 point
    assert mc_client.get("/api/v1/notify/push/vapid-public-key").json()["public_key"] == key
    # another process (a restart) on the same database keeps the key: subscriptions stay valid
    assert push.vapid(mc_make_platform(migrate_db=False)).public_key == key


def test_push_is_encrypted_for_the_device_and_signed_with_vapid(mc_client, mc_platform, mc_users, service):
    fan = mc_users.fan
    device = Device(service)
    sub = subscribe(mc_client, fan, device)
    assert sub["endpoint"] == device.endpoint
    vapid_key = mc_client.get("/api/v1/notify/push/vapid-public-key").json()["public_key"]

    before = int(time.time())
    result = CHANNELS["push"].deliver(mc_platform, delivery(fan))
    assert result.ok

    [msg] = service.to(device.path)
    headers = {k.lower(): v for k, v in msg["headers"].items()}
    assert headers["content-encoding"] == "aes128gcm"
    assert int(headers["ttl"]) > 0
    assert len(msg["body"]) <= 4096
    assert b"Aurora" not in msg["body"]  # encrypted on the wire
    content = device.decrypt(msg["body"])
    assert content["title"] == "New release"
    assert content["body"] == "Nova released “Aurora”."
    assert content["url"] == "http://testserver/releases/1"  # absolute: the service worker opens it
    assert content["kind"] == "release"

    scheme, params = headers["authorization"].split(" ", 1)
    assert scheme == "vapid"
    parts = dict(p.split("=", 1) for p in params.split(","))
    assert parts["k"] == vapid_key
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(parts["k"]))
    claims = jwt.decode(parts["t"], public, algorithms=["ES256"], audience=service.origin)  # the signature holds
    assert claims["sub"] == "mailto:ops@example.org"
    assert before < claims["exp"] <= before + 24 * 3600 + 5  # RFC 8292: at most 24 hours
    # another key does not verify it
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(parts["t"], other, algorithms=["ES256"], audience=service.origin)

    listed = mc_client.get("/api/v1/notify/push/subscriptions", headers=fan.headers).json()
    assert [s["id"] for s in listed] == [sub["id"]]
    assert listed[0]["last_success_at"] is not None


def test_every_device_gets_it_once_and_resubscribing_updates(mc_client, mc_platform, mc_users, service):
    fan = mc_users.fan
    phone, laptop = Device(service, "phone"), Device(service, "laptop")
    first = subscribe(mc_client, fan, phone)
    subscribe(mc_client, fan, laptop)
    # the browser renewed its keys for the same endpoint: updated, not duplicated
    renewed = Device(service, "phone")
    renewed.path, renewed.endpoint = phone.path, phone.endpoint
    again = subscribe(mc_client, fan, renewed, status=200)
    assert again["id"] == first["id"]
    assert len(mc_client.get("/api/v1/notify/push/subscriptions", headers=fan.headers).json()) == 2

    assert CHANNELS["push"].deliver(mc_platform, delivery(fan)).ok
    assert renewed.decrypt(service.to(phone.path)[0]["body"])["title"] == "New release"
    assert laptop.decrypt(service.to(laptop.path)[0]["body"])["title"] == "New release"
    # someone else's subscriptions are theirs alone
    assert mc_client.get("/api/v1/notify/push/subscriptions", headers=mc_users.artist.headers).json() == []


def test_long_body_is_truncated_to_fit_4kb(mc_client, mc_platform, mc_users, service):
    fan = mc_users.fan
    device = Device(service)
    subscribe(mc_client, fan, device)
    long_body = "Liner notes \"quoted\" ✓ " * 800  # ~19 KB of UTF-8 with characters JSON escapes
    assert CHANNELS["push"].deliver(mc_platform, delivery(fan, body=long_body)).ok
    [msg] = service.to(device.path)
    assert len(msg["body"]) <= 4096
    content = device.decrypt(msg["body"])
    assert content["title"] == "New release" and content["url"] == "http://testserver/releases/1"
    assert content["body"].endswith("…")
    assert long_body.startswith(content["body"][:-1].rstrip())
    assert 3000 < len(json.dumps(content, ensure_ascii=False).encode()) <= push.MAX_PLAINTEXT


@pytest.mark.parametrize("status", [404, 410])
def test_gone_subscription_is_deleted(mc_client, mc_platform, mc_users, service, status):
    fan = mc_users.fan
    device = Device(service)
    subscribe(mc_client, fan, device)
    service.plan[device.path] = [status]
    with pytest.raises(PermanentFailure) as exc:
        CHANNELS["push"].deliver(mc_platform, delivery(fan))
    assert "deleted" in exc.value.reason
    assert mc_client.get("/api/v1/notify/push/subscriptions", headers=fan.headers).json() == []
    # nothing left to push to: no request reaches the service
    assert not CHANNELS["push"].deliver(mc_platform, delivery(fan)).ok
    assert len(service.to(device.path)) == 1


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttled_or_failing_service_retries_without_pushing_twice(mc_client, mc_platform, mc_users, service, status):
    fan = mc_users.fan
    ok_device, flaky = Device(service, "ok"), Device(service, "flaky")
    subscribe(mc_client, fan, ok_device)
    subscribe(mc_client, fan, flaky)
    service.plan[flaky.path] = [status]
    d = delivery(fan)
    with pytest.raises(TemporaryFailure):
        CHANNELS["push"].deliver(mc_platform, d)
    assert len(mc_client.get("/api/v1/notify/push/subscriptions", headers=fan.headers).json()) == 2  # kept
    # the job retries the same delivery: only the device that missed it is pushed again
    assert CHANNELS["push"].deliver(mc_platform, d).ok
    assert len(service.to(ok_device.path)) == 1
    assert len(service.to(flaky.path)) == 2
    assert flaky.decrypt(service.to(flaky.path)[1]["body"])["id"] == d.id


def test_unreachable_push_service_is_temporary(mc_client, mc_platform, mc_users):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fan = mc_users.fan
    svc = type("S", (), {"origin": f"http://127.0.0.1:{port}"})()
    subscribe(mc_client, fan, Device(svc))
    with pytest.raises(TemporaryFailure):
        CHANNELS["push"].deliver(mc_platform, delivery(fan))
    assert len(mc_client.get("/api/v1/notify/push/subscriptions", headers=fan.headers).json()) == 1


def _bad(device_json: dict, **change) -> dict:
    doc = json.loads(json.dumps(device_json))
    for key, value in change.items():
        if key in ("p256dh", "auth"):
            doc["keys"][key] = value
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize("change, field", [
    ({"endpoint": "http://push.example.com/wpush/1"}, "endpoint"),           # not https
    ({"endpoint": "https://10.1.2.3/wpush/1"}, "endpoint"),                  # a private address
    ({"endpoint": "https://localhost/wpush/1"}, "endpoint"),
    ({"endpoint": "https://[::1]:8443/wpush/1"}, "endpoint"),
    ({"endpoint": "https://user:pw@push.example.com/x"}, "endpoint"),
    ({"endpoint": "https://push.example.com:99999/x"}, "endpoint"),          # bad port
    ({"p256dh": b64(b"\x04" + os.urandom(63))}, "keys.p256dh"),              # 64 octets
    ({"p256dh": b64(b"\x04" + b"\x01" * 64)}, "keys.p256dh"),                # not on the curve
    ({"p256dh": b64(b"\x02" + os.urandom(64))}, "keys.p256dh"),              # not uncompressed
    ({"auth": b64(os.urandom(15))}, "keys.auth"),
    ({"auth": b64(os.urandom(20))}, "keys.auth"),
])
def test_bad_subscription_is_422(mc_client, mc_users, service, change, field):
    fan = mc_users.fan
    r = mc_client.post("/api/v1/notify/push/subscriptions", headers=fan.headers, json=_bad(Device(service).json(), **change))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    doc = r.json()
    assert doc["type"] == "/problems/invalid-push-subscription"
    assert [e["field"] for e in doc["errors"]] == [field]
    assert mc_client.get("/api/v1/notify/push/subscriptions", headers=fan.headers).json() == []


@pytest.mark.parametrize("body", [
    {"endpoint": "ftp://push.example.com/x", "keys": {"p256dh": "A" * 87, "auth": "A" * 22}},
    {"endpoint": "https://push.example.com/x", "keys": {"p256dh": "not base64!" * 8, "auth": "A" * 22}},
    {"endpoint": "https://push.example.com/x", "keys": {"auth": "A" * 22}},
    {"endpoint": "https://push.example.com/x"},
])
def test_malformed_subscription_is_422(mc_client, mc_users, body):
    r = mc_client.post("/api/v1/notify/push/subscriptions", headers=mc_users.fan.headers, json=body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def test_loopback_http_endpoint_needs_the_setting():
    key = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    args = ("http://127.0.0.1:9/wpush/1", b64(key), b64(os.urandom(16)))
    with pytest.raises(push.InvalidSubscription) as exc:
        push.check_subscription(*args)
    assert exc.value.errors[0]["field"] == "endpoint"
    push.check_subscription(*args, allow_http_loopback=True)
    push.check_subscription("https://fcm.googleapis.com/fcm/send/abc", *args[1:])


def test_subscriptions_need_sign_in_and_delete_only_ones_own(mc_client, mc_users, service):
    fan, other = mc_users.fan, mc_users.make("fan")
    device = Device(service)
    assert mc_client.post("/api/v1/notify/push/subscriptions", json=device.json()).status_code == 401
    sub = subscribe(mc_client, fan, device)
    assert mc_client.delete(f"/api/v1/notify/push/subscriptions/{sub['id']}", headers=other.headers).status_code == 404
    assert len(mc_client.get("/api/v1/notify/push/subscriptions", headers=fan.headers).json()) == 1
    assert mc_client.delete(f"/api/v1/notify/push/subscriptions/{sub['id']}", headers=fan.headers).status_code == 204
    assert mc_client.get("/api/v1/notify/push/subscriptions", headers=fan.headers).json() == []
    assert mc_client.delete(f"/api/v1/notify/push/subscriptions/{sub['id']}", headers=fan.headers).status_code == 404


def test_a_batch_goes_out_at_once_each_row_gets_its_own_outcome(mc_client, mc_platform, mc_users, mc_clock, service):
    """The pipeline hands the push channel a whole claimed batch: every device of every fan gets its
    own message once (sent concurrently), a gone device is deleted, a throttled one makes only its
    row retry, and re-running the batch sends nothing twice."""
    from musicconnect.testing import make_user
    from musicconnect_notify import pipeline
    from musicconnect_notify.models import Delivery as Row

    fans = [make_user(mc_platform, "fan") for _ in range(12)]
    devices = {}
    for fan in fans:
        devices[fan.id] = [Device(service, f"f{i}") for i in range(2)]
        for dev in devices[fan.id]:
            subscribe(mc_client, fan, dev)
    gone_fan, throttled_fan, nodevice_fan = fans[0], fans[1], make_user(mc_platform, "fan")
    service.plan[devices[gone_fan.id][0].path] = [410]
    service.plan[devices[gone_fan.id][1].path] = [404]
    service.plan[devices[throttled_fan.id][1].path] = [429]
    ids = {}
    with mc_platform.session() as s:
        for fan in fans + [nodevice_fan]:
            row = Row(kind="release", object_key="content:batch", recipient_id=fan.id, channel="push", title="Out now",
                      body=f"For {fan.email}", url="/releases/9", data={}, status="pending", attempts=0,
                      created_at=mc_clock.now())
            s.add(row)
            s.flush()
            ids[fan.id] = row.id
    outcome = pipeline.deliver_ids(mc_platform, list(ids.values()))
    assert outcome == {"sent": 11, "retry": 1, "failed": 1, "skipped": 0}, outcome
    with mc_platform.read() as s:
        status = {fid: (s.get(Row, rid).status, s.get(Row, rid).reason) for fid, rid in ids.items()}
    assert status[gone_fan.id][0] == "failed" and "deleted" in status[gone_fan.id][1]
    assert status[throttled_fan.id][0] == "pending" and "429" in status[throttled_fan.id][1]
    assert status[nodevice_fan.id] == ("sent", "skipped: no push subscription")
    for fan in fans[2:]:
        assert status[fan.id] == ("sent", "pushed to 2 device(s)")
        for dev in devices[fan.id]:
            [msg] = service.to(dev.path)
            doc = dev.decrypt(msg["body"])  # encrypted for that device, with that fan's text
            assert doc["id"] == str(ids[fan.id]) and doc["body"] == f"For {fan.email}"
    assert mc_client.get("/api/v1/notify/push/subscriptions", headers=gone_fan.headers).json() == []
    # nothing is sent twice: running the batch again only touches the throttled row once it is due
    assert pipeline.deliver_ids(mc_platform, list(ids.values()))["skipped"] == 13
    mc_clock.advance(hours=1)
    assert pipeline.deliver_ids(mc_platform, list(ids.values())) == {"sent": 1, "retry": 0, "failed": 0, "skipped": 12}
    assert len(service.to(devices[throttled_fan.id][0].path)) == 1
    assert len(service.to(devices[throttled_fan.id][1].path)) == 2
