"""The terminal report of an analysis: features, keywords with their reasons, the prompt."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Mapping
from typing import Any

#: Width used when the output is not a terminal.
DEFAULT_WIDTH = 120
#: The order of the FEATURES lines, by label (each stage's :meth:`~midi2img.stages.Stage.describe`
#: gives its lines); the lines of other stages follow, in the stage registry's order.
LINE_ORDER = ("tempo", "beats", "key", "progression", "notes", "articulation", "harmony", "genre",
              "tags (MTT)", "tags (MSD)", "affect")
_KW_COL = 28


def _wrap(text: str, width: int, indent: int) -> list[str]:
    """``text`` wrapped to ``width`` columns, continuation lines indented by ``indent``."""
    lines = textwrap.wrap(text, width=max(width - indent, 30), break_long_words=False,
                          break_on_hyphens=False) or [""]
    return [lines[0], *(" " * indent + ln for ln in lines[1:])]


def render_table(d: Mapping[str, Any], *, width: int | None = None) -> str:
    """Human-readable report of an analysis dict (the contract): each stage's lines, the
    keywords with their reasons, the prompt.

    Args:
        d: The analysis dict.
        width: Columns to wrap to (default: the terminal's width, else 120).
    """
    from midi2img.stages import stages

    width = width or shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    lines = [f"{d['source']}  ({d['input_kind']}, {d['duration_s']:.1f} s)", "", "FEATURES"]
    rows = [row for st in stages() if all(k in d for k in st.contract_keys)
            for row in st.describe(d)]
    rank = {label: i for i, label in enumerate(LINE_ORDER)}
    rows.sort(key=lambda row: rank.get(row[0], len(rank)))
    lines += [f"  {label:<14} {text}" for label, text in rows]
    for key, why in d.get("omitted", {}).items():
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
