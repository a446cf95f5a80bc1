"""``midi2img tune genre-floors``: genre imagery on real recordings, per genre how sure the
network must be.

The genre network and its decision threshold (``confident``) were chosen on GTZAN, whose 30 s
clips are one recording per song of each genre's core. Real catalogues are wider: the 794
emotion4q recordings (AllMusic previews) carry AllMusic's genres for each song and were never
used by the genre network. The analyses are written by ``midi2img convert --image none
--resume`` into ``<cache>/tune/analyses/emotion4q`` (:func:`midi2img.tune.corpus.
analyse_recordings`; ``bench/bench_texture.py`` reads the same ones); what is read is each
recording's genre probabilities and the model's ``confident`` threshold, so the figures do not
depend on the keyword rules that wrote the analyses.

A genre's imagery ("smoky blues bar", "tropical beach") is **right** when AllMusic's genres hold
one it may fairly stand for (:data:`COMPATIBLE`: AllMusic is coarser than GTZAN - metal and rock
are both "Pop/Rock" - so the coarse genres' figures are upper bounds). This correspondence is a
judgement written down before the floors were measured, not a measurement.

For each genre, the **floor** is the smallest top-genre probability, from the model's
``confident`` upwards in steps of 0.01, at which the imagery is right at least :data:`TARGET`
of the time (the bar of the tag keyword rules) on at least :data:`MIN_FIRED` recordings. Where
the imagery fires on fewer than :data:`MIN_FIRED` recordings at the model's threshold there is
too little real evidence to overrule the model, and its threshold stands. The figures are
**held out**: artist-grouped 5-fold cross-validation chooses each fold's floors on the other
folds and scores them on it, the counts summed over folds. The floors are then chosen on all
794, and, as for the tag rules, a genre whose held-out share stays under :data:`TARGET` (on at
least :data:`MIN_FIRED` recordings) gets no imagery on real recordings at all (``inf``).
Writes ``keywords/genre_floors.toml`` (read by :mod:`midi2img.rules`) and the report
(``bench/genre_real.md``).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from midi2img.tune import Log, quiet

#: Share of right imagery a floor must reach (the tag keyword rules' precision bar).
TARGET = 0.7
#: Fewest recordings a floor must give imagery to (in the data it is chosen on).
MIN_FIRED = 10
#: Folds of the artist-grouped cross-validation.
FOLDS = 5

#: AllMusic genres (emotion4q metadata) each GTZAN genre's imagery may fairly stand for.
COMPATIBLE: dict[str, set[str]] = {
    "blues": {"Blues", "R&B"},
    "classical": {"Classical", "Stage & Screen", "New Age", "Avant-Garde", "Religious"},
    "country": {"Country", "Folk"},
    "disco": {"Electronic", "R&B", "Pop/Rock", "Latin", "International"},
    "hiphop": {"Rap", "R&B", "Electronic"},
    "jazz": {"Jazz", "Easy Listening", "Vocal"},
    "metal": {"Pop/Rock"},
    "pop": {"Pop/Rock", "Electronic", "R&B", "Vocal", "International", "Latin",
            "Easy Listening", "Stage & Screen", "Children's"},
    "reggae": {"Reggae", "International", "Latin"},
    "rock": {"Pop/Rock"},
}


def read(analyses: Iterable[tuple[str, dict[str, Any]]], data: Path) -> list[dict[str, Any]]:
    """One row per analysis (``(song, analysis)`` pairs of emotion4q recordings): its artist
    and artist group (the one the affect model's split uses), top genre, its probability,
    whether AllMusic agrees.

    Raises:
        DataError: an analysis is of no emotion4q song.
    """
    from midi2img.errors import DataError
    from midi2img.mood.dataset import emotion4q_clips

    clips = {c.song: c for c in emotion4q_clips(data)}
    rows = []
    for name, a in analyses:
        c = clips.get(name)
        if c is None:
            raise DataError(f"analysis {name!r} is of no emotion4q song")
        probs = a["genre"]["probabilities"]
        top = max(sorted(probs), key=probs.__getitem__)
        allmusic = set(c.genres)
        rows.append({"artist": c.artist, "group": c.group, "genre": top,
                     "p": float(probs[top]), "right": bool(allmusic & COMPATIBLE[top]),
                     "confident": float(a["genre"]["thresholds"]["confident"]),
                     "allmusic": "; ".join(sorted(allmusic))})
    return rows


def choose(rows: list[dict[str, Any]], genre: str, confident: float) -> float:
    """The smallest floor at which ``genre``'s imagery is right often enough, else inf; the
    model's threshold when too few recordings get the imagery to judge."""
    p = np.array([r["p"] for r in rows if r["genre"] == genre])
    right = np.array([r["right"] for r in rows if r["genre"] == genre])
    if (p >= confident).sum() < MIN_FIRED:
        return confident
    for floor in np.round(np.arange(confident, 1.0, 0.01), 2):
        sel = p >= floor
        if sel.sum() >= MIN_FIRED and right[sel].mean() >= TARGET:
            return float(floor)
    return math.inf


def folds(rows: list[dict[str, Any]]) -> list[np.ndarray]:
    """Artist-grouped folds (sklearn's GroupKFold: deterministic, balanced by size)."""
    from sklearn.model_selection import GroupKFold

    groups = [r["group"] for r in rows]
    return [te for _, te in GroupKFold(n_splits=FOLDS).split(np.zeros(len(rows)), groups=groups)]


def measure(rows: list[dict[str, Any]], confident: float) -> dict[str, dict[str, Any]]:
    """Per genre: imagery before (the model's threshold alone), held out, and final floors."""
    genres = sorted(COMPATIBLE)
    out: dict[str, dict[str, Any]] = {g: defaultdict(int) for g in genres}
    for te in folds(rows):
        held = set(te.tolist())
        train = [r for i, r in enumerate(rows) if i not in held]
        for g in genres:
            floor = choose(train, g, confident)
            for i in te:
                r = rows[i]
                if r["genre"] == g and r["p"] >= floor:
                    out[g]["held_fired"] += 1
                    out[g]["held_right"] += r["right"]
    for g in genres:
        mine = [r for r in rows if r["genre"] == g and r["p"] >= confident]
        out[g]["before_fired"] = len(mine)
        out[g]["before_right"] = sum(r["right"] for r in mine)
        out[g]["chosen"] = choose(rows, g, confident)
        held_bad = (out[g]["held_fired"] >= MIN_FIRED
                    and out[g]["held_right"] < TARGET * out[g]["held_fired"])
        out[g]["floor"] = math.inf if held_bad else out[g]["chosen"]
        after = [r for r in mine if r["p"] >= out[g]["floor"]]
        out[g]["after_fired"] = len(after)
        out[g]["after_right"] = sum(r["right"] for r in after)
        out[g]["wrong"] = [f"{r['artist']} ({r['allmusic']})" for r in mine if not r["right"]]
    return out


def _floor(v: float) -> str:
    return "none (inf)" if math.isinf(v) else f"{v:.2f}"


def _share(right: int, fired: int) -> str:
    return f"{right / fired:.2f}" if fired else "-"


def floors_toml(m: dict[str, dict[str, Any]], confident: float) -> str:
    """``keywords/genre_floors.toml`` for the measurement ``m`` (:func:`measure`)."""
    lines = ["# Per-genre floors for genre imagery on real recordings. WRITTEN by",
             "# `midi2img tune genre-floors` (make tune-genre-real): do not edit by hand.",
             "# A genre gives its imagery only when its probability also reaches its floor",
             "# (inf: never). Chosen on the 794 emotion4q recordings against their AllMusic",
             f"# genres: at least {TARGET} right, held out by artist as in-sample, on at least",
             f"# {MIN_FIRED} recordings; the model's own confident threshold is {confident:g}.",
             "", "[floor]"]
    lines += [f"{g} = {'inf' if math.isinf(v['floor']) else v['floor']}" for g, v in m.items()]
    lines += ["", "# how often the imagery matched AllMusic's genres: at the model's threshold,",
              "# and held out (artist-grouped 5-fold CV, each fold's floors chosen on the others)",
              "[measured]"]
    for g, v in m.items():
        lines.append(f'{g} = "{v["before_right"]} times in {v["before_fired"]} at the model\'s '
                     f'threshold, {v["held_right"]} in {v["held_fired"]} held out by artist"')
    return "\n".join(lines) + "\n"


def report(m: dict[str, dict[str, Any]], n: int, confident: float, seconds: float) -> str:
    """The markdown report of the measurement ``m`` on ``n`` recordings."""
    lines = ["# Genre imagery on real recordings (`make tune-genre-real`)", "",
             f"Written by `midi2img tune genre-floors` in {seconds:.0f} s on {n} emotion4q "
             "recordings (AllMusic previews, genres from their metadata; the genre network never "
             "saw them). Method, and the correspondence of GTZAN to AllMusic genres, in the "
             "docstring of `midi2img/tune/genre_floors.py`. 'right': AllMusic lists a genre the "
             "imagery may stand for.", "",
             f"| genre | imagery at the model's threshold (p >= {confident:g}): right | share "
             "| held out (5-fold, by artist): right | share | floor chosen on all | shipped "
             "floor | with it, in-sample: right | AllMusic genres it may stand for | wrong "
             "before (first 3) |", "|---|---|---|---|---|---|---|---|---|---|"]
    tot: defaultdict[str, int] = defaultdict(int)
    for g, v in m.items():
        for k in ("before_fired", "before_right", "held_fired", "held_right"):
            tot[k] += v[k]
        lines.append(f"| {g} | {v['before_right']} of {v['before_fired']} | "
                     f"{_share(v['before_right'], v['before_fired'])} | "
                     f"{v['held_right']} of {v['held_fired']} | "
                     f"{_share(v['held_right'], v['held_fired'])} | {_floor(v['chosen'])} | "
                     f"{_floor(v['floor'])} | {v['after_right']} of {v['after_fired']} | "
                     f"{', '.join(sorted(COMPATIBLE[g]))} | {'; '.join(v['wrong'][:3]) or '-'} |")
    lines.append(f"| all | {tot['before_right']} of {tot['before_fired']} | "
                 f"{_share(tot['before_right'], tot['before_fired'])} | | "
                 f"{tot['held_right']} of {tot['held_fired']} | "
                 f"{_share(tot['held_right'], tot['held_fired'])} | | | | | |")
    lines += ["", f"A genre ships its imagery only when its held-out share reaches {TARGET} "
              f"(judged on at least {MIN_FIRED} recordings); "
              "'none (inf)': no imagery on any recording. The genre shown (label, "
              "probabilities) is the model's; a genre kept out by its floor is `silent` in "
              "`genre.decision`, with the reason in `genre.decision_note`.", ""]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class FloorsResult:
    """What ``tune genre-floors`` writes: the floors file and the report."""

    floors_toml: str
    report: str


def run(data: Path, *, work: Path, log: Log = quiet) -> FloorsResult:
    """Analyse the emotion4q recordings (resumable, into ``work/analyses/emotion4q``) and
    measure the floors on them.

    Raises:
        DataError: the analyses come from different genre models, or are not of emotion4q.
    """
    from midi2img.errors import DataError
    from midi2img.tune.corpus import analyse_recordings, read_analyses

    t0 = time.perf_counter()
    out = work / "analyses" / "emotion4q"
    analyse_recordings(data / "emotion4q" / "audio", out, log=log)
    rows = read(read_analyses(out), data)
    confident = {r["confident"] for r in rows}
    if len(confident) != 1:
        raise DataError(f"analyses from different genre models (confident "
                        f"{sorted(confident)}): delete {out} and rerun")
    c = confident.pop()
    m = measure(rows, c)
    return FloorsResult(floors_toml(m, c), report(m, len(rows), c, time.perf_counter() - t0))
