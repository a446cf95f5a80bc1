"""The CLI: the JSON contract, outputs, and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from typer.testing import CliRunner

from midi2img.cli import app

CONTRACT = {"source", "duration_s", "tempo_bpm", "key", "key_confidence", "chords",
            "progression", "notes", "keywords", "prompt", "negative_prompt", "versions"}
runner = CliRunner()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "midi2img.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def _midi(path: Path, *, minor: bool = False) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    inst = pretty_midi.Instrument(0)
    chords = ([(45, 57, 60, 64), (50, 57, 62, 65), (40, 56, 59, 64), (45, 57, 60, 64)] if minor
              else [(48, 60, 64, 67), (41, 60, 65, 69), (43, 59, 62, 67), (48, 60, 64, 67)])
    for i in range(8):
        for p in chords[i % 4]:
            inst.notes.append(pretty_midi.Note(80, p, i * 1.2, i * 1.2 + 1.1))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def test_help_lists_every_command() -> None:
    r = _cli("--help")
    assert r.returncode == 0
    for cmd in ("keywords", "convert", "transcribe", "demo"):
        assert cmd in r.stdout


def test_keywords_json_contract_on_audio(demo_files) -> None:
    r = runner.invoke(app, ["keywords", str(demo_files[1]), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert CONTRACT <= set(d)
    assert d["key"] == "C major" and d["tempo_source"] == "audio"
    assert all({"start_s", "end_s", "label"} == set(c) for c in d["chords"])
    assert {"count", "density_per_s", "pitch_low", "pitch_high", "mean_velocity"} <= set(
        d["notes"])
    assert d["keywords"] and all(k["because"] and 0 < k["weight"] <= 1 for k in d["keywords"])
    assert d["prompt_tokens"] <= 77
    assert d["versions"]["midi2img"]
    # the shipped genre network and valence-arousal model fill their keys
    probs = d["genre"]["probabilities"]
    assert len(probs) == 10 and abs(sum(probs.values()) - 1) < 1e-6
    assert d["genre"]["label"] == max(probs, key=probs.get)
    assert d["genre"]["decision"] in ("confident", "blend", "silent")
    assert -1 <= d["affect"]["valence"] <= 1 and -1 <= d["affect"]["arousal"] <= 1
    assert d["affect"]["quadrant"] in ("Q1", "Q2", "Q3", "Q4")
    mood_words = {k["keyword"] for k in d["keywords"] if k["rule"].startswith("affect-")}
    assert all(k["rule"] == f"affect-{d['affect']['quadrant']}" for k in d["keywords"]
               if k["rule"].startswith("affect-")) and mood_words


def test_genre_in_analysis_matches_genre_predict(demo_files, demo_analysis) -> None:
    from midi2img.audio import load
    from midi2img.gtzan.model import GtzanScorer
    from midi2img.modeling import load_shipped

    direct = GtzanScorer(load_shipped("genre")).score_audio(load(demo_files[1]), 22050)
    assert demo_analysis.genre is not None
    assert demo_analysis.genre.label == direct.label
    for g, p in direct.probabilities.items():
        assert abs(demo_analysis.genre.probabilities[g] - p) < 0.02


def test_keywords_table_on_midi(tmp_path: Path) -> None:
    r = runner.invoke(app, ["keywords", str(_midi(tmp_path / "a.mid", minor=True))])
    assert r.exit_code == 0, r.output
    assert "A minor" in r.stdout and "KEYWORDS" in r.stdout and "PROMPT" in r.stdout
    assert "confidence" in r.stdout and "symbolic model" in r.stdout
    d = json.loads(runner.invoke(app, ["keywords", str(tmp_path / "a.mid"), "--json"]).stdout)
    moods = [k for k in d["keywords"] if k["kind"] == "mood"]
    # one story: every mood word from the estimate's quadrant, with the cues as evidence
    assert all(k["rule"] == f"affect-{d['affect']['quadrant']}" for k in moods)
    assert all("mode = minor" in k["because"] for k in moods)


def test_zero_byte_wav_exit_2_one_line(tmp_path: Path) -> None:
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    r = _cli("keywords", str(p))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "empty" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("case", ["missing", "text", "short", "silent", "badmidi"])
def test_bad_inputs_one_line(tmp_path: Path, case: str) -> None:
    p = tmp_path / ("x.mid" if case == "badmidi" else "x.wav")
    if case == "text":
        p.write_text("not audio at all\n" * 100)
    elif case == "short":
        sf.write(p, np.zeros(4000, dtype=np.float32) + 0.1, 22050)
    elif case == "silent":
        sf.write(p, np.zeros(22050 * 3, dtype=np.float32), 22050)
    elif case == "badmidi":
        p.write_bytes(b"MThd garbage that is not midi")
    r = runner.invoke(app, ["keywords", str(p)])
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_usage_error_is_one_line() -> None:
    r = _cli("keywords")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Missing argument" in r.stderr


def test_bad_option_value(tmp_path: Path) -> None:
    r = runner.invoke(app, ["keywords", str(_midi(tmp_path / "a.mid")), "--onset-threshold",
                            "1.5"])
    assert r.exit_code == 2 and "onset-threshold" in r.stderr


def test_convert_writes_outputs_and_refuses_overwrite(tmp_path: Path) -> None:
    mid = _midi(tmp_path / "song.mid")
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(mid), "-o", str(out)])
    assert r.exit_code == 0, r.output
    folder = out / "song"
    assert {"song.mid", "analysis.json", "prompt.txt"} <= {p.name for p in folder.iterdir()}
    d = json.loads((folder / "analysis.json").read_text())
    assert CONTRACT <= set(d) and d["key"] == "C major"
    assert (folder / "prompt.txt").read_text().startswith(d["prompt"])
    assert len(pretty_midi.PrettyMIDI(str(folder / "song.mid")).instruments[0].notes) == 32
    before = (folder / "analysis.json").read_bytes()
    r = runner.invoke(app, ["convert", str(mid), "-o", str(out)])
    assert r.exit_code != 0 and "--force" in r.stderr
    assert (folder / "analysis.json").read_bytes() == before
    r = runner.invoke(app, ["convert", str(mid), "-o", str(out), "--force", "--style", "photo"])
    assert r.exit_code == 0, r.output
    assert "cinematic photograph" in (folder / "prompt.txt").read_text()


def test_convert_carries_on_past_a_bad_file(tmp_path: Path) -> None:
    good = _midi(tmp_path / "good.mid")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    good2 = _midi(tmp_path / "good2.mid", minor=True)
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(good), str(bad), str(good2), "-o", str(out)])
    assert r.exit_code == 2
    assert (out / "good" / "analysis.json").is_file()
    assert (out / "good2" / "analysis.json").is_file()
    assert not (out / "bad").exists()
    assert "1 of 3 track(s) failed" in r.stderr and "bad.wav" in r.stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no staging left behind"


def test_failed_force_keeps_the_earlier_result(tmp_path: Path) -> None:
    mid = _midi(tmp_path / "song.mid")
    out = tmp_path / "out"
    assert runner.invoke(app, ["convert", str(mid), "-o", str(out)]).exit_code == 0
    before = (out / "song" / "analysis.json").read_bytes()
    mid.write_bytes(b"corrupted")
    r = runner.invoke(app, ["convert", str(mid), "-o", str(out), "--force"])
    assert r.exit_code == 2
    assert (out / "song" / "analysis.json").read_bytes() == before


def test_transcribe_command(demo_files, tmp_path: Path) -> None:
    out = tmp_path / "t.mid"
    r = runner.invoke(app, ["transcribe", str(demo_files[1]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    pm = pretty_midi.PrettyMIDI(str(out))
    assert len(pm.instruments[0].notes) > 50
    r = runner.invoke(app, ["transcribe", str(demo_files[1]), "-o", str(out)])
    assert r.exit_code == 4 and "--force" in r.stderr


def test_transcribe_to_musicxml(demo_files, tmp_path: Path) -> None:
    """A score that notation programs open: music21 reads it back with the demo's pitches."""
    import music21

    out = tmp_path / "score.musicxml"
    r = runner.invoke(app, ["transcribe", str(demo_files[1]), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes().startswith(b"<?xml") and b"score-partwise" in out.read_bytes()
    score = music21.converter.parse(str(out))
    pitches = {p.midi for p in score.pitches}
    assert {48, 60, 64, 67, 43, 59, 62, 45, 69, 41, 65} <= pitches  # the demo's chord tones
    marks = list(score.recurse().getElementsByClass(music21.tempo.MetronomeMark))
    assert marks and abs(marks[0].number - 120) < 2  # the tempo measured from the audio
    assert "C major" in str(score.analyze("key"))
    bad = runner.invoke(app, ["transcribe", str(demo_files[1]), "-o", str(tmp_path / "x.pdf")])
    assert bad.exit_code == 2 and ".musicxml" in bad.stderr
