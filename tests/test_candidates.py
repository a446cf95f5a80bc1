"""Candidates (``convert --candidates N --rounds R``): several pictures per image, each scored
against the music (a tiny randomly initialised CLIP built here, and the shipped image affect
estimator), the best kept; keyword emphasis between rounds (:mod:`midi2img.render.weighting`);
the record in ``analysis.json``; the report's strip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from helpers import SMALL, cadence_midi, nonblank_lines, run_cli
from midi2img.cli import app
from midi2img.contract import read_analysis
from midi2img.errors import InputError

runner = CliRunner()
SD = ["--steps", "2", "--width", "64", "--height", "64"]


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from midi2img.render.clip_score import save_tiny_clip

    return save_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def track(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cadence_midi(tmp_path_factory.mktemp("midi") / "cadence.mid")


def _px(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _totals(cands: list[dict[str, Any]], weights: dict[str, float]) -> list[float]:
    """Each candidate's total recomputed from its raw scores: every weighted score scaled over
    the candidates (0 lowest .. 1 highest), then the weighted mean."""
    def raw(c: dict[str, Any], name: str) -> float:
        s = c["scores"]
        return float(s["text"]["prompt"] if name == "text" else s["affect"]["agreement"][name])

    live = {k: w for k, w in weights.items() if w > 0}
    scaled = {}
    for name in live:
        vals = [raw(c, name) for c in cands]
        lo, hi = min(vals), max(vals)
        scaled[name] = [(v - lo) / (hi - lo) if hi > lo else 0.0 for v in vals]
    return [sum(w * scaled[k][i] for k, w in live.items()) / sum(live.values())
            for i in range(len(cands))]


@pytest.fixture(scope="module")
def sd_run(tiny_model: Path, tiny_clip: Path, track: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cands") / "out"
    r = runner.invoke(app, ["convert", str(track), "-o", str(out), "--image", "sd", "--model",
                            str(tiny_model), "--clip-model", str(tiny_clip), "--candidates", "4",
                            "--rounds", "2", "--keep-candidates", "--report", *SD])
    assert r.exit_code == 0, r.output
    return out / "cadence"


def test_kept_image_is_the_best_scored_candidate(sd_run: Path, tiny_clip: Path) -> None:
    from midi2img.render.clip_score import ClipScorer
    from midi2img.render.image_affect import load_image_affect

    d = json.loads((sd_run / "analysis.json").read_text())
    img = d["image"]
    cands, choice = img["candidates"], img["choice"]
    assert len(cands) == 8 and [c["round"] for c in cands] == [1] * 4 + [2] * 4
    assert [c["seed"] for c in cands[:4]] == [cands[0]["seed"] + 1000 * j for j in range(4)]
    assert [c["seed"] for c in cands[4:]] == [c["seed"] for c in cands[:4]]
    assert choice["rounds"] == 2 and choice["weights"]["text"] == 1.0
    kept = [c for c in cands if c["kept"]]
    assert len(kept) == 1 and kept[0]["index"] == choice["kept"]
    assert img["seed"] == kept[0]["seed"]  # the image's seed is the kept picture's
    # every candidate not kept is on disk; the kept one is <stem>.png
    files = {c["index"]: sd_run / (c["file"] or img["file"]) for c in cands}
    assert kept[0]["file"] is None and all((sd_run / c["file"]).is_file()
                                           for c in cands if not c["kept"])
    assert sorted(p.name for p in (sd_run / "candidates").iterdir()) == sorted(
        Path(c["file"]).name for c in cands if not c["kept"])
    # score the written pictures again, independently: the recorded scores are theirs, and the
    # kept picture has the highest total
    scorer = ClipScorer(str(tiny_clip))
    affect = load_image_affect()
    music = d["affect"]
    for c in cands:
        pic = Image.open(files[c["index"]]).convert("RGB")
        s = scorer.score(pic, d["prompt"], choice["keywords"])
        assert c["scores"]["text"]["prompt"] == pytest.approx(s.prompt, abs=1e-5)
        assert c["scores"]["text"]["seen"] == list(s.seen)
        a = affect.predict(pic)
        assert c["scores"]["affect"]["valence"] == pytest.approx(a.valence, abs=1e-5)
        for axis in ("valence", "arousal"):
            want = 1 - abs(music[axis] - getattr(a, axis)) / 2
            assert c["scores"]["affect"]["agreement"][axis] == pytest.approx(want, abs=1e-5)
    totals = _totals(cands, choice["weights"])
    assert [c["total"] for c in cands] == pytest.approx(totals, abs=1e-3)
    assert choice["kept"] == 1 + int(np.argmax(totals))
    assert np.array_equal(_px(sd_run / img["file"]), _px(files[choice["kept"]]))
    assert all(not np.array_equal(_px(sd_run / img["file"]), _px(files[c["index"]]))
               for c in cands if not c["kept"])
    assert choice["why"].startswith("highest total")


def test_missing_keywords_weigh_more_in_round_two(sd_run: Path) -> None:
    d = json.loads((sd_run / "analysis.json").read_text())
    cands, choice = d["image"]["candidates"], d["image"]["choice"]
    first = cands[:4]
    assert all(c["weights"] == {} for c in first)
    # the best of round 1 (by the totals over round 1's candidates, as the rounds decide)
    best1 = first[int(np.argmax(_totals(first, choice["weights"])))]
    # the heaviest (first) of the keywords it does not show, at most 3
    missing = [k for k in choice["keywords"] if k in best1["scores"]["text"]["not_seen"]][:3]
    assert missing, "the tiny CLIP sees every keyword: this test needs one it does not"
    weight = {k["keyword"]: k["weight"] for k in d["keywords"]}
    assert [weight[k] for k in choice["keywords"]] == sorted(
        (weight[k] for k in choice["keywords"]), reverse=True)
    for c in cands[4:]:
        assert c["weights"] == {k: 1.25 for k in missing}
        for k in missing:
            assert f"({k}:1.25)" in c["prompt"]
    # the weighting changed the pictures of the same seeds
    assert d["image"]["renderer"] == "stable-diffusion"
    assert any(c["scores"]["text"]["prompt"] != o["scores"]["text"]["prompt"]
               for c, o in zip(cands[4:], first, strict=True))


def test_record_reads_back_and_report_shows_the_strip(sd_run: Path) -> None:
    d = json.loads((sd_run / "analysis.json").read_text())
    rec = read_analysis(d)
    assert rec.to_dict() == d
    choice = rec.image.choice if rec.image else None
    assert choice is not None and choice.kept_candidate.kept
    page = (sd_run / "report.html").read_text()
    assert page.count("data-candidate=") == 8 and page.count('data-kept="true"') == 1
    assert 'id="candidates"' in page and "kept #" in page
    assert page.count("data:image/") >= 8  # the kept picture and the 7 in candidates/
    best = choice.kept_candidate
    for k in best.not_seen:
        assert f'<li class="miss">{k}</li>' in page
    # a record whose "kept" disagrees with its candidates is refused in one line
    bad = json.loads(json.dumps(d))
    bad["image"]["choice"]["kept"] = 1 + (choice.kept % 8)
    with pytest.raises(InputError, match="choice.kept is"):
        read_analysis(bad)
    bad = json.loads(json.dumps(d))
    del bad["image"]["choice"]
    with pytest.raises(InputError, match="candidates without a choice"):
        read_analysis(bad)


def test_abstract_candidates_choose_by_affect_alone(track: Path, tmp_path: Path) -> None:
    from midi2img.render.candidates import MIN_AXIS_RHO
    from midi2img.render.image_affect import load_image_affect

    out = tmp_path / "out"
    r = run_cli("convert", str(track), "-o", str(out), "--candidates", "3", "--clip-model",
                "none", *SMALL)
    assert r.returncode == 0, r.stderr
    assert "only the image affect score can choose" in r.stderr
    d = json.loads((out / "cadence" / "analysis.json").read_text())
    img = d["image"]
    assert img["renderer"].startswith("abstract")
    cands, choice = img["candidates"], img["choice"]
    assert len(cands) == 3 and all(c["scores"]["text"] is None for c in cands)
    assert choice["weights"]["text"] == 0.0
    model = load_image_affect()
    for axis in ("valence", "arousal"):
        rho = model.heldout_spearman[axis]
        assert choice["weights"][axis] == pytest.approx(rho if rho >= MIN_AXIS_RHO else 0.0,
                                                        abs=1e-4)
        if rho < MIN_AXIS_RHO:
            assert any(f"image {axis} has no weight" in n for n in choice["notes"])
    if any(w > 0 for w in choice["weights"].values()):
        totals = _totals(cands, choice["weights"])
        assert choice["kept"] == 1 + int(np.argmax(totals))
    else:
        assert choice["kept"] == 1 and choice["why"].startswith("no score has weight")
        assert "so no score has weight: each image keeps its first candidate" in r.stderr
    # the candidates differ, and the one kept is <stem>.png
    assert len({c["seed"] for c in cands}) == 3
    assert not (out / "cadence" / "candidates").exists()


def test_candidates_one_draws_the_same_picture_as_before(track: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("convert", str(track), "-o", str(a), *SMALL).returncode == 0
    r = run_cli("convert", str(track), "-o", str(b), "--candidates", "3", "--clip-model", "none",
                "--keep-candidates", *SMALL)
    assert r.returncode == 0, r.stderr
    one = json.loads((a / "cadence" / "analysis.json").read_text())["image"]
    assert "candidates" not in one and "choice" not in one
    d = json.loads((b / "cadence" / "analysis.json").read_text())
    first = d["image"]["candidates"][0]
    assert first["seed"] == one["seed"]
    pic = b / "cadence" / (first["file"] or d["image"]["file"])
    assert np.array_equal(_px(a / "cadence" / "cadence.png"), _px(pic))


def test_a_named_clip_model_that_cannot_load_stops_the_run(track: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_cli("convert", str(track), "-o", str(out), "--candidates", "2", "--clip-model",
                str(tmp_path / "no-such-clip"), *SMALL)
    assert r.returncode == 3
    line = nonblank_lines(r.stderr)[-1]
    assert "no-such-clip" in line and "Traceback" not in r.stderr
    assert not (out / "cadence").exists()


@pytest.mark.parametrize(("flag", "value"), [("--candidates", "0"), ("--rounds", "11")])
def test_bad_candidate_options_are_refused(flag: str, value: str, track: Path,
                                           tmp_path: Path) -> None:
    r = run_cli("convert", str(track), "-o", str(tmp_path / "o"), flag, value, *SMALL)
    assert r.returncode == 2
    assert nonblank_lines(r.stderr) and flag in nonblank_lines(r.stderr)[-1]
    assert not (tmp_path / "o").exists()


def test_prompt_emphasis_scales_the_keywords_embeddings(tiny_model: Path) -> None:
    import torch

    from midi2img.render import RenderOptions
    from midi2img.render.diffusion import DiffusionBackend
    from midi2img.render.weighting import (
        EMBEDDING_SCALING,
        prompt_embeddings,
        reordered_prompt,
        token_weights,
        weighted_text,
    )

    backend = DiffusionBackend(RenderOptions(model=str(tiny_model), steps=2, width=64, height=64))
    pipe = backend.pipeline
    prompt = "oil painting, golden light, stormy sea, slow waltz"
    ref = pipe.encode_prompt(prompt, "cpu", 1, False)[0].detach()
    # every weight 1: exactly diffusers' own embeddings
    assert torch.equal(prompt_embeddings(pipe, prompt, {}), ref)
    assert torch.equal(prompt_embeddings(pipe, prompt, {"stormy sea": 1.0}), ref)
    ids = pipe.tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids
    sea = pipe.tokenizer("stormy sea", add_special_tokens=False).input_ids
    w = token_weights(pipe.tokenizer, ids, prompt, {"stormy sea": 1.5})
    at = [i for i, x in enumerate(w) if x == 1.5]
    assert [ids[i] for i in at] == sea and len(at) == len(sea)
    emph = prompt_embeddings(pipe, prompt, {"stormy sea": 1.5})
    # the whole keeps its norm; the keyword's tokens grow against the others
    assert float(emph.norm()) == pytest.approx(float(ref.norm()), rel=1e-5)
    ratio = (emph[0].norm(dim=-1) / ref[0].norm(dim=-1)).detach()
    assert float(ratio[at].min()) > 1.4 * float(ratio[[i for i in range(77) if i not in at]].max())
    assert weighted_text(prompt, {"stormy sea": 1.5}) == (
        "oil painting, golden light, (stormy sea:1.50), slow waltz")
    assert reordered_prompt(prompt, {"slow waltz": 1.25, "stormy sea": 1.5}) == (
        "stormy sea, slow waltz, oil painting, golden light")
    plain = backend.render(prompt, seed=3)
    same = backend.render(prompt, seed=3, weights={"stormy sea": 1.0})
    more = backend.render(prompt, seed=3, weights={"stormy sea": 1.5})
    assert np.array_equal(np.asarray(plain.image), np.asarray(same.image))
    assert not np.array_equal(np.asarray(plain.image), np.asarray(more.image))
    assert more.to_dict()["weighting"] == EMBEDDING_SCALING and "weighting" not in plain.to_dict()


def test_a_folder_with_candidates_is_resumed_and_replaced(track: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["convert", str(track), "-o", str(out), "--candidates", "2", "--clip-model", "none",
            "--keep-candidates", *SMALL]
    assert run_cli(*args).returncode == 0
    assert (out / "cadence" / "candidates" / "cadence-c02.png").is_file()
    r = run_cli(*args, "--resume", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["skipped"] == 1, r.stdout
    (out / "cadence" / "candidates" / "cadence-c02.png").unlink()
    r = run_cli(*args, "--resume", "--json")  # a candidate's file is missing: redone
    assert r.returncode == 0 and json.loads(r.stdout)["done"] == 1, r.stdout
    assert (out / "cadence" / "candidates" / "cadence-c02.png").is_file()
    r = run_cli(*args, "--force")
    assert r.returncode == 0, r.stderr
    (out / "cadence" / "other").mkdir()
    r = run_cli(*args, "--force")
    assert r.returncode == 4 and "holds folders" in r.stderr
