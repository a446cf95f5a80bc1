"""Batch benchmark: ``midi2img convert`` over a folder of real 30 s clips, per runner.

Usage: python bench/bench_batch.py [--out FILE] [--clips 40] [--runs 1]
                                   [--images none,abstract] [--engines jobs1,jobs2,ray]

The batch is built from the shared data (``midi2img.config.data_dir()``): ``--clips`` 30 s clips
from ``emotion4q/audio/Q*/*.ogg``, taken evenly across the four quadrants (linked, or cut to
30 s when longer). Each configuration runs ``midi2img convert CLIPS -o OUT --json`` in a fresh
process into a fresh folder, for ``--image none`` (analysis only) and ``--image abstract``, with
``--jobs 1``, ``--jobs 2`` and ``--engine ray`` (a local Ray instance on this machine's cores).

Reported per run: the batch's throughput as times realtime (audio seconds / wall seconds), both
as the batch measures it (``wall_s`` of the summary: from the start of the batch, workers'
start-up and model loading included) and end to end (the whole process, Python start-up and
``ray.init`` included); CPU seconds per clip (user + system over the whole process tree: what the
work costs, whatever else runs on the machine); the peak resident memory of the parent and of
each worker process (sampled every 0.1 s over the process tree); the load average before the
run (the machine may be shared); and, for analysis only, the mean time of each analysis stage
per clip from ``run.jsonl`` (where the time goes).
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
import threading
import time
from pathlib import Path
from typing import Any

from midi2img.stages import stages as analysis_stages

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "HF_HUB_OFFLINE": "1",
       "MIDI2IMG_PROGRESS": "0"}
ENGINES = {"jobs1": ["--jobs", "1"], "jobs2": ["--jobs", "2"], "ray": ["--engine", "ray"]}
#: Stage-time columns: every registered analysis stage, then the keywords, images and files.
STAGES = (*(s.name for s in analysis_stages()), "keywords_prompt",
          "images", "write", "total")
CLIP_S = 30.0


def build_batch(n: int, work: Path) -> tuple[Path, float]:
    """``n`` 30 s clips from emotion4q, evenly across quadrants; returns the folder and the
    total audio seconds."""
    import soundfile as sf

    from midi2img.config import data_dir

    root = data_dir() / "emotion4q" / "audio"
    quads = sorted(p for p in root.glob("Q*") if p.is_dir())
    if not quads:
        raise SystemExit(f"no emotion4q clips under {root} (set MIDI2IMG_DATA)")
    picked: list[Path] = []
    for i, q in enumerate(quads):
        files = sorted(q.glob("*.ogg"))
        k = n // len(quads) + (1 if i < n % len(quads) else 0)
        if len(files) < k:
            raise SystemExit(f"{q} holds {len(files)} clips; {k} needed")
        picked += [files[j * len(files) // k] for j in range(k)]
    clips = work / "clips"
    shutil.rmtree(clips, ignore_errors=True)
    total = 0.0
    for src in picked:
        dst = clips / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        info = sf.info(str(src))
        if info.duration <= CLIP_S + 1.0:
            os.symlink(src, dst)
            total += info.duration
        else:  # a 30 s excerpt from the middle
            start = int((info.duration - CLIP_S) / 2 * info.samplerate)
            y, sr = sf.read(str(src), start=start, frames=int(CLIP_S * info.samplerate))
            dst = dst.with_suffix(".wav")
            sf.write(str(dst), y, sr)
            total += len(y) / sr
    return clips, total


class TreeSampler:
    """Samples the resident memory and CPU time of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.peak: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.cpu: dict[int, float] = {}
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    rss = p.memory_info().rss / 2**20
                    name = " ".join(p.cmdline())[:120]
                    t = p.cpu_times()  # this process only: children are sampled themselves
                    self.cpu[p.pid] = max(self.cpu.get(p.pid, 0.0), t.user + t.system)
                except psutil.Error:
                    continue
                if self._kind(name) != "other" or p.pid not in self.names:
                    self.names[p.pid] = name
                self.peak[p.pid] = max(self.peak.get(p.pid, 0.0), rss)
            self.loads.append(os.getloadavg()[0])
            self._stop.wait(0.1)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @staticmethod
    def _kind(name: str) -> str:
        if "resource_tracker" in name:
            return "tracker"
        if "spawn_main" in name or name.startswith("ray::") and "Agent" not in name:
            return "worker"
        return "other"

    def groups(self) -> dict[str, list[float]]:
        """Peak RSS (MiB) per kind of process: parent, worker, ray (its own services)."""
        out: dict[str, list[float]] = {"parent": [], "worker": [], "ray services": []}
        for pid, mib in self.peak.items():
            kind = self._kind(self.names.get(pid, ""))
            if pid == self.root.pid:
                out["parent"].append(mib)
            elif kind == "worker":
                out["worker"].append(mib)
            elif kind == "other":
                out["ray services"].append(mib)
        return out


def run_one(clips: Path, audio_s: float, work: Path, image: str, engine: str, cores: int
            ) -> dict[str, Any]:
    """One ``convert`` run in a fresh process; its measurements."""
    out = work / f"out-{image}-{engine}"
    shutil.rmtree(out, ignore_errors=True)
    exe = shutil.which("midi2img") or sys.exit("midi2img is not installed: run `make install`")
    cmd = [exe, "convert", str(clips), "-o", str(out), "--image", image, "--json", "-q",
           *ENGINES[engine]]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    with TreeSampler(proc.pid) as sampler:
        stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    cpu = sum(sampler.cpu.values())
    load_during = statistics.mean(sampler.loads) if sampler.loads else load
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{stderr.decode()[-800:]}")
    summary = json.loads(stdout)
    records = [json.loads(x) for x in (out / "run.jsonl").read_text().splitlines()]
    stages = {k: statistics.mean(r["timings_s"].get(k, 0.0) for r in records) for k in STAGES}
    groups = sampler.groups()
    workers = {"jobs1": 1, "jobs2": 2}.get(engine, cores)
    return {"image": image, "engine": engine, "load": load, "load_during": load_during,
            "tracks": summary["tracks"],
            "done": summary["done"], "batch_wall_s": summary["wall_s"], "wall_s": wall,
            "x_batch": audio_s / summary["wall_s"], "x_end": audio_s / wall,
            "cpu_per_clip_s": cpu / max(1, summary["done"]), "stages": stages,
            "x_ideal": audio_s / (cpu / min(workers, cores)),
            "parent_mib": max(groups["parent"] or [0.0]),
            "worker_mib": sorted(groups["worker"], reverse=True),
            "ray_services_mib": sum(groups["ray services"])}


def report(rows: list[dict[str, Any]], n: int, audio_s: float, cores: int) -> str:
    """The results as Markdown."""
    lines = ["## Batch conversion (`bench/bench_batch.py`)", "",
             f"{n} real clips of 30 s (emotion4q, across the four quadrants; "
             f"{audio_s / 60:.1f} min of audio), `midi2img convert FOLDER -o OUT --json` in a "
             f"fresh process per run, on {platform.machine()} with {cores} cores "
             f"({platform.python_version()}). **x rt** = audio seconds per wall second: *batch* "
             "from the summary's `wall_s` (workers' start-up and model loading included), *end "
             "to end* for the whole process (Python start-up, imports, `ray.init` included). "
             "CPU/clip = user + system seconds of the whole process tree per clip (start-up "
             "included). *x rt on free cores* = audio seconds / (CPU seconds / the cores the "
             "runner can use): the throughput the same work reaches when nothing else competes "
             "for the cores and the workers never wait (an upper bound). Load = the 1-minute load "
             "average just before the run / its mean during the run: this machine is shared; "
             "a load above what the runner itself puts on it (1 for `--jobs 1`, 2 otherwise) "
             "means other work competed for the cores and lowered the wall-clock figures.", "",
             "| image | runner | x rt (batch) | x rt (end to end) | vs --jobs 1 | wall s | "
             "CPU/clip s | x rt on free cores | peak RSS parent MiB | peak RSS per worker MiB "
             "| load |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    base: dict[str, float] = {}
    for r in rows:
        if r["engine"] == "jobs1":
            base.setdefault(r["image"], r["x_batch"])
    for r in rows:
        ratio = r["x_batch"] / base[r["image"]] if r["image"] in base else float("nan")
        workers = ", ".join(f"{m:.0f}" for m in r["worker_mib"]) or "(in the parent)"
        if r["engine"] == "ray":
            workers += f" (+ Ray services {r['ray_services_mib']:.0f})"
        name = {"jobs1": "--jobs 1", "jobs2": "--jobs 2", "ray": "--engine ray"}[r["engine"]]
        lines.append(f"| {r['image']} | `{name}` | {r['x_batch']:.1f} | {r['x_end']:.1f} | "
                     f"{ratio:.2f}x | {r['wall_s']:.1f} | {r['cpu_per_clip_s']:.2f} | "
                     f"{r['x_ideal']:.1f} | {r['parent_mib']:.0f} | {workers} | "
                     f"{r['load']:.1f} / {r['load_during']:.1f} |")
    none = [r for r in rows if r["image"] == "none"]
    best = {e: max((r["x_batch"] for r in none if r["engine"] == e), default=None)
            for e in ("jobs1", "jobs2")}
    if best["jobs1"] and best["jobs2"]:
        ratio = best["jobs2"] / best["jobs1"]
        lines += ["", "| target (analysis only, best run of each) | measured | |", "|---|---|---|",
                  f"| `--jobs 2` >= 1.7x the throughput of `--jobs 1` | {ratio:.2f}x | "
                  f"{'ok' if ratio >= 1.7 else 'MISSED'} |",
                  f"| `--jobs 2` >= 25x realtime on 30 s clips | {best['jobs2']:.1f}x | "
                  f"{'ok' if best['jobs2'] >= 25 else 'MISSED'} |"]
    if none:
        lines += ["", "Where the time goes (analysis only; mean seconds per clip from "
                  "`run.jsonl`, first clip of each worker included):", "",
                  "| runner | " + " | ".join(STAGES) + " |",
                  "|---|" + "---|" * len(STAGES)]
        for r in none:
            lines.append(f"| {r['engine']} | " + " | ".join(f"{r['stages'][k]:.2f}"
                                                          for k in STAGES) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=None, help="also write the Markdown here (make bench puts "
                    "it into bench/RESULTS.md through bench.py)")
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--images", default="none,abstract")
    ap.add_argument("--engines", default="jobs1,jobs2,ray")
    ap.add_argument("--work", default=str(HERE / "work" / "batch"))
    ap.add_argument("--wait-load", type=float, default=None,
                    help="before each run, wait (up to 10 min) for the 1-minute load average to "
                    "fall below this (a shared machine)")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    clips, audio_s = build_batch(args.clips, work)
    from midi2img.runners.pool import available_cores

    cores = available_cores()
    rows = []
    for _ in range(args.runs):
        for image in args.images.split(","):
            for engine in args.engines.split(","):
                if args.wait_load is not None:
                    deadline = time.monotonic() + 600
                    while os.getloadavg()[0] > args.wait_load and time.monotonic() < deadline:
                        time.sleep(5)
                row = run_one(clips, audio_s, work, image, engine, cores)
                print(f"{image:9} {engine:6} x{row['x_batch']:.1f} (end to end "
                      f"x{row['x_end']:.1f}), {row['wall_s']:.1f} s, CPU/clip "
                      f"{row['cpu_per_clip_s']:.2f} s, load {row['load']:.1f} / "
                      f"{row['load_during']:.1f}", file=sys.stderr, flush=True)
                rows.append(row)
    text = report(rows, args.clips, audio_s, cores)
    if args.out:
        Path(args.out).write_text(text)
    (work / "results.json").write_text(json.dumps(rows, indent=1))
    print(text)


if __name__ == "__main__":
    main()
