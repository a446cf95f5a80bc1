"""The analysis contract read back (``midi2img.contract``): real ``analysis.json`` files round
trip through the typed records, what older versions wrote is read with None for what they lacked,
and a value no version writes is refused with one line naming the file and the place."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from midi2img.contract import (
    AnalysisRecord,
    ChordRecord,
    read_analysis,
    read_analysis_file,
    read_track_folder,
)
from midi2img.errors import InputError
from midi2img.keyword import Keyword


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``convert`` a MIDI file and a rendered recording, two sections each, abstract images."""
    from midi2img.cli import app
    from midi2img.demo import write_demo

    src = tmp_path_factory.mktemp("src")
    mid, wav = write_demo(src, bars=4)
    (src / "song.mid").write_bytes(mid.read_bytes())
    out = tmp_path_factory.mktemp("out")
    r = CliRunner().invoke(app, ["convert", str(src / "song.mid"), str(wav), "-o", str(out),
                                 "--segments", "2", "--image", "abstract", "--width", "64",
                                 "--height", "64", "--quiet"])
    assert r.exit_code == 0, r.output
    return {"midi": out / "song", "audio": out / "demo"}


def _data(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "analysis.json").read_text())
    return data


# ---- real files -------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["midi", "audio"])
def test_a_converted_analysis_round_trips(converted: dict[str, Path], which: str) -> None:
    folder = converted[which]
    text = (folder / "analysis.json").read_text()
    record = read_track_folder(folder)
    # the same object, keys in the same order at every level
    assert json.dumps(record.to_dict(), indent=2, ensure_ascii=False) + "\n" == text
    data = json.loads(text)
    assert record.source == data["source"] and record.input_kind == which
    assert record.duration_s == data["duration_s"] and record.tempo_bpm == data["tempo_bpm"]
    assert record.key == data["key"] and record.key_confidence == data["key_confidence"]
    assert [c.label for c in record.chords] == [c["label"] for c in data["chords"]]
    assert record.notes is not None and record.notes.count == data["notes"]["count"] > 0
    assert record.keywords and all(isinstance(k, Keyword) for k in record.keywords)
    assert record.keywords[0].to_dict() == data["keywords"][0]
    assert record.prompt.positive == data["prompt"] and record.prompt.tokens > 0
    assert record.image is not None and record.image.file == f"{folder.name}.png"
    assert record.image.renderer == data["image"]["renderer"] and record.image.seed > 0
    assert [s.file for s in record.sections] == ["section-01.png", "section-02.png"]
    assert record.sections[0].start_s == 0.0
    assert record.sections[1].end_s == data["sections"][1]["end_s"]
    assert record.segmentation is not None and record.segmentation.count == 2
    assert record.storyboard == "storyboard.png" and record.extra == {}
    if which == "audio":
        assert record.genre is not None and record.genre.label in record.genre.probabilities
        assert record.genre.decision in ("confident", "blend", "silent")
        assert record.affect is not None and record.affect.model == "audio"
        assert record.tags is not None and set(record.tags) == {"msd", "mtt"}
        assert all(s.audio_from in ("section", "track") for s in record.sections)
    else:
        assert record.genre is None and record.tags is None
        assert record.reason("genre") == data["omitted"]["genre"]
        assert record.affect is not None and record.affect.model == "symbolic"


def test_records_are_frozen(converted: dict[str, Path]) -> None:
    record = read_track_folder(converted["audio"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.key = "C major"  # type: ignore[misc]
    with pytest.raises(TypeError):
        record.omitted["genre"] = "no"  # type: ignore[index]
    assert record.tags is not None
    with pytest.raises(TypeError):
        record.tags["msd"]["rock"] = 1.0  # type: ignore[index]
    assert isinstance(record.sections, tuple) and isinstance(record.chords, tuple)


def test_chord_roots_and_qualities_come_from_mir_eval() -> None:
    chords = [ChordRecord(0.0, 1.0, lab) for lab in ("Bb:maj7", "F#:hdim7", "A:min", "N", "X",
                                                     "C:maj/3")]
    assert [c.root_pc for c in chords] == [10, 6, 9, None, None, 0]
    assert [c.quality for c in chords] == ["maj7", "hdim7", "min", "", "maj", "maj"]


def test_a_plugin_stage_key_is_kept_as_its_json_value() -> None:
    data = {"source": "x.wav", "duration_s": 3.0, "loudness": {"rms_dbfs": -12.5},
            "keywords": [], "omitted": {}}
    record = read_analysis(data)
    assert record.extra == {"loudness": {"rms_dbfs": -12.5}}
    assert record.to_dict() == data and list(record.to_dict()) == list(data)


def test_image_settings_of_other_backends_are_kept() -> None:
    image = {"file": "a.png", "seed_source": "content_hash", "renderer": "stable-diffusion",
             "model": "some/model", "seed": 7, "steps": 20, "guidance": 7.5,
             "scheduler": "DDIM", "device": "cpu", "safety_checker": True, "width": 512,
             "height": 512, "notes": ["fp32 on CPU"]}
    record = read_analysis({"image": image})
    assert record.image is not None and record.image.model == "some/model"
    assert record.image.steps == 20 and record.image.guidance == 7.5
    assert dict(record.image.settings) == {"scheduler": "DDIM", "device": "cpu",
                                           "safety_checker": True, "notes": ["fp32 on CPU"]}
    assert record.to_dict() == {"image": image}


# ---- older versions ---------------------------------------------------------------------------


def _oldest(data: dict[str, Any]) -> dict[str, Any]:
    """The shape of the first versions' analysis.json: no tags, no image or storyboard, a genre
    without thresholds or decision note, an affect without confidence or model, timings in the
    file, model versions as strings."""
    old = copy.deepcopy(data)
    for key in ("tags", "image", "segmentation", "sections", "storyboard", "provenance",
                "key_clarity"):
        old.pop(key, None)
    old["genre"] = {"label": old["genre"]["label"],
                    "probabilities": old["genre"]["probabilities"], "decision": "silent"}
    old["affect"] = {k: old["affect"][k] for k in ("valence", "arousal", "quadrant")}
    old["timings_s"] = {"transcribe": 1.25, "total": 3.5}
    old["versions"] = {"midi2img": "0.0.9", "models": {"transcription": "basic-pitch 0.3.0",
                                                       "genre": "v1", "affect": None}}
    return old


def test_what_older_versions_wrote_is_read(converted: dict[str, Path], tmp_path: Path) -> None:
    from midi2img.report.html import render_report

    old = _oldest(_data(converted["audio"]))
    record = read_analysis(old)
    assert record.tags is None and record.image is None and record.sections == ()
    assert record.segmentation is None and record.storyboard is None
    assert record.key_clarity is None and record.provenance is None
    assert record.genre is not None and record.genre.thresholds is None
    assert record.genre.decision_note is None and record.genre.windows is None
    assert record.affect is not None and record.affect.confidence is None
    assert record.affect.model is None
    assert record.timings_s == {"transcribe": 1.25, "total": 3.5}
    assert record.versions is not None and record.versions.models == {
        "transcription": "basic-pitch 0.3.0", "genre": "v1", "affect": None}
    assert record.to_dict() == {**old, "genre": {**old["genre"], "decision_note": None},
                                "affect": {**old["affect"], "confidence": None, "model": None}}
    page = render_report(record)
    assert "not available: no image was drawn" in page
    assert 'data-detail="timings_s"' in page and "basic-pitch 0.3.0" in page
    # sections of the versions before audio_from; and an analysis with nothing but its source
    data = _data(converted["audio"])
    for s in data["sections"]:
        del s["audio_from"], s["tags"]
    assert all(s.audio_from is None and s.tags is None for s in read_analysis(data).sections)
    assert read_analysis({"source": "x.mid"}) == AnalysisRecord(source="x.mid", keys=("source",))


# ---- refused ----------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit setting ``a.b.0.c`` (list positions as numbers)."""
    def edit(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return edit


@pytest.mark.parametrize(("edit", "expected"), [
    (_set("duration_s", "long"), 'duration_s: "long" is a string, expected a number'),
    (_set("duration_s", -1.0), "duration_s -1.0 is out of range (expected a number >= 0)"),
    (_set("tempo_bpm", float("nan")), "tempo_bpm: nan is not a finite number"),
    (_set("input_kind", "video"), "input_kind 'video' is not one of audio, midi"),
    (_set("key", "H major"), "key 'H major' is not a key as mir_eval writes it, e.g. 'C# major' "
                             "(Key H is invalid; should be e.g. D or C# or Eb or X "
                             "(Uncategorized))"),
    (_set("chords.1.label", "C:major"), "chords #2: label 'C:major' is not a Harte chord label "
                                        "(mir_eval: Invalid chord label: C:major)"),
    (_set("chords.0", [0, 1, "C:maj"]), "chords #1: [0, 1, \"C:maj\"] is a list, expected an "
                                        "object"),
    (_set("chords", "C:maj"), 'chords: "C:maj" is a string, expected a list'),
    (_set("notes.count", 2.5), "notes.count: 2.5 is a number, expected an integer"),
    (_set("notes.pitch_high", 130), "notes: pitch_high 130 is out of range (expected a number in "
                                    "[0, 127])"),
    (_set("affect.quadrant", "Q5"), "affect: quadrant 'Q5' is not one of Q1, Q2, Q3, Q4"),
    (_set("affect.valence", 1.5), "affect: valence 1.5 is out of range (expected a number in "
                                  "[-1, 1])"),
    (_set("genre.probabilities.rock", None), "genre.probabilities.rock: is null, expected a "
                                             "number"),
    (_set("genre.decision", "maybe"), "genre: decision 'maybe' is not one of confident, blend, "
                                      "silent"),
    (_set("tags.mtt.piano", 2.0), "tags: tag mtt:piano 2.0 is out of range (expected a number in "
                                  "[0, 1])"),
    (_set("keywords.0.kind", "colour"), "keywords #1: unknown keyword kind 'colour'"),
    (_set("keywords.0.weight", 0), "keywords #1: keyword weight must lie in (0, 1], got 0"),
    (_set("keywords.0.extra", 1), "keywords #1: unknown key 'extra' (expected keyword, weight, "
                                  "because, kind, rule)"),
    (_set("image.seed", "7"), 'image.seed: "7" is a string, expected an integer'),
    (_set("sections.1.end_s", 0.0), "sections #2: end_s 0.0 is out of range"),
    (_set("sections.0.silent", "no"), 'sections #1.silent: "no" is a string, expected true or '
                                      "false"),
    (_set("sections.0.audio_from", "neighbour"), "sections #1: audio_from 'neighbour' is not "
                                                 "one of section, track"),
    (_set("sections.0.keywords.0", {"keyword": "x"}), "sections #1.keywords #1: missing "
                                                      "'weight'"),
    (_set("omitted.genre", 3), "omitted.genre: 3 is an integer, expected a string"),
])
def test_a_value_no_version_writes_is_refused_with_one_line(
        converted: dict[str, Path], tmp_path: Path, edit: Callable[[dict[str, Any]], None],
        expected: str) -> None:
    data = _data(converted["audio"])
    edit(data)
    path = tmp_path / "analysis.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        read_analysis_file(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: {expected}"), message


def test_unreadable_files_are_refused_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no analysis\.json \(not a midi2img output folder"):
        read_track_folder(tmp_path)
    path = tmp_path / "analysis.json"
    path.write_text('{"source": "x.wav",')
    with pytest.raises(InputError, match=r"analysis\.json: not readable JSON"):
        read_track_folder(tmp_path)
    path.write_text("[1, 2]")
    with pytest.raises(InputError) as err:
        read_track_folder(tmp_path)
    assert str(err.value) == f"{path}: [1, 2] is a list, expected a JSON object (an analysis)"
