"""``midi2img tune sections``: how long a storyboard section must be for tag and mood keywords
of its own.

A section's tag keywords come from the taggers' windows inside it (3 s each, one every 4 s), and
its valence and arousal from the audio affect model on the same stretch. The thresholds and the
model were measured on whole 15-30 s clips; pooled over one or two windows they are noisier.
This measures how much, on real recordings, and picks the fewest windows a section needs
(``min_tag_windows`` in ``keywords/sections.toml``); a shorter section takes the whole track's
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
five shared recordings are not used. Writes ``keywords/sections.toml`` and the report
(``bench/section_evidence.md``); the window tags are cached in ``<cache>/tune`` (shared with
``tune tags``), the affect model's clip features in ``<cache>`` (shared with ``mood train``).
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from midi2img.tune import Log, quiet

if TYPE_CHECKING:
    from midi2img.tag_rules import TagRuleBook

#: A voice rule may lose at most this much precision against whole clips.
PRECISION_SLACK = 0.03
#: At most this share of an excerpt's instrument keywords may be ones its whole clip lacks.
MAX_NEW_SHARE = 0.10
#: Excerpt sizes in tagger windows (a 30 s clip has 7).
WINDOW_COUNTS = (1, 2, 3, 4, 5, 6)
#: Excerpt lengths (s) for the affect model.
AFFECT_LENGTHS = (3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 15.0)
#: The voice rules and the lead voice each names.
VOICE = {"female-singer": "female", "male-singer": "male", "instrumental": "instrumental"}


def window_tags(data: Path, work: Path, *, log: Log = quiet
                ) -> tuple[list[dict[str, str]], list[dict[str, np.ndarray]]]:
    """Every emotion4q clip (``file``, ``artist``, in file order) and its per-window MSD and MTT
    rows (:func:`midi2img.tune.corpus.tag_recordings`, cached in ``work``)."""
    from midi2img.tune.corpus import emotion4q_rows, tag_recordings

    rows = emotion4q_rows(data)
    items = [{"file": r["file"], "artist": r["artist"]} for r in rows]
    tagged = tag_recordings(data, [f"emotion4q/{it['file']}" for it in items], work, log=log)
    return items, list(tagged.windows)


def tag_figures(items: Sequence[Mapping[str, str]], windows: Sequence[Mapping[str, np.ndarray]],
                voices: Mapping[str, str], *, book: TagRuleBook | None = None
                ) -> dict[Any, Any]:
    """Per excerpt size: voice precision (correct, fired) per rule, and instrument keywords
    (new, all).

    Args:
        items: One dict per clip with its ``artist``.
        windows: Per clip, the ``(windows, 50)`` rows of the ``"msd"`` and ``"mtt"`` taggers.
        voices: Artist -> lead voice (``female``, ``male``, ``instrumental``; others ignored).
        book: The tag rules (default: the shipped ones).
    """
    from midi2img.tag_rules import fired_rules, known_tags

    names = known_tags()

    def fire(msd: np.ndarray, mtt: np.ndarray) -> set[str]:
        tags = {"msd": dict(zip(names["msd"], map(float, msd), strict=True)),
                "mtt": dict(zip(names["mtt"], map(float, mtt), strict=True))}
        return {r.id for r, _, _ in fired_rules(tags, book=book)}

    sizes: list[Any] = [*WINDOW_COUNTS, "whole"]
    voice: dict[Any, dict[str, list[int]]] = {n: defaultdict(lambda: [0, 0]) for n in sizes}
    new = {n: [0, 0, 0] for n in sizes}  # new instrument keywords, all, excerpts
    for i, item in enumerate(items):
        msd, mtt = windows[i]["msd"], windows[i]["mtt"]
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


def affect_figures(data: Path, *, cache: Path | None = None, log: Log = quiet
                   ) -> dict[Any, Any]:
    """Out-of-fold accuracies (arousal, valence, quadrant) of whole clips and of excerpts (the
    clips' features cached in ``cache``, as ``mood train`` caches them)."""
    from midi2img.modeling import load_shipped
    from midi2img.mood import train_audio as ta
    from midi2img.mood.dataset import emotion4q_clips

    model = load_shipped("affect_audio")
    cfg = ta._config_of(model)
    clips = emotion4q_clips(data, seed=cfg.seed)
    train = [c for c in clips if c.split == "train"]
    described = ta.describe_clips(train, data, cache=cache, log=log)
    views = []
    for length in AFFECT_LENGTHS:
        views.append([ta.feature_matrix(described, window=(a, a + length))
                      for a in np.arange(0.0, 30.0 - length + 1e-9, length)])
    raw, extra = ta.out_of_fold(ta.feature_matrix(described), train, cfg, seed=cfg.seed,
                                extra=[v for vs in views for v in vs])
    y = ta._targets(train)
    out: dict[Any, Any] = {"whole": tuple(ta._accuracies(raw, y)), "clips": len(train)}
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


def report(tags: dict[Any, Any], affect: dict[Any, Any], chosen: int, previous: int | None,
           n_clips: int) -> str:
    """The markdown report: the figures, and the choice against the value it replaces."""
    if previous is None:
        was = "no value was written before"
    else:
        was = f"the value it replaces: {previous}" + (", the same" if chosen == previous
                                                      else ", DIFFERENT")
    lines = ["# Section length for tag and mood keywords of its own (`make tune-sections`)", "",
             f"Written by `midi2img tune sections` on {n_clips} emotion4q recordings (30 s "
             "previews; tagger windows of 3 s every 4 s, 7 per clip). Method in the docstring "
             "of `midi2img/tune/sections.py`.", "",
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
              f"**{chosen}** (`min_tag_windows` in `keywords/sections.toml`; {was}). A section "
              "with fewer windows takes the whole track's tags and affect, and says so "
              "(`audio_from: track`). A section of length L holds L/4 windows, give or take "
              f"one: {chosen} windows need {4 * chosen - 4} to {4 * chosen} s.", ""]
    return "\n".join(lines)


def basis(tags: dict[Any, Any], chosen: int, n_clips: int) -> str:
    """The measurement behind ``chosen``, in words (``basis`` in ``sections.toml``)."""
    v, whole = tags["voice"][chosen], tags["voice"]["whole"]
    voice = ", ".join(f"{r} {v[r][0] / v[r][1]:.3f} (whole clips {whole[r][0] / whole[r][1]:.3f})"
                      if v[r][1] and whole[r][1] else f"{r} -" for r in VOICE)
    new = tags["new"][chosen]
    return (f"fewest tagger windows (3 s, one every 4 s) at which every voice rule keeps its "
            f"whole-clip precision within {PRECISION_SLACK} and at most {MAX_NEW_SHARE:.0%} of "
            f"instrument keywords are new, on {n_clips} emotion4q recordings: voice precision "
            f"{voice}; new instrument keywords {new[0] / max(new[1], 1):.2f} ({new[0]} of "
            f"{new[1]})")


def sections_toml(chosen: int, basis_text: str) -> str:
    """``keywords/sections.toml``: the header, ``min_tag_windows`` and its ``basis``."""
    q = basis_text.replace("\\", "\\\\").replace('"', '\\"')
    return ("# How long a storyboard section must be for tag and mood keywords of its own.\n"
            "# Written by `midi2img tune sections` (`make tune-sections`): do not edit by hand.\n"
            "# How it was measured, with every figure: bench/section_evidence.md.\n"
            f"min_tag_windows = {chosen}\n"
            f'basis = "{q}"\n')


def previous_value(path: Path) -> int | None:
    """``min_tag_windows`` of an existing ``sections.toml`` (None: no file, or none in it)."""
    if not path.is_file():
        return None
    value = tomllib.loads(path.read_text(encoding="utf-8")).get("min_tag_windows")
    return value if isinstance(value, int) else None


@dataclass(frozen=True)
class SectionsResult:
    """What ``tune sections`` writes: ``sections.toml``, the report, and the chosen count."""

    sections_toml: str
    report: str
    min_tag_windows: int


def run(data: Path, *, work: Path, labels: Path, cache: Path | None = None,
        previous: int | None = None, log: Log = quiet) -> SectionsResult:
    """Measure the tags and the affect model by excerpt size and choose the section length.

    Args:
        data: The shared data folder (emotion4q).
        work: The tune cache folder (window tags).
        labels: The folder of the hand-made label tables (:func:`corpus.labels_dir`).
        cache: The feature cache of the audio affect model (default: the user's cache).
        previous: The value being replaced, for the report.
        log: Progress printer.
    """
    from midi2img.tune.corpus import emotion4q_voices

    items, windows = window_tags(data, work, log=log)
    tags = tag_figures(items, windows, emotion4q_voices(labels))
    log("affect model by excerpt length ...")
    affect = affect_figures(data, cache=cache, log=log)
    chosen = choose(tags)
    return SectionsResult(sections_toml(chosen, basis(tags, chosen, len(items))),
                          report(tags, affect, chosen, previous, len(items)), chosen)
