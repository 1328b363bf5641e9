"""The privacy page in a real browser (headless Chromium, Playwright) against ``musicconnect
serve`` with the privacy plugin: a listener turns a consent on, requests their data, sees it
made and downloads the ZIP; then deletes the account with their password: signed out, and the
account is gone (signing in fails). axe finds no serious violation on the page."""
from __future__ import annotations

import io
import json
import zipfile

import httpx

from web_helpers import PASSWORD, Console, axe_audit, served, sign_in


def test_privacy_page_export_download_and_erasure(browser, shots, proc_env):
    from helpers import register

    with served(proc_env, "web,privacy") as base:
        with httpx.Client(base_url=base, timeout=30) as c:
            robin = register(c, "robin@example.com", display_name="Robin")
        page = browser.new_page()
        console = Console(page)
        sign_in(page, base, "robin@example.com", "/privacy")
        page.get_by_role("heading", name="Privacy", level=1).wait_for()
        page.get_by_label("news and offers by email").check()
        page.get_by_text("History (2)").wait_for()  # the server recorded it

        page.get_by_role("button", name="Download my data").click()
        page.get_by_role("button", name="Download the ZIP").wait_for(timeout=30000)
        violations = axe_audit(page, "privacy")
        shots(page, "privacy")
        with page.expect_download() as dl:
            page.get_by_role("button", name="Download the ZIP").click()
        data = open(dl.value.path(), "rb").read()
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            consents = json.loads(zf.read("privacy/consents.json"))
        assert manifest["user_id"] == robin["user"]["id"]
        assert [(x["purpose"], x["granted"]) for x in consents] == [("terms", True), ("marketing_email", True)]

        page.get_by_label("Your password").fill("not-my-password")
        page.get_by_role("button", name="Delete my account").click()
        page.get_by_text("password is wrong").wait_for()
        page.get_by_label("Your password").fill(PASSWORD)
        page.get_by_role("button", name="Delete my account").click()
        page.get_by_role("link", name="Sign in").first.wait_for()
        assert page.evaluate("localStorage.getItem('mc.session')") is None
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post("/api/v1/auth/login", json={"email": "robin@example.com", "password": PASSWORD})
            assert r.status_code == 401
        assert violations == [], violations
        # the wrong password is a 403 (wrong-password, not a 401 the app would refresh and send again)
        assert console.unexpected("403", "Forbidden") == [], console.errors
