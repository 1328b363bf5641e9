"""The square post image (owner: posts): 1080x1080 PNG from the track's cover and waveform.

The streaming plugin stores a ready track's files under ``tracks/<id>/v<version>/`` (the
version is ``content_items.data["version"]``): ``cover_1200.jpg`` / ``cover_600.jpg`` /
``cover_300.jpg`` (square JPEG covers) and ``waveform.json`` (``{"peaks": [0..1, ...]}``). They
are read through the core storage API (``platform.storage``), never through the plugin; a missing
cover gets a generated gradient (colours derived from the track id, so the same track always gets
the same background), a missing waveform a flat line.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re

from PIL import Image, ImageDraw, ImageFilter, ImageFont

log = logging.getLogger("musicconnect.ai")

SIZE = 1080
COVERS = ("cover_1200.jpg", "cover_600.jpg", "cover_300.jpg")
MAX_COVER_BYTES = 20 * 1024 * 1024


def _version_prefix(platform, content_id, data: dict | None) -> str | None:
    version = (data or {}).get("version")
    if isinstance(version, int) and version > 0:
        return f"tracks/{content_id}/v{version}"
    best = None
    try:  # no version recorded: the newest version folder that exists
        for key in platform.storage.list(f"tracks/{content_id}/"):
            m = re.match(rf"tracks/{content_id}/v(\d+)/", key)
            if m and (best is None or int(m.group(1)) > best):
                best = int(m.group(1))
    except Exception:
        return None
    return f"tracks/{content_id}/v{best}" if best else None


def _get(platform, key: str) -> bytes | None:
    try:
        if not platform.storage.exists(key):
            return None
        return platform.storage.get_bytes(key)
    except Exception:
        log.warning("ai post image: could not read %s", key)
        return None


def read_cover(platform, content_id, data) -> Image.Image | None:
    base = _version_prefix(platform, content_id, data) if content_id else None
    if base is None:
        return None
    for name in COVERS:
        raw = _get(platform, f"{base}/{name}")
        if raw and len(raw) <= MAX_COVER_BYTES:
            try:
                with Image.open(io.BytesIO(raw)) as im:
                    if im.width * im.height > 4096 * 4096:
                        continue
                    return im.convert("RGB")
            except Exception:
                log.warning("ai post image: %s/%s is not an image", base, name)
    return None


def read_peaks(platform, content_id, data) -> list[float]:
    base = _version_prefix(platform, content_id, data) if content_id else None
    raw = _get(platform, f"{base}/waveform.json") if base else None
    if not raw:
        return []
    try:
        peaks = json.loads(raw).get("peaks") or []
        return [min(1.0, max(0.0, float(p))) for p in peaks[:5000]]
    except Exception:
        return []


def _palette(seed: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    h = hashlib.sha256(seed.encode()).digest()
    a = (40 + h[0] % 120, 20 + h[1] % 100, 60 + h[2] % 150)
    b = (h[3] % 90, 30 + h[4] % 120, 80 + h[5] % 170)
    return a, b


def background(seed: str) -> Image.Image:
    """A diagonal gradient in two colours derived from ``seed``."""
    a, b = _palette(seed)
    small = Image.new("RGB", (2, 2))
    small.putdata([a, tuple((x + y) // 2 for x, y in zip(a, b)), tuple((x + y) // 2 for x, y in zip(a, b)), b])
    return small.resize((SIZE, SIZE), Image.BILINEAR)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the bitmap font, one size
        return ImageFont.load_default()


def _bucket(peaks: list[float], n: int) -> list[float]:
    if not peaks:
        return [0.04] * n
    out = []
    for i in range(n):
        chunk = peaks[int(i * len(peaks) / n): max(int((i + 1) * len(peaks) / n), int(i * len(peaks) / n) + 1)]
        out.append(max(chunk) if chunk else 0.0)
    top = max(out) or 1.0
    return [max(0.04, v / top) for v in out]


def _clip(draw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def render(*, cover: Image.Image | None, peaks: list[float], seed: str, headline: str, title: str,
           subtitle: str) -> bytes:
    """The 1080x1080 PNG: the cover (or a generated background), a dark band at the bottom with
    the waveform and the words."""
    if cover is not None:
        side = min(cover.size)
        left, top = (cover.width - side) // 2, (cover.height - side) // 2
        img = cover.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.LANCZOS)
    else:
        img = background(seed)
    band_top = 640
    band = img.crop((0, band_top, SIZE, SIZE)).filter(ImageFilter.GaussianBlur(18))
    shade = Image.new("RGB", band.size, (0, 0, 0))
    img.paste(Image.blend(band, shade, 0.55), (0, band_top))
    draw = ImageDraw.Draw(img)
    # the waveform: mirrored bars across the band
    bars, margin, mid, amp = 120, 60, band_top + 130, 90
    step = (SIZE - 2 * margin) / bars
    for i, v in enumerate(_bucket(peaks, bars)):
        x = margin + i * step
        h = max(2, v * amp)
        draw.rectangle((x + 1, mid - h, x + step - 2, mid + h), fill=(255, 255, 255))
    big, mid_font, small = _font(56), _font(40), _font(32)
    width = SIZE - 2 * margin
    draw.text((margin, 270 + band_top - 10), _clip(draw, headline.upper(), small, width), font=small,
              fill=(255, 214, 102))
    draw.text((margin, 310 + band_top - 10), _clip(draw, title, big, width), font=big, fill=(255, 255, 255))
    draw.text((margin, 375 + band_top - 10), _clip(draw, subtitle, mid_font, width), font=mid_font,
              fill=(220, 220, 220))
    out = io.BytesIO()
    img.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()
