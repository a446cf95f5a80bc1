"""Beats, downbeats and meter from audio (madmom's downbeat networks + bar DBN in numpy)."""

from __future__ import annotations

import itertools
from importlib.resources import files
from pathlib import Path

import mir_eval
import numpy as np
import pretty_midi
import pytest
import scipy.fft

from midi2img import audio
from midi2img.audio import Segment
from midi2img.errors import ModelError
from midi2img.features.audio_beats import (
    FRONTEND_FILE,
    NET_FILES,
    BarHMM,
    BeatFrontEnd,
    BeatModel,
    FrontEndSpec,
    beat_track,
    track_downbeats,
)
from midi2img.features.rhythm import BeatTrack
from midi2img.synth import render_midi_file

MODEL_DIR = Path(str(files("midi2img.models") / "madmom"))
SR = 22050


@pytest.fixture(scope="module")
def model() -> BeatModel:
    return BeatModel.load(MODEL_DIR, 8)


def _pattern(tmp: Path, bpm: float, meter: int, seconds: float) -> tuple[Path, np.ndarray]:
    """A GM drum pattern (kick on 1, snare on the backbeats, hi-hat on every beat) with a piano
    chord on each downbeat, rendered by fluidsynth; returns the wav and (time, position) beats."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    piano = pretty_midi.Instrument(program=0)
    chords = ([48, 52, 55, 60], [53, 57, 60, 65], [55, 59, 62, 67], [45, 48, 52, 57])
    beat = 60.0 / bpm
    snares = {2, 4} if meter == 4 else {2, 3}
    beats = []
    for k in range(int(seconds / beat)):
        t = k * beat
        pos = k % meter + 1
        beats.append((t, pos))
        drums.notes.append(pretty_midi.Note(90, 42, t, t + 0.1))
        if pos == 1:
            drums.notes.append(pretty_midi.Note(110, 36, t, t + 0.2))
            for p in chords[(k // meter) % len(chords)]:
                piano.notes.append(pretty_midi.Note(85, p, t, t + beat * meter * 0.9))
        if pos in snares:
            drums.notes.append(pretty_midi.Note(100, 38, t, t + 0.15))
    pm.instruments += [drums, piano]
    mid = tmp / f"pattern_{bpm:.0f}_{meter}.mid"
    pm.write(str(mid))
    wav = render_midi_file(mid, tmp / f"pattern_{bpm:.0f}_{meter}.wav", sr=SR)
    return wav, np.array(beats)


def _segments(path: Path, core: int, pad: int) -> list[Segment]:
    info = audio.probe(path)
    return list(audio.iter_segments(audio.iter_blocks(info), core_samples=core, pad_samples=pad))


@pytest.mark.parametrize(("bpm", "meter"), [(112.0, 4), (150.0, 3)])
def test_known_pattern(tmp_path: Path, model: BeatModel, bpm: float, meter: int) -> None:
    wav, ref = _pattern(tmp_path, bpm, meter, 20.0)
    fe = BeatFrontEnd(model.frontend)
    for seg in _segments(wav, 5 * SR, 4096):
        fe.feed(seg)
    rhythm = beat_track(fe.features(), model)
    ref_beats = mir_eval.beat.trim_beats(ref[:, 0])
    ref_down = mir_eval.beat.trim_beats(ref[ref[:, 1] == 1, 0])
    est_beats = mir_eval.beat.trim_beats(np.array(rhythm.beats_s))
    assert mir_eval.beat.f_measure(ref_beats, est_beats) >= 0.95
    assert rhythm.beats_per_bar == meter and rhythm.meter == f"{meter}/4"
    assert rhythm.tempo_bpm == pytest.approx(bpm, rel=0.02)
    est_down = mir_eval.beat.trim_beats(np.array(rhythm.downbeats_s))
    assert mir_eval.beat.f_measure(ref_down, est_down) >= 0.9
    curve = rhythm.tempo_curve()
    assert len(curve) == len(rhythm.downbeats_s) - 1
    assert np.median([bpm_ for _, bpm_ in curve]) == pytest.approx(bpm, rel=0.02)


def _signal(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    return (y + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def test_streaming_equals_whole_signal(model: BeatModel) -> None:
    y = _signal(7.3)
    whole = BeatFrontEnd(model.frontend)
    whole.feed(Segment(0.0, 0.0, y.size / SR, y))
    ref = whole.features()
    assert ref.shape == (int(np.ceil(y.size / 220.5)), 314)
    # cores that end between frame centres, pads just wide enough for the 2048-sample frames
    # two hops back
    blocks = iter(np.array_split(y, 9))
    stream = BeatFrontEnd(model.frontend)
    segs = list(audio.iter_segments(blocks, core_samples=20001, pad_samples=1024 + 442))
    assert len(segs) > 5
    for seg in segs:
        stream.feed(seg)
    np.testing.assert_allclose(stream.features(), ref, atol=1e-5, rtol=0)


def test_front_end_frame_by_hand(model: BeatModel) -> None:
    """Frame 31 computed directly: centre floor(31 * 220.5), Hann, 2 |rfft|, filterbank,
    log10(1 + x), and the positive difference to the frame ``diff`` before."""
    spec = model.frontend
    y = _signal(1.0)
    fe = BeatFrontEnd(spec)
    fe.feed(Segment(0.0, 0.0, y.size / SR, y))
    got = fe.features()[31]
    want_spec, want_diff = [], []
    for size, diff, fb in zip(spec.frame_sizes, spec.diff_frames, spec.filterbanks, strict=True):
        def log_spec(i: int, size: int = size, fb: np.ndarray = fb) -> np.ndarray:
            c = int(i * 220.5)
            frame = np.pad(y, size)[c - size // 2 + size: c + size // 2 + size]
            mag = 2 * np.abs(scipy.fft.rfft(frame * np.hanning(size)))[: size // 2]
            return np.log10(1 + mag @ fb.astype(np.float64))
        want_spec.append(log_spec(31))
        want_diff.append(np.maximum(log_spec(31) - log_spec(31 - diff), 0))
    want = np.concatenate([np.concatenate([s, d]) for s, d in zip(want_spec, want_diff,
                                                                   strict=True)])
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert spec.frame_sizes == (512, 1024, 2048) and spec.diff_frames == (1, 1, 2)


def test_viterbi_equals_brute_force() -> None:
    hmm = BarHMM.build(beats=2, min_interval=2, max_interval=3, num_tempi=None,
                       transition_lambda=1.0, observation_lambda=2)
    s = hmm.num_states
    assert s == 10
    # the dense transition matrix: within a beat from the state before; a beat's first states
    # from the previous beat's last states, by the tempo-change probabilities
    trans = np.full((s, s), -np.inf)  # [from, to]
    for st in range(s):
        if hmm.first_beat[st] < 0:
            trans[st - 1, st] = 0.0
        else:
            b, j = hmm.first_beat[st], hmm.first_index[st]
            trans[hmm.last[b - 1], st] = hmm.log_trans[:, j]
    assert np.allclose(np.exp(trans).sum(axis=1), 1)
    rng = np.random.default_rng(3)
    act = rng.dirichlet([1, 1, 1], size=6)[:, 1:].astype(np.float32)
    ld = hmm.log_densities(act)
    paths = np.array(list(itertools.product(range(s), repeat=len(act))))
    score = np.full(len(paths), np.log(1 / s))
    prev = None
    for t in range(len(act)):
        if prev is not None:
            score += trans[prev, paths[:, t]]
        score += ld[t, hmm.pointers[paths[:, t]]]
        prev = paths[:, t]
    best = int(np.argmax(score))
    for decode in (hmm.viterbi, hmm.viterbi_stepwise):
        path, log_p = decode(act)
        assert log_p == pytest.approx(score[best], abs=1e-9)
        assert path.tolist() == paths[best].tolist()


def test_fast_viterbi_equals_stepwise() -> None:
    """The chain-wise decoding finds the stepwise (madmom-order) path on real-sized bar HMMs."""
    rng = np.random.default_rng(5)
    n, period = 1500, 41.3
    t = np.arange(n)
    phase = (t % period) / period
    pulse = np.exp(-((np.minimum(phase, 1 - phase) * period) ** 2) / 8)
    for beats in (3, 4):
        down = (t // period) % beats == 0
        act = np.stack([np.where(down, 0.1, 0.6) * pulse + rng.uniform(0, 0.05, n),
                        np.where(down, 0.5, 0.02) * pulse + rng.uniform(0, 0.02, n)], 1)
        hmm = BarHMM.build(beats, 6000 / 215, 6000 / 55, 60, 100.0, 16)
        fast, slow = hmm.viterbi(act.astype(np.float32)), hmm.viterbi_stepwise(
            act.astype(np.float32))
        assert fast[0].tolist() == slow[0].tolist()
        assert fast[1] == pytest.approx(slow[1], rel=1e-12)


def test_track_downbeats_on_a_clean_activation() -> None:
    """Four beats to the bar at 120 BPM: beats where the activation peaks, downbeats on 1."""
    n, period = 1200, 50
    act = np.full((n, 2), 0.01, np.float32)
    for k, f in enumerate(range(20, n, period)):
        act[f, 1 if k % 4 == 0 else 0] = 0.9
    out = track_downbeats(act)
    want = np.arange(20, n, period) / 100
    np.testing.assert_allclose(out[:, 0], want)
    assert out[:, 1].tolist() == [k % 4 + 1 for k in range(len(want))]
    assert BeatTrack.of(out[:, 0], out[:, 1].astype(int), 4, "audio").tempo_bpm == pytest.approx(
        120.0)


def test_missing_or_broken_models(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        BeatModel.load(tmp_path / "nowhere", 1)
    (tmp_path / FRONTEND_FILE).write_bytes((MODEL_DIR / FRONTEND_FILE).read_bytes())
    with pytest.raises(ModelError, match=NET_FILES[0]):
        BeatModel.load(tmp_path, 1)
    (tmp_path / NET_FILES[0]).write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match=NET_FILES[0]):
        BeatModel.load(tmp_path, 1)
    (tmp_path / FRONTEND_FILE).write_bytes(b"garbage")
    with pytest.raises(ModelError, match="front end"):
        FrontEndSpec.load(tmp_path)
