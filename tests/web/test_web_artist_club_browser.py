"""The artist's fan club screens in a real browser (headless Chromium driven by Playwright,
against a real ``musicconnect serve`` process with the web and fan club plugins): a listener is
refused by /studio/posts and /studio/messages and has no studio menu; the artist sees a blank
title refused next to its field, writes a post for Supporters with an image (the upload's bytes
sent reach 100 %), finds it in their list with the pipeline's thumbnail, edits it and deletes
another; a member sees it in /feed with a lazy image carrying srcset, sizes, width and height; a
fan's message (sent through the API) is in the artist's inbox with the fan's tier, the artist
reads and replies, and the fan reads the reply through the API. axe-core finds no serious or
critical violation on either studio screen. Screenshots under the test's tmp dir (``screenshots/``)."""
from __future__ import annotations

from pathlib import Path

import httpx

from web_helpers import Console, axe_audit, served, sign_in

def _seed(base: str) -> dict:
    """Through the API: the artist (Superfans may send 3 messages a month), a listener, and Sam,
    comped the Superfan tier."""
    from helpers import bearer, register

    with httpx.Client(base_url=base, timeout=30) as c:
        artist = register(c, "nova@example.com", role="artist", artist_name="Nova Lane", display_name="Nova")
        h = bearer(artist["tokens"]["access_token"])
        aid = artist["user"]["artist"]["id"]
        tiers = {t["key"]: t for t in c.get(f"/api/v1/artists/{aid}/tiers").json()}
        r = c.patch(f"/api/v1/artists/{aid}/tiers/{tiers['superfan']['id']}", headers=h, json={"perks": {"direct_messages": 3}})
        assert r.status_code == 200, r.text
        register(c, "robin@example.com", display_name="Robin")
        sam = register(c, "sam@example.com", display_name="Sam")
        r = c.post(f"/api/v1/artists/{aid}/comps", headers=h, json={"email": "sam@example.com", "tier_id": tiers["superfan"]["id"]})
        assert r.status_code == 201, r.text
        r = c.post(f"/api/v1/fanclub/artists/{aid}/posts", headers=h, data={"title": "Typo post", "body": "oops"})
        assert r.status_code == 201, r.text
        return {"artist_id": aid, "artist_h": h, "tiers": tiers, "sam_h": bearer(sam["tokens"]["access_token"]),
                "sam_id": sam["user"]["id"], "typo_id": r.json()["id"]}


def _photo(path: Path) -> Path:
    """A grainy 1800x1200 gradient as PNG (the grain makes it a few MB, so the upload reports
    progress on the way)."""
    from PIL import Image

    w, h = 1800, 1200
    ramp = Image.linear_gradient("L").resize((w, h))
    base = Image.merge("RGB", (ramp, Image.new("L", (w, h), 60), ramp.transpose(Image.FLIP_LEFT_RIGHT)))
    Image.blend(base, Image.effect_noise((w, h), 60).convert("RGB"), 0.3).save(path, "PNG")
    assert path.stat().st_size > 2_000_000
    return path


def test_an_artist_posts_with_an_image_and_answers_a_fan(browser, shots, proc_env, tmp_path):
    with served(proc_env, "web,fanclub") as base:
        seeded = _seed(base)
        aid = seeded["artist_id"]
        photo = _photo(tmp_path / "tour.png")
        page = browser.new_page()
        console = Console(page)

        # a listener: no studio menu, and both screens say they are for artists
        sign_in(page, base, "robin@example.com")
        assert page.get_by_role("navigation", name="Studio").count() == 0
        for path in ("/studio/posts", "/studio/messages"):
            page.goto(f"{base}{path}")
            page.locator(".studio-refused").wait_for()
            assert "The studio is for artists, and Robin is a listener's account" in page.locator(".studio-refused").inner_text()
            assert page.locator("form").count() == 0 and page.locator("#post-title").count() == 0
        shots(page, "01-listener-refused")
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in").wait_for()

        # the artist: Posts and Messages in the studio menu
        sign_in(page, base, "nova@example.com", "/discover")
        studio = page.get_by_role("navigation", name="Studio")
        studio.get_by_role("link", name="Posts").click()
        page.get_by_role("heading", name="Posts", level=1).wait_for()
        assert page.url == f"{base}/studio/posts"
        page.locator("li.post-row", has_text="Typo post").wait_for()
        # a blank title is refused by the server, and the refusal is shown at the title
        page.get_by_label("Title").fill("   ")
        page.get_by_role("button", name="Post", exact=True).click()
        page.locator("#post-title-error").wait_for()
        assert page.locator("#post-title-error").inner_text() == "title is required"
        assert page.get_by_label("Title").get_attribute("aria-invalid") == "true"
        shots(page, "02-refused-at-the-title")

        # a post for Supporters and above, with a photo: the bytes sent reach the body's size
        page.get_by_label("Title").fill("Tour photos")
        page.get_by_label("Text").fill("Leipzig, night one. Thank you!")
        page.get_by_label("Members of a tier and above").check()
        page.locator("#post-tier").select_option(label="Supporter")
        page.get_by_label("Images (up to 10").set_input_files(str(photo))
        page.locator("#post-files").wait_for()
        page.get_by_role("button", name="Post", exact=True).click()
        page.locator("#post-done").wait_for(timeout=60_000)
        sent = page.evaluate("() => { const p = document.getElementById('post-progress'); return [p.value, p.max]; }")
        assert sent[0] == sent[1] and photo.stat().st_size < sent[1] < photo.stat().st_size + 4096, sent
        assert page.locator("#post-progress-text").inner_text().endswith("(100 %)")
        row = page.locator("li.post-row", has_text="Tour photos")
        row.wait_for()
        assert row.locator(".badge").inner_text().startswith("Published")
        assert row.locator(".readers").inner_text() == "Supporter members and above"
        thumb = row.locator(".thumbs img")
        assert thumb.count() == 1 and thumb.get_attribute("loading") == "lazy"
        assert (thumb.get_attribute("width"), thumb.get_attribute("height")) == ("1600", "1067")
        assert " 400w" in thumb.get_attribute("srcset") and " 1600w" in thumb.get_attribute("srcset")
        page.wait_for_function("() => { const i = document.querySelector('.post-row .thumbs img'); return i.complete && i.naturalWidth > 0; }")
        shots(page, "03-posted")
        assert axe_audit(page, "studio posts") == []

        # edit it (the image stays), delete the typo
        row.get_by_role("button", name="Edit Tour photos").click()
        page.locator("form[aria-label='Edit Tour photos'] input[id$='-title']").fill("Tour photos: Leipzig")
        page.locator("form[aria-label='Edit Tour photos']").get_by_role("button", name="Save").click()
        page.locator("li.post-row", has_text="Tour photos: Leipzig").wait_for()
        typo = page.locator("li.post-row", has_text="Typo post")
        typo.get_by_role("button", name="Delete Typo post").click()
        typo.get_by_role("button", name="Yes, delete").click()
        typo.wait_for(state="detached")
        with httpx.Client(base_url=base, timeout=30) as c:
            mine = c.get(f"/api/v1/artists/{aid}/content?kind=post", headers=seeded["artist_h"]).json()
            assert [(p["title"], len(p["extra"]["images"])) for p in mine] == [("Tour photos: Leipzig", 1)]
            assert c.get(f"/api/v1/content/{seeded['typo_id']}", headers=seeded["artist_h"]).status_code == 404
        shots(page, "04-edited")

        # a member: the post in the feed, its image lazy with the pipeline's srcset and sizes
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in").wait_for()
        sign_in(page, base, "sam@example.com", "/feed")
        assert page.get_by_role("navigation", name="Studio").count() == 0
        item = page.locator("li.feed-item", has_text="Tour photos: Leipzig")
        item.wait_for()
        img = item.locator(".post-images img")
        assert img.count() == 1
        attrs = img.evaluate("(i) => ({loading: i.loading, srcset: i.getAttribute('srcset'), sizes: i.getAttribute('sizes'),"
                             " width: i.getAttribute('width'), height: i.getAttribute('height')})")
        assert attrs["loading"] == "lazy" and attrs["sizes"] and (attrs["width"], attrs["height"]) == ("1600", "1067")
        assert [part.rsplit(" ", 1)[1] for part in attrs["srcset"].split(", ")] == ["400w", "1600w"]
        page.wait_for_function("() => { const i = document.querySelector('.feed-item .post-images img'); return i.complete && i.naturalWidth > 0; }")
        shots(page, "05-member-feed")

        # a fan writes (through the API); the artist reads it in the inbox and replies
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post(f"/api/v1/fanclub/artists/{aid}/messages", headers=seeded["sam_h"],
                       json={"body": "Will you play Leipzig again in the autumn?"})
            assert r.status_code == 201, r.text
        page.get_by_role("button", name="Sign out").click()
        page.get_by_role("link", name="Sign in").wait_for()
        sign_in(page, base, "nova@example.com", "/discover")
        page.get_by_role("navigation", name="Studio").get_by_role("link", name="Messages").click()
        page.get_by_role("heading", name="Messages", level=1).wait_for()
        convo = page.get_by_role("navigation", name="Conversations").get_by_role("link", name="Sam")
        convo.wait_for()
        assert "Superfan" in convo.inner_text() and "Waiting for your reply" in convo.inner_text()
        assert page.locator("#inbox-summary").inner_text() == "1 conversation, 1 waiting for your reply."
        convo.click()
        thread = page.get_by_role("list", name="Messages with Sam")
        thread.get_by_text("Will you play Leipzig again in the autumn?").wait_for()
        assert page.url == f"{base}/studio/messages?fan={seeded['sam_id']}"
        page.get_by_label("Reply to Sam").fill("Yes, in October!")
        page.get_by_role("button", name="Send reply").click()
        thread.get_by_text("Yes, in October!").wait_for()
        page.locator("#inbox-summary", has_text="all answered").wait_for()
        assert "Waiting for your reply" not in convo.inner_text()
        shots(page, "06-inbox-replied")
        assert axe_audit(page, "studio messages") == []
        with httpx.Client(base_url=base, timeout=30) as c:
            talk = c.get(f"/api/v1/fanclub/artists/{aid}/messages", headers=seeded["sam_h"]).json()
            assert [(m["sender"], m["body"]) for m in talk] == [
                ("fan", "Will you play Leipzig again in the autumn?"), ("artist", "Yes, in October!")]
        # the refused blank title logged its 422; nothing else went wrong
        assert console.unexpected("422") == [], console.errors
