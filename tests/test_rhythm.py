"""The beat track (features/rhythm.py): bars, tempo, the tempo curve, the .mid's grid, a MIDI
file's own beats, and how analysis.json holds them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from midi2img.contract import read_analysis
from midi2img.errors import InputError
from midi2img.features.rhythm import BeatTrack, bar_tempo_text, beat_track_of_midi
from midi2img.grid import gridded_midi
from midi2img.notes import Notes


def _track(beats: list[float], first_down: int = 0, per_bar: int = 4) -> BeatTrack:
    pos = [(i - first_down) % per_bar + 1 for i in range(len(beats))]
    return BeatTrack.of(np.array(beats), np.array(pos), per_bar, "audio")


def test_tempo_is_read_from_the_median_beat_interval() -> None:
    bt = _track([0.5 * i for i in range(12)])
    assert bt.tempo_bpm == pytest.approx(120.0)
    assert bt.meter == "4/4" and bt.downbeats_s == (0.0, 2.0, 4.0)
    assert _track([0.0, 0.5, 1.0]).tempo_bpm is None  # fewer than 4 beats


def test_tempo_curve_gives_each_full_bar_its_tempo() -> None:
    # two bars at 120 BPM, then two at 100, then a last bar cut short
    beats = [0.5 * i for i in range(8)] + [4.0 + 0.6 * i for i in range(10)]
    bt = _track(beats)
    curve = bt.tempo_curve()
    assert [t for t, _ in curve] == [0.0, 2.0, 4.0, 6.4]
    assert [b for _, b in curve] == [120.0, 120.0, 100.0, 100.0]
    assert bar_tempo_text(curve) == "100-120 BPM bar to bar"
    assert bar_tempo_text([(0.0, 120.0), (2.0, 120.2)]) == "120 BPM bar to bar"
    assert bar_tempo_text([]) == ""


def test_even_beats_smooth_a_trackers_frame_jitter_bar_by_bar() -> None:
    # a steady 120 BPM heard on 10 ms frames, with a pickup of one beat
    beats = [0.25, 0.75, 1.26, 1.75, 2.24, 2.75, 3.25, 3.76, 4.25, 4.74, 5.25]
    bt = _track(beats, first_down=1)
    even = bt.even_beats()
    assert even.size == len(beats)
    for a in (1, 5):  # each whole bar's beats are evenly spaced between its downbeats
        d = np.diff(even[a:a + 5])
        np.testing.assert_allclose(d, d[0], atol=1e-9)
        assert abs(d[0] - 0.5) <= 0.003
    assert even[1] == 0.75 and even[5] == 2.75 and even[9] == 4.74  # downbeats kept
    assert even[0] == pytest.approx(0.25)  # the pickup at the first bar's spacing
    grid = bt.grid("A minor")
    assert grid is not None and grid.first_downbeat == 1 and grid.key == "A minor"
    pm = gridded_midi(Notes(np.array([0.75]), np.array([5.0]), np.array([57]), np.array([80])),
                      grid)
    back = pretty_midi.PrettyMIDI(io.BytesIO(_bytes(pm)))
    _, tempi = back.get_tempo_changes()
    assert np.allclose(tempi[1:], 120.0, rtol=6e-3) and len(tempi) <= 4  # once a bar at most
    np.testing.assert_allclose(back.get_downbeats()[1:3], [0.75, 2.75], atol=2e-3)


def _bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def test_a_sections_beats_start_at_its_own_zero() -> None:
    bt = _track([0.5 * i for i in range(16)])
    w = bt.window(2.0, 5.0)
    assert w.beats_s == (0.0, 0.5, 1.0, 1.5, 2.0, 2.5) and w.downbeats_s == (0.0, 2.0)


def test_a_beat_track_refuses_what_is_not_one() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        BeatTrack((1.0, 0.5), (), 4, "audio")
    with pytest.raises(ValueError, match="every downbeat"):
        BeatTrack((0.0, 0.5), (0.25,), 4, "audio")
    with pytest.raises(ValueError, match="beat source"):
        BeatTrack((0.0, 0.5), (0.0,), 4, "guess")


def test_a_midi_files_own_beats_bars_and_meter(tmp_path: Path) -> None:
    """A 3/4 file at 90 BPM: beats every 2/3 s, bars of three, as the file states them."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=90.0)
    pm.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0)]
    piano = pretty_midi.Instrument(0)
    piano.notes += [pretty_midi.Note(80, 60 + i % 5, i * 2 / 3, i * 2 / 3 + 0.5) for i in range(12)]
    pm.instruments.append(piano)
    pm.write(str(tmp_path / "waltz.mid"))
    bt = beat_track_of_midi(tmp_path / "waltz.mid")
    assert bt is not None and bt.source == "midi" and bt.meter == "3/4"
    np.testing.assert_allclose(np.diff(bt.beats_s), 2 / 3, atol=1e-3)
    np.testing.assert_allclose(bt.downbeats_s, [0.0, 2.0, 4.0, 6.0], atol=1e-3)
    assert bt.tempo_bpm == pytest.approx(90.0, rel=1e-3)


def test_analysis_json_refuses_a_broken_beat_track() -> None:
    good = read_analysis({"beats": [0.5, 1.0, 1.5], "downbeats": [0.5], "meter": "3/4",
                          "tempo_curve": [[0.5, 120.0]]}, source="a.json")
    assert good.beats == (0.5, 1.0, 1.5) and good.meter == "3/4"
    assert good.to_dict()["tempo_curve"] == [[0.5, 120.0]]
    bad = [({"beats": [1.0, 0.5]}, "strictly increasing"),
           ({"beats": [0.5], "downbeats": [0.7]}, "every downbeat"),
           ({"meter": "four"}, "time signature"),
           ({"beats": ["x"]}, "beats #1"),
           ({"tempo_curve": [[1.0]]}, "time_s, bpm")]
    for data, msg in bad:
        with pytest.raises(InputError, match=msg) as info:
            read_analysis(data, source="a.json")
        assert "\n" not in str(info.value) and str(info.value).startswith("a.json")
