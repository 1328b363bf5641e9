"""Where a client may send a user back to: URLs taken from clients (``success_url``,
``cancel_url``, ``return_url``, ``refresh_url``...) before the platform redirects to them or
renders them as links.

The rule: an absolute ``http``/``https`` URL whose origin (scheme, host, port: compared exactly,
default ports made explicit) is the platform's own (``MC_BASE_URL``) or one of the configured
``MC_ALLOWED_ORIGINS`` (comma-separated, e.g. ``https://app.example.com,https://example.com``).
Anything else is refused with a ``422 invalid-return-url`` problem: other schemes
(``javascript:``, ``data:``...), relative and scheme-relative URLs (``//evil.example``),
userinfo (``https://user@host``), backslashes, whitespace, control and non-ASCII characters.
"""
from __future__ import annotations

from typing import Any, Iterable
from urllib.parse import urlsplit

from .errors import Problem

__all__ = ["allowed_origins", "check_return_url", "is_allowed_return_url", "parse_origin"]

MAX_URL_LENGTH = 2000
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _clean(url: str) -> bool:
    """ASCII only, no whitespace, control characters or backslashes anywhere."""
    return url.isascii() and not any(c <= " " or c in "\x7f\\" for c in url)


def _origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an absolute http(s) URL without userinfo, else ``None``."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or not _clean(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port out of range or not a number, a bad IPv6 literal
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc or "@" in parts.netloc:
        return None
    # urlsplit accepts "http:/host" or "http:host" with an empty netloc; the netloc must follow "//"
    if not url[len(parts.scheme) + 1:].startswith("//"):
        return None
    host = (parts.hostname or "").lower()
    if not host or "%" in host:
        return None
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme]


def parse_origin(value: str) -> str:
    """Normalise an origin setting (``https://App.example.com:443`` → ``https://app.example.com``);
    raises ``ValueError`` when it is not a bare http(s) origin."""
    value = value.strip().rstrip("/")
    found = _origin(value)
    if found is None or urlsplit(value)[2:] != ("", "", ""):
        raise ValueError(f"{value!r} is not an origin such as https://app.example.com (scheme and host, no path)")
    return _format(found)


def _format(origin: tuple[str, str, int]) -> str:
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" if port == _DEFAULT_PORTS[scheme] else f"{scheme}://{shown}:{port}"


def _settings(platform_or_settings: Any):
    return getattr(platform_or_settings, "settings", platform_or_settings)


def allowed_origins(platform_or_settings: Any) -> list[str]:
    """The platform's own origin (from ``base_url``), then every configured allowed origin."""
    settings = _settings(platform_or_settings)
    out: list[str] = []
    own = _origin(str(settings.base_url))
    if own is not None:
        out.append(_format(own))
    extra: Iterable[str] = getattr(settings, "allowed_origins", None) or ()
    if isinstance(extra, str):
        extra = extra.split(",")
    for value in extra:
        if value and value.strip():
            origin = parse_origin(value)
            if origin not in out:
                out.append(origin)
    return out


def is_allowed_return_url(platform_or_settings: Any, url: str) -> bool:
    found = _origin(url)
    return found is not None and _format(found) in allowed_origins(platform_or_settings)


def check_return_url(platform_or_settings: Any, url: str, field: str) -> str:
    """``url`` itself when a client may send users there (see the module's rule); otherwise a
    ``422 invalid-return-url`` problem naming ``field``."""
    if is_allowed_return_url(platform_or_settings, url):
        return url
    raise Problem(422, "invalid-return-url",
                  f"{field} must be an absolute http(s) URL on this platform's own address or an allowed origin",
                  field=field)
