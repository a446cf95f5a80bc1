"""Helpers the test modules share (fixtures live in ``conftest.py``): the CLI run as a user runs
it, small MIDI and audio files built here, and checks of the folders ``convert`` writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import soundfile as sf
from typer.testing import CliRunner

from midi2img.cli import app
from midi2img.convert import expected_files, read_output

#: ``convert`` options for a small abstract image (fast, no model).
SMALL = ["--image", "abstract", "--width", "64", "--height", "64"]

_CADENCE = {False: [(48, 60, 64, 67), (41, 60, 65, 69), (43, 59, 62, 67), (48, 60, 64, 67)],
            True: [(45, 57, 60, 64), (50, 57, 62, 65), (40, 56, 59, 64), (45, 57, 60, 64)]}


def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m midi2img.cli ARGS`` in a subprocess, as a user runs it (stdout and stderr
    apart, ``env`` added to this process's environment)."""
    return subprocess.run([sys.executable, "-m", "midi2img.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd)


def nonblank_lines(text: str) -> list[str]:
    """The lines of ``text`` that hold more than white space."""
    return [ln for ln in text.splitlines() if ln.strip()]


def cadence_midi(path: Path, *, minor: bool = False) -> Path:
    """A MIDI file of eight 1.1 s chords, one every 1.2 s at 100 BPM: I-IV-V-I twice in C major
    (or i-iv-V-i in A minor)."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    inst = pretty_midi.Instrument(0)
    for i in range(8):
        for p in _CADENCE[minor][i % 4]:
            inst.notes.append(pretty_midi.Note(80, p, i * 1.2, i * 1.2 + 1.1))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def triad_midi(path: Path, *, root: int = 60, minor: bool = False, bars: int = 8) -> Path:
    """A MIDI file (parent folders made) of ``bars`` chords on ``root`` (bass, root, third,
    fifth), every other one a fourth higher: tracks of a batch that differ by their arguments."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    inst = pretty_midi.Instrument(0)
    third = 3 if minor else 4
    for i in range(bars):
        for p in (root - 12, root, root + third, root + 7):
            inst.notes.append(pretty_midi.Note(80, p + (5 if i % 2 else 0), i * 1.2,
                                               i * 1.2 + 1.1))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def pulse_audio(path: Path, *, seconds: float = 6.0, root_hz: float = 261.63) -> Path:
    """A short recording (parent folders made): a major triad pulsing at 120 BPM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sr = 22050
    t = np.arange(int(sr * seconds)) / sr
    env = np.exp(-4 * (t % 0.5))
    y = sum(np.sin(2 * np.pi * root_hz * r * t) for r in (1, 1.26, 1.5)) * env * 0.2
    sf.write(str(path), y.astype(np.float32), sr)
    return path


def small_library(lib: Path) -> Path:
    """A folder of four tracks to convert (three MIDI files, one recording) and a text file."""
    triad_midi(lib / "major" / "demo.mid")
    triad_midi(lib / "minor" / "demo.mid", root=57, minor=True)
    triad_midi(lib / "solo.midi", root=62)
    pulse_audio(lib / "major" / "pulse.wav")
    (lib / "README.txt").write_text("not music")
    return lib


def track_folders(out: Path) -> list[Path]:
    """Every track output folder under ``out`` (a folder holding files only)."""
    found = []
    for root, dirs, files in os.walk(out):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if files and not dirs and Path(root) != out:
            found.append(Path(root))
    return sorted(found)


def assert_complete(folder: Path) -> None:
    """``folder`` holds a readable ``analysis.json`` with its provenance and every file it
    lists."""
    data = read_output(folder)
    assert data is not None, f"{folder} has no readable analysis.json"
    assert set(data["provenance"]) == {"input_sha256", "options_sha256"}
    names = {p.name for p in folder.iterdir()}
    for name in expected_files(data, folder.name):
        assert name in names, f"{folder} lacks {name}"


def hidden_files(out: Path) -> list[Path]:
    """Every hidden file or folder under ``out`` (staging left behind)."""
    return [Path(r) / n for r, ds, fs in os.walk(out) for n in ds + fs if n.startswith(".")]


def sd_runs_against_sequential(tmp_path: Path, *engine: str) -> Path:
    """Three MIDI tracks converted with a tiny saved Stable Diffusion pipeline, sequentially
    into ``tmp_path/a`` and with ``engine`` options into ``tmp_path/b`` (both must succeed); a
    run with a model that cannot load must then stop with exit 3 and one error line."""
    from midi2img.render import save_tiny_pipeline

    runner = CliRunner()
    model = save_tiny_pipeline(tmp_path / "tiny-sd")
    lib = tmp_path / "lib"
    for i in range(3):
        triad_midi(lib / f"t{i}.mid", root=55 + 3 * i, minor=bool(i % 2))
    sd = ["--image", "sd", "--model", str(model), "--steps", "2", "--width", "64", "--height",
          "64"]
    r1 = runner.invoke(app, ["convert", str(lib), "-o", str(tmp_path / "a"), *sd])
    r2 = runner.invoke(app, ["convert", str(lib), "-o", str(tmp_path / "b"), *sd, *engine])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    r = runner.invoke(app, ["convert", str(lib), "-o", str(tmp_path / "c"), "--image", "sd",
                            "--model", str(tmp_path / "nope"), *engine])
    assert r.exit_code == 3 and r.stderr.count("error:") == 1, r.stderr
    return lib
