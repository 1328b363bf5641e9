"""Cross-origin requests (CORS) for web clients served from another origin.

``MC_CORS_ORIGINS`` lists the exact origins (``https://player.example.com``, comma-separated)
whose pages may call the API from a browser: a player using hls.js on its own site fetches the
playlists, the keys and the segments, and calls the JSON API with a bearer token. Unset (the
default), no CORS header is ever sent and browsers keep other sites' pages out, as before.

The policy (docs/security.md, "Cross-origin requests"):

* exact origins only; ``*``, wildcards and ``null`` (sandboxed frames, ``file:`` pages) are refused
  when the settings are read, with one readable line: the API is also reachable by network
  position (``/metrics`` from loopback, an instance on a private network), which ``*`` would hand
  to every web page a visitor opens;
* no credentials: the API authenticates with ``Authorization: Bearer`` tokens that the client
  page holds, never cookies, so ``Access-Control-Allow-Credentials`` is never sent and a page
  cannot ride on a signed-in browser;
* methods GET, POST, PUT, PATCH, DELETE, OPTIONS (HEAD is safelisted); request headers
  ``Authorization``, ``Content-Type``, ``Idempotency-Key`` and ``Range`` (hls.js asks for byte
  ranges); the client may read ``Content-Length``, ``Content-Range``, ``Retry-After``,
  ``Location`` and the rate-limit fields; browsers may cache a preflight for 2 hours.

:class:`CORSGate` wraps the whole ASGI application, in front of the fast path, so every route (the
FastAPI ones, the fast ones, error responses and 401s) is covered alike. A request from an allowed
origin goes through Starlette's ``CORSMiddleware``; any other request (no ``Origin``, or one not
listed) goes straight to the application and gets no CORS header, only ``Vary: Origin`` so that a
shared cache (a CDN in front of the segments) keeps the two answers apart.
"""
from __future__ import annotations

from typing import Any

from starlette.middleware.cors import CORSMiddleware

__all__ = ["ALLOW_HEADERS", "ALLOW_METHODS", "EXPOSE_HEADERS", "MAX_AGE", "CORSGate", "parse_cors_origins"]

ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOW_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "Range")
EXPOSE_HEADERS = ("Content-Length", "Content-Range", "Retry-After", "Location", "RateLimit", "RateLimit-Policy")
MAX_AGE = 7200  # seconds; Chromium caps a cached preflight at 2 hours


def parse_cors_origins(value: Any) -> tuple[str, ...]:
    """``MC_CORS_ORIGINS`` (a comma-separated string or a list) as normalised origins; raises
    ``ValueError`` with one readable line on ``*``, wildcards, ``null`` or anything not an origin."""
    from .redirects import parse_origin

    values = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
    out: list[str] = []
    for raw in values:
        entry = str(raw).strip()
        if not entry:
            continue
        if "*" in entry:
            raise ValueError(f"MC_CORS_ORIGINS: {entry!r} is refused: list each origin exactly "
                             "(https://player.example.com); a wildcard would let every web site read the API "
                             "as a visitor's browser sees it")
        if entry.lower() == "null":
            raise ValueError("MC_CORS_ORIGINS: 'null' is refused: it is the origin of sandboxed frames and local "
                             "files, which any page can produce")
        try:
            origin = parse_origin(entry)
        except ValueError as exc:
            raise ValueError(f"MC_CORS_ORIGINS: {exc}") from None
        if origin not in out:
            out.append(origin)
    return tuple(out)


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class CORSGate:
    """The application behind a CORS policy for ``origins`` (see the module's docstring)."""

    def __init__(self, app, origins: tuple[str, ...] | list[str]):
        self.app = app
        self.origins = frozenset(origins)
        self.cors = CORSMiddleware(app, allow_origins=tuple(self.origins), allow_methods=ALLOW_METHODS,
                                   allow_headers=ALLOW_HEADERS, allow_credentials=False,
                                   expose_headers=EXPOSE_HEADERS, max_age=MAX_AGE)

    async def __call__(self, scope, receive, send):
        origin = _header(scope, b"origin")
        if origin is not None and origin.decode("latin-1") in self.origins:
            return await self.cors(scope, receive, send)

        async def _send(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"vary", b"Origin")]
            await send(message)

        await self.app(scope, receive, _send)
