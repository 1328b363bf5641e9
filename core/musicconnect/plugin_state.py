"""The operator's plugin choices (enabled / disabled, configuration) persisted in the database."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, inspect, select

from .clock import utcnow
from .db import Database
from .errors import MusicConnectError
from .models import PluginState


class PluginSettings(BaseSettings):
    """Base for plugin settings models; ``MC_<PLUGIN>_<FIELD>`` variables fill what the config
    file and ``musicconnect plugins config`` leave unset. Declare secrets as ``SecretStr``: they
    are read from the environment only, never stored."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)


class PluginConfigError(MusicConnectError):
    pass


def table_exists(db: Database) -> bool:
    try:
        return inspect(db.engine).has_table("plugin_state")
    except Exception:
        return False


def read_enabled(db: Database) -> dict[str, bool]:
    if not table_exists(db):
        return {}
    with db.session() as s:
        return {name: enabled for name, enabled in s.execute(select(PluginState.name, PluginState.enabled))}


def state_version(db: Database) -> tuple:
    """Cheap fingerprint that changes whenever any plugin's state changes (for polling)."""
    with db.session() as s:
        return tuple(s.execute(select(func.count(), func.max(PluginState.updated_at))).one())


def set_enabled(db: Database, name: str, enabled: bool) -> None:
    with db.session() as s:
        row = s.get(PluginState, name)
        if row is None:
            s.add(PluginState(name=name, enabled=enabled, config={}, updated_at=utcnow()))
        else:
            row.enabled = enabled
            row.updated_at = utcnow()


def stored_config(db: Database, name: str) -> dict[str, Any]:
    """The operator's stored config of a plugin (read in the caller's open session if any)."""
    with db.read() as s:
        if not inspect(s.connection()).has_table("plugin_state"):
            return {}
        row = s.get(PluginState, name)
        return dict(row.config) if row else {}


def build_settings(model: type[BaseModel], name: str, file_values: dict[str, Any],
                   stored: dict[str, Any]) -> BaseModel:
    values = {**file_values, **stored}
    try:
        if isinstance(model, type) and issubclass(model, BaseSettings):
            return model(_env_prefix=f"MC_{name.upper()}_", **values)
        return model(**values)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or name}: {e['msg']}" for e in exc.errors())
        raise PluginConfigError(f"invalid configuration for plugin {name}: {msgs}") from None


def set_config(db: Database, model: type[BaseModel] | None, name: str, key: str, raw: str | None,
               file_values: dict[str, Any]) -> dict[str, Any]:
    """Validate and store one setting (``raw=None`` removes it). Returns the stored config."""
    if model is None:
        raise PluginConfigError(f"plugin {name} has no settings")
    field = model.model_fields.get(key)
    if field is None:
        raise PluginConfigError(f"plugin {name} has no setting {key!r}; it has: {', '.join(model.model_fields)}")
    if field.annotation is SecretStr or "SecretStr" in str(field.annotation):
        raise PluginConfigError(f"{key} is a secret: set MC_{name.upper()}_{key.upper()} in the environment instead")
    stored = stored_config(db, name)
    if raw is None:
        stored.pop(key, None)
    else:
        stored[key] = raw
    build_settings(model, name, file_values, stored)  # raises with a readable message
    with db.session() as s:
        row = s.get(PluginState, name)
        if row is None:
            s.add(PluginState(name=name, enabled=True, config=stored, updated_at=utcnow()))
        else:
            row.config = stored
            row.updated_at = utcnow()
    return stored
