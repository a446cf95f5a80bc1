"""The ``sd`` image backend: a Stable Diffusion pipeline (diffusers), loaded once per run.

Any text-to-image pipeline that ``diffusers.AutoPipelineForText2Image`` knows (SD 1.x, 2.x, SDXL,
the turbo and LCM models, ...) can be used, from a Hugging Face Hub id (cached by
``huggingface_hub``, honouring ``HF_HUB_OFFLINE`` and ``HF_HOME``) or from a local folder written
by ``save_pretrained``. torch and diffusers are imported only when a pipeline is loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

from midi2img.errors import InputError, ModelError
from midi2img.render.base import (
    DEFAULT_MODEL,
    SCHEDULERS,
    ImageRequest,
    Rendered,
    RenderOptions,
)

#: What ``analysis.json`` and the PNG metadata call this backend's pictures.
SD_RENDERER = "stable-diffusion"
#: Seconds to wait for the Hugging Face Hub before saying it cannot be reached.
HUB_CONNECT_TIMEOUT_S = 3.0

def _offline() -> bool:
    val = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    if val in ("1", "true", "yes", "on"):
        return True
    try:
        import huggingface_hub

        return bool(huggingface_hub.is_offline_mode())
    except Exception:  # an older huggingface_hub without is_offline_mode
        return False


def _looks_like_path(model: str) -> bool:
    return (model.startswith((".", "/", "~")) or model.count("/") != 1 or "\\" in model
            or os.path.exists(os.path.expanduser(model)))


def how_to_provide(model: str) -> str:
    """The advice given whenever a model cannot be found."""
    return (f"download it once with network access (`hf download {model}`, or run midi2img once "
            f"online) or pass --model /path/to/a/diffusers/folder")


@dataclass(frozen=True)
class ModelSource:
    """Where a pipeline is loaded from."""

    model: str
    local_dir: Path | None  # a local folder (given directly or the Hub cache's snapshot)
    hub_id: str | None
    cached: bool
    model_index: dict[str, Any]


def resolve_model(model: str, *, allow_download: bool = True) -> ModelSource:
    """Find a model without loading it, touching the network only when a Hub id is not cached.

    Args:
        model: Hub id or local folder.
        allow_download: Whether an uncached Hub id may be fetched (when not offline).

    Raises:
        ModelError: the folder is missing or not a diffusers pipeline, or the Hub id is not
            cached and cannot be fetched (offline, no network, no such repository).
    """
    if _looks_like_path(model):
        p = Path(model).expanduser()
        if not p.exists():
            raise ModelError(f"model folder {model} does not exist; pass a folder written by "
                             f"diffusers' save_pretrained or a Hugging Face Hub id such as "
                             f"{DEFAULT_MODEL}")
        index = p / "model_index.json"
        if not p.is_dir() or not index.is_file():
            raise ModelError(f"{model} is not a diffusers pipeline folder (no model_index.json)")
        return ModelSource(model, p, None, True, _read_index(index, model))
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model, "model_index.json")
    if isinstance(cached, str):
        return ModelSource(model, Path(cached).parent, model, True, _read_index(Path(cached),
                                                                                model))
    if _offline():
        raise ModelError(f"model {model} is not in the Hugging Face cache and HF_HUB_OFFLINE is "
                         f"set; {how_to_provide(model)}")
    if not allow_download:
        raise ModelError(f"model {model} is not in the Hugging Face cache (--image auto never "
                         f"downloads; --image sd does); {how_to_provide(model)}")
    if not hub_reachable():
        raise ModelError(f"model {model} is not in the Hugging Face cache and the Hub cannot be "
                         f"reached (no network?); {how_to_provide(model)}")
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(model, "model_index.json", etag_timeout=10)
    except Exception as exc:  # no network, no such repo, gated repo, ...
        why = _first_line(exc)
        raise ModelError(f"model {model} is not cached and could not be fetched ({why}); "
                         f"{how_to_provide(model)}") from exc
    return ModelSource(model, None, model, False, _read_index(Path(path), model))


def hub_reachable(timeout_s: float = HUB_CONNECT_TIMEOUT_S) -> bool:
    """Whether the Hugging Face Hub (``$HF_ENDPOINT``) accepts a TCP connection within
    ``timeout_s`` - checked before any download, so that no network means one quick error
    instead of huggingface_hub's retries and warnings."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port),
                                      timeout=timeout_s):
            return True
    except OSError:
        return False


def _read_index(path: Path, model: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{model}: model_index.json is unreadable ({_first_line(exc)})") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{model}: model_index.json is not a JSON object")
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def pick_device(requested: str = "auto") -> str:
    """``cuda`` if available, else ``mps``, else ``cpu`` (or the requested one, checked)."""
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if requested == "cuda" and not cuda:
        raise InputError("--device cuda: no CUDA GPU is available")
    if requested == "mps" and not mps:
        raise InputError("--device mps: Apple MPS is not available")
    return requested


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the libraries' progress bars, advice and deprecation warnings while loading."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


class DiffusionBackend:
    """The ``sd`` backend: a Stable Diffusion pipeline, loaded once (:meth:`prepare`) and reused
    for every image.

    Attributes:
        loads: How many times a pipeline was loaded (stays 1 for a whole run).
        allow_download: Whether an uncached Hub id may be fetched.
    """

    name: ClassVar[str] = "sd"

    def __init__(self, options: RenderOptions, *, allow_download: bool = True) -> None:
        options.validate()
        self.options = options
        self.allow_download = allow_download
        self.loads = 0
        self.load_s = 0.0
        self.device = "cpu"
        self.dtype = "float32"
        self.notes: list[str] = []
        self._pipe: Any = None
        self._call_params: frozenset[str] = frozenset()
        self._safety = "none shipped by the model"

    @property
    def ready(self) -> bool:
        """Whether the pipeline is loaded."""
        return self._pipe is not None

    loaded = ready

    @property
    def pipeline(self) -> Any:
        """The loaded diffusers pipeline (loads it first)."""
        self.load()
        return self._pipe

    def prepare(self) -> None:
        """Load the pipeline (see :meth:`load`)."""
        self.load()

    def draw(self, request: ImageRequest) -> Rendered:
        """Draw one picture for a request (the analysis is not needed: the prompt says it)."""
        return self.render(request.prompt, negative_prompt=request.negative_prompt,
                           seed=request.seed, weights=request.weights)

    def load(self) -> None:
        """Load the pipeline (once; later calls do nothing).

        Raises:
            ModelError: the model cannot be found or loaded (one line naming it and the fix).
            InputError: the requested device is not available.
        """
        if self._pipe is not None:
            return
        t0 = time.perf_counter()
        opts = self.options
        source = resolve_model(opts.model, allow_download=self.allow_download)
        with _quiet():
            import torch
            from diffusers import AutoPipelineForText2Image
            from diffusers.utils import logging as dlog
            from transformers.utils import logging as tlog

            dlog.set_verbosity_error()
            dlog.disable_progress_bar()
            # the environment variables above only act if transformers was not imported yet
            tlog.set_verbosity_error()
            tlog.disable_progress_bar()
            self.device = pick_device(opts.device)
            dtype = torch.float16 if self.device == "cuda" else torch.float32
            self.dtype = str(dtype).removeprefix("torch.")
            kwargs: dict[str, Any] = {"torch_dtype": dtype}
            ships_checker = (source.model_index.get("safety_checker") or [None])[0] is not None
            if ships_checker and not opts.safety_checker:
                kwargs.update(safety_checker=None, requires_safety_checker=False)
            self._safety = ("on" if opts.safety_checker else "off (--no-safety-checker)"
                            ) if ships_checker else "none shipped by the model"
            # a Hub id goes by name (cached: local_files_only, never the network); a folder by path
            where = opts.model if source.hub_id is not None else str(source.local_dir)
            try:
                pipe = AutoPipelineForText2Image.from_pretrained(
                    where, local_files_only=source.cached, **kwargs)
            except Exception as exc:  # diffusers raises OSError, ValueError, EnvironmentError...
                raise ModelError(f"cannot load the diffusion pipeline {opts.model} "
                                 f"({_first_line(exc)}); it may be incomplete or corrupt - "
                                 f"download it again or {how_to_provide(opts.model)}") from exc
            if opts.scheduler is not None:
                import diffusers

                cls_name, extra = SCHEDULERS[opts.scheduler]
                cls = getattr(diffusers, cls_name)
                try:
                    pipe.scheduler = cls.from_config(pipe.scheduler.config, **extra)
                except Exception as exc:
                    raise ModelError(f"--scheduler {opts.scheduler} does not fit "
                                     f"{opts.model} ({_first_line(exc)})") from exc
            if opts.attention_slicing and hasattr(pipe, "enable_attention_slicing"):
                pipe.enable_attention_slicing()
            if opts.cpu_offload and self.device != "cpu":
                pipe.enable_model_cpu_offload(device=self.device)
            else:
                if opts.cpu_offload:
                    self.notes.append("--cpu-offload ignored: the pipeline already runs on the "
                                      "CPU")
                pipe.to(self.device)
            pipe.set_progress_bar_config(disable=True)
        import inspect

        self._call_params = frozenset(inspect.signature(pipe.__call__).parameters)
        self._pipe = pipe
        self.loads += 1
        self.load_s = time.perf_counter() - t0

    def render(self, prompt: str, *, negative_prompt: str = "", seed: int,
               weights: Mapping[str, float] | None = None) -> Rendered:
        """One image for a prompt with a fixed seed (same inputs -> same pixels on one machine).

        ``weights`` emphasises keywords of the prompt (:mod:`midi2img.render.weighting`): by
        scaling their text embeddings where the pipeline allows it, else by word order.

        Returns:
            The PIL image and what produced it (for ``analysis.json`` and the PNG metadata).

        Raises:
            ModelError: the pipeline cannot be loaded, or fails on this image.
        """
        self.load()
        import torch

        opts = self.options
        steps, guidance = opts.resolved_steps(), opts.resolved_guidance()
        kwargs: dict[str, Any] = {"prompt": prompt, "num_inference_steps": steps,
                                  "guidance_scale": guidance,
                                  # a CPU generator gives the same noise on every device
                                  "generator": torch.Generator("cpu").manual_seed(seed)}
        if negative_prompt and guidance > 1.0 and "negative_prompt" in self._call_params:
            kwargs["negative_prompt"] = negative_prompt
        extra: dict[str, Any] = {}
        if weights and any(w != 1.0 for w in weights.values()):
            from midi2img.render import weighting

            if weighting.supports_embeddings(self._pipe, self._call_params):
                with _quiet():
                    kwargs["prompt_embeds"] = weighting.prompt_embeddings(self._pipe, prompt,
                                                                          weights)
                del kwargs["prompt"]
                extra["weighting"] = weighting.EMBEDDING_SCALING
            else:
                kwargs["prompt"] = weighting.reordered_prompt(prompt, weights)
                extra["weighting"] = weighting.REORDERED
        if opts.width is not None:
            kwargs["width"] = opts.width
        if opts.height is not None:
            kwargs["height"] = opts.height
        with _quiet(), torch.inference_mode():
            try:
                out = self._pipe(**kwargs)
            except Exception as exc:  # out of memory, a size the model cannot do, ...
                raise ModelError(f"Stable Diffusion failed with {opts.model}: "
                                 f"{_first_line(exc)}") from exc
        image = out.images[0]
        nsfw = getattr(out, "nsfw_content_detected", None)
        return Rendered(
            image, renderer=SD_RENDERER, seed=seed, width=image.width, height=image.height,
            model=opts.model, steps=steps, guidance=guidance,
            scheduler=opts.scheduler or type(self._pipe.scheduler).__name__,
            pipeline=type(self._pipe).__name__, device=self.device, dtype=self.dtype,
            safety_checker=self._safety, negative_prompt_used="negative_prompt" in kwargs,
            nsfw_detected=None if nsfw is None else bool(nsfw[0]), notes=tuple(self.notes),
            extra=extra)


def save_tiny_pipeline(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny randomly initialised SD pipeline (a few MB) for tests and benchmarks.

    It has the real architecture (UNet, VAE, CLIP text encoder with CLIP's vocabulary and the
    tokenizer shipped in ``midi2img.models``) at toy width, so it runs in milliseconds; its
    pictures are noise.
    """
    from importlib import resources

    with _quiet():
        import torch
        from diffusers import (
            AutoencoderKL,
            EulerDiscreteScheduler,
            StableDiffusionPipeline,
            UNet2DConditionModel,
        )
        from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4,
            out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
            norm_num_groups=4, attention_head_dim=2)
        vae = AutoencoderKL(
            block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
            down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=4, sample_size=16)
        text = CLIPTextModel(CLIPTextConfig(
            bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=16, intermediate_size=32,
            num_attention_heads=2, num_hidden_layers=2, vocab_size=49408, projection_dim=16,
            layer_norm_eps=1e-5))
        tok_dir = resources.files("midi2img.models") / "clip_tokenizer"
        with resources.as_file(tok_dir) as tdir:
            tokenizer = CLIPTokenizer.from_pretrained(str(tdir))
        scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                           beta_schedule="scaled_linear", steps_offset=1)
        pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tokenizer,
                                       scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)  # type: ignore[attr-defined]
        out = Path(folder)
        pipe.save_pretrained(str(out))  # type: ignore[attr-defined]
    return out
