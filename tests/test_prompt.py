"""Templater: deterministic prompts within CLIP's 77-token window, heaviest keywords kept."""

from __future__ import annotations

import pytest

from midi2img.errors import InputError
from midi2img.keyword import Keyword
from midi2img.prompt import CLIP_MAX_TOKENS, build_prompt, count_tokens, style_names


def _kw(text: str, weight: float, kind: str = "mood") -> Keyword:
    return Keyword(text, weight, f"test rule for {text}", kind, "test")


def test_tokenizer_is_clips() -> None:
    from midi2img.prompt import _tokenizer

    # CLIP's published ids for this sentence (start, a, photo, of, a, cat, end)
    assert _tokenizer().encode("a photo of a cat").ids == [49406, 320, 1125, 539, 320, 2368,
                                                           49407]
    assert count_tokens("a photo of a cat") == 7


def test_styles_defined() -> None:
    assert {"painting", "photo", "album-cover", "abstract"} <= set(style_names())
    with pytest.raises(InputError):
        build_prompt([_kw("calm", 0.5)], style="nope")


def test_budget_keeps_heaviest_first() -> None:
    many = [_kw(f"keyword number {i} with several extra descriptive words", 1.0 - i / 100)
            for i in range(40)]
    p = build_prompt(many, style="painting")
    assert p.tokens <= CLIP_MAX_TOKENS
    assert count_tokens(p.positive) == p.tokens
    assert p.dropped, "40 long keywords cannot all fit"
    kept = [int(k.split()[2]) for k in p.used]
    assert kept == sorted(kept) and kept[0] == 0
    assert max(kept) < min(int(k.split()[2]) for k in p.dropped)


def test_every_style_fits_and_is_deterministic() -> None:
    kws = [_kw("bright", 0.9), _kw("open prairie at sunset", 0.8, "scene"),
           _kw("warm golden light", 0.7, "light"), _kw("smooth", 0.5, "texture")]
    for style in style_names():
        a, b = build_prompt(kws, style=style), build_prompt(list(reversed(kws)), style=style)
        assert a == b
        assert a.tokens <= CLIP_MAX_TOKENS
        assert all(k.keyword in a.positive for k in kws)
        assert a.negative


def test_kind_order_of_the_style() -> None:
    kws = [_kw("bright", 0.9, "mood"), _kw("open prairie", 0.8, "scene")]
    p = build_prompt(kws, style="painting")  # painting puts the scene first
    assert p.positive.index("open prairie") < p.positive.index("bright")
    q = build_prompt(kws, style="album-cover")  # album covers lead with the mood
    assert q.positive.index("bright") < q.positive.index("open prairie")
