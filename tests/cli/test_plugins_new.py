"""`musicconnect plugins new` scaffolds a plugin that passes its own tests, and `musicconnect db
revision` writes a plugin's next migration without a data directory: run as an author would."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "musicconnect"


@pytest.fixture
def run(proc_env, tmp_path):
    def run(*args, ok=True, env=None, cwd=None, timeout=300):
        r = subprocess.run([str(BIN), *args], capture_output=True, text=True, env={**proc_env, **(env or {})},
                           cwd=cwd or tmp_path, timeout=timeout)
        if ok:
            assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r

    return run


def one_line_error(r, code=2) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    return lines[0]


def fake_install(project: Path, site: Path) -> str:
    """What pip would leave for the entry point: a dist-info with the pyproject's entry points
    (the package itself is put on PYTHONPATH, as an editable install would). Returns PYTHONPATH."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    dist = site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n")
    eps = meta["entry-points"]["musicconnect"]
    (dist / "entry_points.txt").write_text("[musicconnect]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()))
    return os.pathsep.join([str(site), str(project)])


def test_the_scaffold_passes_its_own_tests(run, tmp_path, proc_env):
    out = run("plugins", "new", "guestbook", "--dir", str(tmp_path / "src")).stdout
    project = tmp_path / "src" / "musicconnect-guestbook"
    assert f"created {project}" in out and "plugins install --editable ." in out
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["name"] == "musicconnect-guestbook" and meta["dependencies"] == ["musicconnect-core>=0.1.0"]
    assert meta["entry-points"]["musicconnect"] == {"guestbook": "musicconnect_guestbook.plugin"}
    plugin = (project / "musicconnect_guestbook" / "plugin.py").read_text()
    for needle in ('scope(f"{PLUGIN}:read", optional=True)', "platform.access.require(", "def check_access(",
                   "def register_metrics(", "def register_migrations("):
        assert needle in plugin
    assert (project / "musicconnect_guestbook" / "migrations" / "guestbook_0001_reads.py").exists()
    assert '["guestbook"]' in (project / "tests" / "conftest.py").read_text()  # the isolated fixtures

    env = {**proc_env, "PYTHONPATH": fake_install(project, tmp_path / "site")}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "3 passed" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]


def test_db_revision_needs_no_data_dir_and_writes_only_real_changes(run, tmp_path, proc_env):
    run("plugins", "new", "guestbook", "--dir", str(tmp_path))
    project = tmp_path / "musicconnect-guestbook"
    env = {"PYTHONPATH": fake_install(project, tmp_path / "site"), "MC_DATA_DIR": str(tmp_path / "no" / "such" / "dir")}
    out = run("db", "revision", "guestbook", "-m", "nothing", env=env).stdout
    assert out.startswith("no changes: the models of guestbook match its migrations")  # scaffold models = migration
    versions = project / "musicconnect_guestbook" / "migrations"
    assert sorted(p.name for p in versions.glob("*.py")) == ["guestbook_0001_reads.py"]
    assert not (tmp_path / "no").exists()  # no data directory was made

    models = project / "musicconnect_guestbook" / "models.py"
    models.write_text(models.read_text().replace("from sqlalchemy import ForeignKey", "from sqlalchemy import ForeignKey, String")
                      + "    source: Mapped[str | None] = mapped_column(String(40))\n")
    out = run("db", "revision", "guestbook", "-m", "read source", env=env).stdout
    written = versions / "guestbook_0002_read_source.py"
    assert f"wrote {written}" in out and "add_column guestbook_reads source" in out
    text = written.read_text()
    assert "revision = 'guestbook_0002'" in text and "down_revision = 'guestbook_0001'" in text
    assert "add_column(sa.Column('source', sa.String(length=40), nullable=True))" in text

    # the generated history applies to this test's database (SQLite, or PostgreSQL in CI's second pass)
    db_env = {"PYTHONPATH": env["PYTHONPATH"]}
    assert "guestbook: empty -> guestbook_0002" in run("db", "upgrade", env=db_env).stdout
    assert "guestbook: guestbook_0002 (head guestbook_0002, up to date)" in run("db", "current", env=db_env).stdout


def test_db_revision_errors_are_one_line(run, tmp_path):
    assert "no plugin named 'nosuchplugin' is installed" in one_line_error(run("db", "revision", "nosuchplugin", "-m", "x", ok=False))
    assert "core revisions are written by hand" in one_line_error(run("db", "revision", "core", "-m", "x", ok=False))


@pytest.mark.parametrize("name, why", [("Guestbook", "invalid plugin name 'Guestbook'"),
                                       ("my-plugin", "lowercase letters, digits or _"), ("auth", "a word the core uses")])
def test_bad_names_are_one_readable_line(run, tmp_path, name, why):
    (tmp_path / "src").mkdir()
    assert why in one_line_error(run("plugins", "new", name, "--dir", str(tmp_path / "src"), ok=False))
    assert list((tmp_path / "src").iterdir()) == []  # nothing written


def test_an_existing_folder_is_not_overwritten(run, tmp_path):
    (tmp_path / "musicconnect-guestbook").mkdir()
    (tmp_path / "musicconnect-guestbook" / "mine.txt").write_text("keep")
    assert "already exists and is not empty" in one_line_error(run("plugins", "new", "guestbook", "--dir", str(tmp_path), ok=False))
    assert [p.name for p in (tmp_path / "musicconnect-guestbook").iterdir()] == ["mine.txt"]


def test_install_editable_reaches_pip(run, tmp_path):
    line = one_line_error(run("plugins", "install", "--editable", str(tmp_path / "missing"), ok=False), 1)
    assert "pip could not install" in line and "editable" in line.lower()
