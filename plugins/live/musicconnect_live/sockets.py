"""The party socket: ``/api/v1/live/parties/{party_id}/socket`` (protocol in docs/live.md).

On connect the listener gets ``welcome`` (the party, their own playlist with ``locked`` per
track, the state, and the chat history: the last 50 messages, or those after ``?last_seen_id=``),
then what is published into the room ``party:<id>`` (``state``, ``chat``, ``reactions``,
``deleted``, ``banned``). Frames from the client: ``ping``, ``chat``, ``react``, ``control``
(hosts), ``history``, ``sync``. Refusals answer ``{"type": "error", ...}`` with the problem slug.
"""
from __future__ import annotations

import functools
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool

from musicconnect import Problem

from . import chat, parties
from .bus import publish

CLOSE = {401: 4401, 403: 4403, 404: 4404, 409: 4409}
CONTROL_ACTIONS = ("pause", "resume", "seek", "skip", "end")


def _error(problem: Problem) -> dict[str, Any]:
    extra = {k: v for k, v in (getattr(problem, "extra", None) or {}).items() if isinstance(v, (str, int, float))}
    return {"type": "error", "problem": problem.slug, "status": problem.status, "detail": problem.detail, **extra}


def _welcome(platform, actor, party_id: uuid.UUID, last_seen: int | None) -> dict[str, Any]:
    with platform.session() as s:
        party = parties.get(s, party_id)
        parties.require_view(platform, s, actor, party)
        parties.tick(platform, s, party)
        parties.require_open(party)
        summary = parties.summary(platform, s, actor, party)
        history = chat.history(s, parties.room_of(party.id), party.artist_id, after=last_seen,
                               limit=chat.MAX_PAGE if last_seen is not None else chat.HISTORY)
        host = parties.is_host(platform, s, actor, party.artist_id)
    for key in ("id", "artist_id", "min_tier_id"):
        summary[key] = str(summary[key]) if summary[key] else None
    for key in ("starts_at", "started_at", "ended_at"):
        summary[key] = summary[key].isoformat() if summary[key] else None
    return {"type": "welcome", "party": summary, "state": summary.pop("state"), "messages": history,
            "resumed": last_seen is not None, "host": host,
            "user_id": str(actor.user_id) if actor else None}


def _history(platform, actor, party_id: uuid.UUID, before: int | None, after: int | None) -> dict[str, Any]:
    with platform.session() as s:
        key, artist_id, _ = chat.resolve(platform, s, actor, f"party-{party_id}")
        return {"type": "history", "messages": chat.history(s, key, artist_id, before=before, after=after)}


def _control(platform, actor, party_id: uuid.UUID, msg: dict) -> dict[str, Any]:
    action = msg.get("action")
    if action not in CONTROL_ACTIONS:
        raise Problem(422, "invalid-message", f"action is one of {', '.join(CONTROL_ACTIONS)}")
    position, index = msg.get("position"), msg.get("index")
    if position is not None and (not isinstance(position, (int, float)) or isinstance(position, bool)):
        raise Problem(422, "invalid-seek", "position is a number of seconds")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
        raise Problem(422, "invalid-seek", "index is a whole number")
    with platform.session() as s:
        party = parties.get(s, party_id)
        parties.tick(platform, s, party)
        parties.control(platform, s, actor, party, action, position=position, index=index)
        return parties.state(party, platform.clock.now())


def _state(platform, party_id: uuid.UUID) -> dict[str, Any]:
    with platform.session() as s:
        party = parties.get(s, party_id)
        parties.tick(platform, s, party)
        return parties.state(party, platform.clock.now())


def _post(platform, actor, party_id, text):
    chat.screen(platform, actor, f"party-{party_id}", text)
    with platform.session() as s:
        return chat.post(platform, s, actor, f"party-{party_id}", text)


def _react(platform, actor, message_id, emoji):
    with platform.session() as s:
        return chat.react(platform, s, actor, message_id, emoji, True)


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


async def _chat_frame(sock, msg: dict, received: float, room: str, post, history) -> bool:
    """The frames every chat socket answers (``ping``, ``chat``, ``react``, ``history``);
    ``post(text)`` and ``history(before, after)`` are the socket's own. False: not one of them."""
    platform, actor = sock.platform, sock.actor
    kind = msg.get("type")
    if kind == "ping":
        t0 = msg.get("t0")
        await sock.send({"type": "pong", "t0": t0 if isinstance(t0, (int, float)) else None,
                         "t1": received, "t2": platform.clock.now().timestamp()})
    elif kind == "chat":
        text = msg.get("text")
        if not isinstance(text, str):
            raise Problem(422, "invalid-message", "chat needs text")
        await publish(platform, room, await run_in_threadpool(post, text))
    elif kind == "react":
        mid, emoji = _int(msg.get("message_id")), msg.get("emoji")
        if mid is None or emoji not in chat.EMOJI:
            raise Problem(422, "invalid-message", f"react needs message_id and one of {' '.join(chat.EMOJI)}")
        if actor is None:
            raise Problem(401, "unauthorized", "sign in to react")
        await publish(platform, room, await run_in_threadpool(_react, platform, actor, mid, emoji))
    elif kind == "history":
        await sock.send(await run_in_threadpool(history, _int(msg.get("before")), _int(msg.get("after"))))
    else:
        return False
    return True


async def party_socket(sock) -> None:
    platform, actor = sock.platform, sock.actor
    try:
        party_id = uuid.UUID(sock.params["party_id"])
    except ValueError:
        await sock.send(_error(Problem(404, "party-not-found", "no listening party with this id")))
        await sock.close(4404, "party-not-found")
        return
    last_seen = _int(_to_int(sock.query.get("last_seen_id")))
    try:
        welcome = await run_in_threadpool(_welcome, platform, actor, party_id, last_seen)
    except Problem as p:
        await sock.send(_error(p))
        await sock.close(CLOSE.get(p.status, 4400), p.slug)
        return
    room = parties.room_of(party_id)
    await sock.join(room)
    await sock.send(welcome)
    stay = await run_in_threadpool(parties.joined, platform, party_id, actor.user_id if actor else None)
    post = functools.partial(_post, platform, actor, party_id)
    history = functools.partial(_history, platform, actor, party_id)
    try:
        async for msg in sock:
            received = platform.clock.now().timestamp()
            kind = msg.get("type")
            try:
                if await _chat_frame(sock, msg, received, room, post, history):
                    pass
                elif kind == "sync":
                    await sock.send(await run_in_threadpool(_state, platform, party_id))
                elif kind == "control":
                    if actor is None:
                        raise Problem(401, "unauthorized", "sign in to host")
                    await publish(platform, room, await run_in_threadpool(_control, platform, actor, party_id, msg))
                else:
                    raise Problem(422, "invalid-message", "type is one of ping, sync, chat, react, control, history")
            except Problem as p:
                await sock.send(_error(p))
    finally:
        await run_in_threadpool(parties.left, platform, stay)


def _to_int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


# ---------------------------------------------------------------- the artist's live room

def _room_welcome(platform, actor, room: str, last_seen: int | None) -> dict[str, Any]:
    with platform.session() as s:
        key, artist_id, _ = chat.resolve(platform, s, actor, room)
        history = chat.history(s, key, artist_id, after=last_seen,
                               limit=chat.MAX_PAGE if last_seen is not None else chat.HISTORY)
        return {"type": "welcome", "room": key, "messages": history, "resumed": last_seen is not None,
                "moderator": chat.is_moderator(platform, s, actor, artist_id),
                "user_id": str(actor.user_id) if actor else None}


def _room_post(platform, actor, room, text):
    chat.screen(platform, actor, room, text)
    with platform.session() as s:
        return chat.post(platform, s, actor, room, text)


def _room_history(platform, actor, room, before, after):
    with platform.session() as s:
        key, artist_id, _ = chat.resolve(platform, s, actor, room)
        return {"type": "history", "messages": chat.history(s, key, artist_id, before=before, after=after)}


async def room_socket(sock) -> None:
    """``/api/v1/live/artists/{artist_id}/room/socket``: the artist's live room (chat only)."""
    platform, actor = sock.platform, sock.actor
    try:
        room = f"artist-{uuid.UUID(sock.params['artist_id'])}"
        welcome = await run_in_threadpool(_room_welcome, platform, actor, room,
                                          _int(_to_int(sock.query.get("last_seen_id"))))
    except ValueError:
        welcome = None
        problem = Problem(404, "room-not-found", "no artist with this id")
    except Problem as p:
        welcome, problem = None, p
    if welcome is None:
        await sock.send(_error(problem))
        await sock.close(CLOSE.get(problem.status, 4400), problem.slug)
        return
    key = welcome["room"]
    await sock.join(key)
    await sock.send(welcome)
    post = functools.partial(_room_post, platform, actor, room)
    history = functools.partial(_room_history, platform, actor, room)
    async for msg in sock:
        received = platform.clock.now().timestamp()
        try:
            if not await _chat_frame(sock, msg, received, key, post, history):
                raise Problem(422, "invalid-message", "type is one of ping, chat, react, history")
        except Problem as p:
            await sock.send(_error(p))
