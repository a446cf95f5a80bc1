"""The shipped genre network: numpy inference equals Keras, no pickle, scores match the card."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import require_data
from midi2img.constants import GTZAN_GENRES
from midi2img.gtzan import dataset
from midi2img.gtzan.model import WEIGHTS_FILE, GenreMLP, GtzanScorer
from midi2img.gtzan.train import evaluate
from midi2img.modeling import SHIPPED, EvalResult, load_shipped


@pytest.fixture(scope="module")
def model() -> GenreMLP:
    return load_shipped("genre")


@pytest.fixture(scope="module")
def splits() -> dict[str, dataset.FeatureTable]:
    """The network's input rows (table recipe + published taggram summary) of train and test."""
    from midi2img.gtzan.train import load_splits

    require_data("gtzan", "musicnn", "training_data_GTZAN_MSDmusicnn_taggram.npz")
    return load_splits(require_data("gtzan"))


def _card(model: GenreMLP) -> dict[str, EvalResult]:
    assert model.card is not None
    return {r.split: r for r in model.card.results}


def test_shipped_model_has_its_metadata(model: GenreMLP) -> None:
    from midi2img.gtzan.features import tag_columns

    assert model.labels == GTZAN_GENRES
    assert model.columns == dataset.FEATURE_COLUMNS + tag_columns()
    card = model.card
    assert card is not None and card.model == "genre"
    assert len(model.members) == card.config["members"] >= 1
    assert {k: card.data["gtzan"][k] for k in ("train", "test")} == {"train": 443, "test": 290}
    d = card.details["decision"]
    assert 0.3 <= d["confident"] <= 0.95 and d["confident_precision"] >= 0.9
    assert model.decision == {k: d[k] for k in ("confident", "blend_pair", "blend_second")}
    assert "research use" in card.licence
    folder = SHIPPED["genre"].path()
    for name in ("MODEL_CARD.md", "confusion_test.png", "model_card.json"):
        assert (folder / name).is_file()
    assert (folder / "confusion_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(p.name.endswith(".keras") for p in folder.iterdir()), \
        "nothing loads .keras files at run time: they are not shipped"


def test_npz_holds_no_objects() -> None:
    with (SHIPPED["genre"].path() / WEIGHTS_FILE).open("rb") as fh:
        with np.load(fh, allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)


def test_scores_match_the_model_card(model: GenreMLP,
                                     splits: dict[str, dataset.FeatureTable]) -> None:
    card = _card(model)
    for split in ("train", "test"):
        result = evaluate(model, splits[split], split)
        assert result.n == card[split].n
        assert result["accuracy"] == pytest.approx(card[split]["accuracy"], abs=5e-5)
        assert result["top3_accuracy"] == pytest.approx(card[split]["top3_accuracy"], abs=5e-5)
        assert sum(map(sum, result.confusion)) == result.n
    # the figures measured once at training time (the targets it was trained for: top-3 >= 0.95
    # and every genre's recall >= 0.5 met; top-1 0.814 against the 0.83 asked)
    assert card["test"]["accuracy"] >= 0.81 and card["test"]["top3_accuracy"] >= 0.95
    assert min(card["test"].per_class_recall.values()) >= 0.5


def test_numpy_forward_equals_keras(model: GenreMLP,
                                    splits: dict[str, dataset.FeatureTable]) -> None:
    """The members rebuilt in Keras from the shipped weights give the numpy logits."""
    from midi2img.config import quiet_libraries
    from midi2img.gtzan.train import TrainConfig, build_keras

    quiet_libraries()
    assert model.card is not None
    cfg = TrainConfig(**{k: tuple(v) if isinstance(v, list) else v
                         for k, v in model.card.config.items()})
    rows = splits["test"].features[:64]
    scaled = model.scaled(rows)
    ours = model.member_logits(scaled)
    keras_logits = []
    for layers in model.members:
        km = build_keras(cfg, len(model.columns), len(model.labels))
        import tensorflow as tf

        dense = [la for la in km.layers if isinstance(la, tf.keras.layers.Dense)]
        for la, (w, b) in zip(dense, layers, strict=True):
            la.set_weights([w, b])
        keras_logits.append(km.predict(scaled, verbose=0))
    keras_logits = np.stack(keras_logits)
    np.testing.assert_allclose(ours, keras_logits, atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.predict_proba(rows), model.combine(keras_logits), atol=1e-5)


def test_scorer_scores_windows(model: GenreMLP, splits: dict[str, dataset.FeatureTable]
                               ) -> None:
    scorer = GtzanScorer(model)
    assert load_shipped("genre") is model and scorer.uses_tags  # loaded once per process
    table = splits["train"]
    picks = [c for c in table.ids if c.startswith("metal")][:2] + [
        c for c in table.ids if c.startswith("classical")][:1]
    rows = table.select(picks).features
    one = scorer.predict(rows[:1])
    assert one.windows == 1 and abs(sum(one.probabilities.values()) - 1) < 1e-6
    both = scorer.predict(rows)
    assert both.windows == 3
    probs = scorer.probabilities(rows)
    assert probs.shape == (3, 10)
    expected = probs.mean(axis=0) / probs.mean(axis=0).sum()
    assert [both.probabilities[g] for g in GTZAN_GENRES] == pytest.approx(expected)
    assert scorer.predict(table.select(picks[2:]).features).label == "classical"
    assert both.thresholds == model.decision


def test_genre_record_validates() -> None:
    from midi2img.constants import GTZAN_GENRES
    from midi2img.gtzan.model import GenrePrediction

    with pytest.raises(ValueError):
        GenrePrediction("jazz", {g: 0.2 for g in GTZAN_GENRES})
