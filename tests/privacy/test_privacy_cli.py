"""``musicconnect gdpr export|erase``."""
from __future__ import annotations

import json
import zipfile

from typer.testing import CliRunner


def test_privacy_cli_export_and_erase(mc_platform, mc_users, tmp_path):
    from musicconnect.models import User
    from musicconnect_privacy.cli import make_app

    app = make_app(mc_platform)
    assert app.info.name == "gdpr"
    runner = CliRunner()
    fan = mc_users.fan
    out = tmp_path / "mine.zip"
    r = runner.invoke(app, ["export", fan.email.upper(), "--out", str(out)])
    assert r.exit_code == 0, r.output
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["user_id"] == str(fan.id)
        assert json.loads(zf.read("privacy/consents.json"))[0]["purpose"] == "terms"

    unknown = runner.invoke(app, ["export", "nobody@example.com"])
    assert unknown.exit_code == 1 and "no account with the email nobody@example.com" in unknown.output
    assert "Traceback" not in unknown.output

    refused = runner.invoke(app, ["erase", fan.email])
    assert refused.exit_code == 1 and "--yes" in refused.output
    with mc_platform.read() as s:
        assert s.get(User, fan.id) is not None

    done = runner.invoke(app, ["erase", fan.email, "--yes"])
    assert done.exit_code == 0 and "receipt" in done.output
    with mc_platform.read() as s:
        assert s.get(User, fan.id) is None
    again = runner.invoke(app, ["erase", fan.email, "--yes"])
    assert again.exit_code == 1 and "no account" in again.output
