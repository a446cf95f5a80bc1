"""CLIP text-image agreement (midi2img.render.clip_score) with a tiny random CLIP model, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from midi2img.errors import ModelError
from midi2img.render.clip_score import (
    BASELINE_CAPTION,
    DEFAULT_CLIP_MODEL,
    KEYWORD_TEMPLATE,
    ClipScorer,
    ClipScores,
    clip_available,
    save_tiny_clip,
)

PROMPT = "a warm sunrise over the sea, misty dawn, golden light"
KEYWORDS = ["calm", "misty dawn", "bright", "deep blue shadows", "dynamic motion"]
UNCACHED_ID = "midi2img-tests/no-such-clip-model"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def scorer(tiny: Path) -> ClipScorer:
    s = ClipScorer(str(tiny))
    s.load()
    return s


def _images(n: int, size: int = 48) -> list[Image.Image]:
    return [Image.fromarray((np.random.default_rng(i).random((size, size + 8, 3)) * 255
                             ).astype(np.uint8)) for i in range(n)]


def test_tiny_clip_loads_once_on_cpu(scorer: ClipScorer, tiny: Path) -> None:
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in tiny.iterdir()}
    scorer.load()
    assert scorer.loads == 1 and scorer.load_s > 0
    assert (scorer.model, scorer.device, scorer.dtype) == (str(tiny), "cpu", "float32")


def test_scores_are_deterministic_cosines(scorer: ClipScorer, tmp_path: Path) -> None:
    again = ClipScorer(str(save_tiny_clip(tmp_path / "again", seed=0)))
    for image in _images(2):
        a, b = scorer.score(image, PROMPT, KEYWORDS), again.score(image, PROMPT, KEYWORDS)
        assert a == b
        assert -1.0 <= a.prompt <= 1.0 and -1.0 <= a.baseline <= 1.0
        assert list(a.keywords) == KEYWORDS
        for margin in a.keywords.values():
            assert -1.0 <= margin + a.baseline <= 1.0
    other = ClipScorer(str(save_tiny_clip(tmp_path / "other", seed=1)))
    assert other.score(_images(1)[0], PROMPT, KEYWORDS) != scorer.score(_images(1)[0], PROMPT,
                                                                         KEYWORDS)


def test_margins_match_a_direct_computation(scorer: ClipScorer, tiny: Path) -> None:
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(str(tiny), local_files_only=True).eval()
    processor = CLIPProcessor.from_pretrained(str(tiny), local_files_only=True)
    image = _images(1)[0]
    texts = [PROMPT, BASELINE_CAPTION, *(KEYWORD_TEMPLATE.format(k) for k in KEYWORDS)]
    with torch.inference_mode():
        inputs = processor(text=texts, images=[image], padding=True, return_tensors="pt")
        out = model(**inputs)
        img = out.image_embeds / out.image_embeds.norm(dim=-1, keepdim=True)
        txt = out.text_embeds / out.text_embeds.norm(dim=-1, keepdim=True)
        cos = (img @ txt.T)[0].tolist()
    got = scorer.score(image, PROMPT, KEYWORDS)
    assert got.prompt == pytest.approx(cos[0], abs=1e-5)
    assert got.baseline == pytest.approx(cos[1], abs=1e-5)
    for i, k in enumerate(KEYWORDS):
        assert got.keywords[k] == pytest.approx(cos[2 + i] - cos[1], abs=1e-5)


def test_seen_and_not_seen_partition_the_keywords() -> None:
    s = ClipScores(prompt=0.3, keywords={"a": 0.02, "b": -0.01, "c": 0.0, "d": 0.5},
                   baseline=0.2)
    assert s.seen == ("a", "d") and s.not_seen == ("b", "c")
    d = s.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["seen"] == ["a", "d"] and d["not_seen"] == ["b", "c"]


def test_seen_partition_on_real_scores(scorer: ClipScorer) -> None:
    for got in scorer.score_many(_images(4), PROMPT, KEYWORDS):
        assert sorted(got.seen + got.not_seen) == sorted(KEYWORDS)
        assert not set(got.seen) & set(got.not_seen)
        assert all(got.keywords[k] > 0 for k in got.seen)
        assert [k for k in KEYWORDS if k in got.seen] == list(got.seen)


def test_to_dict_rounds_to_four_decimals(scorer: ClipScorer) -> None:
    got = scorer.score(_images(1)[0], PROMPT, KEYWORDS)
    d = got.to_dict()
    assert d["prompt"] == round(got.prompt, 4) and d["baseline"] == round(got.baseline, 4)
    assert d["keywords"] == {k: round(m, 4) for k, m in got.keywords.items()}
    assert json.loads(json.dumps(d)) == d


def test_score_many_equals_score_one_by_one(scorer: ClipScorer) -> None:
    images = _images(3)
    passes = scorer.image_passes
    many = scorer.score_many(images, PROMPT, KEYWORDS)
    assert scorer.image_passes == passes + 1  # all the pictures in one forward pass
    for image, got in zip(images, many, strict=True):
        one = scorer.score(image, PROMPT, KEYWORDS)
        assert one.prompt == pytest.approx(got.prompt, abs=1e-6)
        assert one.baseline == pytest.approx(got.baseline, abs=1e-6)
        assert one.keywords == pytest.approx(got.keywords, abs=1e-6)
    assert scorer.score_many([], PROMPT, KEYWORDS) == []


def test_text_embeddings_are_cached(tiny: Path) -> None:
    s = ClipScorer(str(tiny))
    image = _images(1)[0]
    s.score(image, PROMPT, ["calm", "bright"])
    assert s.texts_encoded == 4  # prompt, baseline, 2 keywords
    s.score_many(_images(3), PROMPT, ["bright", "calm"])
    assert s.texts_encoded == 4
    s.score(image, PROMPT, ["calm", "misty dawn", "calm"])
    assert s.texts_encoded == 5  # only "misty dawn" is new; a repeated keyword counts once
    assert s.loads == 1


def test_long_prompts_are_cut_to_77_tokens(scorer: ClipScorer) -> None:
    long = ", ".join(["misty dawn over a quiet harbour"] * 30)
    image = _images(1)[0]
    a = scorer.score(image, long, [])
    b = scorer.score(image, long + ", and then something else entirely", [])
    assert a.prompt == b.prompt and a.keywords == {} and a.seen == ()


def test_loading_and_scoring_is_quiet(tiny: Path, capfd: pytest.CaptureFixture[str]) -> None:
    s = ClipScorer(str(tiny))
    s.score(_images(1)[0], PROMPT, KEYWORDS)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def _one_line_error(model: str) -> str:
    with pytest.raises(ModelError) as info:
        ClipScorer(model).load()
    msg = str(info.value)
    assert "\n" not in msg and model in msg
    return msg


def test_missing_folder_is_a_model_error(tmp_path: Path) -> None:
    msg = _one_line_error(str(tmp_path / "nowhere"))
    assert "does not exist" in msg and DEFAULT_CLIP_MODEL in msg
    assert not clip_available(str(tmp_path / "nowhere"))


@pytest.mark.parametrize("config", [None, {"model_type": "unet"}, "not json"])
def test_non_clip_folder_is_a_model_error(tmp_path: Path, config: Any) -> None:
    folder = tmp_path / "not-clip"
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(
            config if isinstance(config, str) else json.dumps(config), encoding="utf-8")
    msg = _one_line_error(str(folder))
    assert "config.json" in msg
    assert not clip_available(str(folder))


def test_uncached_id_offline_is_a_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    msg = _one_line_error(UNCACHED_ID)
    assert "HF_HUB_OFFLINE" in msg and f"hf download {UNCACHED_ID}" in msg
    assert "--clip-model" in msg


def test_clip_available(tiny: Path, tmp_path: Path) -> None:
    assert clip_available(str(tiny))
    assert not clip_available(UNCACHED_ID)
    bare = tmp_path / "no-weights"
    bare.mkdir()
    (bare / "config.json").write_text((tiny / "config.json").read_text(encoding="utf-8"),
                                      encoding="utf-8")
    assert not clip_available(str(bare))
