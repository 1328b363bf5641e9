"""Synchronised playback maths, pure (no I/O): the party clock and the clients' offset estimate.

The server owns the party clock: a state ``(index, position at server time T, playing)``; the
position now is ``position + (now - T)`` while playing, carried over the playlist's durations.

A client estimates the offset of the server clock from its own, NTP-style: it sends ``t0`` (its
clock), the server stamps ``t1`` (received) and ``t2`` (sent), the client notes ``t3`` (received):

    round trip = (t3 - t0) - (t2 - t1)
    offset     = ((t1 - t0) + (t2 - t3)) / 2        (server = client + offset)

The error of one sample is at most half its round trip (whatever the asymmetry of the two legs),
so the estimator keeps the sample with the lowest round trip of the last 8 (Jellyfin SyncPlay).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WINDOW = 8


@dataclass(frozen=True, slots=True)
class Sample:
    offset: float
    round_trip: float


def sample(t0: float, t1: float, t2: float, t3: float) -> Sample:
    """One ping/pong exchange (seconds): the offset (server minus client) and the round trip."""
    round_trip = max(0.0, (t3 - t0) - (t2 - t1))
    return Sample(((t1 - t0) + (t2 - t3)) / 2.0, round_trip)


class OffsetEstimator:
    """The best (lowest round trip) of the last ``window`` samples."""

    def __init__(self, window: int = WINDOW):
        self.samples: deque[Sample] = deque(maxlen=window)

    def add(self, t0: float, t1: float, t2: float, t3: float) -> Sample:
        s = sample(t0, t1, t2, t3)
        self.samples.append(s)
        return s

    @property
    def best(self) -> Sample | None:
        return min(self.samples, key=lambda s: s.round_trip) if self.samples else None

    @property
    def offset(self) -> float:
        best = self.best
        return best.offset if best else 0.0

    def server_time(self, client_time: float) -> float:
        return client_time + self.offset


@dataclass(frozen=True, slots=True)
class Playback:
    """Where the playlist is: track ``index`` at ``position`` seconds; ``ended`` past the end."""

    index: int
    position: float
    playing: bool
    ended: bool = False


def position_at(durations: list[float], index: int, position: float, state_at: float, playing: bool,
                now: float) -> Playback:
    """The playback at server time ``now`` (seconds) from the state stored at ``state_at``."""
    if not durations or index >= len(durations):
        return Playback(len(durations), 0.0, False, True)
    index = max(0, index)
    pos = max(0.0, position + (max(0.0, now - state_at) if playing else 0.0))
    while pos >= durations[index]:
        pos -= durations[index]
        index += 1
        if index >= len(durations):
            return Playback(len(durations), 0.0, False, True)
    return Playback(index, pos, playing)


def remaining(durations: list[float], index: int, position: float) -> float:
    """Seconds until the end of the playlist from (index, position)."""
    if index >= len(durations):
        return 0.0
    return max(0.0, durations[index] - position) + sum(durations[index + 1:])


def client_position(state: dict, client_now: float, offset: float) -> float:
    """What a client plays at its local time ``client_now``: the broadcast state
    (``position`` at server time ``at``) carried forward on its estimate of the server clock."""
    if not state.get("playing"):
        return float(state["position"])
    return float(state["position"]) + (client_now + offset - float(state["at"]))
