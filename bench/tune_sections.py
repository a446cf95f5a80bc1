"""How long a storyboard section must be for tag and mood keywords of its own.

A section's tag keywords come from the taggers' windows inside it (3 s each, one every 4 s), and
its valence and arousal from the audio affect model on the same stretch. The thresholds and the
model were measured on whole 15-30 s clips; pooled over one or two windows they are noisier.
This measures how much, on real recordings, and picks the fewest windows a section needs
(:data:`midi2img.convert.MIN_SECTION_TAG_WINDOWS`); a shorter section takes the whole track's
tags and affect.

* **Voice** (labelled): emotion4q clips of artists with a known lead voice
  (``bench/data/emotion4q_artists.csv``: female, male, instrumental), tagged as the analysis tags
  them, every run of ``n`` consecutive windows pooled (mean) and read by the shipped voice rules:
  the precision of 'female singer', 'male singer' and 'instrumental' against the artist's voice,
  by ``n``, beside the whole clip's.
* **Instruments** (no labels): of the instrument keywords an ``n``-window excerpt names, the
  share that its whole clip does not name (a 30 s preview seldom changes its instruments).
* **Affect**: the shipped audio affect model's configuration, refitted in its artist-grouped
  5-fold CV on the train split (the test artists stay unseen), scored on excerpts of 3-15 s of
  each held-out clip: arousal, valence and quadrant accuracy against the clip's label.

Choice: the smallest ``n`` at which every voice rule is within :data:`PRECISION_SLACK` of its
whole-clip precision and at most :data:`MAX_NEW_SHARE` of instrument keywords are new. The
five shared recordings are not used.

Usage: python bench/tune_sections.py [--work bench/work/sections] [--out bench/section_evidence.md]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: A voice rule may lose at most this much precision against whole clips.
PRECISION_SLACK = 0.03
#: At most this share of an excerpt's instrument keywords may be ones its whole clip lacks.
MAX_NEW_SHARE = 0.10
#: Excerpt sizes in tagger windows (a 30 s clip has 7).
WINDOW_COUNTS = (1, 2, 3, 4, 5, 6)
#: Excerpt lengths (s) for the affect model.
AFFECT_LENGTHS = (3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0)
VOICE = {"female-singer": "female", "male-singer": "male", "instrumental": "instrumental"}


def voice_labels() -> dict[str, str]:
    """Artist -> lead voice (female, male, instrumental, mixed)."""
    from tag_corpus import read_labels_csv

    return {r["artist"]: r["voice"]
            for r in read_labels_csv(ROOT / "bench" / "data" / "emotion4q_artists.csv")}


def window_tags(data: Path, work: Path) -> tuple[list[dict[str, str]], dict[str, np.ndarray]]:
    """Per-window MSD and MTT rows of every emotion4q clip (cached in ``work``)."""
    from midi2img.tagger import tag_file

    with (data / "emotion4q" / "metadata.csv").open(newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["file"])
    items = [{"file": r["file"], "artist": r["artist"]} for r in rows]
    meta, npz = work / "windows.json", work / "windows.npz"
    if meta.is_file() and npz.is_file() and json.loads(meta.read_text()) == items:
        with np.load(npz, allow_pickle=False) as z:
            return items, {k: z[k] for k in z.files}
    out: dict[str, np.ndarray] = {}
    for i, item in enumerate(items):
        r = tag_file(data / "emotion4q" / item["file"])
        out[f"{i}_msd"], out[f"{i}_mtt"] = r.probabilities["msd"], r.probabilities["mtt"]
        if i % 100 == 0:
            print(f"  tagged {i + 1}/{len(items)} clips", file=sys.stderr, flush=True)
    work.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(npz, **out)
    meta.write_text(json.dumps(items))
    return items, out


def tag_figures(items: list[dict[str, str]], rows: dict[str, np.ndarray]) -> dict[Any, Any]:
    """Per excerpt size: voice precision (correct, fired) per rule, and instrument keywords
    (new, all)."""
    from midi2img.tag_rules import fired_rules, known_tags

    names = known_tags()
    voices = voice_labels()

    def fire(msd: np.ndarray, mtt: np.ndarray) -> set[str]:
        tags = {"msd": dict(zip(names["msd"], map(float, msd), strict=True)),
                "mtt": dict(zip(names["mtt"], map(float, mtt), strict=True))}
        return {r.id for r, _, _ in fired_rules(tags)}

    sizes: list[Any] = [*WINDOW_COUNTS, "whole"]
    voice: dict[Any, dict[str, list[int]]] = {n: defaultdict(lambda: [0, 0]) for n in sizes}
    new = {n: [0, 0, 0] for n in sizes}  # new instrument keywords, all, excerpts
    for i, item in enumerate(items):
        msd, mtt = rows[f"{i}_msd"], rows[f"{i}_mtt"]
        whole = fire(msd.mean(0), mtt.mean(0))
        label = voices.get(item["artist"])
        for n in sizes:
            m = len(msd) if n == "whole" else n
            if m > len(msd):
                continue
            for s in [0] if n == "whole" else range(len(msd) - m + 1):
                fired = fire(msd[s:s + m].mean(0), mtt[s:s + m].mean(0))
                inst = [r for r in fired if r not in VOICE and r != "choir"]
                new[n][0] += sum(r not in whole for r in inst)
                new[n][1] += len(inst)
                new[n][2] += 1
                if label in ("female", "male", "instrumental"):
                    for r in fired & set(VOICE):
                        voice[n][r][1] += 1
                        voice[n][r][0] += VOICE[r] == label
    return {"voice": voice, "new": new, "sizes": sizes}


def affect_figures(data: Path) -> dict[str, Any]:
    """Out-of-fold accuracies (arousal, valence, quadrant) of whole clips and of excerpts."""
    from midi2img.modeling import load_shipped
    from midi2img.mood import train_audio as ta
    from midi2img.mood.dataset import emotion4q_clips

    model = load_shipped("affect_audio")
    cfg = ta._config_of(model)
    clips = emotion4q_clips(data, seed=cfg.seed)
    train = [c for c in clips if c.split == "train"]
    described = ta.describe_clips(train, data)
    views = []
    for length in AFFECT_LENGTHS:
        views.append([ta.feature_matrix(described, window=(a, a + length))
                      for a in np.arange(0.0, 30.0 - length + 1e-9, length)])
    raw, extra = ta.out_of_fold(ta.feature_matrix(described), train, cfg, seed=cfg.seed,
                                extra=[v for vs in views for v in vs])
    y = ta._targets(train)
    out = {"whole": tuple(ta._accuracies(raw, y)), "clips": len(train)}
    k = 0
    for length, vs in zip(AFFECT_LENGTHS, views, strict=True):
        out[length] = tuple(np.mean([ta._accuracies(r, y) for r in extra[k:k + len(vs)]],
                                    axis=0))
        k += len(vs)
    return out


def choose(tags: dict[Any, Any]) -> int:
    """The smallest window count meeting both criteria."""
    whole = tags["voice"]["whole"]
    for n in WINDOW_COUNTS:
        ok = all(tags["voice"][n][r][1] and whole[r][1] and
                 tags["voice"][n][r][0] / tags["voice"][n][r][1]
                 >= whole[r][0] / whole[r][1] - PRECISION_SLACK for r in VOICE)
        if ok and tags["new"][n][0] <= MAX_NEW_SHARE * tags["new"][n][1]:
            return n
    return WINDOW_COUNTS[-1]


def report(tags: dict[Any, Any], affect: dict[str, Any], chosen: int, shipped: int,
           n_clips: int) -> str:
    lines = ["# Section length for tag and mood keywords of its own (`make tune-sections`)", "",
             f"Written by `bench/tune_sections.py` on {n_clips} emotion4q recordings (30 s "
             "previews; tagger windows of 3 s every 4 s, 7 per clip). Method in the script's "
             "docstring.", "",
             "## Voice and instrument keywords by excerpt size", "",
             "| tagger windows pooled | audio spanned | excerpts | " + " | ".join(
                 f"{r} precision (fired)" for r in VOICE)
             + " | instrument keywords the whole clip lacks |",
             "|---|---|---|---|---|---|---|"]
    for n in tags["sizes"]:
        v = tags["voice"][n]
        cells = [f"{v[r][0] / v[r][1]:.3f} ({v[r][1]})" if v[r][1] else "-" for r in VOICE]
        new = tags["new"][n]
        share = new[0] / new[1] if new[1] else 0.0
        about = "whole clip" if n == "whole" else f"{3 + 4 * (n - 1)} s"
        lines.append(f"| {n} | {about} | {new[2]} | " + " | ".join(cells)
                     + f" | {share:.2f} ({new[0]} of {new[1]}) |")
    lines += ["", "## Audio affect model by excerpt length", "",
              f"Artist-grouped 5-fold CV on the {affect['clips']} train clips, the shipped "
              "configuration; accuracy of the signs against the clip's quadrant label.", "",
              "| excerpt | arousal | valence | quadrant |", "|---|---|---|---|"]
    for key in [*AFFECT_LENGTHS, "whole"]:
        a, v, q = affect[key]
        name = "whole clip" if key == "whole" else f"{key:g} s"
        lines.append(f"| {name} | {a:.3f} | {v:.3f} | {q:.3f} |")
    lines += ["", "## Decision", "",
              f"Smallest window count with every voice rule within {PRECISION_SLACK} of its "
              f"whole-clip precision and at most {MAX_NEW_SHARE:.0%} new instrument keywords: "
              f"**{chosen}** (shipped `MIN_SECTION_TAG_WINDOWS` = {shipped}"
              + (", the same" if chosen == shipped else ": DIFFERENT, update midi2img/convert.py")
              + "). A section with fewer windows takes the whole track's "
              "tags and affect, and says so (`audio_from: track`). A section of length L holds "
              "L/4 windows, give or take one: 4 windows need 12 to 16 s.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default=str(ROOT / "bench" / "work" / "sections"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "section_evidence.md"))
    args = ap.parse_args()
    from midi2img.config import data_dir, quiet_libraries
    from midi2img.convert import MIN_SECTION_TAG_WINDOWS

    quiet_libraries()
    data = data_dir()
    items, rows = window_tags(data, Path(args.work))
    tags = tag_figures(items, rows)
    affect = affect_figures(data)
    chosen = choose(tags)
    text = report(tags, affect, chosen, MIN_SECTION_TAG_WINDOWS, len(items))
    Path(args.out).write_text(text)
    print(text)
    if chosen != MIN_SECTION_TAG_WINDOWS:
        sys.exit(f"measured {chosen} windows, shipped {MIN_SECTION_TAG_WINDOWS}")


if __name__ == "__main__":
    main()
