"""The extension point: what every enabled plugin declares through the core's ``web_extensions``
hook (pages, navigation links, components in named slots, a folder of ES modules), checked and
resolved into what the shell loads (``GET /api/v1/web/extensions``). The web plugin never imports
the plugins it lists."""
from __future__ import annotations

import hashlib
import logging
import re
from functools import lru_cache
from pathlib import Path

log = logging.getLogger("musicconnect.web")

KINDS = ("page", "nav", "component", "assets")
#: who sees an entry's link: everyone, or only signed-in artists (in the studio menu). The pages
#: themselves still refuse on the server; this only keeps fans' menus free of artists' tools.
AUDIENCES = ("everyone", "artists")
_PATH = re.compile(r"/[a-z0-9][a-z0-9_/-]{0,120}")
_MODULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}\.m?js")
_SLOT = re.compile(r"[a-z][a-z0-9_-]{0,40}")


@lru_cache(maxsize=64)
def dir_digest(folder: Path) -> str:
    """A short hash of the folder's files (cached for the process: restart after editing a
    plugin, as for its Python code)."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:10]


def _declared(platform) -> list[tuple[str, dict]]:
    out = []
    for plugin, item in platform.plugins.collect("web_extensions", platform=platform):
        if plugin == "web" or not platform.plugins.is_enabled(plugin):
            continue
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            log.error("plugin %s: web extension %r is not a dict with a kind of %s", plugin, item, KINDS)
            continue
        out.append((plugin, item))
    return out


def asset_dirs(platform) -> dict[str, Path]:
    """``{plugin: folder}`` of the enabled plugins that ship ES modules."""
    out: dict[str, Path] = {}
    for plugin, item in _declared(platform):
        if item["kind"] == "assets":
            folder = Path(str(item.get("directory", "")))
            if folder.is_absolute() and folder.is_dir():
                out.setdefault(plugin, folder)
            else:
                log.error("plugin %s: web assets directory %r is not an existing absolute folder", plugin, folder)
    return out


def _module(plugin: str, module, dirs: dict[str, Path]) -> str | None:
    if not isinstance(module, str):
        return None
    if module.startswith("/static/") and ".." not in module:
        return module  # already an address on this site
    if _MODULE.fullmatch(module) and ".." not in module and plugin in dirs:
        return f"/static/ext/{plugin}/{dir_digest(dirs[plugin])}/{module}"
    return None  # never another origin: the app loads nothing from a CDN


def resolve(platform, reserved: tuple[str, ...]) -> list[dict]:
    """The checked entries, in plugin order: each ``{"plugin", "kind", "path", "module",
    "title", "slot", "audience"}``; a malformed one is logged and left out (one plugin cannot break the app)."""
    dirs = asset_dirs(platform)
    out = []
    for plugin, item in _declared(platform):
        kind = item["kind"]
        if kind == "assets":
            continue
        entry = {"plugin": plugin, "kind": kind, "path": None, "module": None,
                 "title": str(item["title"])[:60] if item.get("title") else None, "slot": None,
                 "audience": item.get("audience", "everyone")}
        problem = None
        if entry["audience"] not in AUDIENCES:
            problem = f"audience {entry['audience']!r} is not one of {AUDIENCES}"
        if kind in ("page", "nav"):
            path = item.get("path")
            if not isinstance(path, str) or not _PATH.fullmatch(path) or path.split("/")[1] in reserved:
                problem = f"path {path!r} is not a free client route"
            entry["path"] = path
        if kind in ("page", "component"):
            entry["module"] = _module(plugin, item.get("module"), dirs)
            if entry["module"] is None:
                problem = problem or f"module {item.get('module')!r} is not one of its assets or a /static/ address"
        if kind == "nav" and not entry["title"]:
            problem = problem or "a nav entry needs a title"
        if kind == "component":
            slot = item.get("slot")
            if not isinstance(slot, str) or not _SLOT.fullmatch(slot):
                problem = problem or f"slot {slot!r} is not a slot name"
            entry["slot"] = slot
        if problem:
            log.error("plugin %s: web extension left out: %s", plugin, problem)
            continue
        out.append(entry)
    return out
