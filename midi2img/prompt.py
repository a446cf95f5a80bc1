"""Templater: keywords to a positive and a negative Stable Diffusion prompt.

Styles are data (``keywords/styles.toml``). The result is deterministic and fits CLIP's
77-token window (75 tokens between the start and end markers), measured with CLIP's own BPE
tokenizer (shipped in ``midi2img.models/clip_tokenizer``); the heaviest keywords are kept first.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from midi2img import tables
from midi2img.errors import InputError
from midi2img.keyword import KINDS, Keyword

#: The prompt styles in ``midi2img.keywords``.
STYLES_FILE = "styles.toml"

#: CLIP's context length, start and end markers included.
CLIP_MAX_TOKENS = 77


@dataclass(frozen=True)
class Style:
    """A named prompt style."""

    name: str
    lead: str
    order: tuple[str, ...]
    tail: str
    negative: str


@dataclass(frozen=True)
class Prompt:
    """A prompt pair and what went into it.

    Attributes:
        positive: The prompt.
        negative: The negative prompt.
        style: Name of the style used.
        used: Keywords that made it into the prompt, heaviest first.
        dropped: Keywords left out to respect the token budget.
        tokens: CLIP tokens in ``positive`` (markers included).
    """

    positive: str
    negative: str
    style: str
    used: tuple[str, ...]
    dropped: tuple[str, ...]
    tokens: int

    def __post_init__(self) -> None:
        if self.tokens > CLIP_MAX_TOKENS:
            raise ValueError(f"prompt has {self.tokens} tokens, over CLIP's {CLIP_MAX_TOKENS}")


def parse_styles(data: Mapping[str, Any], *, source: str = tables.shipped_source(STYLES_FILE)
                 ) -> tuple[str, dict[str, Style]]:
    """Validate a parsed styles table (schema :data:`midi2img.tables.STYLES`).

    Returns:
        The default style's name and every style by name.

    Raises:
        RulesError: an unknown key, a style without ``lead`` or ``negative``, an unknown kind in
            ``order``, a default that is not defined.
    """
    tables.validate(data, tables.STYLES, source=source)
    styles = {name: Style(name, str(raw["lead"]), tuple(raw.get("order", KINDS)),
                          str(raw.get("tail", "")), str(raw["negative"]))
              for name, raw in data["style"].items()}
    return str(data.get("default", tables.DEFAULT_STYLE)), styles


@lru_cache(maxsize=1)
def _styles() -> tuple[str, dict[str, Style]]:
    return parse_styles(tables.read_shipped(STYLES_FILE))


def style_names() -> list[str]:
    """Names of the styles defined in ``keywords/styles.toml``."""
    return sorted(_styles()[1])


def get_style(name: str | None = None) -> Style:
    """A style by name (the default one when ``name`` is None)."""
    default, styles = _styles()
    key = name or default
    if key not in styles:
        raise InputError(f"unknown style {key!r}; choose one of: {', '.join(sorted(styles))}")
    return styles[key]


@lru_cache(maxsize=1)
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    path = resources.files("midi2img.models") / "clip_tokenizer" / "tokenizer.json"
    return Tokenizer.from_str(path.read_text(encoding="utf-8"))


def count_tokens(text: str) -> int:
    """CLIP tokens in ``text``, start and end markers included."""
    return len(_tokenizer().encode(text).ids)


#: The placeholders of a prompt template (:func:`check_template`).
TEMPLATE_FIELDS = ("keywords", "style")


def check_template(template: str) -> str:
    """Check a prompt template (``--prompt-template``): text with ``{keywords}`` (the keywords,
    comma-separated in the style's kind order) and optionally ``{style}`` (the style's own
    words: its lead and its tail, comma-separated); ``{{`` and ``}}`` are literal braces.

    Returns:
        The template.

    Raises:
        InputError: an unknown placeholder, a format spec, unbalanced braces, or no
            ``{keywords}``.
    """
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:
        raise InputError(f"--prompt-template {template!r}: {exc} (write {{{{ and }}}} for "
                         f"literal braces)") from None
    for name, spec, conv in fields:
        if name not in TEMPLATE_FIELDS or spec or conv:
            raise InputError(f"--prompt-template {template!r}: unknown placeholder "
                             f"{{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} "
                             f"(placeholders: {{keywords}}, {{style}})")
    if "keywords" not in [name for name, _, _ in fields]:
        raise InputError(f"--prompt-template {template!r}: it needs {{keywords}}, where the "
                         f"keywords go")
    return template


def style_words(style: Style) -> str:
    """What ``{style}`` stands for in a prompt template: the style's lead and tail."""
    return ", ".join(p for p in (style.lead, style.tail) if p)


def _assemble(style: Style, chosen: Sequence[Keyword], template: str | None = None) -> str:
    rank = {k: i for i, k in enumerate(style.order)}
    ordered = sorted(enumerate(chosen), key=lambda ik: (rank.get(ik[1].kind, len(rank)), ik[0]))
    words = [kw.keyword for _, kw in ordered]
    if template is not None:
        text = template.format(keywords=", ".join(words), style=style_words(style))
        # an empty placeholder leaves no doubled or dangling comma
        return re.sub(r"\s*,(\s*,)+", ",", text).strip().strip(",").strip()
    parts = [style.lead, *words]
    if style.tail:
        parts.append(style.tail)
    return ", ".join(parts)


def build_prompt(keywords: Sequence[Keyword], *, style: str | Style | None = None,
                 max_tokens: int = CLIP_MAX_TOKENS, template: str | None = None) -> Prompt:
    """Build the prompt pair from keywords (already sorted heaviest first).

    Keywords are taken heaviest first; one that would push the prompt past ``max_tokens``
    is dropped and the next lighter one is tried. Keywords are then placed in the style's
    kind order, heavier first within a kind.

    Args:
        keywords: The keywords.
        style: A style, or the name of a shipped one (None: the default).
        max_tokens: The token budget (CLIP's window).
        template: A prompt template (:func:`check_template`) in place of the style's layout
            (lead, keywords, tail); the budget holds the same way.
    """
    st = style if isinstance(style, Style) else get_style(style)
    ranked = sorted(keywords, key=lambda k: (-k.weight, k.keyword))
    chosen: list[Keyword] = []
    dropped: list[str] = []
    for kw in ranked:
        if count_tokens(_assemble(st, [*chosen, kw], template)) <= max_tokens:
            chosen.append(kw)
        else:
            dropped.append(kw.keyword)
    text = _assemble(st, chosen, template)
    n = count_tokens(text)
    if n > max_tokens:  # the style's own words are over budget: cut the tail word by word
        words = text.split(" ")
        while words and count_tokens(" ".join(words)) > max_tokens:
            words.pop()
        text = " ".join(words).rstrip(",")
        n = count_tokens(text)
    return Prompt(text, st.negative, st.name, tuple(k.keyword for k in chosen), tuple(dropped), n)
