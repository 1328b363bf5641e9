"""Fixtures for the observability tests: an in-memory span exporter and a probe plugin whose
routes log, fail and enqueue jobs that log, fail, retry or wait."""
from __future__ import annotations

import logging
import threading
import types

import pytest


@pytest.fixture
def spans():
    """Tracing on in this process, every finished span kept in memory."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from musicconnect import tracing

    exporter = InMemorySpanExporter()
    tracing.configure(processor=SimpleSpanProcessor(exporter), service_name="musicconnect-test")
    yield exporter
    tracing.shutdown()


def probe_plugin():
    """``obsprobe``: GET /log (logs, enqueues ``echo``), GET /boom (raises), GET /secret/{token},
    GET /sql (a database error), GET /s3/{cause|bug} (S3 5xx chains), POST /enqueue/{job}."""
    from fastapi import APIRouter, Depends

    from musicconnect import JobSpec, hookimpl
    from musicconnect.web import get_platform, public

    log = logging.getLogger("musicconnect.obsprobe")
    router = APIRouter()
    gate = threading.Event()
    attempts: dict[str, int] = {}

    @router.get("/log", dependencies=[Depends(public)])
    def log_route(platform=Depends(get_platform)):
        log.info("probe route ran")
        return {"job": str(platform.jobs.enqueue("obsprobe.echo"))}

    @router.get("/boom", dependencies=[Depends(public)])
    def boom():
        raise RuntimeError("route failed for fan@example.com with token mca_supersecrettoken123 password=hunter2")

    @router.get("/secret/{token}", dependencies=[Depends(public)])
    def secret_path(token: str):
        raise RuntimeError("a route whose path holds a token failed")

    @router.get("/sql", dependencies=[Depends(public)])
    def sql(platform=Depends(get_platform)):
        from sqlalchemy import text

        with platform.db.engine.connect() as conn:  # a real database error with bound values
            conn.execute(text("SELECT no_such_column FROM users WHERE password_hash = :password_hash"),
                         {"password_hash": "-".join(["argon2", "secret", "hash", "value"])})  # not in source context

    @router.get("/s3/{how}", dependencies=[Depends(public)])
    def s3(how: str):
        from botocore.exceptions import ClientError

        try:
            raise ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
        except ClientError as exc:
            if how == "cause":
                raise RuntimeError("object read failed") from exc
            raise KeyError("a bug in the handler of an S3 error")

    @router.post("/enqueue/{job}", dependencies=[Depends(public)])
    def enqueue(job: str, platform=Depends(get_platform)):
        return {"job": str(platform.jobs.enqueue(f"obsprobe.{job}"))}

    def echo(ctx):
        log.info("probe job ran")
        return {"ok": True}

    def fail(ctx):
        raise RuntimeError("job failed for artist@example.com with Bearer eyJhbGciOi.eyJzdWIiOiJ4.c2lnbmF0dXJl")

    def flaky(ctx):
        attempts[str(ctx.job_id)] = attempts.get(str(ctx.job_id), 0) + 1
        if attempts[str(ctx.job_id)] == 1:
            raise RuntimeError("first attempt fails")
        return {"ok": True}

    def hold(ctx):
        gate.wait(30)
        return {"ok": True}

    class plugin:
        @staticmethod
        @hookimpl
        def register_routes(platform):
            return router

        @staticmethod
        @hookimpl
        def register_jobs(platform):
            return [JobSpec("echo", echo, max_retries=0), JobSpec("fail", fail, max_retries=0),
                    JobSpec("flaky", flaky, max_retries=2, min_backoff_ms=10), JobSpec("hold", hold, max_retries=0)]

    return types.SimpleNamespace(plugin=plugin, gate=gate)


@pytest.fixture
def probe():
    return probe_plugin()
