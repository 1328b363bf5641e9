"""Review: ``musicconnect analytics rebuild`` / ``status`` answer a database failure with one
readable line and a non-zero exit, never a traceback."""
from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from musicconnect_analytics import rollups
from musicconnect_analytics.cli import make_app


@pytest.mark.parametrize("message,expected", [
    ("no such table: analytics_rollups", "error: the analytics tables do not exist yet: run `musicconnect db upgrade`"),
    ("database is locked", "error: the database failed: database is locked"),
])
@pytest.mark.parametrize("command,function", [("rebuild", "rebuild"), ("status", "freshness")])
def test_a_database_failure_is_one_line_and_exit_1(mc_platform, monkeypatch, message, expected, command, function):
    def broken(*a, **kw):
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError(message))

    monkeypatch.setattr(rollups, function, broken)
    r = CliRunner().invoke(make_app(mc_platform), [command])
    assert r.exit_code == 1
    assert not isinstance(r.exception, OperationalError), r.exception  # no traceback
    assert r.output.strip().splitlines() == [expected + (" first" if "upgrade" in expected else "")]
