"""Transcription: our Basic Pitch path reproduces basic-pitch's own output."""

from __future__ import annotations

import numpy as np
import pytest

from midi2img import _bp_notes
from midi2img.errors import InputError
from midi2img.transcribe import (
    TranscriptionOptions,
    _model_outputs,
    basic_pitch_note_creation,
    load_backend,
    transcribe_file,
)


@pytest.fixture(scope="module")
def activations(demo_files):  # type: ignore[no-untyped-def]
    from midi2img.audio import load

    return _model_outputs(load(demo_files[1]), load_backend())


@pytest.mark.parametrize(("onset", "frame", "min_len"), [(0.5, 0.3, 11), (0.7, 0.4, 5)])
def test_vendored_decoder_matches_basic_pitch(activations, onset: float, frame: float,
                                              min_len: int) -> None:
    frames, onsets = activations
    theirs = basic_pitch_note_creation().output_to_notes_polyphonic(
        frames.copy(), onsets.copy(), onset_thresh=onset, frame_thresh=frame,
        min_note_len=min_len, infer_onsets=True, max_freq=None, min_freq=None)
    ours = _bp_notes.output_to_notes_polyphonic(
        frames.copy(), onsets.copy(), onset_thresh=onset, frame_thresh=frame,
        min_note_len=min_len, infer_onsets=True, max_freq=None, min_freq=None)
    assert len(ours) > 50 and ours == theirs
    n = frames.shape[0]
    assert np.allclose(_bp_notes.model_frames_to_time(n),
                       basic_pitch_note_creation().model_frames_to_time(n))


def test_matches_basic_pitch_predict(demo_files) -> None:
    """Same notes as ``basic_pitch.inference.predict`` with the ONNX model, bar edge effects."""
    from basic_pitch.inference import predict

    from midi2img.transcribe import model_path

    _, _, events = predict(str(demo_files[1]), model_path("onnx"), onset_threshold=0.7,
                           frame_threshold=0.4, minimum_note_length=58.0)
    theirs = {(round(s, 2), p) for s, _, p, _, _ in events}
    notes = transcribe_file(demo_files[1])
    ours = {(round(float(s), 2), int(p)) for s, p in zip(notes.onset_s, notes.midi_pitch,
                                                         strict=True)}
    assert len(ours & theirs) / max(len(theirs), 1) > 0.95


def test_frequency_range_limits_pitches(demo_files) -> None:
    notes = transcribe_file(demo_files[1], options=TranscriptionOptions(min_frequency_hz=200.0))
    assert len(notes) > 0 and notes.midi_pitch.min() >= 55  # 200 Hz is just below G3 (55)


@pytest.mark.parametrize("kwargs", [{"onset_threshold": 0.0}, {"frame_threshold": 1.2},
                                    {"min_note_length_ms": -1},
                                    {"min_frequency_hz": 500, "max_frequency_hz": 100}])
def test_options_validate(kwargs: dict) -> None:
    with pytest.raises(InputError):
        TranscriptionOptions(**kwargs)
