"""``musicconnect flags list|show|create|set|rollout|delete|eval``: feature flags from the shell
(docs/flags.md). Changes reach running servers through the cache's pub/sub (Redis) at once, or
within ``MC_CACHE_TTL`` seconds on the embedded setup."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

from .errors import fail, guarded

flags_app = typer.Typer(help="Feature flags: list, show, create, set, rollout, delete, eval (docs/flags.md).",
                        no_args_is_help=True)

ENV_OPT = typer.Option(None, "--env", help="the environment (default: MC_ENV)")


def register(app: typer.Typer) -> None:
    """Add the ``flags`` command group to the CLI."""
    app.add_typer(flags_app, name="flags")


_platforms: list = []


def _platform():
    """The platform, connected (built here rather than imported from ``main``: no import cycle)."""
    if not _platforms:
        from musicconnect.logs import configure
        from musicconnect.platform import Platform

        from .errors import settings_or_exit

        settings = settings_or_exit()
        configure(settings.log_level, settings.log_format)
        _platforms.append(Platform(settings))
    p = _platforms[0]
    p.db.check()
    return p


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # a bare word is a string


def _variants(pairs: List[str]) -> dict[str, Any] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            fail(f"--variant takes NAME=VALUE (a JSON value or a word), not {pair!r}")
        out[name] = _parse_value(value)
    return out


def _rules(text: Optional[str]) -> list | None:
    if text is None:
        return None
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            fail(f"cannot read {text[1:]}: {exc.strerror}")
    try:
        rules = json.loads(text)
    except ValueError as exc:
        fail(f"--rules is a JSON list of rules: {exc}")
    if not isinstance(rules, list):
        fail("--rules is a JSON list of rules")
    return rules


def _show(row: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(row))
        return
    state = "on " if row["enabled"] else "OFF"
    visible = " client-visible" if row["client_visible"] else ""
    typer.echo(f"{row['key']}  [{state}] {row['kind']} default={row['default_variant']} v{row['version']}{visible}")
    typer.echo(f"  variants: {json.dumps(row['variants'])}")
    for i, rule in enumerate(row["rules"]):
        typer.echo(f"  rule {i}: {json.dumps(rule)}")


@flags_app.command("list")
@guarded
def list_flags(env: Optional[str] = ENV_OPT, as_json: bool = typer.Option(False, "--json", help="one JSON object per line")):
    """Every flag of the environment."""
    from musicconnect.flags import serialize

    p = _platform()
    with p.read() as s:
        rows = [serialize(r) for r in p.flags.list(s, env)]
    if not rows and not as_json:
        typer.echo(f"no flags in {env or p.settings.env}")
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row))
        else:
            rollout = next((r.get("percentage") for r in row["rules"] if r.get("name") == "rollout"), None)
            extra = f" rollout {rollout:g}%" if rollout is not None else ""
            typer.echo(f"{row['key']:<32} {'on ' if row['enabled'] else 'OFF'} {row['kind']:<8} "
                       f"default={row['default_variant']} rules={len(row['rules'])}{extra}")


@flags_app.command("show")
@guarded
def show(key: str, env: Optional[str] = ENV_OPT, as_json: bool = typer.Option(False, "--json")):
    """One flag: variants, default and rules."""
    from musicconnect.flags import serialize

    p = _platform()
    with p.read() as s:
        _show(serialize(p.flags.get(s, key, env)), as_json)


@flags_app.command("create")
@guarded
def create(key: str,
           kind: str = typer.Option("boolean", "--kind", help="boolean, string, number or object"),
           variant: List[str] = typer.Option([], "--variant", help="NAME=VALUE (repeat); boolean flags: on/off"),
           default: Optional[str] = typer.Option(None, "--default", help="the default variant"),
           rules: Optional[str] = typer.Option(None, "--rules", help="JSON list of rules, or @file"),
           description: str = typer.Option("", "--description"),
           client_visible: bool = typer.Option(False, "--client-visible", help="listed by GET /api/v1/me/flags"),
           disabled: bool = typer.Option(False, "--disabled", help="created switched off"),
           env: Optional[str] = ENV_OPT):
    """Create a flag."""
    from musicconnect.flags import serialize

    p = _platform()
    with p.session() as s:
        row = p.flags.create(s, key, kind=kind, variants=_variants(variant), default_variant=default,
                             rules=_rules(rules), description=description, client_visible=client_visible,
                             enabled=not disabled, environment=env)
        s.flush()
        out = serialize(row)
    typer.echo(f"created {key} in {out['environment']}")


@flags_app.command("set")
@guarded
def set_flag(key: str,
             enabled: Optional[bool] = typer.Option(None, "--enabled/--disabled", help="switch on or off"),
             default: Optional[str] = typer.Option(None, "--default", help="the default variant"),
             variant: List[str] = typer.Option([], "--variant", help="NAME=VALUE (repeat): replaces the variants"),
             rules: Optional[str] = typer.Option(None, "--rules", help="JSON list of rules, or @file: replaces them"),
             client_visible: Optional[bool] = typer.Option(None, "--client-visible/--server-only"),
             description: Optional[str] = typer.Option(None, "--description"),
             env: Optional[str] = ENV_OPT):
    """Change a flag."""
    p = _platform()
    with p.session() as s:
        row = p.flags.update(s, key, environment=env, enabled=enabled, default_variant=default,
                             variants=_variants(variant), rules=_rules(rules), client_visible=client_visible,
                             description=description)
        version = row.version
    typer.echo(f"{key} is at version {version}")


@flags_app.command("rollout")
@guarded
def rollout(key: str, percentage: float = typer.Argument(..., min=0, max=100, help="0-100"),
            variant: Optional[str] = typer.Option(None, "--variant", help="the variant rolled out (boolean: on)"),
            env: Optional[str] = ENV_OPT):
    """Serve a stable percentage of users the variant (users already in stay in as it grows)."""
    p = _platform()
    with p.session() as s:
        p.flags.rollout(s, key, percentage, variant=variant, environment=env)
    typer.echo(f"{key}: rollout {percentage:g}%")


@flags_app.command("delete")
@guarded
def delete(key: str, env: Optional[str] = ENV_OPT,
           yes: bool = typer.Option(False, "--yes", help="do not ask")):
    """Delete a flag (code asking for it gets its own default)."""
    if not yes:
        typer.confirm(f"delete flag {key}?", abort=True)
    p = _platform()
    with p.session() as s:
        p.flags.delete(s, key, environment=env)
    typer.echo(f"deleted {key}")


@flags_app.command("eval")
@guarded
def evaluate(key: str, user: Optional[str] = typer.Option(None, "--user", help="a user id or email (none: anonymous)")):
    """What a user is served by a flag of this environment, and why."""
    import uuid

    from sqlalchemy import select

    from musicconnect.models import User

    p = _platform()
    who: Any = None
    if user:
        with p.read() as s:
            try:
                row = s.get(User, uuid.UUID(user))
            except ValueError:
                row = s.scalar(select(User).where(User.email == user.lower()))
            if row is None:
                fail(f"no user {user}")
            from musicconnect.contracts import Actor

            who = Actor(row.id, row.role)
    ev = p.flags.evaluate(key, who, expose=False)  # an operator's look is no exposure
    if ev.reason == "unknown":
        fail(f"no flag {key!r} in {p.settings.env}")
    typer.echo(json.dumps({"key": ev.key, "value": ev.value, "variant": ev.variant, "reason": ev.reason,
                           "rule": ev.rule, "experiment": ev.experiment}))
