"""The batch index's map (``OUT/index.html``): the valence-arousal plane, its filters, colours,
trails, hover card, play button and the table's sort by similarity, in headless Chromium
(``tests/browser.py``) on a real converted batch, and with 2,000 synthetic tracks measured for
responsiveness (the figures are printed; ``bench/bench_index_map.py`` writes them to
``bench/index_map.md``)."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest

from browser import Browser, Page, require_chromium
from conftest import require_data
from helpers import SMALL, cadence_midi, pulse_audio, run_cli, triad_midi
from midi2img.report.html import merge_tags
from midi2img.report.index import TOP_TAGS, render_index
from midi2img.similar import compare, features, similar_to

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from bench_index_map import measure, summary, synthetic_rows  # noqa: E402

EVIL = '</script><script>alert("x")</script><!--'


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(require_chromium(), timeout_s=120) as b:
        yield b


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two MIDI tracks and a recording converted with ``--report``."""
    src = tmp_path_factory.mktemp("src")
    cadence_midi(src / "cadence.mid")
    triad_midi(src / "minor.mid", root=57, minor=True)
    pulse_audio(src / "pulse.wav")
    out = tmp_path_factory.mktemp("out")
    r = run_cli("convert", str(src), "-o", str(out), "--report", "--quiet", *SMALL)
    assert r.returncode == 0, r.stderr
    return out


def _open(browser: Browser, html: Path) -> Page:
    page = browser.page(width=1280, height=900)
    page.goto(html, timeout_s=120)
    return page


def _visible(page: Page, selector: str) -> int:
    return page.evaluate(f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
                         ".filter((e) => getComputedStyle(e).display !== 'none').length")


def _hover(page: Page, selector: str) -> None:
    """A real mouse move onto the middle of the first match."""
    box = page.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                        ".getBoundingClientRect(); return {x: r.left + r.width / 2, "
                        "y: r.top + r.height / 2}; })()")
    page.send("Input.dispatchMouseEvent", {"type": "mouseMoved", **box})


def _point(page: Page, name: str) -> str:
    i = page.evaluate(f"JSON.parse(document.getElementById('map-data').textContent).tracks"
                      f".findIndex((t) => t.n === {json.dumps(name)})")
    assert i >= 0, name
    return f'#map-plot a[data-i="{i}"]'


def test_the_page_allows_only_its_own_script() -> None:
    rows = synthetic_rows(60)
    rows[3]["name"] = EVIL
    page = render_index(rows)
    scripts = re.findall(r"<script>(.*?)</script>", page, flags=re.S)
    assert len(scripts) == 1  # the only executable script; the data block is JSON
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp is not None
    assert f"script-src 'sha256-{digest}'" in csp[1] and "default-src 'none'" in csp[1]
    assert "media-src 'self' file:" in csp[1] and "connect-src" not in csp[1]
    blob = re.search(r'<script type="application/json" id="map-data">(.*?)</script>', page,
                     flags=re.S)
    assert blob is not None and "<" not in blob[1]  # a name cannot end the data block
    data = json.loads(blob[1])
    assert EVIL in [t["n"] for t in data["tracks"]] and len(data["tracks"]) == 59
    assert len(data["vocab"]) == 100 and all(len(t["x"]) == 100 for t in data["tracks"])


def test_map_of_a_real_batch(batch: Path, browser: Browser, tmp_path: Path) -> None:
    page = _open(browser, batch / "index.html")
    try:
        assert page.evaluate("document.querySelectorAll('#map-plot a[data-i]').length") == 3
        assert page.evaluate("document.getElementById('m-count').textContent") == (
            "3 of 3 tracks shown")
        # every point links to its track's report
        hrefs = page.evaluate("Array.from(document.querySelectorAll('#map-plot a[data-i]'), "
                              "(a) => a.href.baseVal !== undefined ? "
                              "new URL(a.getAttribute('href'), location.href).href : a.href)")
        assert all(Path(unquote(urlparse(h).path)).is_file() for h in hrefs), hrefs
        assert all(h.endswith("/report.html") for h in hrefs)
        # hover the recording: its picture, facts and a play button for the source
        _hover(page, _point(page, "pulse.wav"))
        card = page.evaluate("document.getElementById('m-card').innerText")
        assert "pulse.wav" in card and "BPM" in card
        assert page.evaluate("document.getElementById('m-img').naturalWidth") > 0
        assert _visible(page, "#m-play") == 1 and _visible(page, "#m-noaudio") == 0
        page.click("#m-play")
        src = page.evaluate("new Promise((r) => { const a = document.getElementById('m-audio');"
                            " if (a.readyState > 0) r([a.src, a.error]);"
                            " a.addEventListener('loadedmetadata', () => r([a.src, a.error]));"
                            " a.addEventListener('error', () => r([a.src, a.error.code])); })")
        assert src[1] is None, src  # the browser read the recording itself
        source = json.loads((batch / "pulse" / "analysis.json").read_text())["source"]
        assert Path(unquote(urlparse(src[0]).path)) == Path(source).resolve()
        assert page.foreign_requests() == [src[0]]  # the audio file, nothing else
        # a MIDI track: nothing to play, and the card says why
        _hover(page, _point(page, "cadence.mid"))
        assert _visible(page, "#m-play") == 0
        assert "MIDI" in page.evaluate("document.getElementById('m-noaudio').textContent")
        # sort the table by similarity to it: the order and distances of midi2img.similar
        page.click("#m-similar")
        order = page.evaluate("Array.from(document.querySelectorAll('#tracks tbody tr'), (r) =>"
                              " [r.querySelector('td.c-track a').textContent,"
                              " r.querySelector('td.c-similar').dataset.sort])")
        expected = similar_to(batch / "cadence", batch)
        assert order[0] == ["cadence.mid", "-1"]
        assert [Path(n).stem for n, _ in order[1:]] == [nb.name for nb in expected]
        for (_, d), nb in zip(order[1:], expected, strict=True):
            assert float(d) == pytest.approx(nb.distance, abs=1e-3)
        assert page.evaluate("document.querySelector('th[data-col=similar]')"
                             ".getAttribute('aria-sort')") == "ascending"
        assert page.errors == []
        # a click on a point opens the report
        page.click_to_load(_point(page, "minor.mid"))
        assert page.evaluate("location.pathname").endswith("/minor/report.html")
    finally:
        page.close()


def test_map_of_2000_tracks_filters_colours_and_stays_responsive(browser: Browser,
                                                                tmp_path: Path) -> None:
    rows = synthetic_rows(2000)
    html = tmp_path / "index.html"
    html.write_text(render_index(rows), encoding="utf-8")
    page = browser.page(width=1280, height=900)
    try:
        figures = measure(page, html)
        print("\nmap of 2000 tracks (ms):", json.dumps(figures | {"filter_ms": [
            round(x) for x in figures["filter_ms"]], "hover_ms": [
            round(x) for x in figures["hover_ms"]]}))
        assert figures["errors"] == [] and figures["points"] == 1960
        assert not page.evaluate("document.getElementById('map-plot').classList"
                                 ".contains('marked')")
        got = summary(figures)
        print("summary (ms):", json.dumps({k: round(v) for k, v in got.items()}))
        assert got["first_render_ms"] < 10_000 and got["filter_max_ms"] < 1_000
        assert got["hover_max_ms"] < 500 and got["sort_ms"] < 3_000
        ok = [r for r in rows if r["read"]]
        # the filters show exactly the tracks that match
        page.evaluate("(() => { const s = document.getElementById('m-quadrant'); s.value = 'Q3';"
                      " s.dispatchEvent(new Event('change')); })()")
        q3 = sum(r["analysis"].affect.quadrant == "Q3" for r in ok)
        assert _visible(page, "#map-plot a[data-i]") == q3
        assert page.evaluate("document.getElementById('m-count').textContent") == (
            f"{q3} of 1960 tracks shown")
        assert _visible(page, "#tracks tbody tr") == q3  # the table follows
        tag = merge_tags(ok[0]["analysis"].tags)
        top = sorted(tag, key=lambda k: (-tag[k][0], k))[0]
        page.evaluate(f"(() => {{ const s = document.getElementById('m-tag'); "
                      f"s.value = {json.dumps(top)}; s.dispatchEvent(new Event('change')); }})()")

        def has(r: dict[str, Any]) -> bool:
            m = merge_tags(r["analysis"].tags)
            return top in sorted(m, key=lambda k: (-m[k][0], k))[:TOP_TAGS]

        both = sum(has(r) and r["analysis"].affect.quadrant == "Q3" for r in ok)
        assert 0 < _visible(page, "#map-plot a[data-i]") == both
        # colours: by quadrant, each point its quadrant's colour; trails: one per track
        page.evaluate("(() => { const s = document.getElementById('m-colour');"
                      " s.value = 'quadrant'; s.dispatchEvent(new Event('change')); })()")
        fills = page.evaluate("Array.from(document.querySelectorAll('#map-plot a[data-i]'),"
                              " (a) => [a.dataset.i, getComputedStyle(a.firstElementChild)"
                              ".fill])")
        by_quad: dict[str, set[str]] = {}
        data = page.evaluate("JSON.parse(document.getElementById('map-data').textContent)")
        for i, fill in fills:
            by_quad.setdefault(data["tracks"][int(i)]["q"], set()).add(fill)
        assert all(len(f) == 1 for f in by_quad.values()) and len(by_quad) == 4
        assert len(set().union(*by_quad.values())) == 4
        assert _visible(page, "#map-plot g.trails") == 0
        page.click("#m-trails")
        assert _visible(page, "#map-plot g.trails") == 1
        assert _visible(page, "#map-plot polyline") == both
        # few trails shown: each marks where it starts (not with all 1960: slow to draw)
        assert page.evaluate("document.getElementById('map-plot').classList.contains('marked')")
        legend = page.evaluate("document.getElementById('m-legend').innerText")
        assert all(q in legend for q in ("Q1", "Q2", "Q3", "Q4"))
        # the page's distance is midi2img.similar's (tags rounded to 4 decimals)
        feats = [features(r["analysis"], r["folder"], name=r["name"]) for r in ok]
        for i, j in ((0, 1), (5, 900), (1959, 3)):
            js = page.evaluate(f"window.midi2imgDistance({i}, {j})")
            py = compare(feats[i], feats[j])
            assert js["d"] == pytest.approx(py.distance, abs=1e-3)
            assert js["parts"].keys() == py.parts.keys()
        assert page.errors == [] and page.foreign_requests() == []
        page.set_viewport(390, 844, mobile=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        page.close()


@pytest.fixture(scope="module")
def emotion4q_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight real emotion4q recordings (the first two of each labelled quadrant by song id),
    converted with ``--report`` as a user converts a folder."""
    root = require_data("emotion4q")
    with open(root / "metadata.csv", newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["song"])
    picked = [r for q in ("Q1", "Q2", "Q3", "Q4") for r in [x for x in rows
                                                             if x["quadrant"] == q][:2]]
    out = tmp_path_factory.mktemp("e4q")
    r = run_cli("convert", *(str(root / p["file"]) for p in picked), "-o", str(out), "--report",
                "--quiet", *SMALL, timeout=900)
    assert r.returncode == 0, r.stderr
    return out


def test_map_of_real_recordings_clicks_through(emotion4q_batch: Path, browser: Browser) -> None:
    out = emotion4q_batch
    folders = sorted(p for p in out.iterdir() if (p / "analysis.json").is_file())
    assert len(folders) == 8
    quads = {f.name: json.loads((f / "analysis.json").read_text())["affect"]["quadrant"]
             for f in folders}
    page = _open(browser, out / "index.html")
    try:
        assert page.evaluate("document.querySelectorAll('#map-plot a[data-i]').length") == 8
        # each point sits in the quadrant of the plane its recording's affect says
        pts = page.evaluate("Array.from(document.querySelectorAll('#map-plot a[data-i]'), (a) =>"
                            " { const r = a.getBoundingClientRect(); return [a.dataset.i,"
                            " r.left + r.width / 2, r.top + r.height / 2]; })")
        plot = page.evaluate("(() => { const r = document.getElementById('map-plot')"
                             ".getBoundingClientRect(); return [r.left, r.top, r.width,"
                             " r.height]; })()")
        data = page.evaluate("JSON.parse(document.getElementById('map-data').textContent)")
        for i, x, y in pts:
            name = Path(data["tracks"][int(i)]["n"]).stem
            q = quads[name]
            right = x > plot[0] + plot[2] / 2
            up = y < plot[1] + plot[3] / 2
            assert right == (q in ("Q1", "Q4")) and up == (q in ("Q1", "Q2")), (name, q)
        # filter by each mood the batch has: exactly its recordings, in the map and the table
        assert len(set(quads.values())) >= 3
        for q in sorted(set(quads.values())):
            page.evaluate(f"(() => {{ const s = document.getElementById('m-quadrant');"
                          f" s.value = {json.dumps(q)}; s.dispatchEvent(new Event('change'));"
                          f" }})()")
            n = sum(v == q for v in quads.values())
            assert _visible(page, "#map-plot a[data-i]") == n
            assert _visible(page, "#tracks tbody tr") == n
        page.evaluate("(() => { const s = document.getElementById('m-quadrant'); s.value = '';"
                      " s.dispatchEvent(new Event('change')); })()")
        assert _visible(page, "#map-plot a[data-i]") == 8
        # hover a recording: its picture and a play button that plays the real file
        first = Path(data["tracks"][0]["n"]).name
        _hover(page, _point(page, data["tracks"][0]["n"]))
        assert first in page.evaluate("document.getElementById('m-card').innerText")
        assert page.evaluate("document.getElementById('m-img').naturalWidth") > 0
        page.click("#m-play")
        err = page.evaluate("new Promise((r) => { const a = document.getElementById('m-audio');"
                            " if (a.readyState > 0) r(a.error);"
                            " a.addEventListener('loadedmetadata', () => r(a.error));"
                            " a.addEventListener('error', () => r(a.error.code)); })")
        assert err is None
        # click through to the report, which lists the five nearest recordings of the batch
        target = folders[3].name
        stems = [Path(t["n"]).stem for t in data["tracks"]]
        page.click_to_load(_point(page, data["tracks"][stems.index(target)]["n"]))
        assert page.evaluate("location.pathname").endswith(f"/{target}/report.html")
        links = page.evaluate("Array.from(document.querySelectorAll('#similar a'),"
                              " (a) => a.getAttribute('href'))")
        assert len(links) == 5 and all(h.endswith("/report.html") for h in links)
        assert [Path(h).parent.name for h in links] == [
            nb.name for nb in similar_to(out / target, out)][:5]
        assert page.errors == []
    finally:
        page.close()
