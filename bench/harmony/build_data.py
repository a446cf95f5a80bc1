"""Build the held-out evaluation sets of ``make bench-harmony`` from pinned repository snapshots.

    python bench/harmony/build_data.py --mirrors DIR [--out DIR]

Sets written under ``--out`` (default ``$MIDI2IMG_HARMONY_DATA`` or
``~/.cache/midi2img/bench-harmony/data``: where ``run.py`` and ``evaluate.py`` look, or name
it to them with ``--heldout``):

* ``gtzan_heldout/``: GTZAN clips of the fault-filtered VALID and TEST splits (Kereliuk, Sturm &
  Larsen 2015) whose audio zenny126/py holds (the first 15-20 s of each 30 s clip, 22050 Hz
  mono), re-encoded losslessly to FLAC, with ``labels.csv``: global key (Kraft & Lerch 2013, as
  mir_eval writes it; empty = the annotator heard a modulation or no key) and tempo
  (Marchand & Peeters 2015, mean BPM).
* ``gtzan_heldout/beats/`` and ``gtzan_dev_beats/``: beat and downbeat annotations of those
  clips and of the shared dev clips from CPJKU/beat_this_annotations (the GTZAN-Rhythm beats of
  Marchand & Peeters 2015 as the Beat This! authors distribute them; MIT licence).
* ``beatles_heldout/``: the Beatles songs of the ten albums that are NOT in the shared set
  (the shared one holds Please Please Me, With the Beatles and Help!): 16 kHz mono 32 kbit/s mp3
  and Isophonics chord labels from mattmcvicar/death2chroma, Isophonics key labels from
  bzamecnik/ml. ``index.csv`` gives each song's global key (the key that lasts longest in the
  key lab, mapped to mir_eval's major/minor) and whether the song modulates.

The snapshots (repository @ commit, path; licence) are pinned in ``REPOS`` below:

* zenny126/py @ 9845aa74f40f3ec3cc37e1ca40db48fa292d85c3, ``data/*.wav``: the GTZAN audio
  (GTZAN: research use, no copyright clearance);
* seungheondoh/gtzan-bind @ ba33dc7309afa49ef6b5176300531a9bbde2ad1f,
  ``dataset/key/kraft_lerch2013tonalness/gtzan_key/genres/*/*.lerch.txt`` (key labels: MIT,
  alexanderlerch) and ``dataset/rhythm/marchand2015swing/stats.csv`` (tempo, meter: research
  metadata, cite Marchand & Peeters 2015);
* CPJKU/beat_this_annotations @ c3c47fd37d3074d9f8119f18bbf460f909609f22,
  ``gtzan/annotations/beats/`` (MIT);
* mattmcvicar/death2chroma @ 6387bd313778038da798900ba8002b89aafeb77c, ``mp3s-32k/`` (the
  recordings: EMI/Apple Corps, copyrighted, research evaluation only; removed from the
  repository's later commits) and ``chordlabs/`` (Isophonics annotations, Harte et al. 2005);
* bzamecnik/ml @ 8794bdea0233396df5f89f4a753e209b2f5a7e17,
  ``beatles/data/beatles/keylab/The_Beatles/`` (repository MIT; annotations Isophonics,
  Mauch et al. 2009), matched by album and track number.

They are read with ``git show`` from local git copies under ``--mirrors DIR``, one per
repository, found as ``DIR/<owner>+<name>/repo`` (a work tree or its ``.git``),
``DIR/<owner>+<name>.git`` or ``DIR/<owner>+<name>`` (e.g. ``git clone --mirror
https://github.com/<owner>/<name> DIR/<owner>+<name>.git``). The GTZAN splits are the ones
midi2img ships (``midi2img.gtzan``: ``splits/{valid,test}_filtered.txt``); the dev beat labels
are written for the clips of ``$MIDI2IMG_DATA/gtzan/keytempo``. Copyrighted recordings:
research evaluation only; never commit them anywhere. Part of ``bench/harmony`` (see
``estimators.py``).
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import subprocess
import sys
from collections import defaultdict
from importlib import resources
from pathlib import Path

import soundfile as sf

from sets import heldout_dir, isophonics_key, key_durations

#: repository -> the pinned commit every file is read at
REPOS = {
    "seungheondoh/gtzan-bind": "ba33dc7309afa49ef6b5176300531a9bbde2ad1f",
    "zenny126/py": "9845aa74f40f3ec3cc37e1ca40db48fa292d85c3",
    "mattmcvicar/death2chroma": "6387bd313778038da798900ba8002b89aafeb77c",
    "bzamecnik/ml": "8794bdea0233396df5f89f4a753e209b2f5a7e17",
    "CPJKU/beat_this_annotations": "c3c47fd37d3074d9f8119f18bbf460f909609f22",
}
GTZAN_BIND, ZENNY, DEATH2CHROMA, BZAMECNIK, BEAT_THIS = REPOS
#: set by main: repository -> (git dir, commit)
SOURCES: dict[str, tuple[Path, str]] = {}
#: set by main: the output folder
DATA = Path()

#: Kraft & Lerch's KeyEnumeration.txt: 0..11 major from A, 12..23 minor from a, -1 unknown.
LERCH_PITCHES = ["A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#"]

#: death2chroma album folder -> bzamecnik keylab album folder (the ten held-out albums).
HELDOUT_ALBUMS = {
    "A_Hard_Day_s_Night": "03_-_A_Hard_Day's_Night",
    "Beatles_For_Sale": "04_-_Beatles_for_Sale",
    "Rubber_Soul": "06_-_Rubber_Soul",
    "Revolver": "07_-_Revolver",
    "Sgt_Pepper_s_Lonely_Hearts_Club_Band": "08_-_Sgt._Pepper's_Lonely_Hearts_Club_Band",
    "Magical_Mystery_Tour": "09_-_Magical_Mystery_Tour",
    "The_White_Album_Disc_1": "10CD1_-_The_Beatles",
    "The_White_Album_Disc_2": "10CD2_-_The_Beatles",
    "Abbey_Road": "11_-_Abbey_Road",
    "Let_It_Be": "12_-_Let_It_Be",
}
SHARED_ALBUMS = {"Please_Please_Me", "With_The_Beatles", "Help_"}


def find_git_dir(mirrors: Path, repo: str) -> Path | None:
    """The local git copy of ``owner/name`` under ``mirrors`` (see the module's docstring)."""
    stem = repo.replace("/", "+")
    for cand in (mirrors / stem / "repo" / ".git", mirrors / stem / "repo",
                 mirrors / f"{stem}.git", mirrors / stem / ".git", mirrors / stem):
        if cand.is_dir() and subprocess.run(["git", f"--git-dir={cand}", "cat-file", "-e",
                                             f"{REPOS[repo]}^{{commit}}"],
                                            capture_output=True).returncode == 0:
            return cand
    return None


def git_show(repo: str, path: str) -> bytes:
    """Bytes of ``path`` at the pinned commit of a mirrored repository."""
    git_dir, commit = SOURCES[repo]
    return subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{path}"],
                          check=True, capture_output=True).stdout


def git_ls(repo: str, folder: str) -> list[str]:
    """Paths under ``folder`` at the pinned commit."""
    git_dir, commit = SOURCES[repo]
    out = subprocess.run(["git", f"--git-dir={git_dir}", "ls-tree", "-r", "-z", "--name-only",
                          commit, folder], check=True, capture_output=True).stdout
    return [p for p in out.decode().split("\0") if p]


def lerch_key(code: int) -> str:
    """Kraft & Lerch's integer key code as mir_eval writes keys ('' for -1)."""
    if code < 0:
        return ""
    return f"{LERCH_PITCHES[code % 12]} {'major' if code < 12 else 'minor'}"


def build_gtzan() -> None:
    """GTZAN valid+test clips that zenny126/py holds, with key and tempo labels."""
    out = DATA / "gtzan_heldout"
    (out / "audio").mkdir(parents=True, exist_ok=True)
    split_of = {}
    for split in ("valid", "test"):
        split_file = resources.files("midi2img.gtzan") / "splits" / f"{split}_filtered.txt"
        for line in split_file.read_text().split():
            split_of[Path(line).stem] = split
    stats = {}
    text = git_show(GTZAN_BIND, "dataset/rhythm/marchand2015swing/stats.csv").decode()
    for row in csv.DictReader(io.StringIO(text)):
        stats[Path(row["filename"]).stem] = row
    available = {Path(p).stem: p for p in git_ls(ZENNY, "data") if p.endswith(".wav")}
    rows = []
    for clip in sorted(set(split_of) & set(available)):
        genre = clip.split(".")[0]
        code = int(git_show(GTZAN_BIND, "dataset/key/kraft_lerch2013tonalness/gtzan_key/genres/"
                            f"{genre}/{clip}.lerch.txt").decode().split()[0])
        st = stats[clip]
        flac = out / "audio" / f"{clip}.flac"
        if not flac.exists():
            y, sr = sf.read(io.BytesIO(git_show(ZENNY, available[clip])), dtype="int16")
            sf.write(flac, y, sr, format="FLAC", subtype="PCM_16")
        dur = sf.info(flac).duration
        rows.append({"clip": flac.name, "split": split_of[clip], "genre": genre,
                     "artist": st["artist"], "title": st["title"], "key": lerch_key(code),
                     "tempo_bpm": st["tempo mean"], "tempo_std": st["tempo std"],
                     "meter": st["meter"], "swing": st["swing ?"], "duration_s": f"{dur:.2f}"})
    with open(out / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    n_key = sum(1 for r in rows if r["key"])
    print(f"gtzan_heldout: {len(rows)} clips "
          f"({sum(r['split'] == 'valid' for r in rows)} valid, "
          f"{sum(r['split'] == 'test' for r in rows)} test), {n_key} with a key")


def build_gtzan_beats(keytempo: Path | None) -> None:
    """Beat and downbeat annotations (CPJKU/beat_this_annotations, ``time<TAB>beat-in-bar``)
    for the held-out clips and for the clips of the shared dev set (which ships none)."""
    held_out = sorted(p.stem for p in (DATA / "gtzan_heldout" / "audio").glob("*.flac"))
    dev = sorted(p.stem for p in (keytempo / "audio").glob("*.flac")) if keytempo else []
    for folder, clips in ((DATA / "gtzan_heldout" / "beats", held_out),
                          (DATA / "gtzan_dev_beats", dev)):
        folder.mkdir(parents=True, exist_ok=True)
        for clip in clips:
            src = f"gtzan/annotations/beats/gtzan_{clip.replace('.', '_')}.beats"
            try:
                (folder / f"{clip}.beats").write_bytes(git_show(BEAT_THIS, src))
            except subprocess.CalledProcessError:
                print(f"no beat annotation for {clip}")
        print(f"{folder}: {len(list(folder.glob('*.beats')))} beat files")


def track_no(name: str) -> int:
    """Track number at the start of a file name ('01-Come_Together.lab', 'CD1_-_01_-_Back...')."""
    m = re.match(r"(?:CD\d_-_)?(\d+)", Path(name).name)
    if not m:
        raise ValueError(name)
    return int(m.group(1))


def build_beatles() -> None:
    """The ten held-out Beatles albums: audio, chord labs, key labs and an index."""
    out = DATA / "beatles_heldout"
    for sub in ("audio", "chords", "keys"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    keylabs: dict[str, dict[int, str]] = defaultdict(dict)
    for p in git_ls(BZAMECNIK, "beatles/data/beatles/keylab/The_Beatles"):
        keylabs[p.split("/")[-2]][track_no(p)] = p
    rows = []
    for album, key_album in HELDOUT_ALBUMS.items():
        assert album not in SHARED_ALBUMS
        for mp3 in sorted(git_ls(DEATH2CHROMA, f"mp3s-32k/{album}")):
            stem = Path(mp3).stem
            name = f"{album}___{stem}"
            lab = f"chordlabs/{album}/{stem}.lab"
            keylab = keylabs[key_album][track_no(mp3)]
            audio_path = out / "audio" / f"{name}.mp3"
            if not audio_path.exists():
                audio_path.write_bytes(git_show(DEATH2CHROMA, mp3))
            (out / "chords" / f"{name}.lab").write_bytes(git_show(DEATH2CHROMA, lab))
            key_text = git_show(BZAMECNIK, keylab).decode()
            (out / "keys" / f"{name}.lab").write_text(key_text)
            dur = key_durations(key_text)
            main = max(dur, key=dur.__getitem__) if dur else ""
            rows.append({"song": name, "album": album, "key_lab": Path(keylab).name,
                         "key": isophonics_key(main) if main else "",
                         "key_isophonics": main,
                         "modulates": "yes" if len(dur) > 1 else "no"})
    with open(out / "index.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print(f"beatles_heldout: {len(rows)} songs on {len(HELDOUT_ALBUMS)} albums, "
          f"{sum(1 for r in rows if r['key'])} with a global key, "
          f"{sum(r['modulates'] == 'yes' for r in rows)} modulate")


def main() -> None:
    global DATA
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirrors", type=Path, required=True,
                    help="folder of local git copies of the pinned repositories")
    ap.add_argument("--out", type=Path, default=None,
                    help="the held-out data folder to write (default $MIDI2IMG_HARMONY_DATA "
                         "or ~/.cache/midi2img/bench-harmony/data)")
    a = ap.parse_args()
    missing = []
    for repo, commit in REPOS.items():
        git_dir = find_git_dir(a.mirrors, repo)
        if git_dir is None:
            missing.append(f"{repo} @ {commit}")
        else:
            SOURCES[repo] = (git_dir, commit)
    if missing:
        sys.exit(f"not found under {a.mirrors} (with the pinned commit): {', '.join(missing)}")
    DATA = heldout_dir(a.out)
    keytempo: Path | None = None
    try:
        from midi2img.config import data_dir

        keytempo = data_dir() / "gtzan" / "keytempo"
    except Exception as exc:  # noqa: BLE001 - midi2img's DataError: no data folder set
        print(f"no beat labels for the shared dev clips: {exc}")
    build_gtzan()
    build_gtzan_beats(keytempo)
    build_beatles()


if __name__ == "__main__":
    main()
