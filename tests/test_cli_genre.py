"""``midi2img genre`` sub-commands through typer's CliRunner (the root app, as users run it)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from conftest import require_data
from midi2img.cli import app
from midi2img.modeling import EvalResult, load_shipped

runner = CliRunner()


def _genre(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["genre", *args])


def test_eval_json_matches_the_card() -> None:
    res = _genre("eval", "--data", str(require_data("gtzan")), "--json")
    assert res.exit_code == 0, res.output
    (out,) = [EvalResult.from_dict(d) for d in json.loads(res.stdout)]
    card = load_shipped("genre").card.result("gtzan", "test")
    assert (out.task, out.dataset, out.split, out.n) == ("genre", "gtzan", "test", 290)
    assert out["accuracy"] == pytest.approx(card["accuracy"], abs=1e-4)
    assert out["top3_accuracy"] == pytest.approx(card["top3_accuracy"], abs=1e-4)
    assert np.array(out.confusion).sum() == 290


def test_eval_text_prints_confusion() -> None:
    res = _genre("eval", "--data", str(require_data("gtzan")))
    assert res.exit_code == 0, res.output
    assert "top-3 accuracy" in res.stdout and "confusion" in res.stdout
    assert res.stdout.count("\n") >= 12


def test_predict_a_real_clip() -> None:
    clip = require_data("gtzan", "audio", "classical.00000.wav")
    res = _genre("predict", str(clip), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out["probabilities"]) == 10 and out["windows"] == 1
    assert sum(out["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert out["label"] == "classical"


@pytest.mark.parametrize("args, code, message", [
    (["train", "--data", "/nonexistent/gtzan.csv", "--out", "{tmp}/x"], 2, "no such file"),
    (["eval", "--data", "/nonexistent/gtzan.csv"], 2, "no such file"),
    (["predict", "/nonexistent/track.wav"], 2, "no such file"),
    (["eval", "--model", "/nonexistent/model"], 3, "no such genre model folder"),
])
def test_missing_paths(args: list[str], code: int, message: str, tmp_path) -> None:
    res = _genre(*(a.format(tmp=tmp_path) for a in args))
    assert res.exit_code == code
    assert message in res.stderr and "Traceback" not in res.output


def test_bad_data_folders_and_files(tmp_path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("filename,label\nblues.00000.au,blues\n")
    res = _genre("train", "--data", str(wrong), "--out", str(tmp_path / "m"))
    assert res.exit_code == 2 and "missing column" in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _genre("eval", "--data", str(empty))
    assert res.exit_code == 2 and "no GTZAN audio" in res.stderr
    (empty / "polka").mkdir()
    res = _genre("train", "--data", str(empty), "--out", str(tmp_path / "m"))
    assert res.exit_code == 2 and "unknown genre folder 'polka'" in res.stderr
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m.*")), "nothing left"


def test_eval_from_audio_root_without_test_clips(tmp_path) -> None:
    # The 7 shared clips are all in the valid split: from audio, eval has nothing to score.
    root = tmp_path / "root"
    for clip in require_data("gtzan", "audio").glob("blues.0000[01].wav"):
        (root / "blues").mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, root / "blues" / clip.name)
    res = _genre("eval", "--data", str(root))
    assert res.exit_code == 2 and "test split" in res.stderr


def test_predict_rejects_midi_and_non_audio(tmp_path) -> None:
    midi = tmp_path / "x.mid"
    midi.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0")
    res = _genre("predict", str(midi))
    assert res.exit_code == 2 and "MIDI has no audio" in res.stderr
    junk = tmp_path / "x.wav"
    junk.write_bytes(b"not audio at all" * 10)
    res = _genre("predict", str(junk))
    assert res.exit_code == 2 and res.stderr.startswith("error: ")


def test_predict_long_track_uses_windows(tmp_path) -> None:
    y, sr = sf.read(require_data("gtzan", "audio", "blues.00000.wav"), dtype="float32")
    track = tmp_path / "long.wav"
    sf.write(track, np.concatenate([y, y[: 12 * sr]]), sr)
    res = _genre("predict", str(track), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["windows"] == 2


#: How close a retraining must come to the shipped model, on any machine. Keras trains in
#: float32 (op determinism, one thread: the same bytes on one machine); another CPU's kernels
#: round differently, so predictions and figures are compared within these bounds:
PROB_TOL = 1e-3  #: largest |difference| of a test clip's genre probability
ITEMS_TOL = 1  #: accuracies: at most this many clips apart
NLL_TOL = 0.01
GRID_STEPS = 1  #: temperature and decision thresholds are picked on grids: one step apart


def test_retraining_reproduces_the_shipped_model(tmp_path) -> None:
    """The full recipe (10 members, cross-validated temperature and decision thresholds) with
    `make train-genre`'s command, from the shared feature table and taggrams."""
    from midi2img.gtzan.train import load_splits
    from midi2img.modeling import load_model, read_card

    table = require_data("gtzan")
    out = tmp_path / "genre"
    res = _genre("train", "--data", str(table), "--out", str(out), "--seed", "0")
    assert res.exit_code == 0, res.output
    assert "test" in res.stdout
    ours, shipped = load_model("genre", out), load_shipped("genre")
    test = load_splits(table, only=("test",))["test"]
    p_ours, p_shipped = ours.predict_proba(test.features), shipped.predict_proba(test.features)
    assert np.abs(p_ours - p_shipped).max() <= PROB_TOL
    agree = p_ours.argmax(axis=1) == p_shipped.argmax(axis=1)
    assert agree.sum() >= len(agree) - ITEMS_TOL
    assert abs(np.log(ours.temperature / shipped.temperature)) <= GRID_STEPS * np.log(20) / 120 \
        + 1e-9
    assert ours.decision is not None and shipped.decision is not None
    for k, v in shipped.decision.items():
        assert ours.decision[k] == pytest.approx(v, abs=GRID_STEPS * 0.01 + 1e-9), k
    card, want = read_card(out), shipped.card
    for r in card.results:
        w = want.result(r.dataset, r.split)
        assert r.n == w.n
        assert r["accuracy"] == pytest.approx(w["accuracy"], abs=ITEMS_TOL / r.n + 1e-4)
        assert r["top3_accuracy"] == pytest.approx(w["top3_accuracy"],
                                                   abs=ITEMS_TOL / r.n + 1e-4)
        assert r["nll"] == pytest.approx(w["nll"], abs=NLL_TOL)
    assert (card.config, card.data, card.licence) == (want.config, want.data, want.licence)
    assert (out / "MODEL_CARD.md").read_text() == card.markdown()
    assert (out / "confusion_test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # an existing model folder is never replaced without --force
    before = (out / "genre_mlp.npz").read_bytes()
    res = _genre("train", "--data", str(table), "--out", str(out), "--members", "1")
    assert res.exit_code == 4 and "--force" in res.stderr
    assert (out / "genre_mlp.npz").read_bytes() == before


def test_train_needs_an_out_folder() -> None:
    res = _genre("train")
    assert res.exit_code == 2 and "--out" in res.output
