"""What every image backend shares: its options, the request it draws, the protocol it follows
and the registry it is chosen from (as diffusers chooses schedulers and pipelines by name).

A backend is one module with one class that follows :class:`ImageBackend` and one line in
:data:`BACKENDS`; ``--image NAME`` then selects it. The built-in ones are ``sd`` (Stable Diffusion
through diffusers, :mod:`midi2img.render.diffusion`) and ``abstract`` (the offline generative
renderer, :mod:`midi2img.render.abstract`). :class:`~midi2img.render.maker.ImageMaker` adds the
policies ``auto`` (Stable Diffusion, else the abstract renderer) and ``none``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from midi2img.errors import InputError
from midi2img.flags import derived, flag
from midi2img.registry import load_entry

#: Default model: SD-Turbo (SD 2.1 distilled by adversarial diffusion distillation). It makes a
#: 512x512 image in a single step without classifier-free guidance, so a picture takes seconds on
#: a CPU and well under a second on a GPU; about 5 GB to download once (fp32 weights; 2.6 GB fp16).
#: Mind its licence (Stability AI Community License) for commercial use; any SD 1.x/2.x/SDXL id
#: or folder can be given with ``--model`` instead.
DEFAULT_MODEL = "stabilityai/sd-turbo"

#: Named schedulers (``--scheduler``): diffusers class and extra config.
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "dpm++-karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++",
                                                     "use_karras_sigmas": True}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}
DEVICES = ("auto", "cuda", "mps", "cpu")
#: ``--clip-model`` values beside a model: the default model when cached, or no text score.
CLIP_AUTO, CLIP_NONE = "auto", "none"
#: Limits of ``--candidates`` and ``--rounds``.
MAX_CANDIDATES, MAX_ROUNDS = 64, 10


def seed_from_hash(content_hash: str) -> int:
    """A 31-bit seed derived from a track's content hash (same audio -> same seed)."""
    digest = hashlib.sha256(f"midi2img-seed:{content_hash}".encode()).hexdigest()
    return int(digest[:8], 16) & 0x7FFFFFFF


def _named_model(value: str | None) -> str | None:
    """The model the user named: ``--model``, else ``$MIDI2IMG_MODEL`` (None: neither)."""
    return value or os.environ.get("MIDI2IMG_MODEL") or None


@dataclass(frozen=True)
class RenderOptions:
    """Settings of the image backends (most of them are Stable Diffusion's), each with the
    command-line option that sets it (:mod:`midi2img.flags`).

    Attributes:
        model: Hub id (``owner/name``) or local diffusers folder.
        model_named: The user named ``model`` (``--model`` or ``$MIDI2IMG_MODEL``): then it must
            load, and ``--image auto`` never falls back to the abstract renderer for it.
        steps: Denoising steps; None picks the model's usual number (1 for turbo, 4 for LCM,
            25 otherwise).
        guidance: Classifier-free guidance scale; None picks 0 for turbo, 1.5 for LCM, 7.5
            otherwise.
        width: Image width in pixels (multiple of 8); None uses the model's native size.
        height: Image height in pixels (multiple of 8); None uses the model's native size.
        scheduler: A name from :data:`SCHEDULERS`; None keeps the model's own.
        seed: Fixed base seed; None derives it from the track's content hash.
        device: ``auto`` (CUDA, then MPS, then CPU), ``cuda``, ``mps`` or ``cpu``.
        attention_slicing: Compute attention in slices (less memory, a little slower).
        cpu_offload: Keep sub-models on the CPU until used (needs a GPU; saves GPU memory).
        safety_checker: Keep the safety checker the pipeline ships (if it ships one).
        candidates: Pictures drawn per image (different seeds); each is scored against the music
            and the best kept (:mod:`midi2img.render.candidates`).
        rounds: Rounds of drawing the candidates, the keywords a picture does not show weighted
            up in the next (stops early when the best score stops rising).
        keep_candidates: Also write the candidates not kept (``candidates/``).
        clip_model: The CLIP model of the text-image score: ``auto`` (the default model when
            it is in the Hugging Face cache), ``none``, a Hub id or a local folder.
    """

    model: str = flag(
        "--model", default=DEFAULT_MODEL, cli_type=str | None, cli_default=None,
        parse=lambda value: _named_model(value) or DEFAULT_MODEL,
        help="Diffusers text-to-image model: a Hugging Face Hub id or a local folder (SD 1.x, "
        f"2.x, SDXL, turbo, LCM); default $MIDI2IMG_MODEL or {DEFAULT_MODEL}. A model you name "
        "must load (exit 3 otherwise); only the default falls back.")
    model_named: bool = derived("model", lambda value: _named_model(value) is not None,
                                default=False)
    steps: int | None = flag(
        "--steps", default=None,
        help="Denoising steps (default: 1 for turbo models, 4 for LCM, 25 otherwise).")
    guidance: float | None = flag(
        "--guidance", default=None,
        help="Classifier-free guidance scale (default: 0 for turbo, 1.5 for LCM, 7.5 "
        "otherwise).")
    width: int | None = flag(
        "--width", default=None,
        help="Image width, a multiple of 8 (default: the model's native size; 512 for abstract "
        "images).")
    height: int | None = flag(
        "--height", default=None, help="Image height, a multiple of 8 (default as --width).")
    scheduler: str | None = flag(
        "--scheduler", default=None, choices=tuple(SCHEDULERS),
        help="Sampler (default: the model's own).")
    seed: int | None = flag(
        "--seed", default=None,
        help="Base seed (default: derived from the track's content, so the same track gives "
        "the same image). Section i uses seed + i.")
    device: str = flag(
        "--device", default="auto", choices=DEVICES,
        help="auto: CUDA, then Apple MPS, then CPU. fp16 on CUDA, fp32 elsewhere.")
    attention_slicing: bool = flag(
        "--attention-slicing", default=False,
        help="Compute attention in slices: less memory, a little slower.")
    cpu_offload: bool = flag(
        "--cpu-offload", default=False,
        help="Keep sub-models on the CPU until needed (GPU memory saver).")
    safety_checker: bool = flag(
        "--no-safety-checker", default=True, cli_default=False,
        parse=lambda off: not off,
        help="Switch off the safety checker a model ships (on by default).")

    candidates: int = flag(
        "--candidates", default=1,
        help="Pictures drawn per track or section (seeds seed, seed+1000, ...): each is scored "
        "against the music (CLIP text-image agreement, image affect against the music's) and "
        "the best is kept as <stem>.png. 1 draws one and scores nothing.")
    rounds: int = flag(
        "--rounds", default=1,
        help="Rounds of candidates: the keywords CLIP does not see in the best picture get more "
        "weight in the next round's prompt; stops early when the best score stops rising.")
    keep_candidates: bool = flag(
        "--keep-candidates", default=False,
        help="Also write the candidates not kept, into candidates/ (their scores are in "
        "analysis.json and the report either way).")
    clip_model: str = flag(
        "--clip-model", default=CLIP_AUTO, metavar="<auto|none|ID|FOLDER>",
        help="CLIP model scoring text-image agreement of the candidates: auto (the default "
        "model when it is in the Hugging Face cache, else none), none (the image affect score "
        "alone chooses), a Hub id or a local folder (it must load).")

    def validate(self) -> None:
        """Check every value before anything is loaded.

        Raises:
            InputError: a size that is not a positive multiple of 8, an unknown scheduler or
                device, a non-positive number of steps, a negative guidance or seed.
        """
        for name in ("width", "height"):
            v = getattr(self, name)
            if v is not None and (v < 64 or v > 4096 or v % 8):
                raise InputError(f"--{name} {v}: image sizes must be multiples of 8 between 64 "
                                 f"and 4096 (e.g. 512, 768, 1024)")
        if self.steps is not None and not 1 <= self.steps <= 1000:
            raise InputError(f"--steps {self.steps}: must lie in 1..1000")
        if self.guidance is not None and not 0.0 <= self.guidance <= 50.0:
            raise InputError(f"--guidance {self.guidance}: must lie in 0..50")
        if self.scheduler is not None and self.scheduler not in SCHEDULERS:
            raise InputError(f"unknown scheduler {self.scheduler!r}; choose one of: "
                             f"{', '.join(SCHEDULERS)}")
        if self.device not in DEVICES:
            raise InputError(f"unknown device {self.device!r}; choose one of: "
                             f"{', '.join(DEVICES)}")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise InputError(f"--seed {self.seed}: must be a non-negative integer")
        if not self.model.strip():
            raise InputError("--model is empty")
        if not 1 <= self.candidates <= MAX_CANDIDATES:
            raise InputError(f"--candidates {self.candidates}: must lie in 1..{MAX_CANDIDATES}")
        if not 1 <= self.rounds <= MAX_ROUNDS:
            raise InputError(f"--rounds {self.rounds}: must lie in 1..{MAX_ROUNDS}")
        if not self.clip_model.strip():
            raise InputError("--clip-model is empty (auto, none, a Hub id or a folder)")

    @property
    def judged(self) -> bool:
        """Whether pictures are drawn as scored candidates (``--candidates``/``--rounds``)."""
        return self.candidates > 1 or self.rounds > 1

    @property
    def family(self) -> str:
        """``turbo``, ``lcm`` or ``standard``: decides the default steps and guidance."""
        m = self.model.lower()
        if "turbo" in m:
            return "turbo"
        if "lcm" in m or self.scheduler == "lcm":
            return "lcm"
        return "standard"

    def resolved_steps(self) -> int:
        """Steps to run (the explicit value or the family's default)."""
        if self.steps is not None:
            return self.steps
        return {"turbo": 1, "lcm": 4}.get(self.family, 25)

    def resolved_guidance(self) -> float:
        """Guidance scale to use (the explicit value or the family's default)."""
        if self.guidance is not None:
            return self.guidance
        return {"turbo": 0.0, "lcm": 1.5}.get(self.family, 7.5)


@dataclass(frozen=True)
class ImageRequest:
    """One picture to draw.

    Attributes:
        analysis: The analysis dict (contract shape) of the track or section it illustrates.
        prompt: The positive prompt.
        negative_prompt: The negative prompt.
        seed: The seed of this picture.
        anchor: The whole track's analysis dict, which keeps a track's section images in one look.
        silent: The picture is of a pause (a section where no note of the track sounds):
            ``analysis`` is then the track's, and a backend that draws from the analysis draws
            it with nothing sounding.
        weights: Emphasis of keywords of the prompt (keyword -> weight, 1 as written), from the
            rounds of ``--rounds`` (:mod:`midi2img.render.weighting`); a backend that draws from
            the analysis ignores it.
    """

    analysis: Mapping[str, Any]
    prompt: str
    negative_prompt: str
    seed: int
    anchor: Mapping[str, Any] | None = field(default=None)
    silent: bool = False
    weights: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    """A drawn picture and how it was made (what ``analysis.json`` records under ``image`` and
    the PNG's metadata holds; never timings, so that outputs are reproducible).

    Attributes:
        image: The picture (a PIL image).
        renderer: What drew it (``stable-diffusion``, ``abstract (offline, ...)``).
        seed: Its seed.
        width: Its width in pixels.
        height: Its height in pixels.
        model: The diffusion model (None for a backend without one).
        steps: Denoising steps.
        guidance: Classifier-free guidance scale.
        scheduler: The sampler.
        pipeline: The diffusers pipeline class.
        device: Where it ran (``cuda``, ``mps``, ``cpu``).
        dtype: The weights' precision (``float16``, ``float32``).
        safety_checker: Whether the model's safety checker ran, and why (not).
        negative_prompt_used: Whether the negative prompt was given to the model.
        nsfw_detected: The safety checker's verdict (None: no checker ran).
        notes: Lines about settings that were adjusted (``--cpu-offload ignored: ...``).
        extra: A backend's own further settings (JSON-ready), recorded after the above.
        fallback_reason: Why the abstract renderer drew it instead of Stable Diffusion.
    """

    image: Any = field(repr=False, compare=False)
    renderer: str
    seed: int
    width: int
    height: int
    model: str | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    pipeline: str | None = None
    device: str | None = None
    dtype: str | None = None
    safety_checker: str | None = None
    negative_prompt_used: bool | None = None
    nsfw_detected: bool | None = None
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    fallback_reason: str | None = None

    def __post_init__(self) -> None:
        if not self.renderer:
            raise ValueError("a rendered image names its renderer")
        if self.width < 1 or self.height < 1:
            raise ValueError(f"bad image size {self.width}x{self.height}")

    def to_dict(self) -> dict[str, Any]:
        """How it was made, as ``analysis.json`` and the PNG metadata record it: the settings
        that apply (None and no notes left out), in this order, then ``extra``, then
        ``fallback_reason``."""
        d: dict[str, Any] = {"renderer": self.renderer}
        if self.model is not None:
            d["model"] = self.model
        d["seed"] = self.seed
        for name in ("steps", "guidance", "scheduler", "pipeline"):
            if (v := getattr(self, name)) is not None:
                d[name] = v
        d["width"], d["height"] = self.width, self.height
        for name in ("device", "dtype", "safety_checker", "negative_prompt_used",
                     "nsfw_detected"):
            if (v := getattr(self, name)) is not None:
                d[name] = v
        if self.notes:
            d["notes"] = list(self.notes)
        d.update(self.extra)
        if self.fallback_reason is not None:
            d["fallback_reason"] = self.fallback_reason
        return d


class ImageBackend(Protocol):
    """What an image backend provides.

    ``prepare`` loads whatever the backend needs (once per run; raises
    :class:`~midi2img.errors.ModelError` when it cannot); ``draw`` returns the picture with how
    it was made (:class:`Rendered`).
    """

    name: ClassVar[str]

    def __init__(self, options: RenderOptions) -> None: ...

    @property
    def ready(self) -> bool:
        """Whether :meth:`prepare` has run successfully."""
        ...

    def prepare(self) -> None: ...

    def draw(self, request: ImageRequest) -> Rendered: ...


#: The image backends, by ``--image`` name: ``"module:Class"``, imported only when chosen.
BACKENDS: dict[str, str] = {
    "sd": "midi2img.render.diffusion:DiffusionBackend",
    "abstract": "midi2img.render.abstract:AbstractBackend",
}


def backend_names() -> tuple[str, ...]:
    """Names of the registered backends."""
    return tuple(BACKENDS)


def create_backend(name: str, options: RenderOptions) -> ImageBackend:
    """Instantiate a registered backend (not prepared yet).

    Raises:
        InputError: no backend has that name.
    """
    if name not in BACKENDS:
        raise InputError(f"unknown image backend {name!r}; choose one of: "
                         f"{', '.join(BACKENDS)}")
    backend: ImageBackend = load_entry(BACKENDS[name])(options)
    return backend


def png_bytes(image: Any, metadata: Mapping[str, Any]) -> bytes:
    """The image as PNG bytes with ``metadata`` in tEXt chunks (non-strings as JSON)."""
    import io

    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for k, v in metadata.items():
        if v is None:
            continue
        info.add_text(str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()
