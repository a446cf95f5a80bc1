"""Run one estimator over a list of files and cache one JSON per file (started by run.py).

    <python of the estimator's environment> bench/harmony/worker.py NAME INIT_JSON < jobs.json

Reads ``[[audio_path, out_json_path], ...]`` as JSON on stdin. Builds the estimator once (its
cold load time goes to ``<cache>/<estimator>/_init.json``), then for each file measures the
wall time (``time.perf_counter``) and the CPU time of this process and its children
(``resource.getrusage``: user + system) around the call, and writes the outputs with
``wall_s``, ``cpu_s``, ``audio_s`` (the decoded duration) and ``first_in_worker`` (the first
file pays any lazy model loading) to the JSON path. A failure is
cached as ``{"error": ...}`` so that one bad file does not stop the run. Run as a script, so
that this folder is first on ``sys.path`` and ``import estimators`` finds its sibling.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

import estimators


def cpu_now() -> float:
    """User + system CPU seconds of this process and its reaped children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def write_json(path: Path, obj: dict) -> None:
    """Write atomically (a temp file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def main() -> None:
    name, init_json = sys.argv[1], Path(sys.argv[2])
    jobs = json.load(sys.stdin)
    estimators.set_single_thread()
    _env, init, run = estimators.REGISTRY[name]
    import soundfile as sf

    t0, c0 = time.perf_counter(), cpu_now()
    state = init()
    info = {"estimator": name, "init_wall_s": time.perf_counter() - t0,
            "init_cpu_s": cpu_now() - c0, "python": sys.executable}
    if estimators.REGISTRY[name][0] == "main":
        import midi2img
        info["midi2img_file"] = midi2img.__file__
    write_json(init_json, info)
    for i, (audio, out) in enumerate(jobs):
        t0, c0 = time.perf_counter(), cpu_now()
        try:
            result = run(state, audio)
        except Exception as exc:  # noqa: BLE001 - cached, reported by evaluate.py
            result = {"error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc(limit=3)}
        result["wall_s"] = time.perf_counter() - t0
        result["cpu_s"] = cpu_now() - c0
        result["audio_s"] = sf.info(audio).duration
        result["first_in_worker"] = i == 0  # carries lazy model loading, if any
        write_json(Path(out), result)
        print(f"{name} {Path(audio).name} {result['wall_s']:.2f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
