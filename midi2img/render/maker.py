"""The image policy of a run (``--image``): which backend draws, and what happens when it can't.

``--image NAME`` uses the registered backend ``NAME`` (:data:`~midi2img.render.base.BACKENDS`)
and fails when it cannot draw. ``--image auto`` uses Stable Diffusion when its model is
available locally and otherwise the offline abstract renderer, saying why once - but only for
the default model: a model the user named (``--model`` or ``$MIDI2IMG_MODEL``) must load, or the
run stops with exit 3. ``--image none`` draws nothing. An :class:`ImageMaker` is created once per
run, so a pipeline is loaded once and reused for every image of every track; so are the scores
of ``--candidates`` (:mod:`midi2img.render.candidates`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from midi2img.errors import InputError, Midi2ImgError, ModelError
from midi2img.render.base import (
    ImageBackend,
    ImageRequest,
    Rendered,
    RenderOptions,
    backend_names,
    create_backend,
    seed_from_hash,
)
from midi2img.render.candidates import Choice, Judge, choose

#: Policies beside the backend names.
POLICIES = ("auto", "none")


def image_modes() -> tuple[str, ...]:
    """Every value ``--image`` takes: ``auto``, the backends, ``none``."""
    return ("auto", *backend_names(), "none")


class ImageMaker:
    """Draws every image of a run according to ``--image``.

    Attributes:
        mode: ``auto``, ``none`` or a backend name.
        fallback_reason: Why ``auto`` draws abstract images instead (None while it does not).
    """

    def __init__(self, mode: str, options: RenderOptions, *,
                 warn: Callable[[str], Any] | None = None) -> None:
        if mode not in image_modes():
            raise InputError(f"unknown --image {mode!r}; choose one of: "
                             f"{', '.join(image_modes())}")
        options.validate()
        self.mode = mode
        self.options = options
        self.warn = warn or (lambda msg: None)
        self.fallback_reason: str | None = None
        self.primary: ImageBackend | None = None
        self._fallback: ImageBackend | None = None
        self.judge: Judge | None = None
        if mode == "auto":
            from midi2img.render.diffusion import DiffusionBackend

            # auto never downloads: the default model is used when it is already cached
            self.primary = DiffusionBackend(options, allow_download=False)
        elif mode != "none":
            self.primary = create_backend(mode, options)

    @property
    def enabled(self) -> bool:
        """Whether images are drawn at all."""
        return self.mode != "none"

    @property
    def may_fall_back(self) -> bool:
        """Whether a failed Stable Diffusion image may be drawn abstractly instead."""
        return self.mode == "auto" and not self.options.model_named

    def prepare(self) -> None:
        """Load the backend now, before any track is processed.

        Raises:
            ModelError: the backend cannot be loaded and may not fall back, or the scores of
                ``--candidates`` cannot be loaded.
        """
        if self.options.judged and self.primary is not None and self.judge is None:
            self.judge = Judge.load(self.options)
            for line in self.judge.notes:
                self.warn(f"note: {line}")
        if self.primary is None or self.primary.ready or self.fallback_reason:
            return
        try:
            self.primary.prepare()
        except ModelError as exc:
            if not self.may_fall_back:
                raise
            self.fallback_reason = str(exc)
            self.warn(f"note: {exc}; drawing offline abstract images instead (not Stable "
                      f"Diffusion; --image sd makes this an error)")

    def _abstract(self) -> ImageBackend:
        if self._fallback is None:
            self._fallback = create_backend("abstract", self.options)
        return self._fallback

    def seed_for(self, content_hash: str) -> tuple[int, str]:
        """The base seed of a track and where it came from."""
        if self.options.seed is not None:
            return self.options.seed, "--seed"
        return seed_from_hash(content_hash), "content_hash"

    def draw(self, request: ImageRequest) -> Rendered:
        """Draw one picture.

        Returns:
            The picture and how it was made (no timings); ``fallback_reason`` says why the
            abstract renderer drew it instead of Stable Diffusion.

        Raises:
            ModelError: the backend failed and may not fall back.
        """
        if self.primary is None:
            raise Midi2ImgError("images are disabled (--image none)")
        self.prepare()
        if self.fallback_reason is None:
            try:
                return self.primary.draw(request)
            except ModelError as exc:
                if not self.may_fall_back:
                    raise
                reason = str(exc)  # this picture falls back; the run goes on
                self.warn(f"note: {reason}; drawing this image with the offline abstract "
                          f"renderer instead")
        else:
            reason = self.fallback_reason
        return dataclasses.replace(self._abstract().draw(request), fallback_reason=reason)

    def choose(self, request: ImageRequest, keywords: Sequence[str]) -> Choice:
        """Draw ``--candidates`` pictures for a request over ``--rounds`` and keep the best
        (:func:`midi2img.render.candidates.choose`).

        Args:
            request: The image's request (its seed is the first candidate's).
            keywords: The prompt's keywords, scored one by one.

        Raises:
            ModelError: the backend failed and may not fall back.
        """
        from midi2img.render.diffusion import SD_RENDERER

        self.prepare()
        if self.judge is None:
            self.judge = Judge.load(self.options)
        return choose(self.draw, request, self.judge, keywords=keywords,
                      candidates=self.options.candidates, rounds=self.options.rounds,
                      prompt_driven=lambda drawn: drawn.renderer == SD_RENDERER)
