"""Tempo from the transcode's PCM tap: a content feature for recommendations of new tracks."""
from __future__ import annotations

import array
import subprocess

import pytest

from musicconnect_streaming import media


def pcm_of(path) -> array.array:
    raw = subprocess.run([media.ffmpeg_exe(), "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(media.WAVE_RATE),
                          "-f", "s16le", "-"], capture_output=True, check=True).stdout
    samples = array.array("h")
    samples.frombytes(raw)
    return samples


@pytest.mark.parametrize("bpm", [84, 100, 128, 150])
def test_the_tempo_of_a_beat_is_found(tmp_path, bpm):
    path = tmp_path / "beat.wav"
    media.generated_tone(path, 30, seed=bpm, bpm=bpm)
    got = media.estimate_tempo(pcm_of(path))
    assert got is not None and abs(got - bpm) / bpm < 0.03, (bpm, got)


def test_no_beat_no_tempo(tmp_path):
    path = tmp_path / "drone.wav"
    media.generated_tone(path, 30)
    assert media.estimate_tempo(pcm_of(path)) is None
    assert media.estimate_tempo(array.array("h", [0] * media.WAVE_RATE * 30)) is None       # silence
    assert media.estimate_tempo(array.array("h", [1000, -1000] * 4000)) is None            # 2 s: too short


def test_a_transcoded_track_carries_its_tempo(env, tmp_path):
    path = tmp_path / "groove.wav"
    media.generated_tone(path, 24, seed=3, bpm=110)
    tid = env.ready_track(path, title="Groove")
    got = env.client.get(f"/api/v1/streaming/tracks/{tid}", headers=env.artist.headers).json()["extra"]["streaming"]
    assert got["tempo_bpm"] is not None and abs(got["tempo_bpm"] - 110) < 3, got
