"""Music video benchmark: a 3-minute 1280x720 24 fps MP4 over 8 section images.

Usage: python bench/bench_video.py [--seconds 180] [--width 1280 --height 720] [--alternatives]

Builds 8 textured 512x512 pictures (the size Stable Diffusion draws; the texture keeps x264 as
busy as a real picture does) and a 3-minute stereo 44.1 kHz recording at 120 BPM, then times
:func:`midi2img.video.make_video` with cross-fades, with cross-fades and the beat pulse, with
cuts only, and with 12 morph frames per boundary. ``--alternatives`` also times the two designs
that ``make_video`` was chosen over: one ffmpeg filter graph (looped stills joined by ``xfade``)
and Python piping RGB frames for ffmpeg to convert. Prints a Markdown table on stdout; progress
goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

N_SECTIONS = 8
TEMPO_BPM = 120.0
SR = 44100


def _pictures(n: int, size: int = 512, seed: int = 0) -> list[Any]:
    """Smooth colour waves plus fine noise: one distinct picture per section."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        phase, freq = rng.uniform(0, 6, 3), rng.uniform(2, 8, 3)
        img = np.stack([np.sin(3 * freq[c] * (x * np.cos(phase[c]) + y * np.sin(phase[c]))
                               + phase[c]) for c in range(3)], axis=-1)
        img = 0.5 + 0.4 * img + rng.normal(0.0, 0.04, img.shape)
        out.append(Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)))
    return out


def _audio(path: Path, seconds: float) -> list[float]:
    """A stereo recording with a click on every beat; returns the beat times."""
    import numpy as np
    import soundfile as sf

    t = np.arange(int(SR * seconds)) / SR
    period = 60.0 / TEMPO_BPM
    beats = np.arange(0.0, seconds, period)
    click = np.exp(-((t % period) / 0.02)) * np.sin(2 * np.pi * 1000 * t)
    tone = 0.15 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 330 * t)
    left = (tone + 0.3 * click).astype(np.float32)
    sf.write(str(path), np.stack([left, 0.8 * left], axis=1), SR, subtype="PCM_16")
    return [float(b) for b in beats]


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process and its children) of ``fn()``."""
    r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    r1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(getattr(b, f) - getattr(a, f) for a, b in ((r0, r1), (c0, c1))
              for f in ("ru_utime", "ru_stime"))
    return wall, cpu


def _progress(label: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            print(f"  {label}: {done}/{total} frames", file=sys.stderr)
    return report


def _xfade_graph(audio: Path, stills: list[Path], bounds: list[float], out: Path, *,
                 fps: int, crossfade_s: float) -> None:
    """Alternative design 1: one ffmpeg filter graph, each still looped, joined by xfade."""
    n = len(stills)
    half = crossfade_s / 2
    args = ["ffmpeg", "-v", "error", "-y", "-nostdin"]
    for p in stills:
        args += ["-i", str(p)]
    args += ["-i", str(audio)]
    graph = []
    for k in range(n):
        start = bounds[k] - (half if k > 0 else 0.0)
        end = bounds[k + 1] + (half if k < n - 1 else 0.0)
        frames = round((end - start) * fps)
        graph.append(f"[{k}:v]format=yuv420p,loop=loop={frames - 1}:size=1,"
                     f"setpts=N/{fps}/TB[i{k}]")
    prev = "i0"
    for k in range(1, n):
        graph.append(f"[{prev}][i{k}]xfade=transition=fade:duration={crossfade_s}:"
                     f"offset={bounds[k] - half:.4f}[x{k}]")
        prev = f"x{k}"
    args += ["-filter_complex", ";".join(graph), "-map", f"[{prev}]", "-map", f"{n}:a",
             "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
             "-r", str(fps), "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", str(out)]
    subprocess.run(args, check=True)


def _rgb_pipe(audio: Path, stills: list[Any], bounds: list[float], out: Path, *, fps: int,
              crossfade_s: float, seconds: float) -> None:
    """Alternative design 2: Python pipes RGB frames, ffmpeg converts them to YUV and encodes."""
    import numpy as np

    w, h = stills[0].size
    arrays = [np.asarray(s, dtype=np.uint8) for s in stills]
    held = [a.tobytes() for a in arrays]
    args = ["ffmpeg", "-v", "error", "-y", "-nostdin", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", f"{w}x{h}", "-framerate", str(fps), "-i", "pipe:0", "-i", str(audio),
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart",
            str(out)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    half = crossfade_s / 2
    for i in range(round(seconds * fps)):
        t = i / fps
        k = max(j for j in range(len(stills)) if bounds[j] <= t)
        near = [j for j in range(1, len(stills)) if abs(t - bounds[j]) < half]
        if near:
            j = near[0]
            a = (t - bounds[j] + half) / crossfade_s
            frame = (arrays[j - 1] * (1 - a) + arrays[j] * a + 0.5).astype(np.uint8).tobytes()
        else:
            frame = held[k]
        proc.stdin.write(frame)
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("ffmpeg failed")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--fps", type=int, default=24)
    ap.add_argument("--alternatives", action="store_true",
                    help="also time the designs make_video was chosen over")
    args = ap.parse_args()

    from midi2img.video import VideoOptions, VideoSection, fit_image, make_video

    secs = args.seconds
    size = f"{args.width}x{args.height}"
    rows: list[tuple[str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"making {secs:g} s of audio and {N_SECTIONS} pictures ...", file=sys.stderr)
        audio = tmp / "track.wav"
        beats = _audio(audio, secs)
        pics = _pictures(N_SECTIONS + 2 * (N_SECTIONS - 1))
        bounds = [secs * k / N_SECTIONS for k in range(N_SECTIONS + 1)]
        paths = []
        for k in range(N_SECTIONS):
            paths.append(tmp / f"section-{k + 1:02d}.png")
            pics[k].save(paths[k])
        sections = [VideoSection(bounds[k], bounds[k + 1], paths[k]) for k in range(N_SECTIONS)]
        # 12 morph frames per boundary: the two sections' pictures with 10 others between
        extra = iter(pics[N_SECTIONS:])
        between = []
        for k in range(N_SECTIONS - 1):
            mids = [next(extra), next(extra)]
            between.append([pics[k], *[mids[m // 5] for m in range(10)], pics[k + 1]])

        base = VideoOptions(width=args.width, height=args.height, fps=args.fps)
        cases: list[tuple[str, VideoOptions, dict[str, Any]]] = [
            ("make_video: cross-fades (1 s)", base, {}),
            ("make_video: cross-fades + beat pulse (120 BPM)",
             VideoOptions(width=args.width, height=args.height, fps=args.fps, pulse=1.0),
             {"beats_s": beats}),
            ("make_video: cuts only",
             VideoOptions(width=args.width, height=args.height, fps=args.fps, transition="cut"),
             {}),
            ("make_video: morphs (12 frames per boundary)", base, {"frames_between": between}),
        ]
        for label, opts, extra_args in cases:
            print(f"{label} ...", file=sys.stderr)
            out = tmp / "video.mp4"

            def run(opts: VideoOptions = opts, extra_args: dict[str, Any] = extra_args,
                    out: Path = out, label: str = label) -> None:
                make_video(audio, sections, out, options=opts, force=True,
                           progress=_progress(label), **extra_args)

            wall, cpu = _timed(run)
            rows.append((label, wall, cpu, out.stat().st_size / 1e6))
            print(f"  {wall:.1f} s wall, {cpu:.1f} s CPU, {rows[-1][3]:.1f} MB", file=sys.stderr)
        if args.alternatives:
            fitted = [fit_image(p, width=args.width, height=args.height) for p in pics[:8]]
            fitted_paths = []
            for k, im in enumerate(fitted):
                fitted_paths.append(tmp / f"fitted-{k}.png")
                im.save(fitted_paths[-1])
            for label, fn in (
                    ("alternative: ffmpeg graph, looped stills + xfade",
                     lambda: _xfade_graph(audio, fitted_paths, bounds, tmp / "alt.mp4",
                                          fps=args.fps, crossfade_s=1.0)),
                    ("alternative: Python pipes RGB, ffmpeg converts",
                     lambda: _rgb_pipe(audio, fitted, bounds, tmp / "alt.mp4", fps=args.fps,
                                       crossfade_s=1.0, seconds=secs))):
                print(f"{label} ...", file=sys.stderr)
                wall, cpu = _timed(fn)
                rows.append((label, wall, cpu, (tmp / "alt.mp4").stat().st_size / 1e6))
                print(f"  {wall:.1f} s wall, {cpu:.1f} s CPU", file=sys.stderr)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = ["## Music video", "",
             f"{secs:g} s of audio, {size}, {args.fps} fps, {N_SECTIONS} sections, x264 "
             f"veryfast crf 20 + AAC 192 kbit/s, {os.cpu_count()} CPU cores (load average "
             f"{load:.1f} at the end).", "",
             "| video | wall | x realtime | CPU (all processes) | file |", "|---|---|---|---|---|"]
    for label, wall, cpu, mb in rows:
        lines.append(f"| {label} | {wall:.1f} s | {wall / secs:.2f} | {cpu:.1f} s | "
                     f"{mb:.1f} MB |")
    lines += ["", "x realtime = wall time / audio length; at most 1.0 is the target."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
