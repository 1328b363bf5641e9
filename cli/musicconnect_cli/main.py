"""``musicconnect``: run and operate the platform.

serve · worker · plugins (list, info, enable, disable, install, config, new) · db (upgrade,
current, downgrade, revision) · users create · demo seed — plus every enabled plugin's own command group.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from typing import Optional

import typer

from musicconnect import migrate
from musicconnect.errors import MusicConnectError
from musicconnect.logs import configure as configure_logs
from musicconnect.platform import Platform

from .authoring import register as register_authoring
from .backup import register as register_backup
from .errors import UsageError, fail, guarded, settings_or_exit
from .flags import register as register_flags

app = typer.Typer(help="MusicConnect: self-hosted streaming and memberships for independent artists.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
plugins_app = typer.Typer(help="Installed plugins: list, enable, disable, install, configure.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema migrations (core first, then each enabled plugin).", no_args_is_help=True)
users_app = typer.Typer(help="User accounts.", no_args_is_help=True)
demo_app = typer.Typer(help="Demo data.", no_args_is_help=True)
app.add_typer(plugins_app, name="plugins")
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(demo_app, name="demo")
register_authoring(plugins_app, db_app)  # plugins new, db revision
register_flags(app)  # flags list, show, create, set, rollout, delete, eval
register_backup(app)  # backup (create, verify, list), restore

_platform: Platform | None = None


def platform() -> Platform:
    global _platform
    if _platform is None:
        settings = settings_or_exit()
        configure_logs(settings.log_level, settings.log_format)
        _platform = Platform(settings)
    return _platform


def connected() -> Platform:
    p = platform()
    p.db.check()
    return p


# --------------------------------------------------------------------------- serve / worker

@app.command()
@guarded
def serve(host: str = typer.Option("127.0.0.1", help="address to bind"),
          port: int = typer.Option(8000, help="port to bind"),
          demo: bool = typer.Option(False, "--demo", help="seed the demo accounts and data first"),
          workers: int = typer.Option(1, min=1, help="API processes (more than 1 needs MC_REDIS_URL)"),
          migrate_db: bool = typer.Option(True, "--migrate/--no-migrate", help="upgrade the schema first")):
    """Run the API. Embedded default: SQLite, local media, in-process jobs and pub/sub."""
    import os

    import uvicorn

    from musicconnect.server import uvicorn_options

    if demo:  # the demo takes payments with the billing plugin's offline sandbox (off unless asked for)
        os.environ.setdefault("MC_BILLING_SANDBOX", "true")
    p = connected()
    if "base_url" not in p.settings.model_fields_set:  # links we hand out (checkouts, portals) point here
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        p.settings.base_url = os.environ["MC_BASE_URL"] = f"http://{shown}:{port}"
    if workers > 1 and not p.settings.redis_url:
        raise UsageError("several API processes share state through Redis: set MC_REDIS_URL (or use --workers 1)")
    if migrate_db:
        migrate.upgrade(p)
    if demo:
        from musicconnect.seed import DEMO_PASSWORD, seed_demo

        seed_demo(p)
        typer.echo(f"demo accounts: artist@demo.com, fan@demo.com, admin@demo.com (password {DEMO_PASSWORD})")
    typer.echo(f"MusicConnect on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    if workers > 1:
        p.close()
        uvicorn.run("musicconnect.asgi:app", host=host, port=port, workers=workers, factory=False,
                    **uvicorn_options(p.settings))
    else:
        from musicconnect.app import create_app

        uvicorn.run(create_app(p), host=host, port=port, **uvicorn_options(p.settings))


@app.command()
@guarded
def worker(threads: int = typer.Option(0, help="worker threads (default MC_WORKER_THREADS)"),
           metrics_port: Optional[int] = typer.Option(None, "--metrics-port", min=0, max=65535, help=(
               "serve GET /metrics and GET /healthz on this port (default MC_WORKER_METRICS_PORT; 0 = off)")),
           metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", envvar="MC_WORKER_METRICS_HOST", help=(
               "address the metrics port binds (0.0.0.0: every interface, e.g. a pod's scrape port; "
               "the endpoints need no token)"))):
    """Run background jobs from Redis (the distributed configuration)."""
    p = connected()
    if not p.settings.redis_url:
        raise UsageError("the embedded default runs jobs inside 'musicconnect serve'; "
                         "set MC_REDIS_URL to run separate workers")
    port = p.settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:  # bound before any job runs: a taken port stops the worker at once
        from musicconnect.metrics import serve_worker_endpoints

        try:
            serve_worker_endpoints(p, port, metrics_host)
        except OSError as exc:
            raise UsageError(f"cannot serve worker metrics on {metrics_host} port {port}: {exc.strerror or exc}") from None
        shown = f"[{metrics_host}]" if ":" in metrics_host else metrics_host
        typer.echo(f"worker metrics on http://{shown}:{port}/metrics (liveness: /healthz)")
    p.start(worker=True)
    if threads:
        p.jobs.stop()
        p.jobs = type(p.jobs)(p)
        p.jobs.register_all()
        p.jobs.start_worker(threads)
    typer.echo(f"worker consuming {', '.join(sorted(q for q in p.jobs.broker.queues)) or 'no queues'}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    p.close()


# --------------------------------------------------------------------------- plugins

def _rows(p: Platform) -> list[dict]:
    return [{"name": r.name, "version": r.version, "status": r.status, "enabled": r.enabled and r.allowed,
             "builtin": r.builtin, "distribution": r.distribution, "hooks": p.plugins.hooks_of(r.name),
             "error": r.error, "quarantined": r.quarantined} for r in p.plugins]


@plugins_app.command("list")
@guarded
def plugins_list(as_json: bool = typer.Option(False, "--json", help="machine-readable output")):
    """Installed plugins: name, version, state and the hooks each implements."""
    p = connected()
    rows = _rows(p)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "version", "enabled", "status", "hooks")
    for r in rows:
        table.add_row(r["name"], r["version"] or "-", "yes" if r["enabled"] else "no",
                      r["status"] + (f": {r['error'] or r['quarantined']}" if r["error"] or r["quarantined"] else ""),
                      ", ".join(r["hooks"]) or "-")
    Console(width=200).print(table)


def _record(p: Platform, name: str):
    rec = p.plugins.get(name)
    if rec is None:
        installed = ", ".join(r.name for r in p.plugins if not r.builtin) or "none"
        raise UsageError(f"no plugin named {name!r} is installed (installed: {installed}); "
                         f"try 'musicconnect plugins install musicconnect-{name}'")
    return rec


@plugins_app.command("info")
@guarded
def plugins_info(name: str):
    """Everything known about one plugin, as JSON."""
    p = connected()
    _record(p, name)
    row = next(r for r in _rows(p) if r["name"] == name)
    model = p.plugin_settings_model(name) if p.plugins.is_enabled(name) else None
    if model is not None:
        row["settings"] = {k: str(f.annotation) for k, f in model.model_fields.items()}
    typer.echo(json.dumps(row, indent=2))


@plugins_app.command("enable")
@guarded
def plugins_enable(name: str):
    """Enable a plugin: validate its settings, upgrade its tables, then switch it on everywhere."""
    from musicconnect.plugin_state import build_settings, set_enabled, stored_config

    p = connected()
    if migrate.status_of(p, "core")["current"] is None:  # a fresh database: create the core's tables first
        migrate.upgrade(p, only="core")
    rec = _record(p, name)
    if rec.builtin:
        raise UsageError("the core is always enabled")
    if not rec.allowed:
        raise UsageError(f"{name} is not in MC_PLUGINS ({p.settings.plugins!r}); add it there first")
    p.plugins.apply_state({name: True})
    if rec.error:
        raise MusicConnectError(f"{name} cannot be enabled: {rec.error}")
    model = p.plugin_settings_model(name)
    if model is not None:
        build_settings(model, name, p.settings.plugin_config.get(name, {}), stored_config(p.db, name))
    migrate.upgrade(p, only=name) if any(h.name == name for h in migrate.histories(p)) else None
    set_enabled(p.db, name, True)
    typer.echo(f"{name} enabled")


@plugins_app.command("disable")
@guarded
def plugins_disable(name: str):
    """Disable a plugin: its hooks stop, its routes answer 404; its data is kept."""
    from musicconnect.plugin_state import set_enabled

    p = connected()
    rec = _record(p, name)
    if rec.builtin:
        raise UsageError("the core cannot be disabled")
    set_enabled(p.db, name, False)
    typer.echo(f"{name} disabled")


@plugins_app.command("install")
@guarded
def plugins_install(spec: str, upgrade: bool = typer.Option(False, "--upgrade", "-U"),
                    editable: bool = typer.Option(False, "--editable", "-e",
                                                  help="install a local folder in place (pip -e): edits need no reinstall")):
    """pip-install a plugin package into this environment (a name, a path or a URL). A copy is
    installed unless --editable; running processes find a new plugin only after a restart."""
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if upgrade:
        cmd.append("--upgrade")
    result = subprocess.run([*cmd, *(["-e"] if editable else []), spec], capture_output=True, text=True)
    if result.returncode != 0:
        lines = [ln.strip() for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
        reason = next((ln[len("ERROR:"):].strip() for ln in lines if ln.startswith("ERROR:")), lines[-1] if lines else "")
        fail(f"pip could not install {spec!r}: {reason}", 1)
    from musicconnect.plugins import installed_entry_points

    names = ", ".join(ep.name for ep in installed_entry_points())
    typer.echo(f"installed {spec}{' (editable)' if editable else ''}; plugins now installed: {names or 'none'}; "
               f"restart running musicconnect processes to load a new plugin")


@plugins_app.command("config")
@guarded
def plugins_config(name: str, key: Optional[str] = typer.Argument(None), value: Optional[str] = typer.Argument(None),
                   unset: bool = typer.Option(False, "--unset", help="remove KEY from the stored settings")):
    """Show a plugin's settings, or set / unset one (validated before it is stored)."""
    from musicconnect.plugin_state import set_config

    p = connected()
    _record(p, name)
    model = p.plugin_settings_model(name)
    if key is None:
        current = p.plugin_settings(name)
        typer.echo(json.dumps(current.model_dump(mode="json") if current else {}, indent=2, default=str))
        return
    if value is None and not unset:
        raise UsageError("give a VALUE, or --unset")
    stored = set_config(p.db, model, name, key, None if unset else value, p.settings.plugin_config.get(name, {}))
    typer.echo(json.dumps(stored, indent=2))


# --------------------------------------------------------------------------- db

@db_app.command("upgrade")
@guarded
def db_upgrade(plugin: Optional[str] = typer.Option(None, help="only this history (core or a plugin)"),
               revision: str = typer.Option("heads", help="target revision")):
    """Create or upgrade the schema."""
    p = connected()
    for name, before, after in migrate.upgrade(p, revision, only=plugin):
        typer.echo(f"{name}: {before or 'empty'} -> {after or 'empty'}")


@db_app.command("current")
@guarded
def db_current():
    """Each history's current and head revision."""
    p = connected()
    for row in migrate.status(p):
        flag = "up to date" if row["up_to_date"] else "needs upgrade"
        typer.echo(f"{row['name']}: {row['current'] or 'empty'} (head {row['head']}, {flag})")


@db_app.command("downgrade")
@guarded
def db_downgrade(revision: str = typer.Argument(..., help="target revision, e.g. -1 or base"),
                 plugin: str = typer.Option("core", help="which history")):
    """Step one history back."""
    p = connected()
    before, after = migrate.downgrade(p, plugin, revision)
    typer.echo(f"{plugin}: {before or 'empty'} -> {after or 'empty'}")


# --------------------------------------------------------------------------- users / demo

@users_app.command("create")
@guarded
def users_create(email: str,
                 role: str = typer.Option("fan", help="fan, artist or admin"),
                 password: Optional[str] = typer.Option(None, help="prompted for when omitted",
                                                        envvar="MC_NEW_USER_PASSWORD"),
                 display_name: Optional[str] = typer.Option(None),
                 artist_name: Optional[str] = typer.Option(None, help="for --role artist")):
    """Create an account (the way to make an admin)."""
    from email_validator import EmailNotValidError, validate_email

    from musicconnect.accounts import create_user
    from musicconnect.errors import Problem

    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise UsageError(f"invalid email {email!r}: {exc}") from None
    if role not in ("fan", "artist", "admin"):
        raise UsageError(f"unknown role {role!r}; use fan, artist or admin")
    p = connected()
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with p.session() as s:
            user = create_user(p, s, email=email, password=password, display_name=display_name, role=role,
                               artist_name=artist_name)
            uid = user.id
    except Problem as exc:
        fail(exc.detail or exc.title, 1)
    typer.echo(f"created {role} {email} ({uid})")


@demo_app.command("seed")
@guarded
def demo_seed():
    """Add the demo accounts (password password123), tiers and every enabled plugin's demo data."""
    from musicconnect.seed import DEMO_PASSWORD, seed_demo

    p = connected()
    migrate.upgrade(p)
    p.start()
    try:
        ctx = seed_demo(p)
        if p.jobs.embedded:
            p.jobs.wait_idle(timeout=600)
    finally:
        p.close()
    typer.echo(("seeded" if ctx.created else "already seeded") +
               f": artist@demo.com, fan@demo.com, admin@demo.com (password {DEMO_PASSWORD})")


# --------------------------------------------------------------------------- plugin commands

def _add_plugin_commands() -> None:
    if os.environ.get("MC_CLI_NO_PLUGINS"):
        return
    try:
        p = platform()
        taken = ({c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
                 | {g.name or g.typer_instance.info.name for g in app.registered_groups})
        for plugin, sub in p.plugins.collect("register_commands", platform=p):
            if not isinstance(sub, typer.Typer):
                continue
            # the group is named after the plugin, or what the plugin's Typer says (``Typer(name=
            # "gdpr")``) when no core command or other plugin has that name
            name = sub.info.name if isinstance(sub.info.name, str) and sub.info.name not in taken else plugin
            if name in taken:
                typer.echo(f"warning: plugin {plugin}'s commands: the name {name!r} is taken", err=True)
                continue
            taken.add(name)
            app.add_typer(sub, name=name)
    except SystemExit:
        raise
    except Exception as exc:  # a broken plugin must not break the CLI
        typer.echo(f"warning: plugin commands unavailable: {exc}", err=True)


def main() -> None:
    _add_plugin_commands()
    app()


if __name__ == "__main__":
    main()
