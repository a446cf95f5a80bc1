"""Text-image agreement with CLIP: how well a rendered picture fits its prompt and its keywords.

A :class:`ClipScorer` loads a CLIP model (``transformers.CLIPModel``) once - from a Hugging Face
Hub id (cached by ``huggingface_hub``, honouring ``HF_HUB_OFFLINE`` and ``HF_HOME``) or from a
local folder written by ``save_pretrained`` - and scores pictures with the cosine similarity of
their L2-normalised CLIP image and text embeddings:

* ``prompt``: cos(image, prompt), the prompt cut to CLIP's 77 tokens;
* ``baseline``: cos(image, :data:`BASELINE_CAPTION`), a caption that says nothing;
* per keyword, a margin: cos(image, :data:`KEYWORD_TEMPLATE` filled with the keyword) minus
  ``baseline`` - how much naming the keyword raises the agreement beyond the generic caption. A
  keyword is *seen* when its margin is above 0.

The keyword is put in the baseline caption ("an image, misty dawn" against "an image") rather
than scored alone: both texts then share the same words but the keyword, so the margin measures
the keyword and not the difference between a bare word and a sentence (CLIP embeds bare words
poorly: Radford et al. 2021, section 3.1.4, prompt templates). The comma follows the
comma-separated prompts the pictures are drawn from, and reads well with adjectives ("an image,
melancholic") and noun phrases alike. Text embeddings are cached per scorer: the same keywords,
prompt and baseline recur over a track's candidates. torch and transformers are imported only
when a model is loaded.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from midi2img.errors import ModelError
from midi2img.render.diffusion import (
    _first_line,
    _looks_like_path,
    _offline,
    _quiet,
    hub_reachable,
    pick_device,
)

#: The CLIP model used when none is given (ViT-B/32, 151 M parameters, 600 MB in float32).
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
#: The caption that says nothing; keyword margins are measured against it.
BASELINE_CAPTION = "an image"
#: How a keyword is said: the baseline caption with the keyword added.
KEYWORD_TEMPLATE = BASELINE_CAPTION + ", {}"
#: CLIP's text length in tokens (start and end tokens included); longer prompts are cut.
CLIP_MAX_TOKENS = 77
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
#: Where the image preprocessing is said (the Hub's CLIP models; transformers 5's save_pretrained)
_PREPROCESSING = ("preprocessor_config.json", "processor_config.json")


def _how_to_provide(model: str) -> str:
    return (f"download it once with network access (`hf download {model}`) or pass "
            f"--clip-model /path/to/a/clip/folder (written by save_pretrained)")


@dataclass(frozen=True)
class ClipScores:
    """One picture's agreement with its prompt and keywords.

    Attributes:
        prompt: Cosine similarity of the picture and the prompt.
        keywords: Keyword -> margin: cos(picture, keyword caption) - ``baseline``.
        baseline: Cosine similarity of the picture and :data:`BASELINE_CAPTION`.
    """

    prompt: float
    keywords: dict[str, float]
    baseline: float

    @property
    def seen(self) -> tuple[str, ...]:
        """The keywords whose margin is above 0, in the given order."""
        return tuple(k for k, m in self.keywords.items() if m > 0)

    @property
    def not_seen(self) -> tuple[str, ...]:
        """The keywords whose margin is 0 or below, in the given order."""
        return tuple(k for k, m in self.keywords.items() if m <= 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, the numbers rounded to 4 decimals."""
        return {"prompt": round(self.prompt, 4), "baseline": round(self.baseline, 4),
                "keywords": {k: round(m, 4) for k, m in self.keywords.items()},
                "seen": list(self.seen), "not_seen": list(self.not_seen)}


def _read_config(path: Path, model: str) -> dict[str, Any]:
    """A CLIP model's ``config.json``, checked to be a CLIP model's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{model}: config.json is unreadable ({_first_line(exc)})") from exc
    kind = data.get("model_type") if isinstance(data, dict) else None
    if kind != "clip":
        raise ModelError(f"{model} is not a CLIP model (config.json has model_type {kind!r}, "
                         f"not 'clip'); pass a CLIP model such as {DEFAULT_CLIP_MODEL}")
    return data


def _cached_file(model: str, name: str) -> Path | None:
    """A file of a Hub id's newest cached snapshot, or None (never touches the network)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, name)
    return Path(found) if isinstance(found, str) else None


def _resolve(model: str) -> tuple[str, bool]:
    """Where to load a CLIP model from and whether it is local (load with local_files_only).

    Raises:
        ModelError: the folder is missing or not a CLIP model, or the Hub id is not cached and
            cannot be fetched (offline, no network).
    """
    if _looks_like_path(model):
        folder = Path(model).expanduser()
        config = folder / "config.json"
        if not config.is_file():
            what = "has no config.json" if folder.exists() else "does not exist"
            raise ModelError(f"CLIP model folder {model} {what}; pass a folder written by "
                             f"save_pretrained or a Hugging Face Hub id such as "
                             f"{DEFAULT_CLIP_MODEL}")
        _read_config(config, model)
        return str(folder), True
    cached = _cached_file(model, "config.json")
    if cached is not None:
        _read_config(cached, model)
        return model, True
    if _offline():
        raise ModelError(f"CLIP model {model} is not in the Hugging Face cache and "
                         f"HF_HUB_OFFLINE is set; {_how_to_provide(model)}")
    if not hub_reachable():
        raise ModelError(f"CLIP model {model} is not in the Hugging Face cache and the Hub "
                         f"cannot be reached (no network?); {_how_to_provide(model)}")
    return model, False


def clip_available(model: str) -> bool:
    """Whether a CLIP model can be loaded without the network: a CLIP model folder, or a Hub id
    whose config, weights and image preprocessing are cached. Never touches the network."""
    if _looks_like_path(model):
        folder = Path(model).expanduser()

        def find(name: str) -> Path | None:
            return folder / name if (folder / name).is_file() else None
    else:
        def find(name: str) -> Path | None:
            return _cached_file(model, name)
    try:
        config = find("config.json")
        if config is None or not any(find(w) for w in _WEIGHTS) or not any(
                find(p) for p in _PREPROCESSING):
            return False
        _read_config(config, model)
    except (ModelError, OSError, ValueError):
        return False
    return True


class ClipScorer:
    """Scores pictures against their prompt and keywords with one CLIP model, loaded once.

    Attributes:
        model: The Hub id or folder.
        device: Where the model runs (``cpu``, ``cuda``, ``mps``; ``auto`` picks one on load).
        loads: How many times the model was loaded (stays 1).
        load_s: Seconds the load took.
        texts_encoded: How many texts went through the text encoder (a cached one does not).
        image_passes: How many forward passes the image encoder made (one per call).
    """

    def __init__(self, model: str = DEFAULT_CLIP_MODEL, *, device: str = "cpu") -> None:
        self.model = model
        self.device = device
        self.dtype = "float32"
        self.loads = 0
        self.load_s = 0.0
        self.texts_encoded = 0
        self.image_passes = 0
        self._model: Any = None
        self._processor: Any = None
        self._texts: dict[str, Any] = {}  # text -> its normalised embedding (float32, device)

    @property
    def ready(self) -> bool:
        """Whether the model is loaded."""
        return self._model is not None

    def load(self) -> None:
        """Load the CLIP model and its processor; a second call does nothing.

        Raises:
            ModelError: one line naming the model and the fix (not found, not CLIP, corrupt).
            InputError: ``device`` is not available on this machine.
        """
        if self.ready:
            return
        started = time.perf_counter()
        where, local = _resolve(self.model)
        with _quiet_transformers():
            import torch
            from transformers import CLIPModel, CLIPProcessor

            device = pick_device(self.device)
            dtype = torch.float16 if device == "cuda" else torch.float32
            try:
                model: Any = CLIPModel.from_pretrained(where, local_files_only=local, dtype=dtype)
                processor = CLIPProcessor.from_pretrained(where, local_files_only=local)
            except Exception as exc:  # OSError, ValueError, EnvironmentError, ...
                raise ModelError(f"cannot load the CLIP model {self.model} "
                                 f"({_first_line(exc)}); it may be incomplete or corrupt - "
                                 f"download it again or {_how_to_provide(self.model)}") from exc
            if getattr(model.config, "model_type", None) != "clip":
                raise ModelError(f"{self.model} is not a CLIP model (model_type "
                                 f"{model.config.model_type!r})")
            model.to(device).eval()
        self.device, self.dtype = device, str(dtype).removeprefix("torch.")
        self._model, self._processor = model, processor
        self.loads += 1
        self.load_s = time.perf_counter() - started

    def score(self, image: Any, prompt: str, keywords: Sequence[str]) -> ClipScores:
        """One picture's scores (see :meth:`score_many`)."""
        return self.score_many([image], prompt, keywords)[0]

    def score_many(self, images: Sequence[Any], prompt: str, keywords: Sequence[str]
                   ) -> list[ClipScores]:
        """Scores of pictures drawn for one prompt: all pictures in one image-encoder pass, the
        texts not yet cached in one text-encoder pass per token count.

        Args:
            images: PIL images (or arrays the CLIP image processor accepts).
            prompt: The prompt they were drawn from (cut to 77 tokens).
            keywords: The keywords to look for, in the order ``seen`` reports them.

        Raises:
            ModelError: the model cannot be loaded, or fails on these inputs.
        """
        self.load()
        if not images:
            return []
        import torch

        words = list(dict.fromkeys(keywords))
        texts = [prompt, BASELINE_CAPTION, *(KEYWORD_TEMPLATE.format(k) for k in words)]
        with _quiet_transformers(), torch.inference_mode():
            try:
                txt = self._text_embeddings(texts)
                pixels = self._processor(images=list(images), return_tensors="pt")
                feats = self._model.get_image_features(
                    pixel_values=pixels["pixel_values"].to(self.device, self._model.dtype))
            except Exception as exc:  # an image the processor cannot read, out of memory, ...
                raise ModelError(f"CLIP scoring failed with {self.model}: "
                                 f"{_first_line(exc)}") from exc
            self.image_passes += 1
            img = _normalised(feats)
            cos = (img @ txt.T).clamp(-1.0, 1.0).cpu().tolist()
        out = []
        for row in cos:
            base = row[1]
            out.append(ClipScores(prompt=row[0], baseline=base,
                                  keywords={k: row[2 + i] - base for i, k in enumerate(words)}))
        return out

    def _text_embeddings(self, texts: list[str]) -> Any:
        """The normalised embeddings of texts (rows in order), encoding only the uncached.

        The uncached texts go through the encoder in one pass per token count, unpadded: padded
        to the prompt's length (about 40 tokens) the short keywords (3 to 8) cost CLIP's text
        encoder 3 times as much (0.77 s instead of 0.27 s for 22 texts on one CPU thread).
        """
        import torch

        todo = [t for t in dict.fromkeys(texts) if t not in self._texts]
        ids = self._processor.tokenizer(todo, truncation=True, max_length=CLIP_MAX_TOKENS
                                        )["input_ids"] if todo else []
        same_length: dict[int, list[int]] = {}
        for i, row in enumerate(ids):
            same_length.setdefault(len(row), []).append(i)
        for rows in same_length.values():
            batch = torch.tensor([ids[i] for i in rows], device=self.device)
            feats = _normalised(self._model.get_text_features(input_ids=batch))
            self._texts.update(zip((todo[i] for i in rows), feats, strict=True))
        self.texts_encoded += len(todo)
        return torch.stack([self._texts[t] for t in texts])


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """:func:`_quiet`, and transformers' own logging and progress bars off (its environment
    variables act only if it was not imported yet)."""
    with _quiet():
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
        yield


def _normalised(features: Any) -> Any:
    """L2-normalised float32 embeddings from ``get_*_features`` (a tensor, or in transformers 5
    an output whose ``pooler_output`` is the projected embedding)."""
    import torch

    emb = features if isinstance(features, torch.Tensor) else features.pooler_output
    return torch.nn.functional.normalize(emb.float(), dim=-1)


def save_tiny_clip(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny randomly initialised CLIP model (a few MB) and its processor, for tests.

    It has CLIP's architecture, vocabulary and the tokenizer shipped in ``midi2img.models`` at
    toy width, with 32-pixel pictures, so it builds, loads and scores in milliseconds; its scores
    are meaningless but deterministic.
    """
    import shutil
    from importlib import resources

    with _quiet_transformers():
        import torch
        from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

        torch.manual_seed(seed)
        config = CLIPConfig(
            text_config={"vocab_size": 49408, "hidden_size": 16, "intermediate_size": 32,
                         "num_attention_heads": 2, "num_hidden_layers": 2,
                         "max_position_embeddings": CLIP_MAX_TOKENS, "bos_token_id": 49406,
                         "eos_token_id": 49407, "pad_token_id": 49407},
            vision_config={"hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2,
                           "num_hidden_layers": 2, "image_size": 32, "patch_size": 8},
            projection_dim=16)
        out = Path(folder)
        CLIPModel(config).save_pretrained(str(out))
        CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
                           ).save_pretrained(str(out))
        # the shipped tokenizer's files as they are (loading them to save them again costs 0.3 s)
        tok_dir = resources.files("midi2img.models") / "clip_tokenizer"
        with resources.as_file(tok_dir) as tdir:
            for name in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copyfile(Path(tdir) / name, out / name)
    return out
