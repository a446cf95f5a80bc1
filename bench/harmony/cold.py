"""Cold start per candidate: a fresh process imports the estimator, builds its models and
analyses one 30 s clip; beside it the ``basic-pitch`` CLI and ``midi2img keywords --json``
(the issue's target: a cold ``keywords`` no slower than ``basic-pitch`` alone).

    python bench/harmony/cold.py [--runs 2] [--clip PATH] [-e NAMES] [--python ENV=PATH]

prints a markdown table and writes it to ``_cold.md`` (the raw runs to ``_cold.json``) in the
first ``--cache`` folder, where ``evaluate.py`` finds it. The clip defaults to
``$MIDI2IMG_DATA/gtzan/audio/blues.00000.wav`` (a real 30 s GTZAN clip); candidates whose
environment is not given (``--python``) are left out with one line.

Not pinned to a core and not limited to one thread (as ``make bench`` measures the CLI), so the
wall times here are what a user sees on the machine, with whatever else runs on it.
Each child reports its own import, model-build and first-clip seconds; the parent measures the
whole process (wall, and CPU of the child through ``resource.RUSAGE_CHILDREN``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import estimators
from run import add_common_args, caches, pythons

HERE = Path(__file__).resolve().parent
CANDIDATES = ["madmomonnx_key", "madmomonnx_chords_dc", "madmomonnx_tcn", "madmomonnx_beats",
              "madmom_key", "madmom_chords_dc", "essentia_key_bgate", "essentia_rhythm",
              "essentia_chords", "chordino", "tempocnn_fcn"]

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import estimators
env, init, run = estimators.REGISTRY[{name!r}]
t1 = time.perf_counter()
state = init()
t2 = time.perf_counter()
run(state, {clip!r})
t3 = time.perf_counter()
print(json.dumps({{"import_s": t1 - t0, "init_s": t2 - t1, "first_clip_s": t3 - t2}}))
"""


def timed(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float, str]:
    """(wall s, child CPU s, stdout) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, out.stdout


def default_clip() -> Path:
    """A real 30 s GTZAN clip of the shared data (blues.00000, valid split)."""
    from midi2img.config import data_dir

    return data_dir() / "gtzan" / "audio" / "blues.00000.wav"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--clip", type=Path, default=None, help="default: blues.00000.wav")
    ap.add_argument("-e", "--estimators", default=",".join(CANDIDATES))
    add_common_args(ap)
    a = ap.parse_args()
    clip = a.clip or default_clip()
    if not clip.exists():
        sys.exit(f"no clip at {clip} (--clip PATH, or set $MIDI2IMG_DATA)")
    envs, out_dir = pythons(a), caches(a)[0]
    names = []
    for name in a.estimators.split(","):
        env_name = estimators.REGISTRY[name][0]
        if env_name in envs:
            names.append(name)
        else:
            print(f"{name}: not run: environment {env_name!r} not given", file=sys.stderr)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    rows: dict[str, list] = {}
    tmp = Path(tempfile.mkdtemp(prefix="cold-harmony-"))
    for r in range(a.runs):  # interleaved, so that load from other sessions spreads evenly
        bp = shutil.which("basic-pitch")
        if bp:
            bp_out = tmp / f"bp{r}"
            bp_out.mkdir()
            w, c, _ = timed(["nice", "-n", "10", bp, str(bp_out), str(clip)], env, tmp)
            rows.setdefault("`basic-pitch OUT clip` (CLI)", []).append((w, c, None))
        w, c, _ = timed(["nice", "-n", "10", envs["main"], "-m", "midi2img.cli", "keywords",
                         str(clip), "--json"], env, tmp)
        rows.setdefault("`midi2img keywords --json` (today)", []).append((w, c, None))
        for name in names:
            code = CHILD.format(name=name, clip=str(clip))
            w, c, out = timed(["nice", "-n", "10", envs[estimators.REGISTRY[name][0]], "-c",
                               code], env, HERE)
            rows.setdefault(name, []).append((w, c, json.loads(out.strip().splitlines()[-1])))
    lines = [f"Cold start on {clip.name} ({a.runs} fresh processes each, interleaved; "
             "median):", "",
             "| what | wall s | CPU s | import s | model build s | first 30 s clip s |",
             "|---|---|---|---|---|---|"]
    summary = {}
    for name, runs in rows.items():
        w = statistics.median(x[0] for x in runs)
        c = statistics.median(x[1] for x in runs)
        parts = [x[2] for x in runs if x[2]]
        cells = [f"{w:.2f}", f"{c:.2f}"]
        if parts:
            cells += [f"{statistics.median(p[k] for p in parts):.2f}"
                      for k in ("import_s", "init_s", "first_clip_s")]
        else:
            cells += ["", "", ""]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        summary[name] = {"wall_s": w, "cpu_s": c, "runs": runs}
    text = "\n".join(lines)
    print(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "_cold.json").write_text(json.dumps(summary, indent=1))
    (out_dir / "_cold.md").write_text(text + "\n")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
