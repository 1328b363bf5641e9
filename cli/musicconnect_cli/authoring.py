"""Commands for plugin authors: ``plugins new`` (a scaffold that passes its own tests) and
``db revision`` (a migration for one plugin, generated against a throwaway database)."""
from __future__ import annotations

import string
import tempfile
from pathlib import Path
from typing import Optional

import typer

from .errors import UsageError, guarded

SCAFFOLD = Path(__file__).parent / "scaffold"

#: target path (relative to the new distribution's folder) -> template in ``scaffold/``
FILES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "musicconnect_${name}/__init__.py": "__init__.py.tmpl",
    "musicconnect_${name}/plugin.py": "plugin.py.tmpl",
    "musicconnect_${name}/models.py": "models.py.tmpl",
    "musicconnect_${name}/migrations/${name}_0001_reads.py": "migration_0001.py.tmpl",
    "tests/conftest.py": "conftest.py.tmpl",
    "tests/test_${name}.py": "test_plugin.py.tmpl",
}


def check_name(name: str) -> None:
    """A plugin id as the core accepts it (``musicconnect.plugins.NAME_RE``, not reserved)."""
    from musicconnect.plugins import NAME_RE, RESERVED

    if not NAME_RE.match(name):
        raise UsageError(f"invalid plugin name {name!r}: use 2-40 characters, lowercase letters, digits or _, "
                         f"starting with a letter (e.g. guestbook)")
    if name in RESERVED:
        raise UsageError(f"invalid plugin name {name!r}: it is a word the core uses; reserved: "
                         f"{', '.join(sorted(RESERVED))}")


def scaffold(name: str, parent: Path) -> Path:
    """Write ``<parent>/musicconnect-<name>/`` and return it."""
    check_name(name)
    target = parent / f"musicconnect-{name}"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"{target} already exists and is not empty")
    files = {string.Template(rel).substitute(name=name):
             string.Template((SCAFFOLD / tmpl).read_text()).substitute(name=name) for rel, tmpl in FILES.items()}
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target


def new(name: str = typer.Argument(..., help="the plugin id: lowercase letters, digits, _"),
        directory: Path = typer.Option(Path("."), "--dir", help="where to create musicconnect-NAME/",
                                       file_okay=False)):
    """Scaffold a plugin: pyproject with the entry point, a route with its scope, an access rule,
    a metric, a table with its migration, and tests that pass as they are."""
    try:
        target = scaffold(name, directory)
    except OSError as exc:
        raise UsageError(f"cannot write the plugin: {exc.strerror or exc}: {exc.filename or directory}") from None
    typer.echo(f"created {target}\n"
               f"next:  cd {target}\n"
               f"       musicconnect plugins install --editable .\n"
               f"       python -m pytest\n"
               f"       musicconnect plugins enable {name}    (then restart musicconnect serve)")


def revision(plugin: str = typer.Argument(..., help="the plugin whose history gets the revision"),
             message: str = typer.Option(..., "--message", "-m", help="what the revision does"),
             rev_id: Optional[str] = typer.Option(None, "--rev-id", help="revision id (default <plugin>_<NNNN>)"),
             empty: bool = typer.Option(False, "--empty", help="write a revision even when the models match "
                                                                "(for a data migration you write by hand)")):
    """Autogenerate a migration for one plugin from its models. Runs against a throwaway SQLite
    database migrated to the current heads (core and this plugin): no data directory or running
    database needed. Review the file it writes before you commit it."""
    import contextlib
    import io
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    from musicconnect import migrate
    from musicconnect.platform import Platform
    from musicconnect.plugins import CORE_NAME
    from musicconnect.settings import Settings

    if plugin == CORE_NAME:
        raise UsageError("core revisions are written by hand in core/musicconnect/migrations/versions")
    with tempfile.TemporaryDirectory(prefix="mc-revision-") as tmp:
        settings = Settings(env="development", data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/revision.db",
                            plugins=plugin, redis_url=None)
        p = Platform(settings)
        try:
            rec = p.plugins.get(plugin)
            if rec is None:
                raise UsageError(f"no plugin named {plugin!r} is installed; install it first "
                                 f"('musicconnect plugins install --editable PATH')")
            if rec.error:
                raise UsageError(f"{plugin} cannot be loaded: {rec.error}")
            history = next((h for h in migrate.histories(p) if h.name == plugin), None)
            if history is None:
                raise UsageError(f"{plugin} has no migrations: implement register_migrations and return "
                                 f"its migrations directory")
            migrate.upgrade(p)
            changes = pending_changes(p, history)
            if not changes and not empty:
                typer.echo(f"no changes: the models of {plugin} match its migrations (--empty writes one anyway)")
                return
            if rev_id is None:
                rev_id = f"{plugin}_{len(list(history.versions.glob('*.py'))) + 1:04d}"
            with contextlib.redirect_stdout(io.StringIO()):  # alembic's own "Generating ..." line
                path = migrate.revision(p, plugin, message, rev_id=rev_id)
        finally:
            p.close()
    typer.echo(f"wrote {path}")
    for change in changes:
        typer.echo(f"  {change}")


def pending_changes(platform, history) -> list[str]:
    """What autogenerate would write for this history: one line per schema difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from musicconnect.db import Base

    def include(obj, name, type_, reflected, compare_to):
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table is None or history.owns(table)

    with platform.db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    out = []
    for d in diffs:
        for op in (d if isinstance(d, list) else [d]):
            kind, *rest = op
            target = next((getattr(x, "name", None) for x in rest if getattr(x, "name", None)), None)
            where = next((x for x in rest if isinstance(x, str)), None)
            out.append(" ".join(str(x) for x in (kind, where, target) if x))
    return out


def register(plugins_app: typer.Typer, db_app: typer.Typer) -> None:
    plugins_app.command("new")(guarded(new))
    db_app.command("revision")(guarded(revision))
