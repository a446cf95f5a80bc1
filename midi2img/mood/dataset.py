"""Mood datasets: EMOPIA (Russell quadrants) and VGMIDI (continuous valence/arousal).

Both are read in place from the shared data folder (:func:`midi2img.config.data_dir`, env
``MIDI2IMG_DATA``); EMOPIA's MIDI files are read straight out of ``emopia/midis.zip``.

* EMOPIA (Hung et al. 2021): 1,078 pop-piano clips, quadrant in the file name, with the
  official song-disjoint split ``emopia/{train,val,test}.csv`` (``val`` is called ``valid`` here,
  as in every midi2img data set). Targets come from
  :func:`midi2img.mood.quadrant_targets` (Q1 = V+A+, Q2 = V-A+, Q3 = V-A-, Q4 = V+A-).
* VGMIDI (Ferreira & Whitehead 2019): 200 annotated video-game piano pieces; each of ~30
  annotators gave one valence and one arousal value in [-1, 1] per measure. A piece's target is
  the mean over annotators and measures. The split is piece-disjoint (variants such as
  "Boggys Igloo Happy"/"... Sad" stay together), seeded, and saved beside the model.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from midi2img.config import HOW_TO_POINT
from midi2img.constants import SPLITS
from midi2img.errors import DataError, InputError
from midi2img.mood.model import quadrant_of, quadrant_targets
from midi2img.notes import Notes, notes_from_pretty_midi, parse_pretty_midi

EMOPIA_ZIP = "emopia/midis.zip"
#: EMOPIA's split files, by midi2img split name.
EMOPIA_SPLIT_FILES = {"train": "train.csv", "valid": "val.csv", "test": "test.csv"}
VGMIDI_JSON = ("vgmidi/vgmidi_raw_1.json", "vgmidi/vgmidi_raw_2.json")
VGMIDI_MIDI_DIR = "vgmidi/midi"
#: Expected sizes, checked by :func:`validate`.
EMOPIA_CLIPS = 1078
EMOPIA_SPLIT_SIZES = {"train": 767, "valid": 198, "test": 86}
VGMIDI_PIECES = 200


@dataclass(frozen=True)
class AffectClip:
    """One labelled piece of music.

    Attributes:
        clip_id: Unique id (``"emopia/Q1_xxx_0"``, ``"vgmidi/<midi file stem>"``).
        source: ``"emopia"`` or ``"vgmidi"``.
        split: ``"train"``, ``"valid"`` or ``"test"``.
        valence: Target valence in [-1, 1].
        arousal: Target arousal in [-1, 1].
        group: Song/piece id; clips of one group never straddle splits.
        member: Path of the MIDI file (inside the EMOPIA zip, or on disk for VGMIDI).
        quadrant: EMOPIA label ``"Q1"``..``"Q4"`` (for VGMIDI: from the signs of the targets).
    """

    clip_id: str
    source: str
    split: str
    valence: float
    arousal: float
    group: str
    member: str
    quadrant: str

    def __post_init__(self) -> None:
        if self.source not in ("emopia", "vgmidi"):
            raise ValueError(f"unknown source {self.source!r}")
        if self.split not in SPLITS:
            raise ValueError(f"unknown split {self.split!r}")
        for name in ("valence", "arousal"):
            if not -1.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [-1, 1]")


def _root(data: str | Path | None) -> Path:
    from midi2img.config import require_data_dir

    return require_data_dir(data, "emopia", "vgmidi")


# --------------------------------------------------------------------------------------------
# EMOPIA


def emopia_clips(data: str | Path | None = None) -> list[AffectClip]:
    """EMOPIA clips of the official split, in CSV order (train, val, test).

    Raises:
        DataError: the CSVs or the zip are missing, a label disagrees with its file name, or a
            listed clip is not in the zip.
    """
    root = _root(data)
    zpath = root / EMOPIA_ZIP
    if not zpath.is_file():
        raise DataError(f"EMOPIA archive not found: {zpath} {HOW_TO_POINT}")
    with zipfile.ZipFile(zpath) as z:
        members = {Path(n).stem: n for n in z.namelist() if n.lower().endswith((".mid", ".midi"))}
    clips: list[AffectClip] = []
    missing: list[str] = []
    for split, fname_csv in EMOPIA_SPLIT_FILES.items():
        csv_path = root / "emopia" / fname_csv
        if not csv_path.is_file():
            raise DataError(f"EMOPIA split file not found: {csv_path} {HOW_TO_POINT}")
        with csv_path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                fname, label = row["fname"].strip(), row["label"].strip()
                if not fname.startswith(label + "_"):
                    raise DataError(f"{csv_path.name}: label {label} disagrees with {fname}")
                if fname not in members:
                    missing.append(fname)
                    continue
                v, a = quadrant_targets(label)
                song = fname.split("_", 1)[1].rsplit("_", 1)[0]
                clips.append(AffectClip(f"emopia/{fname}", "emopia", split, v, a, song,
                                        members[fname], label))
    if missing:
        more = " ..." if len(missing) > 5 else ""
        raise DataError(f"{len(missing)} EMOPIA clips listed in the split are missing from "
                        f"{zpath.name}: {', '.join(missing[:5])}{more}")
    return clips


def _notes_from_bytes(data: bytes, *, name: str, use_tempo: bool) -> Notes:
    import mido

    try:
        pm = parse_pretty_midi(io.BytesIO(data))
        explicit = use_tempo and any(msg.type == "set_tempo" for track in
                                     mido.MidiFile(file=io.BytesIO(data)).tracks for msg in track)
    except Exception as exc:  # mido raises OSError, EOFError, KeyError, ValueError, ...
        raise InputError(f"{name}: not a readable MIDI file ({type(exc).__name__})") from exc
    tempo = None
    if explicit:  # same rule as midi2img.notes.read_midi
        times, tempi = pm.get_tempo_changes()
        end = max(pm.get_end_time(), float(times[-1]) + 1e-3)
        spans = np.diff(np.append(times, end))
        tempo = float(tempi[np.argmax(spans)])
    return notes_from_pretty_midi(pm, tempo_bpm=tempo)


def iter_notes(clips: list[AffectClip], data: str | Path | None = None
               ) -> Iterator[tuple[AffectClip, Notes]]:
    """Yield ``(clip, notes)`` for each clip, reading EMOPIA from its zip without extracting.

    EMOPIA's MIDI files are transcriptions that all carry the default 120 BPM tempo event,
    which says nothing about the music, so their tempo is left for the features to estimate
    from the notes (as for a transcribed audio file). VGMIDI keeps its stated tempo.
    """
    root = _root(data)
    zf: zipfile.ZipFile | None = None
    try:
        for clip in clips:
            if clip.source == "emopia":
                if zf is None:
                    zf = zipfile.ZipFile(root / EMOPIA_ZIP)
                raw = zf.read(clip.member)
                yield clip, _notes_from_bytes(raw, name=clip.member, use_tempo=False)
            else:
                path = root / VGMIDI_MIDI_DIR / clip.member
                if not path.is_file():
                    raise DataError(f"VGMIDI file missing: {path}")
                yield clip, _notes_from_bytes(path.read_bytes(), name=clip.member,
                                              use_tempo=True)
    finally:
        if zf is not None:
            zf.close()


# --------------------------------------------------------------------------------------------
# VGMIDI

_VARIANT = re.compile(r"\s+(happy|sad|\d+)$", re.IGNORECASE)


def vgmidi_group(midi_name: str) -> str:
    """Piece id that keeps arrangements of one tune together (drops a Happy/Sad/number tail)."""
    stem = Path(midi_name).stem
    return _VARIANT.sub("", stem).strip().lower()


def vgmidi_targets(data: str | Path | None = None) -> dict[str, tuple[float, float, int]]:
    """Mean valence and arousal of each annotated VGMIDI piece: ``{midi name: (v, a, n)}``.

    Each annotator's series is averaged over measures, then the annotators are averaged;
    ``n`` is the number of annotators.

    Raises:
        DataError: an annotation file or a MIDI file it names is missing.
    """
    root = _root(data)
    out: dict[str, tuple[float, float, int]] = {}
    missing: list[str] = []
    for rel in VGMIDI_JSON:
        path = root / rel
        if not path.is_file():
            raise DataError(f"VGMIDI annotations not found: {path} {HOW_TO_POINT}")
        doc = json.loads(path.read_text())
        pieces = doc["pieces"]
        per: dict[str, list[tuple[float, float]]] = {}
        for key, ann in doc["annotations"].items():
            pid = key.rsplit("_", 1)[0]
            if pid not in pieces or not ann.get("valence") or not ann.get("arousal"):
                continue  # a few annotations name pieces the file does not describe
            per.setdefault(pid, []).append((float(np.mean(ann["valence"])),
                                            float(np.mean(ann["arousal"]))))
        for pid, rows in per.items():
            midi = pieces[pid]["midi"]
            if not (root / VGMIDI_MIDI_DIR / midi).is_file():
                missing.append(midi)
                continue
            arr = np.array(rows)
            v, a = np.clip(arr.mean(axis=0), -1.0, 1.0)
            out[midi] = (float(v), float(a), len(rows))
    if missing:
        raise DataError(f"{len(missing)} annotated VGMIDI pieces have no MIDI file: "
                        f"{', '.join(missing[:3])}")
    return out


def make_vgmidi_split(midi_names: list[str], *, seed: int = 0,
                      fractions: tuple[float, float] = (0.7, 0.15)) -> dict[str, str]:
    """Seeded piece-disjoint split ``{midi name: split}`` (groups from :func:`vgmidi_group`)."""
    groups = sorted({vgmidi_group(m) for m in midi_names})
    rng = np.random.default_rng(seed)
    order = [groups[i] for i in rng.permutation(len(groups))]
    n_train = int(round(fractions[0] * len(order)))
    n_val = int(round(fractions[1] * len(order)))
    split_of = {g: ("train" if i < n_train else "valid" if i < n_train + n_val else "test")
                for i, g in enumerate(order)}
    return {m: split_of[vgmidi_group(m)] for m in sorted(midi_names)}


def vgmidi_clips(data: str | Path | None = None, *, split: dict[str, str] | None = None,
                 seed: int = 0) -> list[AffectClip]:
    """VGMIDI pieces with mean targets; ``split`` (e.g. the saved one) or a new seeded split."""
    targets = vgmidi_targets(data)
    if split is None:
        split = make_vgmidi_split(list(targets), seed=seed)
    unknown = sorted(set(targets) - set(split))
    if unknown:
        raise DataError(f"VGMIDI split does not cover {len(unknown)} pieces, e.g. {unknown[0]}")
    return [AffectClip(f"vgmidi/{Path(m).stem}", "vgmidi", split[m], v, a, vgmidi_group(m), m,
                       quadrant_of(v, a))
            for m, (v, a, _n) in sorted(targets.items())]


def validate(data: str | Path | None = None) -> list[str]:
    """Problems with the affect data (empty list when everything expected is there)."""
    problems: list[str] = []
    try:
        clips = emopia_clips(data)
        for split, n in EMOPIA_SPLIT_SIZES.items():
            got = sum(c.split == split for c in clips)
            if got != n:
                problems.append(f"EMOPIA {split}: {got} clips, expected {n}")
        root = _root(data)
        with zipfile.ZipFile(root / EMOPIA_ZIP) as z:
            n_zip = sum(n.lower().endswith(".mid") for n in z.namelist())
        if n_zip != EMOPIA_CLIPS:
            problems.append(f"EMOPIA zip: {n_zip} MIDI files, expected {EMOPIA_CLIPS}")
    except DataError as exc:
        problems.append(str(exc))
    try:
        n = len(vgmidi_targets(data))
        if n != VGMIDI_PIECES:
            problems.append(f"VGMIDI: {n} annotated pieces, expected {VGMIDI_PIECES}")
    except DataError as exc:
        problems.append(str(exc))
    return problems
