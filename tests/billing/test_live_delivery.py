"""Webhooks exactly as localstripe sends them: over HTTP, signed by its own code with the endpoint
secret. A loopback receiver takes each delivery and hands headers and body, byte for byte, to our
webhook route."""
from __future__ import annotations

import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sqlalchemy import select

from musicconnect.models import Entitlement
from musicconnect_billing.models import WebhookEvent
from tests.billing.conftest import WEBHOOK_SECRET, onboard
from tests.billing.test_stripe import subscribe


def test_localstripe_signed_deliveries_are_accepted(stripe_env):
    env = stripe_env
    got: queue.Queue = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.put((self.headers["Stripe-Signature"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"mc-{uuid.uuid4().hex[:8]}"
    r = env.stripe.http.post(f"/_config/webhooks/{hook}", data={
        "url": f"http://127.0.0.1:{server.server_port}/", "secret": WEBHOOK_SECRET,
        "events[]": ["customer.subscription.created", "invoice.paid", "invoice.payment_succeeded"]})
    assert r.status_code == 200, r.text
    try:
        onboard(env)
        sub_id, _, _ = subscribe(env, deliver_events=False)
        deliveries = []
        deadline = time.monotonic() + 20
        while len(deliveries) < 3 and time.monotonic() < deadline:
            try:
                signature, body = got.get(timeout=0.5)
            except queue.Empty:
                continue
            # localstripe sends every event a second after it happened to every hook registered by
            # then: events of the previous test may arrive here too
            if sub_id.encode() in body:
                deliveries.append((signature, body))
    finally:
        server.shutdown()
        # localstripe has no way to remove a webhook: point it at a secret no endpoint accepts
        env.stripe.http.post(f"/_config/webhooks/{hook}", data={"url": "http://127.0.0.1:9/", "secret": "whsec_off",
                                                                "events[]": ["none"]})
    assert len(deliveries) == 3
    for signature, body in deliveries:
        r = env.client.post("/api/v1/billing/webhooks/stripe", content=body,
                            headers={"Stripe-Signature": signature, "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        assert r.json()["duplicate"] is False
        # the same bytes with the signature of another secret are refused
        forged = signature.replace("v1=", "v1=0")
        assert env.client.post("/api/v1/billing/webhooks/stripe", content=body,
                               headers={"Stripe-Signature": forged}).status_code == 400
    env.wait()
    with env.platform.session() as s:
        ent = s.scalar(select(Entitlement).where(Entitlement.source_ref == sub_id))
        types = {r.type: r.status for r in s.scalars(select(WebhookEvent))}
    assert ent is not None and ent.status == "active"
    assert types["customer.subscription.created"] == "processed" and types["invoice.paid"] == "processed"
