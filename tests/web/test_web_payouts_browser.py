"""The artists' payouts page in a real browser (headless Chromium driven by Playwright) against
``musicconnect serve`` with billing on Stripe's API served by the loopback test server
(``scripts/stripe_server.py``: localstripe plus Connect accounts and account links): a listener is
refused and has no Payouts link; the artist opens Payouts from the studio menu, sees "Not
connected", presses "Set up payouts" and lands on the onboarding address Stripe handed out (the
return addresses the app sent are this page); back before finishing, the page says what Stripe
still needs and offers "Continue setup"; once onboarding is complete at Stripe, coming back shows
"Payouts enabled" (the page asks Stripe at once, no webhook needed). axe-core finds no serious or
critical violation on the page."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from web_helpers import Console, sign_in

ROOT = Path(__file__).resolve().parents[2]
STRIPE_KEY = "sk_test_musicconnect"


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


def _connect_status(base: str, email: str) -> dict:
    with httpx.Client(base_url=base, timeout=30) as c:
        token = c.post("/api/v1/auth/login", json={"email": email, "password": "a-long-passphrase"}).json()["access_token"]
        r = c.get("/api/v1/billing/connect", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return r.json()


def test_an_artist_sets_up_payouts(browser, shots, proc_env, stripe_server):
    from test_web_a11y_browser import _audit

    from helpers import free_port, register, serve_process, wait_ready

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**proc_env, "MC_PLUGINS": "web,billing", "MC_BASE_URL": base,
           "MC_BILLING_STRIPE_SECRET_KEY": STRIPE_KEY, "MC_BILLING_STRIPE_API_BASE": stripe_server}
    proc = serve_process(env, port)
    try:
        wait_ready(proc, base)
        with httpx.Client(base_url=base, timeout=30) as c:
            register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
            register(c, "robin@example.com", display_name="Robin")

        page = browser.new_page()
        console = Console(page)
        # a listener: no Payouts link, and the page refuses politely
        sign_in(page, base, "robin@example.com", "/")
        assert page.get_by_role("link", name="Payouts").count() == 0
        page.goto(f"{base}/studio/payouts")
        refused = page.locator(".gated", has_text="is a listener's account")
        refused.wait_for()
        assert "Payouts are for artists, and Robin is a listener's account" in refused.inner_text()
        assert page.get_by_role("button", name="Set up payouts").count() == 0
        shots(page, "01-listener-refused")
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in").wait_for()

        # the artist opens Payouts from the studio menu: not connected
        sign_in(page, base, "nova@example.com", "/")
        page.get_by_role("navigation", name="Studio").get_by_role("link", name="Payouts").click()
        status = page.locator("#payout-status")
        status.wait_for()
        assert status.get_attribute("data-status") == "none"
        assert "Not connected" in status.inner_text()
        page.locator("#earnings-none").wait_for()
        found = _audit(page, "payouts")
        assert found == [], json.dumps(found, indent=1)
        shots(page, "02-not-connected")

        # Set up payouts: the API's onboarding link, with this page as the way back
        with page.expect_request(lambda r: r.url.endswith("/api/v1/billing/connect") and r.method == "POST") as req:
            page.get_by_role("button", name="Set up payouts").click()
        sent = json.loads(req.value.post_data)
        assert sent == {"return_url": f"{base}/studio/payouts?onboarding=done",
                        "refresh_url": f"{base}/studio/payouts?onboarding=expired"}
        page.wait_for_url(re.compile(re.escape(stripe_server) + r"/_test/onboarding/acct_\w+"))
        acct = page.url.rsplit("/", 1)[-1]
        assert _connect_status(base, "nova@example.com")["account_id"] == acct

        # back before finishing (Stripe's refresh address): what is missing, and Continue setup
        page.goto(f"{base}/studio/payouts?onboarding=expired")
        status.wait_for()
        assert status.get_attribute("data-status") == "incomplete"
        needs = page.locator("#payout-needs li").all_inner_texts()
        assert needs == ["a bank account (or debit card) to pay you out to", "accepting Stripe's terms of service"]
        assert page.get_by_role("button", name="Continue setup").count() == 1
        assert "The setup link expired" in page.locator("[role=status]").first.inner_text()
        shots(page, "03-incomplete")

        # the artist finishes at Stripe (the test server's stand-in for its hosted pages) and comes back
        r = httpx.post(f"{stripe_server}/_test/onboarding/{acct}/complete",
                       headers={"Authorization": f"Bearer {STRIPE_KEY}"}, timeout=30)
        assert r.status_code == 200, r.text
        page.goto(f"{base}/studio/payouts?onboarding=done")
        page.locator("#payout-status[data-status=enabled]").wait_for()
        assert "Payouts enabled" in status.inner_text()
        assert page.get_by_role("button", name="Continue setup").count() == 0
        assert "The platform keeps 10 % of each payment" in page.locator(".payouts").inner_text()
        shots(page, "04-payouts-enabled")
        stored = _connect_status(base, "nova@example.com")
        assert stored["payouts_enabled"] and stored["charges_enabled"] and stored["requirements"] == []
        # the only console errors: the test server's onboarding address has no page to show
        assert console.unexpected("/favicon.ico", "/_test/onboarding/") == [], console.errors
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except Exception:
            proc.kill()


@pytest.mark.mc_plugins("web", "billing")
def test_without_stripe_the_payouts_page_says_nobody_is_paid_out(browser, shots, thread_server, mc_make_platform):
    """The demo's platform (sandbox on, no Stripe key): no "Set up payouts" that could only fail."""
    from musicconnect.app import create_app
    from musicconnect.testing import make_user

    p = mc_make_platform(plugin_config={"billing": {"sandbox": True}})
    make_user(p, "artist", email="nova@example.com", password="a-long-passphrase", artist_name="Nova Lane")
    base = thread_server(create_app(p))
    page = browser.new_page()
    console = Console(page)
    sign_in(page, base, "nova@example.com", "/studio/payouts")
    status = page.locator("#payout-status")
    status.wait_for()
    assert status.get_attribute("data-status") == "no-stripe"
    assert "Sandbox" in status.inner_text() and "nobody is charged or paid out" in status.inner_text()
    assert page.locator("#payout-setup").count() == 0
    page.get_by_role("heading", name="Earnings").wait_for()
    shots(page, "payouts-no-stripe")
    assert console.unexpected() == []
