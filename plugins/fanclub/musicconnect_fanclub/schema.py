"""The ``data`` of a post, as a client may send it (generic content API, edits) and as the fan
club stores it.

No field takes a storage key: a post's images are files the server stored itself under
``posts/<post_id>/img<i>_<size>.jpg`` (see :func:`image_key`), so the stored entry keeps only
their sizes, and the key is derived again from the post id whenever a URL is signed. Attached
tracks are content ids; the track's own plugin serves them after its own access check. Unknown
fields are rejected, lengths and counts are bounded."""
from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from musicconnect import Problem

MAX_BODY = 20000
MAX_IMAGES = 10
MAX_TRACKS = 20
SIZES = (("full", 1600), ("thumb", 400))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FullSize(_Strict):
    width: int = Field(ge=1, le=1600)
    height: int = Field(ge=1, le=1600)


class ThumbSize(_Strict):
    width: int = Field(ge=1, le=400)
    height: int = Field(ge=1, le=400)


class PostImage(_Strict):
    """One image the server stored for this post: the pixel sizes of its two renditions."""

    full: FullSize
    thumb: ThumbSize


class PostData(BaseModel):
    """A post's ``data``: its text, the images the server stored for it, the tracks it attaches."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [
        {"body": "Mixing the new single today."},
        {"body": "Two new demos, for you first.", "tracks": ["5d0c2b8e-7f3a-4c61-b0e9-3a1f6d2c8b47"]}]})

    body: str = Field("", max_length=MAX_BODY, strict=True, description=(
        "the post's text: in the generic content API it goes inside `data` "
        "(`{\"kind\": \"post\", \"title\": ..., \"data\": {\"body\": ...}}`), not at the top level"))
    images: list[PostImage] = Field(default_factory=list, max_length=MAX_IMAGES, description=(
        "the images the server stored for the post (their sizes); images are uploaded with the post form "
        "(POST /api/v1/fanclub/artists/{id}/posts), never named by a client"))
    tracks: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_TRACKS,
                                    description="ids of this artist's tracks to attach")

    def stored(self) -> dict[str, Any]:
        """What the row keeps (text posts keep only ``body``)."""
        out: dict[str, Any] = {"body": self.body}
        if self.images:
            out["images"] = [img.model_dump() for img in self.images]
        if self.tracks:
            out["tracks"] = [str(t) for t in dict.fromkeys(self.tracks)]
        return out


def image_key(post_id: uuid.UUID | str, index: int, size: str) -> str:
    """The storage key of image ``index`` of a post, rendition ``size``; only the server names it."""
    return f"posts/{post_id}/img{index}_{size}.jpg"


def _message(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        where = ".".join(str(p) for p in e.get("loc", ())) or "data"
        parts.append(f"data.{where}: {e.get('msg')}")
    return "; ".join(parts)


def parse_post_data(data: Any) -> PostData:
    """Validate a client's post ``data``; 422 ``validation`` on anything else."""
    try:
        return PostData.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise Problem(422, "validation", _message(exc),
                      errors=[{"loc": ["data", *e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type")}
                              for e in exc.errors()[:20]]) from None


def validate_post(data: dict) -> dict:
    """``ContentKind.validate`` for posts: the model, then the stored form."""
    return parse_post_data(data).stored()


def stored_image(post_id, index: int, entry: Any) -> dict | None:
    """A stored image entry as ``{"full": {"width", "height"}, "thumb": {...}}``, or ``None`` when
    it is unusable. Rows written before keys were derived carry a ``key`` per rendition: it must
    be the derived one, otherwise it reached the row from a client and the entry is refused."""
    if not isinstance(entry, dict):
        return None
    out = {}
    for name, edge in SIZES:
        value = entry.get(name)
        if not isinstance(value, dict) or set(value) - {"key", "width", "height"}:
            return None
        w, h = value.get("width"), value.get("height")
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= edge for v in (w, h)):
            return None
        if "key" in value and value["key"] != image_key(post_id, index, name):
            return None
        out[name] = {"width": w, "height": h}
    return out


def clean_stored(post_id, data: Any) -> dict | None:
    """The stored ``data`` of an older post rewritten without storage keys (the ``fanclub_0004``
    migration), or ``None`` when it needs no change. Images keep their positions (the key is
    derived from the position), so only the entries before the first unusable one are kept;
    attached tracks keep only content ids."""
    if not isinstance(data, dict):
        return None
    new = dict(data)
    if "images" in data:
        images = data["images"] if isinstance(data["images"], list) else []
        kept = []
        for i, entry in enumerate(images[:MAX_IMAGES]):
            img = stored_image(post_id, i, entry)
            if img is None:
                break
            kept.append(img)
        if kept:
            new["images"] = kept
        else:
            new.pop("images")
    if "tracks" in data:
        tracks = []
        for t in data["tracks"] if isinstance(data["tracks"], list) else []:
            try:
                tracks.append(str(uuid.UUID(t)) if isinstance(t, str) else None)
            except ValueError:
                continue
        tracks = [t for t in dict.fromkeys(tracks) if t][:MAX_TRACKS]
        if tracks:
            new["tracks"] = tracks
        else:
            new.pop("tracks")
    return None if new == data else new
