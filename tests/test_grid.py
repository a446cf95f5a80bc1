"""midi2img.grid: a written .mid carries the tempo map, time signatures and key signature of
the beats, read back with mido, pretty_midi and music21."""

from __future__ import annotations

import io

import numpy as np
import pytest

from midi2img.grid import RESOLUTION, Grid, gridded_midi, is_gridded, key_number
from midi2img.notes import Notes


def _drifting_beats(n: int = 24, first: float = 0.37, bpm0: float = 100.0,
                    bpm1: float = 112.0) -> np.ndarray:
    """Beats whose tempo drifts from ``bpm0`` to ``bpm1`` (a live band speeding up)."""
    periods = 60.0 / np.linspace(bpm0, bpm1, n - 1)
    return first + np.r_[0.0, np.cumsum(periods)]


def _notes_on(beats: np.ndarray) -> Notes:
    """One note on every beat (the bass on each downbeat is louder, nothing depends on it)."""
    n = beats.size
    return Notes(onset_s=beats.copy(), offset_s=beats + 0.1, midi_pitch=np.full(n, 60),
                 velocity=np.full(n, 90), tempo_bpm=None)


def bar_starts(grid: Grid) -> list[float]:
    """Seconds at which the bars start, as the written file must state them: the pickup bar at
    0 (when there is one), then every ``beats_per_bar``-th beat from the first downbeat."""
    beats = np.asarray(grid.beats_s, dtype=float)
    starts = [float(t) for t in beats[grid.first_downbeat::grid.beats_per_bar]]
    return ([0.0] if starts and starts[0] > 0 else []) + starts


def _write(pm) -> bytes:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def _note_on_ticks(data: bytes) -> list[int]:
    import mido

    mid = mido.MidiFile(file=io.BytesIO(data))
    ticks = []
    for track in mid.tracks:
        now = 0
        for msg in track:
            now += msg.time
            if msg.type == "note_on" and msg.velocity > 0:
                ticks.append(now)
    return sorted(ticks)


@pytest.mark.parametrize("first_downbeat, meter, key", [(0, 4, "C major"), (1, 3, "E minor"),
                                                         (3, 4, "Bb major")])
def test_every_beat_lands_on_a_quarter_note_and_bars_on_downbeats(
        first_downbeat: int, meter: int, key: str) -> None:
    import pretty_midi

    beats = _drifting_beats()
    grid = Grid(tuple(beats), first_downbeat, meter, key)
    data = _write(gridded_midi(_notes_on(beats), grid))

    # the raw file: the note on beat i sits exactly on quarter note i after the lead-in
    ticks = np.array(_note_on_ticks(data))
    lead = ticks[0]
    assert lead > 0 and lead % (RESOLUTION // 4) == 0  # the lead-in is whole sixteenths
    assert np.array_equal(ticks - lead, np.arange(beats.size) * RESOLUTION)

    back = pretty_midi.PrettyMIDI(io.BytesIO(data))
    # the tempo map gives the heard beat times back (tempo stored in whole microseconds)
    got = np.array([back.tick_to_time(int(t)) for t in ticks])
    assert np.abs(got - beats).max() < 1e-3
    times, tempi = back.get_tempo_changes()
    assert tempi[1] == pytest.approx(60.0 / (beats[1] - beats[0]), rel=1e-4)
    assert tempi[-1] == pytest.approx(60.0 / (beats[-1] - beats[-2]), rel=1e-4)
    # bars: a pickup bar from 0, then one every `meter` beats from the first downbeat
    assert np.allclose(back.get_downbeats()[: len(bar_starts(grid))], bar_starts(grid),
                       atol=1e-3)
    sigs = [(s.numerator, s.denominator) for s in back.time_signature_changes]
    assert sigs[-1] == (meter, 4)
    assert back.time_signature_changes[-1].time == pytest.approx(beats[first_downbeat], abs=1e-3)
    assert [k.key_number for k in back.key_signature_changes] == [key_number(key)]
    assert is_gridded(back) and not is_gridded(pretty_midi.PrettyMIDI())


def test_music21_reads_real_measures() -> None:
    """A notation program's view: measures of three quarters after the pickup, the key, each
    note at its beat's offset."""
    import music21

    beats = _drifting_beats(n=13, first=0.52)
    grid = Grid(tuple(beats), first_downbeat=1, beats_per_bar=3, key="E minor")
    score = music21.converter.parseData(_write(gridded_midi(_notes_on(beats), grid)),
                                        format="midi", quantizePost=False)
    part = score.parts[0]
    ts = part.recurse().getElementsByClass(music21.meter.TimeSignature)
    assert ts[-1].ratioString == "3/4"
    keys = part.recurse().getElementsByClass(music21.key.KeySignature)
    assert keys and keys[0].sharps == 1  # E minor: one sharp
    offsets = [float(n.getOffsetInHierarchy(score)) for n in part.recurse().notes]
    lead = offsets[0]
    assert offsets == pytest.approx([lead + i for i in range(beats.size)])
    # the first downbeat (beat 1) starts a measure; from there every measure is 3 quarters
    measures = list(part.getElementsByClass(music21.stream.Measure))
    starts = [float(m.offset) for m in measures]
    assert lead + 1 in starts
    k = starts.index(lead + 1)
    assert np.allclose(np.diff(starts[k:]), 3.0)


def test_constant_grid_and_bad_grids() -> None:
    g = Grid.constant(120.0, duration_s=4.0, phase_s=0.25, key="A minor")
    assert g.beats_s[:3] == (0.25, 0.75, 1.25) and g.beats_s[-1] <= 4.0
    assert key_number("A minor") == 21 and key_number("C major") == 0
    # a steady tempo is one tempo event (after the lead-in's), not one per beat
    import pretty_midi

    long = Grid.constant(97.3, duration_s=300.0, phase_s=0.4)
    beats = np.array(long.beats_s)
    back = pretty_midi.PrettyMIDI(io.BytesIO(_write(gridded_midi(_notes_on(beats), long))))
    _, tempi = back.get_tempo_changes()
    assert len(tempi) == 2 and tempi[1] == pytest.approx(97.3, rel=1e-5)
    ticks = np.array(_note_on_ticks(_write(gridded_midi(_notes_on(beats), long))))
    assert np.abs(np.array([back.tick_to_time(int(t)) for t in ticks]) - beats).max() < 1e-3
    with pytest.raises(ValueError, match="increasing"):
        Grid((0.5, 0.5, 1.0))
    with pytest.raises(ValueError, match="first bar"):
        Grid((0.0, 0.5), first_downbeat=4, beats_per_bar=4)
    with pytest.raises(ValueError, match="not a key"):
        key_number("H dorian")


def test_convert_writes_the_demo_on_its_bars(demo_analysis, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The demo (I-V-vi-IV in C major, 120 BPM, a bass note on every downbeat), rendered by
    fluidsynth and transcribed: the .mid convert writes states 4/4, C major and about 120 BPM,
    and every bar's bass note sits on that bar's first beat, in pretty_midi's ticks and in
    music21's measures."""
    import mido
    import music21
    import pretty_midi

    from midi2img.convert import write_outputs
    from midi2img.demo import DEMO_TEMPO_BPM, PROGRESSION

    write_outputs(demo_analysis, tmp_path, "demo")
    data = (tmp_path / "demo.mid").read_bytes()
    pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
    assert [(s.numerator, s.denominator) for s in pm.time_signature_changes] == [(4, 4)]
    assert [k.key_number for k in pm.key_signature_changes] == [0]  # C major
    _, tempi = pm.get_tempo_changes()
    assert np.allclose(tempi, DEMO_TEMPO_BPM, rtol=0.02)
    bar_ticks = 4 * mido.MidiFile(file=io.BytesIO(data)).ticks_per_beat
    bar_s = 4 * 60.0 / DEMO_TEMPO_BPM
    bass_notes = []
    for bar in range(8):  # DEMO_BARS: the bass note of each bar, as transcribed
        bass = PROGRESSION[bar % len(PROGRESSION)][1][0]
        heard = [n for n in pm.instruments[0].notes
                 if n.pitch == bass and abs(n.start - bar * bar_s) < 0.1]
        assert heard, bar
        bass_notes.append(heard[0])
        tick = pm.time_to_tick(heard[0].start)
        assert abs(tick - bar * bar_ticks) <= bar_ticks // 32, (bar, tick)

    score = music21.converter.parseData(data, format="midi")
    measures = list(score.parts[0].getElementsByClass(music21.stream.Measure))
    assert all(m.barDuration.quarterLength == 4.0 for m in measures)
    for bar, note in enumerate(bass_notes):
        m = measures[bar]
        lows = [n for n in m.recurse().notes
                if note.pitch in [p.midi for p in getattr(n, "pitches", [])]]
        assert lows and float(lows[0].offset) == 0.0, bar


def test_a_midi_input_keeps_its_own_bar_lines(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A MIDI file of offbeat chords (a reggae skank: every note on the "and" of the beat):
    rewritten by convert's writer, its bars stay where the file had them (from time 0), not
    shifted half a beat to where the notes fall."""
    import pretty_midi

    from midi2img.io import midi_bytes
    from midi2img.notes import read_midi

    src = pretty_midi.PrettyMIDI(initial_tempo=90.0)
    inst = pretty_midi.Instrument(0)
    beat = 60.0 / 90.0
    for i in range(12):  # one chord tone on every offbeat
        t = (i + 0.5) * beat
        inst.notes.append(pretty_midi.Note(80, 60 + i % 5, t, t + 0.3))
    src.instruments.append(inst)
    src.write(str(tmp_path / "in.mid"))
    notes = read_midi(tmp_path / "in.mid")
    back = pretty_midi.PrettyMIDI(io.BytesIO(midi_bytes(notes, tempo_bpm=90.0, key="C major")))
    assert np.allclose(back.get_downbeats()[:3], [0.0, 4 * beat, 8 * beat], atol=1e-3)
    assert back.get_tempo_changes()[1][0] == pytest.approx(90.0, rel=1e-5)
