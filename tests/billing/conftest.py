"""Billing fixtures: a platform with the billing and fan club plugins, on the sandbox or on a real
Stripe-API server over loopback (``scripts/stripe_server.py``: localstripe plus the endpoints it
lacks), which the test command starts (``MC_TEST_STRIPE_URL``); started here when it did not."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import musicconnect_billing.plugin as billing
import musicconnect_fanclub.plugin as fanclub
from musicconnect.testing import make_user

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "whsec_test_current"
STRIPE_KEY = "sk_test_musicconnect"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stripe_url():
    url = os.environ.get("MC_TEST_STRIPE_URL")
    if url:
        yield url
        return
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "stripe_server.py"), "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url + "/v1/balance", headers={"Authorization": f"Bearer {STRIPE_KEY}"}, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


@dataclass
class Env:
    client: Any
    platform: Any
    artist: Any
    fan: Any
    admin: Any
    tiers: dict

    def wait(self) -> None:
        self.platform.jobs.wait_idle(timeout=60)


def _env(mc_make_platform, billing_config: dict, **overrides):
    from starlette.testclient import TestClient

    from musicconnect.app import create_app

    p = mc_make_platform(extra_plugins=[("billing", billing), ("fanclub", fanclub)], entry_points=False,
                         plugin_config={"billing": billing_config}, **overrides)
    artist = make_user(p, "artist", artist_name="Nova")
    fan = make_user(p, "fan")
    admin = make_user(p, "admin")
    tiers = {t.key: t for t in p.access.tiers(artist.artist_id)}
    return p, artist, fan, admin, tiers, TestClient(create_app(p, state_poll_interval=0.2))


@pytest.fixture
def sandbox_env(mc_make_platform):
    p, artist, fan, admin, tiers, client = _env(mc_make_platform, {"sandbox": True})  # off unless asked for
    with client:
        yield Env(client, p, artist, fan, admin, tiers)


class Stripe:
    """The Stripe-API server as the tests drive it: the SDK for API calls, plus the hosted-page
    stand-ins under ``/_test`` (pay a checkout, finish onboarding, dispute, renew)."""

    def __init__(self, url: str):
        import stripe

        self.url = url
        self.sdk = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": url}, max_network_retries=0)
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {STRIPE_KEY}"}, timeout=30)

    def post(self, path: str, **data) -> dict:
        r = self.http.post(path, data=data)
        assert r.status_code == 200, r.text
        return r.json()

    def related(self, *ids: str) -> list[dict]:
        """Every event about these objects, in the order Stripe created them."""
        r = self.http.get("/_test/events", params={"ids": ",".join(ids)})
        assert r.status_code == 200, r.text
        return r.json()["data"]


def sign(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's signature scheme: ``t=<ts>,v1=HMAC_SHA256(secret, "<ts>.<body>")``."""
    at = at or int(time.time())
    return f"t={at},v1={hmac.new(secret.encode(), f'{at}.'.encode() + body, hashlib.sha256).hexdigest()}"


def deliver(client, event: dict, secret: str = WEBHOOK_SECRET):
    body = json.dumps(event).encode()
    return client.post("/api/v1/billing/webhooks/stripe", content=body,
                       headers={"Stripe-Signature": sign(body, secret), "Content-Type": "application/json"})


@pytest.fixture
def stripe_env(mc_make_platform, stripe_url):
    p, artist, fan, admin, tiers, client = _env(mc_make_platform, {
        "stripe_secret_key": STRIPE_KEY, "stripe_api_base": stripe_url,
        "stripe_webhook_secrets": f"whsec_old_rotated,{WEBHOOK_SECRET}"})
    with client:
        env = Env(client, p, artist, fan, admin, tiers)
        env.stripe = Stripe(stripe_url)
        yield env
        env.stripe.http.close()


def onboard(env) -> str:
    """The artist connects a payout account and finishes onboarding; returns the account id."""
    r = env.client.post("/api/v1/billing/connect", json={}, headers=env.artist.headers)
    assert r.status_code == 200, r.text
    acct = r.json()["account_id"]
    assert r.json()["url"].endswith(f"/_test/onboarding/{acct}")
    env.stripe.post(f"/_test/onboarding/{acct}/complete")
    for e in env.stripe.related(acct):
        assert deliver(env.client, e).status_code == 200
    env.wait()
    return acct
