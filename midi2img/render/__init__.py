"""Images from an analysis: image backends behind one protocol, chosen from a registry.

* :mod:`.base` - :class:`RenderOptions` (each setting with its command-line option),
  :class:`ImageRequest`, :class:`Rendered` (a picture and how it was made), the
  :class:`ImageBackend` protocol and the registry :data:`BACKENDS` (a new backend is one module
  and one line there);
* :mod:`.diffusion` - ``sd``: Stable Diffusion through diffusers;
* :mod:`.abstract` - ``abstract``: offline generative art from the analysis (numpy + Pillow);
* :mod:`.maker` - :class:`ImageMaker`, the run's policy (``--image auto|sd|abstract|none``).

Nothing heavy is imported here: torch and diffusers load only when a pipeline does.
"""

from pathlib import Path

from midi2img.render.base import (
    BACKENDS,
    DEFAULT_MODEL,
    SCHEDULERS,
    ImageBackend,
    ImageRequest,
    Rendered,
    RenderOptions,
    create_backend,
    png_bytes,
    seed_from_hash,
)
from midi2img.render.maker import ImageMaker, image_modes


def save_tiny_pipeline(folder: str | Path, *, seed: int = 0) -> Path:
    """A tiny randomly initialised SD pipeline for tests and benchmarks (see
    :func:`midi2img.render.diffusion.save_tiny_pipeline`)."""
    from midi2img.render.diffusion import save_tiny_pipeline as save

    return save(folder, seed=seed)


__all__ = ["BACKENDS", "DEFAULT_MODEL", "SCHEDULERS", "ImageBackend", "ImageMaker",
           "ImageRequest", "RenderOptions", "Rendered", "create_backend", "image_modes",
           "png_bytes", "save_tiny_pipeline", "seed_from_hash"]
