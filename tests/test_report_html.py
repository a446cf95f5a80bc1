"""The HTML reports: ``report.html`` of a track and ``index.html`` of a batch.

Unit tests check :func:`render_report` on incomplete dicts and hostile strings; browser tests
build real output folders through the CLI (a MIDI file and a rendered clip, two sections each),
open the pages in headless Chromium (``tests/browser.py``) and check what a user would see.
Screenshots go to a temporary folder (printed; run with ``-s`` to see it) or to
``$MIDI2IMG_SCREENSHOTS`` when that is set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import pytest
from typer.testing import CliRunner

from browser import Browser, BrowserError, Page, require_chromium, write_screenshot
from midi2img.errors import InputError
from midi2img.notes import read_midi
from midi2img.report.html import (
    REPORT_SECTIONS,
    beat_lines,
    chord_short,
    merge_tags,
    render_report,
    tag_group,
    write_report,
)
from midi2img.report.index import write_index

EVIL = '<script>alert("x")</script>&amp;'
#: A name with HTML and URL metacharacters: it becomes a folder, a title and a link.
ODD_NAME = "tiny #1 <b>&amp; 'odd'"
TAGS = {"msd": {"rock": 0.61, "female vocalists": 0.42, "80s": 0.33, "mellow": 0.28,
                "guitar": 0.35, "chill": 0.2},
        "mtt": {"guitar": 0.71, "piano": 0.52, "drums": 0.4, "female": 0.38, "no vocals": 0.1,
                "fast": 0.47, "loud": 0.3}}


# ---- fixtures: real output folders ------------------------------------------------------------


def _progression_midi(path: Path) -> Path:
    """I-IV-V-I in C, 8 bars at 120 BPM, with a melody: 16 s of piano."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    chords = [(48, 60, 64, 67), (41, 60, 65, 69), (43, 59, 62, 67), (48, 60, 64, 67)]
    for bar in range(8):
        t0 = bar * 2.0
        for p in chords[bar % 4]:
            inst.notes.append(pretty_midi.Note(70, p, t0, t0 + 1.9))
        for b in range(4):
            inst.notes.append(pretty_midi.Note(95, 72 + 2 * ((bar + b) % 5), t0 + b * 0.5,
                                               t0 + b * 0.5 + 0.45))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``convert`` a MIDI file and a rendered clip (``--segments 2``), then write the reports
    and the index; an "enriched" copy of the audio folder carries the keys that are coming
    (tags, affect confidence, per-section tags) and a null genre."""
    from midi2img.cli import app
    from midi2img.demo import write_demo

    src = tmp_path_factory.mktemp("src")
    mid = _progression_midi(src / f"{ODD_NAME}.mid")
    _, wav = write_demo(src, bars=4)
    out = tmp_path_factory.mktemp("out")
    result = CliRunner().invoke(app, ["convert", str(mid), str(wav), "-o", str(out),
                                      "--segments", "2", "--image", "abstract"])
    assert result.exit_code == 0, result.output
    folders = {"midi": out / ODD_NAME, "audio": out / "demo"}
    enriched = out / "enriched"
    shutil.copytree(folders["audio"], enriched)
    (enriched / "demo.mid").rename(enriched / "enriched.mid")
    data = json.loads((enriched / "analysis.json").read_text())
    data["tags"] = TAGS
    data["affect"] = {**data.get("affect", {"valence": 0.4, "arousal": 0.5, "quadrant": "Q1"}),
                      "confidence": 0.64}
    for i, sec in enumerate(data["sections"]):  # the 2nd: too short for its own (the track's)
        sec["affect"] = ({"valence": -0.5, "arousal": 0.3, "quadrant": "Q2"} if i == 0
                         else data["affect"])
        sec["tags"] = {"mtt": {"piano": 0.8 - 0.1 * i, "strings": 0.3}}
        sec["audio_from"] = "section" if i == 0 else "track"
    data["genre"] = None
    data.setdefault("omitted", {})["genre"] = "genre left out " + EVIL
    (enriched / "analysis.json").write_text(json.dumps(data))
    folders["enriched"] = enriched
    for folder in folders.values():
        write_report(folder)
    records = [{"source": str(mid), "status": "ok", "error": None, "output": ODD_NAME,
                "timings_s": {"total": 1.5}},
               {"source": str(wav), "status": "ok", "error": None, "output": "demo",
                "timings_s": {"total": 6.0}},
               {"source": "enriched.wav", "status": "ok", "error": None, "output": "enriched",
                "timings_s": {"total": 2.5}},
               {"source": f"/music/{EVIL}.mp3", "status": "failed",
                "error": f"InputError: cannot decode {EVIL}", "output": None, "timings_s": {}}]
    write_index(out, records)
    return {"out": out, "folders": folders, "records": records}


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$MIDI2IMG_SCREENSHOTS`` or a temporary folder (printed)."""
    env = os.environ.get("MIDI2IMG_SCREENSHOTS")
    folder = Path(env) if env else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(require_chromium()) as b:
        yield b


def _page(browser: Browser, html: Path, *, width: int = 1280, mobile: bool = False) -> Page:
    page = browser.page(width=width, height=900, mobile=mobile)
    page.goto(html)
    page.evaluate("document.fonts.ready.then(() => true)")
    return page


def _clean(page: Page) -> None:
    """No console error, no uncaught exception, no request but the page and data: URIs."""
    assert page.errors == []
    assert page.foreign_requests() == []
    assert page.requests and page.requests[0] == page.url  # the recorder did record


_VISIBLE = """(sel) => Array.from(document.querySelectorAll(sel)).map((el) => {
  const r = el.getBoundingClientRect(), s = getComputedStyle(el);
  return {id: el.id, w: r.width, h: r.height, left: r.left + scrollX, right: r.right + scrollX,
          top: r.top + scrollY, shown: s.display !== "none" && s.visibility !== "hidden"
          && Number(s.opacity) > 0};
})"""


def _boxes(page: Page, selector: str) -> list[dict[str, Any]]:
    return page.evaluate(f"({_VISIBLE})({json.dumps(selector)})")


def _no_overflow(page: Page) -> None:
    width = page.evaluate("document.documentElement.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for box in _boxes(page, "[data-section]"):
        assert box["left"] >= 0 and box["right"] <= width + 0.5, box


# ---- render_report: pure unit tests -----------------------------------------------------------


def _sections_html(page: str) -> dict[str, str]:
    parts = re.split(r'(?=<(?:section|header) id=")', page)
    found = {}
    for part in parts:
        m = re.match(r'<(?:section|header) id="([a-z]+)" data-section=', part)
        if m:
            found[m.group(1)] = part
    return found


def test_render_report_of_an_empty_dict_says_what_is_missing() -> None:
    page = render_report({})
    sections = _sections_html(page)
    assert set(sections) == set(REPORT_SECTIONS)
    for name in REPORT_SECTIONS:
        if name not in ("overview", "details"):
            assert "not available:" in sections[name], name
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_render_report_degrades_key_by_key_with_the_omitted_reason() -> None:
    a = {"source": "/x/song.wav", "duration_s": 30.0, "tempo_bpm": None, "key": "A minor",
         "key_confidence": None, "chords": [{"start_s": 0.0, "end_s": 30.0, "label": "A:min"}],
         "genre": None, "affect": None, "image": None, "tags": None,
         "keywords": [{"keyword": "sad", "weight": 0.7, "because": "", "kind": "mood",
                       "rule": "r"}],
         "omitted": {"genre": "MIDI input has no audio to score with the GTZAN genre network",
                     "affect": "no valence-arousal model is shipped", "image": "--image none",
                     "tags": "tagger not installed"},
         "sections": [{"index": 1, "start_s": 0.0, "end_s": 15.0},
                      {"index": 2, "start_s": 15.0, "end_s": 30.0, "silent": True}]}
    s = _sections_html(render_report(a))
    assert "not available: MIDI input has no audio" in s["genre"]
    assert "not available: no valence-arousal model is shipped" in s["affect"]
    assert "not available: --image none" in s["image"]
    assert "not available: tagger not installed" in s["tags"]
    assert "not available: no tempo" in s["music"] and "A minor" in s["music"]
    assert 'data-chord="A:min"' in s["pianoroll"] and ">Am<" in s["pianoroll"]
    assert "not available" in s["pianoroll"]  # chords drawn, no notes to draw
    assert 'data-keyword="sad"' in s["keywords"] and "—" in s["keywords"]  # no because
    assert s["sections"].count("data-section-card=") == 2 and "silent" in s["sections"]


def test_render_report_escapes_every_string_from_the_analysis() -> None:
    """Every free-text value (names, prompts, evidence, tags, genres, files, versions, reasons)
    is escaped; the values with a vocabulary (key, chord, quadrant, keyword kind, numbers) are
    refused by the reader before they reach the page."""
    a = {"source": f"/music/{EVIL}.wav", "key": "A minor", "progression": [EVIL],
         "chords": [{"start_s": 0, "end_s": 2, "label": "C:maj"}],
         "genre": {"label": EVIL, "probabilities": {EVIL: 0.9}, "decision": "silent",
                   "decision_note": EVIL},
         "affect": {"valence": 0.1, "arousal": 0.2, "quadrant": "Q1", "model": EVIL},
         "tags": {"msd": {EVIL: 0.5}}, "prompt": EVIL, "negative_prompt": EVIL, "style": EVIL,
         "keywords": [{"keyword": EVIL, "weight": 0.5, "kind": "mood", "because": EVIL,
                       "rule": EVIL}],
         "image": {"file": EVIL, "seed": 1, "model": EVIL, "renderer": EVIL,
                   "fallback_reason": EVIL},
         "segmentation": {"requested": "auto", "method": EVIL, "count": 1},
         "sections": [{"index": 1, "start_s": 0, "end_s": 2, "key": "A minor", "file": EVIL,
                       "keywords": [{"keyword": EVIL, "weight": 0.5}], "progression": [EVIL],
                       "tags": {"mtt": {EVIL: 0.4}}, "renderer": EVIL,
                       "affect": {"valence": 0, "arousal": 0, "quadrant": "Q4"}}],
         "storyboard": EVIL, "content_hash": EVIL,
         "versions": {"midi2img": EVIL, EVIL: EVIL}, "omitted": {EVIL: EVIL}}
    page = render_report(a, images={EVIL: "data:image/png;base64,AAAA"}, title=EVIL)
    assert "<script" not in page and "</script" not in page
    assert "&lt;script&gt;" in page and "&amp;amp;" in page
    assert page.count("&lt;script&gt;") >= 20
    # attribute values stay closed: no raw quote right after an escaped payload
    assert '"x")' not in page
    refused = [({"key": EVIL}, "analysis.json: key '<script>"),
               ({"chords": [{"start_s": 0, "end_s": 2, "label": f"C:{EVIL}"}]},
                "analysis.json: chords #1: label 'C:<script>"),
               ({"affect": {"valence": 0.1, "arousal": 0.2, "quadrant": EVIL}},
                "analysis.json: affect: quadrant '<script>"),
               ({"keywords": [{**a["keywords"][0], "kind": EVIL}]},
                "analysis.json: keywords #1: unknown keyword kind '<script>"),
               ({"image": {"file": "x.png", "seed": EVIL}},
                'analysis.json: image.seed: "<script>')]
    for edit, start in refused:
        with pytest.raises(InputError) as err:
            render_report({**a, **edit})
        assert str(err.value).startswith(start) and "\n" not in str(err.value), str(err.value)


def test_render_report_accepts_only_data_uris_for_images() -> None:
    a = {"image": {"file": "a.png", "seed": 1, "renderer": "abstract"}}
    with pytest.raises(ValueError, match="data:image"):
        render_report(a, images={"a.png": "https://example.com/a.png"})
    page = render_report(a, images={"a.png": "data:image/png;base64,AAAA"})
    assert 'src="data:image/png;base64,AAAA"' in page


def test_tag_groups_and_merging() -> None:
    assert tag_group("guitar") == "instruments" and tag_group("female vocalists") == "voice"
    assert tag_group("No Vocals") == "voice" and tag_group("80s") == "era"
    assert tag_group("Mellow") == "mood" and tag_group("fast") == "mood"
    assert tag_group("rock") == "genre & style"
    assert tag_group("an unknown tag") == "genre & style"  # the table's default group
    merged = merge_tags(TAGS)
    assert merged["guitar"] == (0.71, ["MSD", "MTT"])
    assert merged["mellow"] == (0.28, ["MSD"]) and merge_tags(None) == {}
    assert [chord_short(c) for c in ("E:maj", "A:min7", "Bb:maj7", "G:7", "N", "C:maj/3")] == [
        "E", "Am7", "BbΔ7", "G7", "N", "C/3"]


def test_write_report_without_midi_or_images_still_writes(tmp_path: Path) -> None:
    folder = tmp_path / "song"
    folder.mkdir()
    (folder / "analysis.json").write_text(json.dumps({
        "source": "song.wav", "duration_s": 10.0, "image": {"file": "song.png", "seed": 3},
        "chords": [{"start_s": 0, "end_s": 10, "label": "C:maj"}]}))
    page = write_report(folder).read_text()
    assert "not available: transcription song.mid not found" in page
    assert "not available: image file song.png not found" in page
    # a name from analysis.json that climbs out of the folder is never read
    (tmp_path / "secret.png").write_bytes(b"\x89PNG not really")
    data = json.loads((folder / "analysis.json").read_text())
    data["image"]["file"] = "../secret.png"
    (folder / "analysis.json").write_text(json.dumps(data))
    page = write_report(folder).read_text()
    assert "data:image" not in page and "not available: image file ../secret.png" in page
    with pytest.raises(InputError, match="no analysis.json"):
        write_report(tmp_path)


# ---- the real pages ---------------------------------------------------------------------------


def test_reports_are_small_and_self_contained(batch: dict[str, Any]) -> None:
    for key, folder in batch["folders"].items():
        page = (folder / "report.html").read_text()
        assert len(page) < 1_500_000, key
        # nothing to fetch: every src is a data: URI, no URL anywhere in an attribute
        assert not re.search(r'(?:src|href)="(?!data:)', page), key
    midi_page = (batch["folders"]["midi"] / "report.html").read_text()
    assert "tiny #1 &lt;b&gt;&amp;amp; &#x27;odd&#x27;" in midi_page
    assert "not available: MIDI input has no audio" in midi_page  # genre of a MIDI file


@pytest.mark.parametrize("which", ["midi", "audio", "enriched"])
def test_report_in_a_browser(batch: dict[str, Any], browser: Browser, shots: Path,
                             which: str) -> None:
    folder = batch["folders"][which]
    analysis = json.loads((folder / "analysis.json").read_text())
    page = _page(browser, folder / "report.html")
    try:
        boxes = {b["id"]: b for b in _boxes(page, "[data-section]")}
        assert list(boxes) == list(REPORT_SECTIONS)
        for name, box in boxes.items():
            assert box["shown"] and box["w"] > 100 and box["h"] > 40, (name, box)
        # every image decoded; the roll drew the transcription with chords and boundaries
        assert page.evaluate("Array.from(document.images).every(i => i.complete && "
                             "i.naturalWidth > 0)")
        n_images = 1 + len(analysis["sections"])
        assert page.evaluate("document.images.length") == n_images
        drawn = page.evaluate("Number(document.querySelector('[data-notes]').dataset.notes)")
        assert drawn == analysis["notes"]["count"] > 0
        assert page.evaluate("document.querySelectorAll('#pianoroll [data-chord]').length") > 0
        assert page.evaluate("document.querySelectorAll('#pianoroll .bound').length") == 1
        assert page.evaluate("document.querySelectorAll('#keywords tbody tr').length") == len(
            analysis["keywords"])
        for key in ("seed", "model", "renderer"):
            n = page.evaluate(f"document.querySelectorAll('[data-meta={key}]').length")
            assert n == n_images, key
        if which == "enriched":
            groups = page.evaluate("Array.from(document.querySelectorAll('[data-tag-group]'),"
                                   " g => g.dataset.tagGroup)")
            assert groups == ["instruments", "voice", "era", "mood", "genre & style"]
            # the track and section 1; section 2 borrows the track's estimate and says so
            assert page.evaluate("document.querySelectorAll('#affect [data-point]').length") == 2
            assert "section 2: fewer than 4 tagger windows" in page.evaluate(
                "document.querySelector('#affect').innerText")
            assert "the track's (too short for its own)" in page.evaluate(
                "document.querySelector('[data-section-card=\"2\"]').innerText")
            assert "genre left out <script>" in page.evaluate(
                "document.querySelector('#genre').innerText")
            assert "0.64" in page.evaluate("document.querySelector('#affect').innerText")
        _clean(page)
        page.screenshot(shots / f"report-{which}-1280.png")
        # wide: image, harmony and the valence-arousal plane side by side
        page.set_viewport(1440, 900)
        tops = {b["id"]: round(b["top"]) for b in _boxes(page, "#image, #music, #affect")}
        assert len(set(tops.values())) == 1, tops
        _no_overflow(page)
        # phone: one column, nothing wider than the screen (the roll scrolls inside its card)
        page.set_viewport(390, 844, mobile=True)
        page.evaluate("new Promise(r => requestAnimationFrame(() => r(true)))")
        _no_overflow(page)
        lefts = {round(b["left"]) for b in _boxes(page, "main > section")}
        assert len(lefts) == 1, lefts
        page.screenshot(shots / f"report-{which}-390.png")
        # print: every section still there, the page turns into a PDF
        page.set_viewport(1280, 900)
        page.emulate_media("print")
        assert all(b["shown"] and b["h"] > 0 for b in _boxes(page, "[data-section]"))
        pdf = page.send("Page.printToPDF", {"printBackground": True})["data"]
        assert len(pdf) > 10_000
        page.emulate_media("")
        _clean(page)
    finally:
        page.close()


def _column(page: Page, col: str) -> list[str]:
    return page.evaluate(f"Array.from(document.querySelectorAll('#tracks tbody td.c-{col}'),"
                         " td => td.dataset.sort)")


def test_index_in_a_browser(batch: dict[str, Any], browser: Browser, shots: Path) -> None:
    out = batch["out"]
    page = _page(browser, out / "index.html")
    try:
        for name in ("overview", "gallery", "tracks", "failures"):
            box = _boxes(page, f"#{name}")[0]
            assert box["shown"] and box["h"] > 30, name
        assert page.evaluate("document.querySelectorAll('[data-thumb] img').length") == 3
        assert page.evaluate("Array.from(document.images).every(i => i.naturalWidth > 0)")
        assert page.evaluate("document.querySelectorAll('#tracks tbody tr').length") == 4
        failures = page.evaluate("document.querySelector('#failures').innerText")
        assert f"cannot decode {EVIL}" in failures
        # every report link resolves to an existing file, relative to the index
        hrefs = page.evaluate("Array.from(document.querySelectorAll('#tracks a'),"
                              " a => a.getAttribute('href'))")
        assert len(hrefs) == 3 and all(h.endswith("/report.html") for h in hrefs)
        urls = page.evaluate("Array.from(document.querySelectorAll('#tracks a'), a => a.href)")
        from urllib.parse import unquote, urlparse

        assert all(Path(unquote(urlparse(u).path)).is_file() for u in urls), urls
        assert any("%23" in h for h in hrefs)  # the '#' of the odd name is escaped
        # sorting: tempo up, tempo down, then by name; empty cells stay last
        page.click("th[data-col=tempo] button")
        tempos = _column(page, "tempo")
        values = [float(t) for t in tempos if t]
        assert values == sorted(values) and tempos[-1] == ""
        assert page.evaluate("document.querySelector('th[data-col=tempo]')"
                             ".getAttribute('aria-sort')") == "ascending"
        page.click("th[data-col=tempo] button")
        values = [float(t) for t in _column(page, "tempo") if t]
        assert values == sorted(values, reverse=True)
        page.click("th[data-col=track] button")
        names = _column(page, "track")
        assert names == sorted(names)
        page.click("th[data-col=status] button")
        assert _column(page, "status")[0] == "failed"
        _clean(page)
        page.screenshot(shots / "index-1280.png")
        page.set_viewport(390, 844, mobile=True)
        _no_overflow(page)
        page.screenshot(shots / "index-390.png")
        _clean(page)
    finally:
        page.close()


def test_browser_checks_catch_requests_and_errors(tmp_path: Path, browser: Browser) -> None:
    """The checks above are not vacuous: a leaky page is caught (and nothing leaves the box)."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<!doctype html><img src="https://example.invalid/x.png">'
                     '<img src="sibling.png"><script>console.error("boom")</script>')
    page = _page(browser, leaky)
    try:
        assert any("example.invalid" in u for u in page.foreign_requests())
        assert any(u.endswith("/sibling.png") for u in page.foreign_requests())
        assert any("boom" in e for e in page.errors)
    finally:
        page.close()
    # the report's Content-Security-Policy turns a stray reference into a logged error
    report = tmp_path / "report.html"
    report.write_text(render_report({}).replace(
        "</main>", '<img src="https://example.invalid/y.png"></main>'))
    page = _page(browser, report)
    try:
        assert page.errors and any("Content Security Policy" in e for e in page.errors)
    finally:
        page.close()


def test_readme_screenshot_is_deterministic(batch: dict[str, Any], shots: Path,
                                           tmp_path: Path) -> None:
    require_chromium()
    html = batch["folders"]["audio"] / "report.html"
    first = write_screenshot(html, shots / "readme-report.png", width=1280)
    again = write_screenshot(html, shots / "readme-report-again.png", width=1280)
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<img src="https://example.invalid/z.png">')
    with pytest.raises(BrowserError, match="example.invalid"):  # a leaky page is refused
        write_screenshot(leaky, tmp_path / "leaky.png")
    assert not (tmp_path / "leaky.png").exists()



def test_piano_roll_draws_the_beats_and_bars_of_the_written_midi(batch: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    """The demo (4 bars of 4/4 at 120 BPM) converted from audio: the roll draws a bar line
    every 2 s and a beat line every 0.5 s, where the beat tracker heard them (x in
    centiseconds); the music card gives the meter and the bars."""
    page = (batch["folders"]["audio"] / "report.html").read_text()
    lines = {}
    for cls in ("beat", "bar"):
        m = re.search(rf'<path class="{cls}" d="([^"]+)"', page)
        assert m, cls
        lines[cls] = np.array([int(x) for x in re.findall(r"M(\d+) 0V", m.group(1))])
    assert len(lines["bar"]) >= 4
    assert np.abs(np.diff(lines["bar"]) - 200).max() <= 2
    assert np.abs(np.diff(lines["beat"]) - 50).max() <= 1
    assert lines["bar"][0] <= 5 and set(lines["bar"]) <= set(lines["beat"]) | {0}
    assert "bars of 4/4 heard in the recording (madmom's downbeat network" in page
    assert re.search(r'data-stat="meter">4/4, \d+ bars, 1(19|20)(-12[01])? BPM bar to bar<', page)
    # a MIDI file that states no time signature gets no lines (its bars would be a guess)
    plain = pretty_midi.PrettyMIDI(initial_tempo=100.0)
    plain.instruments.append(pretty_midi.Instrument(0))
    plain.instruments[0].notes.append(pretty_midi.Note(80, 60, 0.0, 1.0))
    plain.write(str(tmp_path / "plain.mid"))
    assert beat_lines(tmp_path / "plain.mid") is None
    assert 'class="bar"' not in render_report({}, notes=read_midi(tmp_path / "plain.mid"))
