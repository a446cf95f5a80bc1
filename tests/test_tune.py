"""midi2img.tune and ``midi2img tune``: on tiny data built here, the measurements choose the
thresholds, floors and section length one can work out by hand, and the commands write files the
package's loaders read, refusing to replace them without --force."""

from __future__ import annotations

import csv
import json
import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from midi2img.cli import app
from midi2img.rules import parse_genre_floors
from midi2img.tag_rules import known_tags, parse_tag_rules
from midi2img.tune import corpus as tc
from midi2img.tune import genre_floors, sections, tags

LOW, HIGH = 0.015, 0.87  # tag probabilities away from every grid point


def _probs(n: int, set_: dict[str, list[float]] | None = None, *, dtype: Any = np.float64
           ) -> dict[str, np.ndarray]:
    """``(n, 50)`` MSD and MTT rows at LOW, with the columns named in ``set_``
    (``"tagger:tag"`` -> n values) filled in."""
    names = known_tags()
    out = {t: np.full((n, len(names[t])), LOW, dtype=dtype) for t in ("msd", "mtt")}
    for name, values in (set_ or {}).items():
        tagger, _, tag = name.partition(":")
        out[tagger][:, names[tagger].index(tag)] = values
    return out


# ---- tags: the threshold search -------------------------------------------------------------


def test_tune_picks_the_strictest_perfect_threshold_and_scores_it_held_out() -> None:
    """Four pieces, one positive and one negative render each; one positive is weak (0.63).
    On all data every threshold in (0.3, 0.63] separates perfectly: the strictest grid value is
    0.6. Held out, the weak piece gets 0.8 (chosen on the other three) and misses: 3 of 4
    found, none wrong."""
    pos = np.array([True, False] * 4)
    data = tags.Dataset("renders", _probs(8, {"mtt:piano": [0.83, 0.3, 0.83, 0.3, 0.83, 0.3,
                                                             0.63, 0.3]}),
                        pos, np.repeat(["a", "b", "c", "d"], 2), "")
    t = tags.tune({"id": "piano", "when": ["mtt:piano"]}, data)
    assert t.thresholds == {"mtt:piano": 0.6}
    assert (t.tp, t.fp, t.fn, t.positives, t.negatives, t.groups) == (3, 0, 1, 4, 4, 4)
    assert t.cv_precision == 1.0 and t.cv_recall == 0.75
    assert t.cv_f == pytest.approx(1.25 * 3 / (1.25 * 3 + 0.25 * 1))
    assert t.render_optimum is None and t.guard == ""
    # a real clip where the instrument is implausible scores 0.7: thresholds that fire on it
    # are not allowed, so the strictest perfect one above it is chosen instead
    guard = _probs(1, {"mtt:piano": [0.7]})
    g = tags.tune({"id": "piano", "when": ["mtt:piano"]}, data, guard)
    assert g.thresholds == {"mtt:piano": 0.8} and g.render_optimum == {"mtt:piano": 0.6}
    assert (g.tp, g.fp, g.fn) == (3, 0, 1)
    assert g.guard == ("render optimum mtt:piano 0.6 fired on 100.0% of implausible real clips; "
                       "chosen 0.0%")


def test_tune_with_unless_takes_the_lowest_separating_unless_threshold() -> None:
    """A guitar that raises 'piano' is told apart by 'guitar' (0.55 against LOW): the strictest
    pair is piano >= 0.85 (under the positives' 0.87) and guitar < 0.02 (just over LOW)."""
    piano = [HIGH, HIGH, 0.3] * 3
    guitar = [LOW, 0.55, LOW] * 3
    data = tags.Dataset("renders", _probs(9, {"mtt:piano": piano, "mtt:guitar": guitar}),
                        np.array([True, False, False] * 3), np.repeat(["a", "b", "c"], 3), "")
    t = tags.tune({"id": "piano", "when": ["mtt:piano"], "unless": ["mtt:guitar"]}, data)
    assert t.thresholds == {"mtt:piano": 0.85, "mtt:guitar": 0.02}
    assert (t.tp, t.fp, t.fn) == (3, 0, 0) and t.cv_precision == 1.0


def test_tune_group_names_one_era_per_clip() -> None:
    """Decade tags at 0.5 on their own decade and 0.1 elsewhere: both thresholds go to 0.5 (the
    strictest that names every clip), and the group decision is right on every clip."""
    labels = np.array(["60s", "70s", "80s"] * 4)
    p60 = np.where(labels == "60s", 0.5, 0.1)
    p70 = np.where(labels == "70s", 0.5, 0.1)
    rules = [{"id": "era-60s", "when": ["msd:60s"]}, {"id": "era-70s", "when": ["msd:70s"]}]
    out = tags.tune_group(rules, _probs(12, {"msd:60s": list(p60), "msd:70s": list(p70)}),
                          labels, ["60s", "70s"], np.array([f"a{i % 4}" for i in range(12)]),
                          "gtzan-era")
    assert out["era-60s"].thresholds == {"msd:60s": 0.5}
    assert out["era-70s"].thresholds == {"msd:70s": 0.5}
    assert (out["era-60s"].tp, out["era-60s"].fp, out["era-60s"].fn) == (4, 0, 0)
    assert out["era-60s"].negatives == 8 and out["era-60s"].group_precision == 1.0
    assert out["era-60s"].notes == ("group decision held out: precision 1.00, recall 1.00 "
                                    "over 2 rules",)


def test_thresholds_toml_loads_with_the_rules() -> None:
    t = tags.Tuned("flute", {"mtt:flute": 0.85}, "renders", 0.9, 0.5, 0.77, 9, 1, 9, 18, 100, 3,
                   render_optimum={"mtt:flute": 0.6}, guard="g")
    text = tags.thresholds_toml({"flute": t})
    assert text.startswith("# Measured thresholds of the tag keyword rules")
    assert "# Written by `midi2img tune tags` (`make tune-tags`)" in text
    rules = {"rule": [{"id": "flute", "keyword": "flute", "kind": "subject", "weight": 0.9,
                       "when": ["mtt:flute"], "source": "test"}]}
    book = parse_tag_rules(rules, tomllib.loads(text))
    (rule,) = book.rules
    assert rule.when[0].threshold == 0.85
    assert rule.basis == ("F0.5-best on GM renders of 18 pieces, leave-one-piece-out, kept "
                          "silent on real music where implausible: held-out precision 0.90, "
                          "recall 0.50")


# ---- tags: the command on a synthetic corpus ------------------------------------------------

#: A perfect tagger: the tags each instrument of a render raises to HIGH.
_INSTRUMENT_TAGS: dict[str, tuple[str, ...]] = {
    **{n: ("mtt:piano",) for n in ("piano", "bright piano", "electric piano")},
    "harpsichord": ("mtt:harpsichord",),
    **{n: ("mtt:guitar", "msd:acoustic") for n in ("nylon guitar", "steel guitar")},
    **{n: ("mtt:guitar", "mtt:rock") for n in ("clean electric guitar", "overdriven guitar",
                                               "distortion guitar")},
    "violin": ("mtt:violin", "mtt:strings"), "cello": ("mtt:cello", "mtt:strings"),
    **{n: ("mtt:strings",) for n in ("viola", "contrabass", "tremolo strings",
                                      "pizzicato strings", "string ensemble", "slow strings")},
    "flute": ("mtt:flute",), "piccolo": ("mtt:flute",), "choir": ("mtt:choir",),
    "drums": ("mtt:drums",), "sitar": ("mtt:sitar",),
    **{n: ("mtt:synth",) for n in ("square lead", "saw lead", "new age pad", "polysynth",
                                    "synth brass")},
}
_VOICE_TAGS = {"female": ("msd:female vocalists",), "male": ("mtt:male",),
               "instrumental": ("msd:instrumental",)}
_DECADES = ("60s", "70s", "80s", "90s", "00s")


def _rows(tag_sets: list[tuple[str, ...]]) -> dict[str, np.ndarray]:
    names = known_tags()
    out = {t: np.full((len(tag_sets), 50), LOW, dtype=np.float32) for t in ("msd", "mtt")}
    for i, ts in enumerate(tag_sets):
        for name in ts:
            tagger, _, tag = name.partition(":")
            out[tagger][i, names[tagger].index(tag)] = HIGH
    return out


def _fake_tag_corpora(monkeypatch: pytest.MonkeyPatch, labels: Path) -> None:
    """Renders of three pieces, five real recordings and 24 emotion4q clips, 30 GTZAN clips,
    all tagged by a perfect tagger, and their label tables in ``labels``."""
    plan = tc.render_plan([tc.Source(s, ()) for s in ("vgmidi:a", "vgmidi:b", "emopia:c")])
    rprobs = _rows([tuple(t for i in p["instruments"] for t in _INSTRUMENT_TAGS.get(i, ()))
                    for p in plan])
    voices = ["female", "male", "instrumental"]
    real = [{"corpus": "recordings", "file": f"audio/r{i}.ogg", "artist": f"r{i}", "genres": ""}
            for i in range(2)]
    real += [{"corpus": "emotion4q", "file": f"emotion4q/e{i}.ogg", "artist": f"e{i}",
              "genres": "Rap" if i % 2 else "Pop/Rock"} for i in range(24)]
    real_probs = _rows([() if it["corpus"] == "recordings" else _VOICE_TAGS[voices[k % 3]]
                        for k, it in enumerate(real)])
    g_items = [{"clip": f"pop.{i:05d}", "genre": "pop", "artist": f"g{i}", "title": "",
                "split": "training"} for i in range(30)]
    g_probs = _rows([_VOICE_TAGS[voices[i % 3]] + (f"msd:{_DECADES[i % 5]}",)
                     for i in range(30)])["msd"]
    monkeypatch.setattr(tc, "tag_renders", lambda data, work, log: (plan, rprobs))
    monkeypatch.setattr(tc, "tag_real", lambda data, work, log: (real, real_probs))
    monkeypatch.setattr(tc, "gtzan_taggrams", lambda data: (g_items, g_probs))
    labels.mkdir()
    with (labels / "gtzan_artists.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        fh.write("# a comment line\n")
        w.writerow(["artist", "title", "voice", "decade"])
        w.writerows([f"g{i}", "", voices[i % 3], _DECADES[i % 5]] for i in range(30))
    with (labels / "emotion4q_artists.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["artist", "voice"])
        w.writerows([it["artist"], voices[k % 3]] for k, it in enumerate(real)
                    if it["corpus"] == "emotion4q")


def _data_folder(root: Path) -> Path:
    """A data folder holding the entries the commands check for (contents faked here)."""
    for d in ("vgmidi/midi", "audio", "emotion4q/audio", "gtzan/musicnn"):
        (root / d).mkdir(parents=True)
    for f in ("emopia/midis.zip", "emotion4q/metadata.csv", "gtzan/GTZANindex.txt"):
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text("")
    return root


def test_tune_tags_command_writes_thresholds_the_rules_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tag_corpora(monkeypatch, tmp_path / "labels")
    data = _data_folder(tmp_path / "data")
    out, report = tmp_path / "thr.toml", tmp_path / "tags.md"
    args = ["tune", "tags", "--data", str(data), "--labels", str(tmp_path / "labels"),
            "--cache", str(tmp_path / "cache"), "--out", str(out), "--report", str(report)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    rules = tomllib.loads((resources.files("midi2img.keywords") / "tags.toml")
                          .read_text(encoding="utf-8"))
    book = parse_tag_rules(rules, tomllib.loads(out.read_text()))
    thr = {r.id: {c.name: c.threshold for c in r.when + r.unless} for r in book.rules}
    # positives at HIGH (0.87), everything else at LOW (0.015): the strictest separating
    # thresholds are 0.85 for `when` tags and 0.02 for `unless` tags
    assert thr["flute"] == {"mtt:flute": 0.85}
    assert thr["harpsichord"] == {"mtt:harpsichord": 0.85, "mtt:guitar": 0.02}
    assert thr["female-singer"] == {"msd:female vocalists": 0.85}
    assert thr["male-singer"] == {"mtt:male": 0.85, "mtt:choir": 0.02}
    # a flute or piccolo alone, flute + piano, acoustic guitar + flute: 4 of each piece's
    # renders; the recorder and the pan flute count neither way
    measured = tomllib.loads(out.read_text())["rule"]["flute"]
    assert (measured["cv_precision"], measured["tp"], measured["fp"]) == (1.0, 12, 0)
    negatives = 3 * (len(tc.SOLO) + len(tc.MIXES) - 4 - 2)
    assert measured["negatives"] == negatives
    text = report.read_text()
    assert text.startswith("# Tag keyword thresholds (instruments, voice, era)")
    assert (f"| flute | flute | `mtt:flute` >= 0.85 | renders (12+/{negatives}-, 3 groups) | "
            "1.00 | 1.00 |") in text
    # never replaced without --force
    before = out.read_text()
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 4 and "exists (pass --force to replace it)" in r.output
    assert out.read_text() == before
    assert CliRunner().invoke(app, [*args, "--force"]).exit_code == 0


# ---- genre floors ---------------------------------------------------------------------------


def test_genre_floor_measure_rules() -> None:
    """A genre right too seldom held out gets no imagery; one right often enough keeps the
    model's threshold; one with too few recordings to judge keeps it."""
    rows = []
    for i in range(40):  # blues: right 1 time in 4 at every probability
        rows.append({"artist": f"b{i}", "group": f"b{i}", "genre": "blues", "p": 0.7 + 0.007 * i,
                     "right": i % 4 == 0, "allmusic": "Folk"})
    for i in range(40):  # rock: right 9 times in 10
        rows.append({"artist": f"r{i}", "group": f"r{i}", "genre": "rock", "p": 0.65 + 0.008 * i,
                     "right": i % 10 != 0, "allmusic": "Pop/Rock"})
    for i in range(5):  # disco: five recordings, all wrong, too few to overrule the model
        rows.append({"artist": f"d{i}", "group": f"d{i}", "genre": "disco", "p": 0.9,
                     "right": False, "allmusic": "Jazz"})
    m = genre_floors.measure(rows, 0.62)
    assert math.isinf(m["blues"]["floor"])
    assert (m["blues"]["before_right"], m["blues"]["before_fired"]) == (10, 40)
    assert m["rock"]["floor"] == 0.62 and m["rock"]["held_fired"] == 40
    assert m["disco"]["floor"] == 0.62 and m["disco"]["before_fired"] == 5
    floors, _ = parse_genre_floors(tomllib.loads(genre_floors.floors_toml(m, 0.62)))
    assert math.isinf(floors["blues"]) and floors["rock"] == 0.62


def test_genre_floor_rises_to_where_the_imagery_is_right() -> None:
    """Jazz imagery wrong at p = 0.65 (10 recordings) and right at 0.85 (10): the floor is 0.66,
    the first step of 0.01 from the model's 0.62 at which 70% are right on 10 recordings; with
    only the wrong ones, no floor will do."""
    rows = [{"artist": f"j{i}", "group": f"j{i}", "genre": "jazz", "p": p, "right": p > 0.8,
             "allmusic": ""} for i, p in enumerate([0.65] * 10 + [0.85] * 10)]
    assert genre_floors.choose(rows, "jazz", 0.62) == 0.66
    assert math.isinf(genre_floors.choose(rows[:10] * 2, "jazz", 0.62))
    assert genre_floors.choose(rows[:9], "jazz", 0.62) == 0.62  # too few to judge


def _fake_emotion4q(data: Path, genres: list[tuple[str, str, float]]) -> None:
    """``emotion4q/metadata.csv`` of one song per entry (AllMusic genres, top genre, p)."""
    with (data / "emotion4q" / "metadata.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["song", "artist", "title", "quadrant", "quadrant_agreement",
                    "allmusic_genres", "file"])
        for i, (allmusic, _, _) in enumerate(genres):
            w.writerow([f"MT{i:04d}", f"artist {i}", "t", f"Q{i % 4 + 1}", "0.75", allmusic,
                        f"audio/Q{i % 4 + 1}/MT{i:04d}.ogg"])


def test_tune_genre_floors_command_writes_floors_the_rules_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blues imagery right 3 times in 12, rock 12 in 12: blues gets no imagery, every other
    genre keeps the model's threshold."""
    data = _data_folder(tmp_path / "data")
    songs = [("Blues" if i < 3 else "Folk", "blues", 0.9) for i in range(12)]
    songs += [("Pop/Rock", "rock", 0.8)] * 12
    _fake_emotion4q(data, songs)

    def analyse(src: Path, out: Path, *, log: Any) -> None:
        assert src == data / "emotion4q" / "audio"
        for i, (_, top, p) in enumerate(songs):
            probs = {g: (p if g == top else (1 - p) / 9) for g in genre_floors.COMPATIBLE}
            folder = out / f"Q{i % 4 + 1}" / f"MT{i:04d}"
            folder.mkdir(parents=True)
            (folder / "analysis.json").write_text(json.dumps(
                {"genre": {"probabilities": probs, "thresholds": {"confident": 0.62}}}))

    monkeypatch.setattr(tc, "analyse_recordings", analyse)
    out, report = tmp_path / "floors.toml", tmp_path / "genre.md"
    args = ["tune", "genre-floors", "--data", str(data), "--cache", str(tmp_path / "cache"),
            "--out", str(out), "--report", str(report)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    floors, basis = parse_genre_floors(tomllib.loads(out.read_text()))
    assert math.isinf(floors["blues"])
    assert {g: v for g, v in floors.items() if g != "blues"} == {
        g: 0.62 for g in genre_floors.COMPATIBLE if g != "blues"}
    assert basis["blues"].startswith("3 times in 12 at the model's threshold")
    assert basis["rock"].startswith("12 times in 12 at the model's threshold")
    assert "# `midi2img tune genre-floors` (make tune-genre-real)" in out.read_text()
    assert "| blues | 3 of 12 | 0.25 |" in report.read_text()
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 4 and "exists (pass --force" in r.output


def test_tune_genre_floors_says_how_to_point_at_the_data(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["tune", "genre-floors", "--data", str(tmp_path),
                                 "--out", str(tmp_path / "f.toml"),
                                 "--report", str(tmp_path / "r.md")])
    assert r.exit_code == 2
    assert "has no emotion4q/metadata.csv, emotion4q/audio" in r.output
    assert "--data" in r.output and "MIDI2IMG_DATA" in r.output


# ---- sections -------------------------------------------------------------------------------


def _book() -> Any:
    """Voice rules (one group) and a flute rule, every threshold 0.5."""
    rules = [{"id": rid, "keyword": rid, "kind": "subject", "weight": 0.9, "when": [tag],
              "source": "test", **({"group": "voice"} if rid != "flute" else {})}
             for rid, tag in (("female-singer", "msd:female vocalists"),
                              ("male-singer", "mtt:male"), ("instrumental", "msd:instrumental"),
                              ("flute", "mtt:flute"))]
    thresholds = {"rule": {r["id"]: {"basis": "test", "threshold": {r["when"][0]: 0.5}}
                           for r in rules}}
    return parse_tag_rules({"rule": rules}, thresholds)


def _clip(windows: dict[str, list[float]]) -> dict[str, np.ndarray]:
    """Seven tagger windows at 0 but for the columns named."""
    names = known_tags()
    out = {t: np.zeros((7, 50), dtype=np.float32) for t in ("msd", "mtt")}
    for name, values in windows.items():
        tagger, _, tag = name.partition(":")
        out[tagger][:, names[tagger].index(tag)] = values
    return out


def _section_clips(*, flute: bool) -> tuple[list[dict[str, str]], list[dict[str, np.ndarray]]]:
    """A female, a male and an instrumental clip; a female clip whose first window sounds male;
    with ``flute``, a clip with a flute all through and one with a flute in two windows."""
    items = [{"artist": a} for a in ("F", "M", "I", "F2")]
    windows = [_clip({"msd:female vocalists": [0.9] * 7}), _clip({"mtt:male": [0.9] * 7}),
               _clip({"msd:instrumental": [0.9] * 7}),
               _clip({"msd:female vocalists": [0.0] + [0.9] * 6,
                      "mtt:male": [0.9] + [0.0] * 6})]
    if flute:
        items += [{"artist": "x"}, {"artist": "y"}]
        windows += [_clip({"mtt:flute": [0.9] * 7}),
                    _clip({"mtt:flute": [0.9, 0.9, 0, 0, 0, 0, 0]})]
    return items, windows


VOICES = {"F": "female", "F2": "female", "M": "male", "I": "instrumental"}


def test_section_length_from_voice_precision() -> None:
    """One window of F2 alone names a male singer (male precision 7 in 8 against 1.0 on whole
    clips); from two windows on it names nobody: two windows suffice."""
    items, windows = _section_clips(flute=False)
    figs = sections.tag_figures(items, windows, VOICES, book=_book())
    assert figs["voice"][1]["male-singer"] == [7, 8]
    assert figs["voice"]["whole"]["male-singer"] == [1, 1]
    assert figs["voice"][2]["male-singer"] == [6, 6]
    assert figs["voice"][2]["female-singer"] == [11, 11]
    assert sections.choose(figs) == 2


def test_section_length_from_new_instrument_keywords() -> None:
    """A flute in two windows of seven is not named for the whole clip; excerpts of 1, 2 and 3
    windows name it (2, 1, 1 times, against 7, 6, 5 names of the flute heard all through:
    over 10% new), excerpts of 4 never: four windows."""
    items, windows = _section_clips(flute=True)
    figs = sections.tag_figures(items, windows, VOICES, book=_book())
    assert [figs["new"][n][:2] for n in (1, 2, 3, 4)] == [[2, 9], [1, 7], [1, 6], [0, 4]]
    assert sections.choose(figs) == 4


def test_sections_toml_format() -> None:
    text = sections.sections_toml(4, 'a "quoted" basis')
    lines = text.splitlines()
    assert lines[0].startswith("# ") and lines[-2:] == [
        "min_tag_windows = 4", 'basis = "a \\"quoted\\" basis"']
    assert tomllib.loads(text) == {"min_tag_windows": 4, "basis": 'a "quoted" basis'}


def test_tune_sections_command_writes_the_section_length(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clips whose windows all sound alike: one window already does what the whole clip does."""
    data = _data_folder(tmp_path / "data")
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "gtzan_artists.csv").write_text("artist,title,voice,decade\n")
    (labels / "emotion4q_artists.csv").write_text("artist,voice\nF,female\nM,male\n"
                                                  "I,instrumental\n")
    items = [{"file": f"{a}.ogg", "artist": a} for a in ("F", "M", "I")]
    # 0.95 is over, 0.001 under every shipped voice threshold
    windows = [_clip({"msd:female vocalists": [0.95] * 7, "mtt:male": [0.001] * 7,
                      "msd:instrumental": [0.001] * 7}),
               _clip({"mtt:male": [0.95] * 7, "msd:female vocalists": [0.001] * 7,
                      "msd:instrumental": [0.001] * 7}),
               _clip({"msd:instrumental": [0.95] * 7, "mtt:male": [0.001] * 7,
                      "msd:female vocalists": [0.001] * 7})]
    monkeypatch.setattr(sections, "window_tags", lambda data, work, log: (items, windows))
    affect = {key: (0.8, 0.7, 0.6) for key in [*sections.AFFECT_LENGTHS, "whole"]}
    monkeypatch.setattr(sections, "affect_figures",
                        lambda data, cache, log: {**affect, "clips": 3})
    out, report = tmp_path / "sections.toml", tmp_path / "sections.md"
    out.write_text("min_tag_windows = 4\n")
    args = ["tune", "sections", "--data", str(data), "--labels", str(labels),
            "--cache", str(tmp_path / "cache"), "--out", str(out), "--report", str(report)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 4 and "exists (pass --force" in r.output
    r = CliRunner().invoke(app, [*args, "--force"])
    assert r.exit_code == 0, r.output
    written = tomllib.loads(out.read_text())
    assert set(written) == {"min_tag_windows", "basis"} and written["min_tag_windows"] == 1
    assert written["basis"].startswith("fewest tagger windows (3 s, one every 4 s)")
    assert "female-singer 1.000 (whole clips 1.000)" in written["basis"]
    text = report.read_text()
    assert "**1** (`min_tag_windows` in `keywords/sections.toml`; the value it replaces: 4, " \
           "DIFFERENT)" in text
    assert "| 3 s | 0.800 | 0.700 | 0.600 |" in text


# ---- corpus ---------------------------------------------------------------------------------


def test_labels_dir_says_where_the_tables_are(tmp_path: Path) -> None:
    from midi2img.errors import DataError

    with pytest.raises(DataError, match="has no gtzan_artists.csv, emotion4q_artists.csv "
                                        r"\(point midi2img at the label tables with --labels"):
        tc.labels_dir(tmp_path)
    assert (tc.labels_dir() / "gtzan_artists.csv").is_file()  # the checkout's bench/data


def test_tagged_recordings_are_cached_per_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A second caller asking for a subset, or for one more file, tags only what is missing."""
    import midi2img.tagger as tagger

    calls: list[str] = []

    class Result:
        def __init__(self, path: Path) -> None:
            calls.append(Path(path).name)
            k = float(len(calls))
            self.probabilities = {t: np.full((3, 50), k / 10, dtype=np.float32)
                                  for t in ("msd", "mtt")}

        def pooled(self) -> dict[str, dict[str, float]]:
            return {t: {str(i): float(v) for i, v in enumerate(rows.mean(axis=0))}
                    for t, rows in self.probabilities.items()}

    monkeypatch.setattr(tagger, "tag_file", Result)
    first = tc.tag_recordings(tmp_path, ["a.ogg", "b.ogg"], tmp_path / "work")
    assert calls == ["a.ogg", "b.ogg"] and first.pooled["msd"].shape == (2, 50)
    again = tc.tag_recordings(tmp_path, ["b.ogg"], tmp_path / "work")
    assert calls == ["a.ogg", "b.ogg"]
    np.testing.assert_array_equal(again.windows[0]["mtt"], first.windows[1]["mtt"])
    more = tc.tag_recordings(tmp_path, ["c.ogg", "a.ogg"], tmp_path / "work")
    assert calls == ["a.ogg", "b.ogg", "c.ogg"]
    assert more.pooled["msd"][:, 0].tolist() == pytest.approx([0.3, 0.1])
