"""Audio fingerprints against re-uploads (docs/moderation.md, "Fingerprints").

Every upload's audio is fingerprinted with Chromaprint (the ``fpcalc`` binary of Debian's
``libchromaprint-tools``: ``fpcalc -raw -json``): a sequence of 32-bit sub-fingerprints, about 8
per second. The sequence is stored per content item (table ``moderation_fingerprints``) and
matched against every other artist's:

* **candidates** come from an inverted index kept in memory per process (numpy): the top
  :data:`KEY_BITS` bits of every :data:`STEP`-th sub-fingerprint of each stored track (the sampled
  keys are stored beside the fingerprint, so loading the index reads only them); the upload's
  keys at every position vote for (track, offset) pairs, so a trimmed copy votes for the offset
  it was cut at;
* **the score** of the few best candidates is exact: ``1 - bit error rate`` (popcount of the XOR)
  of the aligned sequences at the voted offsets; unrelated audio scores about 0.5, the same audio
  re-encoded, trimmed or at another volume 0.8 or more.

Another artist's match at or above ``fingerprint_block_score`` blocks the upload
(``matches-another-track``) and files a ``fingerprint-match`` case (the first uploader of a
recording is not always its owner: ``allow`` lets the item's audio be uploaded again without that
match counting); at or above ``fingerprint_review_score`` it is held for a moderator (a
``fingerprint-match`` case: ``allow`` publishes it, ``block`` takes it down). An artist's own
tracks never count against them. An fpcalc failure holds the upload for a moderator
(``fingerprint-failed``) rather than letting it through unscreened. Without ``fpcalc`` on the PATH
screening is off (logged once, shown by ``GET /api/v1/moderation/fingerprints/status``) and
uploads proceed.

fpcalc runs before the hook's first query: a caller that hands over a session whose transaction
has not begun (the streaming pipeline does) holds no transaction during it.
"""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Float, ForeignKey, Integer, LargeBinary, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from musicconnect import Actor, Base, PluginSettings, Problem
from musicconnect.contracts import Screening
from musicconnect.models import Artist, ContentItem
from musicconnect.web import get_platform, scope

from .cases import audit, open_case, resolver

log = logging.getLogger("musicconnect.moderation")

KIND = "fingerprint-match"
REASON = "matches-another-track"
FAILED = "fingerprint-failed"
HELD = "held_for_review"
#: sub-fingerprints per second of audio (Chromaprint's default algorithm: 11025 Hz, hop 1365)
RATE = 11025 / 1365
#: the index keeps the top KEY_BITS bits of every STEP-th sub-fingerprint of a stored track
KEY_BITS = 20
STEP = 8
#: a key found in more postings than this is too common to tell tracks apart (silence, hum)
STOP_POSTINGS = 5000
#: candidates scored exactly, and the least votes a candidate needs
TOP_CANDIDATES = 8
MIN_VOTES = 2


class FingerprintSettings(PluginSettings):
    fingerprints_enabled: bool = Field(default=True, description="fingerprint every upload and match it (needs fpcalc)")
    fingerprint_review_score: float = Field(
        default=0.75, ge=0.5, le=1.0,
        description="another artist's track matching at least this well holds the upload for a moderator")
    fingerprint_block_score: float = Field(
        default=0.92, ge=0.5, le=1.01,
        description="another artist's track matching at least this well blocks the upload (above 1: never)")
    fingerprint_min_overlap_seconds: float = Field(default=10.0, ge=2.0,
                                                   description="the least aligned audio a match must span")
    fingerprint_max_seconds: int = Field(default=0, ge=0,
                                         description="fingerprint at most this much of each upload (0: all of it)")
    fpcalc_path: str = Field(default="fpcalc", description="the Chromaprint fpcalc binary (name on the PATH or path)")


SETTINGS = [FingerprintSettings]


class Fingerprint(Base):
    """The Chromaprint fingerprint of a content item's latest screened audio."""

    __tablename__ = "moderation_fingerprints"
    #: increasing with every write: what another process's index has not loaded yet
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    content_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("content_items.id", ondelete="CASCADE"), unique=True)
    artist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("artists.id", ondelete="CASCADE"), index=True)
    duration: Mapped[float] = mapped_column(Float)
    #: the raw sub-fingerprints, little-endian uint32
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    #: the index keys (top KEY_BITS bits of every STEP-th sub-fingerprint), little-endian uint32
    index_keys: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column()


# --------------------------------------------------------------------------- fpcalc


class FingerprintError(RuntimeError):
    pass


def fpcalc_exe(path: str = "fpcalc") -> str | None:
    return shutil.which(path)


def compute(audio_path, exe: str, max_seconds: int = 0, timeout: float = 600) -> tuple[float, np.ndarray]:
    """``(duration, sub-fingerprints as uint32)`` of an audio file (``fpcalc -raw -json``)."""
    cmd = [exe, "-raw", "-json", "-length", str(int(max_seconds)), str(audio_path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise FingerprintError("fpcalc timed out") from None
    try:  # fpcalc 1.5 may exit non-zero at the end of some files after printing a good result
        out = json.loads(proc.stdout)
        values = np.asarray(out["fingerprint"], dtype=np.int64) & 0xFFFFFFFF
    except (ValueError, KeyError, TypeError):
        raise FingerprintError(f"fpcalc failed: {proc.stderr.decode(errors='replace')[-300:].strip()}") from None
    if len(values) == 0:
        raise FingerprintError("fpcalc found no audio")
    return float(out.get("duration") or 0.0), values.astype(np.uint32)


def index_keys(fp: np.ndarray) -> np.ndarray:
    return (fp[::STEP] >> np.uint32(32 - KEY_BITS)).astype(np.uint32)


# --------------------------------------------------------------------------- matching

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    return _POPCOUNT8[x.view(np.uint8)].reshape(*x.shape, 4).sum(-1)


def similarity(a: np.ndarray, b: np.ndarray, offset: int) -> tuple[float, int]:
    """``(1 - bit error rate, overlap)`` of ``a`` against ``b`` shifted so that ``a[i]`` lines up
    with ``b[i + offset]``."""
    lo = max(0, -offset)
    hi = min(len(a), len(b) - offset)
    if hi <= lo:
        return 0.0, 0
    x = np.bitwise_xor(a[lo:hi], b[lo + offset:hi + offset])
    return 1.0 - float(_popcount(x).sum()) / (32.0 * (hi - lo)), hi - lo


def best_alignment(a: np.ndarray, b: np.ndarray, offsets, min_overlap: int, spread: int = 2) -> tuple[float, int]:
    """The best ``(score, offset)`` over ``offsets`` (each ± ``spread``) spanning ``min_overlap``."""
    best = (0.0, 0)
    tried = set()
    for base in offsets:
        for off in range(int(base) - spread, int(base) + spread + 1):
            if off in tried:
                continue
            tried.add(off)
            score, overlap = similarity(a, b, off)
            if overlap >= min_overlap and score > best[0]:
                best = (score, off)
    return best


@dataclass
class Candidate:
    content_id: uuid.UUID
    artist_id: uuid.UUID
    votes: int
    offsets: list[int]


class MatchIndex:
    """The inverted index: index key -> (track, position) postings, as sorted numpy arrays (a
    large main segment and a small tail of recent additions, merged when the tail grows)."""

    MERGE_AT = 200_000

    def __init__(self) -> None:
        self.content: list[uuid.UUID] = []
        self.artist: list[uuid.UUID] = []
        self.alive = np.zeros(0, dtype=bool)
        self.slot: dict[uuid.UUID, int] = {}
        empty = (np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32))
        self.main = empty
        self.tail = empty
        self.loaded_seq = 0

    def __len__(self) -> int:
        return int(self.alive.sum())

    def add(self, rows) -> None:
        """Add ``(content_id, artist_id, keys)`` rows (a content item added again replaces itself)."""
        parts = []
        for content_id, artist_id, keys in rows:
            old = self.slot.get(content_id)
            if old is not None:
                self.alive[old] = False
            idx = len(self.content)
            self.content.append(content_id)
            self.artist.append(artist_id)
            self.slot[content_id] = idx
            parts.append((np.asarray(keys, dtype=np.uint32), np.full(len(keys), idx, dtype=np.int32),
                          np.arange(len(keys), dtype=np.int32) * STEP))
        if not parts:
            return
        self.alive = np.concatenate([self.alive, np.ones(len(self.content) - len(self.alive), dtype=bool)])
        self.tail = _sorted_concat([self.tail, *parts])
        if len(self.tail[0]) >= self.MERGE_AT:
            self.main = _sorted_concat([self.main, self.tail])
            self.tail = (self.tail[0][:0], self.tail[1][:0], self.tail[2][:0])

    def candidates(self, fp: np.ndarray, *, exclude_artist: uuid.UUID | None = None,
                   exclude_content: uuid.UUID | None = None, top: int = TOP_CANDIDATES) -> list[Candidate]:
        """The stored tracks that share the most aligned keys with ``fp`` (best first)."""
        if not self.content:
            return []
        q = (fp >> np.uint32(32 - KEY_BITS)).astype(np.uint32)
        qpos = np.arange(len(q), dtype=np.int64)
        tracks, offsets = [], []
        for keys, track, pos in (self.main, self.tail):
            if not len(keys):
                continue
            left = np.searchsorted(keys, q, side="left")
            n = np.searchsorted(keys, q, side="right") - left
            keep = (n > 0) & (n <= STOP_POSTINGS)
            left, n, qp = left[keep], n[keep], qpos[keep]
            if not len(n):
                continue
            # every posting of every matched key: its start + 0 .. n-1
            total = int(n.sum())
            at = np.repeat(left - (np.cumsum(n) - n), n) + np.arange(total)
            tracks.append(track[at].astype(np.int64))
            offsets.append(pos[at].astype(np.int64) - np.repeat(qp, n))
        if not tracks:
            return []
        t = np.concatenate(tracks)
        o = np.concatenate(offsets)
        ok = self.alive[t]
        t, o = t[ok], o[ok]
        if not len(t):
            return []
        # votes per (track, offset in pairs of frames: a trim between frames lands on either side)
        span = 1 << 22
        combo = t * span + (o // 2 + span // 2)
        uniq, counts = np.unique(combo, return_counts=True)
        good = counts >= MIN_VOTES
        uniq, counts = uniq[good], counts[good]
        utrack = uniq // span
        uoff = (uniq % span - span // 2) * 2
        out: dict[int, Candidate] = {}
        for k in np.argsort(-counts, kind="stable").tolist():
            idx = int(utrack[k])
            cand = out.get(idx)
            if cand is not None:
                if len(cand.offsets) < 3:
                    cand.offsets.append(int(uoff[k]))
                continue
            cid, aid = self.content[idx], self.artist[idx]
            if cid == exclude_content or (exclude_artist is not None and aid == exclude_artist):
                continue
            if len(out) >= top:
                continue
            out[idx] = Candidate(cid, aid, int(counts[k]), [int(uoff[k])])
        return list(out.values())


def _sorted_concat(parts):
    keys = np.concatenate([p[0] for p in parts])
    order = np.argsort(keys, kind="stable")
    return (keys[order], np.concatenate([p[1] for p in parts])[order], np.concatenate([p[2] for p in parts])[order])


_index = MatchIndex()
_index_lock = threading.Lock()
_warned: set[str] = set()


def _refresh(session) -> MatchIndex:
    """Bring this process's index up to the table (another process may have written to it)."""
    global _index
    count, top = session.execute(select(func.count(), func.coalesce(func.max(Fingerprint.seq), 0))
                                 .select_from(Fingerprint)).one()
    with _index_lock:
        index = _index
        if top != index.loaded_seq or count != len(index):
            q = select(Fingerprint.content_id, Fingerprint.artist_id, Fingerprint.index_keys).order_by(Fingerprint.seq)
            index.add((cid, aid, np.frombuffer(keys, dtype="<u4"))
                      for cid, aid, keys in session.execute(q.where(Fingerprint.seq > index.loaded_seq)))
            if len(index) != count:  # rows were deleted since: start over
                index = MatchIndex()
                index.add((cid, aid, np.frombuffer(keys, dtype="<u4")) for cid, aid, keys in session.execute(q))
            index.loaded_seq = top
            _index = index
        return index


def reset_index() -> None:
    """Forget this process's index (tests; the next screening reloads it from the table)."""
    global _index
    with _index_lock:
        _index = MatchIndex()


# --------------------------------------------------------------------------- the screen


def status(platform) -> dict:
    settings = platform.plugin_settings("moderation")
    if not settings.fingerprints_enabled:
        return {"fingerprints": "off", "reason": "disabled in the settings (fingerprints_enabled)"}
    exe = fpcalc_exe(settings.fpcalc_path)
    if exe is None:
        return {"fingerprints": "off", "reason": f"{settings.fpcalc_path} not found; install libchromaprint-tools"}
    return {"fingerprints": "on", "reason": "", "fpcalc": exe, "indexed_in_this_process": len(_index)}


def allowed_matches(session, content_id) -> set[uuid.UUID]:
    """The tracks a moderator allowed ``content_id`` to match (``allow`` on its cases)."""
    from .cases import Case

    rows = session.scalars(select(Case.data).where(Case.kind == KIND, Case.subject_type == "content",
                                                   Case.subject_id == str(content_id), Case.decision == "allow"))
    return {uuid.UUID(d["matched_content_id"]) for d in rows if (d or {}).get("matched_content_id")}


def best_match(platform, session, fp: np.ndarray, *, artist_id=None, content_id=None, allowed=()):
    """The best ``(score, candidate, offset)`` among other artists' tracks (but ``allowed``), or ``None``."""
    settings = platform.plugin_settings("moderation")
    index = _refresh(session)
    cands = [c for c in index.candidates(fp, exclude_artist=artist_id, exclude_content=content_id)
             if c.content_id not in allowed]
    if not cands:
        return None
    stored = dict(session.execute(select(Fingerprint.content_id, Fingerprint.fingerprint)
                                  .where(Fingerprint.content_id.in_([c.content_id for c in cands]))).all())
    min_overlap = max(1, int(settings.fingerprint_min_overlap_seconds * RATE))
    best = None
    for cand in cands:
        raw = stored.get(cand.content_id)
        if raw is None:
            continue
        score, off = best_alignment(fp, np.frombuffer(raw, dtype="<u4"), cand.offsets, min_overlap)
        if best is None or score > best[0]:
            best = (score, cand, off)
    return best


def screen_audio(platform, session, item, audio_path):
    """The ``screen_audio`` hook (see the module's docstring)."""
    fresh = not session.in_transaction()
    settings = platform.plugin_settings("moderation")  # may read the table through ``session``
    if fresh and session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()  # only our reads: end that transaction before fpcalc runs
    if not settings.fingerprints_enabled:
        return None
    exe = fpcalc_exe(settings.fpcalc_path)
    if exe is None:
        if "fpcalc" not in _warned:
            _warned.add("fpcalc")
            log.warning("fingerprints: off (%s not found; install libchromaprint-tools); uploads are not screened",
                        settings.fpcalc_path)
        return None
    # the slow part first, before any query: no transaction is held while fpcalc runs
    try:
        duration, fp = compute(audio_path, exe, settings.fingerprint_max_seconds)
    except FingerprintError as exc:
        # fpcalc is there but failed on this file: held for a moderator, never let through unscreened
        log.warning("fingerprint of %s failed: %s; held for review", item.id, exc)
        what = f"the audio could not be fingerprinted ({str(exc)[:200]})"
        artist = session.get(Artist, item.artist_id)
        open_case(platform, session, KIND, "content", item.id, reason=FAILED, detail=what,
                  user_id=artist.user_id if artist else None, data={"error": str(exc)[:300]})
        return Screening("review", FAILED, what)
    match = best_match(platform, session, fp, artist_id=item.artist_id, content_id=item.id,
                       allowed=allowed_matches(session, item.id))
    score = round(match[0], 4) if match else 0.0
    verdict: Screening | None = None
    if match and score >= settings.fingerprint_review_score:
        _, cand, off = match
        other = session.get(ContentItem, cand.content_id)
        data = {"matched_content_id": str(cand.content_id), "matched_artist_id": str(cand.artist_id),
                "matched_title": other.title if other else None, "offset_seconds": round(off / RATE, 1),
                "votes": cand.votes}
        what = f"{score:.0%} of its audio matches “{data['matched_title']}” by another artist"
        artist = session.get(Artist, item.artist_id)
        if score >= settings.fingerprint_block_score:
            verdict = Screening("block", REASON, what, score, data)
            audit(platform, session, "fingerprint.blocked", subject_type="content", subject_id=str(item.id),
                  score=score, **data)
            # the first uploader wins only until a moderator looks: allow lets this item match it
            open_case(platform, session, KIND, "content", item.id, reason=REASON, detail=what, score=score,
                      user_id=artist.user_id if artist else None, data={**data, "blocked": True})
        else:
            verdict = Screening("review", REASON, what, score, data)
            open_case(platform, session, KIND, "content", item.id, reason=REASON, detail=what, score=score,
                      user_id=artist.user_id if artist else None, data=data)
    if verdict is None or verdict.action != "block":
        session.execute(delete(Fingerprint).where(Fingerprint.content_id == item.id))
        session.add(Fingerprint(content_id=item.id, artist_id=item.artist_id, duration=duration,
                                fingerprint=fp.astype("<u4").tobytes(),
                                index_keys=index_keys(fp).astype("<u4").tobytes(), created_at=platform.clock.now()))
        session.flush()
    return verdict


@resolver(KIND, ("allow", "block"))
def _decide(platform, session, case, decision, actor_id) -> None:
    item = session.get(ContentItem, uuid.UUID(case.subject_id))
    if item is None:
        raise Problem(409, "content-gone", "the content of this case was deleted")
    if decision == "block":
        platform.content.take_down(session, item, REASON, actor_id)
        audit(platform, session, "content.taken_down", actor_id=actor_id, case=case, reason=REASON)
        return
    if item.status == "processing" and (item.status_reason or "").startswith(HELD):
        # ready once its audio is (the ingesting plugin records the playing version in data)
        ready = bool((item.data or {}).get("version"))
        platform.content.set_status(session, item, "ready" if ready else "processing", None, actor_id)
    audit(platform, session, "content.released", actor_id=actor_id, case=case)


# --------------------------------------------------------------------------- route (admins)

router = APIRouter()


class StatusOut(BaseModel):
    fingerprints: str = Field(description="on or off")
    reason: str = Field("", description="why off")
    fpcalc: str | None = None
    indexed_in_this_process: int | None = None


@router.get("/fingerprints/status", response_model=StatusOut)
def fingerprint_status(actor: Actor = Depends(scope("admin")), platform=Depends(get_platform)):
    """Whether uploads are fingerprinted (``off`` without fpcalc)."""
    return status(platform)
