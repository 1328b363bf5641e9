"""The copyright pages in a real browser (headless Chromium driven by Playwright) against
``musicconnect serve`` with moderation, fanclub and notify: anyone opens /copyright (no account),
sends an empty notice and sees each missing element at its field (focus on the first), then a
complete one naming an artist's post by its address: the post is gone for fans. The artist opens
the take-down notification's link (/copyright/counter?notice=...), reads who complained, sends an
incomplete counter-notice (errors by field) and then a complete one: the page gives the date the
post comes back (10 business days). axe-core finds no serious or critical violation on either page."""
from __future__ import annotations

import httpx

from web_helpers import Console, axe_audit, served, sign_in


def _seed(base: str) -> dict:
    from helpers import bearer, register

    with httpx.Client(base_url=base, timeout=30) as c:
        artist = register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
        headers = bearer(artist["tokens"]["access_token"])
        r = c.post(f"/api/v1/artists/{artist['user']['artist']['id']}/content", headers=headers,
                   json={"kind": "post", "title": "Borrowed Tune", "data": {"body": "la la"}})
        assert r.status_code == 201, r.text
        return {"headers": headers, "post_id": r.json()["id"]}


def test_a_notice_from_anyone_and_the_artists_counter_notice(browser, shots, proc_env):
    with served(proc_env, "web,fanclub,notify,moderation") as base:
        seeded = _seed(base)
        page = browser.new_page()
        console = Console(page)
        page.goto(f"{base}/copyright")
        page.get_by_role("heading", name="Report copyright infringement").wait_for()
        page.get_by_role("button", name="Send notice").click()
        page.locator("#signature-error").wait_for()
        for field, element in [("copyrighted_work", "(ii)"), ("infringing_material", "(iii)"),
                               ("complainant_email", "(iv)"), ("good_faith", "(v)"),
                               ("accurate_under_penalty", "(vi)"), ("signature", "(i)")]:
            assert element in page.locator(f"#{field}-error").inner_text(), field
            assert page.locator(f"#{field}").get_attribute("aria-invalid") == "true"
        assert page.evaluate("document.activeElement.id") == "signature"
        assert page.get_by_role("alert").inner_text() == "9 fields need your attention: see the notes above."
        violations = axe_audit(page, "copyright-errors")
        shots(page, "01-notice-errors")

        page.get_by_label("The copyrighted work").fill("“Original Tune” by Rita Rights (2019)")
        page.get_by_label("The infringing material on this site").fill(f"{base}/content/{seeded['post_id']}")
        page.get_by_label("Your name").fill("Rita Rights")
        page.get_by_label("Your postal address").fill("1 Main St, Springfield, IL 62701")
        page.get_by_label("Your telephone number").fill("+1 555 0100")
        page.get_by_label("Your email address").fill("rita@example.org")
        page.get_by_label("I have a good faith belief").check()
        page.get_by_label("The information in this notice is accurate").check()
        page.get_by_label("Signature: type your full legal name").fill("Rita Rights")
        page.get_by_role("button", name="Send notice").click()
        page.locator("#notice-received").wait_for()
        assert "taken down" in page.locator("#notice-received").inner_text()
        shots(page, "02-notice-received")
        assert httpx.get(f"{base}/api/v1/content/{seeded['post_id']}").status_code == 404

        inbox = httpx.get(f"{base}/api/v1/notify/inbox", headers=seeded["headers"]).json()["items"]
        link = next(n["url"] for n in inbox if n["kind"] == "moderation.dmca.takedown")
        sign_in(page, base, "nova@example.com", next_path="/")
        page.goto(base + link)
        page.get_by_role("heading", name="Copyright notice about your content").wait_for()
        assert "rita@example.org" in page.content() and "Borrowed Tune" in page.content()
        page.get_by_label("Your name").fill("Nova Lane")
        page.get_by_role("button", name="Send counter-notice").click()
        page.locator("#signature-error").wait_for()
        assert "(C)" in page.locator("#good_faith_mistake-error").inner_text()
        assert "(D)" in page.locator("#accept_service-error").inner_text()
        assert page.locator("#name-error").count() == 0
        violations += axe_audit(page, "counter-errors")
        page.get_by_label("Under penalty of perjury").check()
        page.get_by_label("Your address").fill("2 Side St, Portland, OR 97201")
        page.get_by_label("Your telephone number").fill("+1 555 0199")
        page.get_by_label("I consent to the jurisdiction").check()
        page.get_by_label("I will accept service of process").check()
        page.get_by_label("Signature: type your full legal name").fill("Nova Lane")
        page.get_by_role("button", name="Send counter-notice").click()
        page.locator("#counter-status").wait_for()
        assert "comes back on" in page.locator("#counter-status").inner_text()
        shots(page, "03-counter-sent")
        violations += axe_audit(page, "counter-sent")
        assert violations == []
        assert console.unexpected("422", "status of 422") == []
