"""The Wrapped card's layout: cards for an empty, a typical and a heavy listener (synthetic
reports fed to the renderer, and end to end through the HTTP routes), checked on the geometry
the layout reports: every text inside its box and the card, sections apart, the card filled."""
from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image, ImageChops

from musicconnect_fanclub import wrapped, wrapped_card
from musicconnect_fanclub.wrapped_card import H, W, money, plural, render

LONG = "An Extraordinarily Long Track Title That Goes On (Extended Director's Cut Remix feat. Everybody)"


def empty_report() -> dict:
    return {"month": "2026-06", "minutes": 0, "plays": 0, "top_artists": [], "top_tracks": [],
            "support": {"tiers": [], "paid": []}, "milestones": []}


def typical_report() -> dict:
    return {
        "month": "2026-06", "minutes": 187.5, "plays": 41,
        "top_artists": [{"artist_id": "a1", "name": "Nova Quartet", "plays": 29},
                        {"artist_id": "a2", "name": "Club", "plays": 12}],
        "top_tracks": [{"content_id": "t1", "title": "Night Drive", "artist": "Nova Quartet", "plays": 14},
                       {"content_id": "t2", "title": "Garage Demo", "artist": "Club", "plays": 9},
                       {"content_id": "t3", "title": "Slow Lights", "artist": "Nova Quartet", "plays": 1}],
        "support": {"tiers": [{"artist": "Nova Quartet", "tier": "Superfan", "source": "sandbox"}],
                    "paid": [{"currency": "EUR", "amount": 4800, "artists": ["Nova Quartet"]}]},
        "milestones": [{"milestone": "first_support", "artist_id": "a1", "artist": "Nova Quartet",
                        "at": "2026-06-03T10:00:00+00:00"}],
    }


def heavy_report() -> dict:
    artists = [f"{n} {LONG}" if i == 0 else n for i, n in
               enumerate(["Björk Åström & the Øresund Ensemble", "Nova Quartet", "Club", "Zoë Müller", "W" * 80])]
    return {
        "month": "2026-12", "minutes": 123456.7, "plays": 98765,
        "top_artists": [{"artist_id": f"a{i}", "name": n, "plays": 9000 - i} for i, n in enumerate(artists)],
        "top_tracks": [{"content_id": f"t{i}", "title": (LONG if i % 2 == 0 else f"Track {i} — Ça va, Señor?"),
                        "artist": artists[i], "plays": 99999 - i} for i in range(5)],
        "support": {"tiers": [{"artist": a, "tier": "Superfan Platinum Lifetime Member", "source": "stripe"}
                              for a in artists[:4]],
                    "paid": [{"currency": "EUR", "amount": 1234567, "artists": artists[:3]},
                             {"currency": "USD", "amount": 99900, "artists": artists[3:4]},
                             {"currency": "JPY", "amount": 50000, "artists": artists[4:]}]},
        "milestones": [{"milestone": k, "artist_id": "a0", "artist": artists[i % 5], "rank": 1}
                       for i, k in enumerate(["first_support", "plays_100", "member_1y", "top10_month"] * 5)],
    }


REPORTS = {"empty": empty_report, "typical": typical_report, "heavy": heavy_report}


def drawn_mask(im: Image.Image, box) -> Image.Image:
    """255 where the card was drawn onto (text, art, rules), 0 where the plain background shows."""
    bg = wrapped_card._background().crop(box).convert("RGB")
    r, g, b = ImageChops.difference(im.convert("RGB").crop(box), bg).split()
    return ImageChops.lighter(ImageChops.lighter(r, g), b).point(lambda v: 255 if v > 24 else 0)


def non_background(im: Image.Image, box) -> int:
    return drawn_mask(im, box).histogram()[255]


def largest_empty_band(im: Image.Image, top: int, bottom: int) -> int:
    """The tallest run of rows between ``top`` and ``bottom`` with (almost) nothing drawn."""
    mask = drawn_mask(im, (0, top, W, bottom))
    rows = mask.resize((1, bottom - top), Image.BOX).getchannel(0).tobytes()  # mean per row, 0-255
    run = best = 0
    for v in rows:
        run = run + 1 if v * W / 255 < 8 else 0  # fewer than ~8 drawn pixels: an empty row
        best = max(best, run)
    return best


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def check_geometry(card) -> None:
    assert card.texts, "nothing drawn"
    for t in card.texts:
        x0, y0, x1, y1 = t.bbox
        bx0, by0, bx1, by1 = t.box
        assert bx0 <= x0 and x1 <= bx1 and by0 <= y0 and y1 <= by1, f"{t.text!r} overflows its box: {t.bbox} > {t.box}"
        assert 0 <= x0 and x1 <= W and 0 <= y0 and y1 <= H, f"{t.text!r} leaves the card: {t.bbox}"
        assert bx0 >= wrapped_card.MARGIN - 1 and bx1 <= W - wrapped_card.MARGIN + 1, f"{t.text!r} in the margin"
    names = sorted(card.sections)
    for i, a in enumerate(names):
        box = card.sections[a]
        assert 0 <= box[0] < box[2] <= W and 0 <= box[1] < box[3] <= H, (a, box)
        for b in names[i + 1:]:
            assert not overlap(box, card.sections[b]), f"sections {a} {box} and {b} {card.sections[b]} overlap"
    for t in card.texts:  # every text lies in its own section's rectangle
        sx0, sy0, sx1, sy1 = card.sections[t.section]
        assert sx0 <= t.bbox[0] and t.bbox[2] <= sx1 and sy0 <= t.bbox[1] and t.bbox[3] <= sy1, (t, card.sections[t.section])
    for i, a in enumerate(card.texts):  # and no two texts collide
        for b in card.texts[i + 1:]:
            assert not overlap(a.bbox, b.bbox), f"{a.text!r} {a.bbox} collides with {b.text!r} {b.bbox}"


@pytest.mark.parametrize("kind", list(REPORTS))
def test_cards_keep_text_in_its_boxes(kind):
    card = render(REPORTS[kind](), "Alex Fan" if kind != "heavy" else "Maximilian Alexander " * 6)
    check_geometry(card)
    with Image.open(io.BytesIO(card.png)) as im:
        assert im.size == (W, H) and im.format == "PNG"
        bottom = non_background(im, (0, int(H * 0.6), W, H - 100))  # the bottom 40 % above the footer
        gap = largest_empty_band(im, int(H * 0.6), H - 100)
    texts = [t.text for t in card.texts]
    if kind == "empty":
        assert "Your Wrapped starts with your first play" in " ".join(texts)
        assert not any(t.startswith("0 ") or t == "0" for t in texts), texts  # no zeros
    if kind == "typical":
        assert bottom > 25_000 and gap < 110, (bottom, gap)  # the bottom of the card is used, with no hole
        assert {"€48.00", "paid to Nova Quartet", "1 milestone", "188", "minutes listened", "14 plays",
                "1 play", "Night Drive", "★ First support · Nova Quartet"} <= set(texts), texts
        assert card.density == "comfortable" and card.dropped == 0
        assert not any("(" in t or "(s)" in t for t in texts)
    if kind == "heavy":
        assert any(t.endswith("…") for t in texts)  # long names are cut, not spilled
        assert "20 milestones" in texts and "€12,345.67 + $999.00 + ¥50,000" in " ".join(texts) or \
            any(t.startswith("€12,345.67") for t in texts)
        ranks = [t.text for t in card.texts if t.section == "top_tracks" and t.text.isdigit()]
        assert ranks and ranks == [str(i) for i in range(1, len(ranks) + 1)]


def test_long_names_are_ellipsised_to_their_box():
    card = render(heavy_report(), None)
    cut = [t for t in card.texts if t.text.endswith("…")]
    assert cut
    for t in cut:
        assert t.bbox[2] <= t.box[2]
        assert t.box[2] - t.bbox[2] < 60, "cut much earlier than needed"


def test_words():
    assert plural(1, "minute") == "1 minute" and plural(3, "milestone") == "3 milestones"
    assert plural(1.0, "minute") == "1 minute" and plural(0.5, "minute") == "0.5 minutes"
    assert plural(12345, "play") == "12,345 plays"
    assert money(4800, "EUR") == "€48.00" and money(500, "JPY") == "¥500" and money(123456, "sek") == "1,234.56 SEK"
    assert money(1500, "KWD") == "1.500 KWD" and money(99, "USD") == "$0.99"


def test_cover_art_is_drawn():
    """A cover replaces the generated art in the hero: its pixels are on the card."""
    cover = io.BytesIO()
    Image.new("RGB", (640, 480), (0, 200, 0)).save(cover, "PNG")
    card = render(typical_report(), None, cover.getvalue())
    hero = card.sections["hero"]
    with Image.open(io.BytesIO(card.png)) as im:
        px = im.convert("RGB").getpixel((hero[0] + wrapped_card.ART // 2, hero[1] + wrapped_card.ART // 2))
    assert px == (0, 200, 0)
    plain = render(typical_report(), None, b"not an image")  # a broken cover: the generated art
    with Image.open(io.BytesIO(plain.png)) as im:
        assert im.convert("RGB").getpixel((hero[0] + wrapped_card.ART // 2, hero[1] + 20)) != (0, 200, 0)


# ---------------------------------------------------------------- end to end


def listen(p, fan, artist, title, sessions, seconds):
    with p.session() as s:
        item = p.content.create(s, artist_id=artist.artist_id, kind="post", title=title, status="ready")
        for _ in range(sessions):
            sid = str(uuid.uuid4())
            p.emit(s, "play.counted", actor_id=fan.id, artist_id=artist.artist_id, subject=("content", item.id),
                   data={"session_id": sid, "seconds": 30})
            p.emit(s, "play.completed", actor_id=fan.id, artist_id=artist.artist_id, subject=("content", item.id),
                   data={"session_id": sid, "seconds": seconds})
    return item


def test_card_end_to_end(env, monkeypatch):
    """Through the routes: an empty month's card is the friendly one; a listener's names the
    support paid (from ``payment.succeeded``, less refunds) and labels every count."""
    client, p, artist, fan, tiers = env
    seen = []
    real = wrapped_card.render
    monkeypatch.setattr(wrapped_card, "render", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    wrapped.CARDS.clear()
    r = client.get("/api/v1/fanclub/me/wrapped/2026-06.png", headers=fan.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    check_geometry(seen[-1])
    assert "empty" in seen[-1].sections

    listen(p, fan, artist, "Night Drive", 3, 180)
    listen(p, fan, artist, "Garage Demo", 1, 60)
    with p.session() as s:
        for ext, amount in (("in_1", 1200), ("in_2", 3600)):
            p.payments.record_payment(s, provider="sandbox", external_id=ext, user_id=fan.id,
                                      artist_id=artist.artist_id, amount=amount, currency="EUR")
    report = client.get("/api/v1/fanclub/me/wrapped/2026-06", headers=fan.headers).json()
    assert report["plays"] == 4
    assert report["support"]["paid"] == [{"currency": "EUR", "amount": 4800, "formatted": "€48.00", "artists": ["Club"]}]
    assert [t["artist"] for t in report["top_tracks"]] == ["Club", "Club"]
    r = client.get("/api/v1/fanclub/me/wrapped/2026-06.png", headers=fan.headers)
    assert r.status_code == 200
    card = seen[-1]
    check_geometry(card)
    texts = {t.text for t in card.texts}
    assert {"€48.00", "paid to Club", "3 plays", "1 play", "Night Drive", "10", "minutes listened"} <= texts, texts
    with Image.open(io.BytesIO(r.content)) as im:
        assert im.size == (W, H)
        assert non_background(im, (0, int(H * 0.6), W, H - 100)) > 15_000
        assert largest_empty_band(im, 230, H - 100) < 130
    # a second request with the same data is served from the cache, not drawn again
    n = len(seen)
    assert client.get("/api/v1/fanclub/me/wrapped/2026-06.png", headers=fan.headers).content == r.content
    assert len(seen) == n


def test_shared_card_shows_only_what_is_shared(env, monkeypatch):
    client, p, artist, fan, tiers = env
    seen = []
    real = wrapped_card.render
    monkeypatch.setattr(wrapped_card, "render", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    wrapped.CARDS.clear()
    listen(p, fan, artist, "Secret Song", 2, 200)
    with p.session() as s:
        p.payments.record_payment(s, provider="sandbox", external_id="in_9", user_id=fan.id,
                                  artist_id=artist.artist_id, amount=900, currency="USD")
    share = client.post("/api/v1/fanclub/me/wrapped/2026-06/shares", headers=fan.headers,
                        json={"sections": ["minutes", "top_artists"]}).json()
    assert client.get(share["image"]).status_code == 200
    card = seen[-1]
    check_geometry(card)
    texts = " ".join(t.text for t in card.texts)
    assert "Club" in texts and "Secret Song" not in texts and "$9.00" not in texts
    assert "top_tracks" not in card.sections and "support" not in card.sections


def test_card_shows_the_top_tracks_cover(mc_make_platform, monkeypatch):
    """A track whose serialization carries signed cover links (as the streaming plugin's does):
    the card reads the stored cover behind the link and draws it; a share without the top
    tracks keeps the generated art (the cover would reveal the track)."""
    from types import SimpleNamespace

    from starlette.testclient import TestClient

    import musicconnect_fanclub.plugin as fanclub
    from musicconnect import hookimpl
    from musicconnect.app import create_app
    from musicconnect.testing import make_user

    covered: dict[str, str] = {}

    @hookimpl
    def serialize_content(platform, item, viewer):
        key = covered.get(str(item.id))
        if key is None:
            return None
        within = key.rsplit("/", 1)[0]
        return {"covers_test": {"covers": {"300": platform.storage.signed_url(key, 60, within=within),
                                           "600": platform.storage.signed_url(key, 60, within=within)}}}

    p = mc_make_platform(extra_plugins=[("fanclub", fanclub), ("covers_test", SimpleNamespace(
        serialize_content=serialize_content))], entry_points=False)
    artist = make_user(p, "artist", artist_name="Nova")
    fan = make_user(p, "fan")
    item = listen(p, fan, artist, "Green Room", 2, 200)
    key = f"tracks/{item.id}/v1/cover-600.png"
    buf = io.BytesIO()
    Image.new("RGB", (600, 600), (0, 200, 0)).save(buf, "PNG")
    if p.storage.backend == "s3":  # the platform creates its bucket when it starts; this one has not yet
        p.storage.ensure_bucket()
    p.storage.put_bytes(key, buf.getvalue(), "image/png")
    covered[str(item.id)] = key
    seen = []
    real = wrapped_card.render
    monkeypatch.setattr(wrapped_card, "render", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    wrapped.CARDS.clear()

    def art_pixel(card):
        x0, y0, _, y1 = card.sections["hero"]
        with Image.open(io.BytesIO(card.png)) as im:
            return im.convert("RGB").getpixel((x0 + 40, (y0 + y1) // 2))

    with TestClient(create_app(p)) as client:
        assert client.get("/api/v1/fanclub/me/wrapped/2026-06.png", headers=fan.headers).status_code == 200
        assert art_pixel(seen[-1]) == (0, 200, 0)
        check_geometry(seen[-1])
        for sections, green in ((["minutes", "top_artists"], False), (["minutes", "top_tracks"], True)):
            share = client.post("/api/v1/fanclub/me/wrapped/2026-06/shares", headers=fan.headers,
                                json={"sections": sections}).json()
            assert client.get(share["image"]).status_code == 200
            assert (art_pixel(seen[-1]) == (0, 200, 0)) is green, sections
        # the cover goes away from the store: the card falls back to the generated art
        p.storage.delete(key)
        wrapped.CARDS.clear()
        assert client.get("/api/v1/fanclub/me/wrapped/2026-06.png", headers=fan.headers).status_code == 200
        assert art_pixel(seen[-1]) != (0, 200, 0)
