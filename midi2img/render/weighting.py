"""Keyword emphasis in a diffusion prompt: the re-weighting of ``--rounds``.

A keyword the text-image score says a picture does not show gets more weight in the next
round's prompt. The weight acts on the text encoder's output, the way the Stable Diffusion web
UIs read ``(keyword:1.3)``: the prompt is encoded as diffusers encodes it, the embeddings of the
keyword's tokens are multiplied by its weight, and the whole is rescaled to the norm it had
before (so that only the balance between the words changes, not the prompt's overall strength;
the web UIs keep the mean instead, which is unstable where the mean is near 0).
With every weight 1 the embeddings are exactly diffusers' own.

This works for pipelines with one CLIP text encoder that take ``prompt_embeds`` (SD 1.x, 2.x,
the turbo and LCM models). Other pipelines (SDXL's two encoders) get the same emphasis as word
order instead: the weighted keywords move to the front of the prompt, where CLIP attends most
(:func:`reordered_prompt`); the record says which was done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: How the emphasis was applied, as ``analysis.json`` records it.
EMBEDDING_SCALING = "embedding scaling"
REORDERED = "reordered (this pipeline takes no single-encoder prompt embeddings)"


def weighted_text(prompt: str, weights: Mapping[str, float]) -> str:
    """The prompt with each emphasised keyword written ``(keyword:1.30)``, the notation of the
    Stable Diffusion web UIs (for the record and the report; the model gets embeddings)."""
    parts = split_prompt(prompt)
    return ", ".join(f"({p}:{weights[p]:.2f})" if weights.get(p, 1.0) != 1.0 else p
                     for p in parts)


def split_prompt(prompt: str) -> list[str]:
    """The comma-separated parts of a prompt, as the templater joins them."""
    return [p.strip() for p in prompt.split(",") if p.strip()]


def reordered_prompt(prompt: str, weights: Mapping[str, float]) -> str:
    """The prompt with its emphasised parts first (heaviest first), for pipelines that take no
    prompt embeddings; the other parts keep their order."""
    parts = split_prompt(prompt)
    heavy = sorted((p for p in parts if weights.get(p, 1.0) > 1.0),
                   key=lambda p: (-weights[p], parts.index(p)))
    return ", ".join(heavy + [p for p in parts if p not in heavy])


def supports_embeddings(pipe: Any, call_params: Sequence[str] | frozenset[str]) -> bool:
    """Whether ``pipe`` has a single CLIP text encoder and takes ``prompt_embeds``."""
    return ("prompt_embeds" in call_params and getattr(pipe, "text_encoder", None) is not None
            and getattr(pipe, "tokenizer", None) is not None
            and getattr(pipe, "text_encoder_2", None) is None)


def token_weights(tokenizer: Any, ids: Sequence[int], prompt: str,
                  weights: Mapping[str, float]) -> list[float]:
    """One weight per token of ``ids`` (the prompt's padded token ids): the weight of the
    keyword whose tokens those are, 1 elsewhere (markers and padding included).

    A keyword is found as its own token sequence inside the prompt's, searched from left to
    right part by part, so that a keyword that is also part of a longer one is matched where it
    stands alone.
    """
    out = [1.0] * len(ids)
    ids = list(ids)
    pos = 1  # after the start marker
    for part in split_prompt(prompt):
        sub = tokenizer(part, add_special_tokens=False).input_ids
        if not sub:
            continue
        at = _find(ids, sub, pos)
        if at < 0:  # truncated away
            break
        w = float(weights.get(part, 1.0))
        for i in range(at, at + len(sub)):
            out[i] = w
        pos = at + len(sub)
    return out


def _find(seq: list[int], sub: list[int], start: int) -> int:
    n = len(sub)
    for i in range(start, len(seq) - n + 1):
        if seq[i:i + n] == sub:
            return i
    return -1


def prompt_embeddings(pipe: Any, prompt: str, weights: Mapping[str, float]) -> Any:
    """The prompt's text embeddings with the keywords' weights applied (see the module's doc).

    Args:
        pipe: A diffusers pipeline with ``tokenizer`` and ``text_encoder``
            (:func:`supports_embeddings`).
        prompt: The prompt, as the templater wrote it.
        weights: Keyword -> weight (1: as written).

    Returns:
        A ``(1, tokens, width)`` tensor on the text encoder's device and dtype.
    """
    import torch

    tok, enc = pipe.tokenizer, pipe.text_encoder
    inputs = tok(prompt, padding="max_length", max_length=tok.model_max_length,
                 truncation=True, return_tensors="pt")
    ids = inputs.input_ids
    mask = (inputs.attention_mask.to(enc.device)
            if getattr(enc.config, "use_attention_mask", False) else None)
    with torch.inference_mode():
        embeds = enc(ids.to(enc.device), attention_mask=mask)[0]
        w = torch.tensor(token_weights(tok, ids[0].tolist(), prompt, weights),
                         dtype=embeds.dtype, device=embeds.device)
        if bool((w != 1.0).any()):
            before = embeds.float().norm()
            embeds = embeds * w[None, :, None]
            embeds = embeds * (before / embeds.float().norm()).to(embeds.dtype)
    return embeds.to(dtype=enc.dtype)
