#!/usr/bin/env python3
"""Benchmark: Stripe webhooks end to end — verify + ledger + state change — and ack latency.

Sets up an artist with a connected account and N fans each with a subscription at the
Stripe-API test server (scripts/stripe_server.py), collects every event Stripe produced for them
(customer, invoice, payment, subscription, checkout...), then runs `musicconnect serve` (one
process, in-process job worker) and posts all events, freshly signed, with C concurrent
connections. Reports:

* ack latency p50/p99 and acks/s, against a bare Starlette route doing the same signature
  check and nothing else (same client, same run) — the ratio;
* events processed per second end to end: from the first post until the ledger holds no
  unprocessed event, with every fan's entitlement granted (checked).

With ``--distributed`` it runs on PostgreSQL and Redis (started on loopback as the test
command does) with a separate ``musicconnect worker`` process doing the processing.

Usage: python bench/webhooks.py [--fans 150] [--concurrency 32] [--distributed]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _load import free_port, serve, wait_up  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY, SECRET = "sk_test_bench", "whsec_bench"


def sign(body: bytes) -> str:
    at = int(time.time())
    return f"t={at},v1={hmac.new(SECRET.encode(), f'{at}.'.encode() + body, hashlib.sha256).hexdigest()}"


def setup(env: dict, stripe_url: str, fans: int) -> tuple[list[bytes], int]:
    """Create the artist, fans and subscriptions; return every related event (JSON bodies)."""
    os.environ.update(env)
    import stripe
    from musicconnect import migrate
    from musicconnect.models import Tier
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings
    from musicconnect.testing import make_user
    from musicconnect_billing import catalog
    from musicconnect_billing.models import Account, Customer
    from musicconnect_billing.stripe_gateway import StripeGateway

    p = Platform(Settings())
    migrate.upgrade(p)
    artist = make_user(p, "artist", artist_name="Bench Artist")
    sdk = stripe.StripeClient(KEY, base_addresses={"api": stripe_url}, max_network_retries=0)
    acct = sdk.v1.accounts.create(params={"type": "express"})
    httpx.post(f"{stripe_url}/_test/onboarding/{acct.id}/complete", headers={"Authorization": f"Bearer {KEY}"})
    with p.session() as s:
        s.add(Account(artist_id=artist.artist_id, provider="stripe", external_id=acct.id, charges_enabled=True,
                      payouts_enabled=True, details_submitted=True, requirements=[], updated_at=p.clock.now()))
        tier = [t for t in s.query(Tier).filter_by(artist_id=artist.artist_id) if t.key == "supporter"][0]
        s.expunge(tier)
    price = catalog.current_price(p, StripeGateway(p.plugin_settings("billing")), tier, "month")
    ids = []
    for i in range(fans):
        fan = make_user(p, "fan", email=f"fan{i}-{uuid.uuid4().hex[:6]}@bench.test")
        cus = sdk.v1.customers.create(params={"email": fan.email})
        with p.session() as s:
            s.add(Customer(id=uuid.uuid4(), provider="stripe", user_id=fan.id, external_id=cus.id,
                           created_at=p.clock.now()))
        sdk.v1.payment_methods.attach("pm_card_visa", params={"customer": cus.id})
        sdk.v1.customers.update(cus.id, params={"invoice_settings": {"default_payment_method": "pm_card_visa"}})
        sub = sdk.v1.subscriptions.create(params={"customer": cus.id, "items": [{"price": price}],
                                                  "application_fee_percent": 10,
                                                  "transfer_data": {"destination": acct.id}})
        ids += [sub.id, cus.id]
    p.close()
    events = []
    for chunk in range(0, len(ids), 100):
        r = httpx.get(f"{stripe_url}/_test/events", params={"ids": ",".join(ids[chunk:chunk + 100])},
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=60)
        events += r.json()["data"]
    unique = {e["id"]: e for e in events}
    return [json.dumps(e).encode() for e in unique.values()], fans


async def blast(url: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], float, int]:
    """Post every body once over ``concurrency`` keep-alive connections (aiohttp client)."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def worker(session):
        nonlocal errors
        while not queue.empty():
            body = queue.get_nowait()
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers={"Stripe-Signature": sign(body),
                                                             "Content-Type": "application/json"}) as r:
                await r.read()
                errors += r.status != 200
            latencies.append((time.perf_counter() - t0) * 1000)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return latencies, time.perf_counter() - start, errors


def warmup_bodies(n: int) -> list[bytes]:
    """Events of a type nobody handles: stored and acknowledged, nothing else."""
    return [json.dumps({"id": f"evt_warmup_{uuid.uuid4().hex}", "object": "event", "type": "bench.warmup",
                        "created": int(time.time()), "data": {"object": {"id": "x"}}}).encode() for _ in range(n)]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_processed(env: dict, total: int, fans: int, timeout: float = 600) -> float:
    os.environ.update(env)
    from sqlalchemy import func, select

    from musicconnect.models import Entitlement
    from musicconnect.platform import Platform
    from musicconnect.settings import Settings
    from musicconnect_billing.models import WebhookEvent

    p = Platform(Settings())
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with p.session() as s:
                done = s.scalar(select(func.count()).select_from(WebhookEvent)
                                .where(WebhookEvent.status.in_(("processed", "ignored"))))
                failed = s.scalar(select(func.count()).select_from(WebhookEvent).where(WebhookEvent.status == "failed"))
                ents = s.scalar(select(func.count()).select_from(Entitlement).where(Entitlement.source == "stripe"))
            if done + failed >= total:
                if failed or ents != fans:
                    raise SystemExit(f"error: {failed} events failed, {ents}/{fans} entitlements granted")
                return time.perf_counter()
            time.sleep(0.05)
        raise SystemExit("error: events were not processed in time")
    finally:
        p.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fans", type=int, default=150)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--distributed", action="store_true", help="PostgreSQL + Redis + a separate worker process")
    args = ap.parse_args()
    if args.distributed:
        import importlib.util

        sys.path.insert(0, str(ROOT / "scripts"))
        spec = importlib.util.spec_from_file_location("mc_test_cmd", ROOT / "scripts" / "test.py")
        test_cmd = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(test_cmd)
        with test_cmd.services() as svc:
            run(args, {"MC_DATABASE_URL": svc["MC_TEST_DATABASE_URL"], "MC_REDIS_URL": svc["MC_TEST_REDIS_URL"]})
    else:
        run(args, {})


def run(args, extra: dict) -> None:
    sport = free_port()
    stripe_proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "stripe_server.py"), "--port", str(sport)])
    stripe_url = f"http://127.0.0.1:{sport}"
    wait_up(stripe_url + "/v1/balance")
    data = tempfile.mkdtemp(prefix="mc-bench-")
    env = {"MC_DATA_DIR": data, "MC_LOG_LEVEL": "WARNING", "PYTHONPATH": str(Path(__file__).parent),
           "MC_BILLING_STRIPE_SECRET_KEY": KEY, "MC_BILLING_STRIPE_API_BASE": stripe_url,
           "MC_BILLING_STRIPE_WEBHOOK_SECRETS": SECRET, "MC_ARGON2_TIME_COST": "1", "MC_ARGON2_MEMORY_COST": "1024"}
    env.update(extra)
    results = {}
    worker = None
    try:
        bodies, fans = setup(env, stripe_url, args.fans)
        print(f"{len(bodies)} events for {fans} subscriptions; "
              f"{'postgresql + redis + a worker process' if extra else 'sqlite, in-process worker'}")
        if extra:
            worker = subprocess.Popen([str(Path(sys.executable).parent / "musicconnect"), "worker"],
                                      env={**os.environ, **env})
        for name, target, path in (("bare: verify", "bare_webhook:app", "/webhook"),
                                   ("bare: verify + insert", "bare_webhook:app", "/webhook-stored"),
                                   ("musicconnect webhook", "musicconnect.asgi:app", "/api/v1/billing/webhooks/stripe")):
            port = free_port()
            proc = serve(target, port, env)
            try:
                base = f"http://127.0.0.1:{port}"
                wait_up(base + (path if "bare" in name else "/healthz"))
                warm = warmup_bodies(300)
                asyncio.run(blast(base + path, warm, args.concurrency))
                if "musicconnect" in name:
                    wait_processed(env, len(warm), 0)
                started = time.perf_counter()
                latencies, seconds, errors = asyncio.run(blast(base + path, bodies, args.concurrency))
                if "musicconnect" in name:
                    results["e2e_seconds"] = wait_processed(env, len(bodies) + len(warm), fans) - started
                results[name] = (len(bodies) / seconds, pct(latencies, 0.5), pct(latencies, 0.99), errors, seconds)
            finally:
                proc.terminate()
                proc.wait(10)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(20)
        stripe_proc.terminate()
        stripe_proc.wait(10)

    print(f"{'':26} {'acks/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name in ("bare: verify", "bare: verify + insert", "musicconnect webhook"):
        rps, p50, p99, errors, _ = results[name]
        print(f"{name:26} {rps:9.0f} {p50:8.2f} {p99:8.2f} {errors:7d}")
    ours = results["musicconnect webhook"]
    print(f"ack ratio vs bare verify + insert: {ours[0] / results['bare: verify + insert'][0]:.2f}x; "
          f"vs bare verify only: {ours[0] / results['bare: verify'][0]:.2f}x; "
          f"ack p99 {ours[2]:.0f} ms (Stripe waits up to 10 s)")
    print(f"end to end (verify + ledger + refetch + state change): {len(bodies) / results['e2e_seconds']:.0f} events/s "
          f"({len(bodies)} events in {results['e2e_seconds']:.2f} s, {fans} entitlements granted)")


if __name__ == "__main__":
    main()
