"""The evaluation sets of ``make bench-harmony``: two held-out sets and the two shared dev sets.

Where the data lies (nothing here is in the repository: the recordings are copyrighted,
research evaluation only):

* the shared development sets under ``$MIDI2IMG_DATA`` (:func:`midi2img.config.data_dir`):
  ``gtzan/keytempo`` (38 GTZAN train clips with key and tempo labels) and ``beatles`` (42
  songs of Please Please Me, With the Beatles and Help!, with Isophonics chord and key labs);
* the held-out sets and the GTZAN beat labels in one folder (``--heldout DIR``, else
  ``$MIDI2IMG_HARMONY_DATA``, else ``bench-harmony/data`` in midi2img's cache folder,
  ``$MIDI2IMG_CACHE`` or ``~/.cache/midi2img``) that
  ``build_data.py --mirrors DIR --out DIR`` builds from pinned repository snapshots:
  ``gtzan_heldout/`` (55 GTZAN valid/test clips), ``beatles_heldout/`` (138 songs of the ten
  other albums) and ``gtzan_dev_beats/`` (the beats of the 38 shared dev clips).

A set whose data is missing is left out with one line saying what is missing and how to get
it (:func:`load_sets`). Part of ``bench/harmony`` (scripts run from this folder: see
``estimators.py``).

Every item is an ``Item``: an id, the audio path and its labels. GTZAN items carry ``key``
(mir_eval format, ``""`` = no global key), ``tempo_bpm``, ``meter`` and ``beats`` (the path of
a beat file, ``time<TAB>position-in-bar``); Beatles items carry
``key`` (the longest key of the Isophonics key lab as major/minor, ``""`` if modal), the
chord lab path and whether the song modulates.
"""
from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

#: the environment variable naming the held-out data folder
HELDOUT_ENV = "MIDI2IMG_HARMONY_DATA"
BUILD_HINT = ("build it with `python bench/harmony/build_data.py --mirrors DIR --out DIR` "
              "(DIR of --out: --heldout or $" + HELDOUT_ENV + ")")


def home() -> Path:
    """Where the bench keeps its data and outputs unless told otherwise: ``bench-harmony`` in
    midi2img's cache folder (``$MIDI2IMG_CACHE`` or ``~/.cache/midi2img``)."""
    from midi2img.config import cache_dir

    return cache_dir() / "bench-harmony"


def heldout_dir(arg: str | Path | None = None) -> Path:
    """The held-out data folder: ``arg``, ``$MIDI2IMG_HARMONY_DATA`` or the default."""
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get(HELDOUT_ENV)
    return Path(env).expanduser() if env else home() / "data"


def default_cache() -> Path:
    """Where the runner caches every candidate's outputs by default."""
    return home() / "cache"


@dataclass(frozen=True)
class Item:
    """One recording with its labels."""

    id: str
    audio: Path
    labels: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EvalSet:
    """A named list of items and the tasks its labels allow."""

    name: str
    tasks: frozenset[str]
    items: tuple[Item, ...]
    held_out: bool


def isophonics_key(label: str) -> str:
    """An Isophonics key label ('A', 'E:minor', 'G:mixolydian') as mir_eval's major/minor.

    Modes map to the tonic triad's quality: ionian/mixolydian/lydian -> major,
    minor/aeolian/dorian/phrygian -> minor; 'modal' (no mode stated) -> ``""`` (no key).
    """
    tonic, _, mode = label.partition(":")
    mode = mode.lower()
    if mode in ("", "major", "ionian", "mixolydian", "lydian"):
        return f"{tonic} major"
    if mode in ("minor", "aeolian", "dorian", "phrygian"):
        return f"{tonic} minor"
    return ""


def key_durations(lab_text: str) -> dict[str, float]:
    """Seconds per key label (as the lab writes it) of an Isophonics key lab."""
    dur: dict[str, float] = defaultdict(float)
    for line in lab_text.splitlines():
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) >= 4 and parts[2] == "Key":
            dur[parts[3].strip()] += float(parts[1]) - float(parts[0])
    return dur


def global_key_from_lab(path: Path) -> tuple[str, bool]:
    """(longest key of an Isophonics key lab as mir_eval writes it, whether it modulates)."""
    dur = key_durations(path.read_text())
    if not dur:
        return "", False
    return isophonics_key(max(dur, key=dur.__getitem__)), len(dur) > 1


def _gtzan(name: str, folder: Path, held_out: bool, beats: Path | None) -> EvalSet:
    items = []
    with open(folder / "labels.csv") as f:
        for row in csv.DictReader(f):
            items.append(Item(id=Path(row["clip"]).stem, audio=folder / "audio" / row["clip"],
                              labels={"key": row["key"], "tempo_bpm": float(row["tempo_bpm"]),
                                      "meter": row["meter"], "genre": row["genre"],
                                      "split": row.get("split", "train"),
                                      "beats": str(beats / f"{Path(row['clip']).stem}.beats")
                                      if beats is not None else ""}))
    tasks = {"key", "tempo", "meter"} | ({"beats"} if beats is not None else set())
    return EvalSet(name, frozenset(tasks), tuple(items), held_out)


def _beatles(name: str, folder: Path, held_out: bool) -> EvalSet:
    items = []
    for audio in sorted((folder / "audio").glob("*.mp3")):
        key, modulates = global_key_from_lab(folder / "keys" / f"{audio.stem}.lab")
        items.append(Item(id=audio.stem, audio=audio,
                          labels={"key": key, "modulates": modulates,
                                  "chords_lab": str(folder / "chords" / f"{audio.stem}.lab")}))
    return EvalSet(name, frozenset({"key", "chords"}), tuple(items), held_out)


def load_sets(heldout: str | Path | None = None) -> tuple[dict[str, EvalSet], list[str]]:
    """The sets whose data is there, by name (held-out first), and one line per thing missing.

    Args:
        heldout: The held-out data folder (see :func:`heldout_dir`).
    """
    data = heldout_dir(heldout)
    sets: list[EvalSet] = []
    missing: list[str] = []
    gh, bh, dev_beats = data / "gtzan_heldout", data / "beatles_heldout", data / "gtzan_dev_beats"
    if (gh / "labels.csv").exists():
        sets.append(_gtzan("gtzan_heldout", gh, True, gh / "beats"))
    else:
        missing.append(f"gtzan_heldout: skipped, {gh / 'labels.csv'} is missing; {BUILD_HINT}")
    if (bh / "audio").is_dir():
        sets.append(_beatles("beatles_heldout", bh, True))
    else:
        missing.append(f"beatles_heldout: skipped, {bh / 'audio'} is missing; {BUILD_HINT}")
    try:
        from midi2img.config import data_dir

        shared: Path | None = data_dir()
    except Exception as exc:  # noqa: BLE001 - midi2img's DataError: no data folder set
        shared = None
        missing.append(f"gtzan_dev, beatles_dev: skipped, {exc}")
    if shared is not None:
        keytempo = shared / "gtzan" / "keytempo"
        if (keytempo / "labels.csv").exists():
            if not dev_beats.is_dir():
                missing.append(f"gtzan_dev: no beat labels ({dev_beats} is missing; "
                               f"{BUILD_HINT}): scored for key, tempo and meter only")
            sets.append(_gtzan("gtzan_dev", keytempo, False,
                               dev_beats if dev_beats.is_dir() else None))
        else:
            missing.append(f"gtzan_dev: skipped, {keytempo / 'labels.csv'} is missing "
                           "(the shared data: set $MIDI2IMG_DATA)")
        if (shared / "beatles" / "audio").is_dir():
            sets.append(_beatles("beatles_dev", shared / "beatles", False))
        else:
            missing.append(f"beatles_dev: skipped, {shared / 'beatles' / 'audio'} is missing "
                           "(the shared data: set $MIDI2IMG_DATA)")
    return {s.name: s for s in sets}, missing


if __name__ == "__main__":
    import sys

    found, lines = load_sets(sys.argv[1] if len(sys.argv) > 1 else None)
    for line in lines:
        print(line)
    for s in found.values():
        n_key = sum(1 for it in s.items if it.labels.get("key"))
        print(f"{s.name}: {len(s.items)} items, {n_key} with a key, tasks {sorted(s.tasks)}")
