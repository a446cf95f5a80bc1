"""What a new user hit, trying every documented command on real recordings: one test per defect
(issue "A layout that grows, and every rough edge a new user hit", section 2), numbered as there.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf
from PIL import Image
from typer.testing import CliRunner

from conftest import require_data
from midi2img.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "midi2img.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})}, cwd=cwd)


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def _midi(path: Path) -> Path:
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    inst = pretty_midi.Instrument(0)
    for i in range(8):
        for p in [(48, 60, 64, 67), (41, 60, 65, 69), (43, 59, 62, 67), (48, 60, 64, 67)][i % 4]:
            inst.notes.append(pretty_midi.Note(80, p, i * 1.2, i * 1.2 + 1.1))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


# 1 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask, fmode, dmode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_01_outputs_follow_the_umask(demo_files, tmp_path: Path, umask: int, fmode: int,
                                     dmode: int) -> None:
    mid = _midi(tmp_path / "song.mid")
    old = os.umask(umask)
    try:
        r = runner.invoke(app, ["convert", str(mid), "-o", str(tmp_path / "out"), "--image",
                                "abstract", "--width", "64", "--height", "64"])
        assert r.exit_code == 0, r.output
        t = runner.invoke(app, ["transcribe", str(demo_files[1]), "-o", str(tmp_path / "t.mid")])
        assert t.exit_code == 0, t.output
    finally:
        os.umask(old)
    folder = tmp_path / "out" / "song"
    assert folder.stat().st_mode & 0o777 == dmode
    for f in folder.iterdir():
        assert f.stat().st_mode & 0o777 == fmode, f.name
    assert (tmp_path / "t.mid").stat().st_mode & 0o777 == fmode


# 2 ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_02_non_finite_samples_are_one_line(tmp_path: Path, bad: float) -> None:
    y = (0.3 * np.sin(np.arange(22050 * 3) / 10)).astype(np.float32)
    y[5000] = bad
    p = tmp_path / "bad.wav"
    sf.write(p, y, 22050, subtype="FLOAT")
    r = _cli("keywords", str(p))
    assert r.returncode == 2
    assert _lines(r.stderr) == [f"error: {p}: the audio holds NaN or infinite samples (a broken "
                                f"or non-audio float file)"]


# 3 ---------------------------------------------------------------------------------------------

def test_03_no_decoder_chatter_and_the_path_once(tmp_path: Path) -> None:
    y = (0.3 * np.sin(np.arange(22050 * 4) / 10)).astype(np.float32)
    sf.write(tmp_path / "ok.wav", y, 22050)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "ok.wav"),
                    str(tmp_path / "ok.mp3")], check=True)
    junk = tmp_path / "junk.mp3"  # decodable after a few bytes of garbage: mpg123 complains
    junk.write_bytes(b"garbage" + (tmp_path / "ok.mp3").read_bytes())
    r = _cli("keywords", str(junk), "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and json.loads(r.stdout)["duration_s"] > 3
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00 not really an mp3" * 3)
    r = _cli("keywords", str(fake))
    assert r.returncode == 2 and len(_lines(r.stderr)) == 1, r.stderr
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    r = _cli("convert", str(empty), "-o", str(tmp_path / "out"), "--image", "none")
    assert r.returncode == 2
    assert _lines(r.stderr)[-1].strip() == f"{empty}: the file is empty (0 bytes)"
    assert r.stderr.count(str(empty)) == 1


# 4 ---------------------------------------------------------------------------------------------

def test_04_model_versions_are_recorded(tmp_path: Path) -> None:
    from midi2img.modeling import SHIPPED

    d = json.loads(runner.invoke(app, ["keywords", str(_midi(tmp_path / "a.mid")),
                                       "--json"]).stdout)
    for name in ("genre", "affect"):
        v = d["versions"]["models"][name]
        spec = SHIPPED[name]
        digest = hashlib.sha256()
        for w in spec.weights:
            digest.update((spec.path() / w).read_bytes())
        assert v["sha256"] == digest.hexdigest()[:12]
        assert v["trained"][:2] == "20" and len(v["trained"]) == 10  # an ISO date
    assert d["versions"]["models"]["transcription"].startswith("basic-pitch 0.4.0")


# 5 ---------------------------------------------------------------------------------------------

CONTRACT = ("source", "duration_s", "tempo_bpm", "key", "key_confidence", "chords",
            "progression", "notes", "genre", "affect", "keywords", "prompt", "negative_prompt",
            "versions", "omitted")


def test_05_every_contract_key_is_always_present(demo_analysis, tmp_path: Path) -> None:
    midi = json.loads(runner.invoke(app, ["keywords", str(_midi(tmp_path / "a.mid")),
                                          "--json"]).stdout)
    audio = demo_analysis.to_dict()
    for d in (midi, audio):
        assert all(k in d for k in CONTRACT)
    assert midi["genre"] is None and "MIDI input has no audio" in midi["omitted"]["genre"]
    assert audio["genre"]["label"] and "genre" not in audio["omitted"]


# 6 ---------------------------------------------------------------------------------------------

def test_06_predict_commands_go_through_the_analysis(demo_files, tmp_path: Path) -> None:
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


# 7 ---------------------------------------------------------------------------------------------

def test_07_data_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from midi2img import config
    from midi2img.errors import DataError

    monkeypatch.delenv("MIDI2IMG_DATA", raising=False)
    monkeypatch.setattr(config, "checkout_root", lambda: None)  # as installed from a wheel
    with pytest.raises(DataError, match="MIDI2IMG_DATA=.* or --data"):
        config.data_dir()
    monkeypatch.undo()
    env = {"MIDI2IMG_DATA": str(tmp_path / "nowhere")}
    for args in (("genre", "eval"), ("mood", "eval"), ("mood", "train", "--out", "m"),
                 ("genre", "train", "--out", "m")):
        r = _cli(*args, env=env, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert len(_lines(r.stderr)) == 1 and "MIDI2IMG_DATA" in r.stderr and "--data" in r.stderr
    assert not (tmp_path / "m").exists()
    for group in ("genre", "mood"):  # --out is required by both, --data optional in both
        r = _cli(group, "train", cwd=tmp_path)
        assert r.returncode == 2 and "--out" in r.stderr
        help_text = _cli(group, "train", "--help").stdout
        assert "--data" in help_text and "[required]" in help_text.split("--data")[0]


# 8 ---------------------------------------------------------------------------------------------

def test_08_data_tests_skip_with_a_reason_and_fail_under_ci(tmp_path: Path) -> None:
    env = {**os.environ, "MIDI2IMG_DATA": str(tmp_path / "none"), "CI": ""}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
            str(ROOT / "tests" / "test_gtzan_dataset.py")]
    r = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout
    assert "skipped" in r.stdout and "failed" not in r.stdout
    assert f"needs {tmp_path / 'none' / 'gtzan'}" in r.stdout  # the reason names the path
    r = subprocess.run(args, capture_output=True, text=True, env={**env, "CI": "true"},
                       cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "missing data under CI" in r.stdout


# 9 is the reproducibility of the shipped models: tests/test_mood.py and tests/test_genre_cli.py


# 10 --------------------------------------------------------------------------------------------

def _run_with_tty_stderr(*args: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (as in a shell) and stdout on a pipe."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "midi2img.cli", *args], stdout=subprocess.PIPE,
                            stderr=slave, env={**os.environ, "COLUMNS": "100"})
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode() if proc.stdout else ""
    os.close(master)
    return proc.wait(), out, err.decode(errors="replace")


def test_10_progress_on_a_terminal_never_in_json(demo_files) -> None:
    code, out, err = _run_with_tty_stderr("keywords", str(demo_files[1]), "--json")
    assert code == 0
    assert json.loads(out)["key"] == "C major"  # stdout holds the JSON and nothing else
    assert "transcribing" in err and "demo.wav" in err
    code, out, err = _run_with_tty_stderr("keywords", str(demo_files[1]), "--json", "--quiet")
    assert code == 0 and json.loads(out) and err.strip() == ""


# 11 --------------------------------------------------------------------------------------------

def test_11_one_exit_code_per_cause(demo_files, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "t.mid"
    out.write_bytes(b"earlier")
    r = runner.invoke(app, ["transcribe", str(demo_files[1]), "-o", str(out)])
    assert r.exit_code == 4 and "--force" in r.stderr and out.read_bytes() == b"earlier"
    assert runner.invoke(app, ["demo", "-o", str(tmp_path / "d"), "--bars", "1"]).exit_code == 0
    before = (tmp_path / "d" / "demo.wav").read_bytes()
    r = runner.invoke(app, ["demo", "-o", str(tmp_path / "d"), "--bars", "2"])
    assert r.exit_code == 4 and "--force" in r.stderr
    assert (tmp_path / "d" / "demo.wav").read_bytes() == before
    mid = _midi(tmp_path / "a.mid")
    messages = set()
    for n in ("0", "1", "-1", "33", "many"):
        r = _cli("convert", str(mid), "-o", str(tmp_path / "o"), "--segments", n)
        assert r.returncode == 2, n
        messages.add(_lines(r.stderr)[0].replace(repr(n), "N").replace(n, "N"))
    assert len(messages) == 1, messages  # one rule, one message
    r = _cli("demo", "-o", str(tmp_path / "sf"), env={"MIDI2IMG_SOUNDFONT": "/no/such.sf2"})
    assert r.returncode == 2 and _lines(r.stderr) == [
        "error: MIDI2IMG_SOUNDFONT=/no/such.sf2: no such soundfont file (unset it to use the "
        "default GM soundfont)"]


# 12 --------------------------------------------------------------------------------------------

def test_12_a_named_model_must_load_and_no_network_fails_fast(tmp_path: Path) -> None:
    mid = _midi(tmp_path / "a.mid")
    r = _cli("convert", str(mid), "-o", str(tmp_path / "o"), "--model", "/no/such/folder")
    assert r.returncode == 3 and len(_lines(r.stderr)) == 1 and "/no/such/folder" in r.stderr
    assert not (tmp_path / "o").exists()
    r = _cli("convert", str(mid), "-o", str(tmp_path / "o"), env={"MIDI2IMG_MODEL": "/no/such"})
    assert r.returncode == 3
    # --image sd with no network: one line, no retries (a closed local port stands for the Hub)
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9",
           "HF_HOME": str(tmp_path / "hf")}
    r = _cli("convert", str(mid), "-o", str(tmp_path / "o"), "--image", "sd", "--model",
             "someone/some-model", env=env, timeout=60)
    assert r.returncode == 3 and len(_lines(r.stderr)) == 1, r.stderr
    assert "cannot be reached" in r.stderr and "Retry" not in r.stderr


# 13 --------------------------------------------------------------------------------------------

def test_13_outputs_are_reproducible_and_private(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    _midi(src / "song.mid")
    for out in ("o1", "o2"):
        r = _cli("convert", "in/song.mid", "-o", out, "--image", "abstract", "--width", "64",
                 "--height", "64", "--segments", "2", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    a, b = tmp_path / "o1" / "song", tmp_path / "o2" / "song"
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and "analysis.json" in names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    d = json.loads((a / "analysis.json").read_text())
    assert d["source"] == "in/song.mid" and "timings_s" not in d
    meta = Image.open(a / "song.png").text
    assert meta["Source"] == "in/song.mid" and "render_s" not in meta["midi2img"]
    assert str(tmp_path) not in (a / "analysis.json").read_text()


# 14 --------------------------------------------------------------------------------------------

def test_14_help_choices_short_help_completion_bare(tmp_path: Path) -> None:
    help_text = _cli("convert", "-h").stdout
    assert "--image <auto|sd|abstract|none>" in help_text
    assert "--style <abstract|album-cover|painting|photo>" in help_text
    assert "--device <auto|cuda|mps|cpu>" in help_text
    bare = _cli()
    assert bare.returncode == 0 and "Commands:" in bare.stdout and "convert" in bare.stdout
    assert "--install-completion" in bare.stdout
    from midi2img.report.text import render_table

    d = json.loads(runner.invoke(app, ["keywords", str(_midi(tmp_path / "a.mid")),
                                       "--json"]).stdout)
    for width in (80, 140):
        table = render_table(d, width=width)
        assert max(len(ln) for ln in table.splitlines()[1:]) <= width
    assert len(render_table(d, width=80).splitlines()) > len(render_table(d, width=140)
                                                               .splitlines())


# 15 --------------------------------------------------------------------------------------------

def test_15_licences_are_stated() -> None:
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == {"file": "LICENSE"}
    from midi2img.modeling import SHIPPED

    genre_card = (SHIPPED["genre"].path() / "MODEL_CARD.md").read_text()
    mood_card = (SHIPPED["affect"].path() / "MODEL_CARD.md").read_text()
    assert "research use" in genre_card and "GTZAN" in genre_card
    assert "CC BY-NC-SA 4.0" in mood_card and "non-commercial" in mood_card


def test_real_recording_through_every_predict_command() -> None:
    """The real recordings a new user tried: each predict command agrees with keywords."""
    track = require_data("audio", "sorohanro_-_solo-trumpet-06.ogg")
    kw = json.loads(_cli("keywords", str(track), "--json").stdout)
    mood = json.loads(_cli("mood", "predict", str(track), "--json").stdout)
    assert mood == kw["affect"]
