"""References for bench/webhooks.py: bare Starlette routes that verify a Stripe signature (the
same SDK call) and acknowledge — ``/webhook`` with no storage, ``/webhook-stored`` after a plain
INSERT of the event into the same database (the least durable work an ack can do)."""
import json
import os

import stripe
from sqlalchemy import Column, MetaData, String, Table, Text, create_engine, insert
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.routing import Route

SECRET = "whsec_bench"
url = os.environ.get("MC_DATABASE_URL") or f"sqlite:///{os.environ['MC_DATA_DIR']}/bare.db"
engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), pool_size=40, max_overflow=0) \
    if url.startswith("postgresql") else create_engine(url, connect_args={"timeout": 30})
events = Table("bare_webhook_events", MetaData(), Column("event_id", String(255), primary_key=True),
               Column("payload", Text))
events.metadata.create_all(engine)


def _verify(body: bytes, request) -> bool:
    try:
        stripe.WebhookSignature.verify_header(body.decode(), request.headers.get("stripe-signature"), SECRET, 300)
        return True
    except stripe.SignatureVerificationError:
        return False


async def webhook(request):
    if request.method == "GET":
        return JSONResponse({"ok": True})
    body = await request.body()
    if not _verify(body, request):
        return JSONResponse({"error": "bad signature"}, status_code=400)
    return JSONResponse({"received": True})


def _store(event_id: str, body: bytes) -> None:
    with engine.begin() as conn:
        conn.execute(insert(events).values(event_id=event_id, payload=body.decode()))


async def webhook_stored(request):
    if request.method == "GET":
        return JSONResponse({"ok": True})
    body = await request.body()
    if not _verify(body, request):
        return JSONResponse({"error": "bad signature"}, status_code=400)
    await run_in_threadpool(_store, json.loads(body)["id"], body)
    return JSONResponse({"received": True})

app = Starlette(routes=[Route("/webhook", webhook, methods=["GET", "POST"]),
                        Route("/webhook-stored", webhook_stored, methods=["GET", "POST"])])
