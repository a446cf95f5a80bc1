"""The terminal report of an analysis: features, keywords with their reasons, the prompt."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Mapping
from typing import Any

#: Width used when the output is not a terminal.
DEFAULT_WIDTH = 120
#: Tags shown per tagger.
TOP_TAGS = 6
_KW_COL = 28


def _wrap(text: str, width: int, indent: int) -> list[str]:
    """``text`` wrapped to ``width`` columns, continuation lines indented by ``indent``."""
    lines = textwrap.wrap(text, width=max(width - indent, 30), break_long_words=False,
                          break_on_hyphens=False) or [""]
    return [lines[0], *(" " * indent + ln for ln in lines[1:])]


def render_table(d: Mapping[str, Any], *, width: int | None = None) -> str:
    """Human-readable report of an analysis dict (the contract).

    Args:
        d: The analysis dict.
        width: Columns to wrap to (default: the terminal's width, else 120).
    """
    width = width or shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    n = d["notes"]
    prog = " ".join(d["progression"][:16]) + (" ..." if len(d["progression"]) > 16 else "")
    lines = [
        f"{d['source']}  ({d['input_kind']}, {d['duration_s']:.1f} s)",
        "",
        "FEATURES",
        f"  tempo          {d['tempo_bpm']:.1f} BPM (from {d['tempo_source']})",
    ]
    if n["count"]:
        lines += [
            f"  key            {d['key']} (confidence {d['key_confidence']:.2f})",
            f"  progression    {prog}",
            f"  notes          {n['count']} ({n['density_per_s']:.2f}/s), pitch "
            f"{n['pitch_low']}-{n['pitch_high']} (median {n['pitch_median']:.0f}), velocity "
            f"{n['mean_velocity']:.0f}",
            f"  articulation   {n['articulation']:.2f}   polyphony {n['polyphony']:.2f}   "
            f"bass {n['bass_ratio']:.2f}   treble {n['treble_ratio']:.2f}",
            f"  harmony        major {d['harmony']['major_chord_ratio']:.2f}   minor "
            f"{d['harmony']['minor_chord_ratio']:.2f}   dissonance "
            f"{d['harmony']['dissonance']:.2f}",
        ]
    else:  # nothing pitched was transcribed: no key, chords or note statistics
        lines.append("  notes          0 (no pitched notes: no key, chords or note statistics)")
    omitted = d.get("omitted", {})
    if d.get("genre"):
        top = sorted(d["genre"]["probabilities"].items(), key=lambda kv: -kv[1])[:3]
        note = d["genre"].get("decision_note")
        lines.append("  genre          " + ", ".join(f"{g} {p:.2f}" for g, p in top)
                     + f" ({d['genre']['decision']}{': ' + note if note else ''})")
    for tagger, label in (("mtt", "tags (MTT)"), ("msd", "tags (MSD)")):
        probs = (d.get("tags") or {}).get(tagger)
        if probs:
            top = sorted(probs.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TAGS]
            lines.append(f"  {label:<14} " + ", ".join(f"{t} {p:.2f}" for t, p in top))
    if d.get("affect"):
        a = d["affect"]
        conf = "" if a.get("confidence") is None else f", confidence {a['confidence']:.2f}"
        model = f", {a['model']} model" if a.get("model") else ""
        lines.append(f"  affect         valence {a['valence']:+.2f}, arousal {a['arousal']:+.2f}"
                     f" ({a['quadrant']}{conf}{model})")
    for key, why in omitted.items():
        lines.append(f"  {key:<14} omitted: {why}")
    lines = [lines[0], *(w for ln in lines[1:] for w in _wrap(ln, width, 17))]
    indent = 2 + 6 + 2 + _KW_COL + 1
    lines += ["", "KEYWORDS", f"  {'weight':>6}  {'keyword':<{_KW_COL}} because"]
    for k in d["keywords"]:
        because = _wrap(k["because"], width, indent)
        lines.append(f"  {k['weight']:>6.2f}  {k['keyword']:<{_KW_COL}} {because[0]}")
        lines.extend(because[1:])
    lines += ["", f"PROMPT ({d['style']}, {d['prompt_tokens']} CLIP tokens)",
              *("  " + ln.lstrip() for ln in _wrap(d["prompt"], width, 2)), "",
              "NEGATIVE PROMPT",
              *("  " + ln.lstrip() for ln in _wrap(d["negative_prompt"], width, 2))]
    return "\n".join(lines)
