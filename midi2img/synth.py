"""Render MIDI to audio with a General MIDI soundfont (the demo, and tests with ground truth).

Uses the ``fluidsynth`` program with Debian's FluidR3 GM soundfont when present, or pretty_midi's
bundled TimGM6mb soundfont otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from midi2img.errors import Midi2ImgError

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)


def soundfont_path() -> Path:
    """The GM soundfont to render with (``$MIDI2IMG_SOUNDFONT`` wins)."""
    env = os.environ.get("MIDI2IMG_SOUNDFONT")
    if env:
        return Path(env)
    for cand in SOUNDFONT_CANDIDATES:
        if Path(cand).is_file():
            return Path(cand)
    import importlib.util

    spec = importlib.util.find_spec("pretty_midi")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "TimGM6mb.sf2"


def render_midi_file(midi_path: str | Path, wav_path: str | Path, *, sr: int = 22050) -> Path:
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


def render_pretty_midi(pm: object, *, sr: int = 22050) -> np.ndarray:
    """Render a PrettyMIDI object to mono float32 audio at ``sr`` Hz."""
    import soundfile as sf

    with tempfile.TemporaryDirectory(prefix="midi2img-synth-") as tmp:
        mid = Path(tmp) / "in.mid"
        wav = Path(tmp) / "out.wav"
        pm.write(str(mid))  # type: ignore[attr-defined]
        render_midi_file(mid, wav, sr=sr)
        audio, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    assert rate == sr
    return audio.mean(axis=1)
