"""GTZAN dataset handling in the style of mirdata: feature table, audio root, splits, validation.

The fault-filtered, artist-disjoint split of Kereliuk, Sturm & Larsen (2015) ships with the
package (``splits/{train,valid,test}_filtered.txt``, one ``<genre>/<genre>.000NN.wav`` per line).
The feature table and the audio are never shipped: they are read from
``midi2img.config.data_dir() / "gtzan"`` or from a path the user gives.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from midi2img.constants import GTZAN_GENRES, SPLITS
from midi2img.errors import DataError, InputError

#: The 57 feature columns of ``features_30_sec.csv``, in table order (``length`` excluded).
FEATURE_COLUMNS: tuple[str, ...] = (
    "chroma_stft_mean", "chroma_stft_var", "rms_mean", "rms_var",
    "spectral_centroid_mean", "spectral_centroid_var",
    "spectral_bandwidth_mean", "spectral_bandwidth_var", "rolloff_mean", "rolloff_var",
    "zero_crossing_rate_mean", "zero_crossing_rate_var", "harmony_mean", "harmony_var",
    "perceptr_mean", "perceptr_var", "tempo",
    *(f"mfcc{i}_{stat}" for i in range(1, 21) for stat in ("mean", "var")),
)
#: Audio extensions accepted in an audio root.
AUDIO_SUFFIXES = (".wav", ".au")

_CLIP_RE = re.compile(r"^(?P<genre>[a-z]+)\.(?P<num>\d{5})$")


def clip_id(name: str) -> str:
    """Normalise any GTZAN clip name to its id ``<genre>.000NN``.

    Accepts ``blues/blues.00000.wav``, ``blues.00000.au``, ``blues.00000``.

    Raises:
        DataError: if the name is not a GTZAN clip name of a known genre.
    """
    stem = Path(name.strip()).name
    for suffix in AUDIO_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    m = _CLIP_RE.match(stem)
    if m is None or m.group("genre") not in GTZAN_GENRES:
        raise DataError(f"{name!r} is not a GTZAN clip name (<genre>.000NN with a GTZAN genre)")
    return stem


def genre_of(cid: str) -> str:
    """The genre a clip id names (``blues.00000`` -> ``blues``)."""
    return cid.split(".", 1)[0]


@dataclass(frozen=True)
class FeatureTable:
    """Feature rows of GTZAN clips.

    Attributes:
        ids: Clip ids (``blues.00000``), one per row.
        features: ``(n, len(columns))`` float64 array in ``columns`` order.
        labels: Genre label of each row.
        columns: Names of the feature columns (the table's 57 by default).
    """

    ids: tuple[str, ...]
    features: np.ndarray
    labels: tuple[str, ...]
    columns: tuple[str, ...] = FEATURE_COLUMNS

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.features.shape != (n, len(self.columns)) or len(self.labels) != n:
            raise DataError("feature table: ids, features and labels disagree in length")
        if not np.all(np.isfinite(self.features)):
            raise DataError("feature table: non-finite feature values")
        unknown = sorted(set(self.labels) - set(GTZAN_GENRES))
        if unknown:
            raise DataError(f"feature table: unknown genre label(s) {', '.join(unknown)}")

    def __len__(self) -> int:
        return len(self.ids)

    def y(self) -> np.ndarray:
        """Integer labels in :data:`GTZAN_GENRES` order."""
        index = {g: i for i, g in enumerate(GTZAN_GENRES)}
        return np.array([index[g] for g in self.labels], dtype=np.int64)

    def select(self, ids: list[str] | tuple[str, ...]) -> FeatureTable:
        """The rows of ``ids``, in that order (ids must be present)."""
        pos = {c: i for i, c in enumerate(self.ids)}
        idx = [pos[c] for c in ids]
        return FeatureTable(tuple(ids), self.features[idx], tuple(self.labels[i] for i in idx),
                            self.columns)

    def join(self, other: FeatureTable) -> FeatureTable:
        """The clips both tables hold (in this table's order), with both tables' columns."""
        both = [c for c in self.ids if c in set(other.ids)]
        a, b = self.select(both), other.select(both)
        return FeatureTable(tuple(both), np.hstack([a.features, b.features]), a.labels,
                            self.columns + other.columns)


def read_feature_table(path: str | Path) -> FeatureTable:
    """Read ``features_30_sec.csv`` (or a CSV with its ``filename``, feature, ``label`` columns).

    Raises:
        InputError: the file is missing or not a file.
        DataError: not a CSV, a required column is missing, a value is not a number, a label does
            not match its file name, or a clip appears twice.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if not p.is_file():
        raise InputError(f"{p}: is not a file")
    try:
        with p.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in ("filename", *FEATURE_COLUMNS, "label") if c not in header]
            if missing:
                more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
                raise DataError(
                    f"{p}: not a GTZAN feature table: missing column(s) "
                    f"{', '.join(missing[:3])}{more}"
                )
            ids: list[str] = []
            rows: list[list[float]] = []
            labels: list[str] = []
            for line_no, rec in enumerate(reader, start=2):
                cid = clip_id(rec["filename"] or "")
                label = (rec["label"] or "").strip()
                if label != genre_of(cid):
                    raise DataError(f"{p}:{line_no}: label {label!r} does not match file {cid}")
                try:
                    rows.append([float(rec[c]) for c in FEATURE_COLUMNS])
                except (TypeError, ValueError) as exc:
                    raise DataError(f"{p}:{line_no}: non-numeric feature value ({exc})") from None
                ids.append(cid)
                labels.append(label)
    except UnicodeDecodeError:
        raise DataError(f"{p}: not a text CSV file") from None
    except csv.Error as exc:
        raise DataError(f"{p}: malformed CSV ({exc})") from None
    if not ids:
        raise DataError(f"{p}: the feature table has no rows")
    dup = sorted({c for c in ids if ids.count(c) > 1}) if len(set(ids)) != len(ids) else []
    if dup:
        raise DataError(f"{p}: clip(s) listed twice: {', '.join(dup[:3])}")
    return FeatureTable(tuple(ids), np.asarray(rows, dtype=np.float64), tuple(labels))


#: The published MSD-musicnn taggrams of the filtered split's clips (Pons & Serra's
#: sklearn-audio-transfer-learning): one row of 50 tag probabilities per 3 s window, 1 s hop.
#: There is none for the valid split.
TAGGRAM_FILES = ("musicnn/training_data_GTZAN_MSDmusicnn_taggram.npz",
                 "musicnn/evaluation_data_GTZAN_MSDmusicnn_taggram.npz")
#: Sturm's artist/title index of the 1000 clips (``blues.00000.wav ::: artist ::: title``).
ARTIST_INDEX = "GTZANindex.txt"


def read_taggrams(folder: str | Path) -> dict[str, np.ndarray]:
    """The published MSD taggram rows of each clip: ``{clip id: (windows, 50)}``.

    Raises:
        DataError: the files are missing or malformed.
    """
    from midi2img.config import HOW_TO_POINT

    out: dict[str, list[np.ndarray]] = {}
    for rel in TAGGRAM_FILES:
        path = Path(folder) / rel
        if not path.is_file():
            raise DataError(f"{path}: GTZAN taggram file not found {HOW_TO_POINT}")
        try:
            with np.load(path, allow_pickle=False) as z:
                X, ids = z["X"], z["IDS"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path}: not a taggram file ({exc})") from None
        if X.ndim != 2 or X.shape[1] != 50 or len(ids) != len(X):
            raise DataError(f"{path}: expected rows of 50 tag probabilities with an id each")
        for row, name in zip(X, ids, strict=True):
            out.setdefault(clip_id(str(name)), []).append(row)
    return {c: np.asarray(r, dtype=np.float64) for c, r in out.items()}


def read_artists(path: str | Path) -> dict[str, str]:
    """Sturm's index: ``{clip id: artist}`` (a clip without an artist is its own group).

    Raises:
        DataError: the index is missing.
    """
    from midi2img.config import HOW_TO_POINT

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: GTZAN artist index not found {HOW_TO_POINT}")
    out: dict[str, str] = {}
    for line in p.read_text(encoding="latin-1").splitlines():
        if line.startswith("#") or ":::" not in line:
            continue
        name, artist, *_ = (part.strip() for part in line.split(":::"))
        try:
            cid = clip_id(name)
        except DataError:
            continue
        out[cid] = artist or f"(unknown artist of {cid})"
    return out


def split_ids(split: str) -> tuple[str, ...]:
    """Clip ids of a shipped filtered split (``train``, ``valid`` or ``test``)."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    text = (resources.files("midi2img.gtzan") / "splits" / f"{split}_filtered.txt").read_text()
    return tuple(clip_id(line) for line in text.splitlines() if line.strip())


def index_audio_root(root: str | Path) -> dict[str, Path]:
    """Map clip id -> audio file for an audio root laid out as ``<genre>/<genre>.000NN.wav|.au``.

    Clips lying directly in ``root`` (``<genre>.000NN.wav``) are accepted too.

    Raises:
        InputError: ``root`` is missing or not a folder.
        DataError: a sub-folder is not a GTZAN genre, a file sits in another genre's folder, or
            the folder holds no GTZAN audio at all.
    """
    r = Path(root)
    if not r.exists():
        raise InputError(f"{r}: no such folder")
    if not r.is_dir():
        raise InputError(f"{r}: is not a folder")
    found: dict[str, Path] = {}
    for entry in sorted(r.iterdir()):
        if entry.is_dir():
            if entry.name.startswith("."):
                continue
            if entry.name not in GTZAN_GENRES:
                raise DataError(f"{r}: unknown genre folder {entry.name!r}")
            files = [f for f in sorted(entry.iterdir()) if f.suffix.lower() in AUDIO_SUFFIXES]
            for f in files:
                cid = clip_id(f.name)
                if genre_of(cid) != entry.name:
                    raise DataError(f"{f}: a {genre_of(cid)} clip in the {entry.name} folder")
                found.setdefault(cid, f)
        elif entry.suffix.lower() in AUDIO_SUFFIXES:
            try:
                cid = clip_id(entry.name)
            except DataError:
                continue
            found.setdefault(cid, entry)
    if not found:
        raise DataError(f"{r}: no GTZAN audio (<genre>/<genre>.000NN.wav or .au) in this folder")
    return found


@dataclass
class ValidationReport:
    """What :func:`validate` found.

    Attributes:
        expected: Clips the splits name.
        missing: Split clips absent from the table / audio root.
        unreadable: ``(clip, reason)`` for audio that cannot be decoded.
        mismatched: ``(clip, problem)`` for labels that disagree with the file or folder.
        extra: Clips present but in no split (e.g. those the filtering removed).
    """

    expected: int = 0
    missing: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    mismatched: list[tuple[str, str]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is missing, unreadable or mismatched."""
        return not (self.missing or self.unreadable or self.mismatched)

    def summary(self) -> str:
        """One line for a log."""
        return (f"{self.expected} split clips: {len(self.missing)} missing, "
                f"{len(self.unreadable)} unreadable, {len(self.mismatched)} label mismatches, "
                f"{len(self.extra)} outside the filtered splits")


def _check_audio(path: Path) -> str | None:
    """Return why ``path`` cannot be decoded, or None when it can."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
        if info.frames <= 0:
            return "no audio frames"
        with sf.SoundFile(str(path)) as fh:
            fh.seek(max(0, info.frames - 1024))
            fh.read(1024)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means unreadable
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def validate(*, table: FeatureTable | None = None, audio: dict[str, Path] | None = None,
             check_audio: bool = True) -> ValidationReport:
    """Check a feature table and/or an audio index against the shipped splits.

    Args:
        table: A feature table to check (labels vs file names, split clips present).
        audio: An index from :func:`index_audio_root` (files present and decodable).
        check_audio: Decode each split clip's header and tail to find corrupt files.
    """
    report = ValidationReport()
    wanted = [c for s in SPLITS for c in split_ids(s)]
    report.expected = len(wanted)
    present: set[str] = set()
    if table is not None:
        present = set(table.ids)
        for cid, label in zip(table.ids, table.labels, strict=True):
            if label != genre_of(cid):
                report.mismatched.append((cid, f"label {label} but file says {genre_of(cid)}"))
    if audio is not None:
        present = set(audio) if table is None else present & set(audio)
        for cid, path in audio.items():
            if path.parent.name in GTZAN_GENRES and path.parent.name != genre_of(cid):
                report.mismatched.append((cid, f"in folder {path.parent.name}"))
        if check_audio:
            for cid in wanted:
                if cid in audio:
                    why = _check_audio(audio[cid])
                    if why is not None:
                        report.unreadable.append((cid, why))
    report.missing = [c for c in wanted if c not in present]
    report.extra = sorted(present - set(wanted))
    return report
