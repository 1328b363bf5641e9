"""Post images, made safe to accept: a decompression bomb (a few KB that decode to gigabytes)
is refused from its header before a pixel is decoded, big photos are decoded at reduced size
where the format allows it and converted only once small, and the decoding work of a process is
bounded by a pixel budget, so N uploads at once cannot take N times the memory.

``inspect(data)`` reads the header only (Pillow's ``Image.open`` does not decode); ``renditions``
decodes, under the budget."""
from __future__ import annotations

import io
from contextlib import contextmanager

from musicconnect import Budget, Problem

#: refused above this, from the header (a 40 MP image decodes to 160 MB as RGBA)
MAX_PIXELS = 40_000_000
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")
#: decoded pixels this process works on at once (one image at the cap, or several photos)
BUDGET_PIXELS = 48_000_000
WAIT_SECONDS = 30.0


def _busy() -> Problem:
    return Problem(503, "busy", "the server is processing other images; try again shortly", headers={"Retry-After": "5"})


BUDGET = Budget(BUDGET_PIXELS)  # decoded pixels in flight in this process


def _too_large(w: int, h: int) -> Problem:
    return Problem(413, "image-too-large",
                   f"images are limited to {MAX_PIXELS // 1_000_000} megapixels (this one is {w}x{h})")


@contextmanager
def _opened(data: bytes):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:  # reads the header only
            if im.format not in FORMATS:
                raise Problem(415, "unsupported-image", "images must be JPEG, PNG, WebP or GIF")
            if im.width * im.height > MAX_PIXELS:
                raise _too_large(im.width, im.height)
            yield im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # past Pillow's own limit
        raise Problem(413, "image-too-large", f"images are limited to {MAX_PIXELS // 1_000_000} megapixels") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise Problem(415, "unsupported-image", "one of the files is not an image") from None


def inspect(data: bytes) -> tuple[str, int, int]:
    """Format, width and height from the header; ``413 image-too-large`` / ``415`` otherwise."""
    with _opened(data) as im:
        return im.format, im.width, im.height


def renditions(data: bytes, sizes) -> list[tuple[str, bytes, int, int]]:
    """JPEG renditions ``(name, bytes, width, height)`` bounded by each ``(name, edge)``, upright
    (EXIF orientation applied)."""
    from PIL import Image, ImageOps

    largest = max(edge for _, edge in sizes)
    with _opened(data) as im:
        if im.format == "JPEG":
            im.draft("RGB", (largest, largest))  # decode at 1/2, 1/4 or 1/8 scale, still >= largest
        with BUDGET.take(im.width * im.height, WAIT_SECONDS, _busy):
            try:
                im.load()
            except (OSError, ValueError, SyntaxError, EOFError):
                raise Problem(415, "unsupported-image", "one of the files is not a readable image") from None
            if im.mode == "1":
                im = im.convert("L")  # the same memory; resampling "1" would be nearest-neighbour
            elif im.mode == "P":
                if max(im.size) > 2 * largest:  # shrink the palette image cheaply before expanding it
                    im.thumbnail((2 * largest, 2 * largest), Image.NEAREST)
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):
                im = im.convert("RGB")
            im.thumbnail((largest, largest), Image.LANCZOS, reducing_gap=3.0)
            im = ImageOps.exif_transpose(im).convert("RGB")  # converted once small
            out = []
            for name, edge in sizes:
                copy = im.copy()
                copy.thumbnail((edge, edge), Image.LANCZOS)
                buf = io.BytesIO()
                copy.save(buf, "JPEG", quality=85, optimize=True)
                out.append((name, buf.getvalue(), copy.width, copy.height))
            return out
