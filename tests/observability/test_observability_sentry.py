"""Sentry with a real sentry_sdk client and an in-memory transport: an exception in a route and
one in a job reach it tagged (release, environment, request id / job) and scrubbed of PII."""
from __future__ import annotations

import json

import pytest
from pydantic import SecretStr
from sentry_sdk.transport import Transport
from starlette.testclient import TestClient

from musicconnect import errorreporting
from musicconnect.app import create_app

DSN = "https://publickey@sentry.invalid/42"
SECRETS = ("fan@example.com", "artist@example.com", "mca_supersecrettoken123", "hunter2", "eyJhbGciOi",
           "Bearer abc.def", "session=s3cr3t", "sig=deadbeef", "10.1.2.3")


class MemoryTransport(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def events(self) -> list[dict]:
        return [item.payload.json for env in self.envelopes for item in env.items
                if item.headers.get("type") == "event" and item.payload.json is not None]


@pytest.fixture
def sentry(mc_make_platform, probe):
    p = mc_make_platform(extra_plugins=[("obsprobe", probe.plugin)], sentry_dsn=SecretStr(DSN),
                         sentry_environment="staging", release="mc-2026.11.29")
    transport = MemoryTransport()
    assert errorreporting.configure(p.settings, transport=transport)
    yield p, transport
    errorreporting.shutdown()


def test_route_and_job_errors_reach_sentry_tagged_and_scrubbed(sentry):
    p, transport = sentry
    with TestClient(create_app(p), raise_server_exceptions=False) as client:
        r = client.get("/api/v1/obsprobe/boom?sig=deadbeef&email=fan@example.com",
                       headers={"Authorization": "Bearer abc.def.ghi", "Cookie": "session=s3cr3t",
                                "X-Request-ID": "req-sentry-1", "X-Forwarded-For": "10.1.2.3"})
        assert r.status_code == 500
        job_id = client.post("/api/v1/obsprobe/enqueue/fail").json()["job"]
        p.jobs.wait_idle(30)
    errorreporting.shutdown()  # flush
    events = transport.events()
    route = [e for e in events if "route failed" in json.dumps(e)]
    job = [e for e in events if e.get("tags", {}).get("job_actor") == "obsprobe.fail"]
    assert len(route) == 1 and len(job) == 1, [e.get("tags") for e in events]
    for e in route + job:
        assert e["release"] == "mc-2026.11.29" and e["environment"] == "staging"
        dumped = json.dumps(e)
        leaked = [s for s in SECRETS if s in dumped]
        assert not leaked, (leaked, dumped[:3000])
        assert "ip_address" not in json.dumps(e.get("user", {}))
    assert route[0]["tags"]["client_request_id"] == "req-sentry-1" and len(route[0]["tags"]["request_id"]) == 16
    assert "[Filtered]" in route[0]["exception"]["values"][-1]["value"]
    assert job[0]["tags"]["job_id"] == job_id and job[0]["tags"]["job_outcome"] == "failed"
    assert job[0]["exception"]["values"][-1]["type"] == "RuntimeError"


def test_scrub_removes_pii_from_every_part_of_an_event():
    event = {
        "request": {"url": "https://mc.example/api/v1/x?sig=abc&exp=1", "query_string": "sig=abc&exp=1",
                    "headers": {"Authorization": "Bearer abc.def", "Cookie": "session=s3cr3t", "Accept": "*/*"},
                    "data": {"password": "hunter2"}, "cookies": {"session": "s3cr3t"}, "env": {"REMOTE_ADDR": "10.1.2.3"}},
        "user": {"id": "u1", "email": "fan@example.com", "ip_address": "10.1.2.3"},
        "exception": {"values": [{"type": "E", "value": "fan@example.com token mca_supersecrettoken123",
                                  "stacktrace": {"frames": [{"vars": {"password": "hunter2", "n": 1}}]}}]},
        "logentry": {"message": "login of %s", "params": ["fan@example.com"]},
        "extra": {"api_key": "sk_live_abcdefgh12345678", "note": "see https://x/y?signature=deadbeef"},
        "breadcrumbs": {"values": [{"message": "GET /media/a?exp=1&sig=deadbeef", "data": {"url": "/x?token=t0k3n"}}]},
    }
    out = json.dumps(errorreporting.scrub(event, {}))
    for secret in ("hunter2", "s3cr3t", "fan@example.com", "10.1.2.3", "mca_supersecrettoken123",
                   "sk_live_abcdefgh12345678", "deadbeef", "t0k3n", "Bearer abc.def"):
        assert secret not in out, (secret, out)
    assert '"id": "u1"' in out and '"Accept": "*/*"' in out


def test_off_without_a_dsn(mc_platform):
    assert mc_platform.settings.sentry_dsn is None
    assert not errorreporting.configure(mc_platform.settings)
    assert not errorreporting.enabled()


def test_path_tokens_and_sql_parameters_reach_neither_sentry_nor_logs(sentry, caplog):
    p, transport = sentry
    with TestClient(create_app(p), raise_server_exceptions=False) as client:
        assert client.get("/api/v1/obsprobe/secret/unsub-tok-9f8e7d6c5b").status_code == 500
        assert client.get("/api/v1/obsprobe/sql").status_code == 500
    errorreporting.shutdown()  # flush
    dumped = json.dumps(transport.events())
    logged = caplog.text  # the error lines with their tracebacks
    for text in (dumped, logged):
        assert "unsub-tok-9f8e7d6c5b" not in text
        assert "argon2-secret-hash-value" not in text  # engines hide bound values
    assert "/api/v1/obsprobe/secret/{token}" in logged  # the 500 line names the route template
    assert "path holds a token" in dumped
    db_errors = [v["value"] for e in transport.events() for v in e["exception"]["values"]
                 if "no_such_column" in v.get("value", "") or "no such column" in v.get("value", "")]
    assert db_errors and any("[Filtered]" in v for v in db_errors), db_errors  # SQLAlchemy's, with [SQL: ...]
    assert not [v for v in db_errors if "[SQL:" in v or "FROM users" in v], db_errors


def test_scrub_text_removes_sql_passwords_authorization_and_addresses():
    sqlalchemy_error = ("(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint\n"
                        "[SQL: INSERT INTO users (email, password_hash, display_name) VALUES (%(email)s, %(ph)s, %(dn)s)]\n"
                        "[parameters: {'email': 'x', 'ph': '$argon2id$v=19$abc', 'dn': 'Jane Q Public'}]\n"
                        "(Background on this error at: https://sqlalche.me/e/20/gkpj)")
    pg = 'column "x" does not exist\nLINE 1: SELECT x FROM users WHERE display_name = \'Jane Q Public\'\n               ^\n'
    assert "Jane Q Public" not in errorreporting.scrub_text(pg) and "does not exist" in errorreporting.scrub_text(pg)
    out = errorreporting.scrub_text(sqlalchemy_error)
    assert "Jane Q Public" not in out and "argon2id" not in out and "INSERT INTO" not in out
    assert out.startswith("(psycopg.errors.UniqueViolation) duplicate key") and "sqlalche.me" in out
    for text, secret in (("the password is hunter2, retry", "hunter2"), ("login pw: s3cret!", "s3cret!"),
                         ("Authorization: Token abcdef0123456789", "abcdef0123456789"),
                         ("peer 203.0.113.7 refused", "203.0.113.7"), ("peer 2001:db8::17 refused", "2001:db8::17"),
                         ("from fe80::1ff:fe23:4567:890a", "fe80::1ff:fe23:4567:890a")):
        assert secret not in errorreporting.scrub_text(text), text
    assert errorreporting.scrub_text("retried at 12:30:45") == "retried at 12:30:45"  # a time is no address
