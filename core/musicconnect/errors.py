"""RFC 9457 problem details. Every error a client sees is ``application/problem+json`` with a
stable ``type`` (``/problems/<slug>``, documented in docs/problems.md)."""
from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

log = logging.getLogger("musicconnect.errors")
PROBLEM_BASE = "/problems/"
MEDIA_TYPE = "application/problem+json"


class MusicConnectError(Exception):
    """Base of the platform's own errors (non-HTTP callers such as the CLI show ``str(err)``)."""


class ConfigError(MusicConnectError):
    """The platform cannot start with this configuration (unreachable database, bad setting...)."""


class Problem(MusicConnectError):
    """An error with an HTTP status and a stable problem type; raise it anywhere in a request."""

    def __init__(self, status: int, slug: str, detail: str | None = None, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any):
        self.status = status
        self.slug = slug
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra
        super().__init__(detail or self.title)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": PROBLEM_BASE + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        doc.update(self.extra)
        return doc


def NotFound(what: str = "resource") -> Problem:
    return Problem(404, "not-found", f"{what} not found")


def Forbidden(detail: str = "you are not allowed to do this") -> Problem:
    return Problem(403, "forbidden", detail)


def Unauthorized(detail: str = "authentication required") -> Problem:
    return Problem(401, "unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def Conflict(slug: str, detail: str) -> Problem:
    return Problem(409, slug, detail)


def Invalid(detail: str, **extra: Any) -> Problem:
    return Problem(422, "validation", detail, **extra)


def problem_response(problem: Problem, request: Request | None = None) -> Response:
    return Response(orjson.dumps(problem.body(request.url.path if request else None)),
                    status_code=problem.status, media_type=MEDIA_TYPE, headers=problem.headers)


_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def route_template(scope) -> str:
    """The matched route's full template (``/api/v1/artists/{artist_id}``), for metric labels, span
    names and error lines: path parameters may be secrets (unsubscribe, portal, share tokens)."""
    route = scope.get("route")
    tpl = getattr(route, "path", None)
    if tpl is None:
        return "unmatched"
    params = scope.get("path_params") or {}
    rendered = _PARAM.sub(lambda m: str(params.get(m.group(1), m.group(0))), tpl)
    path = scope.get("path", "")
    return path[: len(path) - len(rendered)] + tpl if path.endswith(rendered) else tpl


def _where(request: Request) -> str:
    """Where a request failed, for a log line: the route template, never the raw path."""
    return route_template(request.scope)


_STATUS_SLUGS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
                 405: "method-not-allowed", 409: "conflict", 413: "payload-too-large",
                 415: "unsupported-media-type", 422: "validation", 429: "rate-limited"}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                  for e in exc.errors()]
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in errors)
        return problem_response(Problem(422, "validation", detail, errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        slug = _STATUS_SLUGS.get(exc.status_code, "http-error")
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(Problem(exc.status_code, slug, detail, headers=dict(exc.headers or {})), request)

    from sqlalchemy.exc import StatementError

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> Response:
        if isinstance(exc.orig, Problem):  # refused while binding a value (a time out of range...)
            return problem_response(exc.orig, request)
        log.error("database error on %s %s", request.method, _where(request), exc_info=exc)
        return problem_response(Problem(500, "internal", "an unexpected error occurred; it has been logged"),
                                request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        if storage_outage(exc):  # the object store is down or shedding load: a passing fault, retryable
            log.error("object store unavailable on %s %s: %s", request.method, _where(request), exc)
            return problem_response(Problem(503, "storage-unavailable", "the object store is unavailable; retry shortly",
                                            retry_after=5, headers={"Retry-After": "5"}), request)
        log.exception("unhandled error on %s %s", request.method, _where(request))
        return problem_response(Problem(500, "internal", "an unexpected error occurred; it has been logged"),
                                request)


_STORAGE_BUSY_CODES = {"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout", "503", "500"}


def storage_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is the S3 API being unreachable or
    answering 5xx (botocore's connection errors, a ``ClientError`` of status 5xx or a busy code),
    as opposed to a bug or a refusal such as AccessDenied.

    The chain followed is ``__cause__`` (``raise X from s3_error``) and, from a botocore error or the
    storage layer's own :class:`~musicconnect.storage.StorageError` only, its ``__context__``: a bug
    raised *while handling* an S3 error is a bug (500, with its traceback)."""
    seen = 0
    while exc is not None and seen < 8:
        module = type(exc).__module__ or ""
        botocore = module.startswith("botocore")
        wrapper = botocore or any(c.__name__ == "StorageError" and c.__module__ == "musicconnect.storage"
                                  for c in type(exc).__mro__)  # no import: storage imports this module
        if botocore:
            from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

            if isinstance(exc, (ConnectionError, HTTPClientError)):
                return True
            if isinstance(exc, ClientError):
                err = exc.response.get("Error") or {}
                status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0
                return int(status) >= 500 or str(err.get("Code")) in _STORAGE_BUSY_CODES
        nxt = exc.__cause__
        if nxt is None and wrapper:  # StorageError(...) from None still wraps the S3 error it handled
            nxt = exc.__context__
        exc, seen = nxt, seen + 1
    return False
