"""``midi2img report`` and ``midi2img video`` on folders that ``convert`` wrote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from midi2img.cli import app
from midi2img.demo import progression_midi

runner = CliRunner()


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MIDI track converted with a two-section abstract storyboard."""
    d = tmp_path_factory.mktemp("visual")
    progression_midi(bars=4).write(str(d / "song.mid"))
    r = runner.invoke(app, ["convert", str(d / "song.mid"), "-o", str(d / "out"), "--image",
                            "abstract", "--width", "64", "--height", "64", "--segments", "2"])
    assert r.exit_code == 0, r.output
    return d / "out" / "song"


def _duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                          "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def test_report_command_writes_and_refuses_to_overwrite(converted: Path) -> None:
    r = runner.invoke(app, ["report", str(converted)])
    assert r.exit_code == 0, r.output
    html = (converted / "report.html").read_text()
    assert html.lower().startswith("<!doctype html>") and 'data-section="pianoroll"' in html
    before = (converted / "report.html").read_bytes()
    r = runner.invoke(app, ["report", str(converted)])
    assert r.exit_code == 4 and "--force" in r.stderr
    assert (converted / "report.html").read_bytes() == before
    assert runner.invoke(app, ["report", str(converted), "--force"]).exit_code == 0


def test_report_on_a_batch_folder_writes_the_index(converted: Path) -> None:
    r = runner.invoke(app, ["report", str(converted.parent), "--force"])
    assert r.exit_code == 0, r.output
    index = (converted.parent / "index.html").read_text()
    assert "song/report.html" in index


def test_video_of_a_midi_track_uses_its_rendering(converted: Path, tmp_path: Path) -> None:
    out = tmp_path / "v.mp4"
    r = runner.invoke(app, ["video", str(converted), "-o", str(out), "--width", "160",
                            "--height", "90", "--fps", "12", "--pulse", "0.5"])
    assert r.exit_code == 0, r.output
    data = json.loads((converted / "analysis.json").read_text())
    # the fluidsynth rendering rings on after the last note: the video follows the audio
    assert _duration(out) >= data["duration_s"] - 0.1
    r = runner.invoke(app, ["video", str(converted), "-o", str(out)])
    assert r.exit_code == 4 and "--force" in r.stderr


def test_video_errors_are_one_line(converted: Path, tmp_path: Path) -> None:
    r = runner.invoke(app, ["video", str(tmp_path / "none")])
    assert r.exit_code == 2 and r.stderr.startswith("error:") and len(r.stderr.splitlines()) == 1
    r = runner.invoke(app, ["video", str(converted), "-o", str(tmp_path / "m.mp4"), "--morph",
                            "8"])
    assert r.exit_code == 2 and "Stable Diffusion" in r.stderr
