"""midi2img benchmark: stage times, cold CLI wall time against basic-pitch, peak memory.

Usage: python bench/bench.py [--out bench/RESULTS.md] [--runs 3] [--long-minutes 10]

Measures, on this machine:
- the time of each stage for a 30 s clip (the demo progression rendered with fluidsynth) and for
  every real recording in ``$MIDI2IMG_DATA/audio``;
- cold ``midi2img keywords`` wall time, side by side in the same run with the ``basic-pitch`` CLI
  transcribing the same clip (a fresh process each time, runs interleaved, median reported);
- ``midi2img --help`` wall time;
- peak memory (max RSS) of ``midi2img keywords`` on a 10-minute input;
- image rendering (pipeline load and per-image time), when ``bench/bench_render.py`` exists.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from midi2img.stages import stages as analysis_stages

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HF_HUB_OFFLINE": "1"}


def _wall(cmd: list[str]) -> float:
    """Wall time of a fresh process."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=ENV, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-500:]}")
    return wall


def _peak_rss_mib(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` in a fresh child via a tiny wrapper and return (wall s, peak RSS MiB)."""
    wrapper = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
               "r = subprocess.run(sys.argv[1:], capture_output=True); "
               "w = time.perf_counter() - t; "
               "m = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024; "
               "print(w, m, r.returncode)")
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True,
                         env=ENV, check=True).stdout.split()
    if out[2] != "0":
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return float(out[0]), float(out[1])


def _midi2img() -> str:
    exe = shutil.which("midi2img")
    if exe is None:
        raise SystemExit("midi2img is not installed: run `make install`")
    return exe


#: Stage-time columns (seconds): every registered analysis stage (``sound`` is the audio affect
#: model's descriptors of the pass), then the keywords and prompt, and the whole analysis.
STAGES = [*(s.name for s in analysis_stages()), "keywords_prompt",
          "total"]


def stage_table(paths: list[Path]) -> tuple[list[str], dict[str, float]]:
    """Warm stage times per recording, and the tagger's and the affect stage's seconds per 30 s
    of audio over all of them."""
    from midi2img.analysis import analyse_track

    analyse_track(paths[0])  # load the model and warm caches: stage times are warm times
    lines = ["| recording | length (s) | " + " | ".join(STAGES) + " |",
             "|---|---|" + "---|" * len(STAGES)]
    total_s = tags_s = affect_s = 0.0
    for p in paths:
        a = analyse_track(p)
        t = a.timings_s
        total_s += a.features.duration_s
        tags_s += t.get("tags", 0.0)
        affect_s += t.get("affect", 0.0) + t.get("sound", 0.0)
        lines.append(f"| {p.name[:48]} | {a.features.duration_s:.1f} | "
                     + " | ".join(f"{t[s]:.2f}" if s in t else "-" for s in STAGES) + " |")
    per30 = {"tags": 30.0 * tags_s / total_s, "affect": 30.0 * affect_s / total_s}
    return lines, per30


def report_times(paths: list[Path], work: Path) -> tuple[list[str], float]:
    """Convert each recording (abstract images, auto sections) and time its HTML report."""
    from midi2img.report import write_report

    out = work / "reports"
    lines = ["| recording | sections | report (s) | size (KB) |", "|---|---|---|---|"]
    worst = 0.0
    for p in paths:
        subprocess.run([_midi2img(), "convert", str(p), "-o", str(out), "--image", "abstract",
                        "--segments", "auto", "--force", "-q"], capture_output=True, env=ENV,
                       check=True)
        folder = out / p.stem
        write_report(folder)  # warm: the first call imports Pillow and the MIDI reader
        t0 = time.perf_counter()
        html = write_report(folder)
        dt = time.perf_counter() - t0
        worst = max(worst, dt)
        sections = len(json.loads((folder / "analysis.json").read_text()).get("sections", []))
        lines.append(f"| {p.name[:48]} | {sections} | {dt:.2f} | "
                     f"{html.stat().st_size / 1024:.0f} |")
    return lines, worst


def _sub_bench(script: str, *args: str) -> list[str]:
    """Run a sibling benchmark script; its Markdown (stdout) without a top heading."""
    if not (HERE / script).exists():
        return []
    r = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True,
                       text=True, env=ENV, check=False)
    if r.returncode != 0:
        return [f"{script} failed: {r.stderr.strip()[-300:]}"]
    return [ln for ln in r.stdout.strip().splitlines() if not ln.startswith("# ")]


def cold_compare(clip: Path, runs: int) -> tuple[list[str], dict[str, float]]:
    ours, theirs = [], []
    bp = shutil.which("basic-pitch")
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            ours.append(_peak_rss_mib([_midi2img(), "keywords", str(clip), "--json"]))
            if bp:
                out = Path(tmp) / f"run{i}"
                out.mkdir()
                theirs.append(_peak_rss_mib([bp, str(out), str(clip)]))
    res = {"ours_s": statistics.median(w for w, _ in ours),
           "ours_mib": max(m for _, m in ours)}
    lines = [f"| `midi2img keywords --json` (ONNX, full analysis) | "
             f"{res['ours_s']:.2f} | {', '.join(f'{w:.2f}' for w, _ in ours)} | "
             f"{res['ours_mib']:.0f} |"]
    if theirs:
        res["bp_s"] = statistics.median(w for w, _ in theirs)
        res["bp_mib"] = max(m for _, m in theirs)
        lines.append(f"| `basic-pitch OUT clip` (transcription only, its default TF model) | "
                     f"{res['bp_s']:.2f} | {', '.join(f'{w:.2f}' for w, _ in theirs)} | "
                     f"{res['bp_mib']:.0f} |")
    return lines, res


def long_input(minutes: float, work: Path) -> Path:
    """A ``minutes``-long recording made by looping the real recordings (16-bit WAV)."""
    import soundfile as sf

    from midi2img.audio import load
    from midi2img.config import data_dir

    path = work / f"long_{minutes:g}min.wav"
    if path.exists():
        return path
    sources = [load(p) for p in sorted((data_dir() / "audio").glob("*.ogg"))]
    target = int(minutes * 60 * 22050)
    with sf.SoundFile(str(path), "w", samplerate=22050, channels=1, subtype="PCM_16") as f:
        n = 0
        while n < target:
            for s in sources:
                chunk = s[: target - n]
                f.write(chunk)
                n += chunk.size
                if n >= target:
                    break
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--long-minutes", type=float, default=10.0)
    args = ap.parse_args()

    from midi2img.config import data_dir, quiet_libraries
    from midi2img.demo import write_demo

    quiet_libraries()
    work = HERE / "work"
    work.mkdir(exist_ok=True)
    _, clip = write_demo(work, bars=15, force=True)  # 15 bars at 120 BPM = 30 s
    real = sorted((data_dir() / "audio").glob("*.ogg"))

    print("stage times ...", flush=True)
    stages, per30 = stage_table([clip, *real])
    print("reports ...", flush=True)
    report_lines, report_worst = report_times(real, work)
    print("cold CLI runs ...", flush=True)
    cold_lines, cold = cold_compare(clip, args.runs)
    help_s = statistics.median(_wall([_midi2img(), "--help"]) for _ in range(5))
    print("long input ...", flush=True)
    long_path = long_input(args.long_minutes, work)
    long_s, long_mib = _peak_rss_mib([_midi2img(), "keywords", str(long_path), "--json"])

    print("rendering ...", flush=True)
    render_lines = [ln for ln in _sub_bench("bench_render.py") if not ln.startswith("## ")]
    print("video ...", flush=True)
    video_lines = [ln for ln in _sub_bench("bench_video.py") if not ln.startswith("## ")]
    print("batch ...", flush=True)
    batch_lines = [ln for ln in _sub_bench("bench_batch.py") if not ln.startswith("## ")]

    verdict = ("no slower" if "bp_s" in cold and cold["ours_s"] <= cold["bp_s"] else
               "SLOWER" if "bp_s" in cold else "n/a (basic-pitch CLI not found)")
    lines = [
        "# midi2img benchmark results",
        "",
        f"Written by `make bench` (bench/bench.py) on {time.strftime('%Y-%m-%d %H:%M')}: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}.",
        "",
        "## Targets",
        "",
        "| target | measured | status |",
        "|---|---|---|",
        f"| cold `midi2img keywords` on a 30 s clip no slower than `basic-pitch` alone | "
        f"{cold['ours_s']:.2f} s vs {cold.get('bp_s', float('nan')):.2f} s | {verdict} |",
        f"| `midi2img --help` under 0.5 s | {help_s:.3f} s | "
        f"{'ok' if help_s < 0.5 else 'MISSED'} |",
        f"| peak memory on a {args.long_minutes:g}-minute input under 1.5 GB | "
        f"{long_mib:.0f} MiB ({long_s:.1f} s wall) | {'ok' if long_mib < 1536 else 'MISSED'} |",
        f"| the taggers (MSD + MTT, front end included) <= 0.5 s per 30 s of audio | "
        f"{per30['tags']:.2f} s | {'ok' if per30['tags'] <= 0.5 else 'MISSED'} |",
        f"| the affect stage <= 0.3 s per 30 s of audio beyond the tagger | "
        f"{per30['affect']:.2f} s | {'ok' if per30['affect'] <= 0.3 else 'MISSED'} |",
        f"| an HTML report adds <= 1 s per track | {report_worst:.2f} s (slowest of the "
        f"recordings) | {'ok' if report_worst <= 1.0 else 'MISSED'} |",
        "",
        "## Cold start on a 30 s clip (fresh process each run, median of "
        f"{args.runs}, interleaved)",
        "",
        "| command | median wall (s) | runs (s) | peak RSS (MiB) |",
        "|---|---|---|---|",
        *cold_lines,
        "",
        "## Stage times (warm, in-process; seconds)",
        "",
        "The 30 s clip is the demo progression rendered with fluidsynth; the others are the real "
        "recordings in `$MIDI2IMG_DATA/audio`. `tempo` includes the onset envelope, `genre` the "
        "GTZAN features of every 30 s window and the network.",
        "",
        *stages,
        "",
        "## HTML reports (warm; the real recordings converted with abstract images and auto "
        "sections)",
        "",
        *report_lines,
    ]
    if render_lines:
        lines += ["", "## Image rendering (CPU)", "", *render_lines]
    if video_lines:
        lines += ["", "## Music videos", "", *video_lines]
    if batch_lines:
        lines += ["", "## Batches", "", *batch_lines]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
