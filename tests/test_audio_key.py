"""The key of a recording: madmom's key CNN with midi2img's own front end (audio_key) and the
key stage that reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from midi2img.audio import Segment, iter_blocks, iter_segments, probe
from midi2img.constants import SAMPLE_RATE_HZ
from midi2img.errors import ModelError
from midi2img.features.audio_key import KeyFrontEnd, KeyModel
from midi2img.features.madmom_models import centred_frames
from midi2img.stages.key import key_of_probabilities


def _render(tmp: Path, name: str, tonic: int, minor: bool) -> Path:
    """Eight bars of cadences (i/I - iv/IV - V - i/I) with a scale melody, piano, 100 BPM."""
    from midi2img.synth import render_midi_file

    third = 3 if minor else 4
    sixth = 8 if minor else 9
    chords = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    scale = [0, 2, third, 5, 7, sixth, 11, 12]
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    piano = pretty_midi.Instrument(0)
    beat = 0.6
    t = 0.0
    for bar in range(8):
        root = 48 + tonic
        for p in chords[bar % 4]:
            piano.notes.append(pretty_midi.Note(80, root + p, t, t + 4 * beat))
        piano.notes.append(pretty_midi.Note(85, root - 12, t, t + 4 * beat))
        for i in range(4):
            m = scale[(bar * 4 + i) % len(scale)]
            piano.notes.append(pretty_midi.Note(90, root + 12 + m, t + i * beat,
                                                t + (i + 1) * beat))
        t += 4 * beat
    pm.instruments.append(piano)
    mid = tmp / f"{name}.mid"
    pm.write(str(mid))
    return render_midi_file(mid, tmp / f"{name}.wav")


def _key_of(path: Path, model: KeyModel) -> tuple[str, float]:
    front = KeyFrontEnd(model)
    for seg in iter_segments(iter_blocks(probe(path)), core_samples=SAMPLE_RATE_HZ * 3,
                             pad_samples=SAMPLE_RATE_HZ):
        front.feed(seg)
    key = key_of_probabilities(model.probabilities(front.spectrogram()), model.labels)
    return key.label, key.confidence


@pytest.mark.parametrize(("tonic", "minor", "want"), [(2, False, "D major"),
                                                       (9, True, "A minor"),
                                                       (3, True, "Eb minor")])
def test_rendered_cadences_give_their_key(tmp_path: Path, tonic: int, minor: bool,
                                          want: str) -> None:
    model = KeyModel.load()
    label, conf = _key_of(_render(tmp_path, want.replace(" ", "_"), tonic, minor), model)
    assert label == want
    assert 0.5 < conf <= 1.0


def test_frames_fed_segment_by_segment_equal_the_whole_signal() -> None:
    model = KeyModel.load()
    rng = np.random.default_rng(3)
    y = rng.standard_normal(SAMPLE_RATE_HZ * 7).astype(np.float32) * 0.1
    whole = KeyFrontEnd(model)
    whole.feed(Segment(0.0, 0.0, len(y) / SAMPLE_RATE_HZ, y))

    def blocks():  # type: ignore[no-untyped-def]
        for i in range(0, len(y), 5000):
            yield y[i:i + 5000]

    parts = KeyFrontEnd(model)
    n = 0
    for seg in iter_segments(blocks(), core_samples=30000, pad_samples=4096):
        parts.feed(seg)
        n += 1
    assert n == 6
    a, b = whole.spectrogram(), parts.spectrogram()
    assert a.shape == b.shape == (int(np.ceil(len(y) / model.hop)), model.filterbank.shape[1])
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_frame_i_is_centred_on_sample_i_times_hop() -> None:
    y = np.arange(100, dtype=np.float32)
    first, frames = centred_frames(Segment(0.0, 0.0, 100 / SAMPLE_RATE_HZ, y), frame_size=8,
                                   hop=10)
    assert first == 0 and frames.shape == (10, 8)
    np.testing.assert_array_equal(frames[0], [0, 0, 0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(frames[3], np.arange(26, 34))
    np.testing.assert_array_equal(frames[9], [86, 87, 88, 89, 90, 91, 92, 93])


def test_key_labels_are_spelled_as_midi2img_spells_keys() -> None:
    labels = tuple(KeyModel.load().labels)
    assert labels[4] == "Db major" and labels[18] == "D# minor"  # madmom's own spelling
    p = np.full(24, 0.01)
    p[4], p[18] = 0.6, 0.25
    k = key_of_probabilities(p / p.sum(), labels)
    assert (k.label, k.tonic_pc, k.mode) == ("C# major", 1, "major")
    assert k.confidence == pytest.approx(0.6 / p.sum())
    assert k.clarity == pytest.approx(0.35 / p.sum())


def test_a_missing_model_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "key_cnn.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="key_cnn.npz missing"):
        KeyModel.load(tmp_path)
    (tmp_path / "key_cnn.npz").write_bytes(b"not an npz")
    with pytest.raises(ModelError, match="cannot load the key model") as info:
        KeyModel.load(tmp_path)
    assert "\n" not in str(info.value)
