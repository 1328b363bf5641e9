"""``musicconnect billing sync | replay | status | events`` run as an operator would."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.billing.conftest import STRIPE_KEY, WEBHOOK_SECRET, deliver, onboard

BIN = Path(sys.executable).parent / "musicconnect"


@pytest.fixture
def billing_cli(proc_env, stripe_url):
    def run(*args, code=0, stripe=True, api_base=None, **extra_env):
        env = dict(proc_env, **extra_env)
        if stripe:
            env.update(MC_BILLING_STRIPE_SECRET_KEY=STRIPE_KEY, MC_BILLING_STRIPE_API_BASE=api_base or stripe_url,
                       MC_BILLING_STRIPE_WEBHOOK_SECRETS=WEBHOOK_SECRET)
        r = subprocess.run([str(BIN), "billing", *args], capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == code, (args, r.returncode, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
        return r
    return run


def _one_line(r) -> str:
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


def test_status_sync_replay(stripe_env, billing_cli):
    env = stripe_env
    out = billing_cli("status", stripe=False).stdout
    assert "providers: none" in out and "stripe: not configured" in out and "SANDBOX" not in out
    out = billing_cli("status", stripe=False, MC_BILLING_SANDBOX="true").stdout
    assert "providers: sandbox" in out and "SANDBOX ON" in out

    onboard(env)
    status = json.loads(billing_cli("status", "--json").stdout)
    assert status["stripe"] == {"configured": True, "reachable": True, "error": None, "webhook_secrets": 1}
    assert status["providers"] == ["stripe"]
    assert {"artist": "Nova", "account": status["artists"][0]["account"], "charges_enabled": True,
            "payouts_enabled": True, "fee_percent": None} in status["artists"]
    assert "Nova: ready" in billing_cli("status").stdout

    first = billing_cli("sync", "--artist", env.artist.email).stdout
    assert "Nova: 3 tiers, 2 prices created, 0 archived" in first
    again = billing_cli("sync", "--artist", env.artist.email).stdout
    assert "Nova: 3 tiers, 0 prices created, 0 archived" in again

    # replay a stored event: processed again, idempotently
    [account_event] = [e for e in env.stripe.related(status["artists"][0]["account"])]
    r = billing_cli("replay", account_event["id"])
    assert f"{account_event['id']} (account.updated): processed" in r.stdout
    listed = json.loads(billing_cli("events", "--json").stdout)
    assert [e["event_id"] for e in listed] == [account_event["id"]] and listed[0]["attempts"] == 2

    # failure paths: one readable line, non-zero exit
    assert "no stored event evt_missing" in _one_line(billing_cli("replay", "evt_missing", code=1))
    assert "not an artist account" in _one_line(billing_cli("sync", "--artist", env.fan.email, code=1))
    assert "Stripe is not configured" in _one_line(billing_cli("sync", stripe=False, code=1))
    r = billing_cli("status", code=1, api_base="http://127.0.0.1:9")
    assert "stripe: UNREACHABLE" in r.stdout


def test_replay_of_an_event_that_failed(stripe_env, billing_cli):
    """An event whose processing failed is replayed once the cause is fixed."""
    env = stripe_env
    event = {"id": "evt_cli_unknown_account", "type": "account.updated", "created": 1,
             "data": {"object": {"id": "acct_unknown"}}}
    assert deliver(env.client, event).status_code == 200
    env.wait()
    r = billing_cli("replay", "evt_cli_unknown_account")
    assert "ignored" in r.stdout and "unknown connected account" in r.stdout
