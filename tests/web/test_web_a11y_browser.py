"""Accessibility audits in a real browser: axe-core (vendored for the tests only:
``tests/web/vendor/axe-4.14.1.min.js``, MPL-2.0, ``LICENSE.axe-core``; fetched with ``npm pack
axe-core@4.14.1``) is injected into the main screens of the app served by ``musicconnect serve``
(web, streaming, billing with the sandbox, fan club, notify) and each screen must have no
``serious`` or ``critical`` violation: discover, an artist's page, the player, the membership
page, the inbox, the studio's upload and the tiers editor."""
from __future__ import annotations

import json
from pathlib import Path

import httpx

from web_helpers import Console, sign_in

AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"


def _audit(page, name: str) -> list[dict]:
    """axe's serious and critical violations of the page as it is now (WCAG 2.x A and AA rules)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    out = page.evaluate("""async () => {
      const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
                                         resultTypes: ["violations"]});
      return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary)}));
    }""")
    return [{"screen": name, **v} for v in out]


def test_main_screens_have_no_serious_or_critical_axe_violations(browser, shots, proc_env, tmp_path):
    from helpers import bearer, free_port, register, serve_process, wait_ready
    from test_web_membership_browser import _seed

    assert AXE.stat().st_size > 100_000 and (AXE.parent / "LICENSE.axe-core").exists()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**proc_env, "MC_PLUGINS": "web,streaming,billing,fanclub,notify", "MC_BASE_URL": base,
           "MC_BILLING_SANDBOX": "true"}
    proc = serve_process(env, port)
    try:
        wait_ready(proc, base)
        seeded = _seed(base, tmp_path)
        with httpx.Client(base_url=base, timeout=30) as c:
            register(c, "robin@example.com", display_name="Robin")
            token = c.post("/api/v1/auth/login", json={"email": "nova@example.com", "password": "a-long-passphrase"}).json()["access_token"]
            r = c.post(f"/api/v1/artists/{seeded['artist_id']}/comps", headers=bearer(token),
                       json={"email": "robin@example.com", "tier_id": seeded["tiers"]["supporter"]["id"]})
            assert r.status_code in (200, 201), r.text

        page = browser.new_page()
        console = Console(page)
        found: list[dict] = []

        page.goto(f"{base}/")
        page.get_by_role("link", name="Nova Lane").first.wait_for()
        found += _audit(page, "discover")
        page.goto(f"{base}/artists/nova-lane")
        page.get_by_role("heading", name="Nova Lane", level=1).wait_for()
        page.get_by_text("Backstage Demo").first.wait_for()
        found += _audit(page, "artist")

        sign_in(page, base, "robin@example.com", f"/tracks/{seeded['track_id']}")
        page.get_by_role("button", name="Play").wait_for()
        found += _audit(page, "player")
        shots(page, "player")
        page.goto(f"{base}/membership")
        page.get_by_role("heading", level=1).first.wait_for()
        page.wait_for_load_state("networkidle")
        found += _audit(page, "membership")
        page.goto(f"{base}/inbox")
        page.get_by_role("heading", name="Inbox", level=1).wait_for()
        page.get_by_role("button", name="Save preferences").wait_for()
        found += _audit(page, "inbox")
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in").wait_for()

        sign_in(page, base, "nova@example.com", "/studio/upload")
        page.get_by_role("heading", name="Upload a track").wait_for()
        found += _audit(page, "studio upload")
        page.goto(f"{base}/studio/tiers")
        page.locator('form[data-tier="supporter"]').wait_for()
        found += _audit(page, "studio tiers")

        assert found == [], json.dumps(found, indent=1)
        assert console.unexpected("403", "401") == [], console.errors
    finally:
        proc.terminate()
        proc.wait(10)
