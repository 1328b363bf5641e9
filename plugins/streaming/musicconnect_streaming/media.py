"""FFmpeg and friends: find the binary, probe and verify uploads, build the one-pass transcode,
read its loudness summary, turn its PCM tap into waveform peaks and find the loudest 30 s."""
from __future__ import annotations

import array
import functools
import math
import operator
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ffmpeg  # ffmpeg-python

from musicconnect import Budget

RENDITIONS = (("128k", 128_000), ("256k", 256_000), ("320k", 320_000))
SEGMENT_SECONDS = 6
WAVE_RATE = 4000  # Hz of the mono PCM tap used for peaks and the loudest-section search
AAC_CODECS = "mp4a.40.2"


class MediaError(Exception):
    """The file is not usable audio; ``slug`` is the problem type."""

    def __init__(self, slug: str, message: str, status: int = 422):
        super().__init__(message)
        self.slug = slug
        self.status = status


@functools.cache
def ffmpeg_exe() -> str:
    """ffmpeg from PATH when present, else the static binary of the imageio-ffmpeg wheel."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class Probe:
    format: str
    codec: str
    duration: float
    channels: int
    sample_rate: int
    bit_rate: int | None
    tags: dict[str, str] = field(default_factory=dict)
    has_artwork: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"format": self.format, "codec": self.codec, "duration": round(self.duration, 3),
                "channels": self.channels, "sample_rate": self.sample_rate, "bit_rate": self.bit_rate,
                "tags": self.tags, "has_artwork": self.has_artwork}


ACCEPTED_FORMATS = {"wav", "flac", "mp3", "aac", "mov,mp4,m4a,3gp,3g2,mj2", "ogg", "matroska,webm", "aiff", "adts"}
TAG_KEYS = {"title", "artist", "album", "album_artist", "date", "genre", "track", "composer", "isrc", "comment"}


def probe(path: Path) -> Probe:
    """Read container, codec, duration, channels, rate, tags and embedded artwork (PyAV, which
    bundles FFmpeg's libraries: no ffprobe binary needed)."""
    import av

    if path.stat().st_size == 0:
        raise MediaError("empty-file", "the file is empty")
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            audio = [s for s in c.streams if s.type == "audio"]
            if not audio:
                raise MediaError("not-audio", "the file has no audio stream", 415)
            a = audio[0]
            duration = (c.duration / 1_000_000) if c.duration else (
                float(a.duration * a.time_base) if a.duration and a.time_base else 0.0)
            tags = {k.lower(): str(v)[:500] for k, v in {**c.metadata, **a.metadata}.items() if k.lower() in TAG_KEYS}
            art = any(s.type == "video" and s.disposition and "attached_pic" in str(s.disposition).lower()
                      for s in c.streams) or any(s.type == "video" for s in c.streams if s.codec_context.name in
                                                  ("mjpeg", "png"))
            fmt = c.format.name
            codec = a.codec_context.name
            channels = a.codec_context.channels or 0
            rate = a.codec_context.sample_rate or 0
            bit_rate = c.bit_rate or None
    except MediaError:
        raise
    except Exception as exc:  # PyAV raises InvalidDataError and friends
        raise MediaError("not-audio", f"this is not an audio file we can read ({type(exc).__name__})", 415) from None
    if fmt not in ACCEPTED_FORMATS and not any(f in ACCEPTED_FORMATS for f in fmt.split(",")):
        raise MediaError("unsupported-format", f"unsupported container {fmt!r}; upload WAV, FLAC, MP3, AAC/M4A or OGG/Opus", 415)
    if duration <= 0 or channels <= 0 or rate <= 0:
        raise MediaError("corrupt-audio", "the audio stream has no duration, channels or sample rate")
    return Probe(fmt, codec, duration, channels, rate, bit_rate, tags, art)


def verify_decodes(path: Path, timeout: float = 600) -> None:
    """Decode the whole audio stream once; any decoder error means truncated or corrupt audio."""
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-xerror", "-i", str(path), "-map", "0:a:0",
                           "-f", "null", "-"], capture_output=True, text=True, timeout=timeout)
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if proc.returncode != 0 or errors:
        detail = errors[0].split("] ", 1)[-1] if errors else f"ffmpeg exited with {proc.returncode}"
        raise MediaError("corrupt-audio", f"the audio is truncated or corrupt: {detail}")


def extract_artwork(path: Path, dest: Path) -> bool:
    """Write the embedded cover (if any) as an image file; returns whether there was one.

    Nothing is decoded here: an attached PNG or JPEG picture's packet is the image file itself,
    written as it is (``artwork_sizes`` then refuses it from its header if it is too large).
    Another codec goes through ffmpeg only when its declared size is within the cap (a 13000 px
    cover decodes to gigabytes, in whichever process decodes it)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            video = [s for s in c.streams if s.type == "video"]
            if not video:
                return False
            stream = video[0]
            name = stream.codec_context.name
            width, height = stream.codec_context.width or 0, stream.codec_context.height or 0
            if name in ("png", "mjpeg"):
                for packet in c.demux(stream):
                    if packet.size:
                        dest.write_bytes(bytes(packet))
                        return True
                return False
    except Exception:  # PyAV's errors: no usable cover
        return False
    if not width or not height or width * height > ARTWORK_MAX_PIXELS:
        return False
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(path), "-an", "-map", "0:v:0",
                           "-frames:v", "1", "-c:v", "mjpeg", str(dest)], capture_output=True, timeout=120)
    return proc.returncode == 0 and dest.exists() and dest.stat().st_size > 0


def ladder_command(src: Path, out: Path, keyinfo: Path) -> list[str]:
    """One ffmpeg invocation, one decode: three AAC HLS renditions (6 s aligned segments,
    AES-128), EBU R128 loudness with true peak, and a mono PCM tap for the waveform."""
    inp = ffmpeg.input(str(src))
    tap = inp.audio.filter("ebur128", peak="true", framelog="quiet").filter("aresample", WAVE_RATE) \
        .filter("aformat", sample_fmts="s16", channel_layouts="mono")
    hls_args: dict[str, Any] = {
        "c:a": "aac", "ar": 44100, "ac": 2,
        "f": "hls", "hls_time": SEGMENT_SECONDS, "hls_playlist_type": "vod", "hls_segment_type": "mpegts",
        "hls_segment_filename": str(out / "%v" / "seg_%03d.ts"), "hls_key_info_file": str(keyinfo),
        "master_pl_name": "master.m3u8",
        "var_stream_map": " ".join(f"a:{i},name:{name}" for i, (name, _) in enumerate(RENDITIONS)),
    }
    for i, (_, bps) in enumerate(RENDITIONS):
        hls_args[f"b:a:{i}"] = str(bps)
    hls = ffmpeg.output(*[inp.audio for _ in RENDITIONS], str(out / "%v" / "index.m3u8"), **hls_args)
    wave = ffmpeg.output(tap, str(out / "wave.pcm"), f="s16le")
    cmd = ffmpeg.merge_outputs(hls, wave).compile(cmd=ffmpeg_exe())
    return _with_globals(cmd, "-hide_banner", "-nostdin", "-y", "-progress", "pipe:1", "-stats_period", "0.5")


def _with_globals(cmd: list[str], *args: str) -> list[str]:
    """ffmpeg-python appends global options; ffmpeg wants them before the first input."""
    return [cmd[0], *args, *cmd[1:]]


LUFS_RE = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?[\d.]+|-inf) LUFS", re.M)
PEAK_RE = re.compile(r"True peak:\s*\n\s*Peak:\s*(-?[\d.]+|-inf) dBFS", re.M)


def parse_loudness(stderr: str) -> tuple[float | None, float | None]:
    def num(m):
        if not m or m.group(1) == "-inf":
            return None
        return float(m.group(1))
    return num(LUFS_RE.search(stderr)), num(PEAK_RE.search(stderr))


def read_pcm(path: Path) -> array.array:
    samples = array.array("h")
    with open(path, "rb") as fh:
        samples.frombytes(fh.read())
    return samples


def waveform_peaks(samples: array.array, buckets: int = 800) -> list[float]:
    """Peak amplitude per bucket, 0..1, for drawing a waveform."""
    n = len(samples)
    if n == 0:
        return []
    buckets = min(buckets, n)
    size = n / buckets
    out = []
    for i in range(buckets):
        chunk = samples[int(i * size): int((i + 1) * size)] or samples[int(i * size): int(i * size) + 1]
        out.append(round(max(max(chunk), -min(chunk)) / 32768, 4))
    return out


def loudest_start(samples: array.array, window_s: float = 30.0, rate: int = WAVE_RATE) -> float:
    """Start (seconds) of the loudest ``window_s`` stretch, by RMS energy in 0.5 s steps."""
    step = rate // 2
    energies = []
    for i in range(0, len(samples), step):
        chunk = samples[i:i + step]
        energies.append(sum(map(operator.mul, chunk, chunk)))
    win = max(1, int(window_s * 2))
    if len(energies) <= win:
        return 0.0
    best, best_i, acc = -1, 0, sum(energies[:win])
    for i in range(len(energies) - win + 1):
        if i:
            acc += energies[i + win - 1] - energies[i - 1]
        if acc > best:
            best, best_i = acc, i
    return best_i * 0.5


def estimate_tempo(samples: array.array, rate: int = WAVE_RATE, *, seconds: float = 120.0) -> float | None:
    """The tempo in beats per minute, or ``None`` when there is no clear beat.

    Onset strength (the rise of log energy in 10 ms frames) autocorrelated over the lags of
    50-200 BPM, weighted by a log-normal prior around 120 BPM (one octave wide, against
    half/double-tempo errors), the peak refined by parabolic interpolation. Reads the first
    ``seconds`` of the PCM tap; pure Python, a few tens of milliseconds."""
    hop = max(1, rate // 100)
    n = min(len(samples), int(seconds * rate)) // hop
    if n < 400:                       # under 4 s: nothing to measure
        return None
    frame_rate = rate / hop
    energy = [math.log(1e-6 + sum(map(operator.mul, c, c)) / hop)
              for c in (samples[i * hop:(i + 1) * hop] for i in range(n))]
    onset = [max(0.0, b - a) for a, b in zip(energy, energy[1:])]
    mean = sum(onset) / len(onset)
    onset = [x - mean for x in onset]
    zero = sum(map(operator.mul, onset, onset))
    if zero <= 1e-9:
        return None
    lo, hi = int(frame_rate * 60 / 200), int(frame_rate * 60 / 50) + 1
    ac = {lag: sum(map(operator.mul, onset, onset[lag:])) / zero for lag in range(lo - 1, hi + 2)}
    best, best_lag = -1.0, None
    for lag in range(lo, hi + 1):
        bpm = 60 * frame_rate / lag
        score = ac[lag] * math.exp(-0.5 * math.log2(bpm / 120) ** 2)
        if ac[lag] >= ac[lag - 1] and ac[lag] >= ac[lag + 1] and score > best:
            best, best_lag = score, lag
    if best_lag is None or ac[best_lag] < 0.1:     # no periodicity worth the name (noise, a drone)
        return None
    a, b, c = ac[best_lag - 1], ac[best_lag], ac[best_lag + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c < 0 else 0.0
    return round(60 * frame_rate / (best_lag + shift), 1)


def preview_command(src: Path, dest: Path, start: float, length: float = 30.0) -> list[str]:
    """A 30 s AAC preview with short fades, seeking the input (decodes only what it needs)."""
    fade_out = max(0.0, length - 1.5)
    stream = ffmpeg.input(str(src), ss=f"{start:.3f}", t=f"{length:.3f}").audio \
        .filter("afade", t="in", d=0.5).filter("afade", t="out", st=f"{fade_out:.3f}", d=1.5)
    cmd = ffmpeg.output(stream, str(dest), **{"c:a": "aac", "aac_coder": "fast", "b:a": "128k", "ar": 44100,
                                               "ac": 2, "movflags": "+faststart"}).compile(cmd=ffmpeg_exe())
    return _with_globals(cmd, "-hide_banner", "-nostdin", "-v", "error", "-y")


def preview_copy_command(playlist: Path, dest: Path, start: float, length: float = 30.0) -> list[str]:
    """The preview cut from an already encoded rendition by stream copy (no second encode);
    players fade previews in and out themselves."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-allowed_extensions", "ALL",
            "-ss", f"{start:.3f}", "-i", str(playlist), "-t", f"{length:.3f}", "-map", "0:a", "-c:a", "copy",
            "-bsf:a", "aac_adtstoasc", "-movflags", "+faststart", str(dest)]


def download_command(playlist: Path, dest: Path, artwork: Path | None, tags: dict[str, str]) -> list[str]:
    """Package the 320k rendition as .m4a with tags and cover, by remuxing (no re-encode)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-y", "-allowed_extensions", "ALL",
           "-i", str(playlist)]
    if artwork is not None:
        cmd += ["-i", str(artwork), "-map", "0:a", "-map", "1:v", "-c:v", "mjpeg", "-disposition:v:0", "attached_pic"]
    else:
        cmd += ["-map", "0:a"]
    cmd += ["-c:a", "copy", "-bsf:a", "aac_adtstoasc", "-movflags", "+faststart"]
    for k, v in tags.items():
        cmd += ["-metadata", f"{k}={v}"]
    return [*cmd, str(dest)]


def segment_stats(rendition_dir: Path) -> tuple[list[tuple[str, float]], int, int]:
    """Segments with durations, and the measured peak / average bitrates (bits per second)."""
    lines = (rendition_dir / "index.m3u8").read_text().splitlines()
    segs: list[tuple[str, float]] = []
    dur = None
    for ln in lines:
        if ln.startswith("#EXTINF:"):
            dur = float(ln[8:].split(",")[0])
        elif ln and not ln.startswith("#") and dur is not None:
            segs.append((ln, dur))
            dur = None
    total_bits = peak = 0
    total_dur = 0.0
    for name, d in segs:
        bits = (rendition_dir / name).stat().st_size * 8
        total_bits += bits
        total_dur += d
        if d > 0.5:  # a tiny last segment is not a fair peak
            peak = max(peak, int(bits / d))
    avg = int(total_bits / total_dur) if total_dur else 0
    return segs, max(peak, avg), avg


#: artwork is refused above this many pixels, from its header, before anything is decoded
ARTWORK_MAX_PIXELS = 40_000_000
ARTWORK_FORMATS = ("JPEG", "PNG", "WEBP")


BUDGET = Budget(48_000_000)  # decoded cover pixels in flight in this process (TimeoutError after 300 s)


def image_header(path: Path) -> tuple[str, int, int]:
    """Format, width and height of an image file from its header only (nothing decoded);
    ``MediaError`` ``unsupported-image`` (415) or ``image-too-large`` (413)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            fmt, width, height = im.format, im.width, im.height
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MediaError("image-too-large", f"artwork is limited to {ARTWORK_MAX_PIXELS // 1_000_000} megapixels",
                         413) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise MediaError("unsupported-image", "artwork is not an image", 415) from None
    if fmt not in ARTWORK_FORMATS:
        raise MediaError("unsupported-image", "artwork must be JPEG, PNG or WebP", 415)
    if width * height > ARTWORK_MAX_PIXELS:
        raise MediaError("image-too-large", f"artwork is limited to {ARTWORK_MAX_PIXELS // 1_000_000} megapixels "
                                            f"(this one is {width}x{height})", 413)
    return fmt, width, height


def artwork_sizes(src: Path, out_dir: Path, sizes=(1200, 600, 300)) -> dict[str, str]:
    """Square JPEG covers in several sizes (Pillow); returns size -> file name. The header is
    checked first (``image_header``); a JPEG is decoded at reduced scale; the centre square is
    downscaled once, then converted; decoding waits for the process's pixel budget."""
    from PIL import Image, ImageOps

    image_header(src)
    largest = max(sizes)
    out = {}
    with Image.open(src) as im:
        if im.format == "JPEG":
            im.draft("RGB", (largest, largest))  # DCT scaling: 1/2, 1/4, 1/8, still >= largest
        with BUDGET.take(im.width * im.height, 300.0):
            im.load()
            if im.mode == "1":
                im = im.convert("L")
            elif im.mode == "P":
                factor = min(im.size) // (2 * largest)
                if factor > 1:  # shrink the palette image cheaply before expanding it
                    im = im.resize((im.width // factor, im.height // factor), Image.NEAREST)
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "YCbCr"):
                im = im.convert("RGB")
            side = min(im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            square = im.crop((left, top, left + side, top + side))  # the centre: the same whatever the orientation
            edge = min(largest, side)
            square = ImageOps.exif_transpose(square.resize((edge, edge), Image.LANCZOS, reducing_gap=3.0)).convert("RGB")
            for size in sizes:
                name = f"cover_{size}.jpg"
                square.resize((min(size, edge), min(size, edge)), Image.LANCZOS).save(out_dir / name, "JPEG", quality=88)
                out[str(size)] = name
    return out


def parse_progress(line: str, duration: float) -> float | None:
    if line.startswith("out_time_us=") and duration > 0:
        try:
            return min(1.0, max(0.0, int(line.split("=", 1)[1]) / 1_000_000 / duration))
        except ValueError:
            return None
    return None


def generated_tone(path: Path, seconds: float, seed: int = 1, freq: int = 220, bpm: float | None = None) -> None:
    """Rich stereo test/demo material (independent noise per channel plus a chord); with ``bpm``,
    a kick drum on every beat over it."""
    inputs = ["-f", "lavfi", "-i", f"anoisesrc=c=pink:a=0.25:d={seconds}:seed={seed}",
              "-f", "lavfi", "-i", f"anoisesrc=c=white:a=0.12:d={seconds}:seed={seed + 100}",
              "-f", "lavfi", "-i", f"sine=f={freq}:d={seconds}",
              "-f", "lavfi", "-i", f"sine=f={int(freq * 1.5)}:d={seconds}"]
    graph = "[0][2]amix=2[l];[1][3]amix=2[r];[l][r]join=inputs=2:channel_layout=stereo[o]"
    if bpm:
        beat = 60.0 / bpm
        inputs += ["-f", "lavfi", "-i", f"aevalsrc=0.9*exp(-25*mod(t\\,{beat:.6f}))*sin(2*PI*55*t):d={seconds}:s=44100"]
        graph = ("[0][2]amix=2[l0];[1][3]amix=2[r0];[4]asplit=2[k1][k2];[l0][k1]amix=2:weights=1 2[l];"
                 "[r0][k2]amix=2:weights=1 2[r];[l][r]join=inputs=2:channel_layout=stereo[o]")
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *inputs, "-filter_complex", graph,
           "-map", "[o]", "-ar", "44100", str(path)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)


def db_to_gain(lufs: float | None, target: float = -14.0) -> float | None:
    return None if lufs is None else round(math.pow(10, (target - lufs) / 20), 4)
