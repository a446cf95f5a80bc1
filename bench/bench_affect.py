"""Cost of the affect stage of recordings, beyond the tagger, per 30 s of audio.

Usage: python bench/bench_affect.py [--out bench/affect.md] [--runs 5] [--long-minutes 10]

The analysis pass already decodes the audio, cuts it into ~30 s segments and runs the musicnn
taggers on them; the affect stage adds :class:`midi2img.mood.audio_features.AudioMoodStream`
(fed each segment) and the model (:meth:`AudioAffectModel.predict`, once per track and once per
section). This script times exactly that on real recordings, beside the tagger on the same
segments for scale, and measures the stream's memory on a long input (tracemalloc peak while
streaming, and the size of what it keeps).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np


def _segments(x: np.ndarray) -> list:  # type: ignore[type-arg]
    from midi2img.audio import iter_segments
    from midi2img.constants import SEGMENT_PAD_SAMPLES, SEGMENT_SAMPLES

    blocks = (x[i: i + (1 << 16)] for i in range(0, x.size, 1 << 16))
    return list(iter_segments(blocks, core_samples=SEGMENT_SAMPLES,
                              pad_samples=SEGMENT_PAD_SAMPLES))


def _time_stage(x: np.ndarray, runs: int) -> tuple[float, float, float]:
    """Median seconds (affect stream + whole-track and 4 section predictions, tagger, sections
    alone) for the clip ``x``."""
    from midi2img.modeling import load_shipped
    from midi2img.mood.audio_features import AudioMoodStream
    from midi2img.tagger import TagStream

    model = load_shipped("affect_audio")
    segs = _segments(x)
    affect, tag, sections = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        ts = TagStream()
        for s in segs:
            ts.feed(s.core)
        tags = ts.result()
        t1 = time.perf_counter()
        stream = AudioMoodStream()
        for s in segs:
            stream.feed(s)
        rows = stream.result()
        model.predict(rows, tags)
        t2 = time.perf_counter()
        dur = x.size / 22050
        edges = np.linspace(0.0, dur, 5)
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            model.predict(rows, tags, start_s=float(a), end_s=float(b))
        t3 = time.perf_counter()
        tag.append(t1 - t0)
        affect.append(t3 - t1)
        sections.append(t3 - t2)
    return statistics.median(affect), statistics.median(tag), statistics.median(sections)


def _memory(x: np.ndarray, minutes: float) -> tuple[float, float, int, float]:
    """(tracemalloc peak MiB while streaming ``minutes`` of audio, MiB kept in the rows,
    blocks, seconds) - the input is ``x`` repeated, fed segment by segment as the pass does."""
    from midi2img.audio import iter_segments
    from midi2img.constants import SEGMENT_PAD_SAMPLES, SEGMENT_SAMPLES
    from midi2img.mood.audio_features import AudioMoodStream

    n = int(minutes * 60 * 22050)
    reps = -(-n // x.size)

    def blocks():  # type: ignore[no-untyped-def]
        sent = 0
        for _ in range(reps):
            for i in range(0, x.size, 1 << 16):
                b = x[i: i + (1 << 16)][: n - sent]
                if b.size:
                    sent += b.size
                    yield b

    stream = AudioMoodStream()
    t0 = time.perf_counter()
    tracemalloc.start()
    for seg in iter_segments(blocks(), core_samples=SEGMENT_SAMPLES,
                             pad_samples=SEGMENT_PAD_SAMPLES):
        stream.feed(seg)
    rows = stream.result()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, rows.rows.nbytes / 2**20, rows.n_blocks, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--long-minutes", type=float, default=10.0)
    args = ap.parse_args()

    from midi2img.audio import load
    from midi2img.config import data_dir, quiet_libraries

    quiet_libraries()
    audio = data_dir() / "audio"
    clips = sorted(audio.glob("*.ogg"))
    e4q = sorted((data_dir() / "emotion4q" / "audio" / "Q2").glob("*.ogg"))[:1]
    lines = ["# Affect stage of recordings: time per 30 s beyond the tagger", "",
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
             f"(shared), Python {platform.python_version()}; median of {args.runs} warm runs. "
             "`affect` = AudioMoodStream over the pass's segments + the model on the whole "
             "track and on 4 sections; `tagger` (already in the pass) for scale.", "",
             "| recording | length (s) | affect (s) | affect per 30 s (s) | of which 4 sections "
             "(ms) | tagger per 30 s (s) |", "|---|---|---|---|---|---|"]
    first = load(clips[0])
    _time_stage(first[: 22050 * 10], 1)  # warm filterbanks, onnxruntime, the model
    per30 = []
    for p in [*e4q, *clips]:
        x = load(p)
        affect, tag, sec = _time_stage(x, args.runs)
        dur = x.size / 22050
        per30.append(affect * 30 / dur)
        lines.append(f"| {p.name[:50]} | {dur:.1f} | {affect:.3f} | {affect * 30 / dur:.3f} | "
                     f"{sec * 1000:.1f} | {tag * 30 / dur:.3f} |")
    lines += ["", f"Median affect cost per 30 s of audio: **{statistics.median(per30):.3f} s** "
              f"(budget 0.3 s).", ""]
    peak, kept, blocks, secs = _memory(load(clips[1]), args.long_minutes)
    lines += [f"Memory on a {args.long_minutes:g}-minute input fed segment by segment: "
              f"tracemalloc peak {peak:.1f} MiB while streaming (one segment's frames), "
              f"{kept:.2f} MiB kept ({blocks} block rows of 2 s); {secs:.1f} s in all.", ""]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
