"""Render MIDI to audio with a General MIDI soundfont (the demo, and tests with ground truth).

Uses the ``fluidsynth`` program with Debian's FluidR3 GM soundfont when present, or pretty_midi's
bundled TimGM6mb soundfont otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from midi2img.constants import SAMPLE_RATE_HZ
from midi2img.errors import InputError, Midi2ImgError

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)


def soundfont_path() -> Path:
    """The GM soundfont to render with (``$MIDI2IMG_SOUNDFONT`` wins).

    Raises:
        InputError: ``$MIDI2IMG_SOUNDFONT`` names no readable file.
    """
    env = os.environ.get("MIDI2IMG_SOUNDFONT")
    if env:
        p = Path(env).expanduser()
        if not p.is_file() or p.stat().st_size == 0:
            raise InputError(f"MIDI2IMG_SOUNDFONT={env}: no such soundfont file (unset it to "
                             f"use the default GM soundfont)")
        return p
    for cand in SOUNDFONT_CANDIDATES:
        if Path(cand).is_file():
            return Path(cand)
    import importlib.util

    spec = importlib.util.find_spec("pretty_midi")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def render_midi_file(midi_path: str | Path, wav_path: str | Path, *,
                     sr: int = SAMPLE_RATE_HZ) -> Path:
    """Render a MIDI file to a 16-bit WAV file with fluidsynth.

    Raises:
        Midi2ImgError: fluidsynth is not installed or failed.
    """
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise Midi2ImgError("rendering MIDI needs the fluidsynth program "
                            "(apt-get install fluidsynth fluid-soundfont-gm)")
    out = Path(wav_path)
    cmd = [exe, "-ni", "-q", "-g", "0.8", "-r", str(sr), "-F", str(out), "-T", "wav",
           str(soundfont_path()), str(midi_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
        raise Midi2ImgError(f"fluidsynth failed on {midi_path}: {proc.stderr.strip()[:200]}")
    return out
