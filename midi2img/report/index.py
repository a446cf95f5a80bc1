"""The index page of a batch: ``OUT/index.html``, one self-contained file.

A thumbnail grid and a sortable table (click a column header; a few lines of inline script
allowed by a hash in the page's Content-Security-Policy) of every track of a run, each row
linking to the track's ``report.html`` (a track ``--resume`` skipped, its folder complete, is
shown like one converted in the run); failed tracks are listed with their error.
The run log gives each track's record; everything else (key, tempo, genre, quadrant, duration,
image) is read from the track's ``analysis.json`` as a typed record
(:func:`midi2img.contract.read_track_folder`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from midi2img.contract import AnalysisRecord, read_track_folder
from midi2img.errors import Midi2ImgError
from midi2img.report.html import (
    QUADRANT_NAMES,
    REPORT_NAME,
    _e,
    fmt_time,
    image_data_uri,
    merge_tags,
)
from midi2img.similar import MODE_STEP, TEMPO_OCTAVE_SHARE, WEIGHTS, TrackFeatures, features

#: File name of the batch index inside the output folder.
INDEX_NAME = "index.html"
#: The run statuses of a track whose folder is complete: converted in this run, or skipped by
#: ``--resume`` because it already was.
DONE = ("ok", "skipped")
#: Longest side, in pixels, of a thumbnail.
THUMB_PX = 192
#: The table's columns: (key, header, sort type).
COLUMNS = (("track", "Track", "text"), ("duration", "Duration", "num"), ("key", "Key", "text"),
           ("tempo", "Tempo", "num"), ("genre", "Genre", "text"),
           ("quadrant", "Mood", "text"), ("status", "Status", "text"),
           ("similar", "Similarity", "num"))
#: Tempo ranges of the map's filter and colours: (label, lowest BPM).
TEMPO_RANGES = (("< 80 BPM", 0.0), ("80-110 BPM", 80.0), ("110-140 BPM", 110.0),
                ("≥ 140 BPM", 140.0))
#: The trails' starts are marked while at most this many tracks are shown (a marker each is
#: slow to draw by the thousand: bench/index_map.md).
MARKED_TRAILS = 300
#: How many of a track's strongest tags it is found by (the map's tag filter and colours).
TOP_TAGS = 5

_SCRIPT = """
"use strict";
const $ = (id) => document.getElementById(id);
const table = document.querySelector("table[data-sortable]");
for (const t of document.querySelectorAll("table[data-sortable]")) {
  const body = t.tBodies[0];
  const heads = Array.from(t.tHead.rows[0].cells);
  heads.forEach((th, col) => {
    const button = th.querySelector("button");
    if (!button) return;
    button.addEventListener("click", () => {
      const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      const num = th.dataset.type === "num";
      const key = (row) => row.cells[col].dataset.sort ?? "";
      const rows = Array.from(body.rows);
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === "" || y === "") return (x === "") - (y === "");
        const d = num ? Number(x) - Number(y) : x.localeCompare(y, undefined, {numeric: true});
        return dir * d;
      });
      for (const h of heads) h.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
      body.append(...rows);
    });
  });
}
const data = $("map-data") && JSON.parse($("map-data").textContent);
if (data) {
  const T = data.tracks, W = data.weights, plot = $("map-plot");
  const dots = new Array(T.length), trails = new Array(T.length), rows = new Array(T.length);
  for (const a of plot.querySelectorAll("a[data-i]")) dots[+a.dataset.i] = a;
  for (const l of plot.querySelectorAll("polyline[data-i]")) trails[+l.dataset.i] = l;
  for (const r of table.tBodies[0].rows) if (r.dataset.i) rows[+r.dataset.i] = r;
  const PALETTE = ["#6b3fd4", "#d0453a", "#2e9b5f", "#e0a000", "#3f6fd8", "#c2409a", "#1b9aaa",
                   "#8c6d31", "#f26b21", "#5c6b73"];
  const QUAD = {Q1: "#e0a000", Q2: "#d0453a", Q3: "#3f6fd8", Q4: "#2e9b5f"};
  const range = (bpm) => {
    if (bpm == null) return "none";
    let label = data.tempo_ranges[0][0];
    for (const [name, low] of data.tempo_ranges) if (bpm >= low) label = name;
    return label;
  };
  const group = {genre: (t) => t.g ?? "none", quadrant: (t) => t.q ?? "none",
                 key: (t) => t.k ?? "none", tempo: (t) => range(t.tp),
                 tag: (t) => t.top[0] ?? "none"};
  const keyColour = (t) => t.kp ? `hsl(${t.kp[0] * 30} 70% ${t.kp[1] ? 36 : 56}%)` : "#999";
  function palette(by) {
    const counts = new Map();
    for (const t of T) { const g = group[by](t); counts.set(g, (counts.get(g) || 0) + 1); }
    let cats = Array.from(counts.keys());
    if (by === "tempo") cats = data.tempo_ranges.map((r) => r[0]).concat(["none"])
      .filter((c) => counts.has(c));
    else cats.sort((a, b) => (a === "none") - (b === "none") || counts.get(b) - counts.get(a)
                   || a.localeCompare(b));
    const colour = new Map();
    cats.forEach((c, n) => colour.set(c, c === "none" ? "#999" : by === "quadrant"
      ? QUAD[c] || "#999" : by === "key" ? keyColour(T.find((t) => t.k === c))
      : n < PALETTE.length ? PALETTE[n] : "#999"));
    return {cats, colour, counts};
  }
  const filters = ["genre", "quadrant", "key", "tempo", "tag"];
  function keep(t) {
    for (const f of filters) {
      const want = $("m-" + f).value;
      if (!want) continue;
      if (f === "tag" ? !t.top.includes(want) : group[f](t) !== want) return false;
    }
    return true;
  }
  function apply() {
    const by = $("m-colour").value, {cats, colour, counts} = palette(by);
    const any = filters.some((f) => $("m-" + f).value);
    let shown = 0;
    T.forEach((t, i) => {
      const ok = keep(t), fill = by === "key" ? keyColour(t) : colour.get(group[by](t));
      shown += ok;
      dots[i].classList.toggle("off", !ok);
      dots[i].firstElementChild.style.fill = fill;
      if (trails[i]) { trails[i].classList.toggle("off", !ok); trails[i].style.stroke = fill; }
      if (rows[i]) rows[i].hidden = !ok;
    });
    for (const r of table.tBodies[0].rows) if (!r.dataset.i) r.hidden = any;
    const items = cats.slice(0, 12).map((c) => `<li><i style="background:${colour.get(c)}">`
      + `</i>${esc(c)} <small>${counts.get(c)}</small></li>`);
    if (cats.length > 12) items.push(`<li><small>+${cats.length - 12} more</small></li>`);
    $("m-legend").innerHTML = items.join("");
    $("m-count").textContent = `${shown} of ${T.length} tracks shown`;
    // where a trail starts: marked while few are shown (markers are slow to draw by the 1000)
    plot.classList.toggle("marked", shown <= data.marked_trails);
  }
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  function distance(a, b) {
    const raw = {}, missing = [];
    let tags = null;
    if (a.x && b.x) {
      let dot = 0, na = 0, nb = 0;
      for (let j = 0; j < a.x.length; j++) {
        dot += a.x[j] * b.x[j]; na += a.x[j] * a.x[j]; nb += b.x[j] * b.x[j];
      }
      if (na > 0 && nb > 0) tags = Math.min(1, Math.max(0, 1 - dot / Math.sqrt(na * nb)));
    }
    const parts = {
      tags,
      affect: a.v != null && b.v != null
        ? Math.min(1, Math.hypot(a.v - b.v, a.a - b.a) / (2 * Math.SQRT2)) : null,
      tempo: a.tp != null && b.tp != null ? (() => {
        const oct = Math.abs(Math.log2(a.tp / b.tp)), f = oct - Math.floor(oct);
        return Math.min(1, (1 - data.tempo_octave_share) * Math.min(f, 1 - f) * 2
                        + data.tempo_octave_share * Math.min(oct, 1));
      })() : null,
      key: a.kp && b.kp ? (() => {
        let s = Math.abs(a.kp[0] - b.kp[0]) % 12;
        s = Math.min(s, 12 - s);
        return (s + (a.kp[1] !== b.kp[1] ? data.mode_step : 0)) / (6 + data.mode_step);
      })() : null,
    };
    let wsum = 0;
    for (const k of Object.keys(W)) {
      if (parts[k] == null) missing.push(k); else { raw[k] = parts[k]; wsum += W[k]; }
    }
    const out = {};
    let d = wsum ? 0 : 1;
    for (const k of Object.keys(raw)) { out[k] = W[k] * raw[k] / wsum; d += out[k]; }
    return {d, parts: out, missing};
  }
  function explain(r) {
    let s = Object.entries(r.parts).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(" + ");
    if (r.missing.length) s += ` (no ${r.missing.join(", ")}: weights renormalised)`;
    return s;
  }
  function similarTo(i) {
    $("similar-to").value = String(i);
    if (i < 0 || Number.isNaN(i)) return;
    for (const r of table.tBodies[0].rows) {
      const cell = r.querySelector("td.c-similar");
      const j = r.dataset.i === undefined ? -1 : +r.dataset.i;
      cell.classList.remove("empty");
      if (j < 0) { cell.dataset.sort = ""; cell.textContent = "—"; continue; }
      if (j === i) { cell.dataset.sort = "-1"; cell.textContent = "this track"; continue; }
      const r2 = distance(T[i], T[j]);
      cell.dataset.sort = r2.d.toFixed(6);
      cell.textContent = r2.d.toFixed(2);
      cell.title = explain(r2);
    }
    const th = table.querySelector("th[data-col=similar]");
    th.removeAttribute("aria-sort");
    th.querySelector("button").click();
  }
  window.midi2imgDistance = (i, j) => distance(T[i], T[j]);
  let current = -1;
  function show(i) {
    if (i === current) return;
    current = i;
    const t = T[i], card = $("m-card");
    const thumb = document.querySelector(`.thumbs li[data-i="${i}"] img`);
    let img = $("m-img");
    if (!img && thumb) {  // made on first use: no empty image in the page before
      img = document.createElement("img");
      img.id = "m-img";
      img.alt = "";
      card.insertBefore(img, $("m-name"));
    }
    if (img) img.hidden = !thumb;
    if (thumb) img.src = thumb.src;
    $("m-name").textContent = t.n;
    $("m-facts").textContent = [t.k, t.tp != null ? `${Math.round(t.tp)} BPM` : null, t.g,
      t.q, t.v != null ? `valence ${t.v.toFixed(2)}, arousal ${t.a.toFixed(2)}` : null]
      .filter(Boolean).join(" · ");
    $("m-tags").textContent = t.top.join(", ");
    const link = $("m-report");
    link.hidden = !t.r;
    if (t.r) link.href = t.r;
    $("m-play").hidden = !t.au;
    $("m-noaudio").hidden = !!t.au;
    $("m-noaudio").textContent = "no recording to play (MIDI input, or not on disk)";
    card.dataset.i = String(i);
    $("m-hint").hidden = true;
    $("m-acts").hidden = false;
  }
  const pick = (e) => { const a = e.target.closest && e.target.closest("a[data-i]");
                        if (a) show(+a.dataset.i); };
  plot.addEventListener("mouseover", pick);
  plot.addEventListener("focusin", pick);
  $("m-play").addEventListener("click", () => {
    const t = T[current], audio = $("m-audio");
    if (!t || !t.au) return;
    if (audio.dataset.i !== String(current)) { audio.src = t.au; audio.dataset.i = current; }
    audio.hidden = false;
    audio.play().catch((e) => { $("m-noaudio").hidden = false;
                                $("m-noaudio").textContent = `cannot play: ${e.message}`; });
  });
  $("m-similar").addEventListener("click", () => {
    similarTo(current);
    $("tracks").scrollIntoView({block: "start"});
  });
  $("similar-to").addEventListener("change", (e) => similarTo(Number(e.target.value)));
  for (const id of ["m-colour", ...filters.map((f) => "m-" + f)])
    $(id).addEventListener("change", apply);
  $("m-trails").addEventListener("change", () => {
    plot.classList.toggle("trails", $("m-trails").checked);
  });
  apply();
  document.documentElement.dataset.mapReady = performance.now().toFixed(1);
}
"""

_STYLE = """
:root{--bg:#f6f5f2;--card:#fff;--ink:#1d1d22;--muted:#6a6a75;--line:#e3e1dc;--accent:#6b3fd4;
--chip:#efecf9;--bad:#b3261e;--badbg:#fdecea;--warn:#8a5a00;--warnbg:#fff4d6}
@media (prefers-color-scheme:dark){:root{--bg:#121216;--card:#1c1c22;--ink:#ecebf2;
--muted:#a2a1ad;--line:#2e2d36;--accent:#b69cff;--chip:#2a2640;--bad:#ff8a80;--badbg:#3a1d1d;
--warn:#e2b04a;--warnbg:#3a3020}}
*{box-sizing:border-box}
[hidden]{display:none!important}
.lazy{content-visibility:auto;contain-intrinsic-size:auto 900px}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.page{max-width:1280px;margin:0 auto;padding:16px}
.kicker{margin:0;text-transform:uppercase;letter-spacing:.12em;font-size:.72rem;
color:var(--accent);font-weight:600}
h1{font-size:clamp(1.4rem,4vw,2.2rem);margin:.1rem 0 .3rem;overflow-wrap:anywhere}
h2{font-size:1.05rem;margin:0 0 .6rem}
.summary{color:var(--muted);margin:0 0 16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:16px;
margin-bottom:16px;min-width:0}
.thumbs{list-style:none;margin:0;padding:0;display:grid;gap:12px;
grid-template-columns:repeat(auto-fill,minmax(min(100%,140px),1fr))}
.thumbs a{display:block;color:inherit;text-decoration:none;border-radius:10px;overflow:hidden;
border:1px solid var(--line);background:var(--bg)}
.thumbs a:hover,.thumbs a:focus-visible{outline:2px solid var(--accent)}
.thumbs img,.thumbs .noimg{display:block;width:100%;aspect-ratio:1/1;object-fit:cover;
background:var(--line)}
.thumbs .noimg{display:flex;align-items:center;justify-content:center;color:var(--muted);
font-size:.8rem}
.thumbs span{display:block;padding:4px 8px;font-size:.78rem;white-space:nowrap;overflow:hidden;
text-overflow:ellipsis}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th{text-align:left;border-bottom:2px solid var(--line);padding:0;white-space:nowrap}
th button{all:unset;cursor:pointer;display:block;padding:6px 8px;font-size:.72rem;
text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
th button:focus-visible{outline:2px solid var(--accent)}
th button::after{content:" ↕";opacity:.4}
th[aria-sort=ascending] button::after{content:" ▲";opacity:1}
th[aria-sort=descending] button::after{content:" ▼";opacity:1}
td{padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
td.c-track{overflow-wrap:anywhere;min-width:10rem}
td.c-track a{color:var(--accent);font-weight:600}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.status{display:inline-block;border-radius:999px;padding:0 8px;font-size:.78rem;
background:var(--chip)}
.status.failed{background:var(--badbg);color:var(--bad)}
.status.skipped{background:var(--warnbg);color:var(--warn)}
.err{display:block;color:var(--bad);font-size:.8rem;overflow-wrap:anywhere}
.failures li{margin-bottom:6px;overflow-wrap:anywhere}
.failures code{font-size:.85em}
@media (max-width:719px){table,thead,tbody,tr,th,td{display:block}
thead tr{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:6px}
th{border:0}th button{background:var(--chip);border-radius:999px;padding:3px 10px}
tbody tr{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 14px;padding:8px 0;
border-bottom:1px solid var(--line)}
td{border:0;padding:0}td.c-track{flex-basis:100%;min-width:0}td.empty{display:none}}
footer{color:var(--muted);font-size:.78rem;text-align:center;padding:12px 0}
.map{display:grid;gap:16px;grid-template-columns:minmax(0,560px) minmax(0,1fr);align-items:start}
@media (max-width:859px){.map{grid-template-columns:minmax(0,1fr)}}
#map-plot{display:block;width:100%;height:auto;aspect-ratio:1/1;touch-action:manipulation}
#map-plot .q{opacity:.5}#map-plot .q1{fill:#fff3c8}#map-plot .q2{fill:#ffdcdc}
#map-plot .q3{fill:#dde6ff}#map-plot .q4{fill:#dcf5e4}
@media (prefers-color-scheme:dark){#map-plot .q{opacity:.12}}
#map-plot .axis{stroke:var(--muted);stroke-width:1}
#map-plot text{fill:var(--muted);font-size:11px}
#map-plot circle{fill:var(--accent);stroke:var(--card);stroke-width:1;opacity:.85}
#map-plot a:hover circle,#map-plot a:focus circle{stroke:var(--ink);stroke-width:2.5;opacity:1}
#map-plot a:focus{outline:none}
#map-plot polyline{fill:none;stroke:var(--muted);stroke-width:1.5;opacity:.55;
stroke-linejoin:round}
#map-plot g.trails{display:none}#map-plot.trails g.trails{display:inline}
#map-plot.marked polyline{marker-start:url(#m-start)}
#map-plot marker circle{fill:var(--muted);stroke:none}
#map-plot .off{display:none!important}
.controls{display:grid;grid-template-columns:repeat(auto-fill,minmax(140px,1fr));gap:8px;
margin:0 0 10px}
.controls label{display:flex;flex-direction:column;font-size:.75rem;color:var(--muted);gap:2px}
.controls select{font:inherit;font-size:.85rem;min-width:0;max-width:100%}
.controls .check{flex-direction:row;align-items:center;gap:6px}
#m-count{font-size:.8rem;color:var(--muted);margin:0 0 6px}
#m-legend{list-style:none;margin:0 0 10px;padding:0;display:flex;flex-wrap:wrap;gap:4px 12px;
font-size:.78rem}
#m-legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px}
#m-card{border:1px solid var(--line);border-radius:10px;padding:10px;display:grid;gap:8px 12px;
grid-template-columns:96px minmax(0,1fr)}
#m-hint{grid-column:1/-1}
#m-card img{width:96px;height:96px;object-fit:cover;border-radius:6px;grid-row:span 2}
#m-card b{display:block;overflow-wrap:anywhere}
#m-card p{margin:0;font-size:.8rem;color:var(--muted);overflow-wrap:anywhere}
#m-card .acts{grid-column:1/-1;display:flex;flex-wrap:wrap;gap:8px;align-items:center}
#m-card button,#m-card a{font:inherit;font-size:.8rem}
#m-card audio{grid-column:1/-1;width:100%}
.pick{font-size:.85rem;margin:0 0 8px;display:flex;gap:6px;align-items:center;flex-wrap:wrap}
.pick select{font:inherit;max-width:100%}
@media print{body{background:#fff;font-size:10pt}.page{max-width:none;padding:0}
.card{border:0;padding:8px 0}.thumbs{grid-template-columns:repeat(6,1fr)}
th button::after{content:""}footer{display:none}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def _total_s(timings: Any) -> float | None:
    """A run record's total seconds (the run log is read as it was written: a line may come
    from an older version or a killed run)."""
    total = timings.get("total") if isinstance(timings, Mapping) else None
    if isinstance(total, bool) or not isinstance(total, int | float):
        return None
    return float(total) if math.isfinite(total) else None


def _href(relative: str) -> str:
    """A relative link, each path part percent-encoded, then HTML-escaped."""
    return _e("/".join(quote(part) for part in Path(relative).parts))


def _relative(out_dir: Path, output: str) -> str | None:
    """The record's output folder relative to ``out_dir`` (None when it is elsewhere)."""
    p = Path(output)
    if not p.is_absolute():
        return p.as_posix()
    try:
        return p.resolve().relative_to(out_dir.resolve()).as_posix()
    except ValueError:
        return Path(os.path.relpath(p, out_dir)).as_posix()


def _audio_href(out_dir: Path, source: str) -> str | None:
    """A link from the index to the track's source recording, when that file is on disk now
    (relative to ``out_dir``; None for MIDI, a file gone, or one on another drive)."""
    p = Path(source)
    try:
        if not p.is_file():
            return None
        rel = os.path.relpath(p.resolve(), out_dir.resolve())
    except (OSError, ValueError):
        return None
    return "/".join(quote(part) for part in Path(rel).parts)


def _row(out_dir: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    """One track's row: the record plus what its ``analysis.json`` says."""
    source = str(record.get("source") or "?")
    status = str(record.get("status") or "unknown")
    row: dict[str, Any] = {"source": source, "name": Path(source).name, "status": status,
                           "error": record.get("error"), "folder": None,
                           "analysis": AnalysisRecord(), "report": None, "thumb": None,
                           "total_s": _total_s(record.get("timings_s")), "read": False,
                           "audio": None}
    output = record.get("output")
    if not output:
        return row
    rel = _relative(out_dir, str(output))
    folder = out_dir / rel if rel is not None else Path(str(output))
    row["folder"] = rel
    try:
        analysis = row["analysis"] = read_track_folder(folder)
    except Midi2ImgError as exc:
        if status == "ok":
            row["error"] = row["error"] or str(exc)
        return row
    row["read"] = True
    if analysis.input_kind != "midi":
        row["audio"] = _audio_href(out_dir, analysis.source or source)
    if (folder / REPORT_NAME).is_file():
        row["report"] = f"{rel}/{REPORT_NAME}"
    image = analysis.image.file if analysis.image else None
    if image is not None and (folder / image).is_file():
        try:
            row["thumb"] = image_data_uri(folder / image, max_px=THUMB_PX, quality=78,
                                          keep_png_bytes=24_000)
        except Midi2ImgError:
            pass
    return row


def _cells(row: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Column key -> (sort value, cell HTML)."""
    a: AnalysisRecord = row["analysis"]
    dur, tempo = a.duration_s, a.tempo_bpm
    genre = a.genre.label if a.genre else None
    quad = a.affect.quadrant if a.affect else None
    name = _e(row["name"])
    link = (f'<a href="{_href(row["report"])}">{name}</a>' if row["report"] else name)
    err = f'<span class="err">{_e(row["error"])}</span>' if row["error"] else ""
    status = row["status"]
    return {
        "track": (row["name"].lower(), f"{link}{err}"),
        "duration": ("" if dur is None else f"{dur:.3f}", fmt_time(dur) if dur is not None
                     else "—"),
        "key": ((a.key or "").lower(), _e(a.key or "—")),
        "tempo": ("" if tempo is None else f"{tempo:.3f}",
                  f"{tempo:.0f} BPM" if tempo is not None else "—"),
        "genre": (str(genre or "").lower(), _e(genre or "—")),
        "quadrant": (quad or "", f'{_e(quad)} <small>{_e(QUADRANT_NAMES.get(quad or "", ""))}'
                     "</small>" if quad else "—"),
        "status": (status, f'<span class="status {_e(status)}">{_e(status)}</span>'),
        "similar": ("", "—"),
    }


#: The plane's size in SVG units, and the radius of valence/arousal 1 in them.
_SIZE, _R = 400, 184


def _xy(valence: float, arousal: float) -> str:
    return f"{_SIZE / 2 + valence * _R:.1f},{_SIZE / 2 - arousal * _R:.1f}"


def map_data(rows: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], list[int]]:
    """The map's data (embedded as JSON: what the page's script filters, colours and measures
    similarity by) and, per row, its index in ``tracks`` (-1 for a row without analysis).

    Each track: ``n`` name, ``r`` report link, ``v``/``a`` valence/arousal, ``q`` quadrant,
    ``g`` genre, ``k`` key, ``kp`` its circle-of-fifths place and mode, ``tp`` tempo, ``top``
    its strongest tags, ``x`` its tag probabilities in the order of ``vocab`` (null without
    tags), ``au`` a link to its source recording (null when not on disk). The weights and
    constants are :mod:`midi2img.similar`'s, so both compute the same distance.
    """
    feats: list[tuple[Mapping[str, Any], TrackFeatures]] = []
    index: list[int] = []
    for r in rows:
        if not r.get("read"):
            index.append(-1)
            continue
        index.append(len(feats))
        feats.append((r, features(r["analysis"], r["folder"] or r["name"], name=r["name"])))
    vocab = sorted({t for _, f in feats for t in f.tags})
    tracks = []
    for r, f in feats:
        a: AnalysisRecord = r["analysis"]
        top = sorted(merge_tags(a.tags).items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP_TAGS]
        tracks.append({
            "n": r["name"], "r": "/".join(quote(p) for p in Path(r["report"]).parts)
            if r["report"] else None,
            "v": f.affect[0] if f.affect else None, "a": f.affect[1] if f.affect else None,
            "q": f.quadrant, "g": f.genre, "k": a.key, "kp": list(f.key) if f.key else None,
            "tp": f.tempo_bpm, "top": [name for name, _ in top],
            "x": [round(f.tags.get(t, 0.0), 4) for t in vocab] if f.tags else None,
            "au": r.get("audio")})
    return ({"weights": dict(WEIGHTS), "tempo_octave_share": TEMPO_OCTAVE_SHARE,
             "mode_step": MODE_STEP, "marked_trails": MARKED_TRAILS,
             "tempo_ranges": [list(t) for t in TEMPO_RANGES],
             "vocab": vocab, "tracks": tracks}, index)


def _options(values: Sequence[str], label: str) -> str:
    return f'<option value="">{label}</option>' + "".join(
        f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)


def _map_section(rows: Sequence[Mapping[str, Any]], data: Mapping[str, Any],
                 index: Sequence[int]) -> str:
    """The valence-arousal plane: a point per track (a link to its report), its sections'
    trail, the controls, the legend and the hover card."""
    tracks = data["tracks"]
    if not tracks:
        return ""
    half, r = _SIZE / 2, _R
    parts = [f'<rect class="q q{n}" x="{x}" y="{y}" width="{r}" height="{r}"/>'
             for n, x, y in ((1, half, half - r), (2, half - r, half - r), (3, half - r, half),
                             (4, half, half))]
    parts.append(f'<line class="axis" x1="{half - r}" y1="{half}" x2="{half + r}" y2="{half}"/>'
                 f'<line class="axis" x1="{half}" y1="{half - r}" x2="{half}" y2="{half + r}"/>'
                 f'<text x="{half + r}" y="{half - 4}" text-anchor="end">valence →</text>'
                 f'<text x="{half + 4}" y="{half - r + 10}">arousal ↑</text>')
    for q, x, y, anchor in (("Q1", half + r - 2, half - r + 24, "end"),
                            ("Q2", half - r + 2, half - r + 12, "start"),
                            ("Q3", half - r + 2, half + r - 4, "start"),
                            ("Q4", half + r - 2, half + r - 4, "end")):
        parts.append(f'<text x="{x}" y="{y}" text-anchor="{anchor}">{q} '
                     f"{_e(QUADRANT_NAMES[q])}</text>")
    dots, trails = [], []
    for row, i in zip(rows, index, strict=True):
        if i < 0:
            continue
        t = tracks[i]
        a: AnalysisRecord = row["analysis"]
        # a section too short for a mood of its own has the track's (audio_from "track"): no
        # step of the trail
        secs = sorted((s for s in a.sections if s.affect is not None
                       and s.audio_from != "track"), key=lambda s: s.start_s)
        if t["v"] is not None and len(secs) >= 2:
            pts = " ".join(_xy(s.affect.valence, s.affect.arousal) for s in secs
                           if s.affect is not None)
            trails.append(f'<polyline data-i="{i}" points="{pts}"/>')
        if t["v"] is None:
            continue
        cx, cy = _xy(t["v"], t["a"]).split(",")
        href = f' href="{_href(row["report"])}"' if row["report"] else ""
        dots.append(f'<a data-i="{i}"{href} tabindex="0" aria-label="{_e(t["n"])}">'
                    f'<circle cx="{cx}" cy="{cy}" r="5"><title>{_e(t["n"])}</title></circle></a>')
    no_affect = sum(1 for t in tracks if t["v"] is None)
    missing = (f'<p class="summary">{no_affect} track(s) without valence and arousal are not '
               "on the plane</p>" if no_affect else "")

    def values(key: str) -> list[str]:
        return sorted({str(t[key]) for t in tracks if t[key] is not None})

    tags = sorted({name for t in tracks for name in t["top"]})
    ranges = [label for label, _ in TEMPO_RANGES]
    controls = (
        '<div class="controls">'
        '<label>Colour by<select id="m-colour">'
        + "".join(f'<option value="{k}">{v}</option>' for k, v in (
            ("quadrant", "mood quadrant"), ("genre", "genre"), ("key", "key"),
            ("tempo", "tempo range"), ("tag", "strongest tag")))
        + "</select></label>"
        f'<label>Genre<select id="m-genre">{_options(values("g"), "all")}</select></label>'
        f'<label>Mood<select id="m-quadrant">{_options(values("q"), "all")}</select></label>'
        f'<label>Key<select id="m-key">{_options(values("k"), "all")}</select></label>'
        f'<label>Tempo<select id="m-tempo">{_options(ranges, "all")}</select></label>'
        f'<label>Tag<select id="m-tag">{_options(tags, "all")}</select></label>'
        '<label class="check"><input type="checkbox" id="m-trails"> sections as trails'
        "</label></div>")
    card = ('<div id="m-card"><p id="m-hint">hover or focus a point: its picture, key, tempo '
            "and tags, a link to its report, its recording and the tracks most like it</p>"
            '<b id="m-name"></b><p id="m-facts"></p>'
            '<p id="m-tags" class="acts"></p><div class="acts" id="m-acts" hidden>'
            '<a id="m-report">open report</a>'
            '<button type="button" id="m-play">▶ play source</button>'
            '<span id="m-noaudio" hidden></span>'
            '<button type="button" id="m-similar">sort the table by similarity</button></div>'
            '<audio id="m-audio" controls preload="none" hidden></audio></div>')
    svg = (f'<svg id="map-plot" viewBox="0 0 {_SIZE} {_SIZE}" role="img" '
           f'aria-label="valence-arousal plane of {len(tracks)} tracks">'
           '<defs><marker id="m-start" viewBox="0 0 6 6" refX="3" refY="3" markerWidth="6" '
           'markerHeight="6"><circle cx="3" cy="3" r="2.2"/></marker></defs>'
           f'{"".join(parts)}'
           f'<g class="trails">{"".join(trails)}</g><g class="dots">{"".join(dots)}</g></svg>')
    return ('<section id="map" data-section="map" class="card"><h2>Map</h2>'
            '<div class="map"><div>' + svg + missing + "</div><div>" + controls
            + '<p id="m-count"></p><ul id="m-legend"></ul>' + card + "</div></div></section>")


def render_index(rows: Sequence[Mapping[str, Any]], *, title: str = "midi2img batch") -> str:
    """The index page of already-collected rows (see :func:`write_index`)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    total = sum(t for r in rows if (t := r.get("total_s")) is not None)
    if total:
        summary += f" · {total:.1f} s in all"
    data, index = map_data(rows)
    thumbs = []
    for r, i in zip(rows, index, strict=True):
        if r["status"] not in DONE or not r["folder"]:
            continue
        pic = (f'<img src="{r["thumb"]}" alt="" loading="lazy">' if r["thumb"]
               else '<span class="noimg">no image</span>')
        target = _href(r["report"]) if r["report"] else _href(r["folder"])
        thumbs.append(f'<li data-thumb="{_e(r["name"])}" data-i="{i}"><a href="{target}" '
                      f'title="{_e(r["source"])}">{pic}<span>{_e(r["name"])}</span></a></li>')
    grid = (f'<ul class="thumbs">{"".join(thumbs)}</ul>' if thumbs
            else '<p class="summary">no images</p>')
    head = "".join(f'<th data-col="{k}" data-type="{t}"><button type="button">'
                   f"{label}</button></th>" for k, label, t in COLUMNS)
    body = []
    for r, i in zip(rows, index, strict=True):
        cells = _cells(r)
        tds = "".join(f'<td class="c-{k}{" num" if t == "num" else ""}'
                      f'{"" if cells[k][0] else " empty"}" data-sort="{_e(cells[k][0])}">'
                      f"{cells[k][1]}</td>" for k, _, t in COLUMNS)
        at = f' data-i="{i}"' if i >= 0 else ""
        body.append(f'<tr data-status="{_e(r["status"])}"{at}>{tds}</tr>')
    failed = [r for r in rows if r["status"] not in DONE or r["error"]]
    fail_html = ""
    if failed:
        items = "".join(f'<li data-failed="{_e(r["name"])}"><b>{_e(r["source"])}</b> '
                        f'<span class="status {_e(r["status"])}">{_e(r["status"])}</span>'
                        f'<span class="err">{_e(r["error"] or "no error message")}</span></li>'
                        for r in failed)
        fail_html = (f'<section id="failures" data-section="failures" class="card">'
                     f'<h2>Failed</h2><ul class="failures">{items}</ul></section>')
    pick = ""
    if data["tracks"]:
        names = "".join(f'<option value="{n}">{_e(t["n"])}</option>'
                        for n, t in enumerate(data["tracks"]))
        pick = ('<label class="pick">Sort by similarity to <select id="similar-to">'
                f'<option value="-1">choose a track</option>{names}</select></label>')
    # JSON in a data block: "<" escaped so that no "</script>" or "<!--" can end it early
    blob = json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).replace("<", "\\u003c")
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode()
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src 'sha256-{digest}'; media-src 'self' file:; base-uri 'none'; "
           "form-action 'none'")
    return ("<!doctype html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="color-scheme" content="light dark">'
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
            '<div class="page"><header id="overview" data-section="overview">'
            f'<p class="kicker">midi2img batch</p><h1>{_e(title)}</h1>'
            f'<p class="summary">{len(rows)} tracks: {_e(summary or "none")}</p></header>'
            f"{_map_section(rows, data, index)}"
            f'<section id="gallery" data-section="gallery" class="card lazy"><h2>Images</h2>{grid}'
            "</section>"
            f'<section id="tracks" data-section="tracks" class="card lazy"><h2>Tracks</h2>{pick}'
            f'<div class="scroll"><table data-sortable><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div></section>{fail_html}'
            "<footer>hover a point for its track, click it for its report · click a column "
            "header to sort · self-contained, opens offline</footer></div>"
            f'<script type="application/json" id="map-data">{blob}</script>'
            f"<script>{_SCRIPT}</script></body></html>\n")


def batch_track_folders(out_dir: str | Path, records: Sequence[Mapping[str, Any]]
                        ) -> list[Path]:
    """The track folders a run log names (its ``ok`` and ``skipped`` tracks), in its order."""
    out = Path(out_dir)
    folders: list[Path] = []
    for r in records:
        if r.get("status") not in ("ok", "skipped") or not r.get("output"):
            continue
        rel = _relative(out, str(r["output"]))
        folder = out / rel if rel is not None else Path(str(r["output"]))
        if folder not in folders:
            folders.append(folder)
    return folders


def index_step(out_dir: Path, records: list[dict[str, Any]]) -> Path:
    """``convert --report`` on a batch, once every track is done: each track's
    ``report.html`` gets the batch's most similar tracks (:func:`midi2img.similar.
    neighbours_of_batch`; the track steps wrote the pages before the batch was whole), then
    ``OUT/index.html`` is written from the run record. Every page is replaced atomically, so a
    ``--resume`` run (whose skipped tracks keep their pages) lists the whole batch again."""
    from midi2img.report.html import update_similar
    from midi2img.similar import neighbours_of_batch

    for folder, similar in neighbours_of_batch(batch_track_folders(out_dir, records)).items():
        if (folder / REPORT_NAME).is_file():
            update_similar(folder, similar)
    return write_index(out_dir, records)


def write_index(out_dir: str | Path, records: Sequence[Mapping[str, Any]], *,
                title: str | None = None) -> Path:
    """Write ``out_dir/index.html`` for a batch.

    Args:
        out_dir: The batch's output folder (the one holding the track folders).
        records: The run log, one record per track: ``{"source", "status" ("ok", "skipped"
            or "failed"), "error", "output" (track folder relative to ``out_dir``, or None),
            "timings_s"}``.
        title: The page title; default the folder's name.

    Returns:
        The path written.

    Raises:
        OutputError: the page cannot be written.
    """
    from midi2img.io import atomic_write_text

    out = Path(out_dir)
    rows = [_row(out, r) for r in records]
    page = render_index(rows, title=title or f"midi2img: {out.resolve().name}")
    return atomic_write_text(out / INDEX_NAME, page)
