"""Error reporting to Sentry (``MC_SENTRY_DSN``; off when unset), with PII scrubbed.

Unhandled route errors reach Sentry through the log line the error handler writes
(``musicconnect.errors``), a job's failure from :mod:`musicconnect.jobs` with the job's actor, id
and outcome as tags. Every event carries the release (``MC_RELEASE``, default the version) and the
environment (``MC_SENTRY_ENVIRONMENT``, default ``MC_ENV``), and the request id / trace id of
the work that failed. ``send_default_pii`` is off (the SDK's ``data_collection``: no user info, bodies,
frame variables, query data) and :func:`scrub` removes what could still
identify a person or open an account: ``Authorization`` / ``Cookie`` headers, e-mail addresses,
bearer and API tokens, JWTs, passwords and secrets, signed query strings and the user's address.
"""
from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger("musicconnect.errorreporting")

_on = [False]
FILTERED = "[Filtered]"
_SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|authorization|cookie|api[-_]?key|signature|sig|"
                          r"session|csrf|dsn|email|card|iban|otp|code_verifier|refresh|access)", re.I)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_TOKENS = re.compile(r"\b(mc[a-z]?_[A-Za-z0-9_-]{8,}|(sk|rk|pk|whsec)_(live|test)?_?[A-Za-z0-9]{8,})\b")
_QUERY_SECRET = re.compile(r"(?i)([?&](?:sig|signature|exp|token|access_token|key|x-amz-[a-z-]+|code|state)=)[^&#\s]*")
_PASSWORD_KV = re.compile(r"(?i)((?:password|passwd|pw|pwd|secret|token)\S{0,3}(?:[=:]|\s+is\b)\s*)[^\s,;]+")
_AUTH_SCHEME = re.compile(r"(?i)\b(authorization\W{0,3}\s*(?:[A-Za-z-]+\s+)?)[^\s,;]+")
# SQLAlchemy's error text: the statement and its bound values (password hashes, names, e-mails)
_SQL_PARTS = re.compile(r"\[(?:SQL|parameters): .*?\](?=\s*(?:\[|\(Background|$))", re.S)
_PG_LINE = re.compile(r"(?m)^LINE \d+: .*(?:\n[ \t]*\^[ \t]*$)?")  # PostgreSQL quotes the statement
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(?![\w:])")


def _ipv6(m: re.Match) -> str:
    """An IPv6 address (``2001:db8::1``) is filtered; a time (``12:30:45``) is not."""
    import ipaddress

    cand = m.group(0)
    if "::" not in cand and cand.count(":") < 7:
        return cand
    try:
        ipaddress.IPv6Address(cand)
    except ValueError:
        return cand
    return FILTERED


def enabled() -> bool:
    return _on[0]


def scrub_text(text: str) -> str:
    """SQL statements and their parameters, e-mail and IP addresses, tokens, JWTs, signed query
    parameters, ``Authorization: <scheme> <credentials>`` and ``password=`` / ``pw:`` / ``password is``
    values out of ``text``."""
    if not text:
        return text
    text = _SQL_PARTS.sub(FILTERED, text)
    text = _PG_LINE.sub(FILTERED, text)
    text = _EMAIL.sub(FILTERED, text)
    text = _IPV4.sub(FILTERED, text)
    text = _IPV6.sub(_ipv6, text)
    text = _JWT.sub(FILTERED, text)
    text = _BEARER.sub(lambda m: m.group(1) + " " + FILTERED, text)
    text = _TOKENS.sub(FILTERED, text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + FILTERED, text)
    text = _AUTH_SCHEME.sub(lambda m: m.group(1) + FILTERED, text)
    return _PASSWORD_KV.sub(lambda m: m.group(1) + FILTERED, text)


def _scrub_value(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: (FILTERED if isinstance(k, str) and _SECRET_KEYS.search(k) and v not in (None, "")
                    else _scrub_value(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub_value(v, depth + 1) for v in value]
    return value


def scrub(event: dict, hint: dict | None = None) -> dict:
    """Sentry's ``before_send`` (and ``before_send_transaction``): the event without PII."""
    req = event.get("request")
    if isinstance(req, dict):
        headers = req.get("headers")
        if isinstance(headers, dict):
            req["headers"] = {k: (FILTERED if k.lower() in ("authorization", "cookie", "set-cookie", "x-api-key",
                                                            "proxy-authorization", "x-forwarded-for", "x-real-ip",
                                                            "stripe-signature") else scrub_text(str(v)))
                              for k, v in headers.items()}
        req.pop("cookies", None)
        req.pop("data", None)  # bodies: passwords, e-mails, card details
        if req.get("query_string"):
            req["query_string"] = FILTERED
        if isinstance(req.get("url"), str):
            req["url"] = req["url"].split("?", 1)[0]
        req.pop("env", None)
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {k: v for k, v in user.items() if k == "id"}  # an opaque id, no address or e-mail
    for exc in (event.get("exception") or {}).get("values") or []:
        if isinstance(exc.get("value"), str):
            exc["value"] = scrub_text(exc["value"])
        for frame in (exc.get("stacktrace") or {}).get("frames") or []:
            if "vars" in frame:
                frame["vars"] = _scrub_value(frame["vars"])
            for key in ("context_line", "pre_context", "post_context"):
                if key in frame:
                    frame[key] = _scrub_value(frame[key])
    for key in ("message", "logentry"):
        if isinstance(event.get(key), str):
            event[key] = scrub_text(event[key])
        elif isinstance(event.get(key), dict):
            event[key] = _scrub_value(event[key])
    for key in ("extra", "contexts", "tags"):
        if isinstance(event.get(key), dict):
            event[key] = _scrub_value(event[key])
    crumbs = event.get("breadcrumbs")
    values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    if isinstance(values, list):
        for crumb in values:
            if isinstance(crumb, dict):
                if isinstance(crumb.get("message"), str):
                    crumb["message"] = scrub_text(crumb["message"])
                if isinstance(crumb.get("data"), dict):
                    crumb["data"] = _scrub_value(crumb["data"])
    from .logs import current_context

    for k, v in current_context().items():  # the request / job the error belongs to
        event.setdefault("tags", {}).setdefault(k, v)
    return event


def configure(settings, *, transport=None, process: str = "api") -> bool:
    """Start the Sentry client when ``MC_SENTRY_DSN`` is set (``transport``: tests' in-memory one)."""
    if settings.sentry_dsn is None:
        return False
    if _on[0]:
        return True  # once per process (several platforms in one process share the client)
    import sentry_sdk
    from sentry_sdk.integrations.logging import ignore_logger

    from .tracing import version

    ignore_logger("dramatiq*")  # a job's failure is reported by musicconnect.jobs, with its tags
    kwargs: dict[str, Any] = {}
    if transport is not None:
        kwargs["transport"] = transport
    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(), release=settings.release or version(),
        environment=settings.sentry_environment or settings.env,
        # send_default_pii stays off (its default); data_collection is the SDK's newer form of it
        data_collection={"user_info": False, "http_bodies": [], "stack_frame_variables": False,
                         "database_query_data": False, "queues": False},
        before_send=scrub, before_send_transaction=scrub, traces_sample_rate=settings.sentry_traces_sample_rate,
        auto_enabling_integrations=False, max_request_body_size="never", include_local_variables=False,
        **kwargs)
    sentry_sdk.set_tag("process", process)
    _on[0] = True
    return True


def capture_exception(exc: BaseException, *, level: str = "error", **tags: Any) -> None:
    """Report ``exc`` with ``tags`` (no-op when Sentry is off)."""
    if not _on[0]:
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.level = level
        for k, v in tags.items():
            scope.set_tag(k, str(v))
        sentry_sdk.capture_exception(exc)


def shutdown() -> None:
    """Flush and stop the client (tests, process exit)."""
    if not _on[0]:
        return
    import sentry_sdk

    client = sentry_sdk.get_client()
    client.flush(timeout=2)
    client.close()
    _on[0] = False
