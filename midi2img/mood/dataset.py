"""Mood datasets: EMOPIA (Russell quadrants) and VGMIDI (continuous valence/arousal) for the
symbolic model, emotion4q (real recordings by Russell quadrant) for the affect model of audio.

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
* emotion4q (Panda, Malheiro & Paiva 2018, "4Q audio emotion dataset"): 794 real 30 s preview
  clips labelled by Russell quadrant from AllMusic moods, with the share of the song's moods
  that agree with its quadrant. The split (``train``/``test``; choices are made by
  artist-grouped cross-validation on ``train``) is artist-disjoint, about a fifth of the
  artists in ``test``, stratified by quadrant as far as the grouping allows, seeded, and saved
  beside the audio model (``models/mood_audio/emotion4q_split.json``).
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
EMOTION4Q_META = "emotion4q/metadata.csv"
EMOTION4Q_CLIPS = 794
EMOTION4Q_QUADRANTS = {"Q1": 198, "Q2": 201, "Q3": 198, "Q4": 197}
#: Share of emotion4q's clips (by artist) that the saved split holds out for the final test.
EMOTION4Q_TEST_FRACTION = 0.22


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


# --------------------------------------------------------------------------------------------
# emotion4q (real recordings)


@dataclass(frozen=True)
class RecordingClip:
    """One labelled recording of emotion4q.

    Attributes:
        clip_id: ``"emotion4q/<song id>"``.
        song: AllMusic song id (``MT0000011975``).
        artist: The artist as listed.
        group: :func:`artist_group` of ``artist``: clips of one group never straddle splits.
        title: Song title.
        quadrant: ``"Q1"``..``"Q4"``.
        valence: +1 or -1, from the quadrant.
        arousal: +1 or -1, from the quadrant.
        agreement: Share of the song's AllMusic moods that lie in its quadrant, in (0, 1].
        genres: AllMusic genres.
        path: The audio file, relative to the ``emotion4q`` folder.
        split: ``"train"`` or ``"test"``.
    """

    clip_id: str
    song: str
    artist: str
    group: str
    title: str
    quadrant: str
    valence: float
    arousal: float
    agreement: float
    genres: tuple[str, ...]
    path: str
    split: str

    def __post_init__(self) -> None:
        if (self.valence, self.arousal) != quadrant_targets(self.quadrant):
            raise ValueError(f"{self.clip_id}: targets disagree with {self.quadrant}")
        if not 0.0 < self.agreement <= 1.0:
            raise ValueError(f"{self.clip_id}: agreement must lie in (0, 1]")
        if self.split not in ("train", "test"):
            raise ValueError(f"{self.clip_id}: emotion4q has train and test splits only")
        if not self.group:
            raise ValueError(f"{self.clip_id}: empty artist group")


_ARTIST_TAIL = re.compile(r"\s+(?:&|and|with|feat\.?|featuring|/)\s+|[;,]")


def artist_group(artist: str, song: str) -> str:
    """Grouping key of an artist: the lead name, lower case, without "the" and punctuation
    ("Xavier Cugat & His Orchestra" and "Xavier Cugat" are one group). A clip without an
    artist (three in emotion4q) is a group of its own, ``"?<song id>"``."""
    a = _ARTIST_TAIL.split(artist.lower())[0]
    a = re.sub(r"^the\s+", "", a.strip())
    key = re.sub(r"[^\w]+", " ", a).strip()
    return key or artist.lower().strip() or f"?{song}"


def _emotion4q_root(data: str | Path | None) -> Path:
    from midi2img.config import require_data_dir

    return require_data_dir(data, "emotion4q")


def _emotion4q_rows(root: Path) -> list[dict[str, str]]:
    meta = root / EMOTION4Q_META
    if not meta.is_file():
        raise DataError(f"emotion4q metadata not found: {meta} {HOW_TO_POINT}")
    with meta.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    need = {"song", "artist", "title", "quadrant", "quadrant_agreement", "allmusic_genres",
            "file"}
    if not rows or not need <= set(rows[0]):
        raise DataError(f"{meta}: expected the columns {', '.join(sorted(need))}")
    return rows


def make_emotion4q_split(songs: list[tuple[str, str, str]], *, seed: int = 0,
                         test_fraction: float = EMOTION4Q_TEST_FRACTION) -> dict[str, str]:
    """Seeded artist-disjoint split ``{song id: "train" | "test"}``, stratified by quadrant.

    Args:
        songs: ``(song id, artist group, quadrant)`` of every clip.
        seed: Seed of the shuffle.
        test_fraction: Share of each quadrant's clips to hold out, as far as the grouping
            allows.

    The groups are shuffled once; each in turn moves to ``test`` when none of its quadrants
    would then exceed ``test_fraction`` of that quadrant's clips (rounded), so whole artists
    move and every quadrant gets its share.
    """
    from collections import Counter, defaultdict

    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must lie in (0, 1)")
    per_group: dict[str, Counter[str]] = defaultdict(Counter)
    for _song, group, quad in songs:
        per_group[group][quad] += 1
    totals = Counter(q for _s, _g, q in songs)
    target = {q: int(round(test_fraction * n)) for q, n in totals.items()}
    taken: Counter[str] = Counter()
    groups = sorted(per_group)
    rng = np.random.default_rng(seed)
    test_groups: set[str] = set()
    for i in rng.permutation(len(groups)):
        g = groups[int(i)]
        if all(taken[q] + n <= target[q] for q, n in per_group[g].items()):
            test_groups.add(g)
            taken.update(per_group[g])
    return {song: ("test" if group in test_groups else "train")
            for song, group, _q in sorted(songs)}


def emotion4q_clips(data: str | Path | None = None, *, split: dict[str, str] | None = None,
                    seed: int = 0) -> list[RecordingClip]:
    """emotion4q's clips in metadata order, with ``split`` (e.g. the saved one) or a new seeded
    artist-disjoint split (:func:`make_emotion4q_split`).

    Raises:
        DataError: the metadata is missing or malformed, or the split does not cover a clip.
    """
    root = _emotion4q_root(data)
    rows = _emotion4q_rows(root)
    songs = [(r["song"], artist_group(r["artist"], r["song"]), r["quadrant"]) for r in rows]
    if split is None:
        split = make_emotion4q_split(songs, seed=seed)
    clips: list[RecordingClip] = []
    for r, (song, group, quad) in zip(rows, songs, strict=True):
        if song not in split:
            raise DataError(f"the emotion4q split does not list {song}")
        try:
            v, a = quadrant_targets(quad)
            genres = tuple(g.strip() for g in r["allmusic_genres"].split(";") if g.strip())
            clips.append(RecordingClip(f"emotion4q/{song}", song, r["artist"], group,
                                       r["title"], quad, v, a, float(r["quadrant_agreement"]),
                                       genres, r["file"], split[song]))
        except ValueError as exc:
            raise DataError(f"{EMOTION4Q_META}: bad row for {song} ({exc})") from exc
    return clips


def emotion4q_audio(clip: RecordingClip, data: str | Path | None = None) -> Path:
    """Path of a clip's audio file.

    Raises:
        DataError: the file is missing.
    """
    path = _emotion4q_root(data) / "emotion4q" / clip.path
    if not path.is_file():
        raise DataError(f"emotion4q audio missing: {path} {HOW_TO_POINT}")
    return path


def validate_emotion4q(data: str | Path | None = None) -> list[str]:
    """Problems with emotion4q (empty list when the metadata and all 794 clips are there)."""
    problems: list[str] = []
    try:
        root = _emotion4q_root(data)
        clips = emotion4q_clips(root)
    except DataError as exc:
        return [str(exc)]
    if len(clips) != EMOTION4Q_CLIPS:
        problems.append(f"emotion4q: {len(clips)} clips, expected {EMOTION4Q_CLIPS}")
    counts = {q: sum(c.quadrant == q for c in clips) for q in EMOTION4Q_QUADRANTS}
    if counts != EMOTION4Q_QUADRANTS:
        problems.append(f"emotion4q quadrant counts {counts}, expected {EMOTION4Q_QUADRANTS}")
    missing = [c.path for c in clips if not (root / "emotion4q" / c.path).is_file()]
    if missing:
        more = " ..." if len(missing) > 3 else ""
        problems.append(f"emotion4q: {len(missing)} audio files missing under "
                        f"{root / 'emotion4q'}: {', '.join(missing[:3])}{more}")
    return problems
