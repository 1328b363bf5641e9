"""Plugin discovery and the plugin manager factory.

``create_plugin_manager`` builds a fresh pluggy manager: hook specs, the core's built-in
implementation, then every installed entry point of the ``musicconnect`` group that the
operator has not disabled (and that ``MC_PLUGINS`` allows), one by one, recording load errors
instead of crashing. :class:`PluginRegistry` wraps it with the calling conventions of
:mod:`musicconnect.hookspecs`: isolated notifications, fail-closed votes, collection with
provenance.
"""
from __future__ import annotations

import importlib.metadata as md
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .asyncutil import resolve_async, resolve_sync

log = logging.getLogger("musicconnect.plugins")

ENTRY_POINT_GROUP = "musicconnect"
CORE_NAME = "core"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
#: plugin ids that would collide with core URL segments or CLI groups
RESERVED = frozenset({"core", "auth", "me", "artists", "content", "plugins", "admin", "tokens",
                      "users", "jobs", "media", "metrics", "health", "db", "demo", "serve", "worker"})


@dataclass
class PluginRecord:
    name: str
    module: str | None = None
    distribution: str | None = None
    version: str | None = None
    enabled: bool = True
    allowed: bool = True
    loaded: bool = False
    error: str | None = None
    builtin: bool = False
    obj: Any = field(default=None, repr=False)

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if not self.allowed:
            return "not-allowed"
        if not self.enabled:
            return "disabled"
        return "enabled" if self.loaded else "not-loaded"


def installed_entry_points() -> list[md.EntryPoint]:
    seen: dict[str, md.EntryPoint] = {}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        seen.setdefault(ep.name, ep)
    return sorted(seen.values(), key=lambda e: e.name)


def _allow_list(raw: str | None) -> set[str] | None:
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


class PluginRegistry:
    """The live plugin set of one process: a pluggy manager plus what we know of each plugin."""

    def __init__(self, pm: pluggy.PluginManager, records: dict[str, PluginRecord],
                 entry_points: dict[str, md.EntryPoint]):
        self.pm = pm
        self.records = records
        self._eps = entry_points
        self._lock = threading.RLock()
        self.state_version: Any = None

    # ---------------------------------------------------------------- introspection
    def __iter__(self) -> Iterator[PluginRecord]:
        return iter(sorted(self.records.values(), key=lambda r: (not r.builtin, r.name)))

    def get(self, name: str) -> PluginRecord | None:
        return self.records.get(name)

    def is_enabled(self, name: str) -> bool:
        rec = self.records.get(name)
        return bool(rec and rec.loaded and rec.enabled and rec.allowed)

    def hooks_of(self, name: str) -> list[str]:
        """The hook specs this plugin implements (empty while it is not loaded)."""
        rec = self.records.get(name)
        if rec is None or rec.obj is None:
            return []
        return sorted(n for n in _SPEC_NAMES if hasattr(getattr(rec.obj, n, None), "musicconnect_impl"))

    # ---------------------------------------------------------------- enable / disable at runtime
    def apply_state(self, enabled: dict[str, bool]) -> list[str]:
        """Follow the operator's persisted choices; returns the names whose state changed."""
        changed = []
        with self._lock:
            for name, rec in self.records.items():
                if rec.builtin or not rec.allowed:
                    continue
                want = enabled.get(name, True)
                if want == rec.enabled and (rec.loaded or not want or rec.error):
                    continue
                rec.enabled = want
                if want:
                    self._load(rec)
                elif self.pm.get_plugin(name) is not None:
                    self.pm.unregister(name=name)
                    rec.loaded = False
                changed.append(name)
        return changed

    def _load(self, rec: PluginRecord) -> None:
        if rec.obj is None:
            ep = self._eps.get(rec.name)
            if ep is None:
                return
            try:
                rec.obj = ep.load()
                rec.error = None
            except Exception as exc:  # a broken plugin must not take the platform down
                rec.error = f"{type(exc).__name__}: {exc}"
                log.error("plugin %s failed to import: %s", rec.name, rec.error)
                return
        try:
            if self.pm.get_plugin(rec.name) is None:
                self.pm.register(rec.obj, name=rec.name)
                unknown = sorted(c.name for c in self.pm.get_hookcallers(rec.obj) or () if not c.has_spec())
                if unknown:
                    self.pm.unregister(name=rec.name)
                    raise pluggy.PluginValidationError(rec.obj, f"unknown hook(s) {', '.join(unknown)}")
            rec.loaded = True
        except Exception as exc:  # e.g. a hook implementation that matches no spec
            rec.error = f"{type(exc).__name__}: {exc}"
            rec.loaded = False
            log.error("plugin %s could not be registered: %s", rec.name, rec.error)

    # ---------------------------------------------------------------- calling hooks
    def _impls(self, hook: str) -> list[pluggy.HookImpl]:
        caller = getattr(self.pm.hook, hook)
        return list(caller.get_hookimpls())

    @staticmethod
    def _call(impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
        return impl.function(*[kwargs[a] for a in impl.argnames])

    def collect(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``register_*`` hooks: ``[(plugin, item), ...]``, lists flattened, ``None`` dropped.
        A plugin that raises is logged and contributes nothing."""
        out: list[tuple[str, Any]] = []
        for impl in self._impls(hook):
            try:
                value = resolve_sync(self._call(impl, kwargs))
            except Exception:
                log.exception("plugin %s failed in %s", impl.plugin_name, hook)
                continue
            out.extend((impl.plugin_name, v) for v in _flatten(value))
        return out

    async def acollect(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for impl in self._impls(hook):
            try:
                value = await resolve_async(self._call(impl, kwargs))
            except Exception:
                log.exception("plugin %s failed in %s", impl.plugin_name, hook)
                continue
            out.extend((impl.plugin_name, v) for v in _flatten(value))
        return out

    def notify(self, hook: str, **kwargs: Any) -> list[str]:
        """``on_*`` hooks: every implementation runs; failures are logged and isolated.
        Returns the names of the plugins that failed."""
        failed = []
        for impl in self._impls(hook):
            try:
                resolve_sync(self._call(impl, kwargs))
            except Exception:
                failed.append(impl.plugin_name)
                log.exception("plugin %s failed in %s (isolated)", impl.plugin_name, hook)
        return failed

    async def anotify(self, hook: str, **kwargs: Any) -> list[str]:
        failed = []
        for impl in self._impls(hook):
            try:
                await resolve_async(self._call(impl, kwargs))
            except Exception:
                failed.append(impl.plugin_name)
                log.exception("plugin %s failed in %s (isolated)", impl.plugin_name, hook)
        return failed

    def impls(self, hook: str) -> list[pluggy.HookImpl]:
        return self._impls(hook)


def _flatten(value: Any) -> Iterable[Any]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None]
    return (value,)


_SPEC_NAMES = frozenset(n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), "musicconnect_spec"))


def spec_names() -> frozenset[str]:
    return _SPEC_NAMES


def create_plugin_manager(*, allow: str | None = None, enabled: dict[str, bool] | None = None,
                          extra: Iterable[tuple[str, Any]] = (),
                          entry_points: bool | Iterable[md.EntryPoint] = True) -> PluginRegistry:
    """Build a fresh registry.

    ``allow`` is the ``MC_PLUGINS`` allow-list (``None``: all, ``""``: none); ``enabled`` the
    operator's persisted choices (absent = enabled); ``extra`` adds ``(name, module)`` pairs as if
    they were installed (tests, embedding); ``entry_points=False`` skips discovery, a list of
    entry points replaces it.
    """
    from . import builtin

    pm = pluggy.PluginManager("musicconnect")
    pm.add_hookspecs(hookspecs)
    pm.register(builtin, name=CORE_NAME)
    records: dict[str, PluginRecord] = {
        CORE_NAME: PluginRecord(name=CORE_NAME, module=builtin.__name__, distribution="musicconnect-core",
                                version=_version("musicconnect-core"), builtin=True, loaded=True, obj=builtin)}
    allowed = _allow_list(allow)
    enabled = enabled or {}
    eps: dict[str, md.EntryPoint] = {}

    candidates: list[tuple[str, md.EntryPoint | None, Any]] = []
    if entry_points is True:
        candidates += [(ep.name, ep, None) for ep in installed_entry_points()]
    elif entry_points:
        candidates += [(ep.name, ep, None) for ep in entry_points]
    candidates += [(name, None, obj) for name, obj in extra]

    registry = PluginRegistry(pm, records, eps)
    for name, ep, obj in candidates:
        dist = ep.dist.name if ep is not None and ep.dist is not None else None
        rec = PluginRecord(name=name, module=ep.value if ep else getattr(obj, "__name__", repr(obj)),
                           distribution=dist, version=ep.dist.version if ep is not None and ep.dist else None,
                           obj=obj)
        records[name] = rec
        if not NAME_RE.match(name) or name in RESERVED:
            rec.error = f"invalid plugin id {name!r}: use 2-40 lowercase letters, digits or _, not a reserved word"
            continue
        if ep is not None:
            eps[name] = ep
        rec.allowed = allowed is None or name in allowed
        rec.enabled = enabled.get(name, True)
        if rec.allowed and rec.enabled:
            registry._load(rec)
    pm.check_pending()
    return registry


def _version(dist: str) -> str | None:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None
