"""A demo track built from scratch: I-V-vi-IV in C major at 120 BPM, on piano.

The project renders it itself (no downloads), so ``make demo`` and the tests have audio with a
known ground truth: the notes, the key, the tempo and the chord of every bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pretty_midi

#: The progression, one chord a bar: (Harte label, root pitch class, chord tones as MIDI pitches).
PROGRESSION = (
    ("C:maj", (48, 60, 64, 67)),
    ("G:maj", (43, 59, 62, 67)),
    ("A:min", (45, 60, 64, 69)),
    ("F:maj", (41, 60, 65, 69)),
)
#: A melody in C major, four quarter notes a bar, in a register above the chords.
MELODY = (
    (76, 74, 72, 74),  # E D C D over C
    (74, 71, 74, 79),  # D B D G over G
    (72, 76, 81, 79),  # C E A G over Am
    (77, 76, 74, 72),  # F E D C over F
)
DEMO_TEMPO_BPM = 120.0


def progression_midi(*, bars: int = 8, tempo_bpm: float = DEMO_TEMPO_BPM, program: int = 0,
                     velocity: int = 90, melody: bool = True) -> pretty_midi.PrettyMIDI:
    """Build the I-V-vi-IV demo: a bass note a bar, the triad on beats 1 and 3, and a melody.

    Returns:
        A PrettyMIDI object with an explicit tempo, 4/4, ``bars`` bars long.
    """
    import pretty_midi

    beat = 60.0 / tempo_bpm
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    piano = pretty_midi.Instrument(program=program, name="piano")
    for bar in range(bars):
        _, tones = PROGRESSION[bar % len(PROGRESSION)]
        t0 = bar * 4 * beat
        bass, upper = tones[0], tones[1:]
        piano.notes.append(pretty_midi.Note(velocity, bass, t0, t0 + 3.9 * beat))
        for b in (0, 2):
            for p in upper:
                piano.notes.append(pretty_midi.Note(velocity - 15, p, t0 + b * beat,
                                                    t0 + (b + 1.8) * beat))
        if melody:
            for b, pitch in enumerate(MELODY[bar % len(MELODY)]):
                piano.notes.append(pretty_midi.Note(velocity + 10, pitch, t0 + b * beat,
                                                    t0 + (b + 0.9) * beat))
    pm.instruments.append(piano)
    return pm


def bar_labels(*, bars: int = 8) -> list[str]:
    """The ground-truth chord label of each bar."""
    return [PROGRESSION[b % len(PROGRESSION)][0] for b in range(bars)]


def write_demo(out_dir: str | Path, *, bars: int = 16, force: bool = False) -> tuple[Path, Path]:
    """Write ``demo.mid`` and its rendering ``demo.wav`` into ``out_dir``.

    Raises:
        InputError: ``bars`` < 1.
        OutputError: a file exists and ``force`` is not set, or the folder is not writable.
    """
    import io
    import os

    from midi2img.errors import InputError, OutputError
    from midi2img.io import atomic_write_bytes, file_mode
    from midi2img.synth import render_midi_file

    if bars < 1:
        raise InputError("--bars must be at least 1")
    out = Path(out_dir)
    mid, wav = out / "demo.mid", out / "demo.wav"
    existing = [p for p in (mid, wav) if p.exists()]
    if existing and not force:
        raise OutputError(f"{existing[0]} exists; pass --force to replace it")
    buf = io.BytesIO()
    progression_midi(bars=bars).write(buf)
    atomic_write_bytes(mid, buf.getvalue())
    tmp = out / f".demo.wav.{os.getpid()}.tmp"
    try:
        render_midi_file(mid, tmp)
        tmp.chmod(file_mode())
        os.replace(tmp, wav)
    except OSError as exc:
        raise OutputError(f"cannot write {wav}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return mid, wav
