"""Plugin discovery, the plugin manager factory and the one way hooks are called.

``create_plugin_manager`` builds a fresh pluggy manager: hook specs, the core's built-in
implementation, then every installed entry point of the ``musicconnect`` group that the
operator has not disabled (and that ``MC_PLUGINS`` allows), one by one, recording load errors
instead of crashing.

:class:`PluginRegistry` calls every hook through pluggy (``pm.hook.<name>(**kwargs)``), so
ordering (``tryfirst`` / ``trylast``, later registrations first), wrappers (``wrapper=True`` and
old-style ``hookwrapper=True``) and ``firstresult`` behave exactly as pluggy documents, and
dispatches on the calling convention each spec declares in :mod:`musicconnect.hookspecs`
(``collect``, ``notify``, ``vote``, ``merge``, ``first-result``). The failure policy
(``isolate``, ``closed``, ``quarantine``) applies per implementation: each plugin is registered
through a thin proxy whose functions keep the plugin's signature and hook options (so pluggy
orders and validates them as usual) and apply the policy around the plugin's own function, and
record which plugin produced each answer (provenance) in the current call.
"""
from __future__ import annotations

import contextvars
import difflib
import functools
import importlib.metadata as md
import inspect
import logging
import re
import threading
import types
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pluggy

from . import hookspecs
from .asyncutil import resolve_sync
from .errors import Problem
from .hookspecs import CLOSED, COLLECT, FIRST_RESULT, MERGE, NOTIFY, QUARANTINE, VOTE, Calling, Convention, Failure

log = logging.getLogger("musicconnect.plugins")

ENTRY_POINT_GROUP = "musicconnect"
CORE_NAME = "core"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
#: plugin ids that would collide with core URL segments or CLI groups
RESERVED = frozenset({"core", "auth", "me", "artists", "content", "plugins", "admin", "tokens",
                      "users", "jobs", "media", "metrics", "health", "db", "demo", "serve", "worker"})


class HookConventionError(TypeError):
    """A hook was called with the method of another convention, or no spec has that name."""


class HookFailed(Problem):
    """A ``closed`` hook's implementation raised: the operation is refused (500 ``plugin-failed``).
    Raised inside the caller's transaction, it rolls it back, so nothing is half-written."""

    def __init__(self, plugin: str, hook: str, cause: BaseException | None = None):
        self.plugin, self.hook, self.cause = plugin, hook, cause
        super().__init__(500, "plugin-failed",
                         f"the {plugin} plugin failed in {hook}; the operation was refused and nothing was "
                         f"saved (the error is logged)", plugin=plugin, hook=hook)


class PluginUnavailable(Problem):
    """A person's data export or erasure cannot reach every installed plugin: one failed to import
    or ``MC_PLUGINS`` leaves it out, yet its tables may hold the person's data (503
    ``privacy-plugin-unavailable``, naming the plugins). Nothing is exported or erased."""

    def __init__(self, hook: str, problems: dict[str, str]):
        self.hook, self.problems = hook, dict(problems)
        names = ", ".join(sorted(self.problems))
        why = "; ".join(f"{n}: {w}" for n, w in sorted(self.problems.items()))
        super().__init__(503, "privacy-plugin-unavailable",
                         f"the installed plugin(s) {names} cannot be reached ({why}); their data may hold the "
                         f"person's, so {hook} was refused: fix or uninstall them", plugins=sorted(self.problems),
                         hook=hook)


@dataclass(frozen=True)
class Quarantine:
    """Why and since when a plugin's implementation of a ``quarantine`` hook is switched off."""

    hook: str
    error: str
    since: datetime

    def describe(self) -> str:
        return f"{self.hook} raised {self.error} at {self.since.isoformat(timespec='seconds')}"


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
    #: set when one of its ``quarantine`` hooks raised in this process; cleared on re-enable
    quarantine: Quarantine | None = None

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if not self.allowed:
            return "not-allowed"
        if not self.enabled:
            return "disabled"
        if not self.loaded:
            return "not-loaded"
        return "quarantined" if self.quarantine is not None else "enabled"

    @property
    def quarantined(self) -> str | None:
        """A one-line description of the quarantine, or ``None``."""
        return self.quarantine.describe() if self.quarantine is not None else None


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
                 entry_points: dict[str, md.EntryPoint], calling: Mapping[str, Calling] | None = None):
        self.pm = pm
        self.records = records
        self._eps = entry_points
        self._lock = threading.RLock()
        self.state_version: Any = None
        self.calling: dict[str, Calling] = dict(hookspecs.CALLING if calling is None else calling)
        self._callers: dict[str, tuple[Any, Calling]] = {}

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
        return sorted({h for h, _, _ in _hookimpls(self.pm, rec.obj)} & set(self.calling))

    def quarantined(self) -> list[PluginRecord]:
        """Loaded, enabled plugins whose ``quarantine`` hook raised in this process."""
        return [r for r in self if r.quarantine is not None and self.is_enabled(r.name)]

    # ---------------------------------------------------------------- enable / disable at runtime
    def apply_state(self, enabled: dict[str, bool]) -> list[str]:
        """Follow the operator's persisted choices; returns the names whose state changed.
        Disabling a plugin and enabling it again lifts its quarantine."""
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
                    rec.quarantine = None
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
                self.pm.register(self._proxy(rec), name=rec.name)
            rec.loaded = True
            rec.quarantine = None
        except Exception as exc:  # e.g. a hook implementation that matches no spec
            rec.error = f"{type(exc).__name__}: {exc}"
            rec.loaded = False
            log.error("plugin %s could not be registered: %s", rec.name, rec.error)

    def _proxy(self, rec: PluginRecord) -> Any:
        """What pluggy registers for ``rec``: one function per hook implementation, with the
        plugin's signature and hook options, applying the hook's failure policy around it."""
        proxy = types.SimpleNamespace(__name__=f"{rec.name} (musicconnect proxy)")
        unknown = []
        for hook, attr, opts in _hookimpls(self.pm, rec.obj):
            calling = self.calling.get(hook)
            if calling is None:
                if not opts.get("optionalhook"):
                    unknown.append(hook)
                continue
            fn = getattr(rec.obj, attr)
            if opts.get("wrapper") or opts.get("hookwrapper"):
                if not inspect.isgeneratorfunction(inspect.unwrap(fn)):
                    raise pluggy.PluginValidationError(
                        rec.obj, f"{hook}: a wrapper (wrapper=True / hookwrapper=True) must be a generator "
                                 f"function that yields once")
                make = _old_style_wrapper if opts.get("hookwrapper") else _wrapper
            else:
                make = _plain
            wrapped = make(fn, rec, hook, calling.failure, self._failed)
            functools.update_wrapper(wrapped, fn, updated=())
            setattr(wrapped, f"{self.pm.project_name}_impl", dict(opts))
            setattr(proxy, attr, wrapped)
        if unknown:
            hints = []
            for name in sorted(unknown):
                close = difflib.get_close_matches(name, self.calling, n=1)
                hints.append(f"{name} (did you mean {close[0]}?)" if close else name)
            raise pluggy.PluginValidationError(rec.obj, f"unknown hook(s) {', '.join(hints)}; the hooks are "
                                                        f"listed in docs/plugins.md")
        return proxy

    # ---------------------------------------------------------------- failure policies
    def _failed(self, plugin: str, hook: str, failure: Failure, exc: BaseException, call: "_Call | None") -> None:
        """One implementation raised: apply the hook's policy (``closed`` raises)."""
        if failure is CLOSED:
            if isinstance(exc, Problem):  # the plugin's own, deliberate refusal
                raise exc
            log.error("plugin %s failed in %s: the operation is refused (fails closed)", plugin, hook, exc_info=exc)
            raise HookFailed(plugin, hook, exc) from exc
        if failure is QUARANTINE:
            self.quarantine(plugin, hook, exc)
        else:
            log.error("plugin %s failed in %s (isolated)", plugin, hook, exc_info=exc)
        if call is not None:
            call.failed.append(plugin)

    def quarantine(self, plugin: str, hook: str, exc: BaseException) -> None:
        """Switch off ``plugin``'s implementation of the ``quarantine`` hooks in this process."""
        with self._lock:
            rec = self.records.get(plugin)
            if rec is None or rec.quarantine is not None:
                return
            rec.quarantine = Quarantine(hook, f"{type(exc).__name__}: {exc}"[:300], datetime.now(timezone.utc))
        log.error("plugin %s raised in %s and is QUARANTINED in this process: its %s answers are ignored until it "
                  "is disabled and enabled again or the process restarts (/readyz reports it)",
                  plugin, hook, hook, exc_info=exc)

    # ---------------------------------------------------------------- calling hooks
    def _caller(self, hook: str, convention: Convention) -> tuple[Any, Calling]:
        found = self._callers.get(hook)
        if found is None:
            calling = self.calling.get(hook)
            caller = getattr(self.pm.hook, hook, None)
            if calling is None or caller is None:
                close = difflib.get_close_matches(hook, self.calling, n=1)
                raise HookConventionError(f"no hook spec named {hook!r}" + (f"; did you mean {close[0]}?" if close else ""))
            found = self._callers[hook] = (caller, calling)
        if found[1].convention is not convention:
            have = found[1].convention
            raise HookConventionError(f"{hook} is a {have.value} hook: call it with plugins.{_METHOD[have]}() "
                                      f"(or plugins.call()), not plugins.{_METHOD[convention]}()")
        return found

    def _run(self, hook: str, convention: Convention, kwargs: dict[str, Any], sync: bool
             ) -> tuple["_Call", list[tuple[str, Any]], Calling]:
        caller, calling = self._caller(hook, convention)
        call = _Call(sync)
        token = _CURRENT.set(call)
        try:
            out = caller(**kwargs)
        finally:
            _CURRENT.reset(token)
        return call, call.answers(out, calling.convention is FIRST_RESULT), calling

    async def _arun(self, hook: str, convention: Convention, kwargs: dict[str, Any]
                    ) -> tuple["_Call", list[tuple[str, Any]], Calling]:
        call, answers, calling = self._run(hook, convention, kwargs, sync=False)
        if call.pending:
            resolved = []
            for plugin, value in answers:
                if value is not None and inspect.isawaitable(value):
                    try:
                        value = await value
                    except Exception as exc:
                        self._failed(plugin, hook, calling.failure, exc, call)
                        continue
                resolved.append((plugin, value))
            answers = resolved
        return call, answers, calling

    def collect(self, hook: str, /, **kwargs: Any) -> list[tuple[str, Any]]:
        """``collect`` hooks: ``[(plugin, item), ...]``, lists flattened, ``None`` dropped."""
        return _flat(self._run(hook, COLLECT, kwargs, True)[1])

    async def acollect(self, hook: str, /, **kwargs: Any) -> list[tuple[str, Any]]:
        return _flat((await self._arun(hook, COLLECT, kwargs))[1])

    def collect_installed(self, hook: str, /, **kwargs: Any) -> list[tuple[str, Any]]:
        """A ``collect`` hook asked of every installed plugin the operator allows, the disabled
        ones included (their tables still hold what they stored: a person's data export and
        erasure must reach them), the builtin ``core`` last; ``None`` dropped, lists flattened.
        The hook's failure policy applies (``closed``: the first failure raises). An installed
        plugin that failed to import or that ``MC_PLUGINS`` leaves out may hold what is asked for
        (its migrations ran in this database: ``alembic_version_<name>`` exists): then nothing is
        asked and :class:`PluginUnavailable` (503) names it."""
        calling = self._caller(hook, COLLECT)[1]
        with self._lock:
            records = [r for r in self if r.allowed and not r.error]
            for rec in records:
                if rec.obj is None:
                    self._load_object(rec)
            unavailable = {r.name: (f"failed to import ({r.error})" if r.error else "not allowed by MC_PLUGINS")
                           for r in self if not r.builtin and (r.error or not r.allowed)}
        session = kwargs.get("session")
        if unavailable and session is not None:
            # a plugin never migrated in this database has no tables: it holds nobody's data
            from sqlalchemy import inspect as sa_inspect

            tables = set(sa_inspect(session.connection()).get_table_names())
            unavailable = {n: why for n, why in unavailable.items() if f"alembic_version_{n}" in tables}
        if unavailable:
            raise PluginUnavailable(hook, unavailable)
        answers: list[tuple[str, Any]] = []
        for rec in sorted(records, key=lambda r: r.builtin):
            if rec.obj is None:
                continue
            for name, attr, _opts in _hookimpls(self.pm, rec.obj):
                if name != hook:
                    continue
                fn = getattr(rec.obj, attr)
                accepted = inspect.signature(fn).parameters
                try:
                    answers.append((rec.name, fn(**{k: v for k, v in kwargs.items() if k in accepted})))
                except Exception as exc:
                    self._failed(rec.name, hook, calling.failure, exc, None)
        return _flat(answers)

    def _load_object(self, rec: PluginRecord) -> None:
        """Import a plugin's module without registering it (a disabled plugin's hooks, asked by
        :meth:`collect_installed`)."""
        ep = self._eps.get(rec.name)
        if ep is None:
            return
        try:
            rec.obj = ep.load()
        except Exception as exc:
            rec.error = f"{type(exc).__name__}: {exc}"
            log.error("plugin %s failed to import: %s", rec.name, rec.error)

    def notify(self, hook: str, /, **kwargs: Any) -> list[str]:
        """``notify`` hooks: every implementation runs; returns the plugins that failed."""
        return self._run(hook, NOTIFY, kwargs, True)[0].failed

    async def anotify(self, hook: str, /, **kwargs: Any) -> list[str]:
        return (await self._arun(hook, NOTIFY, kwargs))[0].failed

    def vote(self, hook: str, /, **kwargs: Any) -> list[tuple[str, Any]]:
        """``vote`` hooks: ``[(plugin, answer), ...]`` for every implementation that ran, ``None``
        (abstain) included; a quarantined plugin has no entry."""
        return self._run(hook, VOTE, kwargs, True)[1]

    async def avote(self, hook: str, /, **kwargs: Any) -> list[tuple[str, Any]]:
        return (await self._arun(hook, VOTE, kwargs))[1]

    def merge(self, hook: str, /, **kwargs: Any) -> Any:
        """``merge`` hooks: one dict (first in call order wins a key) or one tuple."""
        _, answers, calling = self._run(hook, MERGE, kwargs, True)
        return _merged(hook, answers, calling)

    async def amerge(self, hook: str, /, **kwargs: Any) -> Any:
        _, answers, calling = await self._arun(hook, MERGE, kwargs)
        return _merged(hook, answers, calling)

    def first(self, hook: str, /, **kwargs: Any) -> tuple[str, Any] | None:
        """``first-result`` hooks: ``(plugin, answer)`` of the first implementation that answered."""
        answers = self._run(hook, FIRST_RESULT, kwargs, True)[1]
        return answers[-1] if answers and answers[-1][1] is not None else None

    async def afirst(self, hook: str, /, **kwargs: Any) -> tuple[str, Any] | None:
        answers = (await self._arun(hook, FIRST_RESULT, kwargs))[1]
        return answers[-1] if answers and answers[-1][1] is not None else None

    def call(self, hook: str, /, **kwargs: Any) -> Any:
        """Call ``hook`` the way its spec declares (what the named method returns)."""
        calling = self.calling.get(hook)
        if calling is None:
            self._caller(hook, COLLECT)  # raises with a suggestion
        return getattr(self, _METHOD[calling.convention])(hook, **kwargs)

    async def acall(self, hook: str, /, **kwargs: Any) -> Any:
        calling = self.calling.get(hook)
        if calling is None:
            self._caller(hook, COLLECT)
        return await getattr(self, "a" + _METHOD[calling.convention])(hook, **kwargs)


_METHOD = {COLLECT: "collect", NOTIFY: "notify", VOTE: "vote", MERGE: "merge", FIRST_RESULT: "first"}


class _Call:
    """One hook call in progress: what each implementation answered (in call order), what each
    wrapper made of the result, and who failed. Found by the proxies through a context variable."""

    __slots__ = ("sync", "entries", "wrapped", "failed", "pending")

    def __init__(self, sync: bool):
        self.sync = sync
        self.entries: list[tuple[str, Any]] = []
        self.wrapped: list[tuple[str, Any]] = []
        self.failed: list[str] = []
        self.pending = False

    def answers(self, out: Any, firstresult: bool) -> list[tuple[str, Any]]:
        """``[(plugin, answer)]`` of the call. Without wrappers these are the entries (abstentions
        included). A wrapper may have changed the result: then the result is matched against the
        answers by identity, in order, and what no implementation gave is credited to the wrapper."""
        if not self.wrapped:
            return self.entries
        current = [e for e in self.entries if e[1] is not None]
        for plugin, result in self.wrapped:
            if firstresult:
                result = [] if result is None else [result]
            current = _credit(current, result if isinstance(result, list) else [], plugin)
        return current if firstresult else current + [e for e in self.entries if e[1] is None]


_CURRENT: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("musicconnect_hook_call", default=None)


def _credit(before: list[tuple[str, Any]], after: list[Any], wrapper: str) -> list[tuple[str, Any]]:
    out, j = [], 0
    for item in after:
        for k in range(j, len(before)):
            if before[k][1] is item:
                out.append(before[k])
                j = k + 1
                break
        else:
            out.append((wrapper, item))
    return out


#: answer types seen not to be awaitable (the hot path skips ``inspect.isawaitable`` for them)
_PLAIN_TYPES: set[type] = set()


def _awaitable(value: Any) -> bool:
    if inspect.isawaitable(value):
        return True
    if type(value) is not types.GeneratorType:  # a generator's awaitability is per object
        _PLAIN_TYPES.add(type(value))
    return False


def _plain(fn, rec: PluginRecord, hook: str, failure: Failure, failed):
    """An ordinary implementation: the policy around ``fn``; awaitables resolved in sync calls."""
    name, quarantines = rec.name, failure is QUARANTINE

    def impl(*args, **kwargs):
        if quarantines and rec.quarantine is not None:
            return None
        call = _CURRENT.get()
        try:
            value = fn(*args, **kwargs)
            if value is not None and type(value) not in _PLAIN_TYPES and _awaitable(value):
                if call is None or call.sync:
                    value = resolve_sync(value)
                else:
                    call.pending = True
        except Exception as exc:
            failed(name, hook, failure, exc, call)
            return None
        if call is not None:
            call.entries.append((name, value))
        return value
    return impl


def _wrapper(fn, rec: PluginRecord, hook: str, failure: Failure, failed):
    """A new-style wrapper (``wrapper=True``): runs as pluggy documents; an exception it raises
    itself is handled by the policy and the result passes through unchanged."""
    name, quarantines = rec.name, failure is QUARANTINE

    def impl(*args, **kwargs):
        call = _CURRENT.get()
        if quarantines and rec.quarantine is not None:
            return (yield)
        try:
            gen = fn(*args, **kwargs)
            next(gen)
        except StopIteration:
            failed(name, hook, failure, RuntimeError(f"wrapper {fn.__qualname__} did not yield"), call)
            return (yield)
        except Exception as exc:
            failed(name, hook, failure, exc, call)
            return (yield)
        try:
            result = yield
        except BaseException as exc:  # an implementation inside raised (closed hooks): the wrapper sees it
            try:
                gen.throw(exc)
            except StopIteration as stop:
                return stop.value
            gen.close()
            raise RuntimeError(f"wrapper {fn.__qualname__} has a second yield") from exc
        try:
            gen.send(result)
        except StopIteration as stop:
            if call is not None:
                call.wrapped.append((name, stop.value))
            return stop.value
        except Exception as exc:
            failed(name, hook, failure, exc, call)
            return result
        gen.close()
        failed(name, hook, failure, RuntimeError(f"wrapper {fn.__qualname__} has a second yield"), call)
        return result
    return impl


def _old_style_wrapper(fn, rec: PluginRecord, hook: str, failure: Failure, failed):
    """An old-style ``hookwrapper=True``: pluggy sends it the ``Result``; same policy handling."""
    name, quarantines = rec.name, failure is QUARANTINE

    def impl(*args, **kwargs):
        call = _CURRENT.get()
        if quarantines and rec.quarantine is not None:
            yield
            return
        try:
            gen = fn(*args, **kwargs)
            next(gen)
        except StopIteration:
            failed(name, hook, failure, RuntimeError(f"hookwrapper {fn.__qualname__} did not yield"), call)
            yield
            return
        except Exception as exc:
            failed(name, hook, failure, exc, call)
            yield
            return
        outcome = yield
        try:
            gen.send(outcome)
        except StopIteration:
            if call is not None and outcome.exception is None:
                call.wrapped.append((name, outcome.get_result()))
            return
        except Exception as exc:
            failed(name, hook, failure, exc, call)
            return
        gen.close()
        failed(name, hook, failure, RuntimeError(f"hookwrapper {fn.__qualname__} has a second yield"), call)
    return impl


def _hookimpls(pm: pluggy.PluginManager, obj: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """``(hook, attribute, options)`` of every hook implementation ``obj`` carries."""
    out = []
    for attr in dir(obj):
        opts = pm.parse_hookimpl_opts(obj, attr)
        if opts is not None:
            out.append((opts.get("specname") or attr, attr, opts))
    return out


def _flat(answers: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for plugin, value in answers:
        out.extend((plugin, v) for v in _flatten(value))
    return out


def _merged(hook: str, answers: list[tuple[str, Any]], calling: Calling) -> Any:
    if calling.merged is dict:
        merged: dict[Any, Any] = {}
        for plugin, value in answers:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                log.error("plugin %s returned %r from %s, not a dict; ignored", plugin, type(value).__name__, hook)
                continue
            for k, v in value.items():
                merged.setdefault(k, v)
        return merged
    return tuple(v for _, v in _flat(answers))


def _flatten(value: Any) -> Iterable[Any]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None]
    return (value,)


_SPEC_NAMES = frozenset(hookspecs.CALLING)


def spec_names() -> frozenset[str]:
    return _SPEC_NAMES


def create_plugin_manager(*, allow: str | None = None, enabled: dict[str, bool] | None = None,
                          extra: Iterable[tuple[str, Any]] = (),
                          entry_points: bool | Iterable[md.EntryPoint] = True,
                          specs: Iterable[Any] = ()) -> PluginRegistry:
    """Build a fresh registry.

    ``allow`` is the ``MC_PLUGINS`` allow-list (``None``: all, ``""``: none); ``enabled`` the
    operator's persisted choices (absent = enabled); ``extra`` adds ``(name, module)`` pairs as if
    they were installed (tests, embedding); ``entry_points=False`` skips discovery, a list of
    entry points replaces it; ``specs`` adds namespaces of hook specs declared with
    :func:`musicconnect.hookspecs.spec` (tests of the calling machinery, embedding).
    """
    from . import builtin

    pm = pluggy.PluginManager("musicconnect")
    pm.add_hookspecs(hookspecs)
    calling = dict(hookspecs.CALLING)
    for namespace in specs:
        pm.add_hookspecs(namespace)
        calling.update(hookspecs.declarations(namespace))
    core = PluginRecord(name=CORE_NAME, module=builtin.__name__, distribution="musicconnect-core",
                        version=_version("musicconnect-core"), builtin=True, obj=builtin)
    records: dict[str, PluginRecord] = {CORE_NAME: core}
    allowed = _allow_list(allow)
    enabled = enabled or {}
    eps: dict[str, md.EntryPoint] = {}

    candidates: list[tuple[str, md.EntryPoint | None, Any]] = []
    if entry_points is True:
        candidates += [(ep.name, ep, None) for ep in installed_entry_points()]
    elif entry_points:
        candidates += [(ep.name, ep, None) for ep in entry_points]
    candidates += [(name, None, obj) for name, obj in extra]

    registry = PluginRegistry(pm, records, eps, calling)
    registry._load(core)
    if core.error:
        raise RuntimeError(f"the core's own hooks could not be registered: {core.error}")
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
