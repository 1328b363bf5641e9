"""What the browser asks for at the site root: the app shell at ``/`` (and at every client route,
so a deep link works), the versioned static files, the web app manifest, the service worker and
the offline page. Mounted at the root through the core's ``register_site_routes``; every route is
``static_public`` (public and not counted against the API rate limits: a cold load fetches ~20 of
these files, which must not spend an anonymous visitor's API budget) and kept out of the OpenAPI
document (it is not API). The extension listing (``extensions.py``, under ``/api/``) stays counted."""
from __future__ import annotations

import gzip
import hashlib
import html
import io
import json
import mimetypes
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.convertors import Convertor, register_url_convertor

from musicconnect.errors import NotFound
from musicconnect.web import get_platform, static_public

from . import extensions

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
THEME = "#5b3fd1"
BACKGROUND = "#14121f"
ICON_SIZES = (192, 512)
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"

#: first path segments the shell never answers for: the API, the core's pages and operations
#: endpoints, files, and the app's own fixed addresses (they have routes of their own)
RESERVED = ("api", "docs", "redoc", "openapi.json", "healthz", "readyz", "metrics", "media", "static",
            "problems", "sw.js", "manifest.webmanifest", "offline", "favicon.ico")

#: the modules the first screen loads (the budget test gzips these): the shell, its helpers, the
#: home screen and the vendored Preact + htm; hls.js waits for the player route
FIRST_SCREEN = ("app.js", "ui.js", "api.js", "screens/discover.js", "vendor/preact-11.2.0.mjs",
                "vendor/preact-hooks-11.2.0.mjs", "vendor/htm-3.1.1.mjs")


class ShellPath(Convertor):
    """A client-side route (``artists/nova-lane``, ``checkout/return``): no dot, not reserved."""

    regex = r"(?!(?:" + "|".join(re.escape(r) for r in RESERVED) + r")(?:/|$))[^.]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("mcshell", ShellPath())


def _version() -> str:
    try:
        return version("musicconnect-web")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout without install
        return "0"


def digest(root: Path) -> str:
    """A short hash of every file under ``root`` (names and contents): the build id part that
    changes whenever a file does, so immutable caching never serves a stale file."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:10]


@lru_cache(maxsize=1)
def build_id() -> str:
    return f"{_version()}-{digest(STATIC)}"


def static_base() -> str:
    return f"/static/web/{build_id()}"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gz: bytes | None
    media_type: str


def _media_type(name: str) -> str:
    if name.endswith((".js", ".mjs")):
        return "text/javascript; charset=utf-8"
    if name.endswith(".css"):
        return "text/css; charset=utf-8"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _asset(body: bytes, media_type: str) -> Asset:
    compressible = media_type.startswith(("text/", "application/json", "application/manifest", "image/svg"))
    return Asset(body, gzip.compress(body, 9, mtime=0) if compressible and len(body) > 512 else None, media_type)


@lru_cache(maxsize=1024)
def load(root: Path, rel: str) -> Asset | None:
    """The file ``rel`` under ``root`` (never outside it, never a hidden file), or ``None``."""
    if not rel or any(part.startswith(".") or part == "" for part in rel.split("/")):
        return None
    base = root.resolve()
    path = (base / rel).resolve()
    if base not in path.parents or not path.is_file():
        return None
    return _asset(path.read_bytes(), _media_type(path.name))


def respond(request: Request, asset: Asset, cache_control: str, **headers: str) -> Response:
    gz = asset.gz is not None and "gzip" in request.headers.get("accept-encoding", "")
    out = {"Cache-Control": cache_control, "Vary": "Accept-Encoding", "X-Content-Type-Options": "nosniff", **headers}
    if gz:
        out["Content-Encoding"] = "gzip"
    return Response(asset.gz if gz else asset.body, media_type=asset.media_type, headers=out)


@lru_cache(maxsize=4)
def icon(size: int) -> bytes:
    """The app icon, drawn once: a play triangle in a ring on the theme colour (maskable: the
    drawing keeps inside the central 80 %)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), THEME)
    d = ImageDraw.Draw(img)
    c, r = size / 2, size * 0.3
    d.ellipse((c - r, c - r, c + r, c + r), outline="white", width=max(2, size // 24))
    t = r * 0.55
    d.polygon([(c - t * 0.6, c - t), (c - t * 0.6, c + t), (c + t, c)], fill="white")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _template(name: str, **values: str) -> str:
    text = (TEMPLATES / name).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


@lru_cache(maxsize=8)
def shell(platform_name: str) -> Asset:
    return _asset(_template("index.html", BASE=static_base(), NAME=html.escape(platform_name), THEME=THEME).encode(),
                  "text/html; charset=utf-8")


@lru_cache(maxsize=8)
def offline_page(platform_name: str) -> Asset:
    return _asset(_template("offline.html", BASE=static_base(), NAME=html.escape(platform_name), THEME=THEME).encode(),
                  "text/html; charset=utf-8")


def precache_list() -> list[str]:
    """What the service worker stores on install: the shell, the offline page, the manifest and
    every static file but the licences (the player's hls.js included, so the app opens offline)."""
    files = sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*")
                   if p.is_file() and not p.name.startswith((".", "LICENSE")))
    return ["/", "/offline", "/manifest.webmanifest", *(f"{static_base()}/{f}" for f in files),
            *(f"{static_base()}/icons/icon-{s}.png" for s in ICON_SIZES)]


@lru_cache(maxsize=1)
def service_worker() -> Asset:
    return _asset(_template("sw.js", BUILD=build_id(), PRECACHE=json.dumps(precache_list(), indent=1)).encode(),
                  "text/javascript; charset=utf-8")


def manifest(platform_name: str) -> dict:
    return {"name": platform_name, "short_name": platform_name[:12], "id": "/", "start_url": "/", "scope": "/",
            "display": "standalone", "theme_color": THEME, "background_color": BACKGROUND,
            "description": "Listen to the artists you support, wherever you are.",
            "icons": [{"src": f"{static_base()}/icons/icon-{s}.png", "sizes": f"{s}x{s}", "type": "image/png",
                       "purpose": "any maskable"} for s in ICON_SIZES]}


router = APIRouter(dependencies=[Depends(static_public)], include_in_schema=False)


def _shell(request: Request, platform) -> Response:
    return respond(request, shell(platform.settings.platform_name), NO_CACHE)


@router.get("/")
def index(request: Request, platform=Depends(get_platform)):
    return _shell(request, platform)


@router.get("/manifest.webmanifest")
def web_manifest(request: Request, platform=Depends(get_platform)):
    body = json.dumps(manifest(platform.settings.platform_name)).encode()
    return respond(request, _asset(body, "application/manifest+json"), "public, max-age=3600")


@router.get("/sw.js")
def sw(request: Request):
    # scope "/": the worker sits at the root already; the header says so explicitly
    return respond(request, service_worker(), NO_CACHE, **{"Service-Worker-Allowed": "/"})


@router.get("/offline")
def offline(request: Request, platform=Depends(get_platform)):
    return respond(request, offline_page(platform.settings.platform_name), NO_CACHE)


@router.get("/static/web/{build}/{rel:path}")
def static_file(build: str, rel: str, request: Request):
    if build != build_id():
        raise NotFound("file")  # an old build: the worker's cache still has it, the server does not
    m = re.fullmatch(r"icons/icon-(\d+)\.png", rel)
    if m and int(m.group(1)) in ICON_SIZES:
        return respond(request, Asset(icon(int(m.group(1))), None, "image/png"), IMMUTABLE)
    asset = load(STATIC, rel)
    if asset is None:
        raise NotFound("file")
    return respond(request, asset, IMMUTABLE)


@router.get("/static/ext/{plugin}/{build}/{rel:path}")
def extension_file(plugin: str, build: str, rel: str, request: Request, platform=Depends(get_platform)):
    folder = extensions.asset_dirs(platform).get(plugin)
    if folder is None or build != extensions.dir_digest(folder):
        raise NotFound("file")
    asset = load(folder, rel)
    if asset is None:
        raise NotFound("file")
    return respond(request, asset, IMMUTABLE)


@router.get("/{page:mcshell}")
def client_route(page: str, request: Request, platform=Depends(get_platform)):
    """Every client-side route (``/artists/<slug>``, ``/tracks/<id>``, ``/checkout/return``,
    other plugins' pages) is the shell: the app's router reads the address."""
    return _shell(request, platform)
