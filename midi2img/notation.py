"""Notation export: the transcription as MusicXML, which notation programs (MuseScore, Finale,
Sibelius, Dorico) open, through music21 (imported only here, on demand)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from midi2img.errors import OutputError
from midi2img.notes import Notes

if TYPE_CHECKING:
    from midi2img.grid import Grid

#: Output suffixes that mean MusicXML.
MUSICXML_SUFFIXES = (".musicxml", ".xml")


def musicxml_bytes(notes: Notes, *, tempo_bpm: float | None = None, key: str | None = None,
                   title: str = "", grid: Grid | None = None) -> bytes:
    """A MusicXML score of ``notes`` on one piano staff system.

    The notes are written to a MIDI stream laid on the beats and bars heard (``grid``, else a
    grid at ``tempo_bpm``; with the key signature of ``key``: :func:`midi2img.io.midi_bytes`),
    so that beats fall on beats and bars on bars, then quantised by music21 to sixteenths and
    triplet eighths.

    Raises:
        OutputError: music21 cannot build the score.
    """
    from midi2img.io import midi_bytes

    try:
        import music21
        from music21.musicxml.m21ToXml import GeneralObjectExporter

        data = midi_bytes(notes, tempo_bpm=tempo_bpm, key=key, grid=grid)
        score = music21.converter.parseData(data, format="midi", quantizePost=True,
                                            quarterLengthDivisors=(4, 3))
        if title:
            score.insert(0, music21.metadata.Metadata(title=title))
        xml: bytes = GeneralObjectExporter(score).parse()
    except Exception as exc:  # music21 raises many kinds on odd input
        raise OutputError(f"cannot write MusicXML ({type(exc).__name__}: {exc})") from exc
    return xml
