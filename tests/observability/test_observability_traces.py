"""OpenTelemetry: one trace spans an upload from the HTTP request to the track's publish
(request span -> job span -> ffmpeg span -> publish span), on the embedded broker and on Redis
(the distributed run), and tracing off costs the request path nothing observable."""
from __future__ import annotations

import subprocess

import pytest
from starlette.testclient import TestClient

from musicconnect import tracing
from musicconnect.app import create_app
from musicconnect.testing import make_user


@pytest.fixture
def flac(tmp_path):
    from musicconnect_streaming import media

    wav = tmp_path / "tone.wav"
    media.generated_tone(wav, 4, seed=3)
    out = tmp_path / "tone.flac"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav), str(out)], check=True)
    return out


def _by_name(exporter, prefix):
    return [s for s in exporter.get_finished_spans() if s.name.startswith(prefix)]


def test_an_upload_is_one_trace_from_request_to_publish(mc_make_platform, spans, flac):
    p = mc_make_platform()
    artist = make_user(p, "artist", artist_name="Traced Band")
    with TestClient(create_app(p)) as client:
        with open(flac, "rb") as fh:
            r = client.post(f"/api/v1/streaming/artists/{artist.artist_id}/tracks", headers=artist.headers,
                            files={"file": ("tone.flac", fh, "application/octet-stream")}, data={"title": "Traced"})
        assert r.status_code == 202, r.text
        assert r.headers["x-request-id"]
        p.jobs.wait_idle(120)
        detail = client.get(f"/api/v1/streaming/tracks/{r.json()['id']}", headers=artist.headers).json()
        assert detail["status"] == "ready", detail

    [request] = _by_name(spans, "POST /api/v1/streaming/artists/{artist_id}/tracks")
    assert request.attributes["http.route"] == "/api/v1/streaming/artists/{artist_id}/tracks"
    assert request.attributes["http.response.status_code"] == 202
    assert request.attributes["musicconnect.request_id"] == r.headers["x-request-id"]
    jobs = [s for s in _by_name(spans, "job streaming.") if s.parent and s.parent.span_id == request.context.span_id]
    [job] = [s for s in jobs if s.name == "job streaming.transcode"]
    [ffmpeg] = _by_name(spans, "ffmpeg transcode")
    [publish] = _by_name(spans, "publish track")
    trace_id = request.context.trace_id
    assert {s.context.trace_id for s in (request, job, ffmpeg, publish)} == {trace_id}
    assert job.parent.span_id == request.context.span_id
    assert ffmpeg.parent.span_id == job.context.span_id
    assert publish.parent.span_id == job.context.span_id
    assert job.attributes["musicconnect.job.actor"] == "streaming.transcode"
    assert ffmpeg.attributes["process.exit.code"] == 0
    assert request.start_time < job.start_time < ffmpeg.start_time < ffmpeg.end_time <= publish.start_time
    assert publish.end_time <= job.end_time


def test_a_client_traceparent_is_honoured(mc_client, spans):
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    r = mc_client.get("/healthz", headers={"traceparent": parent, "X-Request-ID": "lb-42"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "lb-42"
    [span] = _by_name(spans, "GET /healthz")
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"


def test_tracing_off_makes_no_spans_and_span_is_a_no_op(mc_client):
    assert not tracing.active()
    assert tracing.span("x") is tracing.span("y")  # one shared no-op context manager
    with tracing.span("x") as sp:
        assert sp is None
    assert tracing.inject() is None and tracing.current_ids() is None
    assert mc_client.get("/healthz").headers["x-request-id"]


def test_the_trace_crosses_into_a_musicconnect_worker_process(mc_make_platform, mc_redis_url, proc_env, spans, flac):
    """Distributed run: the API (this process) enqueues on Redis; ``musicconnect worker`` (another
    process, spans printed as JSON lines: OTEL_TRACES_EXPORTER=console) runs the transcode as a
    child of the request span."""
    import json
    import sys
    from pathlib import Path

    if not mc_redis_url:
        pytest.skip("a worker process needs Redis (MC_TEST_ONLY=distributed)")
    p = mc_make_platform()
    p.run_worker = False  # the worker process consumes, not this one
    st = p.settings
    env = {**proc_env, "MC_REDIS_URL": mc_redis_url, "MC_TRACING": "true", "OTEL_TRACES_EXPORTER": "console",
           "OTEL_SERVICE_NAME": "musicconnect-worker"}
    if st.s3_bucket:
        env.update(MC_S3_BUCKET=st.s3_bucket, MC_S3_ENDPOINT_URL=st.s3_endpoint_url or "",
                   MC_S3_ACCESS_KEY_ID=st.s3_access_key_id or "",
                   MC_S3_SECRET_ACCESS_KEY=st.s3_secret_access_key.get_secret_value() if st.s3_secret_access_key else "")
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    artist = make_user(p, "artist", artist_name="Worker Band")
    worker = subprocess.Popen([str(Path(sys.executable).parent / "musicconnect"), "worker"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with TestClient(create_app(p)) as client:
            with open(flac, "rb") as fh:
                r = client.post(f"/api/v1/streaming/artists/{artist.artist_id}/tracks", headers=artist.headers,
                                files={"file": ("tone.flac", fh, "application/octet-stream")})
            assert r.status_code == 202, r.text
            p.jobs.wait_idle(120)
            detail = client.get(f"/api/v1/streaming/tracks/{r.json()['id']}", headers=artist.headers).json()
            assert detail["status"] == "ready", detail
    finally:
        worker.terminate()
        out, err = worker.communicate(timeout=60)
    remote = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    [request] = _by_name(spans, "POST /api/v1/streaming/artists/{artist_id}/tracks")
    hexid = lambda n, w: "0x" + format(n, f"0{w}x")  # noqa: E731 (the console exporter's form)
    [job] = [s for s in remote if s["name"] == "job streaming.transcode"]
    [ffmpeg] = [s for s in remote if s["name"] == "ffmpeg transcode"]
    [publish] = [s for s in remote if s["name"] == "publish track"]
    assert job["context"]["trace_id"] == hexid(request.context.trace_id, 32), (job, err[-2000:])
    assert job["parent_id"] == hexid(request.context.span_id, 16)
    assert ffmpeg["parent_id"] == publish["parent_id"] == job["context"]["span_id"]
    assert job["resource"]["attributes"]["service.name"] == "musicconnect-worker"


def test_stripe_calls_are_client_spans(spans):
    """The billing plugin's Stripe calls are spans under the caller's (here: Stripe unreachable
    on loopback, so the span also records the failure)."""
    from opentelemetry.trace import StatusCode
    from pydantic import SecretStr

    from musicconnect_billing.settings import BillingSettings
    from musicconnect_billing.stripe_gateway import ProviderUnavailable, StripeGateway

    gateway = StripeGateway(BillingSettings(stripe_secret_key=SecretStr("sk_test_observability"),
                                            stripe_api_base="http://127.0.0.1:9"))
    with tracing.span("checkout") as parent:
        with pytest.raises(ProviderUnavailable):
            gateway.create_customer({"email": "x@example.com"}, idempotency_key="obs-1")
    [call] = _by_name(spans, "stripe customer.create")
    assert call.parent.span_id == parent.get_span_context().span_id
    assert call.status.status_code == StatusCode.ERROR and call.attributes["rpc.system"] == "stripe"


def _sampled_spans(mc_make_platform, monkeypatch, traceparent, **settings):
    """Spans of one GET /healthz carrying ``traceparent``, the sampler's root rule sampling nothing."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    exporter = InMemorySpanExporter()
    tracing.configure(processor=SimpleSpanProcessor(exporter))
    try:
        with TestClient(create_app(mc_make_platform(**settings))) as client:
            assert client.get("/healthz", headers={"traceparent": traceparent}).status_code == 200
        return _by_name(exporter, "GET /healthz")
    finally:
        tracing.shutdown()


def test_an_untrusted_client_cannot_force_sampling(mc_make_platform, monkeypatch):
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # "sampled"
    assert _sampled_spans(mc_make_platform, monkeypatch, parent) == []  # the peer is not a trusted proxy
    [span] = _sampled_spans(mc_make_platform, monkeypatch, parent, forwarded_allow_ips="127.0.0.1,testclient")
    assert format(span.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"


def test_an_untrusted_client_keeps_its_trace_id_when_we_sample(mc_make_platform, spans):
    parent = "00-1bf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"  # "not sampled": we sample anyway
    with TestClient(create_app(mc_make_platform())) as client:
        assert client.get("/healthz", headers={"traceparent": parent}).status_code == 200
    [span] = _by_name(spans, "GET /healthz")
    assert format(span.context.trace_id, "032x") == "1bf7651916cd43dd8448eb211c80319c"
    assert span.attributes[tracing.UNTRUSTED_PARENT] is True


def test_spans_carry_route_templates_and_known_methods_only(mc_make_platform, probe, spans):
    with TestClient(create_app(mc_make_platform(extra_plugins=[("obsprobe", probe.plugin)])),
                    raise_server_exceptions=False) as client:
        assert client.get("/api/v1/obsprobe/secret/wrapped-tok-5a4b3c2d1e").status_code == 500
        assert client.request("BREW", "/healthz").status_code == 405
    [failed] = _by_name(spans, "GET /api/v1/obsprobe/secret/{token}")
    assert failed.attributes["url.path"] == "/api/v1/obsprobe/secret/{token}"
    assert not [s for s in spans.get_finished_spans()
                if "wrapped-tok" in s.name or any("wrapped-tok" in str(v) for v in s.attributes.values())]
    [odd] = _by_name(spans, "other ")
    assert odd.attributes["http.request.method"] == "other"
