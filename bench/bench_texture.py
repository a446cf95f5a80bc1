"""Texture rules on real recordings: what the transcription says against what the taggers hear.

Usage: python bench/bench_texture.py [--out bench/texture.md] [--work <cache>/tune/analyses]

Converts (analysis only, ``--resume``, all cores) the 794 emotion4q recordings and the five
recordings in ``$MIDI2IMG_DATA/audio`` (:func:`midi2img.tune.corpus.analyse_recordings`, into
the folder ``midi2img tune genre-floors`` analyses emotion4q into, so each is analysed once),
then reads each ``analysis.json``: the transcription's
polyphony and note density, and the instrument and voice keywords the shipped tag rules give for
its pooled tags (recomputed here, so the figures follow the rules of this commit even when the
analyses were written by an older one). It writes

* the transcribed polyphony by the number of sound sources the taggers name
  (:func:`midi2img.rules.heard_sources`): if polyphony measured texture on these recordings it
  would rise with them;
* for every rule of ``keywords/rules.toml`` with an ``unless_heard`` condition: on how many
  recordings its condition holds, and on how many of those the taggers contradict it (the rule
  is then left out);
* the same for the five recordings, by name.

Nothing here is tuned: the conditions are logical (a drum kit is unpitched; two sources are not
one line), and the figures show how often they apply.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def read(out: Path) -> list[dict[str, Any]]:
    """One row per analysis: name, polyphony, density, note count, subject rule ids."""
    from midi2img.tag_rules import tag_keywords
    from midi2img.tune.corpus import read_analyses

    rows = []
    for name, a in read_analyses(out):
        notes = a["notes"]
        subjects = {k.rule for k in tag_keywords(a["tags"]) if k.kind == "subject"}
        rows.append({"name": name, "polyphony": notes.get("polyphony"),
                     "density_per_s": notes.get("density_per_s"),
                     "note_count": notes.get("count", 0), "subjects": subjects})
    return rows


def _pct(a: list[float], q: float) -> str:
    return f"{np.percentile(a, q):.2f}" if a else "-"


def report(corpus: list[dict[str, Any]], five: list[dict[str, Any]], seconds: float) -> str:
    from midi2img.rules import UNLESS_HEARD, contradicted_by_tags, default_rules, heard_sources

    lines = ["# Texture rules on real recordings (`make bench-texture`)", "",
             f"Written by `bench/bench_texture.py` in {seconds:.0f} s, on {len(corpus)} emotion4q "
             "recordings and the five in `$MIDI2IMG_DATA/audio`. Method in the script's "
             "docstring.", "",
             "## Transcribed polyphony by the sources the taggers hear", "",
             "Sources: instrument and voice keywords of the tag rules (a choir counts two; a "
             "drum kit beside transcribed notes no named instrument accounts for counts the "
             "unnamed one too).", "",
             "| sources heard | recordings | polyphony p10 | median | p90 | below 1.5 |",
             "|---|---|---|---|---|---|"]
    by: dict[int, list[float]] = {}
    for r in corpus:
        if r["polyphony"] is not None:
            k = min(heard_sources(r["subjects"], r["note_count"]), 3)
            by.setdefault(k, []).append(float(r["polyphony"]))
    for k in sorted(by):
        p = by[k]
        lines.append(f"| {k if k < 3 else '3 or more'} | {len(p)} | {_pct(p, 10)} | "
                     f"{_pct(p, 50)} | {_pct(p, 90)} | {np.mean(np.array(p) < 1.5):.0%} |")
    lines += ["", "## Rules left out when the taggers contradict them", "",
              "| rule | unless heard | condition holds (emotion4q) | left out | kept |",
              "|---|---|---|---|---|"]
    rules = [r for r in default_rules().rules if r.unless_heard]
    for rule in rules:
        holds = [r for r in corpus if rule.matches(r[rule.feature])]
        out = sum(contradicted_by_tags(rule, r["subjects"], r["note_count"]) for r in holds)
        lines.append(f"| {rule.id} ({rule.condition()}) | {rule.unless_heard}: "
                     f"{UNLESS_HEARD[rule.unless_heard]} | {len(holds)} of {len(corpus)} "
                     f"| {out} | {len(holds) - out} |")
    lines += ["", "## The five recordings", "",
              "| recording | polyphony | notes/s | heard | "
              + " | ".join(r.id for r in rules) + " |",
              "|---|---|---|---|" + "---|" * len(rules)]
    for r in five:
        cells = []
        for rule in rules:
            if not rule.matches(r[rule.feature]):
                cells.append("-")
            elif contradicted_by_tags(rule, r["subjects"], r["note_count"]):
                cells.append("left out")
            else:
                cells.append("fires")
        heard = ", ".join(sorted(s.removeprefix("tag-") for s in r["subjects"])) or "(nothing)"
        poly, dens = r["polyphony"], r["density_per_s"]
        lines.append(f"| {r['name'][:40]} | {poly if poly is None else f'{poly:.2f}'} | "
                     f"{dens if dens is None else f'{dens:.2f}'} | {heard} | "
                     + " | ".join(cells) + " |")
    why = Counter(s for r in corpus for s in r["subjects"])
    lines += ["", "Instrument and voice keywords over the emotion4q recordings: "
              + ", ".join(f"{k.removeprefix('tag-')} {n}" for k, n in why.most_common()) + ".",
              ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "texture.md")
    ap.add_argument("--work", type=Path, default=None,
                    help="analyses folder (default: <cache>/tune/analyses)")
    args = ap.parse_args()
    from midi2img.config import data_dir
    from midi2img.tune import work_dir
    from midi2img.tune.corpus import analyse_recordings

    data = data_dir()
    work = args.work or work_dir() / "analyses"
    t0 = time.perf_counter()
    analyse_recordings(data / "emotion4q" / "audio", work / "emotion4q")
    analyse_recordings(data / "audio", work / "recordings")
    text = report(read(work / "emotion4q"), read(work / "recordings"),
                  time.perf_counter() - t0)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
