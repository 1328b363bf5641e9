"""Prometheus metrics of jobs, webhooks and rate limits, the job backlog read from the broker at
scrape, build info, and the worker's own ``/metrics`` + ``/healthz`` port.

Names are a contract (docs/operations.md, "Observability"; the dashboard and alert rules use
them). With several processes writing one ``PROMETHEUS_MULTIPROC_DIR``, :func:`exposition` merges
them (gauges of running work are ``livesum``); the backlog and build info are computed at scrape.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("musicconnect.metrics")

_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
JOBS_ENQUEUED = Counter("musicconnect_jobs_enqueued_total", "jobs enqueued", ["actor"])
JOBS_RUNNING = Gauge("musicconnect_jobs_running", "jobs running now", ["actor"], multiprocess_mode="livesum")
JOBS_FINISHED = Counter("musicconnect_jobs_finished_total", "job attempts finished, by outcome "
                        "(succeeded | retried | failed)", ["actor", "outcome"])
JOB_SECONDS = Histogram("musicconnect_job_seconds", "run time of one job attempt", ["actor"], buckets=_SECONDS)
JOB_WAIT = Histogram("musicconnect_job_wait_seconds", "enqueue to the start of a job's first attempt", ["actor"],
                     buckets=_SECONDS)
WEBHOOKS = Counter("musicconnect_webhooks_total", "payment webhook deliveries, by outcome "
                   "(processed | duplicate | rejected | error)", ["provider", "outcome"])
WEBHOOK_SECONDS = Histogram("musicconnect_webhook_seconds", "payment webhook handling time", ["provider"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
RATE_LIMITED = Counter("musicconnect_rate_limited_total", "requests refused by a rate limit or throttle (429), "
                       "by policy", ["policy"])

_jobs_ref: list = [None]  # weakref to the Jobs whose broker the backlog is read from


def watch_backlog(jobs) -> None:
    """Report ``musicconnect_jobs_backlog`` from this ``Jobs``' broker (the latest one started)."""
    _jobs_ref[0] = weakref.ref(jobs)


def backlog(jobs) -> dict[tuple[str, str], int]:
    """``{(queue, part): messages}``, part = ready | delayed | inflight, read from the broker the
    way it stores them. Redis (dramatiq's ``RedisBroker``): ready = ``LLEN ns:q``; delayed =
    ``LLEN ns:q.DQ`` plus delayed messages a worker holds (``SCARD ns:__acks__.<worker>.q.DQ``);
    inflight = ``SCARD ns:__acks__.<worker>.q`` over every worker in ``ns:__heartbeats__`` (dead
    ones too, until maintenance re-queues their messages). Embedded ``StubBroker``: its queues'
    sizes, in-flight = delivered but not yet acknowledged."""
    broker = jobs.broker
    queues = sorted(q for q in broker.queues if not q.endswith((".DQ", ".XQ")))
    out: dict[tuple[str, str], int] = {}
    if jobs.embedded:
        for q in queues:
            ready, delayed = broker.queues.get(q), broker.queues.get(q + ".DQ")
            out[(q, "ready")] = ready.qsize() if ready is not None else 0
            out[(q, "delayed")] = (delayed.unfinished_tasks if delayed is not None else 0)
            out[(q, "inflight")] = max(0, ready.unfinished_tasks - ready.qsize()) if ready is not None else 0
        return out
    client, ns = broker.client, broker.namespace
    workers = [w.decode() if isinstance(w, bytes) else w for w in client.zrange(f"{ns}:__heartbeats__", 0, -1)]
    pipe = client.pipeline(transaction=False)
    for q in queues:
        pipe.llen(f"{ns}:{q}")
        pipe.llen(f"{ns}:{q}.DQ")
        for w in workers:
            pipe.scard(f"{ns}:__acks__.{w}.{q}.DQ")
        for w in workers:
            pipe.scard(f"{ns}:__acks__.{w}.{q}")
    res = pipe.execute()
    i, n = 0, len(workers)
    for q in queues:
        out[(q, "ready")] = int(res[i])
        out[(q, "delayed")] = int(res[i + 1]) + sum(int(x) for x in res[i + 2:i + 2 + n])
        out[(q, "inflight")] = sum(int(x) for x in res[i + 2 + n:i + 2 + 2 * n])
        i += 2 + 2 * n
    return out


class _ScrapeCollector:
    """``musicconnect_jobs_backlog`` and ``musicconnect_build_info``, computed at each scrape."""

    def describe(self):
        return []

    def collect(self):
        from .tracing import version

        __version__ = version()

        jobs = _jobs_ref[0]() if _jobs_ref[0] is not None else None
        info = GaugeMetricFamily("musicconnect_build_info", "the running build", labels=["version", "release",
                                                                                         "environment"])
        st = getattr(getattr(jobs, "platform", None), "settings", None)
        env = (getattr(st, "sentry_environment", None) or getattr(st, "env", None)
               or os.environ.get("MC_ENV", "development"))
        info.add_metric([__version__, getattr(st, "release", None) or os.environ.get("MC_RELEASE") or __version__,
                         env], 1)
        yield info
        fam = GaugeMetricFamily("musicconnect_jobs_backlog", "job messages in the broker, by queue and part "
                                "(ready | delayed | inflight)", labels=["queue", "part"])
        if jobs is not None:
            try:
                for (q, part), n in backlog(jobs).items():
                    fam.add_metric([q, part], n)
            except Exception as exc:  # a scrape never fails for the broker: the series go missing instead
                log.warning("job backlog unavailable: %s: %s", type(exc).__name__, exc)
        yield fam


_COLLECTOR = _ScrapeCollector()
REGISTRY.register(_COLLECTOR)


def exposition() -> bytes:
    """The text exposition: this process's registry, or every process's when
    ``PROMETHEUS_MULTIPROC_DIR`` is set (plus the values computed at scrape)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        from prometheus_client import multiprocess

        _reap_dead(path)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_COLLECTOR)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _reap_dead(path: str) -> None:
    """Drop the live gauges of processes that are gone (uvicorn and dramatiq do not call
    ``mark_process_dead`` as gunicorn's hook would), so ``livesum`` counts only live processes."""
    import glob

    from prometheus_client import multiprocess

    for f in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        try:
            pid = int(f.rsplit("_", 1)[1].split(".")[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except (ValueError, PermissionError):
            continue


# ---------------------------------------------------------------- the worker's port

def worker_alive(jobs) -> bool:
    """Liveness of ``musicconnect worker``: its dramatiq worker and every thread of it run."""
    worker = getattr(jobs, "_worker", None)
    if worker is None:
        return False
    threads = list(getattr(worker, "workers", [])) + list(getattr(worker, "consumers", {}).values())
    return bool(threads) and all(t.is_alive() for t in threads)


def serve_worker_endpoints(platform, port: int, host: str = "127.0.0.1", *,
                           timeout: float = 10.0) -> ThreadingHTTPServer:
    """``GET /metrics`` and ``GET /healthz`` of a worker process on ``host:port`` (a daemon thread).
    It needs no token: the default host is loopback; bind ``0.0.0.0`` only on a private network (a
    pod's scrape port). A connection idle for ``timeout`` seconds is closed (no pile of threads)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body, ctype, code = exposition(), "text/plain; version=0.0.4; charset=utf-8", 200
            elif path == "/healthz":
                ok = worker_alive(platform.jobs)
                body = b'{"status":"ok"}' if ok else b'{"status":"unavailable"}'
                ctype, code = "application/json", 200 if ok else 503
            else:
                body, ctype, code = b'{"status":404}', "application/json", 404
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    Handler.timeout = timeout  # StreamRequestHandler: the socket's timeout while reading a request

    server_cls = ThreadingHTTPServer
    if ":" in host:  # an IPv6 address such as "::"
        import socket

        server_cls = type("ThreadingHTTPServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    server = server_cls((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="mc-worker-metrics").start()
    return server


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
