"""``midi2img report`` and ``midi2img video`` (:mod:`midi2img.cli.visual`) on folders that
``convert`` wrote."""

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


def test_report_of_a_broken_analysis_is_one_line(converted: Path, tmp_path: Path) -> None:
    """A folder whose analysis.json no midi2img version wrote: exit 2, one line naming the file
    and the place; nothing written. In a batch, the index lists the track with that line."""
    import shutil

    broken = tmp_path / "batch" / "broken"
    shutil.copytree(converted, broken)
    (broken / "report.html").unlink(missing_ok=True)
    data = json.loads((broken / "analysis.json").read_text())
    data["chords"][0]["label"] = "C:major"
    (broken / "analysis.json").write_text(json.dumps(data))
    r = runner.invoke(app, ["report", str(broken)])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1, r.output
    assert r.stderr.startswith(f"error: {broken / 'analysis.json'}: chords #1: label 'C:major' "
                               "is not a Harte chord label")
    assert not (broken / "report.html").exists()
    (broken / "analysis.json").write_text('{"source": ')
    r = runner.invoke(app, ["report", str(broken)])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1 and "not readable JSON" in r.stderr
    # the index of a batch holding it names the broken track and why
    from midi2img.report import write_index

    index = write_index(broken.parent, [{"source": "broken.mid", "status": "ok", "error": None,
                                         "output": "broken", "timings_s": {}}]).read_text()
    assert 'data-failed="broken.mid"' in index and "not readable JSON" in index


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


def test_convert_report_and_video_in_one_run(tmp_path: Path) -> None:
    """``convert --report --video``: each track folder gets report.html and <stem>.mp4 as long
    as its audio, the batch gets index.html listing the bad file's error, and ``--resume``
    keeps them; ``--video`` without images is refused before anything is written."""
    progression_midi(bars=4).write(str(tmp_path / "a.mid"))
    (tmp_path / "bad.mid").write_bytes(b"not a midi file")
    out = tmp_path / "out"
    args = ["convert", str(tmp_path / "a.mid"), str(tmp_path / "bad.mid"), "-o", str(out),
            "--image", "abstract", "--width", "64", "--height", "64", "--segments", "2",
            "--report", "--video", "--quiet"]
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output  # the bad file fails; the good one is complete
    folder = out / "a"
    page = (folder / "report.html").read_text()
    assert page.lower().startswith("<!doctype html>") and "<h1>a</h1>" in page  # stem, not staging
    data = json.loads((folder / "analysis.json").read_text())
    # the video follows its audio: the MIDI's rendering, which rings on after the last note
    streams = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                              "stream=codec_type,duration", "-of", "csv=p=0",
                              str(folder / "a.mp4")], capture_output=True, text=True,
                             check=True).stdout.split()
    lengths = {kind: float(d) for d, kind in (s.split(",")[::-1] for s in streams)}
    assert abs(lengths["video"] - lengths["audio"]) < 0.1
    assert data["duration_s"] <= lengths["audio"] < data["duration_s"] + 4
    index = (out / "index.html").read_text()
    assert "a/report.html" in index and "bad.mid" in index and "failed" in index
    assert not (out / "bad").exists()
    before = (folder / "a.mp4").stat().st_mtime_ns
    r = runner.invoke(app, [*args, "--resume"])
    assert "skipped" in r.output and (folder / "a.mp4").stat().st_mtime_ns == before
    # a folder whose report is gone is not complete: --resume makes it again
    (folder / "report.html").unlink()
    r = runner.invoke(app, [*args, "--resume"])
    assert (folder / "report.html").is_file(), r.output
    assert (folder / "a.mp4").stat().st_mtime_ns != before
    r = runner.invoke(app, ["convert", str(tmp_path / "a.mid"), "-o", str(tmp_path / "o2"),
                            "--image", "none", "--video"])
    assert r.exit_code == 2 and "--image none" in r.stderr and not (tmp_path / "o2").exists()
