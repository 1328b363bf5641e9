"""OpenTelemetry traces: HTTP request -> job -> ffmpeg / provider calls, one trace per upload.

Off by default and then free: :func:`span` hands back one shared no-op context manager and the
HTTP layer takes its untraced path. On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (spans go to
that OTLP collector; the standard ``OTEL_*`` variables apply: ``OTEL_SERVICE_NAME``,
``OTEL_EXPORTER_OTLP_HEADERS`` …; needs ``opentelemetry-exporter-otlp``) or when
``MC_TRACING=true`` (spans are made and can be exported by a processor given to
:func:`configure`: tests use the in-memory exporter; ``OTEL_TRACES_EXPORTER=console`` prints one
JSON line per span on stdout).

A client's ``traceparent`` sets the request's trace id and parent (correlation), but only a peer
listed in ``MC_FORWARDED_ALLOW_IPS`` decides whether it is sampled; for anyone else the
configured sampler's root rule (``OTEL_TRACES_SAMPLER``, e.g. ``parentbased_traceidratio``)
decides on a random draw, so a client cannot force (or suppress) tracing of its requests.

A job carries its enqueuer's W3C ``traceparent`` in the dramatiq message options (no schema
change), so the job's span is a child of the request that enqueued it, in any process.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
from typing import Any, Iterator

log = logging.getLogger("musicconnect.tracing")

_NULL = contextlib.nullcontext()
#: span attribute set by the HTTP layer when the remote parent came from an untrusted peer
UNTRUSTED_PARENT = "musicconnect.untrusted_parent"
_tracer = None  # an opentelemetry Tracer when tracing is on
_provider = None


def version() -> str:
    """The installed core's version (without importing the package root: no import cycle)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("musicconnect-core")
    except PackageNotFoundError:
        return "0"


def active() -> bool:
    """Whether spans are being made in this process."""
    return _tracer is not None


def wanted(settings) -> bool:
    return bool(getattr(settings, "tracing", False) or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure(settings=None, *, service_name: str | None = None, processor=None) -> bool:
    """Turn tracing on in this process when the settings (or ``processor``) ask for it.

    ``processor``: an extra span processor (tests: ``SimpleSpanProcessor(InMemorySpanExporter())``).
    Returns whether tracing is on. Calling it again replaces the provider (tests)."""
    global _tracer, _provider
    if processor is None and (settings is None or not wanted(settings)):
        return active()
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    release = getattr(settings, "release", None) or version()
    attrs = {"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name or "musicconnect",
             "service.version": release}
    if settings is not None:
        attrs["deployment.environment.name"] = getattr(settings, "sentry_environment", None) or settings.env
    provider = TracerProvider(resource=Resource.create(attrs), sampler=_sampler())
    if processor is not None:
        provider.add_span_processor(processor)
    if os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":  # one JSON line per span
        import sys

        from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(
            out=sys.stdout, formatter=lambda sp: sp.to_json(indent=None) + "\n")))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        except ImportError:
            log.error("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-exporter-otlp is not installed "
                      "(pip install 'musicconnect-core[otlp]'); spans are not exported")
    if _provider is None:
        with contextlib.suppress(Exception):
            trace.set_tracer_provider(provider)  # once per process: the OpenTelemetry API's global
    elif _provider is not provider:
        with contextlib.suppress(Exception):
            _provider.shutdown()
    _provider = provider
    _tracer = provider.get_tracer("musicconnect")
    return True


def _sampler():
    """The sampler of ``OTEL_TRACES_SAMPLER`` (default: parent-based, always on), except that a
    span marked :data:`UNTRUSTED_PARENT` is sampled by that sampler's root rule on a random draw."""
    import random

    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import Sampler, SamplingResult, _get_from_env_or_default

    base = _get_from_env_or_default()
    root = getattr(base, "_root", base)  # ParentBased keeps its root sampler there

    class OwnDecision(Sampler):
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                          trace_state=None):
            if attributes and attributes.get(UNTRUSTED_PARENT):
                res = root.should_sample(None, random.getrandbits(128), name, kind, attributes, links)
                parent_state = trace.get_current_span(parent_context).get_span_context().trace_state
                return SamplingResult(res.decision, res.attributes, parent_state)
            return base.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self):
            return f"OwnDecisionForUntrustedParents{{{base.get_description()}}}"

    return OwnDecision()


@functools.lru_cache(maxsize=8)
def _allowed(spec: str) -> tuple[bool, frozenset, tuple]:
    """``MC_FORWARDED_ALLOW_IPS`` parsed: (any, literal hosts, networks)."""
    import ipaddress

    items = [x.strip() for x in (spec or "").split(",") if x.strip()]
    nets = []
    for x in items:
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.ip_network(x, strict=False))
    return "*" in items, frozenset(items), tuple(nets)


def trusted_peer(scope, settings) -> bool:
    """Whether the connection's peer is one of ``MC_FORWARDED_ALLOW_IPS`` (its trace decisions count)."""
    import ipaddress

    anyone, hosts, nets = _allowed(getattr(settings, "forwarded_allow_ips", "") or "")
    if anyone:
        return True
    host = (scope.get("client") or (None,))[0]
    if not host:
        return False
    if host in hosts:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def shutdown() -> None:
    """Flush and stop (process exit, tests)."""
    global _tracer, _provider
    if _provider is not None:
        with contextlib.suppress(Exception):
            _provider.shutdown()
    _tracer = None
    _provider = None


def span(name: str, *, parent: dict | None = None, kind: str = "internal", **attributes: Any):
    """A context manager timing ``name`` as a child of the current span (or of the W3C carrier
    ``parent``, e.g. ``{"traceparent": ...}``); yields the span, or ``None`` when tracing is off
    (then it costs one function call). Plugins: ``with musicconnect.span("ffmpeg transcode"): ...``."""
    if _tracer is None:
        return _NULL
    return _span(name, parent, kind, attributes)


_KINDS = {"internal": 0, "server": 1, "client": 2, "producer": 3, "consumer": 4}


@contextlib.contextmanager
def _span(name: str, parent: dict | None, kind: str, attributes: dict) -> Iterator[Any]:
    from opentelemetry.trace import SpanKind

    ctx = extract(parent) if parent else None
    attrs = {k.replace("__", "."): v for k, v in attributes.items() if v is not None}
    with _tracer.start_as_current_span(name, context=ctx, kind=SpanKind(_KINDS.get(kind, 0)),
                                       attributes=attrs) as sp:
        yield sp


def inject() -> dict[str, str] | None:
    """The current span as a W3C carrier (``{"traceparent": ...}``), or ``None``."""
    if _tracer is None:
        return None
    from opentelemetry.propagate import inject as _inject

    carrier: dict[str, str] = {}
    _inject(carrier)
    return carrier or None


def extract(carrier: dict | None):
    from opentelemetry.propagate import extract as _extract

    return _extract(carrier or {})


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of the active span, for log lines; ``None`` when none."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    sc = trace.get_current_span().get_span_context()
    if not sc.is_valid:
        return None
    return format(sc.trace_id, "032x"), format(sc.span_id, "016x")
