"""Routes a plugin mounts at the site root (``register_site_routes``): a web app's ``/``, its
service worker and its files. They are appended after the core's routes (which therefore always
win), carry the plugin guard (404 while the plugin is disabled) and must declare their scope like
any route. A route under ``/api/`` is refused: the API's namespace is the core's and the plugins'
``/api/v1/<plugin>``."""
from __future__ import annotations

import logging

log = logging.getLogger("musicconnect.siteroutes")

RESERVED_PREFIX = "/api/"


def mount_site_routes(app, platform, *, guard, fallback) -> list[str]:
    """Mount the site-root routers of loaded plugins not mounted yet; returns their plugin ids.
    ``guard(name)`` makes the plugin's enabled-check dependency, ``fallback`` closes undeclared
    routes (both passed in by the app: no import cycle)."""
    from fastapi import APIRouter, Depends
    from fastapi.routing import APIRoute

    from .routescopes import close_undeclared

    mounted = _mounted(app)
    added: list[str] = []
    for name, router in platform.plugins.collect("register_site_routes", platform=platform):
        if name in mounted and name not in added:
            continue
        if not isinstance(router, APIRouter):
            log.error("plugin %s returned %r from register_site_routes, not an APIRouter", name, router)
            continue
        bad = [r.path for r in router.routes if isinstance(r, APIRoute)
               and (r.path.startswith(RESERVED_PREFIX) or r.path == RESERVED_PREFIX.rstrip("/"))]
        if bad:
            log.error("plugin %s: site routes under /api/ are not mounted: %s", name, ", ".join(bad))
            router = APIRouter(routes=[r for r in router.routes if getattr(r, "path", "") not in bad])
        close_undeclared(router, f"plugin {name}", fallback=fallback)
        app.include_router(router, dependencies=[Depends(guard(name))])
        added.append(name)
    mounted.update(added)
    if added:
        app.openapi_schema = None
    return added


def _mounted(app) -> set[str]:
    found = getattr(app.state, "mounted_site_plugins", None)
    if found is None:
        found = set()
        app.state.mounted_site_plugins = found
    return found
