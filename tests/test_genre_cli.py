"""``midi2img genre`` sub-commands through typer's CliRunner."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from midi2img.gtzan.model import load_shipped
from typer.testing import CliRunner

from midi2img.cli_genre import app
from midi2img.config import data_dir

GTZAN = data_dir() / "gtzan"
TABLE = GTZAN / "features_30_sec.csv"
runner = CliRunner()


def test_eval_json_matches_the_card() -> None:
    res = runner.invoke(app, ["eval", "--data", str(TABLE), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    card = load_shipped().meta["results"]["test"]
    assert out["split"] == "test" and out["n"] == 290
    assert out["accuracy"] == pytest.approx(card["accuracy"])
    assert out["top3_accuracy"] == pytest.approx(card["top3_accuracy"])
    assert np.array(out["confusion"]).sum() == 290


def test_eval_text_prints_confusion() -> None:
    res = runner.invoke(app, ["eval", "--data", str(TABLE)])
    assert res.exit_code == 0, res.output
    assert "top-3 accuracy" in res.stdout and "confusion" in res.stdout
    assert res.stdout.count("\n") >= 12


def test_predict_a_real_clip() -> None:
    res = runner.invoke(app, ["predict", str(GTZAN / "audio" / "classical.00000.wav"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["probabilities"]) == 10 and out["windows"] == 1
    assert sum(out["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert out["label"] == "classical"


@pytest.mark.parametrize("args, code, message", [
    (["train", "--data", "/nonexistent/gtzan.csv"], 2, "no such file"),
    (["eval", "--data", "/nonexistent/gtzan.csv"], 2, "no such file"),
    (["predict", "/nonexistent/track.wav"], 2, "no such file"),
])
def test_missing_paths(args: list[str], code: int, message: str) -> None:
    res = runner.invoke(app, args)
    assert res.exit_code == code
    assert message in res.stderr and "Traceback" not in res.output


def test_bad_data_folders_and_files(tmp_path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("filename,label\nblues.00000.au,blues\n")
    res = runner.invoke(app, ["train", "--data", str(wrong), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "missing column" in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["eval", "--data", str(empty)])
    assert res.exit_code == 2 and "no GTZAN audio" in res.stderr
    (empty / "polka").mkdir()
    res = runner.invoke(app, ["train", "--data", str(empty), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "unknown genre folder 'polka'" in res.stderr
    assert not (tmp_path / "m").exists()


def test_eval_from_audio_root_without_test_clips(tmp_path) -> None:
    # The 7 shared clips are all in the valid split: from audio, eval has nothing to score.
    root = tmp_path / "root"
    for clip in (GTZAN / "audio").glob("blues.0000[01].wav"):
        (root / "blues").mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / "blues" / clip.name)
    res = runner.invoke(app, ["eval", "--data", str(root)])
    assert res.exit_code == 2 and "test split" in res.stderr


def test_predict_rejects_midi_and_non_audio(tmp_path) -> None:
    midi = tmp_path / "x.mid"
    midi.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0")
    res = runner.invoke(app, ["predict", str(midi)])
    assert res.exit_code == 2 and "MIDI has no audio" in res.stderr
    junk = tmp_path / "x.wav"
    junk.write_bytes(b"not audio at all" * 10)
    res = runner.invoke(app, ["predict", str(junk)])
    assert res.exit_code == 2 and res.stderr.startswith("error: ")


def test_predict_long_track_uses_windows(tmp_path) -> None:
    y, sr = sf.read(GTZAN / "audio" / "blues.00000.wav", dtype="float32")
    track = tmp_path / "long.wav"
    sf.write(track, np.concatenate([y, y[: 12 * sr]]), sr)
    res = runner.invoke(app, ["predict", str(track), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["windows"] == 2


def test_train_reproduces_the_shipped_member(tmp_path) -> None:
    """One member, seed 0, from the table: same weights as the shipped model's member 0."""
    out = tmp_path / "genre"
    res = runner.invoke(app, ["train", "--data", str(TABLE), "--out", str(out),
                              "--members", "1", "--seed", "0"])
    assert res.exit_code == 0, res.output
    assert "test" in res.stdout
    from midi2img.gtzan.model import GenreMLP

    ours, shipped = GenreMLP.load(out), load_shipped()
    for (w, b), (w0, b0) in zip(ours.members[0], shipped.members[0], strict=True):
        np.testing.assert_allclose(w, w0, atol=1e-5)
        np.testing.assert_allclose(b, b0, atol=1e-5)
    assert (out / "MODEL_CARD.md").is_file() and (out / "member0.keras").is_file()
