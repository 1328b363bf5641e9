"""The artists' payouts page (billing's ``/studio/payouts``) without a browser: listed for artists
while billing is enabled and gone when it is disabled; and what the page asks of the billing API
(status, the onboarding link with return addresses back to the page, the refresh on return),
against the Stripe-API test server on loopback (``scripts/stripe_server.py``), a listener refused."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from musicconnect.testing import make_user
from tests.helpers import problem

ROOT = Path(__file__).resolve().parents[2]
STRIPE_KEY = "sk_test_musicconnect"
PAGE = ("page", "/studio/payouts", "payouts.js", "Payouts", "artists")


@pytest.fixture
def mc_plugins():
    return ["web", "billing"]


@pytest.fixture(scope="module")
def stripe_server():
    """The Stripe-API test server the test command starts (``MC_TEST_STRIPE_URL``), or one of our own."""
    url = os.environ.get("MC_TEST_STRIPE_URL")
    if url:
        yield url
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "stripe_server.py"), "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(url + "/v1/balance", headers={"Authorization": f"Bearer {STRIPE_KEY}"}, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _billing_pages(client) -> set[tuple]:
    r = client.get("/api/v1/web/extensions")
    assert r.status_code == 200, r.text
    return {(e["kind"], e["path"], e["module"].rsplit("/", 1)[-1], e["title"], e["audience"])
            for e in r.json()["extensions"] if e["plugin"] == "billing" and e["kind"] == "page"}


def test_the_payouts_page_is_listed_for_artists_and_leaves_with_billing(mc_client, mc_platform):
    assert PAGE in _billing_pages(mc_client)
    [module] = [e["module"] for e in mc_client.get("/api/v1/web/extensions").json()["extensions"]
                if e["path"] == "/studio/payouts"]
    r = mc_client.get(module)
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert "export default function" in r.text and "billing/connect" in r.text
    r = mc_client.get("/studio/payouts")
    assert r.status_code == 200 and 'id="app"' in r.text

    mc_platform.plugins.apply_state({"billing": False})
    assert _billing_pages(mc_client) == set()
    assert all(e["path"] != "/studio/payouts" for e in mc_client.get("/api/v1/web/extensions").json()["extensions"])
    problem(mc_client.get(module), 404)
    mc_platform.plugins.apply_state({"billing": True})
    assert PAGE in _billing_pages(mc_client)


@pytest.fixture
def stripe_client(mc_make_platform, stripe_server):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    base = "http://testserver"
    p = mc_make_platform(base_url=base, plugin_config={"billing": {
        "stripe_secret_key": STRIPE_KEY, "stripe_api_base": stripe_server}})
    artist = make_user(p, "artist", artist_name="Nova")
    fan = make_user(p, "fan")
    with TestClient(create_app(p), base_url=base) as client:
        yield client, p, artist, fan, httpx.Client(base_url=stripe_server, timeout=30,
                                                   headers={"Authorization": f"Bearer {STRIPE_KEY}"})


def test_the_pages_calls_status_onboarding_link_and_refresh(stripe_client):
    client, platform, artist, fan, stripe = stripe_client
    page = "http://testserver/studio/payouts"
    status = client.get("/api/v1/billing/connect", headers=artist.headers)
    assert status.status_code == 200, status.text
    assert (status.json()["connected"], status.json()["payouts_enabled"]) == (False, False)

    # "Set up payouts": the onboarding link; the return addresses are the page itself
    r = client.post("/api/v1/billing/connect", headers=artist.headers,
                    json={"return_url": f"{page}?onboarding=done", "refresh_url": f"{page}?onboarding=expired"})
    assert r.status_code == 200, r.text
    acct = r.json()["account_id"]
    assert r.json()["url"].endswith(f"/_test/onboarding/{acct}") and acct.startswith("acct_")
    # the account exists now, with what Stripe still needs
    assert client.get("/api/v1/billing/connect", headers=artist.headers).json()["requirements"] == [
        "external_account", "tos_acceptance.date"]

    # a client's address on another origin is refused, never handed to Stripe
    for bad in ("https://evil.example/studio/payouts", "javascript:alert(1)", "//evil.example/x"):
        body = problem(client.post("/api/v1/billing/connect", headers=artist.headers, json={"return_url": bad}),
                       422, "invalid-return-url")
        assert body["field"] == "return_url"
    problem(client.post("/api/v1/billing/connect", headers=artist.headers, json={"refresh_url": "https://evil.example/"}),
            422, "invalid-return-url")

    # "Continue setup" again: the same account, a new link
    again = client.post("/api/v1/billing/connect", headers=artist.headers, json={})
    assert again.status_code == 200 and again.json()["account_id"] == acct

    # onboarding finished at Stripe; back on the page, the refresh shows it at once
    assert stripe.post(f"/_test/onboarding/{acct}/complete").status_code == 200
    done = client.post("/api/v1/billing/connect/refresh", headers=artist.headers)
    assert done.status_code == 200, done.text
    assert done.json()["payouts_enabled"] and done.json()["charges_enabled"] and done.json()["requirements"] == []

    # the earnings part of the page: the artist's revenue ledger (empty so far)
    r = client.get(f"/api/v1/billing/artists/{artist.artist_id}/revenue?limit=10", headers=artist.headers)
    assert r.status_code == 200 and r.json() == {"totals": [], "entries": []}


def test_a_listener_is_refused_every_payout_call(stripe_client):
    client, platform, artist, fan, stripe = stripe_client
    for method, url in (("GET", "/api/v1/billing/connect"), ("POST", "/api/v1/billing/connect"),
                        ("POST", "/api/v1/billing/connect/refresh")):
        kwargs = {"json": {}} if url.endswith("/connect") and method == "POST" else {}
        problem(client.request(method, url, headers=fan.headers, **kwargs), 403, "not-an-artist")
        problem(client.request(method, url, **kwargs), 401)
    problem(client.get(f"/api/v1/billing/artists/{artist.artist_id}/revenue", headers=fan.headers), 403)
