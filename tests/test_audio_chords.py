"""madmom's CNN chord recogniser redone at 22050 Hz (midi2img.features.audio_chords)."""

from __future__ import annotations

import itertools
from pathlib import Path

import mir_eval
import numpy as np
import pytest

from midi2img.audio import iter_blocks, iter_segments, probe
from midi2img.errors import ModelError
from midi2img.features.audio_chords import (
    FPS,
    HOP_SIZE,
    NUM_BANDS,
    ChordFrontEnd,
    ChordModel,
    chords_of_spectrogram,
    class_label,
    crf_viterbi,
    whole_signal_spectrogram,
)

#: Known-answer progression: several roots, both qualities, 2 s each.
PROGRESSION = ["C:maj", "A:min", "F:maj", "G:maj", "E:min", "D:maj", "B:min", "Bb:maj",
               "F#:min", "Eb:maj", "C#:min", "Ab:maj"]
CHORD_S = 2.0


@pytest.fixture(scope="module")
def model() -> ChordModel:
    return ChordModel.load()


def _streamed(path: Path, model: ChordModel, core: int, pad: int) -> tuple[np.ndarray, float]:
    info = probe(path)
    fe = ChordFrontEnd(model)
    blocks = list(iter_blocks(info))
    for seg in iter_segments(iter(blocks), core_samples=core, pad_samples=pad):
        fe.feed(seg)
    n = sum(b.size for b in blocks)
    return fe.spectrogram(), n / 22050


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The progression on a GM piano, bass note plus a close triad, rendered by fluidsynth."""
    import pretty_midi

    from midi2img.synth import render_midi_file

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    for k, label in enumerate(PROGRESSION):
        root, quality = label.split(":")
        pc = pretty_midi.note_name_to_number(f"{root}4") % 12
        third = 4 if quality == "maj" else 3
        t0, t1 = k * CHORD_S, (k + 1) * CHORD_S
        for pitch in (48 + pc, 60 + pc, 60 + pc + third, 60 + pc + 7):
            piano.notes.append(pretty_midi.Note(velocity=90, pitch=pitch, start=t0, end=t1 - 0.02))
    pm.instruments.append(piano)
    folder = tmp_path_factory.mktemp("chords")
    pm.write(str(folder / "prog.mid"))
    return render_midi_file(folder / "prog.mid", folder / "prog.wav")


def test_known_progression_is_recognised(rendered: Path, model: ChordModel) -> None:
    spec, duration = _streamed(rendered, model, core=5 * 22050, pad=22050)
    segs = chords_of_spectrogram(spec, model, duration)
    # well-formed: contiguous, merged, ending at the recording's end, labels mir_eval accepts
    assert segs[0][0] == 0.0 and segs[-1][1] == pytest.approx(duration)
    assert all(a[1] == b[0] and a[2] != b[2] for a, b in zip(segs, segs[1:], strict=False))
    for _, _, lab in segs:
        mir_eval.chord.validate([lab], [lab])
    ref_iv = np.array([[k * CHORD_S, (k + 1) * CHORD_S] for k in range(len(PROGRESSION))])
    est_iv = np.array([[s, e] for s, e, _ in segs])
    est_lab = [lab for _, _, lab in segs]
    est_iv, est_lab = mir_eval.util.adjust_intervals(est_iv, est_lab, 0.0, ref_iv[-1, 1],
                                                     "N", "N")
    iv, ref, est = mir_eval.util.merge_labeled_intervals(ref_iv, PROGRESSION, est_iv, est_lab)
    dur = mir_eval.util.intervals_to_durations(iv)
    comp = mir_eval.chord.majmin(ref, est)
    score = float(np.sum(dur * comp) / np.sum(dur))
    assert score >= 0.9, list(zip(est_iv.tolist(), est_lab, strict=True))


@pytest.mark.parametrize(("core", "pad"), [(5 * HOP_SIZE, 2048), (30011, 2100), (22050 * 3, 22050)])
def test_streamed_frames_equal_whole_signal(rendered: Path, model: ChordModel, core: int,
                                            pad: int) -> None:
    from midi2img.audio import load

    whole = whole_signal_spectrogram(load(rendered), model)
    spec, duration = _streamed(rendered, model, core=core, pad=pad)
    assert spec.shape == whole.shape == (int(np.ceil(duration * FPS - 1e-9)), NUM_BANDS)
    assert whole.max() > 1.0  # the chords are there, not silence
    np.testing.assert_allclose(spec, whole, atol=1e-5, rtol=0)


def test_front_end_rejects_a_gap(model: ChordModel) -> None:
    from midi2img.audio import Segment

    fe = ChordFrontEnd(model)
    x = np.zeros(22050 * 3, dtype=np.float32)
    fe.feed(Segment(0.0, 0.0, 1.0, x[:22050 * 2]))
    with pytest.raises(ValueError, match="out of order"):
        fe.feed(Segment(1.0, 2.0, 3.0, x[22050:]))
    assert fe.spectrogram().shape == (10, NUM_BANDS)


def _brute_force(obs: np.ndarray, pi: np.ndarray, tau: np.ndarray, c: np.ndarray,
                 a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Best y_1..y_T over every y_0..y_T of madmom's CRF energy."""
    n_states, t_len = len(pi), len(obs)
    best, arg = -np.inf, None
    for ys in itertools.product(range(n_states), repeat=t_len + 1):
        e = pi[ys[0]] + tau[ys[-1]]
        for t in range(1, t_len + 1):
            e += a[ys[t - 1], ys[t]] + c[ys[t]] + obs[t - 1] @ w[:, ys[t]]
        if e > best:
            best, arg = e, ys[1:]
    assert arg is not None
    return np.array(arg)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_viterbi_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pi, tau, c = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    a, w, obs = rng.normal(size=(3, 3)), rng.normal(size=(4, 3)), rng.normal(size=(5, 4))
    np.testing.assert_array_equal(crf_viterbi(obs, pi, tau, c, a, w),
                                  _brute_force(obs, pi, tau, c, a, w))


def test_class_labels() -> None:
    assert [class_label(i) for i in (0, 3, 11, 12, 15, 24)] == [
        "A:maj", "C:maj", "G#:maj", "A:min", "C:min", "N"]


def test_missing_model_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        ChordModel.load(tmp_path / "nowhere")
    assert "\n" not in str(err.value) and "chords_cnnfeat.onnx" in str(err.value)


def test_broken_model_file_is_one_line(tmp_path: Path) -> None:
    from midi2img.features.madmom_models import madmom_dir

    (tmp_path / "chords_cnnfeat.onnx").write_bytes(b"not onnx")
    (tmp_path / "chords_cnn.npz").write_bytes((madmom_dir() / "chords_cnn.npz").read_bytes())
    with pytest.raises(ModelError) as err:
        ChordModel.load(tmp_path)
    assert "\n" not in str(err.value) and "cannot load chord network" in str(err.value)


def test_network_in_pieces_equals_whole(rendered: Path, model: ChordModel,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import midi2img.features.audio_chords as ac
    from midi2img.audio import load

    spec = whole_signal_spectrogram(load(rendered), model)
    monkeypatch.setattr(ac, "NET_CHUNK_FRAMES", 10 ** 6)
    whole = model.features(spec)
    assert whole.shape == (spec.shape[0], 128)
    # T + 2 network outputs: in pieces of 7, and in one of T + 1 and a last one of 1
    for chunk in (7, spec.shape[0] + 1):
        monkeypatch.setattr(ac, "NET_CHUNK_FRAMES", chunk)
        np.testing.assert_allclose(model.features(spec), whole, atol=1e-6, rtol=0)
