"""Prometheus metrics move through real HTTP actions: jobs (enqueued, running, finished by
outcome, run time, wait), the backlog read from the broker at scrape (StubBroker embedded; Redis
in the distributed run, with a real dramatiq worker holding a message), webhooks by outcome, rate
-limit refusals by policy, build info; several processes merge (PROMETHEUS_MULTIPROC_DIR)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest
from pydantic import SecretStr
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from musicconnect.app import create_app

TOKEN = "scrape-token-123"


def scrape(client) -> dict[tuple, float]:
    r = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return parse(r.text)


def parse(text: str) -> dict[tuple, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, *sorted(s.labels.items()))] = s.value
    return out


def local() -> dict[tuple, float]:
    from musicconnect.metrics import exposition

    return parse(exposition().decode())


def val(samples, name, **labels) -> float:
    return samples.get((name, *sorted(labels.items())), 0.0)


def wait_for(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


@pytest.fixture
def probe_env(mc_make_platform, probe):
    p = mc_make_platform(extra_plugins=[("obsprobe", probe.plugin)], metrics_token=SecretStr(TOKEN), release="2026.11.29-test",
                         worker_threads=1)
    with TestClient(create_app(p)) as client:
        yield p, client, probe


def test_job_metrics_move(probe_env):
    p, client, _ = probe_env
    before = scrape(client)
    for job in ("echo", "fail", "flaky"):
        assert client.post(f"/api/v1/obsprobe/enqueue/{job}").status_code == 200
    p.jobs.wait_idle(60)
    after = scrape(client)
    d = lambda name, **lb: val(after, name, **lb) - val(before, name, **lb)  # noqa: E731
    for actor in ("obsprobe.echo", "obsprobe.fail", "obsprobe.flaky"):
        assert d("musicconnect_jobs_enqueued_total", actor=actor) == 1
        assert d("musicconnect_job_wait_seconds_count", actor=actor) == 1  # first attempts only
        assert val(after, "musicconnect_jobs_running", actor=actor) == 0
    assert d("musicconnect_jobs_finished_total", actor="obsprobe.echo", outcome="succeeded") == 1
    assert d("musicconnect_jobs_finished_total", actor="obsprobe.fail", outcome="failed") == 1
    assert d("musicconnect_jobs_finished_total", actor="obsprobe.flaky", outcome="retried") == 1
    assert d("musicconnect_jobs_finished_total", actor="obsprobe.flaky", outcome="succeeded") == 1
    assert d("musicconnect_job_seconds_count", actor="obsprobe.flaky") == 2  # one per attempt
    info = [k for k in after if k[0] == "musicconnect_build_info"]
    assert info == [("musicconnect_build_info", ("environment", "test"), ("release", "2026.11.29-test"),
                     ("version", __import__("musicconnect").__version__))]


def test_backlog_and_running_while_a_worker_holds_a_message(probe_env):
    """A real dramatiq worker (one thread) holds a job; more wait; one is delayed. Embedded: the
    StubBroker's queues. Distributed run: dramatiq's Redis keys (list, .DQ, __acks__ sets)."""
    p, client, probe = probe_env
    queue = "mc.obsprobe"
    try:
        for _ in range(3):
            client.post("/api/v1/obsprobe/enqueue/hold")
        p.jobs.actors["obsprobe.echo"].send_with_options(args=(str(uuid.uuid4()),), delay=600_000)
        wait_for(lambda: val(scrape(client), "musicconnect_jobs_running", actor="obsprobe.hold") == 1)
        m = scrape(client)
        parts = {part: val(m, "musicconnect_jobs_backlog", queue=queue, part=part)
                 for part in ("ready", "delayed", "inflight")}
        # the running message is in flight; the others are ready or prefetched by the worker (in flight)
        assert parts["ready"] + parts["inflight"] == 3 and parts["inflight"] >= 1, parts
        assert parts["delayed"] == 1, parts
        if not p.jobs.embedded:  # what the keys say, read here independently of the collector
            r = p.jobs.broker.client
            assert r.llen(f"dramatiq:{queue}") == parts["ready"]
            acks = sum(r.scard(k) for k in r.keys(f"dramatiq:__acks__.*.{queue}"))
            assert acks == parts["inflight"]
    finally:
        probe.gate.set()
    p.jobs.wait_idle(60)
    wait_for(lambda: val(scrape(client), "musicconnect_jobs_backlog", queue=queue, part="inflight") == 0)
    m = scrape(client)
    assert val(m, "musicconnect_jobs_backlog", queue=queue, part="ready") == 0
    assert val(m, "musicconnect_jobs_running", actor="obsprobe.hold") == 0


def test_rate_limit_refusals_by_policy(mc_make_platform, probe):
    p = mc_make_platform(extra_plugins=[("obsprobe", probe.plugin)], metrics_token=SecretStr(TOKEN),
                         rate_limit_anonymous="4/minute", register_ip_limit="1/hour")
    with TestClient(create_app(p)) as client:
        before = local()  # a scrape over HTTP would count against the anonymous limit too
        body = {"email": "rl@example.com", "password": "a-long-passphrase", "role": "fan"}
        assert client.post("/api/v1/auth/register", json=body).status_code == 201
        refused = client.post("/api/v1/auth/register", json={**body, "email": "rl2@example.com"})
        assert refused.status_code == 429 and refused.json()["type"] == "/problems/rate-limited"
        codes = [client.get("/api/v1/obsprobe/log").status_code for _ in range(4)]
        assert codes[-1] == 429, codes
        after = local()
    assert val(after, "musicconnect_rate_limited_total", policy="rate-limited") - val(
        before, "musicconnect_rate_limited_total", policy="rate-limited") == 1
    assert val(after, "musicconnect_rate_limited_total", policy="anonymous") - val(
        before, "musicconnect_rate_limited_total", policy="anonymous") == codes.count(429)


def test_webhook_outcomes(mc_make_platform):
    import hashlib
    import hmac

    import musicconnect_billing.plugin as billing
    import musicconnect_fanclub.plugin as fanclub

    secret = "whsec_observability"
    p = mc_make_platform(extra_plugins=[("billing", billing), ("fanclub", fanclub)], entry_points=False, metrics_token=SecretStr(TOKEN),
                         plugin_config={"billing": {"stripe_webhook_secrets": secret, "stripe_secret_key": "sk_test_obs",
                                                      "stripe_api_base": "http://127.0.0.1:9"}})

    def deliver(client, event, key=secret):
        body = json.dumps(event).encode()
        at = int(time.time())
        sig = hmac.new(key.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
        return client.post("/api/v1/billing/webhooks/stripe", content=body,
                           headers={"Stripe-Signature": f"t={at},v1={sig}", "Content-Type": "application/json"})

    event = {"id": f"evt_{uuid.uuid4().hex[:12]}", "type": "customer.created", "created": int(time.time()),
             "data": {"object": {"id": "cus_obs", "object": "customer"}}}
    with TestClient(create_app(p)) as client:
        before = scrape(client)
        first = deliver(client, event)
        assert first.status_code == 200, first.text
        assert deliver(client, event).json()["duplicate"] is True
        assert deliver(client, event, key="whsec_wrong").status_code == 400
        assert client.post("/api/v1/billing/webhooks/nosuchprovider", content=b"{}").status_code == 404
        after = scrape(client)
    d = lambda name, **lb: val(after, name, **lb) - val(before, name, **lb)  # noqa: E731
    assert d("musicconnect_webhooks_total", provider="stripe", outcome="processed") == 1
    assert d("musicconnect_webhooks_total", provider="stripe", outcome="duplicate") == 1
    assert d("musicconnect_webhooks_total", provider="stripe", outcome="rejected") == 1
    assert d("musicconnect_webhook_seconds_count", provider="stripe") == 3
    assert not [k for k in after if k[0] == "musicconnect_webhooks_total" and ("provider", "nosuchprovider") in k]


MULTI = """
import os, sys
from prometheus_client import values
values.ValueClass = values.get_value_class()
from musicconnect import metrics
metrics.JOBS_RUNNING.labels("a.b").inc(int(sys.argv[1]))
metrics.JOBS_ENQUEUED.labels("a.b").inc(int(sys.argv[1]))
if sys.argv[2] == "scrape":
    sys.stdout.write(metrics.exposition().decode())
"""


def test_several_processes_merge_in_multiprocess_mode(tmp_path):
    """Two processes share PROMETHEUS_MULTIPROC_DIR: counters add up; the running gauge is a live
    sum (a dead process's share goes away)."""
    import os

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", MULTI, "2", "-"], env=env, check=True)
    out = subprocess.run([sys.executable, "-c", MULTI, "3", "scrape"], env=env, check=True, capture_output=True,
                         text=True).stdout
    m = parse(out)
    assert val(m, "musicconnect_jobs_enqueued_total", actor="a.b") == 5
    assert val(m, "musicconnect_jobs_running", actor="a.b") == 3  # livesum: the first process has exited
    assert any(k[0] == "musicconnect_build_info" for k in m)


def test_unknown_methods_are_one_label(probe_env):
    _, client, _ = probe_env
    for method in ("BREW", "PROPFIND", "X-ANYTHING-1"):
        client.request(method, "/healthz")
    m = scrape(client)
    methods = {dict(k[1:]).get("method") for k in m if k[0] == "musicconnect_http_requests_total"}
    assert "other" in methods and not methods & {"BREW", "PROPFIND", "X-ANYTHING-1"}, methods


def test_api_metrics_merge_every_process(mc_make_platform, tmp_path, monkeypatch):
    """Another process wrote to the shared PROMETHEUS_MULTIPROC_DIR: the API's /metrics shows it."""
    import os

    shared = tmp_path / "prometheus"  # its own directory: the platform's SQLite file is a *.db too
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared)}
    subprocess.run([sys.executable, "-c", MULTI, "7", "-"], env=env, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    p = mc_make_platform(metrics_token=SecretStr(TOKEN))
    with TestClient(create_app(p)) as client:
        m = scrape(client)
    assert val(m, "musicconnect_jobs_enqueued_total", actor="a.b") == 7
    assert any(k[0] == "musicconnect_build_info" for k in m)
