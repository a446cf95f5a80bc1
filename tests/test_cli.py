"""The command line (:mod:`midi2img.cli`): help, the JSON contract, outputs, one exit code per
cause and one clear line for every bad input, and predict commands that agree with the analysis."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from typer.testing import CliRunner

from conftest import require_data
from helpers import cadence_midi, nonblank_lines, run_cli
from midi2img.cli import app
from midi2img.demo import PROGRESSION

CONTRACT = {"source", "duration_s", "tempo_bpm", "key", "key_confidence", "chords",
            "progression", "notes", "keywords", "prompt", "negative_prompt", "versions"}
runner = CliRunner()


def test_help_lists_every_command() -> None:
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("keywords", "convert", "transcribe", "demo"):
        assert cmd in r.stdout


def test_keywords_json_contract_on_audio(demo_files) -> None:
    r = runner.invoke(app, ["keywords", str(demo_files[1]), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert CONTRACT <= set(d)
    assert d["key"] == "C major" and d["tempo_source"] == "beats"
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
    r = runner.invoke(app, ["keywords", str(cadence_midi(tmp_path / "a.mid", minor=True))])
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
    r = run_cli("keywords", str(p))
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
    r = run_cli("keywords")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "Missing argument" in r.stderr


def test_bad_option_value(tmp_path: Path) -> None:
    r = runner.invoke(app, ["keywords", str(cadence_midi(tmp_path / "a.mid")), "--onset-threshold",
                            "1.5"])
    assert r.exit_code == 2 and "onset-threshold" in r.stderr


def test_convert_writes_outputs_and_refuses_overwrite(tmp_path: Path) -> None:
    mid = cadence_midi(tmp_path / "song.mid")
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
    good = cadence_midi(tmp_path / "good.mid")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    good2 = cadence_midi(tmp_path / "good2.mid", minor=True)
    out = tmp_path / "out"
    r = runner.invoke(app, ["convert", str(good), str(bad), str(good2), "-o", str(out)])
    assert r.exit_code == 2
    assert (out / "good" / "analysis.json").is_file()
    assert (out / "good2" / "analysis.json").is_file()
    assert not (out / "bad").exists()
    assert "1 of 3 track(s) failed" in r.stderr and "bad.wav" in r.stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no staging left behind"


def test_failed_force_keeps_the_earlier_result(tmp_path: Path) -> None:
    mid = cadence_midi(tmp_path / "song.mid")
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
    # real measures: the key and time signatures heard, each bar's bass note on its downbeat
    assert {k.sharps for k in score.recurse().getElementsByClass(music21.key.KeySignature)} == {0}
    assert {t.ratioString for t in score.recurse().getElementsByClass(music21.meter.TimeSignature)
            } == {"4/4"}
    for bar, (_, (bass, *_)) in enumerate([*PROGRESSION, *PROGRESSION]):
        starts = [float(n.offset) for part in score.parts
                  for n in part.getElementsByClass(music21.stream.Measure)[bar].recurse().notes
                  if bass in [p.midi for p in n.pitches]]
        assert 0.0 in starts, (bar, starts)
    bad = runner.invoke(app, ["transcribe", str(demo_files[1]), "-o", str(tmp_path / "x.pdf")])
    assert bad.exit_code == 2 and ".musicxml" in bad.stderr


def test_predict_commands_go_through_the_analysis(demo_files, tmp_path: Path) -> None:
    """``mood predict`` and ``genre predict`` give what the analysis gives (``keywords``),
    on any format the analysis decodes (here Opus)."""
    opus = tmp_path / "demo.opus"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(demo_files[1]), "-c:a", "libopus",
                    str(opus)], check=True)
    kw = json.loads(runner.invoke(app, ["keywords", str(opus), "--json"]).stdout)
    mood = runner.invoke(app, ["mood", "predict", str(opus), "--json"])
    genre = runner.invoke(app, ["genre", "predict", str(opus), "--json"])
    assert mood.exit_code == 0 and genre.exit_code == 0, mood.output + genre.output
    assert json.loads(mood.stdout) == kw["affect"]
    g = json.loads(genre.stdout)
    assert g["probabilities"] == kw["genre"]["probabilities"] and g["label"] == kw["genre"]["label"]


def test_one_exit_code_per_cause(demo_files, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An output that exists is exit 4 (and kept), a bad value exit 2 with one message
    per rule, a missing soundfont one line naming the variable."""
    out = tmp_path / "t.mid"
    out.write_bytes(b"earlier")
    r = runner.invoke(app, ["transcribe", str(demo_files[1]), "-o", str(out)])
    assert r.exit_code == 4 and "--force" in r.stderr and out.read_bytes() == b"earlier"
    assert runner.invoke(app, ["demo", "-o", str(tmp_path / "d"), "--bars", "1"]).exit_code == 0
    before = (tmp_path / "d" / "demo.wav").read_bytes()
    r = runner.invoke(app, ["demo", "-o", str(tmp_path / "d"), "--bars", "2"])
    assert r.exit_code == 4 and "--force" in r.stderr
    assert (tmp_path / "d" / "demo.wav").read_bytes() == before
    mid = cadence_midi(tmp_path / "a.mid")
    messages = set()
    for n in ("0", "1", "-1", "33", "many"):
        r = run_cli("convert", str(mid), "-o", str(tmp_path / "o"), "--segments", n)
        assert r.returncode == 2, n
        messages.add(nonblank_lines(r.stderr)[0].replace(repr(n), "N").replace(n, "N"))
    assert len(messages) == 1, messages  # one rule, one message
    r = run_cli("demo", "-o", str(tmp_path / "sf"), env={"MIDI2IMG_SOUNDFONT": "/no/such.sf2"})
    assert r.returncode == 2 and nonblank_lines(r.stderr) == [
        "error: MIDI2IMG_SOUNDFONT=/no/such.sf2: no such soundfont file (unset it to use the "
        "default GM soundfont)"]


def test_help_choices_short_help_completion_bare(tmp_path: Path) -> None:
    """``-h`` shows each option's choices, a bare ``midi2img`` lists the commands (with
    shell completion), and the keyword table fits the terminal's width."""
    help_text = run_cli("convert", "-h").stdout
    assert "--image <auto|sd|abstract|none>" in help_text
    assert "--style <abstract|album-cover|painting|photo|FILE.toml>" in help_text
    assert "--device <auto|cuda|mps|cpu>" in help_text
    assert "--add-keyword <word>" in help_text and "--exclude-keyword <word>" in help_text
    assert "--clip-model <auto|none|ID|FOLDER>" in help_text
    bare = run_cli()
    assert bare.returncode == 0 and "Commands:" in bare.stdout and "convert" in bare.stdout
    assert "--install-completion" in bare.stdout
    from midi2img.report.text import render_table

    d = json.loads(runner.invoke(app, ["keywords", str(cadence_midi(tmp_path / "a.mid")),
                                       "--json"]).stdout)
    for width in (80, 140):
        table = render_table(d, width=width)
        assert max(len(ln) for ln in table.splitlines()[1:]) <= width
    assert len(render_table(d, width=80).splitlines()) > len(render_table(d, width=140)
                                                               .splitlines())


def test_real_recording_through_every_predict_command() -> None:
    """A real recording: ``mood predict`` gives the affect that ``keywords`` reports."""
    track = require_data("audio", "sorohanro_-_solo-trumpet-06.ogg")
    kw = json.loads(run_cli("keywords", str(track), "--json").stdout)
    mood = json.loads(run_cli("mood", "predict", str(track), "--json").stdout)
    assert mood == kw["affect"]
