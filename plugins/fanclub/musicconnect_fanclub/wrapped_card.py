"""The Wrapped card: a 1080×1350 PNG laid out from a Wrapped report (``wrapped.build``).

Pure drawing (Pillow, no I/O but the fonts shipped beside this file): ``render(report, name,
cover)`` returns the PNG and the geometry it drew (every text with the box the layout gave it
and the box its glyphs cover, every section's rectangle), so tests check real geometry.

The layout is a column of sections that exist only when the report has something for them
(header, hero with the art and the minutes, top tracks, then top artists beside support and
milestones, footer). The free height is shared out between the sections, so a short report is
centred rather than left with an empty bottom; a long one is set denser (smaller rows, fewer
lines) until it fits. Text that does not fit its box is cut with an ellipsis.

Type: Inter (SIL Open Font License 1.1, ``fonts/OFL.txt``): Inter Display Bold for the title
and the big numbers, Inter SemiBold for names and headings, Inter Regular for labels and small
print. Pillow's built-in font has no "€" nor accented letters, hence the shipped files.
"""
from __future__ import annotations

import calendar
import hashlib
import io
import threading
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

W, H = 1080, 1350
MARGIN = 72
TOP, BOTTOM = 64, 56
GUTTER = 48
ART = 300  # the cover / generated art square in the hero

FONT_DIR = Path(__file__).parent / "fonts"
FACES = {"regular": "Inter-Regular.otf", "semibold": "Inter-SemiBold.otf", "display": "InterDisplay-Bold.otf"}

BG_TOP, BG_BOTTOM = (20, 14, 44), (62, 24, 84)
GLOW = (255, 110, 140)
ACCENT = (255, 206, 92)
CORAL = (255, 138, 128)
MINT = (140, 230, 180)
TEXT = (255, 255, 255)
MUTED = (206, 200, 232)
FAINT = (160, 150, 200)
RULE = (255, 255, 255, 40)

ELLIPSIS = "…"
Box = tuple[int, int, int, int]


# ---------------------------------------------------------------- words


def plural(n: int | float, one: str, many: str | None = None) -> str:
    """``1 minute``, ``2 minutes``, ``1,234 plays``, ``0.5 minutes``."""
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    shown = f"{n:,}" if isinstance(n, int) else f"{n:,.1f}"
    return f"{shown} {one if n == 1 else (many or one + 's')}"


#: ISO 4217 minor units that are not two decimals (the rest have two)
_EXPONENT = {"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
             "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
             "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3}
_SYMBOL = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "AUD": "A$",
           "CAD": "CA$", "NZD": "NZ$", "BRL": "R$", "MXN": "MX$", "CHF": "CHF "}


def money(amount: int, currency: str) -> str:
    """An amount in minor units as people write it: ``€48.00``, ``¥500``, ``1,234.50 SEK``."""
    cur = (currency or "").upper()
    exp = _EXPONENT.get(cur, 2)
    value = f"{amount / 10 ** exp:,.{exp}f}"
    symbol = _SYMBOL.get(cur)
    return f"{symbol}{value}" if symbol else f"{value} {cur}".strip()


def month_title(month: str) -> str:
    """``2026-06`` -> ``June 2026``."""
    try:
        return f"{calendar.month_name[int(month[5:7])]} {int(month[:4])}"
    except (ValueError, IndexError):
        return month


def _minutes_text(minutes: float) -> str:
    return f"{minutes:,.0f}" if minutes >= 10 else (f"{int(minutes)}" if float(minutes).is_integer() else f"{minutes:.1f}")


MILESTONES = {"first_support": "First support", "plays_100": "100 plays", "member_1y": "One year a member",
              "top10_month": "Top 10 fan"}


def milestone_text(m: dict) -> str:
    label = MILESTONES.get(m.get("milestone") or "", (m.get("milestone") or "Milestone").replace("_", " ").capitalize())
    if m.get("milestone") == "top10_month" and m.get("rank"):
        label = f"No. {m['rank']} fan"
    return f"{label} · {m['artist']}" if m.get("artist") else label


def initials(name: str | None) -> str:
    words = [w for w in (name or "").replace("-", " ").split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "MC"


# ---------------------------------------------------------------- fonts and text

_local = threading.local()  # FreeType faces are not shared between threads


def font(face: str, size: int) -> ImageFont.FreeTypeFont:
    cache = getattr(_local, "fonts", None)
    if cache is None:
        cache = _local.fonts = {}
    f = cache.get((face, size))
    if f is None:
        f = cache[(face, size)] = ImageFont.truetype(str(FONT_DIR / FACES[face]), size)
    return f


def line_height(f: ImageFont.FreeTypeFont) -> int:
    ascent, descent = f.getmetrics()
    return ascent + descent


def _extent(s: str, f: ImageFont.FreeTypeFont) -> tuple[int, int]:
    """Left overhang and the width the text takes from its origin (advance or ink, the larger)."""
    if not s:
        return 0, 0
    x0, _, x1, _ = f.getbbox(s, anchor="ls")
    return min(0, x0), max(x1, int(f.getlength(s) + 0.999))


def fits(s: str, f: ImageFont.FreeTypeFont, width: int) -> bool:
    left, right = _extent(s, f)
    return right - left <= width


def ellipsize(s: str, f: ImageFont.FreeTypeFont, width: int) -> str:
    """``s`` on one line, cut at the last character that leaves room for an ellipsis."""
    s = " ".join((s or "").split())
    if fits(s, f, width):
        return s
    lo, hi = 0, len(s)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(s[:mid].rstrip() + ELLIPSIS, f, width):
            lo = mid
        else:
            hi = mid - 1
    return (s[:lo].rstrip() + ELLIPSIS) if lo else ""


def wrap(s: str, f: ImageFont.FreeTypeFont, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap into at most ``max_lines``; the last line is ellipsised if text remains."""
    words, lines, cur = " ".join((s or "").split()).split(" "), [], ""
    for i, w in enumerate(words):
        trial = f"{cur} {w}".strip()
        if fits(trial, f, width) or not cur:
            cur = trial
            continue
        lines.append(cur)
        cur = w
        if len(lines) == max_lines - 1:
            cur = " ".join(words[i:])
            break
    lines.append(cur)
    return [ellipsize(line, f, width) for line in lines[:max_lines]]


def _cap_overshoot(f: ImageFont.FreeTypeFont) -> int:
    """How far accented capitals (Å, É) rise above the font's ascender, in pixels (0 or more)."""
    return max(0, -f.getbbox("ÅÉÎ", anchor="la")[1])


@dataclass(frozen=True)
class Drawn:
    """One text the card shows: ``box`` is the room the layout gave it, ``bbox`` what its
    glyphs cover (``ImageDraw.textbbox``); a well-laid card has every bbox inside its box."""

    section: str
    text: str
    box: Box
    bbox: Box


@dataclass
class Card:
    png: bytes
    texts: list[Drawn] = field(default_factory=list)
    sections: dict[str, Box] = field(default_factory=dict)
    density: str = ""
    dropped: int = 0  # list rows left out to make the card fit


class _Painter:
    """Draws text into its box (ellipsised) and remembers the geometry. ``draw=False`` only
    measures (the same code lays out and draws, so what was measured is what is drawn)."""

    def __init__(self, im: Image.Image | None):
        self.d = ImageDraw.Draw(im) if im is not None else ImageDraw.Draw(Image.new("RGB", (1, 1)))
        self.live = im is not None
        self.texts: list[Drawn] = []
        self.sections: dict[str, Box] = {}

    def text(self, section: str, x: int, y: int, s: str, f, fill, width: int, align: str = "left") -> Box:
        s = ellipsize(s, f, width)
        left, right = _extent(s, f)
        ascent, descent = f.getmetrics()
        top = y - _cap_overshoot(f)  # the box starts above the ascender by what accented capitals need
        if align == "right":
            box = (x - width, top, x, y + ascent + descent)
            origin = (x - max(0, right - int(f.getlength(s) + 0.999)), y)
            anchor = "ra"
        else:
            box = (x, top, x + width, y + ascent + descent)
            origin, anchor = (x - left, y), "la"
        if self.live and s:
            self.d.text(origin, s, font=f, fill=fill, anchor=anchor)
        bbox = tuple(int(v) for v in self.d.textbbox(origin, s, font=f, anchor=anchor)) if s else (x, y, x, y)
        self.texts.append(Drawn(section, s, box, bbox))
        return bbox

    def section(self, name: str, box: Box) -> None:
        self.sections[name] = tuple(int(v) for v in box)


# ---------------------------------------------------------------- art


def _gradient(size: tuple[int, int], top, bottom, diagonal: bool = True) -> Image.Image:
    w, h = size
    ramp = Image.linear_gradient("L").resize((w, h) if not diagonal else (w + h, w + h))
    if diagonal:
        ramp = ramp.rotate(45, resample=Image.BILINEAR).crop(((w + h - w) // 2, (w + h - h) // 2,
                                                              (w + h + w) // 2, (w + h + h) // 2))
    return Image.composite(Image.new("RGB", (w, h), bottom), Image.new("RGB", (w, h), top), ramp)


def _glow(size: int, strength: float) -> Image.Image:
    """A soft round mask: ``strength`` at the centre, fading to nothing well inside the square."""
    return Image.radial_gradient("L").point(
        lambda v: int(255 * strength * max(0.0, 1 - v / 181) ** 2)).resize((size, size), Image.BILINEAR)


_BACKGROUND: list[Image.Image] = []
_BACKGROUND_LOCK = threading.Lock()


def _background() -> Image.Image:
    """The card's backdrop (drawn once per process; each card draws on a copy)."""
    with _BACKGROUND_LOCK:
        if not _BACKGROUND:
            _BACKGROUND.append(_draw_background())
        return _BACKGROUND[0].copy()


def _draw_background() -> Image.Image:
    im = _gradient((W, H), BG_TOP, BG_BOTTOM)
    im.paste(Image.new("RGB", (1300, 1300), GLOW), (W - 700, -700), _glow(1300, 0.45))
    im.paste(Image.new("RGB", (1100, 1100), (80, 110, 255)), (-600, H - 560), _glow(1100, 0.30))
    return im


def _hue_pair(seed: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    import colorsys

    h = int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) / 0xFFFF
    a = colorsys.hsv_to_rgb(h, 0.62, 0.98)
    b = colorsys.hsv_to_rgb((h + 0.12) % 1, 0.78, 0.55)
    return tuple(int(v * 255) for v in a), tuple(int(v * 255) for v in b)


def _rounded(im: Image.Image, radius: int) -> Image.Image:
    mask = Image.new("L", im.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, im.size[0] - 1, im.size[1] - 1), radius, fill=255)
    im.putalpha(mask)
    return im


def _art(cover: bytes | None, seed: str, label: str, size: int = ART) -> tuple[Image.Image, bool]:
    """The cover (centre-cropped square) or a generated gradient with ``label`` (initials)."""
    if cover:
        try:
            with Image.open(io.BytesIO(cover)) as src:
                if src.width * src.height <= 40_000_000:
                    src.draft("RGB", (size * 2, size * 2))
                    return _rounded(ImageOps.fit(src.convert("RGB"), (size, size), Image.LANCZOS), 28), True
        except Exception:  # noqa: BLE001 - a broken cover falls back to the generated art
            pass
    a, b = _hue_pair(seed) if label else (CORAL, (110, 60, 200))
    im = _gradient((size, size), a, b)
    d = ImageDraw.Draw(im)
    if label:
        f = font("display", int(size * (0.44 if len(label) <= 2 else 0.32)))
        d.text((size // 2, size // 2), label, font=f, fill=(255, 255, 255), anchor="mm")
    else:  # a play symbol, drawn
        d.ellipse((size * 0.22, size * 0.22, size * 0.78, size * 0.78), outline=(255, 255, 255), width=10)
        d.polygon([(size * 0.43, size * 0.36), (size * 0.43, size * 0.64), (size * 0.65, size * 0.5)], fill=(255, 255, 255))
    return _rounded(im.convert("RGB"), 28), False


# ---------------------------------------------------------------- sections

@dataclass(frozen=True)
class Density:
    name: str
    art: int  # the hero's square
    track_rows: int
    artist_rows: int
    milestone_rows: int
    tier_rows: int
    row: int  # list row height
    gap: int  # the least room between sections
    hero_max: int  # the headline number's largest size


DENSITIES = (
    Density("comfortable", 300, 5, 5, 3, 2, 62, 44, 168),
    Density("compact", 260, 5, 5, 2, 1, 56, 36, 140),
    Density("compact", 240, 4, 4, 2, 1, 54, 32, 128),
    Density("tight", 220, 3, 3, 1, 1, 52, 28, 112),
)
CONTENT_W = W - 2 * MARGIN
HEADING = ("semibold", 28)


def _f(key: tuple[str, int]) -> ImageFont.FreeTypeFont:
    return font(*key)


class _Layout:
    """The sections of one report at one density: each has a height and a ``draw``."""

    def __init__(self, report: dict, name: str | None, density: Density):
        self.r, self.name, self.dn = report, name, density
        tracks = [t for t in report.get("top_tracks") or [] if t.get("title")]
        artists = [a for a in report.get("top_artists") or [] if a.get("name")]
        self.tracks, self.artists = tracks[:density.track_rows], artists[:density.artist_rows]
        self.dropped = len(tracks) - len(self.tracks) + len(artists) - len(self.artists)
        self.milestones = list(report.get("milestones") or [])
        support = report.get("support") or {}
        self.paid = [p for p in support.get("paid") or [] if p.get("amount", 0) > 0]
        self.tiers = list(support.get("tiers") or [])
        self.has_support = bool(self.paid or self.tiers)
        self.listened = bool(report.get("minutes") or tracks or artists)
        self.empty = not (self.listened or self.milestones or self.has_support)

    # -- header: eyebrow (and the name), the month
    def header_height(self) -> int:
        return line_height(_f(("semibold", 26))) + 4 + line_height(_f(("display", 88)))

    def draw_header(self, p: _Painter, y: int) -> None:
        eyebrow = "YOUR MONTH IN MUSIC"
        fe = _f(("semibold", 26))
        p.text("header", MARGIN, y, eyebrow, fe, ACCENT, CONTENT_W // 2 - 12)
        if self.name:
            fn = _f(("regular", 28))
            p.text("header", W - MARGIN, y - 1, self.name, fn, MUTED, CONTENT_W // 2 - 12, align="right")
        p.text("header", MARGIN, y + line_height(fe) + 4, month_title(self.r.get("month", "")), _f(("display", 88)),
               TEXT, CONTENT_W)

    # -- hero: the art and the headline
    def hero_height(self) -> int:
        return max(self.dn.art, self._hero_fit()[1])

    def _hero_stat(self) -> tuple[str, str, str | None, int]:
        """(big, label, small, largest size of big); ``label`` empty: ``big`` is a message."""
        if "minutes" in self.r and self.listened:
            m = float(self.r.get("minutes") or 0)
            plays = self.r.get("plays")
            small = plural(int(plays), "play") if isinstance(plays, int) and plays else None
            return _minutes_text(m), "minute listened" if m == 1 else "minutes listened", small, 168
        if self.artists:
            return self.artists[0]["name"], "top artist", plural(int(self.artists[0]["plays"]), "play"), 80
        if self.tracks:
            return self.tracks[0]["title"], "top track", plural(int(self.tracks[0]["plays"]), "play"), 80
        return "Your Wrapped starts with your first play", "", None, 56

    def _hero_fit(self) -> tuple[int, int]:
        """The headline's size and the height of the text block beside the art."""
        big, label, small, size = self._hero_stat()
        width = CONTENT_W - self.dn.art - GUTTER
        if not label:
            return size, len(wrap(big, _f(("display", size)), width, 4)) * line_height(_f(("display", size)))
        sizes = [s for s in (168, 148, 140, 128, 112, 96, 80, 68, 56) if s <= min(size, self.dn.hero_max)]
        size = next((s for s in sizes if fits(big, _f(("display", s)), width)), 56)
        small_h = 6 + line_height(_f(("regular", 30))) if small else 0
        return size, line_height(_f(("display", size))) + line_height(_f(("semibold", 36))) + small_h

    def draw_hero(self, p: _Painter, im: Image.Image | None, y: int, cover: bytes | None) -> None:
        art_w, hero_h = self.dn.art, self.hero_height()
        seed = (self.artists[0]["name"] if self.artists else None) or (self.tracks[0]["title"] if self.tracks else "")
        if im is not None:
            art, _ = _art(cover if (self.tracks and "top_tracks" in self.r) else None,
                          seed or self.r.get("month", ""), initials(seed) if seed else "", art_w)
            im.paste(art, (MARGIN, y + (hero_h - art_w) // 2), art.getchannel("A"))
        x = MARGIN + art_w + GUTTER
        width = W - MARGIN - x
        big, label, small, _ = self._hero_stat()
        size, block = self._hero_fit()
        cy = y + (hero_h - block) // 2
        fb = _f(("display", size))
        if not label:  # a message, wrapped
            for line in wrap(big, fb, width, 4):
                p.text("hero", x, cy, line, fb, TEXT, width)
                cy += line_height(fb)
            return
        fl, fs = _f(("semibold", 36)), _f(("regular", 30))
        p.text("hero", x, cy, big, fb, TEXT, width)
        cy += line_height(fb)
        p.text("hero", x, cy, label, fl, ACCENT, width)
        if small:
            p.text("hero", x, cy + line_height(fl) + 6, small, fs, MUTED, width)

    # -- the friendly card of a month without anything
    def empty_height(self) -> int:
        return ART + 48 + 2 * line_height(_f(("display", 64))) + 20 + 3 * line_height(_f(("regular", 32)))

    def draw_empty(self, p: _Painter, im: Image.Image | None, y: int) -> None:
        if im is not None:
            art, _ = _art(None, self.r.get("month", "") + "-empty", "", ART)
            im.paste(art, ((W - ART) // 2, y), art.getchannel("A"))
        y += ART + 48
        fb, fs, width = _f(("display", 64)), _f(("regular", 32)), CONTENT_W - 40
        for lines, f, colour, gap in (
                (wrap("Your Wrapped starts with your first play", fb, width, 2), fb, TEXT, 20),
                (wrap(f"Listen to a track in {month_title(self.r.get('month', ''))} and this card fills up: "
                      "minutes, top tracks and artists, support and milestones.", fs, width, 3), fs, MUTED, 0)):
            for line in lines:
                lw = _extent(line, f)[1] - _extent(line, f)[0]
                p.text("empty", (W - lw) // 2, y, line, f, colour, lw)  # centred: the box is the line
                y += line_height(f)
            y += gap

    # -- headings and lists
    @staticmethod
    def heading(p: _Painter, section: str, x: int, y: int, s: str, width: int) -> int:
        p.text(section, x, y, s, _f(HEADING), ACCENT, width)
        return line_height(_f(HEADING)) + 12

    @staticmethod
    def heading_height() -> int:
        return line_height(_f(HEADING)) + 12

    def tracks_height(self) -> int:
        return self.heading_height() + len(self.tracks) * self.dn.row if self.tracks else 0

    def draw_tracks(self, p: _Painter, y: int) -> None:
        y += self.heading(p, "top_tracks", MARGIN, y, "Top tracks", CONTENT_W)
        fr, ft, fa, fp = _f(("display", 36)), _f(("semibold", 34)), _f(("regular", 28)), _f(("regular", 28))
        plays_w, rank_w = 200, 60
        name_x, name_w = MARGIN + rank_w, CONTENT_W - rank_w - plays_w - 24
        for i, t in enumerate(self.tracks, 1):
            p.text("top_tracks", MARGIN, y + 1, str(i), fr, ACCENT if i == 1 else FAINT, rank_w - 12)
            title = p.text("top_tracks", name_x, y, t["title"], ft, TEXT, name_w)
            rest = name_x + name_w - (title[2] + 16)
            if t.get("artist") and rest >= 120:
                p.text("top_tracks", title[2] + 16, y + 5, f"· {t['artist']}", fa, MUTED, rest)
            p.text("top_tracks", W - MARGIN, y + 5, plural(int(t["plays"]), "play"), fp, MUTED, plays_w, align="right")
            y += self.dn.row

    def artists_height(self) -> int:
        return self.heading_height() + len(self.artists) * (self.dn.row - 6) if self.artists else 0

    def draw_artists(self, p: _Painter, x: int, y: int, width: int) -> None:
        y += self.heading(p, "top_artists", x, y, "Top artists", width)
        plays_w = 160
        for i, a in enumerate(self.artists, 1):
            p.text("top_artists", x, y + 1, f"{i}", _f(("display", 32)), ACCENT if i == 1 else FAINT, 36)
            p.text("top_artists", x + 44, y, a["name"], _f(("semibold", 32)), TEXT, width - 44 - plays_w - 16)
            p.text("top_artists", x + width, y + 4, plural(int(a["plays"]), "play"), _f(("regular", 26)), MUTED,
                   plays_w, align="right")
            y += self.dn.row - 6

    def support_lines(self, width: int) -> list[tuple[str, tuple[str, int], tuple]]:
        lines: list[tuple[str, tuple[str, int], tuple]] = []
        if self.paid:
            big = ("display", 60 if self.dn.name == "comfortable" else 52)
            amounts = [money(int(x["amount"]), x["currency"]) for x in self.paid]
            n = max([1] + [i for i in range(1, len(amounts) + 1) if fits(" + ".join(amounts[:i]), _f(big), width)])
            lines.append((" + ".join(amounts[:n]), big, CORAL))
            if amounts[n:]:  # other currencies, smaller
                lines.append(("+ " + " + ".join(amounts[n:]), ("semibold", 28), CORAL))
            names = sorted({a for x in self.paid for a in x.get("artists") or []})
            lines.append(("paid to " + (names[0] if len(names) == 1 else plural(len(names), "artist"))
                          if names else "paid in support", ("regular", 28), MUTED))
        for t in self.tiers[:self.dn.tier_rows]:
            lines.append((f"{t.get('tier')} · {t.get('artist')}" if t.get("artist") else str(t.get("tier")),
                          ("semibold", 28), TEXT))
        if len(self.tiers) > self.dn.tier_rows:
            more = len(self.tiers) - self.dn.tier_rows
            lines.append((f"+ {plural(more, 'more membership')}", ("regular", 26), MUTED))
        return lines

    def support_height(self, width: int) -> int:
        if not self.has_support:
            return 0
        return self.heading_height() + sum(line_height(_f(k)) + 4 for _, k, _ in self.support_lines(width))

    def draw_support(self, p: _Painter, x: int, y: int, width: int) -> None:
        y += self.heading(p, "support", x, y, "Support", width)
        for text, key, colour in self.support_lines(width):
            p.text("support", x, y, text, _f(key), colour, width)
            y += line_height(_f(key)) + 4

    def milestone_lines(self) -> list[str]:
        shown = ["★ " + milestone_text(m) for m in self.milestones[:self.dn.milestone_rows]]
        if len(self.milestones) > len(shown):
            shown.append(f"+ {len(self.milestones) - len(shown)} more")
        return shown

    def milestones_height(self, width: int = 0) -> int:
        if not self.milestones:
            return 0
        return self.heading_height() + len(self.milestone_lines()) * (line_height(_f(("semibold", 28))) + 6)

    def draw_milestones(self, p: _Painter, x: int, y: int, width: int) -> None:
        y += self.heading(p, "milestones", x, y, plural(len(self.milestones), "milestone"), width)
        for line in self.milestone_lines():
            more = line.startswith("+")
            p.text("milestones", x, y, line, _f(("regular" if more else "semibold", 28)), MUTED if more else MINT, width)
            y += line_height(_f(("semibold", 28))) + 6

    # -- milestones as one full-width row (when the columns would be too tall with them)
    def strip_items(self, width: int) -> list[str]:
        f, fm, sep = _f(("semibold", 28)), _f(("regular", 28)), 40
        items = ["★ " + milestone_text(m) for m in self.milestones]
        shown: list[str] = []
        x = 0
        for i, item in enumerate(items):
            rest = len(items) - i - 1
            more_w = (_extent(f"+ {rest} more", fm)[1] + sep) if rest else 0
            w = _extent(item, f)[1]
            if x + w + more_w <= width:
                shown.append(item)
                x += w + sep
                continue
            if not shown:  # the first one always shows, cut to the room left
                shown.append(ellipsize(item, f, width - more_w))
            break
        if len(items) > len(shown):
            shown.append(f"+ {len(items) - len(shown)} more")
        return shown

    def strip_height(self) -> int:
        return self.heading_height() + line_height(_f(("semibold", 28))) if self.milestones else 0

    def draw_strip(self, p: _Painter, x: int, y: int, width: int) -> None:
        y += self.heading(p, "milestones", x, y, plural(len(self.milestones), "milestone"), width)
        cx = x
        for item in self.strip_items(width):
            more = item.startswith("+")
            f = _f(("regular" if more else "semibold", 28))
            room = x + width - cx
            box = p.text("milestones", cx, y, item, f, MUTED if more else MINT, min(room, _extent(item, f)[1]))
            cx = box[2] + 40

    # -- the lower band: top artists, support and milestones in one or two balanced columns, the
    # milestones in a column or as a row below them, whichever is shorter
    PART_GAP = 36

    def _part(self, k: str):
        return {"top_artists": (self.artists_height, self.draw_artists),
                "support": (self.support_height, self.draw_support),
                "milestones": (self.milestones_height, self.draw_milestones)}[k]

    def _col_height(self, col: list[str], width: int) -> int:
        hs = [self.artists_height() if k == "top_artists" else self._part(k)[0](width) for k in col]
        return sum(hs) + self.PART_GAP * (len(hs) - 1) if hs else 0

    def _arrangements(self):
        """(columns, column width, milestones as a row below) for each way to set the band."""
        half = (CONTENT_W - GUTTER) // 2
        present = [k for k, there in (("top_artists", self.artists), ("support", self.has_support),
                                      ("milestones", self.milestones)) if there]
        out = []
        for strip in ((False, True) if self.milestones else (False,)):
            parts = [k for k in present if not (strip and k == "milestones")]
            if len(parts) <= 1:
                out.append(([parts] if parts else [], CONTENT_W, strip))
                continue
            for i in range(1, len(parts)):
                out.append(([parts[:i], parts[i:]], half, strip))
            if len(parts) == 3:  # artists beside... the other two, or artists and milestones beside support
                out.append(([[parts[0], parts[2]], [parts[1]]], half, strip))
        return out

    def _band_height(self, arrangement) -> int:
        cols, width, strip = arrangement
        h = max((self._col_height(c, width) for c in cols), default=0)
        if strip:
            h += (self.PART_GAP if cols and h else 0) + self.strip_height()
        return h

    def lower(self):
        return min(self._arrangements(), key=self._band_height) if self._arrangements() else ([], CONTENT_W, False)

    def lower_height(self) -> int:
        return self._band_height(self.lower())

    def draw_lower(self, p: _Painter, y: int) -> None:
        cols, width, strip = self.lower()
        bottom = y
        for i, col in enumerate(cols):
            x, cy = MARGIN + i * (width + GUTTER), y
            for k in col:
                h = self._col_height([k], width)
                self._part(k)[1](p, x, cy, width)
                p.section(k, (x, cy, x + width, cy + h))
                cy += h + self.PART_GAP
                bottom = max(bottom, cy - self.PART_GAP)
        if strip:
            sy = bottom + (self.PART_GAP if cols and bottom > y else 0)
            self.draw_strip(p, MARGIN, sy, CONTENT_W)
            p.section("milestones", (MARGIN, sy, W - MARGIN, sy + self.strip_height()))

    def footer_height(self) -> int:
        return line_height(_f(("regular", 24)))

    def plan(self) -> tuple[list[tuple[str, int]], bool]:
        """The middle sections with their heights, and whether they fit at this density."""
        if self.empty:
            parts = [("empty", self.empty_height())]
        else:
            parts = [("hero", self.hero_height()), ("top_tracks", self.tracks_height()), ("lower", self.lower_height())]
            parts = [(k, h) for k, h in parts if h]
        room = H - TOP - self.header_height() - BOTTOM - self.footer_height()
        return parts, sum(h for _, h in parts) + self.dn.gap * (len(parts) + 1) <= room


def render(report: dict, name: str | None = None, cover: bytes | None = None) -> Card:
    """Lay out and draw the card of ``report`` (as ``wrapped.build`` returns it, or the shared
    part of it), with ``name`` in the header and ``cover`` (image bytes) as the hero's art (used
    only when the report shows the top tracks: the cover is the top track's)."""
    for dn in DENSITIES:  # the first density at which everything fits; else the tightest
        lay = _Layout(report, name, dn)
        parts, ok = lay.plan()
        if ok:
            break
    im = _background()
    p = _Painter(im)
    lay.draw_header(p, TOP)
    top = TOP + lay.header_height()
    p.section("header", (MARGIN, TOP, W - MARGIN, top))
    footer_y = H - BOTTOM - lay.footer_height()
    free = footer_y - top - sum(h for _, h in parts)
    gap = max(0, min(free // (len(parts) + 1), 110))
    y = top + gap + (free - gap * (len(parts) + 1)) // 2
    d = ImageDraw.Draw(im, "RGBA")
    for i, (k, h) in enumerate(parts):
        if i and gap >= 24:  # a hairline between sections
            d.line([(MARGIN, y - gap // 2), (W - MARGIN, y - gap // 2)], fill=RULE, width=2)
        if k == "empty":
            lay.draw_empty(p, im, y)
        elif k == "hero":
            lay.draw_hero(p, im, y, cover)
        elif k == "top_tracks":
            lay.draw_tracks(p, y)
        else:
            lay.draw_lower(p, y)
        if k != "lower":
            p.section(k, (MARGIN, y, W - MARGIN, y + h))
        y += h + gap
    fs = font("regular", 24)
    p.text("footer", MARGIN, footer_y, "MusicConnect Wrapped", fs, FAINT, CONTENT_W // 2)
    p.text("footer", W - MARGIN, footer_y, month_title(report.get("month", "")), fs, FAINT, CONTENT_W // 2,
           align="right")
    p.section("footer", (MARGIN, footer_y, W - MARGIN, footer_y + lay.footer_height()))
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=6)  # optimize=True: 10 % smaller, 5 to 20 times slower
    return Card(buf.getvalue(), p.texts, p.sections, lay.dn.name, lay.dropped)
