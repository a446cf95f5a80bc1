"""Music videos: the track's own audio under its section images, as an H.264/AAC MP4.

:func:`make_video` shows each section's image for its span of the track, cut or cross-faded on
the section boundaries (each transition centred on its boundary), optionally with a short
zoom-and-flash pulse on given beat times, and - when :func:`interpolate_section_frames` has
rendered them with the diffusion pipeline - morphs from one section's picture to the next
instead of cross-fading. Images are cover-fitted (scaled to fill the frame, the overflow cropped
evenly on both sides) or, with ``fit="contain"``, letterboxed on black.

Design: Python plans every frame and works directly in the encoder's colour format (BT.709
limited-range YUV 4:2:0), so a still image is converted once and its bytes are written again for
every frame it is held, and a cross-fade or a pulse is a few numpy operations on the planes. The
raw frames go through a pipe to one ``ffmpeg`` process, which only encodes (libx264) and muxes
the audio (AAC). Measured on 2 CPU cores for a 3-minute 720p video: this is faster than an
ffmpeg filter graph of looped stills and ``xfade`` filters, and than piping RGB frames for ffmpeg
to convert (see ``bench/bench_video.py``); it has no filter graph that grows with the number of
sections, and it places every transition and pulse on exact frames.

numpy, Pillow and torch are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from midi2img.errors import InputError, Midi2ImgError, ModelError, OutputError

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

    from midi2img.contract import AnalysisRecord

#: What a section's picture may be: a path to an image file or a PIL image.
ImageLike: TypeAlias = "str | os.PathLike[str] | Image"

TRANSITIONS = ("crossfade", "cut")
FITS = ("cover", "contain")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow")
#: How long a beat pulse lasts: it peaks on the frame nearest the beat and decays to nothing
#: (at 24 fps: the beat's frame and two after it). Every pulsed frame is a changed picture that
#: x264 must code in full, so a longer pulse costs encoding time and file size.
PULSE_DECAY_S = 0.15
#: Pulse levels below this (a change nobody sees) are dropped instead of encoded.
PULSE_FLOOR = 0.05
#: Zoom at the peak of a pulse of strength 1 (0.04 = the picture grows by 4 %).
PULSE_ZOOM = 0.04
#: Flash at the peak of a pulse of strength 1: the share of the way each pixel moves to white.
PULSE_LIFT = 0.25
#: How far section bounds may miss each other or the audio's ends (rounding in analysis.json,
#: another decoder's idea of the length) before the sections count as not covering the audio.
COVER_TOLERANCE_S = 0.05
#: Longest cross-fade that :class:`VideoOptions` accepts, in seconds.
MAX_CROSSFADE_S = 10.0

# BT.709 RGB -> Y'CbCr, rows Y, Cb, Cr, for R'G'B' in 0..1 (before range scaling).
_BT709 = ((0.2126, 0.7152, 0.0722),
          (-0.2126 / 1.8556, -0.7152 / 1.8556, 0.5),
          (0.5, -0.7152 / 1.5748, -0.0722 / 1.5748))

Progress = Callable[[int, int], Any]


# ---- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoOptions:
    """How a video looks and is encoded. Every value is checked when the record is made.

    Attributes:
        width: Frame width in pixels (even, 32..7680).
        height: Frame height in pixels (even, 32..4320).
        fps: Frames per second (1..120).
        transition: ``"crossfade"`` (a linear blend centred on each boundary) or ``"cut"``.
        crossfade_s: Length of a cross-fade (or morph) in seconds; shortened where a section is
            shorter than this. 0 makes every transition a cut.
        pulse: Strength of the beat pulse, 0 (off) .. 1: a zoom of up to :data:`PULSE_ZOOM`
            and a flash of up to :data:`PULSE_LIFT` on each beat, gone after
            :data:`PULSE_DECAY_S`.
        fit: ``"cover"`` (fill the frame, crop the overflow) or ``"contain"`` (letterbox).
        crf: x264 constant rate factor (0..51; lower is better and bigger; 18-23 look clean).
        preset: x264 preset (speed against file size at the same quality).
        audio_bitrate_kbps: AAC bit rate in kbit/s (32..512).
    """

    width: int = 1280
    height: int = 720
    fps: int = 24
    transition: str = "crossfade"
    crossfade_s: float = 1.0
    pulse: float = 0.0
    fit: str = "cover"
    crf: int = 20
    preset: str = "veryfast"
    audio_bitrate_kbps: int = 192

    def __post_init__(self) -> None:
        for name, hi in (("width", 7680), ("height", 4320)):
            v = getattr(self, name)
            if not _is_int(v) or not 32 <= v <= hi or v % 2:
                raise InputError(f"video {name} {v!r}: must be an even number of pixels in "
                                 f"32..{hi} (e.g. 1280x720, 1920x1080)")
        if not _is_int(self.fps) or not 1 <= self.fps <= 120:
            raise InputError(f"video fps {self.fps!r}: must be a whole number in 1..120")
        if self.transition not in TRANSITIONS:
            raise InputError(f"unknown video transition {self.transition!r}; choose one of: "
                             f"{', '.join(TRANSITIONS)}")
        if not _is_real(self.crossfade_s) or not 0.0 <= self.crossfade_s <= MAX_CROSSFADE_S:
            raise InputError(f"cross-fade {self.crossfade_s!r} s: must lie in "
                             f"0..{MAX_CROSSFADE_S:g} s")
        if not _is_real(self.pulse) or not 0.0 <= self.pulse <= 1.0:
            raise InputError(f"beat pulse {self.pulse!r}: must lie in 0..1 (0 = off)")
        if self.fit not in FITS:
            raise InputError(f"unknown image fit {self.fit!r}; choose one of: {', '.join(FITS)}")
        if not _is_int(self.crf) or not 0 <= self.crf <= 51:
            raise InputError(f"x264 crf {self.crf!r}: must be a whole number in 0..51")
        if self.preset not in X264_PRESETS:
            raise InputError(f"unknown x264 preset {self.preset!r}; choose one of: "
                             f"{', '.join(X264_PRESETS)}")
        if not _is_int(self.audio_bitrate_kbps) or not 32 <= self.audio_bitrate_kbps <= 512:
            raise InputError(f"audio bit rate {self.audio_bitrate_kbps!r} kbit/s: must be a "
                             f"whole number in 32..512")


@dataclass(frozen=True)
class VideoSection:
    """One section of the video: a picture shown from ``start_s`` to ``end_s``.

    Attributes:
        start_s: Start in seconds from the beginning of the audio.
        end_s: End in seconds (after ``start_s``).
        image: A path to an image file (anything Pillow opens) or a PIL image.
    """

    start_s: float
    end_s: float
    image: ImageLike

    def __post_init__(self) -> None:
        if not (_is_real(self.start_s) and _is_real(self.end_s)
                and math.isfinite(self.start_s) and math.isfinite(self.end_s)):
            raise InputError(f"video section {self.start_s!r}..{self.end_s!r} s: the bounds "
                             f"must be finite numbers of seconds")
        if self.start_s < 0 or self.end_s <= self.start_s:
            raise InputError(f"video section {self.start_s:g}..{self.end_s:g} s: it must start "
                             f"at 0 s or later and end after it starts")
        if not (isinstance(self.image, str | os.PathLike)
                or (hasattr(self.image, "convert") and hasattr(self.image, "size"))):
            raise InputError(f"video section {self.start_s:g}..{self.end_s:g} s: its image "
                             f"must be a file path or a PIL image, not "
                             f"{type(self.image).__name__}")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`make_video` wrote.

    Attributes:
        path: The MP4 file.
        duration_s: Length of the audio (the video has ``frames`` frames, as close as one frame
            can be to it).
        frames: Number of video frames.
        width: Frame width in pixels.
        height: Frame height in pixels.
        fps: Frames per second.
        sections: Number of sections shown.
        transition: ``"crossfade"``, ``"cut"`` or ``"morph"`` (interpolated frames).
        beats_pulsed: Number of beats that got a pulse (0 when the pulse is off).
        size_bytes: Size of the file.
        encode_s: Wall time of the whole call in seconds.
    """

    path: Path
    duration_s: float
    frames: int
    width: int
    height: int
    fps: int
    sections: int
    transition: str
    beats_pulsed: int
    size_bytes: int
    encode_s: float

    def __post_init__(self) -> None:
        if self.frames < 1 or self.duration_s <= 0 or self.sections < 1:
            raise Midi2ImgError(f"{self.path}: a video needs at least one frame and one section")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for ``analysis.json``); the path as its file name."""
        return {"file": self.path.name, "duration_s": round(self.duration_s, 3),
                "frames": self.frames, "width": self.width, "height": self.height,
                "fps": self.fps, "sections": self.sections, "transition": self.transition,
                "beats_pulsed": self.beats_pulsed, "size_bytes": self.size_bytes,
                "encode_s": round(self.encode_s, 3), "video_codec": "h264",
                "audio_codec": "aac"}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# ---- sections from a convert folder ----------------------------------------------------------


def sections_from_analysis(path: str | Path) -> list[VideoSection]:
    """The sections (or the single track image) that ``midi2img convert`` wrote.

    Args:
        path: A track's output folder or its ``analysis.json``.

    Returns:
        One :class:`VideoSection` per row of ``sections`` (``section-01.png`` ...), or - for a
        track converted without ``--segments`` - the track image over the whole track.

    Raises:
        InputError: the file is missing or unreadable, or a section has no image (converted
            with ``--image none``).
    """
    json_path, data = _read(path)
    return _sections(data, json_path)


def _read(path: str | Path) -> tuple[Path, AnalysisRecord]:
    """The ``analysis.json`` of a track folder (or the file itself), read as a typed record.

    Raises:
        InputError: it is missing, unreadable or malformed (one line).
    """
    from midi2img.contract import ANALYSIS_NAME, read_analysis_file

    p = Path(path)
    json_path = p / ANALYSIS_NAME if p.is_dir() else p
    if not json_path.is_file():
        raise InputError(f"{json_path}: no such file (run midi2img convert first)")
    return json_path, read_analysis_file(json_path)


def _sections(data: AnalysisRecord, json_path: Path) -> list[VideoSection]:
    folder = json_path.parent
    if data.sections:
        out = []
        for row in data.sections:
            if not row.file:
                raise InputError(f"{json_path}: section {row.index} has no image (converted "
                                 f"with --image none?)")
            out.append(VideoSection(float(row.start_s), float(row.end_s), folder / row.file))
        return out
    if data.image is None or not data.image.file:
        raise InputError(f"{json_path}: the track has no image (converted with --image none?)")
    if not data.duration_s:
        raise InputError(f"{json_path}: the track has no duration_s")
    return [VideoSection(0.0, float(data.duration_s), folder / data.image.file)]


# ---- the video -------------------------------------------------------------------------------


def make_video(audio_path: str | Path, sections: Sequence[VideoSection], out_path: str | Path,
               *, options: VideoOptions | None = None, beats_s: Sequence[float] | None = None,
               frames_between: Sequence[Sequence[ImageLike]] | None = None,
               force: bool = False, progress: Progress | None = None) -> VideoInfo:
    """Write an MP4 (H.264 + AAC) of ``audio_path`` over the section images.

    The video lasts as long as the audio, to the nearest frame. Section ``k`` is shown from its
    start to its end; a cross-fade (or morph) at a boundary runs from ``crossfade_s / 2`` before
    to ``crossfade_s / 2`` after it, so the frame on the boundary is an even blend. The file is
    written to a temporary name in the destination folder and renamed when complete: an
    interruption (an error, Ctrl-C) leaves any earlier file untouched and no partial one.

    Args:
        audio_path: The track (anything ffmpeg decodes: wav, flac, mp3, m4a, a video's
            soundtrack, ...). Its first audio stream is used.
        sections: The sections in time order, covering ``[0, duration]`` without gaps (within
            :data:`COVER_TOLERANCE_S`; the first starts at 0 and the last ends at the audio's end).
        out_path: The MP4 file to write.
        options: Size, frame rate, transition, pulse and encoder settings.
        beats_s: Beat times in seconds for the pulse (``options.pulse`` > 0); times outside the
            audio are ignored.
        frames_between: For each boundary (``len(sections) - 1`` lists), pictures that morph
            from the section before to the one after (see :func:`interpolate_section_frames`);
            they replace the cross-fade there. An empty list keeps the cross-fade at that
            boundary. Needs ``transition="crossfade"`` and ``crossfade_s`` > 0.
        force: Replace ``out_path`` if it exists.
        progress: Called as ``progress(frames_done, frames_total)`` while encoding.

    Returns:
        What was written.

    Raises:
        InputError: unreadable audio or image, sections that do not cover the audio, or
            inconsistent arguments.
        OutputError: the output exists (without ``force``) or cannot be written.
        Midi2ImgError: ffmpeg is missing or fails.
    """
    t0 = time.perf_counter()
    opts = options if options is not None else VideoOptions()
    if not isinstance(opts, VideoOptions):
        raise InputError(f"options must be VideoOptions, not {type(opts).__name__}")
    ffmpeg, ffprobe = _tools()
    audio = _check_file(audio_path, "audio file")
    duration_s = probe_duration_s(audio, ffprobe=ffprobe)
    secs = list(sections)
    starts = _check_cover(secs, duration_s)
    morph = _check_between(frames_between, len(secs), opts)
    out = Path(out_path)
    if out.is_dir():
        raise OutputError(f"{out} is a folder; give the path of the .mp4 file to write")
    if out.exists() and not force:
        raise OutputError(f"{out} exists; pass --force to replace it")

    n_frames = max(1, round(duration_s * opts.fps))
    stills = [_fit_yuv(_open_image(s.image), opts) for s in secs]
    env, n_beats = (_pulse_envelope(beats_s, n_frames, opts) if opts.pulse > 0 and beats_s
                    else (None, 0))
    source = _FrameSource(stills, starts, morph, env, opts)
    _encode(ffmpeg, audio, out, source.frames(n_frames), n_frames, opts, progress)
    used = "cut" if opts.transition == "cut" or opts.crossfade_s == 0 else (
        "morph" if any(morph) else "crossfade")
    return VideoInfo(path=out, duration_s=duration_s, frames=n_frames, width=opts.width,
                     height=opts.height, fps=opts.fps, sections=len(secs), transition=used,
                     beats_pulsed=n_beats, size_bytes=out.stat().st_size,
                     encode_s=time.perf_counter() - t0)


def _tools() -> tuple[str, str]:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None or ffprobe is None:
        raise Midi2ImgError("making a video needs ffmpeg and ffprobe on the PATH; install "
                            "ffmpeg (e.g. sudo apt-get install ffmpeg)")
    return ffmpeg, ffprobe


def _check_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such {what}")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not an {what}")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: the {what} is empty (0 bytes)")
    return p


def probe_duration_s(path: str | Path, *, ffprobe: str | None = None) -> float:
    """Length of the first audio stream of a file, as ffmpeg decodes it.

    Raises:
        InputError: ffprobe cannot read the file, or it has no audio stream or no length.
        Midi2ImgError: ffprobe is missing.
    """
    p = Path(path)
    exe = ffprobe or _tools()[1]
    cmd = [exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
           "stream=codec_type,duration:format=duration", "-of", "json", str(p)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Midi2ImgError(f"cannot run ffprobe on {p}: {exc}") from exc
    if res.returncode != 0:
        raise InputError(f"{p}: not audio that ffmpeg can read ({_last_line(res.stderr)})")
    try:
        info = json.loads(res.stdout or "{}")
    except ValueError:
        info = {}
    streams = info.get("streams") or []
    if not streams:
        raise InputError(f"{p}: has no audio stream")
    for value in (streams[0].get("duration"), (info.get("format") or {}).get("duration")):
        try:
            d = float(str(value))
        except (TypeError, ValueError):
            continue
        if math.isfinite(d) and d > 0:
            return d
    d = _decoded_duration_s(p)
    if d <= 0:
        raise InputError(f"{p}: the audio has no length")
    return d


def _decoded_duration_s(p: Path) -> float:
    """Length by decoding the whole stream (for files whose header states none)."""
    exe = _tools()[0]
    cmd = [exe, "-hide_banner", "-nostdin", "-v", "error", "-i", str(p), "-map", "0:a:0",
           "-ac", "1", "-ar", "8000", "-f", "s16le", "-"]
    try:
        res = subprocess.run(cmd, capture_output=True, timeout=600, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Midi2ImgError(f"cannot run ffmpeg on {p}: {exc}") from exc
    if res.returncode != 0:
        raise InputError(f"{p}: ffmpeg could not decode it "
                         f"({_last_line(res.stderr.decode(errors='replace'))})")
    return len(res.stdout) / 2 / 8000


def _check_cover(secs: list[VideoSection], duration_s: float) -> list[float]:
    """Check that the sections tile ``[0, duration_s]``; return their starts (first = 0)."""
    if not secs:
        raise InputError("a video needs at least one section")
    for s in secs:
        if not isinstance(s, VideoSection):
            raise InputError(f"sections must be VideoSection records, not {type(s).__name__}")
    tol = COVER_TOLERANCE_S
    if secs[0].start_s > tol:
        raise InputError(f"the sections start at {secs[0].start_s:.3f} s, not at 0 s: they do "
                         f"not cover the audio")
    for a, b in zip(secs, secs[1:], strict=False):
        if abs(b.start_s - a.end_s) > tol:
            kind = "a gap" if b.start_s > a.end_s else "an overlap"
            raise InputError(f"the sections have {kind} between {a.end_s:.3f} s and "
                             f"{b.start_s:.3f} s: they must follow each other without one")
    if abs(secs[-1].end_s - duration_s) > tol:
        raise InputError(f"the sections end at {secs[-1].end_s:.3f} s but the audio lasts "
                         f"{duration_s:.3f} s: they must cover it exactly")
    starts = [0.0] + [s.start_s for s in secs[1:]]
    if any(b <= a for a, b in zip(starts, starts[1:], strict=False)) or starts[-1] >= duration_s:
        raise InputError("the sections must be in time order, each longer than 0 s")
    return starts


def _check_between(frames_between: Sequence[Sequence[ImageLike]] | None, n_sections: int,
                   opts: VideoOptions) -> list[Sequence[ImageLike]]:
    if frames_between is None:
        return [()] * max(0, n_sections - 1)
    lists = list(frames_between)
    if len(lists) != n_sections - 1:
        raise InputError(f"frames_between has {len(lists)} lists; {n_sections} sections need "
                         f"{n_sections - 1} (one per boundary)")
    if any(len(x) for x in lists) and (opts.transition != "crossfade" or opts.crossfade_s == 0):
        raise InputError("in-between frames need transition 'crossfade' with crossfade_s > 0 "
                         "(they are played over the cross-fade's span)")
    if any(len(x) == 1 for x in lists):
        raise InputError("each list of in-between frames needs at least 2 pictures (or none)")
    for pics in lists:
        for pic in pics:
            if isinstance(pic, str | os.PathLike):
                _check_file(Path(pic), "image file")
    return lists


# ---- pictures --------------------------------------------------------------------------------


def _open_image(image: ImageLike) -> Image:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    if not isinstance(image, str | os.PathLike):
        return image
    p = _check_file(Path(image), "image file")
    try:
        with PILImage.open(p) as im:
            im.load()
            return im
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise InputError(f"{p}: not an image Pillow can read ({exc})") from exc


def fit_image(image: Image, *, width: int, height: int, fit: str = "cover") -> Image:
    """An RGB copy of ``image`` at ``width`` x ``height``.

    ``cover`` scales it to fill the frame and crops the overflow evenly (a square picture in a
    16:9 frame loses its top and bottom); ``contain`` scales it to fit inside and pads with
    black bars.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps

    if fit not in FITS:
        raise InputError(f"unknown image fit {fit!r}; choose one of: {', '.join(FITS)}")
    rgb = image.convert("RGB")
    if rgb.size == (width, height):
        return rgb
    if fit == "cover":
        return ImageOps.fit(rgb, (width, height), method=PILImage.Resampling.LANCZOS)
    return ImageOps.pad(rgb, (width, height), method=PILImage.Resampling.LANCZOS,
                        color=(0, 0, 0))


def rgb_to_yuv420(rgb: np.ndarray) -> np.ndarray:
    """BT.709 limited-range Y'CbCr 4:2:0 planes (Y, then Cb, then Cr) as one float32 vector.

    Chroma is sited as H.264 assumes by default (horizontally on the even luma columns,
    vertically between rows), with a [1, 2, 1] filter across columns.

    Args:
        rgb: ``(height, width, 3)`` uint8, both sizes even.
    """
    import numpy as np

    h, w, _ = rgb.shape
    f = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    m = np.asarray(_BT709, dtype=np.float32)
    y = 16.0 + 219.0 * (f @ m[0])
    planes = [y.ravel()]
    for row in (m[1], m[2]):
        c = f @ row
        c = 0.5 * (c[0::2] + c[1::2])  # vertical: between the two rows
        left = np.concatenate([c[:, :1], c[:, 1:-1:2]], axis=1)  # column 2x-1 (edge repeated)
        c = 0.25 * left + 0.5 * c[:, 0::2] + 0.25 * c[:, 1::2]
        planes.append((128.0 + 224.0 * c).ravel())
    return np.concatenate(planes).astype(np.float32)


def _fit_yuv(image: Image, opts: VideoOptions) -> np.ndarray:
    """The picture fitted to the frame, as uint8 YUV 4:2:0 planes."""
    import numpy as np

    rgb = np.asarray(fit_image(image, width=opts.width, height=opts.height, fit=opts.fit))
    return _to_u8(rgb_to_yuv420(rgb))


def _to_u8(planes: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.clip(planes + np.float32(0.5), 0.0, 255.0).astype(np.uint8)


def _pulse_envelope(beats_s: Sequence[float], n_frames: int, opts: VideoOptions
                    ) -> tuple[np.ndarray, int]:
    """Per-frame pulse strength in 0..1 (1 on the frame nearest each beat, decaying after) and
    the number of beats that fall inside the video."""
    import numpy as np

    env = np.zeros(n_frames, dtype=np.float64)
    span = max(1, int(math.ceil(PULSE_DECAY_S * opts.fps)))
    shape = (1.0 - np.arange(span) / (PULSE_DECAY_S * opts.fps)).clip(0.0, 1.0) ** 2
    shape[shape < PULSE_FLOOR] = 0.0
    try:
        beats = np.asarray(list(beats_s), dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"beat times must be numbers of seconds ({exc})") from exc
    if not np.all(np.isfinite(beats)):
        raise InputError("beat times must be finite numbers of seconds")
    count = 0
    for f0 in np.rint(beats * opts.fps).astype(np.int64):
        if 0 <= f0 < n_frames:
            seg = env[f0:f0 + span]
            np.maximum(seg, shape[:seg.size], out=seg)
            count += 1
    return env, count


class _FrameSource:
    """Makes the raw YUV 4:2:0 bytes of every frame, in order."""

    def __init__(self, stills: list[np.ndarray], starts: list[float],
                 between: list[Sequence[ImageLike]], env: np.ndarray | None,
                 opts: VideoOptions) -> None:
        self.stills = stills
        self.starts = starts
        self.between = between
        self.env = env
        self.opts = opts
        ends = starts[1:] + [math.inf]
        lengths = [e - s for s, e in zip(starts, ends, strict=True)]
        fade = opts.crossfade_s if opts.transition == "crossfade" else 0.0
        # half-length of the transition on the boundary at the start of section k (k >= 1)
        self.half = [0.0] + [min(fade, lengths[k - 1], lengths[k]) / 2.0
                             for k in range(1, len(starts))]
        self._morph: tuple[int, list[np.ndarray]] | None = None
        self._pulse_cache: dict[tuple[int, float], bytes] = {}
        self._still_bytes: dict[int, bytes] = {}

    def frames(self, n_frames: int) -> Iterator[bytes]:
        import bisect

        for i in range(n_frames):
            t = i / self.opts.fps
            k = max(0, bisect.bisect_right(self.starts, t) - 1)
            e = float(self.env[i]) if self.env is not None else 0.0
            blend = self._transition(k, t)
            if blend is None:
                yield self._still(k, e)
            else:
                planes = self._blend(*blend)
                if e > 0:
                    planes = self._pulse(planes, e)
                yield _to_u8(planes).tobytes()

    def _transition(self, k: int, t: float) -> tuple[int, float] | None:
        """``(boundary, alpha)`` when frame time ``t`` in section ``k`` lies in a transition."""
        if k >= 1 and t - self.starts[k] < self.half[k]:
            j = k
        elif k + 1 < len(self.starts) and self.starts[k + 1] - t < self.half[k + 1]:
            j = k + 1
        else:
            return None
        h = self.half[j]
        return j, (t - self.starts[j] + h) / (2.0 * h)

    def _still(self, k: int, e: float) -> bytes:
        if e == 0:
            if k not in self._still_bytes:
                self._still_bytes = {k: self.stills[k].tobytes()}  # only the current one
            return self._still_bytes[k]
        key = (k, e)
        if key not in self._pulse_cache:
            if any(kk != k for kk, _ in self._pulse_cache):
                self._pulse_cache.clear()
            import numpy as np

            planes = self._pulse(self.stills[k].astype(np.float32), e)
            self._pulse_cache[key] = _to_u8(planes).tobytes()
        return self._pulse_cache[key]

    def _blend(self, j: int, alpha: float) -> np.ndarray:
        """Frame at ``alpha`` (0..1) through the transition on boundary ``j``."""
        import numpy as np

        pics = self.between[j - 1]
        if not pics:
            a, b = self.stills[j - 1], self.stills[j]
        else:
            if self._morph is None or self._morph[0] != j:
                self._morph = (j, [_fit_yuv(_open_image(p), self.opts) for p in pics])
            frames = self._morph[1]
            pos = alpha * (len(frames) - 1)
            i0 = min(int(pos), len(frames) - 2)
            a, b, alpha = frames[i0], frames[i0 + 1], pos - i0
        fa = a.astype(np.float32)
        return fa + (b.astype(np.float32) - fa) * np.float32(alpha)

    def _pulse(self, planes: np.ndarray, e: float) -> np.ndarray:
        """Zoom into the centre and lift towards white, by ``e`` (0..1) times the strength."""
        import numpy as np
        from PIL import Image as PILImage

        w, h = self.opts.width, self.opts.height
        s = self.opts.pulse * e
        zoom = 1.0 + PULSE_ZOOM * s
        lift = np.float32(PULSE_LIFT * s)
        n_y = w * h
        n_c = n_y // 4
        out = np.empty_like(planes)
        for off, n, pw, ph in ((0, n_y, w, h), (n_y, n_c, w // 2, h // 2),
                               (n_y + n_c, n_c, w // 2, h // 2)):
            plane = planes[off:off + n].reshape(ph, pw)
            if zoom > 1.0:
                cw, ch = pw / zoom, ph / zoom
                box = ((pw - cw) / 2, (ph - ch) / 2, (pw + cw) / 2, (ph + ch) / 2)
                img = PILImage.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
                plane = np.asarray(img.resize((pw, ph), PILImage.Resampling.BILINEAR, box=box))
            out[off:off + n] = plane.ravel()
        # lift towards white: R' = R + lift * (1 - R) for each channel, which in Y'CbCr is
        # Y' = Y + lift * (235 - Y) and C' = 128 + (1 - lift) * (C - 128)
        out[:n_y] += lift * (np.float32(235.0) - out[:n_y])
        out[n_y:] = np.float32(128.0) + (np.float32(1.0) - lift) * (out[n_y:] - np.float32(128.0))
        return out


# ---- ffmpeg ----------------------------------------------------------------------------------


def _encode(ffmpeg: str, audio: Path, out: Path, frames: Iterator[bytes], n_frames: int,
            opts: VideoOptions, progress: Progress | None) -> None:
    """Pipe the frames into ffmpeg, writing a temporary file beside ``out``, then rename it."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial.mp4",
                                        dir=out.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(f"cannot write to {out.parent}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{opts.width}x{opts.height}",
           "-framerate", str(opts.fps), "-i", "pipe:0",
           "-i", str(audio),
           "-map", "0:v:0", "-map", "1:a:0", "-map_metadata", "1",
           "-c:v", "libx264", "-preset", opts.preset, "-crf", str(opts.crf),
           "-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709",
           "-color_trc", "bt709", "-color_range", "tv",
           "-c:a", "aac", "-b:a", f"{opts.audio_bitrate_kbps}k",
           "-movflags", "+faststart", "-f", "mp4", str(tmp)]
    proc: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryFile() as err:
            try:
                # its own session: Ctrl-C reaches only Python, which stops ffmpeg and cleans up
                proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=err, start_new_session=True)
            except OSError as exc:
                raise Midi2ImgError(f"cannot run ffmpeg: {exc.strerror or exc}") from exc
            assert proc.stdin is not None
            broken = False
            for i, frame in enumerate(frames):
                try:
                    proc.stdin.write(frame)
                except BrokenPipeError:
                    broken = True  # ffmpeg stopped; its message says why
                    break
                if progress is not None:
                    progress(i + 1, n_frames)
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            rc = proc.wait()
            if rc != 0 or broken:
                err.seek(0)
                why = _last_line(err.read().decode("utf-8", errors="replace"))
                raise _ffmpeg_error(why, audio, out)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, out)
    except OSError as exc:
        raise OutputError(f"cannot write {out}: {exc.strerror or exc}") from exc
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        tmp.unlink(missing_ok=True)


def _ffmpeg_error(why: str, audio: Path, out: Path) -> Midi2ImgError:
    low = why.lower()
    if "no space left" in low or "permission denied" in low or "read-only" in low:
        return OutputError(f"cannot write {out}: ffmpeg says: {why}")
    if str(audio) in why or "invalid data found" in low:
        return InputError(f"{audio}: ffmpeg could not decode the audio ({why})")
    return Midi2ImgError(f"ffmpeg failed to make {out} ({why})")


def _last_line(text: str) -> str:
    """The most telling line of a tool's error output (ffmpeg ends with a bare summary)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    telling = [ln for ln in lines if ln.rstrip("!.") != "Conversion failed"]
    return (telling or lines or ["no message"])[-1][:300]


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ---- latent interpolation (diffusers) --------------------------------------------------------


def slerp(t: float, v0: Any, v1: Any) -> Any:
    """Spherical interpolation between two torch tensors of noise (``t`` in 0..1).

    ``t = 0`` and ``t = 1`` return the ends unchanged; nearly parallel tensors fall back to a
    linear interpolation.
    """
    import torch

    if t <= 0.0:
        return v0
    if t >= 1.0:
        return v1
    a, b = v0.double().flatten(), v1.double().flatten()
    dot = torch.clamp((a @ b) / (a.norm() * b.norm()), -1.0, 1.0)
    theta = torch.arccos(dot)
    if float(theta) < 1e-4:
        mixed = (1.0 - t) * a + t * b
    else:
        s = torch.sin(theta)
        mixed = (torch.sin((1.0 - t) * theta) / s) * a + (torch.sin(t * theta) / s) * b
    return mixed.reshape(v0.shape).to(v0.dtype)


def interpolate_section_frames(pipe: Any, prompts: Sequence[str], seeds: Sequence[int], *,
                               steps: int, guidance: float, n_frames: int,
                               width: int | None = None, height: int | None = None,
                               negative_prompts: Sequence[str] | None = None,
                               progress: Progress | None = None) -> list[list[Image]]:
    """Morphs between consecutive sections' pictures, rendered by a diffusion pipeline.

    For each pair of consecutive sections it renders ``n_frames`` pictures whose initial noise
    is the spherical interpolation (slerp) of the two sections' noise (drawn from their seeds
    as the pipeline draws it from ``torch.Generator("cpu").manual_seed(seed)``) and whose prompt
    embeddings are the linear interpolation of the two prompts'. The first picture is the first
    section's own render and the last the second's (same seed, prompt, steps, guidance and
    size as :class:`midi2img.render.DiffusionRenderer` uses), so the video can go from one to the
    other without a cross-fade. Each section's own render is made once and shared by its pairs.

    Args:
        pipe: A loaded diffusers text-to-image pipeline with ``encode_prompt`` (Stable
            Diffusion 1.x/2.x; SDXL's pooled embeddings are interpolated too).
        prompts: One prompt per section.
        seeds: One seed per section.
        steps: Denoising steps.
        guidance: Classifier-free guidance scale.
        n_frames: Pictures per pair, both ends included (2..240).
        width: Picture width (None: the model's native size).
        height: Picture height (None: the model's native size).
        negative_prompts: One negative prompt per section (used only with guidance > 1).
        progress: Called as ``progress(done, total)`` after each rendered picture.

    Returns:
        ``len(prompts) - 1`` lists of ``n_frames`` PIL images each.

    Raises:
        InputError: mismatched lengths or values out of range.
        ModelError: the pipeline cannot take prompt embeddings and latents, or fails.
    """
    n = len(prompts)
    if len(seeds) != n or (negative_prompts is not None and len(negative_prompts) != n):
        raise InputError(f"interpolation needs one seed (and negative prompt) per prompt: "
                         f"{n} prompts, {len(seeds)} seeds")
    if n < 2:
        return []
    if not _is_int(n_frames) or not 2 <= n_frames <= 240:
        raise InputError(f"n_frames {n_frames!r}: must be a whole number in 2..240")
    if not _is_int(steps) or not 1 <= steps <= 1000:
        raise InputError(f"steps {steps!r}: must lie in 1..1000")
    if not _is_real(guidance) or not 0.0 <= guidance <= 50.0:
        raise InputError(f"guidance {guidance!r}: must lie in 0..50")
    for name in ("encode_prompt", "unet", "vae_scale_factor"):
        if not hasattr(pipe, name):
            raise ModelError(f"{type(pipe).__name__} has no {name}: latent interpolation needs a "
                             f"Stable Diffusion pipeline")
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    device = pipe._execution_device
    cfg = guidance > 1.0 and getattr(pipe.unet.config, "time_cond_proj_dim", None) is None
    sample = pipe.unet.config.sample_size
    native_h, native_w = (sample, sample) if isinstance(sample, int) else sample
    h = height or native_h * pipe.vae_scale_factor
    w = width or native_w * pipe.vae_scale_factor
    shape = (1, pipe.unet.config.in_channels, h // pipe.vae_scale_factor,
             w // pipe.vae_scale_factor)
    names = ("prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds",
             "negative_pooled_prompt_embeds")
    total = n + (n - 1) * (n_frames - 2)
    done = 0
    with torch.inference_mode():
        try:
            embeds = []
            for i, prompt in enumerate(prompts):
                neg = negative_prompts[i] if negative_prompts is not None and cfg else None
                res = pipe.encode_prompt(prompt=prompt, device=device, num_images_per_prompt=1,
                                         do_classifier_free_guidance=cfg, negative_prompt=neg)
                embeds.append(dict(zip(names, res, strict=False)))
        except Exception as exc:
            raise ModelError(f"cannot encode the prompts with {type(pipe).__name__}: "
                             f"{type(exc).__name__}: {exc}") from exc
        dtype = embeds[0]["prompt_embeds"].dtype
        noise = [randn_tensor(shape, generator=torch.Generator("cpu").manual_seed(int(s)),
                              device=device, dtype=dtype) for s in seeds]

        def render(i: int, j: int, t: float) -> Image:
            nonlocal done
            kwargs: dict[str, Any] = {
                key: (e0 if t == 0.0 else embeds[j][key] if t == 1.0
                      else torch.lerp(e0, embeds[j][key], t))
                for key, e0 in embeds[i].items() if e0 is not None and (cfg or "neg" not in key)}
            try:
                out = pipe(latents=slerp(t, noise[i], noise[j]), num_inference_steps=steps,
                           guidance_scale=guidance, width=w, height=h, **kwargs)
            except Exception as exc:
                raise ModelError(f"the diffusion pipeline failed on an in-between frame: "
                                 f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                                 ) from exc
            done += 1
            if progress is not None:
                progress(done, total)
            return out.images[0]

        own: dict[int, Image] = {}
        result: list[list[Image]] = []
        for i in range(n - 1):
            if i not in own:
                own[i] = render(i, i, 0.0)
            middle = [render(i, i + 1, k / (n_frames - 1)) for k in range(1, n_frames - 1)]
            own[i + 1] = render(i + 1, i + 1, 0.0)
            result.append([own[i], *middle, own[i + 1]])
    return result


# ---- the video of a converted track ------------------------------------------------------------


def track_video(folder: str | Path, *, audio: str | Path | None = None,
                out: str | Path | None = None, options: VideoOptions | None = None,
                morph_frames: int = 0, force: bool = False,
                progress: Progress | None = None) -> VideoInfo:
    """The video of a track that ``midi2img convert`` wrote into ``folder``.

    The sections' images (or the track's image) over the track's own audio; with a pulse, on the
    beats of the track's tempo grid (from its transcription). A MIDI track is rendered to audio
    with the GM soundfont first. With ``morph_frames`` > 0 and Stable Diffusion images, the
    pictures between sections are rendered by morphing the sections' latents with the same
    model, seeds, prompts, steps and guidance (:func:`interpolate_section_frames`).

    Args:
        folder: The track's output folder (``analysis.json``, ``<name>.mid``, images).
        audio: The recording, when ``analysis.json``'s ``source`` no longer points at it.
        out: The MP4 to write (default ``folder/<name>.mp4``).
        options: Size, frame rate, transition, pulse.
        morph_frames: Pictures per morph between sections (0: cross-fades or cuts).
        force: Replace an existing MP4.
        progress: Called as ``progress(frames_done, frames_total)``.

    Raises:
        InputError: no analysis, no images, the audio is gone, a morph without SD images.
        OutputError: the MP4 exists (without ``force``) or cannot be written.
        ModelError: the diffusion model of a morph cannot be loaded.
    """
    folder_p = Path(folder)
    json_path, data = _read(folder_p)
    sections = _sections(data, json_path)
    opts = options or VideoOptions()
    target = Path(out) if out is not None else folder_p / f"{folder_p.name}.mp4"
    if target.exists() and not force:
        raise OutputError(f"{target} exists; pass --force to replace it")
    beats = None
    if opts.pulse > 0:
        beats = _pulse_beats(data, folder_p, json_path)
    between = None
    if morph_frames > 0:
        between = _section_morphs(data, morph_frames, json_path)
    with tempfile.TemporaryDirectory(prefix="midi2img-video-") as tmp:
        source = _track_audio(data, folder_p, audio, Path(tmp))
        # a MIDI track's rendering rings on after its last note: the last picture stays
        duration = probe_duration_s(source)
        last = sections[-1]
        if duration > last.start_s and abs(duration - last.end_s) > COVER_TOLERANCE_S:
            sections[-1] = VideoSection(last.start_s, duration, last.image)
        return make_video(source, sections, target, options=opts, beats_s=beats,
                          frames_between=between, force=force, progress=progress)


def _pulse_beats(data: AnalysisRecord, folder: Path, json_path: Path) -> list[float]:
    """The beats the pulse falls on: the analysis' beat track (the beats heard), else, for
    an older analysis without one, a grid at its tempo phased to the transcription's notes."""
    if data.beats:
        return list(data.beats)
    from midi2img.features import beat_grid
    from midi2img.notes import read_midi

    mid = folder / f"{folder.name}.mid"
    if not mid.is_file():  # a staged folder (convert --video) has another name
        mid = next(iter(sorted(folder.glob("*.mid"))), mid)
    if data.tempo_bpm is None or data.duration_s is None:
        raise InputError(f"{json_path}: a beat pulse needs the track's beats, or its tempo_bpm "
                         f"and duration_s")
    notes = read_midi(mid)
    return [float(b) for b in beat_grid(notes, tempo_bpm=float(data.tempo_bpm),
                                        duration_s=float(data.duration_s))]


def video_step(folder: Path, *, stem: str, source: Path, analysis: dict[str, Any]) -> list[str]:
    """``convert --video``: ``<stem>.mp4`` in the track's staged folder, with the default
    :class:`VideoOptions` (``midi2img video`` makes others from the finished folder)."""
    audio = None if analysis.get("input_kind") == "midi" else source
    info = track_video(folder, audio=audio, out=Path(folder) / f"{stem}.mp4", force=True)
    return [info.path.name]


def _track_audio(data: AnalysisRecord, folder: Path, audio: str | Path | None,
                 tmp: Path) -> Path:
    """The track's audio: given, the source, or (MIDI) the source rendered with fluidsynth."""
    if audio is not None:
        return Path(audio)
    source = Path(data.source or "")
    if data.input_kind == "midi":
        from midi2img.synth import render_midi_file

        midi = source if source.is_file() else folder / f"{folder.name}.mid"
        return render_midi_file(midi, tmp / "rendered.wav")
    if not source.is_file():
        raise InputError(f"{source}: the track's recording is not there any more (analysis.json "
                         f"names it relative to where convert ran); pass --audio")
    return source


def _section_morphs(data: AnalysisRecord, n_frames: int, json_path: Path
                    ) -> list[list[Image]]:
    """Morph pictures between the sections, with the model and settings that drew them."""
    from midi2img.render import RenderOptions
    from midi2img.render.diffusion import SD_RENDERER, DiffusionBackend

    image = data.image
    rows = data.sections
    if image is None or image.renderer != SD_RENDERER or len(rows) < 2:
        raise InputError(f"{json_path}: morphs need a storyboard (--segments) drawn with Stable "
                         f"Diffusion (--image sd)")
    model, steps, guidance = image.model, image.steps, image.guidance
    width, height = image.width, image.height
    if model is None or steps is None or guidance is None or width is None or height is None:
        raise InputError(f"{json_path}: the image record lacks the model, steps, guidance or "
                         f"size a morph needs")
    if any(r.prompt is None or r.seed is None for r in rows):
        raise InputError(f"{json_path}: a morph needs every section's prompt and seed")
    backend = DiffusionBackend(RenderOptions(
        model=model, model_named=True, steps=steps, guidance=float(guidance), width=width,
        height=height), allow_download=False)
    return interpolate_section_frames(
        backend.pipeline, [r.prompt or "" for r in rows], [r.seed or 0 for r in rows],
        steps=steps, guidance=float(guidance), n_frames=n_frames, width=width, height=height,
        negative_prompts=[r.negative_prompt or "" for r in rows])
