"""Structured logs: one JSON object per line (``MC_LOG_FORMAT=json``) or readable text.

JSON lines carry the context of the work they belong to: ``request_id`` (an HTTP request's
``X-Request-ID``), ``job_id`` and ``actor`` (a background job), and ``trace_id`` / ``span_id``
when an OpenTelemetry span is active (:mod:`musicconnect.tracing`)."""
from __future__ import annotations

import contextvars
import logging
import sys

import orjson

#: ``{"request_id": ...}`` or ``{"job_id": ..., "actor": ...}`` of the running request or job
CONTEXT: contextvars.ContextVar[dict | None] = contextvars.ContextVar("musicconnect_log_context", default=None)


def current_context() -> dict:
    """The request / job ids of the running work, with the trace ids when a span is active."""
    from .tracing import current_ids

    ctx = dict(CONTEXT.get() or ())
    ids = current_ids()
    if ids is not None:
        ctx["trace_id"], ctx["span_id"] = ids
    return ctx

_STD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
               "logger": record.name, "msg": record.getMessage()}
        doc.update(current_context())
        doc.update({k: v for k, v in vars(record).items() if k not in _STD})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("dramatiq", "botocore", "urllib3", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
