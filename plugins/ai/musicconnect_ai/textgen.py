"""Post text for social networks (owner: posts): each network's length rule, counted as that
network counts, and the default generator, a deterministic template that needs no model.

Length rules (:data:`NETWORKS`):

* **X**, 280, *weighted*: as twitter-text v3 counts: text NFC-normalised, every URL 23, an emoji
  (a whole sequence: skin tones, ZWJ families, flags, keycaps) 2, other code points 1 in the
  Latin / general punctuation ranges (U+0000-U+10FF, U+2000-U+200D, U+2010-U+201F,
  U+2032-U+2037) and 2 elsewhere (CJK, for example);
* **Bluesky**, 300 *graphemes* (user-perceived characters: an emoji sequence is one; links
  count as written);
* **Mastodon**, 500 *characters* (code points), every URL 23, a mention ``@user@domain`` only
  its ``@user`` part;
* **Instagram**, a 2,200-character caption counted in UTF-16 code units (an emoji outside
  the basic plane is 2): the conservative count; links are not clickable there, so the
  caption says "link in bio" instead.

A plugin may write the text instead (the core hook ``generate_text(platform, purpose,
context)``, first answer wins); whatever it returns is held to the same rule by :func:`fit`.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'’”]")
MENTION = re.compile(r"(?<![\w@])(@\w+)@[\w.-]+\w")
ELLIPSIS = "…"


@dataclass(frozen=True)
class Network:
    id: str
    name: str
    limit: int
    counting: str
    max_hashtags: int
    links: bool = True


NETWORKS: dict[str, Network] = {
    "x": Network("x", "X", 280, "weighted", 2),
    "bluesky": Network("bluesky", "Bluesky", 300, "graphemes", 3),
    "mastodon": Network("mastodon", "Mastodon", 500, "characters", 4),
    "instagram": Network("instagram", "Instagram", 2200, "utf16", 12, links=False),
}


# ---------------------------------------------------------------- graphemes and counting

def _joins(cp: int) -> bool:
    """Code points that extend the cluster before them."""
    return (cp in (0x200D, 0xFE0E, 0xFE0F, 0x20E3) or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F
            or unicodedata.category(chr(cp)) in ("Mn", "Me", "Mc"))


def graphemes(text: str) -> list[str]:
    """User-perceived characters (extended grapheme clusters, for what posts contain: combining
    marks, variation selectors, skin tones, ZWJ sequences, tag sequences, flag pairs, CRLF)."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        first = ord(text[i])
        if text[i] == "\r" and j < n and text[j] == "\n":
            j += 1
        elif 0x1F1E6 <= first <= 0x1F1FF and j < n and 0x1F1E6 <= ord(text[j]) <= 0x1F1FF:
            j += 1  # a flag: two regional indicators
        while j < n:
            cp = ord(text[j])
            if _joins(cp):
                j += 1
                if cp == 0x200D and j < n:  # a ZWJ glues the next character on
                    j += 1
            else:
                break
        out.append(text[i:j])
        i = j
    return out


def is_emoji(cluster: str) -> bool:
    cp = ord(cluster[0])
    return (len(cluster) > 1 and any(c in cluster for c in "\u200d\ufe0f\u20e3")) or 0x1F000 <= cp <= 0x1FAFF \
        or 0x2600 <= cp <= 0x27BF or 0x1F1E6 <= cp <= 0x1F1FF or 0x1F3FB <= cp <= 0x1F3FF


def _x_weight(cp: int) -> int:
    return 1 if (cp <= 0x10FF or 0x2000 <= cp <= 0x200D or 0x2010 <= cp <= 0x201F or 0x2032 <= cp <= 0x2037) else 2


def _split_urls(text: str) -> tuple[list[str], int]:
    """The text between URLs, and how many URLs there were."""
    parts = URL.split(text)
    return parts, len(parts) - 1


def count(text: str, network: str) -> int:
    """``text``'s length as ``network`` counts it."""
    net = NETWORKS[network]
    if net.counting == "weighted":
        parts, urls = _split_urls(unicodedata.normalize("NFC", text))
        total = 23 * urls
        for part in parts:
            for g in graphemes(part):
                total += 2 if is_emoji(g) else sum(_x_weight(ord(c)) for c in g)
        return total
    if net.counting == "graphemes":
        return len(graphemes(text))
    if net.counting == "characters":
        parts, urls = _split_urls(MENTION.sub(r"\1", text))
        return 23 * urls + sum(len(p) for p in parts)
    return len(text.encode("utf-16-le")) // 2


def fits(text: str, network: str) -> bool:
    return count(text, network) <= NETWORKS[network].limit


def fit(text: str, network: str) -> str:
    """``text`` shortened to the network's limit: whole words dropped from the end (never
    inside a URL or an emoji), then an ellipsis."""
    text = text.strip()
    if fits(text, network):
        return text
    words = text.split(" ")
    while len(words) > 1:
        words.pop()
        candidate = " ".join(words).rstrip(" ,;:-–—") + ELLIPSIS
        if fits(candidate, network):
            return candidate
    clusters = graphemes(text)
    while clusters and not fits("".join(clusters) + ELLIPSIS, network):
        clusters.pop()
    return "".join(clusters) + ELLIPSIS


# ---------------------------------------------------------------- hashtags

def hashtag(words: str) -> str | None:
    """``#CamelCase`` of ``words`` (letters, digits and ``_`` only), or ``None``."""
    parts = re.findall(r"\w+", words)
    tag = "".join(p[:1].upper() + p[1:] for p in parts)
    if not tag or not any(ch.isalpha() for ch in tag) or len(tag) > 40:
        return None
    return "#" + tag


def hashtags_for(purpose: str, artist: str, title: str | None, tags: list[str] | None = None) -> list[str]:
    """Deterministic hashtags, most important first (each network takes as many as it allows)."""
    lead = {"release": ["#NewMusic"], "milestone": ["#Milestone"], "party": ["#ListeningParty"]}[purpose]
    candidates = lead + [hashtag(artist)] + [hashtag(t) for t in (tags or [])] + [hashtag(title or "")]
    candidates += {"release": ["#OutNow", "#IndieMusic"], "milestone": ["#ThankYou", "#IndieMusic"],
                   "party": ["#LiveMusic", "#IndieMusic"]}[purpose]
    out: list[str] = []
    for tag in candidates:
        if tag and tag.lower() not in {t.lower() for t in out}:
            out.append(tag)
    return out


# ---------------------------------------------------------------- the template generator

def _human(n: int) -> str:
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1000 and n % 100 == 0:
        return f"{n / 1000:g}K"
    return f"{n:,}"


def _sentences(purpose: str, c: dict) -> list[list[str]]:
    """Alternative wordings per line, richest first."""
    artist, title = c.get("artist", ""), c.get("title") or ""
    if purpose == "release":
        when = "out now" if c.get("released", True) else f"out {c.get('when', 'soon')}"
        return [[f"🎧 New music: “{title}” by {artist} is {when}.", f"🎧 “{title}” by {artist}, {when}.",
                 f"🎧 “{title}”, {when}."]]
    if purpose == "milestone":
        what = f"“{title}” just passed" if title else f"{artist} just passed"
        n = _human(int(c.get("milestone", 0)))
        return [[f"🎉 {what} {n} plays!", f"🎉 {n} plays!"],
                ["Thank you to everyone listening and sharing 💜", "Thank you 💜", ""]]
    when = c.get("when", "")
    party = title or "a listening party"
    return [[f"🎉 Listening party: {party} with {artist}, {when}.", f"🎉 {party}, {when}.", f"🎉 {when}."],
            ["Come listen together and chat with {0}.".format(artist), ""]]


def clip(text: str, clusters: int) -> str:
    g = graphemes(text)
    return text if len(g) <= clusters else "".join(g[:clusters]).rstrip() + ELLIPSIS


def template(purpose: str, context: dict) -> str:
    """The default post: the richest wording that fits the network with its link and as many
    of the hashtags as fit, at least one (deterministic: the same facts give the same post); a
    title too long for all of that is clipped first."""
    for clusters in (None, 80, 40, 20):
        c = context if clusters is None else {**context, "title": clip(context.get("title") or "", clusters),
                                              "artist": clip(context.get("artist") or "", clusters)}
        text = _template(purpose, c)
        if text is not None:
            return text
    return fit(_template(purpose, c, force=True), context["network"])


def _template(purpose: str, context: dict, force: bool = False) -> str | None:
    net = NETWORKS[context["network"]]
    note = (context.get("note") or "").strip()
    link = context.get("link") or ""
    tail_link = link if net.links else ("Link in bio." if link else "")
    tags = list(context.get("hashtags") or [])[:net.max_hashtags]
    lines = _sentences(purpose, context)
    sep = "\n\n" if net.id == "instagram" else "\n"
    for level in range(max(len(v) for v in lines)):
        body = [v[min(level, len(v) - 1)] for v in lines]
        for with_note in ((True, False) if note else (False,)):
            for k in range(len(tags), (0 if force or not tags else 1) - 1, -1):
                parts = [" ".join(b for b in body if b)]
                if with_note:
                    parts.append(note)
                if tail_link:
                    parts.append(tail_link)
                if k:
                    parts.append(" ".join(tags[:k]))
                text = sep.join(p for p in parts if p)
                if fits(text, net.id):
                    return text
    if not force:
        return None
    return sep.join(p for p in (" ".join(v[-1] for v in lines if v[-1]), tail_link) if p)


def generate(platform, purpose: str, context: dict) -> tuple[str, str]:
    """``(text, generator)``: a plugin's ``generate_text`` if one answers with text, else the
    template; always within the network's limit."""
    answer = None
    try:
        answer = platform.plugins.call("generate_text", platform=platform, purpose=purpose, context=dict(context))
    except Exception:  # a generator failing must not cost the artist their draft
        answer = None
    if answer is not None and isinstance(answer[1], str) and answer[1].strip():
        return fit(answer[1], context["network"]), answer[0]
    return template(purpose, context), "template"
