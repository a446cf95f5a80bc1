"""midi2img.modeling: the one model card (writer, reader, Markdown), the one loader of model
folders, and the shipped models' versions."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from midi2img.errors import ModelError
from midi2img.modeling import (
    CARD_JSON,
    CARD_MARKDOWN,
    SHIPPED,
    CardSection,
    EvalResult,
    ModelCard,
    Scoring,
    load_model,
    load_shipped,
    model_version,
    previous_card,
    read_card,
    read_weights_and_card,
    write_card,
)
from midi2img.stages import Stage


def _card(**changes: object) -> ModelCard:
    test = EvalResult("mood", "emopia", "test", 4, {"quadrant_accuracy": 0.75}, ("Q1", "Q2"),
                      ((1, 1), (0, 2)), {"Q1": 0.5, "Q2": 1.0})
    valid = EvalResult("mood", "emopia", "valid", 10, {"quadrant_accuracy": 0.6})
    card = ModelCard(model="affect", name="A toy model", task="valence from nothing",
                     trained="2026-01-02", data={"emopia": {"train": 3, "test": 4}},
                     config={"seed": 0, "hidden": (8, 4)}, results=(test, valid),
                     versions={"python": "3.11.7"}, licence="MIT",
                     notes=(CardSection("Architecture", "A *table* of 2 numbers."),),
                     details={"calibration": {"platt": (np.float64(0.5), -0.25)}})
    return replace(card, **changes)  # type: ignore[arg-type]


def test_card_round_trips_and_renders_from_the_record(tmp_path: Path) -> None:
    card = _card()
    # a figure that rounds differently before and after it is stored (0.85049... -> 0.8505)
    card = replace(card, results=(replace(card.results[0], metrics={
        "quadrant_accuracy": 0.75, "r": 0.850499999}), card.results[1]))
    write_card(tmp_path, card)
    back = read_card(tmp_path)
    # tuples come back as lists, numpy numbers as floats: what JSON holds
    assert back.to_dict() == card.to_dict()
    assert back.details["calibration"]["platt"] == [0.5, -0.25]
    assert back.config["hidden"] == [8, 4]
    md = (tmp_path / CARD_MARKDOWN).read_text()
    assert md == back.markdown()
    assert "| r | 0.851 | - |" in md  # rendered from the stored 0.8505
    assert md.startswith("# A toy model\n\nvalence from nothing. Trained 2026-01-02.")
    assert "## Architecture\n\nA *table* of 2 numbers." in md
    assert "| quadrant_accuracy | 0.750 | 0.600 |" in md  # one table per data set
    assert "| Q1 | 1 | 1 | 0.500 |" in md  # the test confusion with recall
    assert back.result("emopia", "valid")["quadrant_accuracy"] == 0.6
    assert set(back.results_by()) == {("emopia", "test"), ("emopia", "valid")}
    with pytest.raises(KeyError):
        back.result("vgmidi", "test")


def test_card_validates_itself() -> None:
    with pytest.raises(ValueError, match="ISO date"):
        _card(trained="yesterday")
    with pytest.raises(ValueError, match="one result per"):
        card = _card()
        _card(results=(card.results[0], card.results[0]))
    with pytest.raises(ValueError, match="malformed"):
        ModelCard.from_dict({"name": "x"})


def test_history_keeps_every_other_scoring_of_the_test_split() -> None:
    first = _card(trained="2026-01-01")
    same = _card(trained="2026-01-02")
    assert same.with_history(first).history == ()  # the same figures: the same model
    better = replace(first.results[0], metrics={"quadrant_accuracy": 1.0})
    second = _card(trained="2026-01-03", results=(better, first.results[1]))
    kept = second.with_history(first, "more data")
    assert kept.history == (Scoring("2026-01-01", (first.results[0],), "more data"),)
    third = _card(trained="2026-01-04", config={"seed": 1, "hidden": (8, 4)}).with_history(kept)
    assert [h.trained for h in third.history] == ["2026-01-01", "2026-01-03"]
    assert third.history[1].note == "retrained with seed 0 -> 1"  # what changed, by default
    assert "the code changed" in second.with_history(first).history[0].note
    assert "| 2026-01-03 | emopia (n = 4) | quadrant_accuracy 1.000 |" in third.markdown()
    assert ModelCard.from_dict(third.to_dict()).to_dict() == third.to_dict()
    # another model's card is not this model's history
    assert third.with_history(replace(kept, model="genre")) is third


def test_reader_refuses_missing_and_broken_cards(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model card"):
        read_card(tmp_path)
    assert previous_card(tmp_path) is None
    (tmp_path / CARD_JSON).write_text("{not json")
    with pytest.raises(ModelError, match="cannot read the model card"):
        read_card(tmp_path)
    assert previous_card(tmp_path / "absent") is None


@pytest.mark.parametrize("name", ["genre", "affect", "affect_audio"])
def test_every_model_loads_through_the_one_loader(name: str, tmp_path: Path) -> None:
    spec = SHIPPED[name]
    shipped = load_shipped(name)
    assert load_shipped(name) is shipped  # once per process
    assert shipped.card == read_card(spec.path()) and shipped.card.model == name
    assert (spec.path() / CARD_MARKDOWN).read_text() == shipped.card.markdown()
    # a training run's folder: the same arrays and card, through load_model
    folder = tmp_path / name
    folder.mkdir()
    for f in (*spec.weights, CARD_JSON):
        shutil.copyfile(str(spec.path() / f), folder / f)
    again = load_model(name, folder)
    assert type(again) is type(shipped) and again.card == shipped.card
    arrays, card = read_weights_and_card(folder, spec.weights[0], what="x")
    assert card == shipped.card
    for k, v in shipped.to_arrays().items():
        assert np.array_equal(arrays[k], v), k
    # the model's own save writes the same bytes
    out = tmp_path / "saved"
    shipped.save(out)
    assert (out / spec.weights[0]).read_bytes() == (spec.path() / spec.weights[0]).read_bytes()
    # a folder holding another model's card is refused
    other = next(n for n in ("genre", "affect") if n != name)
    shutil.copyfile(str(SHIPPED[other].path() / CARD_JSON), folder / CARD_JSON)
    with pytest.raises(ModelError, match=f"holds a {other} model"):
        load_model(name, folder)


def test_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such genre model folder"):
        load_model("genre", tmp_path / "absent")
    with pytest.raises(ModelError, match="genre_mlp.npz missing"):
        load_model("genre", tmp_path)
    (tmp_path / "genre_mlp.npz").write_bytes(b"not an npz")
    with pytest.raises(ModelError, match="cannot load"):
        load_model("genre", tmp_path)
    with pytest.raises(ModelError, match="unknown model"):
        load_model("nope", tmp_path)
    with pytest.raises(ModelError, match="its own loader"):
        load_model("tagger", tmp_path)


def test_versions_keep_their_shape() -> None:
    """``versions.models`` entries of analysis.json: the weights' hash and the training date
    (an exported model, not trained here, has none)."""
    for name in SHIPPED:
        v = model_version(name)
        assert v is not None and len(v["sha256"]) == 12
        if SHIPPED[name].train_target.startswith("make export-"):
            assert set(v) == {"sha256"}
        else:
            assert set(v) == {"sha256", "trained"}
            assert v["trained"] == json.loads(
                (SHIPPED[name].path() / CARD_JSON).read_text())["trained"]


# ---- a new model: its stage module, and one line in SHIPPED ----------------------------------


class ToyModel:
    """A model registered by a test: scores the notes' mean pitch against a stored pivot."""

    def __init__(self, pivot: float) -> None:
        self.pivot = pivot

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], card: object) -> ToyModel:
        return cls(float(arrays["pivot"]))


class ToyBrightness(Stage):
    """A stage registered by a test, running :class:`ToyModel` on the notes."""

    name = "toy_brightness"
    contract_keys = ("toy_brightness",)
    requires = ("transcription",)
    models = {"midi": "toy", "audio": "toy"}

    def run(self, ctx: Any, results: Any) -> float:
        notes = results["transcription"]
        return float(np.mean(notes.midi_pitch)) - ctx.model(self).pivot

    def contract(self, result: float) -> dict[str, Any]:
        return {"toy_brightness": round(result, 3)}


def test_a_model_is_its_stage_and_one_shipped_entry(tmp_path: Path, monkeypatch) -> None:
    """The README's "where to touch" row for a model: the stage that runs it names it, and one
    entry in SHIPPED says where its files are (here a plugin package's data). Its version
    reaches ``versions``, the workers' warm-up loads it, and without its files the stage is
    left out with the reason in ``omitted``."""
    import hashlib

    from midi2img import modeling
    from midi2img.analysis import AnalysisOptions, analyse_track, versions, warm_models
    from midi2img.io import npz_bytes
    from midi2img.notes import Notes
    from midi2img.stages import registered

    pkg = tmp_path / "toyplugin"
    (pkg / "models" / "toy").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    weights = npz_bytes({"pivot": np.array(60.0)})
    (pkg / "models" / "toy" / "toy.npz").write_bytes(weights)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(modeling.SHIPPED, "toy", modeling.ShippedModel(
        "toy", "toy", f"{__name__}:ToyModel", ("toy.npz",), "model_card.json",
        "the plugin's own training", package="toyplugin.models"))
    mid = tmp_path / "c.mid"
    Notes.from_arrays(np.array([0.0, 0.5, 1.0]), np.array([0.5, 1.0, 1.5]),
                      np.array([60, 64, 67]), np.array([80, 80, 80])).to_pretty_midi() \
        .write(str(mid))
    modeling.load_shipped.cache_clear()
    modeling.model_version.cache_clear()
    try:
        with registered(f"{__name__}:ToyBrightness"):
            d = analyse_track(mid).to_dict()
            assert d["toy_brightness"] == pytest.approx(63.667 - 60.0, abs=1e-3)
            assert versions()["models"]["toy"] == {
                "sha256": hashlib.sha256(weights).hexdigest()[:12]}
            modeling.load_shipped.cache_clear()
            warm_models(AnalysisOptions())
            assert modeling.load_shipped.cache_info().currsize >= 1
            assert isinstance(modeling.load_shipped("toy"), ToyModel)
            (pkg / "models" / "toy" / "toy.npz").unlink()
            modeling.load_shipped.cache_clear()
            gone = analyse_track(mid).to_dict()
            assert gone["toy_brightness"] is None
            assert gone["omitted"]["toy_brightness"] == ("no toy model is shipped with this "
                                                         "installation")
    finally:
        modeling.load_shipped.cache_clear()
        modeling.model_version.cache_clear()
