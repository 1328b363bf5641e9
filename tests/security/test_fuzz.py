"""Issue 9, "the API contract, checked by a fuzzer": a bounded, deterministic schemathesis run over
every operation of the app (the core and every installed plugin), as an anonymous visitor, a fan
and an artist; then regression tests for what the fuzzer found.

For each caller and operation, Hypothesis draws requests from the app's own OpenAPI document: valid
ones, invalid ones (wrong types, out-of-range numbers, malformed ids and dates, unknown enum values,
unknown fields) and valid ones aimed at things that exist (the artist, the fan, a tier, a post).
They go through the ordinary test client (lifespan on, fast path on) and each answer is checked
against the same document:

* no server error (5xx);
* the status code is documented (a success by its own code; an error may fall under `default`);
* the content type is one the document declares for that status (errors are problem+json);
* headers and body match the declared schemas;
* a request the document calls valid is not refused as malformed (400/415/422), unless the refusal
  is one of the few SEMANTIC ones below that no JSON Schema can state.

Deterministic: every (caller, operation) pair has its own fixed Hypothesis seed, the example
database is off and failing examples are not shrunk, so every run sends the same requests.
``MC_FUZZ_EXAMPLES`` (e.g. 100) and ``MC_FUZZ_SEED`` make a deeper or a different local run.
Rate limits are raised for this platform: the fuzzer is not an abuse test (limits have their own).
Runs on both test configurations (SQLite; PostgreSQL + Redis): the fixtures choose.
"""
from __future__ import annotations

import copy
import hashlib
import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from helpers import problem
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

SEED = int(os.environ.get("MC_FUZZ_SEED", "20260601"))
MAX_EXAMPLES = int(os.environ.get("MC_FUZZ_EXAMPLES", "15"))  # per caller and operation
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, positive_data_acceptance]
CALLERS = ("anonymous", "fan", "artist")
UNLIMITED = "1000000/minute"


@pytest.fixture
def mc_platform(mc_make_platform):
    """The platform behind ``mc_app`` for this module: every plugin, payments on the offline sandbox
    (so checkouts get past "no payment provider"), rate limits out of the way."""
    return mc_make_platform(
        plugin_config={"billing": {"sandbox": True}, "moderation": {"dmca_notices_per_hour": 10000}},
        rate_limit_anonymous=UNLIMITED, rate_limit_fan=UNLIMITED, rate_limit_member=UNLIMITED,
        rate_limit_artist=UNLIMITED, rate_limit_token=UNLIMITED, register_ip_limit=UNLIMITED,
        login_failures_limit=UNLIMITED, login_ip_failures_limit=UNLIMITED, refresh_ip_limit=UNLIMITED)


@pytest.fixture
def known_ids(mc_platform, mc_users) -> dict[str, str]:
    """Ids of things that exist, so that part of the run gets past the 404s: the artist, the fan,
    a tier and a public post of the artist."""
    from sqlalchemy import select

    from musicconnect.models import Tier

    artist, fan = mc_users.artist, mc_users.fan
    with mc_platform.session() as s:
        tier = s.scalars(select(Tier).where(Tier.artist_id == artist.artist_id).order_by(Tier.rank.desc())).first()
        post = mc_platform.content.create(s, artist_id=artist.artist_id, kind="post", title="Hello fans",
                                          status="ready", actor_id=artist.id, data={"body": "first post"})
        ids = {"artist_id": str(artist.artist_id), "artist_ref": str(artist.artist_id), "fan_id": str(fan.id),
               "content_id": str(post.id), "post_id": str(post.id)}
        if tier is not None:  # the artist's default tiers
            ids["tier_id"] = str(tier.id)
    return ids


# A schema-valid request may still be refused for a reason no JSON Schema can state. These are the
# only such refusals the positive-data check tolerates; anything else refused as invalid (a 400 or
# 422 on a request the document calls valid) means the document does not say what is accepted.
SEMANTIC_TYPES = {
    "analytics-invalid-date": "calendar validity (2026-02-30) is not something a pattern can say",
    "unknown-time-zone": "the IANA time-zone database decides which zone names exist",
    "unknown-notification-kind": "the notification kinds on offer depend on the plugins enabled at run time",
    "invalid-quiet-hours": "quiet hours take both ends or neither (a dependency the schema does not express)",
    "weak-password": "password strength rules (length, variety, not the email)",
    "invalid-return-url": "the platform's own origin and MC_ALLOWED_ORIGINS are deployment settings",
    "unknown-content-kind": "the kinds on offer depend on the plugins enabled at run time (GET /content-kinds)",
    "content-data-not-accepted": "a content kind without a data model takes no client data",
    "unknown-scope": "the scopes on offer depend on the plugins enabled at run time (GET /api/v1/scopes)",
    "unsupported-image": "whether a file is an image is decided by decoding it",
    "not-audio": "whether an upload holds an audio stream is decided by probing the file",
    "empty-file": "an upload must hold bytes",
    "unknown-perk": "the perks on offer depend on the plugins enabled at run time (GET /api/v1/perks)",
    "invalid-perks": "plugins veto perk combinations they cannot honour",
    "invalid-signature": "a webhook must carry the provider's signature",
    "nul-character": "no text may hold U+0000 (PostgreSQL cannot store it; refused on every database)",
    "invalid-push-subscription": "whether a key is a point on P-256 and an endpoint a public host is decided by decoding them",
    "invalid-unsubscribe-link": "an unsubscribe link must carry this deployment's signature",
    "unsubscribe-link-expired": "relative to the server's clock",
}
SEMANTIC_DETAILS = {
    "special-use or reserved name": "email addresses on reserved domains (.test, .invalid...) are refused",
    "unknown time zone": "time zones are the IANA database's names",
    "has not started yet": "a month in the future has no Wrapped yet",
    "reply to a fan through the conversation routes": "who the caller is (an artist writing to itself)",
    "tier visibility needs required_tier_id": "one field's value requires another",
    "is not a tier of this artist": "ownership of the thing named",
    "not content on this platform": "whether the content a copyright notice names exists here",
    "is not a track of this artist": "ownership of the thing named",
    "the rank-0 tier is the free tier": "one field's value constrains another",
    "needs a price above 0": "one field's value constrains another",
    "must be in the future": "relative to the server's clock",
    "end must lie between": "metric windows are bounded to sane dates",
    "promote one of your own published": "ownership and state of the thing named (a co-op promotion)",
}


def _seed_for(caller: str, label: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{SEED}:{caller}:{label}".encode(), digest_size=8).digest(), "big")


def _without_security(document: dict) -> dict:
    """The document without security requirements: the caller's credentials are fixed per run
    (sent by the test), so the fuzzer neither invents nor mutates an Authorization header."""
    doc = copy.deepcopy(document)
    doc.pop("security", None)
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict):
                op.pop("security", None)
    return doc


def _send(client, case, headers: dict[str, str]):
    """Send a schemathesis case through the Starlette test client, byte for byte as `requests`
    would have sent it (the query string, form and multipart encodings are schemathesis's)."""
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    for key in ("verify", "timeout", "allow_redirects", "proxies", "cert"):
        kwargs.pop(key, None)
    prepared = requests.Request(**kwargs).prepare()
    sent = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    return client.request(prepared.method, prepared.url, content=body, headers=sent, follow_redirects=False)


def _strategy(operation, known: dict[str, str]):
    """Valid and invalid requests, and valid ones aimed at things that exist."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    names = {p.name for p in operation.path_parameters}
    fixed = {name: known[name] for name in names if name in known}
    if fixed:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed))
    return st.one_of(strategies)


def _semantic_refusal(response) -> bool:
    if response.status_code not in (400, 415, 422):
        return False
    try:
        problem = response.json()
    except ValueError:
        return False
    slug = str(problem.get("type", "")).rsplit("/", 1)[-1]
    detail = str(problem.get("detail", ""))
    errors = problem.get("errors") or []
    # a content item's `data` is checked by its kind's own model (the document says `object`)
    kind_data = bool(errors) and all(list(e.get("loc") or [None])[0] == "data" for e in errors)
    return slug in SEMANTIC_TYPES or kind_data or any(text in detail for text in SEMANTIC_DETAILS)


def _check(document: dict, case, response) -> None:
    checks = CHECKS if not _semantic_refusal(response) else [c for c in CHECKS if c is not positive_data_acceptance]
    case.validate_response(response, checks=checks)
    if response.status_code < 400:  # a success is documented by its own code, not by `default`
        listed = document["paths"][case.path][case.method.lower()]["responses"]
        assert str(response.status_code) in listed, (
            f"{case.operation.label}: {response.status_code} is not documented (documented: {sorted(listed)})")


# The app's background threads (job worker, pub/sub, Redis client backoff) may touch the global
# `random` while Hypothesis draws; that is not the strategy using it.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@pytest.mark.parametrize("caller", CALLERS)
def test_api_contract(caller, mc_app, mc_client, mc_users, known_ids):
    config = SchemathesisConfig.from_dict({"seed": SEED})
    document = mc_app.openapi()
    schema = schemathesis.openapi.from_dict(_without_security(document), config=config)
    headers = {} if caller == "anonymous" else dict(getattr(mc_users, caller).headers)
    statuses: Counter[int] = Counter()
    throttled: Counter[str] = Counter()  # 429s of the API rate limiter (not business limits such as message-limit)
    failures: dict[str, str] = {}
    operations = 0
    started = time.monotonic()

    for result in schema.get_all_operations():
        try:
            operation = result.ok()
        except Exception as exc:  # an operation schemathesis cannot read is a failure of the document
            failures[f"unreadable operation {len(failures)}"] = f"{type(exc).__name__}: {exc}"[:3000]
            continue
        operations += 1

        @seed(_seed_for(caller, operation.label))
        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=_strategy(operation, known_ids))
        def run(case):
            response = _send(mc_client, case, headers)
            statuses[response.status_code] += 1
            if response.status_code == 429 and response.json().get("type", "").endswith("/rate-limited"):
                throttled[operation.label] += 1
            _check(document, case, response)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - report every failing operation
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]

    elapsed = time.monotonic() - started
    print(f"\nfuzz[{caller}]: {operations} operations, {sum(statuses.values())} requests in {elapsed:.1f}s; "
          f"statuses {dict(sorted(statuses.items()))}; failures {len(failures)}")
    documented = sum(1 for item in document["paths"].values() for method in item
                     if method in ("get", "put", "post", "patch", "delete"))
    assert operations == documented > 80, (operations, documented)
    assert not throttled, f"rate limits got in the way of the fuzz run: {dict(throttled)}"
    assert not failures, "\n\n".join(f"--- {label}\n{text}" for label, text in sorted(failures.items()))


# ---------------------------------------------------------------- what the fuzzer found
# Each of these answered 500 or disagreed with the document before its fix.

def test_signature_checks_refuse_non_ascii_instead_of_crashing(mc_client):
    """hmac.compare_digest raises TypeError on str holding non-ASCII characters: a portal link
    with such a signature was a 500 (now the usual 403)."""
    r = mc_client.get("/api/v1/billing/sandbox/portal/x.1.%C3%A9%C3%A9")
    problem(r, 403, "portal-link-expired")


def test_media_links_with_non_ascii_signature_or_expiry_are_403(mc_platform, mc_client):
    """The same class in the core's signed media URLs (a fast-path route): a 403, not a 500."""
    if mc_platform.settings.storage_backend != "local":
        pytest.skip("/media is served by the object store's CDN when storage is S3")
    storage = mc_platform.storage
    assert storage.verify("tracks/x/seg.ts", "99999999999", "\u00e9") is False
    assert storage.verify("tracks/x/seg.ts", "\u00b2", "abc") is False  # "²".isdigit() but int("²") fails
    r = mc_client.get("/media/tracks/x/seg.ts?exp=99999999999&sig=%C3%A9")
    problem(r, 403, "bad-signature")


def test_wrapped_months_outside_the_calendar_are_refused(mc_client, mc_users):
    """Year 0000 and the month after 9999-12 do not exist in Python's datetime: both were 500s."""
    fan = mc_users.fan.headers
    problem(mc_client.get("/api/v1/fanclub/me/wrapped/0000-01", headers=fan), 422, "validation")
    problem(mc_client.get("/api/v1/fanclub/me/wrapped/9999-12", headers=fan), 422, "validation")  # years 2000-2999
    r = problem(mc_client.get("/api/v1/fanclub/me/wrapped/2999-12", headers=fan), 422, "validation")
    assert "has not started yet" in r["detail"]
    problem(mc_client.post("/api/v1/fanclub/me/wrapped/0000-12/shares", json={}, headers=fan), 422, "validation")
    assert mc_client.get("/api/v1/fanclub/me/wrapped/2026-05", headers=fan).status_code == 200


def test_clearing_a_content_description_is_a_422(mc_platform, mc_client, mc_users):
    """`description: null` reached a NOT NULL column: an IntegrityError, a 500."""
    artist = mc_users.artist
    with mc_platform.session() as s:
        post = mc_platform.content.create(s, artist_id=artist.artist_id, kind="post", title="t", status="ready",
                                          actor_id=artist.id, data={"body": "b"})
        url = f"/api/v1/content/{post.id}"
    for field in ("description", "title", "visibility", "publish_at"):
        problem(mc_client.patch(url, json={field: None}, headers=artist.headers), 422, "validation")
    r = mc_client.patch(url, json={"description": "now with words"}, headers=artist.headers)
    assert r.status_code == 200 and r.json()["description"] == "now with words"


def test_a_stray_tier_id_on_public_content_is_not_kept(mc_platform, mc_client, mc_users):
    """A public item patched with some `required_tier_id` kept the id: an unknown one broke the
    foreign key (a 500). Public content names no tier, as on creation."""
    artist = mc_users.artist
    with mc_platform.session() as s:
        post = mc_platform.content.create(s, artist_id=artist.artist_id, kind="post", title="t", status="ready",
                                          actor_id=artist.id, data={"body": "b"})
    r = mc_client.patch(f"/api/v1/content/{post.id}", json={"required_tier_id": "00000000-0000-4000-8000-000000000000"},
                        headers=artist.headers)
    assert r.status_code == 200, r.text
    assert r.json()["visibility"] == "public" and r.json()["required_tier_id"] is None


def test_nul_characters_are_a_422_on_every_database(mc_client, mc_users):
    """PostgreSQL refuses U+0000 in text and JSONB: any route storing or looking up such text was a
    500 there (SQLite stored it). Now refused alike on both, in a field, in JSON data, in a path."""
    fan, artist = mc_users.fan, mc_users.artist
    problem(mc_client.patch("/api/v1/me", json={"display_name": "nul\u0000"}, headers=fan.headers), 422, "nul-character")
    r = mc_client.post(f"/api/v1/artists/{artist.artist_id}/content", headers=artist.headers,
                       json={"kind": "post", "title": "t", "data": {"body": "a\u0000b"}})
    problem(r, 422, "nul-character")
    problem(mc_client.get("/api/v1/artists/nul%00"), 422, "nul-character")
    r = mc_client.patch("/api/v1/me", json={"display_name": "a backslash-u: \\u0000"}, headers=fan.headers)
    assert r.status_code == 200 and r.json()["display_name"] == "a backslash-u: \\u0000"


def _param(document, path, method, name):
    return next(p for p in document["paths"][path][method]["parameters"] if p["name"] == name)


def _body_schema(document, path, method, media="application/json"):
    schema = document["paths"][path][method]["requestBody"]["content"][media]["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_the_document_states_formats_and_enums(mc_app):
    """What a route accepts is in the OpenAPI document, so clients (and the fuzzer) can know it:
    the fuzzer's valid requests to these were refused before."""
    doc = mc_app.openapi()
    fc = "/api/v1/fanclub"
    for path, method in ((f"{fc}/me/wrapped/{{month}}", "get"), (f"{fc}/me/wrapped/{{month}}.png", "get"),
                         (f"{fc}/me/wrapped/{{month}}/shares", "post")):
        assert _param(doc, path, method, "month")["schema"]["pattern"] == r"^2\d{3}-(0[1-9]|1[0-2])$"  # 2000-2999
    for method in ("put", "delete"):
        kind = _param(doc, f"{fc}/content/{{content_id}}/reactions/{{kind}}", method, "kind")["schema"]
        assert set(kind["enum"]) == {"heart", "fire", "clap", "laugh", "wow", "sad"}
    report = _body_schema(doc, "/api/v1/streaming/plays/{session_id}", "post")
    assert set(report["properties"]["event"]["enum"]) == {"progress", "complete"}
    action = _param(doc, "/api/v1/billing/sandbox/portal/{token}/subscriptions/{sub_id}/{action}", "post", "action")
    assert set(action["schema"]["enum"]) == {"cancel", "resume", "change"}
    tier = _body_schema(doc, "/api/v1/artists/{artist_id}/tiers", "post")
    assert tier["properties"]["key"]["pattern"] and tier["properties"]["currency"]["pattern"]
    assert tier["properties"]["perks"]["additionalProperties"] is False
    patch = _body_schema(doc, "/api/v1/content/{content_id}", "patch")
    assert all("anyOf" not in patch["properties"][f] for f in ("title", "description", "visibility", "publish_at"))
    post = _body_schema(doc, f"{fc}/artists/{{artist_id}}/posts", "post", "multipart/form-data")
    assert post["properties"]["images"]["maxItems"] == 10 and post["additionalProperties"] is False


def test_enumerated_values_are_still_refused_with_a_problem(mc_client, mc_users):
    """The same refusals as before the document said so: a 422 problem, not a 404 or a 500."""
    fan = mc_users.fan.headers
    r = mc_client.put("/api/v1/fanclub/content/00000000-0000-4000-8000-000000000000/reactions/meh", headers=fan)
    problem(r, 422, "validation")
    r = mc_client.post("/api/v1/streaming/plays/00000000-0000-4000-8000-000000000000",
                       json={"event": "pause", "position": 1}, headers=fan)
    problem(r, 422, "validation")
    r = mc_client.post("/api/v1/fanclub/me/wrapped/2026-05/shares", json={"sections": ["secrets"]}, headers=fan)
    problem(r, 422, "validation")
