"""The musicnn taggers: shipped ONNX models, numpy front end, streaming, and real recordings."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import require_data
from midi2img import tagger as T
from midi2img.errors import InputError

GTZAN_TRAIN = ("jazz", "reggae", "rock")
BRAHMS = "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg"
FISHIN = "Karissa_Hobbs_-_Lets_Go_Fishin.ogg"
SUGAR_PLUM = "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg"
VIBE_ACE = "Kevin_MacLeod_-_Vibe_Ace.ogg"
TRUMPET = "sorohanro_-_solo-trumpet-06.ogg"
MTT_VOICE_TAGS = ("vocal", "vocals", "voice", "singing", "male", "female", "woman", "man",
                  "male vocal", "female vocal", "male voice", "female voice", "choir", "choral",
                  "opera")


def _read(path: Path) -> tuple[np.ndarray, int]:
    """Mono float32 samples at the file's own rate (as librosa.load with ``sr=None``)."""
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return y.mean(axis=1, dtype=np.float32), int(sr)


def _require_musicnn() -> None:
    """The musicnn wheel (``pip install --no-deps musicnn==0.1.0``) is needed; fail under CI."""
    if importlib.util.find_spec("musicnn") is None:
        why = "needs the musicnn wheel: pip install --no-deps musicnn==0.1.0"
        if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
            pytest.fail(f"missing under CI: {why}")
        pytest.skip(why)


def _run_python(code: str, *args: str, timeout: int = 600) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def real_tags() -> dict[str, T.TagResult]:
    """The five real recordings tagged as the analysis pass does (22050 Hz blocks, streamed)."""
    return {name: T.tag_file(require_data("audio", name))
            for name in (BRAHMS, FISHIN, SUGAR_PLUM, VIBE_ACE, TRUMPET)}


# ---- shipped models ------------------------------------------------------------------------


def test_model_card_lists_both_models_with_matching_hashes() -> None:
    import hashlib

    card = T.model_card()
    assert set(card["models"]) == {"msd_musicnn", "mtt_musicnn"}
    for name, file in T.MODEL_FILES.items():
        entry = card["models"][f"{name}_musicnn"]
        data = (T.model_dir() / file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(entry["tags"]) == 50 == len(set(entry["tags"]))
        assert max(entry["check"]["max_diff_vs_tensorflow"].values()) < 1e-4
    assert card["frontend"]["sample_rate_hz"] == 16000
    assert card["input"]["shape"] == ["batch", 187, 96]
    assert card["source"]["version"] == "0.1.0"
    assert card["models"]["msd_musicnn"]["tags"][:3] == ["rock", "pop", "alternative"]
    assert card["models"]["mtt_musicnn"]["tags"][:3] == ["guitar", "classical", "slow"]
    assert "ISC" in card["source"]["licence"]
    licence = (T.model_dir() / "LICENSE").read_text()
    assert "Permission to use, copy, modify, and/or distribute" in licence


def test_tag_lists_match_the_wheel() -> None:
    _require_musicnn()
    from musicnn import configuration  # plain lists; importing it does not load TensorFlow

    assert T.load_tagger("msd").tags == tuple(configuration.MSD_LABELS)
    assert T.load_tagger("mtt").tags == tuple(configuration.MTT_LABELS)


def test_models_load_without_pickle_or_tensorflow() -> None:
    out = _run_python("""
        import json, pickle, sys

        def refuse(*a, **k):
            raise AssertionError("pickle used")

        pickle.load = pickle.loads = refuse
        pickle.Unpickler = refuse
        import numpy as np
        from midi2img import tagger

        heavy_at_import = sorted(m for m in ("onnxruntime", "librosa", "soxr") if m in sys.modules)
        rng = np.random.default_rng(0)
        r = tagger.tag_audio(0.1 * rng.standard_normal(22050 * 5).astype(np.float32), 22050)
        bad = sorted(m for m in sys.modules
                     if m.split(".")[0] in ("tensorflow", "keras", "musicnn", "tf2onnx"))
        print(json.dumps({"heavy": heavy_at_import, "bad": bad, "windows": r.n_windows,
                          "ort": "onnxruntime" in sys.modules}))
    """)
    got = json.loads(out.strip().splitlines()[-1])
    assert got == {"heavy": [], "bad": [], "windows": 1, "ort": True}


# ---- agreement with musicnn ----------------------------------------------------------------


def test_front_end_matches_librosa_melspectrogram() -> None:
    import librosa

    y16, _ = librosa.load(str(require_data("gtzan", "audio", "rock.00000.au")), sr=16000)
    mel = librosa.feature.melspectrogram(y=y16, sr=16000, hop_length=256, n_fft=512,
                                         n_mels=96).T
    ref = np.log10(10000 * mel.astype(np.float16) + 1)  # musicnn's batch_data, verbatim
    ours = T.log_mel_frames(np.pad(y16, 256))
    assert ours.shape == ref.shape == (1876, 96)
    # Measured: 2 of 180,096 values differ (float32 sums rounding to the other float16),
    # by at most 2.8e-4 in log10 units.
    assert np.count_nonzero(ours != ref) <= 20
    assert np.max(np.abs(ours - ref)) < 1e-3


@pytest.mark.parametrize("genre", GTZAN_TRAIN)
def test_msd_rows_match_the_published_gtzan_taggram(genre: str) -> None:
    from midi2img.config import data_dir

    require_data("gtzan", "musicnn", "training_data_GTZAN_MSDmusicnn_taggram.npz")
    with np.load(data_dir() / "gtzan" / "musicnn" /
                 "training_data_GTZAN_MSDmusicnn_taggram.npz", allow_pickle=False) as d:
        ref = d["X"][d["IDS"] == f"{genre}/{genre}.00000.au"]
    y, sr = _read(require_data("gtzan", "audio", f"{genre}.00000.au"))
    got = T.tag_audio(y, sr, hop_frames=T.REFERENCE_HOP_FRAMES, taggers=("msd",))
    assert ref.shape == (28, 50)
    assert got.probabilities["msd"].shape == ref.shape
    np.testing.assert_allclose(got.starts_s[:3], [0.0, 0.976, 1.952])
    diff = np.abs(got.probabilities["msd"] - ref)
    # Measured on these three clips: worst |diff| 0.0226 (jazz), 0.0337 (reggae), 0.0561 (rock);
    # mean 0.0006 / 0.0023 / 0.0024. The published rows were computed in 2019 (librosa 0.6/0.7,
    # resampy); the same clips through the wheel's own extractor today agree with ours to 5e-6
    # (next test), so the gap is the 2019 pipeline's. Margins: 0.06 and 0.003.
    assert diff.max() < 0.06
    assert diff.mean() < 0.003
    # the two most probable tags agree (reggae's 3rd and 4th are 0.1287 / 0.1282: a tie)
    assert [t for t, _ in got.top(2)["msd"]] == [
        got.tags["msd"][i] for i in np.argsort(-ref.mean(axis=0))[:2]]


def test_models_match_the_wheel_extractor() -> None:
    """Both exported models + our front end against musicnn's own TF extractor (1 s hop)."""
    _require_musicnn()
    clips = [require_data("gtzan", "audio", "jazz.00000.au"), require_data("audio", BRAHMS),
             require_data("audio", TRUMPET)]
    out = _run_python("""
        import io, json, sys, contextlib
        from musicnn import configuration
        configuration.BATCH_SIZE = 64  # batching only: the extractor feeds one window at a time
        from musicnn.extractor import extractor

        res = {}
        for path in sys.argv[1:]:
            for model in ("MSD_musicnn", "MTT_musicnn"):
                with contextlib.redirect_stdout(io.StringIO()):
                    taggram, _ = extractor(path, model=model, input_overlap=1,
                                           extract_features=False)
                res[f"{path}|{model}"] = taggram.tolist()
        print(json.dumps(res))
    """, *map(str, clips))
    wheel = json.loads(out.strip().splitlines()[-1])
    worst = 0.0
    for clip in clips:
        y, sr = _read(clip)
        ours = T.tag_audio(y, sr, hop_frames=T.REFERENCE_HOP_FRAMES)
        for name in T.TAGGERS:
            ref = np.array(wheel[f"{clip}|{name.upper()}_musicnn"], dtype=np.float32)
            assert ours.probabilities[name].shape == ref.shape
            worst = max(worst, float(np.max(np.abs(ours.probabilities[name] - ref))))
    # Measured: worst |diff| 4.7e-6 over 8 clips (float32 STFT/ONNX rounding).
    assert worst < 2e-5


# ---- streaming -----------------------------------------------------------------------------


@pytest.mark.parametrize("hop", [T.DEFAULT_HOP_FRAMES, T.REFERENCE_HOP_FRAMES, 187, 400])
def test_streaming_in_segments_equals_whole_clip(hop: int) -> None:
    from midi2img.audio import load

    y = load(require_data("audio", VIBE_ACE), max_duration_s=40.0)
    whole = T.tag_audio(y, 22050, hop_frames=hop)
    stream = T.TagStream(hop_frames=hop)
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, y.size), size=7, replace=False))
    for part in np.split(y, cuts):
        stream.feed(part)
        # bounded: under one STFT frame of samples and one window of log-mel frames
        assert stream._pending.size < T.MUSICNN_N_FFT
        assert stream._frames.shape[0] < T.WINDOW_FRAMES
    got = stream.result()
    assert got is stream.result()  # idempotent
    n_frames = 1 + (-(-y.size * 16000 // 22050)) // 256
    assert got.n_windows == whole.n_windows == (n_frames - 187) // hop + 1
    np.testing.assert_array_equal(got.starts_s, whole.starts_s)
    np.testing.assert_allclose(got.starts_s[1], hop * 256 / 16000)
    for name in T.TAGGERS:
        np.testing.assert_allclose(got.probabilities[name], whole.probabilities[name],
                                   atol=1e-6, rtol=0)
    with pytest.raises(InputError):
        stream.feed(y[:100])


def test_analysis_segments_feed_the_stream() -> None:
    """The analysis pass's ``Segment.core`` pieces, fed in order, give tag_file's result."""
    from midi2img.audio import iter_blocks, iter_segments, probe

    path = require_data("audio", FISHIN)
    stream = T.TagStream()
    for seg in iter_segments(iter_blocks(probe(path)), core_samples=1292 * 512,
                             pad_samples=43 * 512):
        stream.feed(seg.core)
    got, ref = stream.result(), T.tag_file(path)
    assert got.n_windows == ref.n_windows == 33  # 133 s, one window every 4 s
    for name in T.TAGGERS:
        np.testing.assert_allclose(got.probabilities[name], ref.probabilities[name], atol=1e-6)


def test_short_clip_is_padded_to_one_window() -> None:
    import soxr

    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(22050)).astype(np.float32)  # 1 s
    r = T.tag_audio(y, 22050)
    assert r.padded and r.n_windows == 1 and r.duration_s == pytest.approx(1.0)
    assert r.starts_s.tolist() == [0.0]
    # the 63 frames of the clip, then log-mel rows of zero (silence) up to 187 frames
    y16 = soxr.resample(y, 22050, 16000, quality="HQ")
    y16 = np.pad(y16, (0, 16000 - y16.size))  # librosa.load's length: ceil(22050 * 16000 / sr)
    frames = T.log_mel_frames(np.pad(y16, 256))
    assert frames.shape == (63, 96)
    window = np.zeros((1, 187, 96), np.float32)
    window[0, :63] = frames
    for name in T.TAGGERS:
        np.testing.assert_allclose(r.probabilities[name], T.load_tagger(name)(window),
                                   atol=1e-6)
    assert not T.tag_audio(np.zeros(4 * 22050, np.float32), 22050).padded


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError, match="mono"):
        T.tag_audio(np.zeros((100, 2), np.float32), 22050)
    with pytest.raises(InputError, match="NaN"):
        T.tag_audio(np.full(1000, np.nan, np.float32), 22050)
    with pytest.raises(InputError, match="unknown tagger"):
        T.TagStream(taggers=("gtzan",))
    with pytest.raises(InputError):
        T.TagStream(hop_frames=0)
    with pytest.raises(InputError, match="no audio"):
        T.TagStream().result()


# ---- the result record ---------------------------------------------------------------------


def test_tag_result_pooling_sections_and_contract(real_tags: dict[str, T.TagResult]) -> None:
    r = real_tags[FISHIN]
    pooled = r.pooled()
    for name in T.TAGGERS:
        np.testing.assert_allclose(list(pooled[name].values()),
                                   r.probabilities[name].mean(axis=0), rtol=1e-6)
    d = r.to_dict()
    assert list(d) == ["msd", "mtt"] and list(d["mtt"]) == list(r.tags["mtt"])
    assert all(v == round(v, 4) for v in d["msd"].values())
    json.dumps(d)
    section = r.window(20.0, 40.0)
    centres = section.starts_s + T.WINDOW_S / 2
    assert section.n_windows == 5 and np.all((centres >= 20) & (centres < 40))
    np.testing.assert_allclose(section.probabilities["mtt"], r.probabilities["mtt"][5:10])
    assert r.window(20.0, 20.5).n_windows == 1  # shorter than the hop: the nearest window
    top = r.top(3)
    assert [p for _, p in top["msd"]] == sorted((p for _, p in top["msd"]), reverse=True)
    with pytest.raises(InputError):
        r.window(5.0, 5.0)
    with pytest.raises(ValueError):
        T.TagResult({"msd": np.full((1, 50), 2.0)}, {"msd": r.tags["msd"]}, np.zeros(1), 1.0)
    assert not r.probabilities["msd"].flags.writeable


# ---- sanity on real recordings -------------------------------------------------------------


def test_string_orchestra_is_tagged_classical_strings(real_tags: dict[str, T.TagResult]) -> None:
    # Observed (MTT, pooled): classical 0.69, violin 0.56, strings 0.50, then classic 0.18.
    r = real_tags[BRAHMS]
    assert {t for t, _ in r.top(3)["mtt"]} == {"classical", "violin", "strings"}
    assert min(r.pooled()["mtt"][t] for t in ("classical", "violin", "strings")) > 0.3
    assert max(r.pooled()["mtt"][t] for t in MTT_VOICE_TAGS) < 0.1


def test_solo_trumpet_has_no_voice(real_tags: dict[str, T.TagResult]) -> None:
    # Observed: every MTT voice tag <= 0.003, MSD vocalist tags <= 0.01 (MSD's top: jazz 0.88).
    r = real_tags[TRUMPET]
    assert max(r.pooled()["mtt"][t] for t in MTT_VOICE_TAGS) < 0.02
    assert max(r.pooled()["msd"][t] for t in ("female vocalists", "male vocalists",
                                              "female vocalist")) < 0.05


def test_sung_folk_pop_is_tagged_as_female_vocals(real_tags: dict[str, T.TagResult]) -> None:
    # Observed: MSD female vocalists 0.34 (next: pop 0.22); MTT female 0.25, vocal 0.23.
    fishin = real_tags[FISHIN].pooled()
    assert real_tags[FISHIN].top(1)["msd"][0][0] == "female vocalists"
    for other in (BRAHMS, SUGAR_PLUM, VIBE_ACE, TRUMPET):
        p = real_tags[other].pooled()
        assert fishin["mtt"]["female"] > 3 * p["mtt"]["female"]
        assert fishin["msd"]["female vocalists"] > 3 * p["msd"]["female vocalists"]


def test_instrumentals_rank_their_style_first(real_tags: dict[str, T.TagResult]) -> None:
    # Observed: Sugar Plum Fairy MTT classical 0.48; Vibe Ace MSD jazz 0.45 (next 0.15).
    assert real_tags[SUGAR_PLUM].top(1)["mtt"][0][0] == "classical"
    assert real_tags[VIBE_ACE].top(1)["msd"][0][0] == "jazz"
