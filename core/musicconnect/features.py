"""A plugin made of feature modules: :func:`feature_hooks` writes the plugin's hook
implementations once, so that adding a feature is adding a module.

Each feature module (``<package>.<name>`` for every name in ``features``; a missing one is
skipped) may define any of:

* ``METRICS`` (``register_metrics``), ``JOBS`` (``register_jobs``), ``SOCKET_ROUTES``
  (``register_socket_routes``), ``NOTIFICATION_KINDS`` (``register_notification_kinds``): lists,
  concatenated in module order;
* ``router``: an ``APIRouter`` (``register_routes``);
* ``SETTINGS``: a list of :class:`~musicconnect.PluginSettings` subclasses; they are combined
  into one settings model (``register_settings``; give their fields distinct names);
* ``on_event(platform, event)`` and ``on_shutdown(platform)``: called for each module (a failing
  ``on_shutdown`` is logged, the others still run).

Beside them the package may have ``migrations/`` (``register_migrations``; the feature modules
are imported first, so their tables are in the metadata the migrations are checked against),
``cli.py`` with ``make_app(platform)`` (``register_commands``) and ``demo.py`` with
``seed(platform, session, demo)`` (``seed_demo``)::

    # musicconnect_myplugin/plugin.py (the entry point)
    from musicconnect import feature_hooks

    globals().update(feature_hooks(__package__, ("stats", "api"),
                                   scopes={"myplugin:read": "read my things"}))
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from .hookimpl import hookimpl

__all__ = ["feature_hooks"]

log = logging.getLogger("musicconnect.plugins")

_LISTS = {"register_metrics": "METRICS", "register_jobs": "JOBS", "register_socket_routes": "SOCKET_ROUTES",
          "register_notification_kinds": "NOTIFICATION_KINDS"}


def _optional(name: str) -> ModuleType | None:
    """The module, or ``None`` when it does not exist (an import error inside it is raised)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def feature_hooks(package: str, features: tuple[str, ...], *, scopes: dict[str, str] | None = None,
                  delegated: dict[str, str] | None = None) -> dict[str, Callable[..., Any]]:
    """The hook implementations (``{hook name: function}``) of the plugin ``package`` made of the
    modules ``features``; put them in the entry-point module's namespace. ``delegated`` maps a
    hook that is not a list (``extra_entitlements``, privacy, ``web_extensions``...) to the
    feature module defining a function of that name (a missing module or function: no hook)."""
    root = importlib.import_module(package)
    folder = Path(next(iter(root.__path__)))
    plugin_id = package.rsplit(".", 1)[-1].removeprefix("musicconnect_")

    def modules() -> list[ModuleType]:
        return [m for m in (_optional(f"{package}.{name}") for name in features) if m is not None]

    def gather(attr: str) -> list:
        out: list = []
        for mod in modules():
            out.extend(getattr(mod, attr, ()) or ())
        return out

    hooks: dict[str, Callable[..., Any]] = {}

    def hook(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__module__ = f"{package}.plugin"
        hooks[fn.__name__] = hookimpl(fn)
        return fn

    for hook_name, attr in _LISTS.items():
        def collect(platform, _attr=attr):
            return gather(_attr)
        collect.__name__ = hook_name
        collect.__doc__ = f"``{attr}`` of the feature modules."
        hook(collect)

    if scopes:
        @hook
        def register_scopes(platform):
            return dict(scopes)

    @hook
    def register_routes(platform):
        return [m.router for m in modules() if getattr(m, "router", None) is not None]

    @hook
    def register_settings(platform):
        parts = gather("SETTINGS")
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        return type(f"{plugin_id.title()}Settings", tuple(parts), {"__doc__": f"Settings of the {plugin_id} plugin."})

    if (folder / "migrations").is_dir():
        @hook
        def register_migrations(platform):
            modules()
            return folder / "migrations"

    @hook
    def on_event(platform, event):
        for mod in modules():
            handler = getattr(mod, "on_event", None)
            if handler is not None:
                handler(platform, event)

    @hook
    def on_shutdown(platform):
        for mod in modules():
            handler = getattr(mod, "on_shutdown", None)
            if handler is not None:
                try:
                    handler(platform)
                except Exception:
                    log.exception("%s: %s.on_shutdown failed", plugin_id, mod.__name__)

    @hook
    def register_commands(platform):
        cli = _optional(f"{package}.cli")
        return cli.make_app(platform) if cli is not None else None

    @hook
    def seed_demo(platform, session, demo):
        demo_module = _optional(f"{package}.demo")
        if demo_module is not None:
            demo_module.seed(platform, session, demo)

    for hook_name, module_name in (delegated or {}).items():
        if hook_name in hooks:
            raise ValueError(f"{package}: {hook_name} is made by feature_hooks itself; it cannot be delegated")
        mod = _optional(f"{package}.{module_name}")
        fn = getattr(mod, hook_name, None) if mod is not None else None
        if fn is not None:
            fn.__module__ = f"{package}.plugin"
            hooks[hook_name] = hookimpl(fn)

    return hooks
