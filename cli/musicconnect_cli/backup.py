"""``musicconnect backup`` and ``musicconnect restore`` (core: :mod:`musicconnect.backup`).

    musicconnect backup DEST_DIR [--full] [--include-secret]   a new set in DEST_DIR (incremental objects)
    musicconnect backup verify DEST_DIR/<set>                 every checksum
    musicconnect backup list DEST_DIR                         the sets, newest last
    musicconnect restore DEST_DIR/<set> [--yes] [--force [--prune]]   into an empty deployment
"""
from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.core import TyperGroup

from .errors import guarded, settings_or_exit


class _BackupGroup(TyperGroup):
    """``backup DEST_DIR`` is ``backup create DEST_DIR``; ``verify`` and ``list`` are subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["create", *args]
        return super().parse_args(ctx, args)


backup_app = typer.Typer(cls=_BackupGroup, no_args_is_help=True,
                         help="Back up the database and object storage: `backup DEST_DIR` makes a set; "
                              "`backup verify SET`, `backup list DEST_DIR`; `musicconnect restore SET` restores.")


def _echo(line: str) -> None:
    typer.echo(line)


def _connected():
    """This deployment's platform (settings from the environment), its database reachable."""
    from musicconnect.logs import configure as configure_logs
    from musicconnect.platform import Platform

    settings = settings_or_exit()
    configure_logs(settings.log_level, settings.log_format)
    p = Platform(settings)
    p.db.check()
    return p


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@backup_app.command("create")
@guarded
def backup_create(dest: Path = typer.Argument(..., help="the backup folder (sets and their shared objects)"),
                  full: bool = typer.Option(False, "--full", help="read and hash every object again, even those "
                                                                  "unchanged since the previous set"),
                  include_secret: bool = typer.Option(False, "--include-secret", help=(
                      "also keep the generated signing key (<data dir>/secret.key) in the set; keep such "
                      "backups as secret as the key"))):
    """Back up the database (consistent while the server runs) and every stored object."""
    from musicconnect.backup import create_backup

    p = _connected()
    try:
        r = create_backup(p, dest, full=full, include_secret=include_secret, progress=_echo)
    finally:
        p.close()
    typer.echo(f"backup set {r.path} complete in {r.seconds:.1f} s: database {_size(r.database_bytes)}, "
               f"{r.objects} objects ({_size(r.total_bytes)}), {r.copied} copied ({_size(r.copied_bytes)})"
               + (f", {r.skipped} skipped (invalid keys)" if r.skipped else ""))


@backup_app.command("verify")
@guarded
def backup_verify(set_dir: Path = typer.Argument(..., metavar="SET", help="a set: DEST_DIR/<timestamp>")):
    """Check the manifest, the database dump and every object against their checksums, and the
    manifest's HMAC when this deployment has the key the backup was made with."""
    from musicconnect.backup import authenticate, local_key, verify_set

    key = local_key(settings_or_exit())
    m = verify_set(set_dir, progress=_echo, key=key)
    how = ("authenticated with this deployment's signing key" if authenticate(m, key) else
           "checksums only: this deployment's signing key is not the backup's, so the HMAC cannot be checked")
    typer.echo(f"{set_dir}: ok ({m['database']['dialect']} database, {len(m['storage']['objects'])} objects, "
               f"made {m['created_at']} by MusicConnect {m['version']}; {how})")


@backup_app.command("list")
@guarded
def backup_list(dest: Path = typer.Argument(..., help="the backup folder"),
                as_json: bool = typer.Option(False, "--json", help="machine-readable output")):
    """The complete sets in DEST_DIR, oldest first (read from their manifests)."""
    from musicconnect.backup import describe_sets

    rows = describe_sets(dest)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no backup sets in {dest}")
    for r in rows:
        if not r["ok"]:
            typer.echo(f"{r['set']}  UNREADABLE: {r['error']}")
            continue
        typer.echo(f"{r['set']}  {r['database']} {_size(r['database_bytes'])}  {r['objects']} objects "
                   f"{_size(r['total_bytes'])}  ({r['copied']} copied, {_size(r['copied_bytes'])})")


@guarded
def restore(set_dir: Path = typer.Argument(..., metavar="SET", help="a set: DEST_DIR/<timestamp>"),
            yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
            force: bool = typer.Option(False, "--force", help=(
                "replace a non-empty database and overwrite objects in a non-empty storage; accept a "
                "different signing key")),
            prune: bool = typer.Option(False, "--prune", help=(
                "also delete the target's objects that the backup does not hold (otherwise --force leaves "
                "them in place)"))):
    """Restore a backup set into this deployment (MC_DATABASE_URL, storage settings): checks every
    checksum first, refuses a non-empty database unless --force, then upgrades the schema if the
    backup's is older. --force leaves objects the backup does not hold; --prune deletes them.
    Stop the API and workers first."""
    from musicconnect.backup import read_manifest, restore_backup
    from musicconnect.db import redact

    settings = settings_or_exit()
    manifest = read_manifest(set_dir)
    where = settings.s3_bucket if settings.storage_backend == "s3" else str(settings.media_dir)
    if not yes:
        typer.confirm(f"restore {set_dir} (made {manifest['created_at']}) into {redact(settings.effective_database_url)} "
                      f"and {settings.storage_backend} storage {where}"
                      + (", DELETING its objects that the backup does not hold" if prune else "") + "?", abort=True)
    summary = restore_backup(settings, set_dir, force=force, prune=prune, progress=_echo)
    for w in summary["warnings"]:
        typer.echo(f"warning: {w}", err=True)
    typer.echo(f"restored {summary['set']} (made {summary['created_at']}): database and {summary['objects']} objects"
               + (f"; {summary['pruned']} objects not in the backup deleted" if prune else "")
               + ("; schema upgraded" if summary["upgraded"] else ""))


def register(app: typer.Typer) -> None:
    """Add ``backup`` (create, verify, list) and ``restore`` to the CLI."""
    app.add_typer(backup_app, name="backup")
    app.command("restore")(restore)
