"""Catalogue-scale ``convert`` (:mod:`midi2img.batch`): inputs (folders, globs, manifests), the
output-folder rule, resume, the run record, and a kill -9 in the middle of a batch. The runners
that carry a batch out are tested in ``test_runners.py`` and ``test_runners_ray_runner.py``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import (
    SMALL,
    assert_complete,
    hidden_files,
    pulse_audio,
    small_library,
    track_folders,
    triad_midi,
)
from midi2img.batch import (
    RUN_RECORD,
    BatchInput,
    clean_stale,
    collect_inputs,
    output_rel,
    plan_batch,
    read_manifest,
)
from midi2img.cli import app

runner = CliRunner()


def _records(out: Path) -> list[dict[str, Any]]:
    text = (out / RUN_RECORD).read_text()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


# ---- inputs and the output-folder rule ---------------------------------------------------------


def test_folders_globs_and_manifests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for rel in ("lib/rock/demo.wav", "lib/jazz/demo.flac", "lib/jazz/tune.MID", "lib/top.ogg",
                "lib/.hidden.wav", "lib/.cache/x.wav", "lib/notes.txt", "lib/cover.png"):
        Path(rel).parent.mkdir(parents=True, exist_ok=True)
        Path(rel).write_bytes(b"x")
    Path("lib/out").mkdir()
    Path("lib/out/old.wav").write_bytes(b"x")  # inside the output folder: never an input
    got = collect_inputs(["lib"], out_dir=Path("lib/out"))
    assert [(i.track, i.rel) for i in got] == [
        ("lib/top.ogg", "top"), ("lib/jazz/demo.flac", "jazz/demo"),
        ("lib/jazz/tune.MID", "jazz/tune"), ("lib/rock/demo.wav", "rock/demo")]
    # a plain file keeps OUT/<stem>; a glob mirrors the path under its fixed leading folder
    assert output_rel("lib/rock/demo.wav") == "demo"
    got = collect_inputs(["lib/*/demo.*", "lib/top.ogg"])
    assert [(i.track, i.rel) for i in got] == [("lib/jazz/demo.flac", "jazz/demo"),
                                               ("lib/rock/demo.wav", "rock/demo"),
                                               ("lib/top.ogg", "top")]
    assert [i.rel for i in collect_inputs(["lib/**/*.wav"], out_dir=Path("lib/out"))] == [
        "rock/demo"]
    # manifests: one path per line (relative to the manifest), or a CSV with a path column
    Path("lists").mkdir()
    Path("lists/a.txt").write_text(f"# my picks\n../lib/rock/demo.wav\n\n"
                                   f"{tmp_path / 'lib/top.ogg'}\n")
    Path("lib/picks.csv").write_text("title,path\nDemo,rock/demo.wav\n\"Top, live\",top.ogg\n")
    assert read_manifest("lib/picks.csv") == ["rock/demo.wav", "top.ogg"]
    got = collect_inputs([], ["lists/a.txt", "lib/picks.csv"])
    top = (tmp_path / "lib/top.ogg").as_posix().lstrip("/")
    assert [(i.track, i.rel) for i in got] == [
        ("lists/../lib/rock/demo.wav", str(Path(tmp_path, "lib/rock/demo").as_posix())
         .lstrip("/")),
        (str(tmp_path / "lib/top.ogg"), top[: -len(".ogg")]),
        ("lib/rock/demo.wav", "rock/demo"), ("lib/top.ogg", "top")]
    Path("bad.csv").write_text("file\nx.wav\n")
    with pytest.raises(Exception, match="'path' column"):
        read_manifest("bad.csv")
    with pytest.raises(Exception, match="nothing to convert"):
        collect_inputs(["lib/*.nothing"])


def test_output_folders_are_stable_and_collisions_are_reported(tmp_path: Path) -> None:
    def plan(items: list[tuple[str, str]]) -> dict[str, str]:
        p = plan_batch([BatchInput(t, r, "test") for t, r in items], tmp_path / "out")
        return {str(j.track): j.out.relative_to(tmp_path / "out").as_posix() for j in p.jobs}

    base = [("a/rock/demo.wav", "rock/demo"), ("a/jazz/demo.wav", "jazz/demo")]
    assert plan(base) == {"a/rock/demo.wav": "rock/demo", "a/jazz/demo.wav": "jazz/demo"}
    # adding a file renames nobody's folder
    assert plan([("a/aaa.wav", "aaa"), *base])["a/rock/demo.wav"] == "rock/demo"
    # the same name twice: both rejected, each naming the other; the rest planned
    p = plan_batch([BatchInput("a/song.wav", "song", "t"), BatchInput("a/song.mid", "song", "t"),
                    BatchInput("a/other.wav", "other", "t")], tmp_path / "out")
    assert [str(j.track) for j in p.jobs] == ["a/other.wav"]
    assert [(i, s) for i, s, _ in p.rejected] == [(0, "a/song.wav"), (1, "a/song.mid")]
    assert "a/song.mid" in p.rejected[0][2] and "a/song.wav" in p.rejected[1][2]
    # a folder that would hold another track's folder
    p = plan_batch([BatchInput("rock.wav", "rock", "t"), BatchInput("x/rock/d.wav", "rock/d",
                                                                    "t")], tmp_path / "out")
    assert not p.jobs and len(p.rejected) == 2
    # the same file reached twice is converted once
    (tmp_path / "f.wav").write_bytes(b"x")
    p = plan_batch([BatchInput(str(tmp_path / "f.wav"), "f", "t"),
                    BatchInput(f"{tmp_path}/./f.wav", "g/f", "t")], tmp_path / "out")
    assert [j.out.name for j in p.jobs] == ["f"] and not p.rejected


def test_stale_staging_is_cleaned_and_a_moved_result_restored(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / ".song.k2j3h4g5.partial").mkdir(parents=True)
    (out / ".song.k2j3h4g5.partial" / "analysis.json").write_text("{half")
    (out / ".song.old-4242").mkdir()
    (out / ".song.old-4242" / "analysis.json").write_text("{}")
    (out / "keep").mkdir()
    (out / ".keep.old-17").mkdir()
    (out / ".unrelated").mkdir()
    notes = clean_stale([out])
    assert sorted(p.name for p in out.iterdir()) == [".unrelated", "keep", "song"]
    assert (out / "song" / "analysis.json").read_text() == "{}"  # the earlier result is back
    assert len(notes) == 3 and any("restored" in n for n in notes)


# ---- the command -------------------------------------------------------------------------------


@pytest.fixture()
def library(tmp_path: Path) -> Path:
    return small_library(tmp_path / "lib")


def test_folder_then_resume_does_nothing(library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(library), "-o", str(out), *SMALL])
    assert r.exit_code == 0, r.output
    assert "4 " in r.stdout.splitlines()[-4] and "wall time" in r.stdout
    folders = [f.relative_to(out).as_posix() for f in track_folders(out)]
    assert folders == ["major/demo", "major/pulse", "minor/demo", "solo"]
    for f in track_folders(out):
        assert_complete(f)
    first = {f: (f / "analysis.json").read_bytes() for f in track_folders(out)}
    recs = _records(out)
    assert sorted(r["output"] for r in recs) == folders
    assert {r["status"] for r in recs} == {"ok"}
    assert all(r["timings_s"]["total"] > 0 and r["finished"] for r in recs)
    assert json.loads((out / "major/demo/analysis.json").read_text())["source"] == str(
        library / "major" / "demo.mid")
    # the same command with --resume: nothing to do, and it says so
    r = runner.invoke(app, ["convert", str(library), "-o", str(out), *SMALL, "--resume",
                            "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert (s["done"], s["skipped"], s["failed"], s["tracks"]) == (0, 4, 0, 4)
    assert {r["status"] for r in _records(out)} == {"skipped"}
    r = runner.invoke(app, ["convert", str(library), "-o", str(out), *SMALL, "--resume"])
    assert r.exit_code == 0 and "nothing to do" in r.stdout
    assert first == {f: (f / "analysis.json").read_bytes() for f in track_folders(out)}
    # a changed input is redone, the rest skipped; a changed option redoes everything
    triad_midi(library / "solo.midi", root=65, minor=True)
    r = runner.invoke(app, ["convert", str(library), "-o", str(out), *SMALL, "--resume",
                            "--json"])
    s = json.loads(r.stdout)
    assert (s["done"], s["skipped"]) == (1, 3), r.output
    assert [r["output"] for r in _records(out) if r["status"] == "ok"] == ["solo"]
    assert (out / "solo/analysis.json").read_bytes() != first[out / "solo"]
    r = runner.invoke(app, ["convert", str(library), "-o", str(out), *SMALL, "--resume",
                            "--style", "photo", "--json"])
    assert json.loads(r.stdout)["done"] == 4
    assert "photograph" in (out / "major/demo/prompt.txt").read_text()
    # a folder that is not a midi2img output is never replaced without --force
    (out / "minor/demo/analysis.json").unlink()
    r = runner.invoke(app, ["convert", str(library), "-o", str(out), *SMALL, "--resume",
                            "--style", "photo"])
    assert r.exit_code == 4 and "minor/demo exists; pass --force" in r.stderr
    assert not hidden_files(out)


def test_a_bad_file_is_recorded_and_the_rest_finish(library: Path, tmp_path: Path) -> None:
    (library / "minor" / "broken.mid").write_bytes(b"MThd not really")
    (library / "empty.wav").write_bytes(b"")
    (library / "major" / "demo.wav").write_bytes(b"RIFF")  # collides with major/demo.mid
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(library), "-o", str(out), *SMALL, "--json"])
    assert r.exit_code == 2
    s = json.loads(r.stdout)
    assert (s["tracks"], s["done"], s["failed"]) == (7, 3, 4)
    recs = {Path(r["source"]).name + ":" + str(r["output"]): r for r in _records(out)}
    assert len(recs) == 7
    failed = [r for r in _records(out) if r["status"] == "failed"]
    assert {Path(r["source"]).name for r in failed} == {"broken.mid", "empty.wav", "demo.wav",
                                                         "demo.mid"}
    for rec in failed:
        assert rec["output"] is None and rec["exit_code"] == 2
        assert rec["error"].count(rec["source"]) == 1, rec["error"]
    assert "0 bytes" in next(r["error"] for r in failed if r["source"].endswith("empty.wav"))
    assert {f.relative_to(out).as_posix() for f in track_folders(out)} == {
        "major/pulse", "minor/demo", "solo"}
    assert "4 of 7 track(s) failed" in r.stderr


def _start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MIDI2IMG_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-m", "midi2img.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def _lines(out: Path) -> int:
    try:
        return (out / RUN_RECORD).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_kill_9_mid_batch_then_resume_completes(tmp_path: Path, jobs: str) -> None:
    """kill -9 (the whole process group) at several points; every folder that exists is always
    complete, the record holds whole lines, and --resume finishes the batch."""
    lib = tmp_path / "lib"
    for i in range(24):
        triad_midi(lib / f"g{i % 3}" / f"t{i:02d}.mid", root=48 + i, minor=bool(i % 2), bars=12)
    for i in range(3):
        pulse_audio(lib / "audio" / f"a{i}.wav", seconds=5.0, root_hz=220.0 * (1 + i / 4))
    args = ["convert", "lib", "-o", "out", *SMALL, "--segments", "2", "--jobs", jobs,
            "--resume"]
    out = tmp_path / "out"
    killed = 0
    for after_lines in (0, 3, 9, 17):
        proc = _start(args, tmp_path)
        deadline = time.monotonic() + 240
        while _lines(out) < after_lines and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if after_lines == 0:
            time.sleep(2.5)  # somewhere in start-up or the first tracks
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        for folder in track_folders(out):  # never a half-written folder under its name
            assert_complete(folder)
        _records(out)  # whole lines only
    assert killed >= 2, "the batch ended before it could be killed"
    proc = _start(args, tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    recs = _records(out)
    assert len(recs) == 27 and {r["status"] for r in recs} <= {"ok", "skipped"}
    assert len(track_folders(out)) == 27
    for folder in track_folders(out):
        assert_complete(folder)
    assert not hidden_files(out), hidden_files(out)
    # the result equals an uninterrupted run
    ref = tmp_path / "ref"
    r = runner.invoke(app, ["convert", str(lib), "-o", str(ref), *SMALL, "--segments", "2"],
                      catch_exceptions=False)
    assert r.exit_code == 0
    for folder in track_folders(ref):
        mine = out / folder.relative_to(ref)
        a = json.loads((folder / "analysis.json").read_text())
        b = json.loads((mine / "analysis.json").read_text())
        assert a["source"].endswith(b["source"])  # absolute here, relative in the killed runs
        a.pop("source"), b.pop("source")
        assert a == b, folder
