"""Music videos: streams, length, transitions, pulse, errors, atomic output, latent morphs.

Every video here is small (320x180 or less, a few seconds) and checked with ffprobe and with
frames decoded back to RGB by ffmpeg.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from midi2img.errors import InputError, Midi2ImgError, OutputError
from midi2img.video import (
    VideoOptions,
    VideoSection,
    fit_image,
    interpolate_section_frames,
    make_video,
    probe_duration_s,
    sections_from_analysis,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="needs ffmpeg and ffprobe")

W, H, FPS = 320, 180, 24
RED, GREEN, BLUE = (200, 30, 30), (30, 200, 30), (30, 30, 200)
#: Largest difference per channel between a colour put in and the colour decoded back
#: (limited-range YUV 4:2:0 rounding plus x264 at crf 20 on flat colour measure about 2).
TOL = 6


def _write_audio(path: Path, seconds: float, sr: int = 44100) -> Path:
    import soundfile as sf

    t = np.arange(int(round(seconds * sr))) / sr
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 330 * t)
    sf.write(str(path), np.stack([tone, 0.5 * tone], axis=1).astype(np.float32), sr,
             subtype="PCM_16")
    return path


def _solid(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> Path:
    from PIL import Image

    Image.new("RGB", size, colour).save(path)
    return path


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[VideoSection]]:
    """12 s of tones and three solid-colour sections: red 0-4 s, green 4-8 s, blue 8-12 s."""
    d = tmp_path_factory.mktemp("track")
    audio = _write_audio(d / "track.wav", 12.0)
    secs = [VideoSection(4.0 * k, 4.0 * k + 4.0, _solid(d / f"s{k}.png", c))
            for k, c in enumerate((RED, GREEN, BLUE))]
    return audio, secs


def _probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "stream=codec_type,codec_name,width,height,r_frame_rate,nb_frames:"
                          "format=duration", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def _frames(path: Path, indices: list[int], w: int = W, h: int = H) -> np.ndarray:
    """Frames ``indices`` of a video as ``(len, h, w, 3)`` uint8 RGB, decoded by ffmpeg."""
    order = sorted(set(indices))  # ffmpeg gives them in stream order
    select = "+".join(f"eq(n\\,{i})" for i in order)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-vf",
                          f"select='{select}'", "-fps_mode", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    assert len(frames) == len(order)
    return frames[[order.index(i) for i in indices]]


def _centre(frame: np.ndarray) -> np.ndarray:
    h, w, _ = frame.shape
    return frame[h // 4:3 * h // 4, w // 4:3 * w // 4].reshape(-1, 3).mean(axis=0)


def _mix(a: tuple[int, ...], b: tuple[int, ...], alpha: float) -> np.ndarray:
    return (1 - alpha) * np.array(a, float) + alpha * np.array(b, float)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_crossfade_video_has_the_right_streams_length_and_blends(
        track: tuple[Path, list[VideoSection]], tmp_path: Path) -> None:
    audio, secs = track
    out = tmp_path / "video.mp4"
    info = make_video(audio, secs, out, options=VideoOptions(width=W, height=H, fps=FPS,
                                                             crossfade_s=1.0))
    assert (info.path, info.frames, info.sections, info.transition) == (out, 288, 3, "crossfade")
    assert info.size_bytes == out.stat().st_size > 0
    meta = _probe(out)
    video = [s for s in meta["streams"] if s["codec_type"] == "video"]
    sound = [s for s in meta["streams"] if s["codec_type"] == "audio"]
    assert len(video) == 1 and len(sound) == 1
    assert (video[0]["codec_name"], video[0]["width"], video[0]["height"]) == ("h264", W, H)
    assert video[0]["r_frame_rate"] == "24/1" and int(video[0]["nb_frames"]) == 288
    assert sound[0]["codec_name"] == "aac"
    assert abs(float(meta["format"]["duration"]) - 12.0) <= 1 / FPS
    # the 1 s cross-fades run from 3.5 to 4.5 s and from 7.5 to 8.5 s: frame n is at n / 24 s
    expect = {0: RED, 83: RED, 90: _mix(RED, GREEN, 0.25), 96: _mix(RED, GREEN, 0.5),
              102: _mix(RED, GREEN, 0.75), 108: GREEN, 180: GREEN, 192: _mix(GREEN, BLUE, 0.5),
              204: BLUE, 287: BLUE}
    frames = _frames(out, list(expect))
    for frame, (n, colour) in zip(frames, expect.items(), strict=True):
        assert np.abs(_centre(frame) - np.asarray(colour, float)).max() <= TOL, n
        assert frame.reshape(-1, 3).std(axis=0).max() < 2.0  # one flat colour, edge to edge


def test_cut_changes_picture_exactly_on_the_boundary(
        track: tuple[Path, list[VideoSection]], tmp_path: Path) -> None:
    audio, secs = track
    out = tmp_path / "cut.mp4"
    info = make_video(audio, secs, out, options=VideoOptions(width=W, height=H, transition="cut"))
    assert info.transition == "cut"
    expect = {0: RED, 95: RED, 96: GREEN, 191: GREEN, 192: BLUE, 287: BLUE}
    for frame, (n, colour) in zip(_frames(out, list(expect)), expect.items(), strict=True):
        assert np.abs(_centre(frame) - np.asarray(colour, float)).max() <= TOL, n


def _pattern(path: Path) -> Path:
    """A light square in the middle of a dark grey picture, 16:9 like the video."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (W, H), (40, 40, 40))
    ImageDraw.Draw(im).rectangle((W // 2 - 30, H // 2 - 30, W // 2 + 29, H // 2 + 29),
                                 fill=(220, 220, 220))
    im.save(path)
    return path


def test_pulse_changes_frames_on_beats_and_not_between(tmp_path: Path) -> None:
    audio = _write_audio(tmp_path / "a.wav", 4.0)
    secs = [VideoSection(0.0, 4.0, _pattern(tmp_path / "p.png"))]
    beats = [1.0, 2.5, 3.0, 20.0]  # the last lies after the end: ignored
    plain = make_video(audio, secs, tmp_path / "plain.mp4",
                       options=VideoOptions(width=W, height=H, transition="cut"))
    pulsed = make_video(audio, secs, tmp_path / "pulse.mp4", beats_s=beats,
                        options=VideoOptions(width=W, height=H, transition="cut", pulse=1.0))
    assert (plain.beats_pulsed, pulsed.beats_pulsed) == (0, 3)
    on_beat, between = [24, 60, 72], [12, 36, 48, 66, 90]  # 1.0, 2.5, 3.0 s; 0.5 ... 3.75 s
    a = _frames(plain.path, on_beat + between).astype(float)
    b = _frames(pulsed.path, on_beat + between).astype(float)
    for i, n in enumerate(on_beat):
        assert b[i, 5, 5].mean() > a[i, 5, 5].mean() + 30, n  # the background flashes
        light_a, light_b = (a[i].mean(-1) > 150).sum(), (b[i].mean(-1) > 150).sum()
        assert light_b > 1.05 * light_a, n  # the square zooms in
    for i, n in enumerate(between, start=len(on_beat)):
        assert np.abs(b[i] - a[i]).mean() < 1.5, n
        assert abs(b[i, 5, 5].mean() - 40) <= TOL, n


def test_many_sections_and_short_sections_shorten_the_crossfade(tmp_path: Path) -> None:
    import colorsys

    audio = _write_audio(tmp_path / "a.wav", 8.0)
    colours = []
    for k in range(32):
        r, g, b = colorsys.hsv_to_rgb(k / 32, 0.8, 0.8)
        colours.append((int(255 * r), int(255 * g), int(255 * b)))
    secs = [VideoSection(0.25 * k, 0.25 * (k + 1), _solid(tmp_path / f"{k}.png", colours[k]))
            for k in range(32)]
    info = make_video(audio, secs, tmp_path / "v.mp4",
                      options=VideoOptions(width=160, height=90, crossfade_s=2.0))
    assert (info.sections, info.frames) == (32, 192)
    # each section lasts 6 frames; the fades shrink to 0.25 s, so its middle frame is pure
    picks = [6 * k + 3 for k in range(32)]
    for k, frame in enumerate(_frames(info.path, picks, 160, 90)):
        assert np.abs(_centre(frame) - np.asarray(colours[k], float)).max() <= TOL, k
    boundary = _frames(info.path, [6 * 5], 160, 90)[0]  # 1.25 s: half section 4, half 5
    assert np.abs(_centre(boundary) - _mix(colours[4], colours[5], 0.5)).max() <= TOL


def test_cover_fills_the_frame_and_contain_letterboxes(tmp_path: Path) -> None:
    audio = _write_audio(tmp_path / "a.wav", 1.0)
    secs = [VideoSection(0.0, 1.0, _solid(tmp_path / "red.png", RED, (100, 100)))]
    for fit, side in (("cover", RED), ("contain", (0, 0, 0))):
        info = make_video(audio, secs, tmp_path / f"{fit}.mp4",
                          options=VideoOptions(width=W, height=H, fit=fit))
        frame = _frames(info.path, [12])[0].astype(float)
        assert np.abs(frame[H // 2, W // 2] - RED).max() <= TOL
        for x in (5, W - 6):  # a square picture leaves 70 px bars left and right
            assert np.abs(frame[H // 2, x] - side).max() <= TOL, (fit, x)


def test_other_audio_formats_and_duration_within_one_frame(tmp_path: Path) -> None:
    wav = _write_audio(tmp_path / "a.wav", 3.3)
    m4a = tmp_path / "a.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(wav), "-c:a", "aac",
                    str(m4a)], check=True)
    duration = probe_duration_s(m4a)
    assert abs(duration - 3.3) < 0.05
    secs = [VideoSection(0.0, 1.0, _solid(tmp_path / "r.png", RED)),
            VideoSection(1.0, 3.3, _solid(tmp_path / "g.png", GREEN))]
    info = make_video(m4a, secs, tmp_path / "v.mp4", options=VideoOptions(width=W, height=H))
    assert info.frames == round(duration * FPS)
    assert abs(float(_probe(info.path)["format"]["duration"]) - duration) <= 1 / FPS


@pytest.mark.parametrize("bad", [
    {"width": 321}, {"height": 0}, {"width": True}, {"fps": 0}, {"fps": 23.976},
    {"transition": "wipe"}, {"crossfade_s": -1.0}, {"crossfade_s": float("nan")},
    {"pulse": 1.5}, {"fit": "stretch"}, {"crf": 60}, {"preset": "warp"},
    {"audio_bitrate_kbps": 8},
])
def test_bad_options_are_input_errors(bad: dict) -> None:
    with pytest.raises(InputError) as err:
        VideoOptions(**bad)
    assert "\n" not in str(err.value) and str(err.value)


@pytest.mark.parametrize("case", ["no audio", "not audio", "short sections", "gap", "late start",
                                  "missing image", "not an image", "between count", "exists",
                                  "no ffmpeg"])
def test_bad_inputs_fail_with_one_line_and_write_nothing(
        case: str, track: tuple[Path, list[VideoSection]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    audio, secs = track
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "v.mp4"
    kwargs: dict = {}
    expected: type[Midi2ImgError] = InputError
    if case == "no audio":
        audio = tmp_path / "missing.wav"
    elif case == "not audio":
        audio = tmp_path / "notes.wav"
        audio.write_text("these are not samples\n")
    elif case == "short sections":
        secs = secs[:2]
    elif case == "gap":
        secs = [secs[0], VideoSection(4.5, 8.0, secs[1].image), secs[2]]
    elif case == "late start":
        secs = [VideoSection(0.5, 4.0, secs[0].image), *secs[1:]]
    elif case == "missing image":
        secs = [secs[0], VideoSection(4.0, 8.0, tmp_path / "nope.png"), secs[2]]
    elif case == "not an image":
        (tmp_path / "text.png").write_text("no pixels here")
        secs = [secs[0], VideoSection(4.0, 8.0, tmp_path / "text.png"), secs[2]]
    elif case == "between count":
        kwargs["frames_between"] = [[secs[0].image, secs[1].image]]
    elif case == "exists":
        out.write_bytes(b"earlier")
        expected = OutputError
    elif case == "no ffmpeg":
        monkeypatch.setenv("PATH", str(tmp_path))
        expected = Midi2ImgError
    with pytest.raises(Midi2ImgError) as err:
        make_video(audio, secs, out, options=VideoOptions(width=W, height=H), **kwargs)
    assert type(err.value) is expected
    msg = str(err.value)
    assert msg and "\n" not in msg
    if case == "exists":
        assert out.read_bytes() == b"earlier"
        assert sorted(p.name for p in out_dir.iterdir()) == ["v.mp4"]
    else:
        assert list(out_dir.iterdir()) == []


def test_bad_section_records_are_input_errors(tmp_path: Path) -> None:
    for args in ((2.0, 1.0, "x.png"), (-1.0, 1.0, "x.png"), (0.0, float("inf"), "x.png"),
                 (0.0, 1.0, 42)):
        with pytest.raises(InputError):
            VideoSection(*args)  # type: ignore[arg-type]


def test_interrupted_or_failed_write_keeps_the_earlier_file(
        track: tuple[Path, list[VideoSection]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    audio, secs = track
    out = tmp_path / "v.mp4"
    opts = VideoOptions(width=W, height=H)
    make_video(audio, secs, out, options=opts)
    before = out.read_bytes()

    def ctrl_c(done: int, total: int) -> None:
        if done == 100:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make_video(audio, secs, out, options=opts, force=True, progress=ctrl_c)
    assert out.read_bytes() == before and _leftovers(tmp_path) == []

    # an ffmpeg that writes half a file and fails
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "ffmpeg"
    script.write_text('#!/bin/sh\nfor last; do :; done\necho partial > "$last"\n'
                      'echo "Conversion failed: simulated encoder crash" >&2\nexit 1\n')
    script.chmod(0o755)
    (fake / "ffprobe").symlink_to(shutil.which("ffprobe") or "ffprobe")
    monkeypatch.setenv("PATH", str(fake))
    with pytest.raises(Midi2ImgError) as err:
        make_video(audio, secs, out, options=opts, force=True)
    assert "simulated encoder crash" in str(err.value) and "\n" not in str(err.value)
    assert out.read_bytes() == before and _leftovers(tmp_path) == []


@pytest.mark.parametrize("mask", [0o027, 0o002])
def test_output_mode_follows_the_umask(mask: int, tmp_path: Path) -> None:
    audio = _write_audio(tmp_path / "a.wav", 0.5)
    secs = [VideoSection(0.0, 0.5, _solid(tmp_path / "r.png", RED))]
    old = os.umask(mask)
    try:
        info = make_video(audio, secs, tmp_path / "v.mp4",
                          options=VideoOptions(width=64, height=64))
    finally:
        os.umask(old)
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o666 & ~mask


def test_sections_from_a_convert_folder(tmp_path: Path) -> None:
    rows = [{"index": 1, "start_s": 0.0, "end_s": 4.2, "file": "section-01.png"},
            {"index": 2, "start_s": 4.2, "end_s": 9.5, "file": "section-02.png"}]
    (tmp_path / "analysis.json").write_text(json.dumps({"duration_s": 9.5, "sections": rows}))
    secs = sections_from_analysis(tmp_path)
    assert secs == [VideoSection(0.0, 4.2, tmp_path / "section-01.png"),
                    VideoSection(4.2, 9.5, tmp_path / "section-02.png")]
    (tmp_path / "analysis.json").write_text(json.dumps(
        {"duration_s": 9.5, "image": {"file": "t.png"}, "sections": []}))
    assert sections_from_analysis(tmp_path / "analysis.json") == [
        VideoSection(0.0, 9.5, tmp_path / "t.png")]
    rows[1].pop("file")
    (tmp_path / "analysis.json").write_text(json.dumps({"duration_s": 9.5, "sections": rows}))
    with pytest.raises(InputError, match="no image"):
        sections_from_analysis(tmp_path)


# ---- latent interpolation --------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_pipe(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The tiny randomly initialised Stable Diffusion pipeline, loaded once."""
    import warnings

    from diffusers import StableDiffusionPipeline

    from midi2img.render import save_tiny_pipeline

    folder = save_tiny_pipeline(tmp_path_factory.mktemp("sd") / "tiny")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = StableDiffusionPipeline.from_pretrained(str(folder))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("guidance", [0.0, 3.0])
def test_latent_interpolation_starts_and_ends_on_the_sections_own_renders(
        tiny_pipe, guidance: float) -> None:  # type: ignore[no-untyped-def]
    import torch

    prompts = ["a red sunrise over a calm sea", "a dark forest at night", "neon city rain"]
    negatives = ["blurry", "text", "people"]
    seeds = [11, 12, 13]
    frames = interpolate_section_frames(tiny_pipe, prompts, seeds, steps=2, guidance=guidance,
                                        n_frames=5, width=64, height=64,
                                        negative_prompts=negatives)
    assert [len(f) for f in frames] == [5, 5]
    own = []
    for prompt, negative, seed in zip(prompts, negatives, seeds, strict=True):
        with torch.inference_mode():
            out = tiny_pipe(prompt, negative_prompt=negative if guidance > 1 else None,
                            num_inference_steps=2, guidance_scale=guidance, width=64, height=64,
                            generator=torch.Generator("cpu").manual_seed(seed))
        own.append(np.asarray(out.images[0], dtype=float))
    for i, pair in enumerate(frames):
        assert pair[0].size == (64, 64)
        assert np.array_equal(np.asarray(pair[0], dtype=float), own[i])
        assert np.array_equal(np.asarray(pair[-1], dtype=float), own[i + 1])
        middle = np.asarray(pair[2], dtype=float)
        assert np.abs(middle - own[i]).mean() > 1.0 and np.abs(middle - own[i + 1]).mean() > 1.0
    assert frames[0][-1] is frames[1][0]  # the shared section is rendered once


def test_video_plays_the_morph_instead_of_a_crossfade(
        tiny_pipe, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    frames = interpolate_section_frames(tiny_pipe, ["a calm lake", "a storm"], [1, 2], steps=2,
                                        guidance=0.0, n_frames=5, width=64, height=64)
    audio = _write_audio(tmp_path / "a.wav", 2.0)
    secs = [VideoSection(0.0, 1.0, frames[0][0]), VideoSection(1.0, 2.0, frames[0][-1])]
    info = make_video(audio, secs, tmp_path / "m.mp4", frames_between=frames,
                      options=VideoOptions(width=64, height=64, crossfade_s=1.0, crf=10))
    assert info.transition == "morph"

    def luma(image: object) -> np.ndarray:  # per-pixel noise survives 4:2:0 only in luma
        return np.asarray(image, dtype=float) @ np.array([0.2126, 0.7152, 0.0722])

    got = luma(_frames(info.path, [24], 64, 64)[0])  # on the boundary: the middle morph frame
    morph_mid = luma(fit_image(frames[0][2], width=64, height=64))
    fade_mid = 0.5 * (luma(frames[0][0]) + luma(frames[0][-1]))
    assert np.abs(got - morph_mid).mean() < 4.0
    assert np.abs(got - fade_mid).mean() > 2.5 * np.abs(got - morph_mid).mean()
    with pytest.raises(InputError):
        make_video(audio, secs, tmp_path / "cut.mp4", frames_between=frames,
                   options=VideoOptions(width=64, height=64, transition="cut"))
