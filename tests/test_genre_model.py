"""The shipped genre network: numpy inference equals Keras, no pickle, scores match the card."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from midi2img.gtzan import dataset
from midi2img.gtzan.model import WEIGHTS_FILE, GenreMLP, load_shipped, shipped_model_dir
from midi2img.gtzan.train import evaluate

from midi2img import genre
from midi2img.config import data_dir

TABLE = data_dir() / "gtzan" / "features_30_sec.csv"


@pytest.fixture(scope="module")
def model() -> GenreMLP:
    return load_shipped()


@pytest.fixture(scope="module")
def table() -> dataset.FeatureTable:
    return dataset.read_feature_table(TABLE)


def test_shipped_model_has_its_metadata(model: GenreMLP) -> None:
    assert model.labels == genre.GTZAN_GENRES
    assert model.columns == dataset.FEATURE_COLUMNS
    assert len(model.members) == model.meta["members"] >= 1
    assert model.meta["split_sizes"] == {"train": 443, "valid": 197, "test": 290}
    folder = shipped_model_dir()
    for name in ("MODEL_CARD.md", "confusion_test.png", "genre_mlp.json"):
        assert (folder / name).is_file()
    assert (folder / "confusion_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_npz_holds_no_objects() -> None:
    with (shipped_model_dir() / WEIGHTS_FILE).open("rb") as fh:
        with np.load(fh, allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)


def test_scores_match_the_model_card(model: GenreMLP, table: dataset.FeatureTable) -> None:
    for split in dataset.SPLITS:
        result = evaluate(model, table.select(dataset.split_ids(split)), split)
        card = model.meta["results"][split]
        assert result.n == card["n"]
        assert result.accuracy == pytest.approx(card["accuracy"], abs=1e-9)
        assert result.top3_accuracy == pytest.approx(card["top3_accuracy"], abs=1e-9)
        assert sum(map(sum, result.confusion)) == result.n
    # Better than chance (0.1) by far, and the honest level measured at training time.
    assert model.meta["results"]["test"]["accuracy"] > 0.4
    assert model.meta["results"]["test"]["top3_accuracy"] > 0.7


def test_numpy_forward_equals_keras_predict(model: GenreMLP, table: dataset.FeatureTable) -> None:
    from midi2img.config import quiet_libraries

    quiet_libraries()
    import tensorflow as tf

    rows = table.select(dataset.split_ids("test")[:64]).features
    scaled = model.scaled(rows)
    ours = model.member_logits(scaled)
    keras_logits = []
    for m in range(len(model.members)):
        path = shipped_model_dir() / f"member{m}.keras"
        km = tf.keras.models.load_model(str(path), safe_mode=True, compile=False)
        keras_logits.append(km.predict(scaled, verbose=0))
    keras_logits = np.stack(keras_logits)
    np.testing.assert_allclose(ours, keras_logits, atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.predict_proba(rows), model.combine(keras_logits), atol=1e-5)


def test_keras_files_are_plain_zips_without_pickle() -> None:
    with zipfile.ZipFile(shipped_model_dir() / "member0.keras") as zf:
        names = zf.namelist()
        config = json.loads(zf.read("config.json"))
    assert "config.json" in names and not any(n.endswith((".pkl", ".pickle")) for n in names)
    assert config["class_name"] == "Functional"


def test_load_default_scores_windows(table: dataset.FeatureTable) -> None:
    scorer = genre.load_default()
    assert scorer is not None and genre.load_default() is scorer  # cached
    rows = table.select(["metal.00010", "metal.00011", "classical.00005"]).features
    one = scorer.predict(rows[:1])
    assert one.windows == 1 and abs(sum(one.probabilities.values()) - 1) < 1e-6
    both = scorer.predict(rows)
    assert both.windows == 3
    probs = scorer.probabilities(rows)
    assert probs.shape == (3, 10)
    expected = probs.mean(axis=0) / probs.mean(axis=0).sum()
    assert [both.probabilities[g] for g in genre.GTZAN_GENRES] == pytest.approx(expected)
    assert scorer.predict(table.select(["classical.00005"]).features).label == "classical"
