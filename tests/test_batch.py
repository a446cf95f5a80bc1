"""Catalogue-scale ``convert``: inputs (folders, globs, manifests), the output-folder rule,
resume, the run record, a kill -9 in the middle of a batch, and the process pool."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from typer.testing import CliRunner

from midi2img.batch import (
    RUN_RECORD,
    BatchInput,
    clean_stale,
    collect_inputs,
    output_rel,
    plan_batch,
    read_manifest,
    read_run_record,
)
from midi2img.cli import app
from midi2img.convert import expected_files, read_output

runner = CliRunner()
SMALL = ["--image", "abstract", "--width", "64", "--height", "64"]


def _midi(path: Path, *, root: int = 60, minor: bool = False, bars: int = 8) -> Path:
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


def _audio(path: Path, *, seconds: float = 6.0, root_hz: float = 261.63) -> Path:
    """A short recording: a major triad pulsing at 120 BPM."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sr = 22050
    t = np.arange(int(sr * seconds)) / sr
    env = np.exp(-4 * (t % 0.5))
    y = sum(np.sin(2 * np.pi * root_hz * r * t) for r in (1, 1.26, 1.5)) * env * 0.2
    sf.write(str(path), y.astype(np.float32), sr)
    return path


def _records(out: Path) -> list[dict[str, Any]]:
    text = (out / RUN_RECORD).read_text()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _track_folders(out: Path) -> list[Path]:
    """Every track output folder under ``out`` (a folder holding files only)."""
    found = []
    for root, dirs, files in os.walk(out):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if files and not dirs and Path(root) != out:
            found.append(Path(root))
    return sorted(found)


def _assert_complete(folder: Path) -> None:
    data = read_output(folder)
    assert data is not None, f"{folder} has no readable analysis.json"
    assert set(data["provenance"]) == {"input_sha256", "options_sha256"}
    names = {p.name for p in folder.iterdir()}
    for name in expected_files(data, folder.name):
        assert name in names, f"{folder} lacks {name}"


def _hidden(out: Path) -> list[Path]:
    return [Path(r) / n for r, ds, fs in os.walk(out) for n in ds + fs if n.startswith(".")]


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
    lib = tmp_path / "lib"
    _midi(lib / "major" / "demo.mid")
    _midi(lib / "minor" / "demo.mid", root=57, minor=True)
    _midi(lib / "solo.midi", root=62)
    _audio(lib / "major" / "pulse.wav")
    (lib / "README.txt").write_text("not music")
    return lib


def test_folder_then_resume_does_nothing(library: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(library), "-o", str(out), *SMALL])
    assert r.exit_code == 0, r.output
    assert "4 " in r.stdout.splitlines()[-4] and "wall time" in r.stdout
    folders = [f.relative_to(out).as_posix() for f in _track_folders(out)]
    assert folders == ["major/demo", "major/pulse", "minor/demo", "solo"]
    for f in _track_folders(out):
        _assert_complete(f)
    first = {f: (f / "analysis.json").read_bytes() for f in _track_folders(out)}
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
    assert first == {f: (f / "analysis.json").read_bytes() for f in _track_folders(out)}
    # a changed input is redone, the rest skipped; a changed option redoes everything
    _midi(library / "solo.midi", root=65, minor=True)
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
    assert not _hidden(out)


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
    assert {f.relative_to(out).as_posix() for f in _track_folders(out)} == {
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
        _midi(lib / f"g{i % 3}" / f"t{i:02d}.mid", root=48 + i, minor=bool(i % 2), bars=12)
    for i in range(3):
        _audio(lib / "audio" / f"a{i}.wav", seconds=5.0, root_hz=220.0 * (1 + i / 4))
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
        for folder in _track_folders(out):  # never a half-written folder under its name
            _assert_complete(folder)
        _records(out)  # whole lines only
    assert killed >= 2, "the batch ended before it could be killed"
    proc = _start(args, tmp_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    recs = _records(out)
    assert len(recs) == 27 and {r["status"] for r in recs} <= {"ok", "skipped"}
    assert len(_track_folders(out)) == 27
    for folder in _track_folders(out):
        _assert_complete(folder)
    assert not _hidden(out), _hidden(out)
    # the result equals an uninterrupted run
    ref = tmp_path / "ref"
    r = runner.invoke(app, ["convert", str(lib), "-o", str(ref), *SMALL, "--segments", "2"],
                      catch_exceptions=False)
    assert r.exit_code == 0
    for folder in _track_folders(ref):
        mine = out / folder.relative_to(ref)
        a = json.loads((folder / "analysis.json").read_text())
        b = json.loads((mine / "analysis.json").read_text())
        assert a["source"].endswith(b["source"])  # absolute here, relative in the killed runs
        a.pop("source"), b.pop("source")
        assert a == b, folder


# ---- the process pool ---------------------------------------------------------------------------


def _plan(lib: Path, out: Path) -> Any:
    return plan_batch(collect_inputs([str(lib)]), out)


def test_pool_matches_sequential_and_survives_killed_workers(library: Path,
                                                             tmp_path: Path) -> None:
    from midi2img.analysis import AnalysisOptions
    from midi2img.batch import run_batch
    from midi2img.convert import ConvertContext, ConvertOptions
    from midi2img.render import RenderOptions
    from midi2img.runners import create_runner

    _audio(library / "minor" / "low.wav", root_hz=196.0)
    options = ConvertOptions(AnalysisOptions(), image="abstract",
                             render=RenderOptions(width=64, height=64))
    seq = run_batch(_plan(library, tmp_path / "seq"), ConvertContext.create(options),
                    create_runner("sequential"))
    assert seq.count("ok") == 5

    killed: list[int] = []

    def kill_workers(job: Any, stage: str, fraction: float) -> None:
        """At the first transcription, kill -9 every worker (the busy ones included)."""
        import multiprocessing

        if not killed and stage == "transcribing":
            for victim in multiprocessing.active_children():
                killed.append(victim.pid or 0)
                os.kill(victim.pid or 0, signal.SIGKILL)

    out = tmp_path / "pool"
    summary = run_batch(_plan(library, out), ConvertContext.create(options, images=False),
                        create_runner("pool", workers=2), engine="pool", workers=2,
                        on_progress=kill_workers)
    assert len(killed) == 2 and summary.count("ok") == 5, [r.error for r in summary.failures]
    for a, b in zip(seq.results, summary.results, strict=True):
        assert a.source == b.source and a.status == b.status == "ok"
        ra, rb = Path(a.output or ""), Path(b.output or "")
        for name in ("analysis.json", f"{ra.name}.png", f"{ra.name}.mid", "prompt.txt"):
            assert (ra / name).read_bytes() == (rb / name).read_bytes(), (ra, name)
    assert not _hidden(out)
    # a track whose worker dies more often than allowed is recorded as failed; the rest finish
    out2 = tmp_path / "pool2"
    killed.clear()
    summary = run_batch(_plan(library, out2), ConvertContext.create(options, images=False),
                        create_runner("pool", workers=1, retries=0), engine="pool",
                        on_progress=kill_workers)
    assert len(killed) == 1 and summary.count("ok") == 4 and len(summary.failures) == 1
    assert "worker process converting it died 1 time(s) (killed by signal 9)" in (
        summary.failures[0].error or "")
    assert [r["status"] for r in read_run_record(out2)].count("failed") == 1


def sd_runs_against_sequential(tmp_path: Path, *engine: str) -> Path:
    """Three MIDI tracks converted with a tiny saved Stable Diffusion pipeline, sequentially
    into ``tmp_path/a`` and with ``engine`` options into ``tmp_path/b`` (both must succeed); a
    run with a model that cannot load must then stop with exit 3 and one error line."""
    from midi2img.render import save_tiny_pipeline

    model = save_tiny_pipeline(tmp_path / "tiny-sd")
    lib = tmp_path / "lib"
    for i in range(3):
        _midi(lib / f"t{i}.mid", root=55 + 3 * i, minor=bool(i % 2))
    sd = ["--image", "sd", "--model", str(model), "--steps", "2", "--width", "64", "--height",
          "64"]
    r1 = runner.invoke(app, ["convert", str(lib), "-o", str(tmp_path / "a"), *sd])
    r2 = runner.invoke(app, ["convert", str(lib), "-o", str(tmp_path / "b"), *sd, *engine])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    r = runner.invoke(app, ["convert", str(lib), "-o", str(tmp_path / "c"), "--image", "sd",
                            "--model", str(tmp_path / "nope"), *engine])
    assert r.exit_code == 3 and r.stderr.count("error:") == 1, r.stderr
    return lib


def test_pool_renders_with_one_pipeline_worker(tmp_path: Path) -> None:
    """--image sd: analysis workers hand their tracks to one render worker (no GPU here),
    and the images equal the sequential run's; a model that cannot load stops the pool run."""
    sd_runs_against_sequential(tmp_path, "-j", "2")
    for i in range(3):
        a, b = tmp_path / "a" / f"t{i}", tmp_path / "b" / f"t{i}"
        assert json.loads((a / "analysis.json").read_text())["image"]["renderer"] == (
            "stable-diffusion")
        for name in ("analysis.json", f"t{i}.png"):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_jobs_option_values() -> None:
    from midi2img.runners import available_cores, parse_jobs

    assert parse_jobs(None) == 1 and parse_jobs("3") == 3
    assert parse_jobs("auto") == available_cores() >= 1
    for bad in ("0", "-2", "many"):
        r = runner.invoke(app, ["convert", "x.mid", "--jobs", bad])
        assert r.exit_code == 2 and "--jobs" in r.stderr
