"""The platform object: settings, clock, database, plugins and shared services, created once per
process (and once per test). Every hook receives it first."""
from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterable
from functools import cached_property
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from .cache import TTLCache
from .clock import Clock
from .db import Database, on_commit
from .plugin_state import build_settings, read_enabled, stored_config
from .plugins import PluginRegistry, create_plugin_manager
from .settings import Settings

log = logging.getLogger("musicconnect")
INVALIDATE_CHANNEL = "cache.invalidate"


class Platform:
    def __init__(self, settings: Settings | None = None, *, clock: Clock | None = None,
                 plugins: PluginRegistry | None = None, extra_plugins: Iterable[tuple[str, Any]] = (),
                 entry_points: bool = True):
        self.settings = settings or Settings()
        self.clock = clock or Clock()
        self._registry = plugins
        self._extra_plugins = list(extra_plugins)
        self._entry_points = entry_points
        self.started = False
        #: run an in-process job worker on start(): None = only on the embedded broker
        self.run_worker: bool | None = None

    # ---------------------------------------------------------------- engines (lazy)
    @cached_property
    def db(self) -> Database:
        st = self.settings
        return Database(st.effective_database_url, pool_size=st.db_pool_size, pool_timeout=st.db_pool_timeout)

    @property
    def plugins(self) -> PluginRegistry:
        if self._registry is None:
            try:
                enabled = read_enabled(self.db) if self._database_exists() else {}
            except Exception:  # database not reachable yet: the caller will find out when it needs it
                enabled = {}
            self._registry = create_plugin_manager(allow=self.settings.plugins, enabled=enabled,
                                                   extra=self._extra_plugins, entry_points=self._entry_points)
        return self._registry

    def _database_exists(self) -> bool:
        url = self.settings.effective_database_url
        if url.startswith("sqlite:///"):
            from pathlib import Path

            return Path(url[len("sqlite:///"):]).exists()
        return True

    @cached_property
    def storage(self):
        from .storage import make_storage

        return make_storage(self.settings, clock=self.clock)

    @cached_property
    def jobs(self):
        from .jobs import Jobs

        jobs = Jobs(self)
        jobs.register_all()
        return jobs

    @cached_property
    def pubsub(self):
        from .pubsub import InProcessPubSub, RedisPubSub

        return RedisPubSub(self.settings.redis_url) if self.settings.redis_url else InProcessPubSub()

    @cached_property
    def realtime(self):
        """The real-time hub (:class:`musicconnect.realtime.Hub`): rooms of open sockets."""
        from .realtime_hub import Hub

        return Hub(self)

    @cached_property
    def ratelimiter(self):
        from .ratelimit import RateLimiter

        return RateLimiter(self.settings.redis_url)

    @cached_property
    def cache(self) -> TTLCache:
        return TTLCache(ttl=self.settings.cache_ttl)

    @cached_property
    def passwords(self):
        from .identity.passwords import Passwords

        return Passwords(self.settings.argon2_time_cost, self.settings.argon2_memory_cost,
                         self.settings.password_hash_concurrency)

    @cached_property
    def password_gate(self):
        from .identity.passwords import PasswordGate

        slots = self.settings.password_hash_concurrency or os.cpu_count() or 2
        return PasswordGate(slots, max_waiting=slots * 16)

    @cached_property
    def tokens(self):
        from .identity.tokens import Tokens

        return Tokens(self.settings.signing_key(), self.settings.access_token_ttl,
                      self.settings.refresh_token_ttl, self.clock)

    @cached_property
    def access(self):
        from .access import AccessService

        return AccessService(self)

    @cached_property
    def entitlements(self):
        from .entitlements import Entitlements

        return Entitlements(self)

    @cached_property
    def content(self):
        from .content import ContentService

        return ContentService(self)

    @cached_property
    def payments(self):
        from .payments import Payments

        return Payments(self)

    @cached_property
    def flags(self):
        """Feature flags (:class:`musicconnect.flags.FlagsService`): ``enabled``, ``variant``,
        ``value``, ``evaluate``, an OpenFeature ``client()``; cached, no query per evaluation."""
        from .flags import FlagsService

        return FlagsService(self)

    # ---------------------------------------------------------------- helpers
    def session(self):
        """A transaction: ``with platform.session() as s:`` commits at the end, rolls back on error."""
        return self.db.session()

    def read(self):
        """A session for reads that reuses the session this request or job already has open, so a
        hook called while a transaction is open (``serialize_content``, metric and access helpers)
        never takes a second pooled connection. Do not write through it."""
        return self.db.read()

    def emit(self, session: Session, type: str, **kwargs: Any):
        from .events import emit

        return emit(self, session, type, **kwargs)

    def invalidate(self, *keys: Any) -> None:
        """Drop cache keys here and in every other process (through pub/sub)."""
        for key in keys:
            self.cache.invalidate(key)
        try:
            self.pubsub.publish(INVALIDATE_CHANNEL, {"keys": [_encode_key(k) for k in keys]})
        except Exception:
            log.exception("could not broadcast a cache invalidation")

    def forget_content(self, session: Session, content_id: uuid.UUID) -> None:
        key = ("content", content_id)
        self.cache.invalidate(key)
        on_commit(session, lambda: self.invalidate(key))

    def scopes(self) -> dict[str, str]:
        """Every scope a personal API token may carry: the core's and each enabled plugin's."""
        from .identity.tokens import CORE_SCOPES

        out = dict(CORE_SCOPES)
        for plugin, declared in self.plugins.collect("register_scopes", platform=self):
            for name, what in (declared or {}).items():
                if re.fullmatch(r"[a-z][a-z0-9_]*:[a-z][a-z0-9_]*", name):
                    out.setdefault(name, str(what))
                else:
                    log.error("plugin %s declares a malformed scope %r ('area:verb')", plugin, name)
        return out

    def perks(self) -> dict[str, str]:
        """Every tier perk some enabled plugin honours, with its description (types and limits:
        ``platform.access.perks()``)."""
        return {name: spec.description for name, (_, spec) in self.access.perks().items()}

    def notification_kinds(self) -> dict[str, tuple[str, Any]]:
        """``{kind id: (plugin, NotificationKind)}`` of every enabled plugin
        (``register_notification_kinds``); a kind id a second plugin claims is ignored (logged)."""
        from .contracts import NotificationKind

        out: dict[str, tuple[str, Any]] = {}
        for plugin, kind in self.plugins.collect("register_notification_kinds", platform=self):
            if not isinstance(kind, NotificationKind):
                log.error("plugin %s returned %r from register_notification_kinds", plugin, kind)
            elif kind.id in out:
                log.error("plugin %s declares notification kind %s, already declared by %s", plugin, kind.id,
                          out[kind.id][0])
            else:
                out[kind.id] = (plugin, kind)
        return out

    def audience_members(self, artist_id: uuid.UUID, audience: str) -> set[uuid.UUID]:
        """The user ids in ``audience`` of the artist (``audience_members``: the answers united)."""
        out: set[uuid.UUID] = set()
        for _plugin, user_id in self.plugins.collect("audience_members", platform=self, artist_id=artist_id,
                                                     audience=audience):
            out.add(user_id if isinstance(user_id, uuid.UUID) else uuid.UUID(str(user_id)))
        return out

    @cached_property
    def api_limits(self):
        from .apilimits import ApiLimits

        return ApiLimits(self.settings)

    # ---------------------------------------------------------------- privacy and trust
    def export_user_data(self, session: Session, user) -> list[tuple[str, Any]]:
        """``[(plugin, ExportPart)]``: every installed plugin's part of ``user``'s data (GDPR
        Art. 15/20), disabled plugins included, the core's last. A failure raises."""
        return self.plugins.collect_installed("export_user_data", platform=self, session=session, user=user)

    def erase_user_data(self, session: Session, user) -> list[tuple[str, Any]]:
        """``[(plugin, ErasureReport)]``: every installed plugin erases or anonymises its rows about
        ``user`` in ``session`` (GDPR Art. 17), disabled plugins included, the core last (it
        deletes the user). A failure raises: the caller's transaction rolls every part back."""
        return self.plugins.collect_installed("erase_user_data", platform=self, session=session, user=user)

    def screen_audio(self, session: Session, item, audio_path) -> Any:
        """The strictest ``Screening`` the enabled plugins give an upload's audio (``allow`` if none)."""
        from .contracts import strictest

        return strictest(v for _p, v in self.plugins.collect("screen_audio", platform=self, session=session,
                                                               item=item, audio_path=audio_path))

    def screen_activity(self, kind: str, actor_id: uuid.UUID | None, **context: Any) -> Any:
        """The strictest ``Screening`` the enabled plugins give one act (``allow`` if none); cheap
        when no plugin screens (no implementation: no call)."""
        from .contracts import Screening, strictest

        if not self._screens_activity():
            return Screening("allow")
        return strictest(v for _p, v in self.plugins.collect("screen_activity", platform=self, kind=kind,
                                                               actor_id=actor_id, context=context))

    def _screens_activity(self) -> bool:
        caller = getattr(self.plugins.pm.hook, "screen_activity", None)
        return bool(caller is not None and caller.get_hookimpls())

    def forget_user(self, user_id: uuid.UUID) -> None:
        self.invalidate(("user", user_id))

    def plugin_settings_model(self, name: str) -> type[BaseModel] | None:
        for plugin, model in self.plugins.collect("register_settings", platform=self):
            if plugin == name:
                return model
        return None

    def plugin_settings(self, name: str) -> BaseModel | None:
        """The validated settings of plugin ``name`` (cached; ``plugins config`` refreshes them)."""
        key = ("plugin-settings", name)
        hit = self.cache.get(key)
        if hit is None:
            model = self.plugin_settings_model(name)
            if model is None:
                return None
            hit = build_settings(model, name, self.settings.plugin_config.get(name, {}), stored_config(self.db, name))
            self.cache.set(key, hit)
        return hit

    # ---------------------------------------------------------------- lifecycle
    def start(self, *, worker: bool | None = None) -> None:
        """Bind jobs, run plugins' ``on_startup``; start the in-process worker on the embedded
        default (``worker=None``) or when asked."""
        if self.started:
            return
        self.started = True
        from . import errorreporting, tracing

        errorreporting.configure(self.settings, process="worker" if worker else "api")  # only with MC_SENTRY_DSN
        tracing.configure(self.settings)  # only with OTEL_EXPORTER_OTLP_ENDPOINT or MC_TRACING
        if self.settings.storage_backend == "s3":
            self.storage.ensure_bucket()
        jobs = self.jobs
        if worker is None:
            worker = self.run_worker
        if worker or (worker is None and jobs.embedded):
            jobs.start_worker()
        self.plugins.notify("on_startup", platform=self)

    def close(self) -> None:
        # the running jobs end first (within jobs.stop's timeout; one still running then is
        # abandoned and retried later): they may use what a plugin lets go of in on_shutdown
        # (which may still enqueue: the broker closes after it)
        if "jobs" in self.__dict__:
            self.jobs.stop(close_broker=False)
        if self.started:
            self.plugins.notify("on_shutdown", platform=self)
        if "jobs" in self.__dict__:
            self.jobs.broker.close()
        if "pubsub" in self.__dict__:
            self.pubsub.close()
        if "realtime" in self.__dict__:
            self.__dict__.pop("realtime").close()
        if "db" in self.__dict__:
            self.db.dispose()
        self.started = False


def _encode_key(key: Any) -> list:
    if isinstance(key, tuple):
        return [str(p) if isinstance(p, uuid.UUID) else p for p in key]
    return [key]


def decode_key(parts: list) -> tuple:
    out = []
    for p in parts:
        if isinstance(p, str) and len(p) == 36 and p.count("-") == 4:
            try:
                out.append(uuid.UUID(p))
                continue
            except ValueError:
                pass
        out.append(p)
    return tuple(out)
