"""Similar tracks (``midi2img.similar``): the distance's parts, a batch's reports listing their
nearest tracks (written by ``convert --report`` and ``midi2img report OUT``, kept right by
``--resume``), and the ``similar`` command."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from helpers import SMALL, cadence_midi, run_cli, triad_midi
from midi2img.contract import AffectRecord, AnalysisRecord
from midi2img.report.html import SIMILAR_END, SIMILAR_START, update_similar
from midi2img.similar import (
    WEIGHTS,
    TrackFeatures,
    compare,
    features,
    key_distance,
    key_position,
    nearest,
    similar_to,
    tag_distance,
    tempo_distance,
)

# ---- the components ---------------------------------------------------------------------------


def test_key_distance_on_the_circle_of_fifths() -> None:
    c, am, g, fs, cm = (key_position(k) for k in ("C major", "A minor", "G major", "F# major",
                                                  "C minor"))
    assert c == (0, False) and am == (0, True) and g == (1, False) and fs == (6, False)
    assert key_position("Eb major") == key_position("D# major") == (9, False)
    assert key_position("Bb minor") == (7, True) and key_position("Db major") == (7, False)
    assert key_position(None) is None and key_position("H major") is None
    assert c is not None and am is not None and g is not None and fs is not None
    assert cm is not None
    assert key_distance(c, c) == 0
    assert key_distance(c, am) == pytest.approx(0.5 / 6.5)   # relative minor: close
    assert key_distance(c, g) == pytest.approx(1 / 6.5)
    assert key_distance(c, cm) == pytest.approx(3.5 / 6.5)   # parallel minor: 3 fifths away
    assert key_distance(c, fs) == pytest.approx(6 / 6.5)
    assert key_distance(g, c) == key_distance(c, g)


def test_tempo_distance_is_octave_folded() -> None:
    assert tempo_distance(120, 120) == 0
    assert tempo_distance(120, 60) == pytest.approx(0.2)    # an octave: close, not equal
    assert tempo_distance(60, 240) == pytest.approx(0.2)
    assert tempo_distance(120, 120 / math.sqrt(2)) == pytest.approx(0.9)  # half an octave
    assert tempo_distance(120, 100) < tempo_distance(120, 90) < tempo_distance(120, 85)
    assert tempo_distance(120, 62) < tempo_distance(120, 90)


def test_tag_distance_is_the_cosine_distance() -> None:
    a = {"msd:rock": 0.8, "mtt:guitar": 0.6}
    assert tag_distance(a, a) == pytest.approx(0)
    assert tag_distance(a, {"msd:rock": 0.4, "mtt:guitar": 0.3}) == pytest.approx(0)
    assert tag_distance(a, {"msd:jazz": 0.9}) == pytest.approx(1)
    assert tag_distance(a, {"msd:rock": 0.8}) == pytest.approx(1 - 0.8)
    assert tag_distance(a, {}) is None and tag_distance({"x": 0.0}, a) is None


def _track(name: str, *, tags: dict[str, float] | None = None, va: tuple[float, float] | None
           = (0.5, 0.5), bpm: float | None = 120, key: str | None = "C major") -> TrackFeatures:
    return TrackFeatures(name=name, folder=Path("/batch") / name, tags=tags or {}, affect=va,
                         tempo_bpm=bpm, key=key_position(key))


def test_compare_weighs_and_explains_the_parts() -> None:
    a = _track("a", tags={"msd:rock": 1.0}, va=(0.5, 0.5), bpm=120, key="C major")
    b = _track("b", tags={"msd:rock": 0.6, "msd:jazz": 0.8}, va=(-0.5, 0.5), bpm=60,
               key="G major")
    nb = compare(a, b)
    assert set(nb.parts) == set(WEIGHTS) and nb.missing == ()
    assert nb.parts["tags"] == pytest.approx(0.35 * (1 - 0.6))
    assert nb.parts["affect"] == pytest.approx(0.35 * 1 / (2 * math.sqrt(2)))
    assert nb.parts["tempo"] == pytest.approx(0.15 * 0.2)
    assert nb.parts["key"] == pytest.approx(0.15 / 6.5)
    assert nb.distance == pytest.approx(sum(nb.parts.values()))
    assert nb.explain() == (f"tags {nb.parts['tags']:.2f} + affect {nb.parts['affect']:.2f} + "
                            f"tempo {nb.parts['tempo']:.2f} + key {nb.parts['key']:.2f}")
    assert compare(a, a).distance == 0
    # the far corners of everything: distance 1
    far = compare(_track("x", tags={"msd:rock": 1}, va=(1, 1), bpm=120, key="C major"),
                  _track("y", tags={"msd:jazz": 1}, va=(-1, -1), bpm=120 / math.sqrt(2),
                         key="F# minor"))
    assert far.parts["tags"] == pytest.approx(0.35) and far.parts["affect"] == pytest.approx(0.35)
    assert far.distance == pytest.approx(0.35 + 0.35 + 0.15 * 0.9 + 0.15 * (3 + 0.5) / 6.5)


def test_midi_tracks_without_tags_are_compared_on_the_rest_renormalised() -> None:
    a = _track("a", tags=None, va=(0.5, 0.5), bpm=120, key="C major")
    b = _track("b", tags={"msd:rock": 1.0}, va=(0.5, -0.5), bpm=120, key=None)
    nb = compare(a, b)
    assert nb.missing == ("tags", "key") and set(nb.parts) == {"affect", "tempo"}
    assert nb.parts["affect"] == pytest.approx(0.35 / 0.5 * 1 / (2 * math.sqrt(2)))
    assert nb.parts["tempo"] == 0 and 0 <= nb.distance <= 1
    assert nb.explain().endswith("(no tags, key: weights renormalised)")
    nothing = compare(_track("c", va=None, bpm=None, key=None), b)
    assert nothing.distance == 1 and nothing.parts == {}


def test_nearest_leaves_the_track_out_and_orders_by_distance() -> None:
    me = _track("me", va=(0.5, 0.5))
    batch = [me, _track("far", va=(-0.9, -0.9)), _track("near", va=(0.5, 0.4)),
             _track("mid", va=(0.0, 0.0)), _track("same", va=(0.5, 0.5))]
    assert [nb.name for nb in nearest(me, batch)] == ["same", "near", "mid", "far"]
    assert [nb.name for nb in nearest(me, batch, n=2)] == ["same", "near"]
    rec = AnalysisRecord(source="x.wav", tempo_bpm=90.0, key="A minor",
                         affect=AffectRecord(valence=-0.2, arousal=0.3, quadrant="Q2"),
                         tags={"msd": {"rock": 0.5}, "mtt": {"guitar": 0.25}})
    f = features(rec, "/out/x")
    assert f.name == "x" and f.tags == {"msd:rock": 0.5, "mtt:guitar": 0.25}
    assert f.affect == (-0.2, 0.3) and f.key == (0, True) and f.quadrant == "Q2"


# ---- a batch's reports ------------------------------------------------------------------------


def _similar_rows(page: str) -> list[tuple[str, str, float]]:
    """(name, href, distance) of each row of a report's similar-tracks card."""
    card = page[page.index(SIMILAR_START):page.index(SIMILAR_END)]
    return [(m[1], m[0], float(m[2])) for m in re.findall(
        r'<tr data-similar="[^"]*"><td><a href="([^"]*)">([^<]*)</a></td>'
        r'<td class="num">([0-9.]+)</td>', card)]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four MIDI tracks in C major, A minor, G major and F# major converted with ``--report``."""
    src = tmp_path_factory.mktemp("src")
    cadence_midi(src / "c_major.mid")
    cadence_midi(src / "a_minor.mid", minor=True)
    triad_midi(src / "g_major.mid", root=55)
    triad_midi(src / "fs_major.mid", root=54)
    out = tmp_path_factory.mktemp("out")
    r = run_cli("convert", str(src), "-o", str(out), "--report", "--quiet", *SMALL)
    assert r.returncode == 0, r.stderr
    return out


def test_convert_report_lists_each_tracks_nearest_in_the_batch(batch: Path) -> None:
    names = sorted(p.parent.name for p in batch.glob("*/analysis.json"))
    assert names == ["a_minor", "c_major", "fs_major", "g_major"]
    for name in names:
        folder = batch / name
        rows = _similar_rows((folder / "report.html").read_text())
        expected = similar_to(folder, batch)
        assert [r[0] for r in rows] == [nb.name for nb in expected]
        assert len(rows) == 3 and name not in [r[0] for r in rows]
        assert [r[2] for r in rows] == [round(nb.distance, 2) for nb in expected]
        assert [r[2] for r in rows] == sorted(r[2] for r in rows)
        for _, href, _ in rows:  # each link opens the other track's report
            assert href.startswith("../") and (folder / href).resolve().is_file()
        page = (folder / "report.html").read_text()
        assert "no tags: weights renormalised" in page  # MIDI: no tags, and it says so
    # C major's nearest key is A minor (relative) or G major (a fifth); F# major is farthest
    keys = {nb.name: nb.parts.get("key") for nb in similar_to(batch / "c_major", batch)}
    assert keys["fs_major"] is not None and keys["a_minor"] is not None
    assert keys["fs_major"] > keys["a_minor"]


def test_similar_command_table_json_and_errors(batch: Path) -> None:
    r = run_cli("similar", str(batch / "c_major"), str(batch))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    expected = similar_to(batch / "c_major", batch)
    assert lines[0].split()[:3] == ["#", "track", "distance"]
    assert [ln.split()[1] for ln in lines[1:4]] == [nb.name for nb in expected]
    assert expected[0].explain() in lines[1] and lines[-1].startswith("weights: tags 0.35")
    r = run_cli("similar", str(batch / "c_major"), str(batch), "--json", "-n", "2")
    data = json.loads(r.stdout)
    assert data["weights"] == dict(WEIGHTS) and len(data["similar"]) == 2
    first = data["similar"][0]
    assert first["name"] == expected[0].name and first["missing"] == ["tags"]
    assert sum(first["parts"].values()) == pytest.approx(first["distance"])
    for args in (("similar", str(batch / "nowhere"), str(batch)),
                 ("similar", str(batch / "c_major"), str(batch / "c_major"))):
        r = run_cli(*args)
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.startswith("error:") and len(r.stderr.splitlines()) == 1, r.stderr


def test_resume_and_report_keep_the_lists_of_the_whole_batch(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    cadence_midi(src / "one.mid")
    triad_midi(src / "two.mid", root=57, minor=True)
    out = tmp_path / "out"
    args = ["convert", str(src), "-o", str(out), "--report", "--quiet", *SMALL]
    assert run_cli(*args).returncode == 0
    assert [r[0] for r in _similar_rows((out / "one" / "report.html").read_text())] == ["two"]
    # a third track, --resume: the skipped tracks' reports now list it too
    triad_midi(src / "three.mid", root=62)
    r = run_cli(*args, "--resume")
    assert r.returncode == 0 and "skipped" in r.stdout + r.stderr
    for name, others in (("one", {"two", "three"}), ("two", {"one", "three"}),
                         ("three", {"one", "two"})):
        rows = _similar_rows((out / name / "report.html").read_text())
        assert {row[0] for row in rows} == others
    # the index shows the skipped tracks like the new one: in the gallery, not as failures
    index = (out / "index.html").read_text()
    assert index.count("data-thumb=") == 3 and "data-failed=" not in index
    assert not list(out.rglob(".*"))  # atomic writes leave nothing behind
    # `midi2img report OUT` writes the same lists
    before = (out / "one" / "report.html").read_text()
    r = run_cli("report", str(out), "--force", "--quiet")
    assert r.returncode == 0, r.stderr
    assert _similar_rows((out / "one" / "report.html").read_text()) == _similar_rows(before)


def test_update_similar_replaces_only_the_card(batch: Path, tmp_path: Path) -> None:
    folder = batch / "g_major"
    page = (folder / "report.html").read_text()
    found = similar_to(folder, batch, n=1)
    update_similar(folder, found)
    new = (folder / "report.html").read_text()
    start = page.index(SIMILAR_START)
    assert new[:start] == page[:start]
    assert new[new.index(SIMILAR_END):] == page[page.index(SIMILAR_END):]
    assert [r[0] for r in _similar_rows(new)] == [found[0].name]
    # a page without the card (an older report, or none) is written afresh
    (folder / "report.html").write_text("<!doctype html><p>old</p>")
    update_similar(folder, found)
    assert [r[0] for r in _similar_rows((folder / "report.html").read_text())] == [
        found[0].name]
    update_similar(folder, similar_to(folder, batch))  # leave the fixture as it was
