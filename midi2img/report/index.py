"""The index page of a batch: ``OUT/index.html``, one self-contained file.

A thumbnail grid and a sortable table (click a column header; a few lines of inline script
allowed by a hash in the page's Content-Security-Policy) of every track of a run, each row
linking to the track's ``report.html``; failed and skipped tracks are listed with their error.
The run log gives each track's record; everything else (key, tempo, genre, quadrant, duration,
image) is read from the track's ``analysis.json`` as a typed record
(:func:`midi2img.contract.read_track_folder`).
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from midi2img.contract import AnalysisRecord, read_track_folder
from midi2img.errors import Midi2ImgError
from midi2img.report.html import QUADRANT_NAMES, REPORT_NAME, _e, fmt_time, image_data_uri

#: File name of the batch index inside the output folder.
INDEX_NAME = "index.html"
#: Longest side, in pixels, of a thumbnail.
THUMB_PX = 192
#: The table's columns: (key, header, sort type).
COLUMNS = (("track", "Track", "text"), ("duration", "Duration", "num"), ("key", "Key", "text"),
           ("tempo", "Tempo", "num"), ("genre", "Genre", "text"),
           ("quadrant", "Mood", "text"), ("status", "Status", "text"))

_SCRIPT = """
for (const table of document.querySelectorAll("table[data-sortable]")) {
  const body = table.tBodies[0];
  const heads = Array.from(table.tHead.rows[0].cells);
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
"""

_STYLE = """
:root{--bg:#f6f5f2;--card:#fff;--ink:#1d1d22;--muted:#6a6a75;--line:#e3e1dc;--accent:#6b3fd4;
--chip:#efecf9;--bad:#b3261e;--badbg:#fdecea;--warn:#8a5a00;--warnbg:#fff4d6}
@media (prefers-color-scheme:dark){:root{--bg:#121216;--card:#1c1c22;--ink:#ecebf2;
--muted:#a2a1ad;--line:#2e2d36;--accent:#b69cff;--chip:#2a2640;--bad:#ff8a80;--badbg:#3a1d1d;
--warn:#e2b04a;--warnbg:#3a3020}}
*{box-sizing:border-box}
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


def _row(out_dir: Path, record: Mapping[str, Any]) -> dict[str, Any]:
    """One track's row: the record plus what its ``analysis.json`` says."""
    source = str(record.get("source") or "?")
    status = str(record.get("status") or "unknown")
    row: dict[str, Any] = {"source": source, "name": Path(source).name, "status": status,
                           "error": record.get("error"), "folder": None,
                           "analysis": AnalysisRecord(), "report": None, "thumb": None,
                           "total_s": _total_s(record.get("timings_s"))}
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
    }


def render_index(rows: Sequence[Mapping[str, Any]], *, title: str = "midi2img batch") -> str:
    """The index page of already-collected rows (see :func:`write_index`)."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    total = sum(t for r in rows if (t := r.get("total_s")) is not None)
    if total:
        summary += f" · {total:.1f} s in all"
    thumbs = []
    for r in rows:
        if r["status"] != "ok" or not r["folder"]:
            continue
        pic = (f'<img src="{r["thumb"]}" alt="" loading="lazy">' if r["thumb"]
               else '<span class="noimg">no image</span>')
        target = _href(r["report"]) if r["report"] else _href(r["folder"])
        thumbs.append(f'<li data-thumb="{_e(r["name"])}"><a href="{target}" '
                      f'title="{_e(r["source"])}">{pic}<span>{_e(r["name"])}</span></a></li>')
    grid = (f'<ul class="thumbs">{"".join(thumbs)}</ul>' if thumbs
            else '<p class="summary">no images</p>')
    head = "".join(f'<th data-col="{k}" data-type="{t}"><button type="button">'
                   f"{label}</button></th>" for k, label, t in COLUMNS)
    body = []
    for r in rows:
        cells = _cells(r)
        tds = "".join(f'<td class="c-{k}{" num" if t == "num" else ""}'
                      f'{"" if cells[k][0] else " empty"}" data-sort="{_e(cells[k][0])}">'
                      f"{cells[k][1]}</td>" for k, _, t in COLUMNS)
        body.append(f'<tr data-status="{_e(r["status"])}">{tds}</tr>')
    failed = [r for r in rows if r["status"] != "ok" or r["error"]]
    fail_html = ""
    if failed:
        items = "".join(f'<li data-failed="{_e(r["name"])}"><b>{_e(r["source"])}</b> '
                        f'<span class="status {_e(r["status"])}">{_e(r["status"])}</span>'
                        f'<span class="err">{_e(r["error"] or "no error message")}</span></li>'
                        for r in failed)
        fail_html = (f'<section id="failures" data-section="failures" class="card">'
                     f'<h2>Failed and skipped</h2><ul class="failures">{items}</ul></section>')
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode()
    csp = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
           f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'")
    return ("<!doctype html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<meta name="color-scheme" content="light dark">'
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>"
            '<div class="page"><header id="overview" data-section="overview">'
            f'<p class="kicker">midi2img batch</p><h1>{_e(title)}</h1>'
            f'<p class="summary">{len(rows)} tracks: {_e(summary or "none")}</p></header>'
            f'<section id="gallery" data-section="gallery" class="card"><h2>Images</h2>{grid}'
            "</section>"
            f'<section id="tracks" data-section="tracks" class="card"><h2>Tracks</h2>'
            f'<div class="scroll"><table data-sortable><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div></section>{fail_html}'
            "<footer>click a column header to sort · self-contained, opens offline</footer>"
            f"</div><script>{_SCRIPT}</script></body></html>\n")


def index_step(out_dir: Path, records: list[dict[str, Any]]) -> Path:
    """``convert --report`` on a batch: ``OUT/index.html`` from the run record."""
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
