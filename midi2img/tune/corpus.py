"""The corpora the tune commands measure on, cached under their work folder (``<cache>/tune``)
so that a rerun only recomputes what is missing.

* **renders**: excerpts of real pieces (VGMIDI and EMOPIA piano MIDI) re-programmed to one
  General MIDI instrument at a time, or arranged for a few instruments (melody + accompaniment
  + bass + a GM drum pattern), rendered with fluidsynth and the GM soundfont
  (:func:`midi2img.synth.render_midi_file`) and tagged as the analysis does (default hop,
  mean over windows). The ground truth is the set of instruments in the arrangement.
* **recordings**: the five recordings in ``audio/`` (shown in the tag report, never used to
  choose) and the emotion4q clips (the real-music guard, voice labels by artist, the section
  length), tagged as the analysis tags them: every window, and the mean over windows.
* **gtzan**: the published MSD taggrams of the 733 fault-filtered GTZAN clips (1 s hop),
  pooled by mean per clip, with each clip's artist and title from Sturm's index.
* **analyses**: ``analysis.json`` of every emotion4q recording (``midi2img convert --image
  none``, resumable), read for the genre floors and by ``bench/bench_texture.py``.
* **labels**: the hand-made label tables in ``bench/data`` (lead voice and decade by artist).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from midi2img.tune import Log, quiet

#: Seconds of each source excerpt (4 tagger windows at the default 4 s hop).
RENDER_S = 15.0
#: VGMIDI pieces used as sources: every 20th file in name order, starting at the 3rd.
VGMIDI_START, VGMIDI_STEP = 3, 20
#: EMOPIA clips used as sources: the first clip of every n-th song of each quadrant.
EMOPIA_PER_QUADRANT = 2

#: One-instrument renders: name -> (GM program or "drums", layout, target median MIDI pitch).
#: Layout "full" plays every note, "melody" the top line, "bass" the bottom line (monophonic
#: instruments play a line, as they would). Pitches are moved by octaves to the target median.
SOLO: dict[str, tuple[int | str, str, int]] = {
    "piano": (0, "full", 62), "bright piano": (1, "full", 62), "electric piano": (4, "full", 62),
    "harpsichord": (6, "full", 64), "celesta": (8, "full", 74), "music box": (10, "full", 74),
    "vibraphone": (11, "full", 67), "marimba": (12, "full", 64),
    "drawbar organ": (16, "full", 60), "church organ": (19, "full", 60),
    "accordion": (21, "full", 62),
    "nylon guitar": (24, "full", 57), "steel guitar": (25, "full", 57),
    "jazz guitar": (26, "full", 57), "clean electric guitar": (27, "full", 57),
    "overdriven guitar": (29, "full", 57), "distortion guitar": (30, "full", 55),
    "bass": (33, "bass", 40),
    "violin": (40, "melody", 74), "viola": (41, "melody", 62), "cello": (42, "melody", 53),
    "contrabass": (43, "bass", 40), "tremolo strings": (44, "full", 64),
    "pizzicato strings": (45, "full", 62), "harp": (46, "full", 64),
    "string ensemble": (48, "full", 64), "slow strings": (49, "full", 64),
    "synth strings": (50, "full", 64),
    "choir": (52, "full", 62), "voice oohs": (53, "full", 62),
    "trumpet": (56, "melody", 70), "trombone": (57, "melody", 55),
    "french horn": (60, "melody", 60), "brass section": (61, "full", 62),
    "synth brass": (62, "full", 60),
    "alto sax": (65, "melody", 67), "tenor sax": (66, "melody", 60), "oboe": (68, "melody", 72),
    "clarinet": (71, "melody", 65), "piccolo": (72, "melody", 84), "flute": (73, "melody", 77),
    "recorder": (74, "melody", 76), "pan flute": (75, "melody", 74),
    "square lead": (80, "melody", 70), "saw lead": (81, "full", 64),
    "new age pad": (88, "full", 60), "polysynth": (90, "full", 60),
    "sitar": (104, "melody", 64), "banjo": (105, "full", 62),
    "drums": ("drums", "rock", 0),
}

#: Arrangements: name -> parts (instrument from SOLO, role). Roles: "melody" (top line),
#: "acc" (everything but the top line), "full", "bass" (bottom line), "inner" (the notes
#: between the top and bottom lines), and drum styles "rock", "jazz", "disco".
MIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "flute + piano": (("flute", "melody"), ("piano", "acc")),
    "violin + piano": (("violin", "melody"), ("piano", "acc")),
    "trumpet + piano + drums": (("trumpet", "melody"), ("piano", "acc"), ("drums", "jazz")),
    "tenor sax jazz combo": (("tenor sax", "melody"), ("piano", "acc"), ("bass", "bass"),
                             ("drums", "jazz")),
    "vibraphone jazz combo": (("vibraphone", "melody"), ("piano", "acc"), ("bass", "bass"),
                              ("drums", "jazz")),
    "rock band": (("distortion guitar", "melody"), ("overdriven guitar", "acc"),
                  ("bass", "bass"), ("drums", "rock")),
    "acoustic guitar + flute": (("steel guitar", "acc"), ("flute", "melody")),
    "nylon guitar + clarinet": (("nylon guitar", "acc"), ("clarinet", "melody")),
    "string quartet": (("violin", "melody"), ("viola", "inner"), ("cello", "bass")),
    "choir + organ": (("choir", "acc"), ("church organ", "bass")),
    "piano trio": (("piano", "full"), ("bass", "bass"), ("drums", "rock")),
    "synth pop": (("square lead", "melody"), ("polysynth", "acc"), ("drums", "disco")),
    "strings + harp": (("string ensemble", "acc"), ("harp", "melody")),
    "harpsichord + cello": (("harpsichord", "acc"), ("cello", "bass")),
    "clean guitar + organ + drums": (("clean electric guitar", "acc"),
                                     ("drawbar organ", "melody"), ("drums", "rock")),
    "brass + strings": (("brass section", "melody"), ("string ensemble", "acc")),
}


@dataclass(frozen=True)
class Source:
    """A source excerpt: its name (the cross-validation group) and its notes."""

    name: str
    notes: tuple[tuple[float, float, int, int], ...]  # (start_s, end_s, pitch, velocity)


def _excerpt(pm: Any, length_s: float) -> tuple[tuple[float, float, int, int], ...]:
    notes = sorted((n.start, n.end, n.pitch, n.velocity) for inst in pm.instruments
                   if not inst.is_drum for n in inst.notes)
    if not notes:
        return ()
    t0 = notes[0][0]
    return tuple((s - t0, min(e - t0, length_s + 0.5), p, v) for s, e, p, v in notes
                 if s - t0 < length_s)


def load_sources(data: Path) -> list[Source]:
    """The source excerpts: VGMIDI pieces and EMOPIA clips (see the module constants)."""
    import pretty_midi

    out = []
    for f in sorted((data / "vgmidi" / "midi").glob("*.mid"))[VGMIDI_START::VGMIDI_STEP]:
        notes = _excerpt(pretty_midi.PrettyMIDI(str(f)), RENDER_S)
        if len(notes) >= 30:
            out.append(Source(f"vgmidi:{f.stem[:48]}", notes))
    with zipfile.ZipFile(data / "emopia" / "midis.zip") as z:
        names = sorted(n for n in z.namelist() if n.endswith(".mid"))
        for q in ("Q1", "Q2", "Q3", "Q4"):
            songs = sorted({n.split("/")[-1].rsplit("_", 1)[0] for n in names
                            if n.split("/")[-1].startswith(q)})
            step = max(1, len(songs) // EMOPIA_PER_QUADRANT)
            for song in songs[step // 2::step][:EMOPIA_PER_QUADRANT]:
                clip = sorted(n for n in names if n.split("/")[-1].startswith(song + "_"))[0]
                pm = pretty_midi.PrettyMIDI(io.BytesIO(z.read(clip)))
                notes = _excerpt(pm, RENDER_S)
                if len(notes) >= 30:
                    out.append(Source(f"emopia:{song}", notes))
    return out


def _lines(notes: Sequence[tuple[float, float, int, int]]
           ) -> dict[str, list[tuple[float, float, int, int]]]:
    """Split notes into top line, bottom line, inner notes (onsets grouped within 40 ms)."""
    groups: list[list[tuple[float, float, int, int]]] = []
    for n in sorted(notes):
        if groups and n[0] - groups[-1][0][0] < 0.04:
            groups[-1].append(n)
        else:
            groups.append([n])
    melody, bass, inner = [], [], []
    for g in groups:
        g = sorted(g, key=lambda n: n[2])
        melody.append(g[-1])
        if len(g) > 1:
            bass.append(g[0])
            inner.extend(g[1:-1])
    # a monophonic line: each note ends where the next begins (no overlaps)
    def mono(line: list[tuple[float, float, int, int]]) -> list[tuple[float, float, int, int]]:
        return [(s, min(e, line[i + 1][0]) if i + 1 < len(line) else e, p, v)
                for i, (s, e, p, v) in enumerate(line)]
    acc = [n for g in groups for n in sorted(g, key=lambda n: n[2])[:-1]]
    return {"full": list(notes), "melody": mono(melody), "bass": mono(bass or melody),
            "inner": inner or acc, "acc": acc or list(notes)}


def _transpose(notes: list[tuple[float, float, int, int]], target: int
               ) -> list[tuple[float, float, int, int]]:
    if not notes or target <= 0:
        return notes
    med = float(np.median([p for _, _, p, _ in notes]))
    shift = 12 * round((target - med) / 12)
    return [(s, e, min(max(p + shift, 21), 108), v) for s, e, p, v in notes]


def drum_notes(style: str, *, tempo_bpm: float, length_s: float, seed: int
               ) -> list[tuple[float, float, int, int]]:
    """A General MIDI drum-kit pattern (channel 10 pitches), with a fill every fourth bar.

    Styles: ``rock`` (kick 1 and 3, snare 2 and 4, closed hi-hat eighths), ``jazz`` (swung
    ride, hi-hat foot on 2 and 4, light kick), ``disco`` (kick every beat, open hi-hat
    off-beats, hand clap on 2 and 4). A crash cymbal opens the first bar.
    """
    rng = np.random.default_rng(seed)
    beat = 60.0 / tempo_bpm
    out: list[tuple[float, float, int, int]] = [(0.0, 0.5, 49, 100)]
    bar = 0
    while bar * 4 * beat < length_s:
        t_bar = bar * 4 * beat
        fill = bar % 4 == 3
        for b in range(4):
            t = t_bar + b * beat
            if style == "rock":
                if b in (0, 2):
                    out.append((t, t + 0.1, 36, 100))
                if b in (1, 3):
                    out.append((t, t + 0.1, 38, 105))
                if not (fill and b >= 2):
                    out += [(t, t + 0.05, 42, 80), (t + beat / 2, t + beat / 2 + 0.05, 42, 65)]
            elif style == "jazz":
                out.append((t, t + 0.3, 51, 80))
                if b in (1, 3):
                    out += [(t + 2 * beat / 3, t + 2 * beat / 3 + 0.2, 51, 65),
                            (t, t + 0.05, 44, 60)]
                if b == 0:
                    out.append((t, t + 0.1, 36, 60))
            else:  # disco
                out += [(t, t + 0.1, 36, 105), (t + beat / 2, t + beat / 2 + 0.2, 46, 75)]
                if b in (1, 3):
                    out.append((t, t + 0.1, 39, 95))
            if fill and b >= 2:
                for k, tom in enumerate((50, 47) if b == 2 else (45, 41)):
                    tt = t + k * beat / 2
                    out.append((tt, tt + 0.1, tom, 95))
        bar += 1
    return [(s, e, p, int(np.clip(v + rng.integers(-8, 9), 30, 127)))
            for s, e, p, v in out if s < length_s]


def arrangement(parts: Iterable[tuple[str, str]], source: Source, seed: int) -> Any:
    """The PrettyMIDI of ``source`` arranged for ``parts`` ((instrument, role) pairs)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    lines = _lines(source.notes)
    tempo = 84.0 + 12.0 * (seed % 6)
    for inst_name, role in parts:
        program, _, target = SOLO[inst_name]
        if program == "drums":
            inst = pretty_midi.Instrument(0, is_drum=True, name=inst_name)
            notes = drum_notes(role if role in ("rock", "jazz", "disco") else "rock",
                               tempo_bpm=tempo, length_s=RENDER_S, seed=seed)
        else:
            assert isinstance(program, int)
            inst = pretty_midi.Instrument(program, name=inst_name)
            # a bass line sits low whatever plays it (a cello continuo, a bass guitar)
            notes = _transpose(lines[role], min(target, 46) if role == "bass" else target)
        inst.notes = [pretty_midi.Note(velocity=int(v), pitch=int(p), start=float(s),
                                       end=float(max(e, s + 0.05))) for s, e, p, v in notes]
        pm.instruments.append(inst)
    return pm


def render_plan(sources: Sequence[Source]) -> list[dict[str, Any]]:
    """Every render: its source (group), name and the instruments it holds."""
    plan = []
    for i, src in enumerate(sources):
        for name, (_, layout, _) in SOLO.items():
            role = layout if name != "drums" else ("rock", "jazz", "disco")[i % 3]
            plan.append({"source": src.name, "render": name, "instruments": [name],
                         "parts": [[name, role]], "seed": i})
        for name, parts in MIXES.items():
            plan.append({"source": src.name, "render": name,
                         "instruments": sorted({p for p, _ in parts}),
                         "parts": [list(p) for p in parts], "seed": i})
    return plan


def tag_renders(data: Path, work: Path, *, log: Log = quiet
                ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """Render and tag every planned arrangement (cached in ``work/renders.npz``).

    Returns:
        The plan (one dict per render) and ``{"msd": (n, 50), "mtt": (n, 50)}`` pooled
        probabilities in plan order.
    """
    import tempfile

    from midi2img.audio import load
    from midi2img.synth import render_midi_file
    from midi2img.tagger import tag_audio

    cache_meta, cache_npz = work / "renders.json", work / "renders.npz"
    sources = load_sources(data)
    plan = render_plan(sources)
    if cache_meta.is_file() and cache_npz.is_file():
        meta = json.loads(cache_meta.read_text())
        if meta == plan:
            with np.load(cache_npz) as z:
                return plan, {k: z[k] for k in ("msd", "mtt")}
    by_source = {s.name: s for s in sources}
    rows: dict[str, list[np.ndarray]] = {"msd": [], "mtt": []}
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "x.mid", Path(tmp) / "x.wav"
        for k, item in enumerate(plan):
            pm = arrangement([tuple(p) for p in item["parts"]], by_source[item["source"]],
                             item["seed"])
            pm.write(str(mid))
            render_midi_file(mid, wav)
            pooled = tag_audio(load(wav), 22050).pooled()
            for t in rows:
                rows[t].append(np.array(list(pooled[t].values()), dtype=np.float32))
            if k % 50 == 0:
                log(f"  rendered and tagged {k + 1}/{len(plan)}")
    out = {t: np.stack(v) for t, v in rows.items()}
    work.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache_npz, **out)
    cache_meta.write_text(json.dumps(plan))
    return plan, out


@dataclass(frozen=True)
class TaggedRecordings:
    """Recordings tagged as the analysis tags them.

    Attributes:
        files: Each recording's path relative to the data folder.
        windows: Per recording, tagger (``"msd"``, ``"mtt"``) to its ``(windows, 50)``
            probabilities.
        pooled: Tagger to the ``(recordings, 50)`` float32 mean over each recording's windows
            (:meth:`midi2img.tagger.TagResult.pooled`).
    """

    files: tuple[str, ...]
    windows: tuple[dict[str, np.ndarray], ...]
    pooled: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        n = len(self.files)
        if len(self.windows) != n or any(v.shape[0] != n for v in self.pooled.values()):
            raise ValueError(f"{n} files but {len(self.windows)} window sets and pooled rows "
                             f"{[v.shape[0] for v in self.pooled.values()]}")


def tag_recordings(data: Path, files: Sequence[str], work: Path, *, log: Log = quiet
                   ) -> TaggedRecordings:
    """Tag ``files`` (paths under ``data``) with :func:`midi2img.tagger.tag_file`, taking every
    recording already in the cache (``work/recordings.npz``, shared by all callers) from it.
    """
    from midi2img.tagger import TAGGERS, tag_file

    meta, npz = work / "recordings.json", work / "recordings.npz"
    known: dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = {}
    if meta.is_file() and npz.is_file():
        m = json.loads(meta.read_text())
        if m.get("data") == str(data.resolve()):
            with np.load(npz, allow_pickle=False) as z:
                for i, f in enumerate(m["files"]):
                    known[f] = ({t: z[f"{i}_{t}"] for t in TAGGERS},
                                {t: z[f"{i}_pooled_{t}"] for t in TAGGERS})
    todo = [f for f in files if f not in known]
    for k, f in enumerate(todo):
        r = tag_file(data / f)
        pooled = r.pooled()
        known[f] = ({t: np.asarray(r.probabilities[t]) for t in TAGGERS},
                    {t: np.array(list(pooled[t].values()), dtype=np.float32) for t in TAGGERS})
        if k % 100 == 0:
            log(f"  tagged {k + 1}/{len(todo)} recordings")
    if todo:
        order = sorted(known)
        arrays = {}
        for i, f in enumerate(order):
            for t in TAGGERS:
                arrays[f"{i}_{t}"] = known[f][0][t]
                arrays[f"{i}_pooled_{t}"] = known[f][1][t]
        work.mkdir(parents=True, exist_ok=True)
        tmp = npz.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(npz)
        meta.write_text(json.dumps({"data": str(data.resolve()), "files": order}))
    return TaggedRecordings(tuple(files), tuple(known[f][0] for f in files),
                            {t: np.stack([known[f][1][t] for f in files]) for t in TAGGERS})


def emotion4q_rows(data: Path) -> list[dict[str, str]]:
    """emotion4q's metadata rows, in file order."""
    with (data / "emotion4q" / "metadata.csv").open(newline="", encoding="utf-8") as fh:
        return sorted(csv.DictReader(fh), key=lambda r: r["file"])


def tag_real(data: Path, work: Path, *, log: Log = quiet
             ) -> tuple[list[dict[str, str]], dict[str, np.ndarray]]:
    """Tag the five recordings and the emotion4q clips (:func:`tag_recordings`).

    Returns:
        One dict per clip (``corpus``, ``file``, ``artist``, ``genres``) and pooled
        probabilities ``{"msd": (n, 50), "mtt": (n, 50)}``.
    """
    items: list[dict[str, str]] = []
    for f in sorted((data / "audio").glob("*.ogg")):
        items.append({"corpus": "recordings", "file": str(f.relative_to(data)),
                      "artist": f.stem.split("_-_")[0], "genres": ""})
    for row in emotion4q_rows(data):
        items.append({"corpus": "emotion4q", "file": f"emotion4q/{row['file']}",
                      "artist": row["artist"], "genres": row["allmusic_genres"]})
    tagged = tag_recordings(data, [it["file"] for it in items], work, log=log)
    return items, tagged.pooled


# ---- the hand-made label tables --------------------------------------------------------------

#: Where the label tables lie in a checkout.
LABELS_REL = "bench/data"


def labels_dir(labels: Path | None = None) -> Path:
    """The folder of the hand-made label tables (default: ``bench/data`` of the checkout).

    Raises:
        DataError: it does not hold ``gtzan_artists.csv`` and ``emotion4q_artists.csv``.
    """
    from midi2img.config import checkout_root
    from midi2img.errors import DataError

    if labels is None:
        root = checkout_root()
        if root is None:
            raise DataError("midi2img is not running from a checkout: point it at the label "
                            "tables (gtzan_artists.csv, emotion4q_artists.csv) with --labels")
        labels = root / LABELS_REL
    missing = [n for n in ("gtzan_artists.csv", "emotion4q_artists.csv")
               if not (Path(labels) / n).is_file()]
    if missing:
        raise DataError(f"{labels} has no {', '.join(missing)} (point midi2img at the label "
                        f"tables with --labels; in a checkout they are in {LABELS_REL})")
    return Path(labels)


def read_labels_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a hand-made label table (``#`` lines are comments)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def emotion4q_voices(labels: Path) -> dict[str, str]:
    """emotion4q artist -> lead voice (female, male, instrumental, mixed)."""
    return {r["artist"]: r["voice"] for r in read_labels_csv(labels / "emotion4q_artists.csv")}


# ---- emotion4q analyses ----------------------------------------------------------------------


def analyse_recordings(src: Path, out: Path, *, log: Log = quiet) -> None:
    """Analyse every recording under ``src`` into ``out`` with ``midi2img convert --image none
    --jobs auto --resume`` (analyses already there are kept).

    Raises:
        Midi2ImgError: the conversion failed as a whole (a failed track is only logged).
    """
    import subprocess
    import sys

    from midi2img.errors import Midi2ImgError

    cmd = [sys.executable, "-m", "midi2img.cli", "convert", str(src), "-o", str(out),
           "--image", "none", "--jobs", "auto", "--resume", "--json"]
    log(f"  analysing {src} into {out} (resumable) ...")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode == 1:  # some track failed; the run record says which
        log(f"  some tracks failed: see {out / 'run.jsonl'}")
    elif done.returncode != 0:
        raise Midi2ImgError(f"convert failed ({done.returncode}): "
                            f"{done.stderr.strip()[-500:]}")


def read_analyses(out: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each track folder's name and ``analysis.json`` under ``out``, in path order.

    Raises:
        DataError: an analysis cannot be read.
    """
    from midi2img.convert import read_output
    from midi2img.errors import DataError

    for f in sorted(out.rglob("analysis.json")):
        a = read_output(f.parent)
        if a is None:
            raise DataError(f"{f}: unreadable; delete it and rerun")
        yield f.parent.name, a


# ---- GTZAN taggrams --------------------------------------------------------------------------


def gtzan_index(data: Path) -> dict[str, tuple[str, str]]:
    """Sturm's GTZAN index: clip file name (``blues.00000``) -> (artist, title)."""
    out = {}
    text = (data / "gtzan" / "GTZANindex.txt").read_text(encoding="latin-1")
    for line in text.splitlines():
        if ":::" in line:
            parts = [p.strip() for p in line.split(":::")]
            out[parts[0].rsplit(".", 1)[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return out


def gtzan_taggrams(data: Path) -> tuple[list[dict[str, str]], np.ndarray]:
    """The published MSD taggrams of the filtered GTZAN clips, pooled by mean per clip.

    Returns:
        One dict per clip (``clip``, ``genre``, ``artist``, ``title``, ``split``) in clip order
        and their ``(clips, 50)`` mean MSD probabilities.
    """
    index = gtzan_index(data)
    items, rows = [], []
    for split in ("training", "evaluation"):
        with np.load(data / "gtzan" / "musicnn" /
                     f"{split}_data_GTZAN_MSDmusicnn_taggram.npz") as z:
            x, ids = z["X"], z["IDS"]
        for clip in sorted(set(ids.tolist())):
            stem = clip.split("/")[-1].rsplit(".", 1)[0]
            artist, title = index.get(stem, ("", ""))
            items.append({"clip": stem, "genre": stem.split(".")[0], "artist": artist,
                          "title": title, "split": split})
            rows.append(x[ids == clip].mean(axis=0))
    return items, np.stack(rows).astype(np.float32)

