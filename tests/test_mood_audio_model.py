"""Affect model of recordings: emotion4q loader and split, streamed sound descriptors, the
shipped model (no pickle, range, calibration, card = eval, a full retraining within stated
tolerances), sections, and the five real recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import require_data
from midi2img.audio import Segment, iter_segments
from midi2img.cli import app
from midi2img.errors import DataError, InputError
from midi2img.modeling import SHIPPED, EvalResult, ModelCard, load_model, load_shipped, read_card
from midi2img.mood import audio_features as AF
from midi2img.mood import dataset as affect_data
from midi2img.mood.audio_model import WEIGHTS_FILE, AudioAffectModel
from midi2img.mood.model import AffectEstimate

MODEL_DIR = SHIPPED["affect_audio"].path()
SR = 22050
BRAHMS = "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg"
FISHIN = "Karissa_Hobbs_-_Lets_Go_Fishin.ogg"
SUGAR_PLUM = "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg"
VIBE_ACE = "Kevin_MacLeod_-_Vibe_Ace.ogg"
TRUMPET = "sorohanro_-_solo-trumpet-06.ogg"


def _data() -> Path:
    return require_data("emotion4q", "metadata.csv").parent.parent


def _card() -> ModelCard:
    return read_card(MODEL_DIR)


def _signal(seconds: float, *, seed: int = 0) -> np.ndarray:
    """A quiet sustained A-minor chord, then loud noise bursts on a 120 BPM beat over a bright
    major chord (each half ``seconds / 2`` long)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    half = n // 2
    quiet = sum(np.sin(2 * np.pi * f * t[:half]) for f in (220.0, 261.63, 329.63)) * 0.01
    loud_t = t[half:] - t[half]
    chord = sum(np.sin(2 * np.pi * f * loud_t) for f in (261.63, 329.63, 392.0, 1046.5)) * 0.15
    beat = np.exp(-((loud_t % 0.5) / 0.03)) * rng.standard_normal(loud_t.size) * 0.6
    return np.concatenate([quiet, chord + beat]).astype(np.float32)


def _blocks(x: np.ndarray, size: int):  # type: ignore[no-untyped-def]
    for i in range(0, x.size, size):
        yield x[i: i + size]


# ------------------------------------------------------------------ emotion4q loader and split

def test_emotion4q_loader_counts_and_artist_disjoint_split() -> None:
    data = _data()
    clips = affect_data.emotion4q_clips(data)
    assert len(clips) == 794
    assert {q: sum(c.quadrant == q for c in clips) for q in ("Q1", "Q2", "Q3", "Q4")} == {
        "Q1": 198, "Q2": 201, "Q3": 198, "Q4": 197}
    for c in clips:
        assert (c.valence, c.arousal) == affect_data.quadrant_targets(c.quadrant)
        assert 0.5 <= c.agreement <= 1.0 and c.path.startswith(f"audio/{c.quadrant}/")
    groups = {s: {c.group for c in clips if c.split == s} for s in ("train", "test")}
    assert not groups["train"] & groups["test"]  # artist-disjoint
    share = len(groups["test"]) / (len(groups["train"]) + len(groups["test"]))
    assert 0.20 <= share <= 0.25
    test = [c for c in clips if c.split == "test"]
    per_q = [sum(c.quadrant == q for c in test) for q in ("Q1", "Q2", "Q3", "Q4")]
    assert max(per_q) - min(per_q) <= 2 and 170 <= len(test) <= 180  # stratified
    # seeded and saved beside the model
    split = {c.song: c.split for c in clips}
    shipped = json.loads((MODEL_DIR / "emotion4q_split.json").read_text())
    assert shipped == split
    assert affect_data.emotion4q_clips(data, split=shipped) == clips
    other = {c.song: c.split for c in affect_data.emotion4q_clips(data, seed=1)}
    assert other != split
    assert affect_data.validate_emotion4q(data) == []
    assert affect_data.emotion4q_audio(clips[0], data).is_file()


def test_artist_groups_merge_band_names() -> None:
    g = affect_data.artist_group
    assert g("Xavier Cugat & His Orchestra", "a") == g("Xavier Cugat", "b") == "xavier cugat"
    assert g("The Beach Boys", "a") == "beach boys"
    assert g("Earth; Wind & Fire", "a") != g("Wind", "b")
    assert g("", "MT1") == "?MT1" != g("", "MT2")


def test_missing_emotion4q_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="MIDI2IMG_DATA"):
        affect_data.emotion4q_clips(tmp_path / "nope")
    with pytest.raises(DataError, match="no emotion4q"):
        affect_data.emotion4q_clips(tmp_path)
    (tmp_path / "emotion4q").mkdir()
    assert "metadata not found" in affect_data.validate_emotion4q(tmp_path)[0]


# ------------------------------------------------------------------ streamed sound descriptors

def test_streaming_features_equal_whole_clip_features() -> None:
    x = _signal(75.0)
    whole = AF.sound_rows(x)
    stream = AF.AudioMoodStream()
    n_segments = 0
    for seg in iter_segments(_blocks(x, 40000), core_samples=20 * 512 * 43,
                             pad_samples=43 * 512):
        stream.feed(seg)
        n_segments += 1
        # bounded memory: at most one segment's frames plus one block and the look-ahead
        assert stream._desc.shape[0] <= 20 * 43 + AF.BLOCK_FRAMES + AF._LOOKAHEAD + 1
    streamed = stream.result()
    assert n_segments == 4 and streamed.n_blocks == whole.n_blocks == int(np.ceil(
        np.ceil(x.size / 512) / AF.BLOCK_FRAMES))
    np.testing.assert_allclose(streamed.rows, whole.rows, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(streamed.describe(), whole.describe(), rtol=1e-9, atol=1e-9)
    assert stream.result() is streamed  # idempotent
    assert whole.describe().shape == (len(AF.SOUND_NAMES),)
    assert np.all(np.isfinite(whole.describe()))


def test_sections_follow_the_music() -> None:
    """The quiet half and the loud, bright, beating half get different descriptors and a
    different arousal."""
    from midi2img.tagger import tag_audio

    x = _signal(40.0)
    sound, tags = AF.sound_rows(x), tag_audio(x, SR)
    names = AF.SOUND_NAMES
    quiet = sound.window(0.0, 20.0).describe()
    loud = sound.window(20.0, 40.0).describe()
    col = {n: i for i, n in enumerate(names)}
    assert loud[col["loudness_db_mean"]] - quiet[col["loudness_db_mean"]] > 20
    assert loud[col["onset_rate_per_s"]] > quiet[col["onset_rate_per_s"]] + 1
    assert loud[col["log2_centroid_hz_mean"]] > quiet[col["log2_centroid_hz_mean"]]
    assert loud[col["pulse_clarity"]] > 0.3
    assert quiet[col["minor_fit"]] > quiet[col["major_fit"]]
    model = load_shipped("affect_audio")
    a_quiet = model.predict(sound, tags, start_s=0.0, end_s=20.0)
    a_bright = model.predict(sound, tags, start_s=20.0, end_s=40.0)
    assert a_bright.valence > a_quiet.valence + 0.3, (a_quiet, a_bright)  # major, bright
    whole = model.predict(sound, tags)
    assert whole.model == "audio" and 0 <= whole.confidence <= 1  # type: ignore[operator]
    with pytest.raises(InputError):
        AF.affect_features(sound, tags, start_s=5.0)
    with pytest.raises(InputError):
        sound.window(3.0, 3.0)


def test_sections_of_real_music_get_their_own_affect() -> None:
    """A calm vibraphone tune followed by an allegro string orchestra, analysed as one track:
    each section gets the arousal of its own music."""
    from midi2img.audio import load
    from midi2img.tagger import TagStream

    calm = load(require_data("audio", VIBE_ACE), max_duration_s=20.0)
    fast = load(require_data("audio", BRAHMS), max_duration_s=20.0)
    x = np.concatenate([calm, fast])
    sound, tagger = AF.AudioMoodStream(), TagStream()
    for seg in iter_segments(_blocks(x, 1 << 16), core_samples=1292 * 512,
                             pad_samples=43 * 512):
        sound.feed(seg)
        tagger.feed(seg.core)
    rows, tags = sound.result(), tagger.result()
    model = load_shipped("affect_audio")
    first = model.predict(rows, tags, start_s=0.0, end_s=20.0)
    second = model.predict(rows, tags, start_s=20.0, end_s=40.0)
    assert first.arousal < 0 < second.arousal, (first, second)
    assert first.quadrant == "Q4"


def test_stream_refuses_bad_input() -> None:
    stream = AF.AudioMoodStream()
    with pytest.raises(InputError, match="no audio"):
        stream.result()
    x = np.zeros(SR * 2, dtype=np.float32)
    with pytest.raises(InputError, match="in order"):
        stream.feed(Segment(1.0, 1.0, 2.0, x[:SR], SR))
    with pytest.raises(InputError, match="Hz"):
        AF.AudioMoodStream(sr=16000)
    with pytest.raises(InputError, match="mono"):
        AF.sound_rows(np.zeros((2, 100), dtype=np.float32))
    silent = AF.sound_rows(x).describe()  # silence: defined, finite values
    assert np.all(np.isfinite(silent))
    assert silent[AF.SOUND_NAMES.index("silent_share")] == 1.0


# ------------------------------------------------------------------ shipped model

def test_shipped_model_loads_without_pickle_and_is_in_range() -> None:
    with (MODEL_DIR / WEIGHTS_FILE).open("rb") as fh, np.load(fh, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    model = load_shipped("affect_audio")
    assert isinstance(model, AudioAffectModel) and load_shipped("affect_audio") is model
    assert model.feature_names == AF.affect_feature_names()
    rng = np.random.default_rng(0)
    X = model.mean + rng.normal(size=(200, model.mean.size)) * model.scale * 20
    s, c = model.scores(X), model.confidence(X)
    assert s.shape == (200, 2) and np.all(np.abs(s) <= 1)
    assert np.all((c >= 0) & (c <= 1))
    est = model.estimate(X[0])
    assert est.to_dict()["model"] == "audio" and est.quadrant in ("Q1", "Q2", "Q3", "Q4")


def test_affect_estimate_keeps_its_contract() -> None:
    old = AffectEstimate(0.5, -0.25)
    assert old.to_dict() == {"valence": 0.5, "arousal": -0.25, "quadrant": "Q4",
                             "confidence": None, "model": None}
    new = AffectEstimate(-0.5, 0.25, 0.61234, "audio")
    assert new.to_dict()["confidence"] == 0.6123 and new.quadrant == "Q2"
    with pytest.raises(ValueError):
        AffectEstimate(0.1, 0.1, 1.5)
    with pytest.raises(ValueError):
        AffectEstimate(0.1, 0.1, 0.5, "lstm")


def test_model_card_figures_and_calibration() -> None:
    card = _card()
    assert card.model == "affect_audio"
    assert card.details["feature_names"] == list(AF.affect_feature_names())
    assert "research use only" in card.licence
    test, cv = card.result("emotion4q", "test"), card.result("emotion4q", "valid")
    assert test.n + cv.n == 794 and 170 <= test.n <= 180
    # the figures reported when this model was first shipped: CV (choices) and test (once)
    assert cv["arousal_accuracy"] >= 0.87 and cv["valence_accuracy"] >= 0.79
    assert cv["quadrant_accuracy"] >= 0.70
    # calibrated: confidence tracks accuracy
    for r in (test, cv):
        assert r["quadrant_ece"] < 0.1
        assert abs(r["mean_confidence"] - r["quadrant_accuracy"]) < 0.08
    md = (MODEL_DIR / "MODEL_CARD.md").read_text()
    assert md == card.markdown()  # rendered from the JSON card, nothing else
    assert f"{test['quadrant_accuracy']:.3f}" in md and f"{cv['valence_accuracy']:.3f}" in md
    # the test split was looked at before this model: the card says so
    assert len(card.history) == 2 and "clipped" in card.history[0].note
    assert (MODEL_DIR / "reliability.png").is_file()


def test_eval_json_equals_model_card(emotion4q_described: None) -> None:
    data = _data()
    res = CliRunner().invoke(app, ["mood", "eval", "--model-kind", "audio", "--json", "--data",
                                   str(data)])
    assert res.exit_code == 0, res.output
    got = [EvalResult.from_dict(d) for d in json.loads(res.stdout)]
    assert [(r.dataset, r.split) for r in got] == [("emotion4q", "test")]
    want = _card().result("emotion4q", "test")
    assert got[0].n == want.n and got[0].confusion == want.confusion
    for k, v in want.metrics.items():
        assert got[0][k] == pytest.approx(v, abs=1e-4), k


def test_eval_refuses_a_folder_of_the_other_kind(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["mood", "eval", "--model-kind", "symbolic", "--model",
                                   str(MODEL_DIR)])
    assert res.exit_code == 2 and "audio model" in res.output
    res = CliRunner().invoke(app, ["mood", "eval", "--model", str(tmp_path)])
    assert res.exit_code == 3 and "no mood model" in res.output


#: How close a retraining must come to the shipped model, on any machine: logistic regressions
#: on standardised features and Platt maps, all well determined. The recordings' rows differ
#: across CPUs (decoding, float32 taggers: the features' means moved by ~1e-8 on another
#: machine, the held-out probabilities by 5e-7), so predictions are compared within:
PROB_TOL = 1e-5  #: largest |difference| of a held-out probability or confidence
ITEMS_TOL = 1  #: accuracies: at most this many items apart (a clip at 0.5 +- PROB_TOL)
FIGURE_TOL = 1e-3  #: ECE and mean confidence


def test_calibration_is_stable_to_last_digit_changes() -> None:
    """The Platt maps (per axis and of the quadrant) fitted on out-of-fold log-odds move by far
    less than 1e-6 when their inputs move by ~1e-12 (another CPU's rounding)."""
    from midi2img.mood.train_audio import _calibrators

    rng = np.random.default_rng(0)
    raw = rng.normal(scale=1.5, size=(619, 2))
    y = rng.random((619, 2)) < 1 / (1 + np.exp(-1.1 * raw))
    platt, qplatt = _calibrators(raw, y)
    assert 0.5 < platt[0, 0] < 2 and 0.5 < platt[1, 0] < 2
    for _ in range(5):
        p2, q2 = _calibrators(raw + rng.normal(size=raw.shape) * 1e-12, y)
        assert np.abs(p2 - platt).max() < 1e-6 and np.abs(q2 - qplatt).max() < 1e-6


@pytest.fixture(scope="module")
def retrained(tmp_path_factory: pytest.TempPathFactory, emotion4q_described: None) -> Path:
    """The full model retrained with `make train-mood`'s command (the recordings' rows come
    from the test session's cache folder, shared with the eval test above)."""
    out = tmp_path_factory.mktemp("retrain") / "mood_audio"
    res = CliRunner().invoke(app, ["mood", "train", "--model-kind", "audio", "--data",
                                   str(_data()), "--out", str(out), "--seed", "0"])
    assert res.exit_code == 0, res.output
    return out


def test_retraining_reproduces_the_shipped_model(retrained: Path) -> None:
    from midi2img.mood.train_audio import SPLIT_FILE, describe_clips, feature_matrix

    data = _data()
    ours, shipped = load_model("affect_audio", retrained), load_shipped("affect_audio")
    split = json.loads((MODEL_DIR / SPLIT_FILE).read_text())
    assert json.loads((retrained / SPLIT_FILE).read_text()) == split  # seeded: exact
    # predictions on every held-out recording (the test artists)
    test = [c for c in affect_data.emotion4q_clips(data, split=split) if c.split == "test"]
    X = feature_matrix(describe_clips(test, data))
    assert np.abs(ours.probabilities(X) - shipped.probabilities(X)).max() <= PROB_TOL
    assert np.abs(ours.confidence(X) - shipped.confidence(X)).max() <= PROB_TOL
    # the card: the same figures within the bounds, the same everything else
    card, want = read_card(retrained), _card()
    assert [(r.dataset, r.split) for r in card.results] == [
        (r.dataset, r.split) for r in want.results]
    for r in card.results:
        w = want.result(r.dataset, r.split)
        assert (r.n, r.labels) == (w.n, w.labels)
        for k, v in w.metrics.items():
            tol = ITEMS_TOL / r.n + 1e-4 if "accuracy" in k else FIGURE_TOL
            assert r[k] == pytest.approx(v, abs=tol), (r.split, k)
    assert (card.model, card.name, card.task, card.config, card.data, card.licence) == (
        want.model, want.name, want.task, want.config, want.data, want.licence)
    for k in ("feature_names", "axes", "architecture"):
        assert card.details[k] == want.details[k]
    for k, v in want.details["calibration"].items():
        assert card.details["calibration"][k] == pytest.approx(v, abs=1e-5), k
    for r, w in zip(card.details["cv_ablations"], want.details["cv_ablations"], strict=True):
        assert r["name"] == w["name"]
        for k in ("arousal", "valence", "quadrant"):
            assert r[k] == pytest.approx(w[k], abs=ITEMS_TOL / 619 + 1e-4), (r["name"], k)
    assert (retrained / "MODEL_CARD.md").read_text() == card.markdown()


# ------------------------------------------------------------------ real recordings

@pytest.fixture(scope="module")
def real_affect() -> dict[str, AffectEstimate]:
    """Whole-track affect of the five real recordings, computed as the analysis pass does."""
    model = load_shipped("affect_audio")
    out = {}
    for name in (BRAHMS, FISHIN, SUGAR_PLUM, VIBE_ACE, TRUMPET):
        sound, tags = AF.describe_file(require_data("audio", name))
        out[name] = model.predict(sound, tags)
    return out


def test_real_recordings(real_affect: dict[str, AffectEstimate]) -> None:
    for est in real_affect.values():
        assert -1 <= est.valence <= 1 and -1 <= est.arousal <= 1 and est.model == "audio"
    # a relaxed vibraphone jazz tune is not tense or angry, and is calm
    assert real_affect[VIBE_ACE].quadrant != "Q2"
    assert real_affect[VIBE_ACE].arousal < 0
    # a cheerful sung folk-pop song is positive
    assert real_affect[FISHIN].valence > 0
    # Brahms' Hungarian Dance 5 (allegro, string orchestra) is energetic
    assert real_affect[BRAHMS].arousal > 0
