"""Mood (valence-arousal) model: mapping, data loaders, shipped model, CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
from typer.testing import CliRunner

from midi2img import affect_data
from midi2img.config import data_dir
from midi2img.features import extract
from midi2img.mood import (
    WEIGHTS_FILE,
    AffectEstimate,
    MoodModel,
    default_model_dir,
    load_default,
    quadrant_of,
    quadrant_targets,
)
from midi2img.mood_features import FEATURE_NAMES, mood_features
from midi2img.notes import notes_from_pretty_midi

DATA = data_dir()
needs_data = pytest.mark.skipif(not (DATA / "emopia" / "midis.zip").is_file(),
                                reason="shared data folder not available")


# ------------------------------------------------------------------ quadrant mapping

@pytest.mark.parametrize("q, v, a", [("Q1", 1.0, 1.0), ("Q2", -1.0, 1.0), ("Q3", -1.0, -1.0),
                                     ("Q4", 1.0, -1.0)])
def test_quadrant_targets_follow_russell(q: str, v: float, a: float) -> None:
    assert quadrant_targets(q) == (v, a)
    assert quadrant_of(v, a) == q
    assert quadrant_of(0.3 * v, 0.2 * a) == q


def test_unknown_quadrant_raises() -> None:
    with pytest.raises(ValueError):
        quadrant_targets("Q5")


# ------------------------------------------------------------------ data loaders

@needs_data
def test_emopia_loader_counts_and_targets() -> None:
    clips = affect_data.emopia_clips(DATA)
    counts = {s: sum(c.split == s for c in clips) for s in ("train", "val", "test")}
    assert counts == {"train": 767, "val": 198, "test": 86}
    for c in clips:
        assert c.clip_id.split("/")[1].startswith(c.quadrant + "_")
        assert (c.valence, c.arousal) == quadrant_targets(c.quadrant)
    # song-disjoint official split
    songs = {s: {c.group for c in clips if c.split == s} for s in ("train", "val", "test")}
    assert not songs["train"] & songs["test"] and not songs["val"] & songs["test"]
    clip, notes = next(affect_data.iter_notes(clips[:1], DATA))
    assert len(notes) > 10 and notes.tempo_bpm is None  # 120-BPM default tempo ignored


@needs_data
def test_vgmidi_loader_split_is_piece_disjoint_and_seeded() -> None:
    targets = affect_data.vgmidi_targets(DATA)
    assert len(targets) == 200
    v, a, n = targets["Banjo-Kazooie_N64_Banjo-Kazooie_Boggys Igloo Happy.mid"]
    assert n >= 25 and -1 <= v <= 1 and -1 <= a <= 1
    split = affect_data.make_vgmidi_split(list(targets), seed=0)
    assert split == affect_data.make_vgmidi_split(list(targets), seed=0)
    groups: dict[str, set[str]] = {}
    for m, s in split.items():
        groups.setdefault(affect_data.vgmidi_group(m), set()).add(s)
    assert all(len(s) == 1 for s in groups.values())
    shipped = json.loads((default_model_dir() / "vgmidi_split.json").read_text())
    assert shipped == split
    assert affect_data.validate(DATA) == []


def test_missing_data_folder_is_a_data_error(tmp_path: Path) -> None:
    from midi2img.errors import DataError

    with pytest.raises(DataError):
        affect_data.emopia_clips(tmp_path / "nope")
    with pytest.raises(DataError, match="archive not found"):
        affect_data.emopia_clips(tmp_path)


# ------------------------------------------------------------------ shipped model

def test_shipped_model_loads_without_pickle_and_predicts_in_range() -> None:
    folder = default_model_dir()
    with (folder / WEIGHTS_FILE).open("rb") as fh, np.load(fh, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    model = load_default()
    assert isinstance(model, MoodModel) and load_default() is model  # cached
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, len(FEATURE_NAMES))) * 50
    s = model.scores(X)
    assert s.shape == (50, 2) and np.all(np.abs(s) <= 1.0)


def _clip(*, major: bool, fast: bool, loud: bool, staccato: bool) -> pretty_midi.PrettyMIDI:
    """Eight bars of I-IV-V-I (major, melody rising) or i-iv-v-i (natural minor, melody
    falling): diatonic block triads in the tenor under a one-octave melody from middle C/A."""
    tempo = 160.0 if fast else 60.0
    beat = 60.0 / tempo
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=0)
    scale = [0, 2, 4, 5, 7, 9, 11] if major else [0, 2, 3, 5, 7, 8, 10]
    tonic = 48 if major else 45  # C3 / A2
    vel = 110 if loud else 40
    per_beat = 2 if fast else 1
    t = 0.0
    for bar in range(8):
        deg = [0, 3, 4, 0][bar % 4]
        chord = [tonic + scale[(deg + k) % 7] + 12 * ((deg + k) // 7) for k in (0, 2, 4)]
        for b in range(4):
            on = t + b * beat
            for p in chord:
                inst.notes.append(pretty_midi.Note(vel - 10, p, on,
                                                   on + beat * (0.3 if staccato else 1.0)))
            for k in range(per_beat):
                i = (bar * 4 + b) * per_beat + k
                step = beat / per_beat
                mel = tonic + 24 + scale[(i if major else -i) % 7] - (0 if major else 9)
                mon = on + k * step
                inst.notes.append(pretty_midi.Note(vel, mel, mon,
                                                   mon + step * (0.35 if staccato else 1.0)))
        t += 4 * beat
    pm.instruments.append(inst)
    return pm


@pytest.mark.parametrize("kind, quadrant", [("happy", "Q1"), ("sad", "Q3")])
def test_synthetic_happy_and_sad_clips(kind: str, quadrant: str) -> None:
    happy = kind == "happy"
    pm = _clip(major=happy, fast=happy, loud=happy, staccato=happy)
    tempo = pm.get_tempo_changes()[1][0]
    notes = notes_from_pretty_midi(pm, tempo_bpm=float(tempo))
    feats = extract(notes)
    assert feats.key.mode == ("major" if happy else "minor")
    model = load_default()
    assert model is not None
    t0 = time.perf_counter()
    est = model.predict(notes, feats)
    elapsed = time.perf_counter() - t0
    assert isinstance(est, AffectEstimate)
    assert est.quadrant == quadrant, est
    if happy:
        assert est.valence > 0 and est.arousal > 0
    else:
        assert est.valence < 0 and est.arousal < 0
    assert elapsed < 0.5  # milliseconds in practice; generous for a loaded CI machine
    assert mood_features(notes, feats).shape == (len(FEATURE_NAMES),)


def test_model_card_matches_files() -> None:
    card = json.loads((default_model_dir() / "model_card.json").read_text())
    assert card["feature_names"] == list(FEATURE_NAMES)
    test = card["metrics"]["test"]
    assert test["n"] == 86
    # floor: beat Hung et al.'s logistic regression on all three
    assert test["quadrant_accuracy"] > 0.581
    assert test["arousal_accuracy"] > 0.849
    assert test["valence_accuracy"] > 0.651
    md = (default_model_dir() / "MODEL_CARD.md").read_text()
    assert f"{test['quadrant_accuracy']:.3f}" in md
    assert (default_model_dir() / "scatter.png").is_file()


# ------------------------------------------------------------------ CLI

@needs_data
def test_eval_json_equals_model_card(tmp_path: Path) -> None:
    from midi2img.cli_mood import app

    res = CliRunner().invoke(app, ["eval", "--json", "--data", str(DATA),
                                   "--cache", str(tmp_path)])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output.strip().splitlines()[-1])
    card = json.loads((default_model_dir() / "model_card.json").read_text())
    want = card["metrics"]["test"]
    for k in ("quadrant_accuracy", "arousal_accuracy", "valence_accuracy", "n"):
        assert got[k] == pytest.approx(want[k], abs=1e-4)
    for k in ("valence_pearson", "arousal_pearson"):
        assert got["vgmidi"][k] == pytest.approx(want["vgmidi"][k], abs=1e-4)


def test_cli_predict_and_errors(tmp_path: Path) -> None:
    from midi2img.cli_mood import app

    path = tmp_path / "happy.mid"
    _clip(major=True, fast=True, loud=True, staccato=True).write(str(path))
    runner = CliRunner()
    res = runner.invoke(app, ["predict", str(path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["quadrant"] == "Q1" and -1 <= out["valence"] <= 1
    res = runner.invoke(app, ["predict", str(tmp_path / "missing.mid")])
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "error:" in res.output
