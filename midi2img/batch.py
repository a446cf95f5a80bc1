"""Batches: what to convert (files, folders, globs, manifests), where each output goes, and the
run record.

**Inputs.** :func:`collect_inputs` expands the ``convert`` arguments: a file is taken as named
(whatever its extension: a bad one becomes a failed track); a folder is walked recursively for
audio and MIDI files by extension (:data:`AUDIO_SUFFIXES`, ``.mid``/``.midi``), skipping hidden
files and folders and the output folder; a glob pattern (``*``, ``?``, ``[``; ``**`` crosses
folders) keeps the audio and MIDI files it matches; a manifest (``--from-list``) holds one path per
line, or is a CSV file with a ``path`` column, its relative paths read from the manifest's folder.

**Output folders.** A track's folder is a pure function of how the track was named, so adding a
file never renames another's folder, in this run or a later one (:func:`output_rel`):

* a file named on the command line: ``OUT/<stem>/``;
* a file found in a folder ``DIR``: ``OUT/<path under DIR without its extension>/``
  (``DIR/rock/demo.wav`` -> ``OUT/rock/demo/``);
* a glob match: the same, under the pattern's fixed leading folder (``music/*/*.wav`` ->
  relative to ``music``);
* a manifest entry: its path relative to the manifest's folder, without the extension; an entry
  outside that folder mirrors its whole absolute path (``/data/x/a.wav`` -> ``OUT/data/x/a/``).

Two tracks that land on one folder (``song.wav`` and ``song.mid`` side by side, or the same
name in two folders given separately), or one whose folder would hold another's, are a
collision: both are reported as failed tracks naming each other, and the rest of the batch goes
on. The same file reached twice is converted once.

**Run record.** Every batch writes ``OUT/run.jsonl``: one JSON object per track as it finishes
(``source``, ``status``, ``output`` relative to ``OUT``, ``error``, ``exit_code``, ``summary``,
``timings_s``, ``finished``), each appended with a single ``write`` and synced, so a kill -9
leaves whole lines only (:func:`read_run_record` also drops a torn last line). The parent
process alone writes it; workers only send results back.

**Safety.** :func:`run_batch` holds an exclusive lock on ``OUT`` for the whole batch (a second run
into the same folder stops at once), and removes what a killed run left: staging folders
``.NAME.*.partial`` are deleted, and a ``.NAME.old-PID`` (an earlier result moved aside during a
swap) is put back when ``NAME`` is missing, deleted otherwise.
"""

from __future__ import annotations

import csv
import datetime as _dt
import errno
import glob as _glob
import io
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from midi2img.constants import MIDI_SUFFIXES
from midi2img.errors import InputError, OutputError
from midi2img.flags import argument, flag
from midi2img.runners import Job, JobProgress, Runner

if TYPE_CHECKING:
    from midi2img.convert import ConvertContext, ConvertOptions, TrackResult

#: Extensions taken as audio when a folder is walked or a glob is expanded (a file named on the
#: command line or in a manifest is tried whatever its extension).
AUDIO_SUFFIXES = (".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac",
                  ".aif", ".aiff", ".aifc", ".wma", ".webm", ".mka", ".caf", ".w64", ".au")
#: The run record's file name inside the output folder.
RUN_RECORD = "run.jsonl"

_MAGIC = re.compile(r"[*?[]")
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.partial$")
_OLD = re.compile(r"^\.(?P<name>.+)\.old-(?P<pid>\d+)$")


def is_track_file(path: str | Path) -> bool:
    """Whether a file found in a folder or by a glob is converted (audio or MIDI, by
    extension)."""
    return Path(path).suffix.lower() in AUDIO_SUFFIXES + MIDI_SUFFIXES


@dataclass(frozen=True)
class BatchInput:
    """One track of a batch, before planning.

    Attributes:
        track: The path as the user named it (it becomes ``source``).
        rel: Its output folder relative to ``OUT`` (POSIX form).
        origin: How it was named (``file``, ``folder DIR``, ``glob PATTERN``, ``list FILE``).
    """

    track: str
    rel: str
    origin: str

    def __post_init__(self) -> None:
        parts = PurePosixPath(self.rel).parts
        if not parts or PurePosixPath(self.rel).is_absolute() or ".." in parts:
            raise ValueError(f"bad output folder {self.rel!r} for {self.track}")


def _stem_rel(rel: PurePosixPath) -> str:
    """``rock/demo.wav`` -> ``rock/demo`` (a name without a stem becomes ``track``)."""
    name = PurePosixPath(rel.name).stem or "track"
    return str(rel.parent / name) if str(rel.parent) != "." else name


def output_rel(track: str | Path, *, base: str | Path | None = None) -> str:
    """The output folder of ``track`` relative to ``OUT``: ``<stem>`` for a file named on its
    own (``base`` None); else its path relative to ``base`` without the extension, or, when it
    lies outside ``base``, its whole absolute path without the root."""
    p = Path(track)
    if base is None:
        return _stem_rel(PurePosixPath(p.name))
    absolute = Path(os.path.abspath(p))
    root = Path(os.path.abspath(base))
    try:
        rel = PurePosixPath(absolute.relative_to(root).as_posix())
    except ValueError:
        rel = PurePosixPath(absolute.as_posix()).relative_to("/")
    return _stem_rel(rel)


def _walk(folder: Path, skip: Path | None) -> list[Path]:
    """Audio and MIDI files under ``folder`` (recursively, sorted; hidden entries and the
    ``skip`` folder left out)."""
    found: list[Path] = []
    skip_real = os.path.realpath(skip) if skip is not None else None
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.realpath(os.path.join(root, d)) != skip_real)
        found += [Path(root) / f for f in sorted(files)
                  if not f.startswith(".") and is_track_file(f)]
    return found


def _glob_base(pattern: str) -> str:
    """The fixed leading folder of a glob pattern (``music/*/x.wav`` -> ``music``)."""
    parts = PurePosixPath(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if _MAGIC.search(part):
            break
        fixed.append(part)
    return str(PurePosixPath(*fixed)) if fixed else "."


def _hidden(path: str) -> bool:
    return any(part.startswith(".") and part not in (".", "..")
               for part in PurePosixPath(path).parts)


def read_manifest(path: str | Path) -> list[str]:
    """The paths a manifest lists, as written in it.

    A ``.csv`` file, or one whose first line is a CSV header with a ``path`` column, gives that
    column; any other file gives one path per line (blank lines and ``#`` comments skipped).

    Raises:
        InputError: the manifest cannot be read, or a CSV has no ``path`` column.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"--from-list {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--from-list {p}: cannot read it ({exc})") from exc
    lines = text.splitlines()
    first = lines[0].strip() if lines else ""
    header = [c.strip().lower() for c in next(csv.reader([first]))] if first else []
    if p.suffix.lower() == ".csv" or ("path" in header and len(header) > 1):
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or "path" not in [c.strip().lower() for c in rows[0]]:
            raise InputError(f"--from-list {p}: a CSV manifest needs a 'path' column "
                             f"(header: {', '.join(rows[0]) if rows else 'none'})")
        col = [c.strip().lower() for c in rows[0]].index("path")
        return [r[col].strip() for r in rows[1:] if len(r) > col and r[col].strip()]
    return [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]


def collect_inputs(args: Sequence[str | Path], lists: Sequence[str | Path] = (), *,
                   out_dir: str | Path | None = None,
                   warn: Callable[[str], Any] | None = None) -> list[BatchInput]:
    """Expand files, folders, glob patterns and manifests into the tracks of a batch.

    Args:
        args: What was named on the command line.
        lists: Manifests (``--from-list``).
        out_dir: The output folder (never walked into).
        warn: Receives a note for a folder or pattern that holds no track.

    Returns:
        The tracks in the order named (a folder's in sorted order).

    Raises:
        InputError: nothing at all to convert, or an unreadable manifest.
    """
    say = warn or (lambda msg: None)
    skip = Path(out_dir) if out_dir is not None else None
    inputs: list[BatchInput] = []
    for arg in args:
        text = str(arg)
        path = Path(text)
        if path.is_dir():
            files = _walk(path, skip)
            if not files:
                say(f"note: {text}: no audio or MIDI files in this folder")
            inputs += [BatchInput(str(f), output_rel(f, base=path), f"folder {text}")
                       for f in files]
        elif not path.exists() and _MAGIC.search(text):
            base = _glob_base(text)
            matches = sorted(m for m in _glob.glob(text, recursive=True)
                             if os.path.isfile(m) and is_track_file(m)
                             and not _hidden(os.path.relpath(m, base)))
            if skip is not None:
                root = os.path.realpath(skip)
                matches = [m for m in matches
                           if not os.path.realpath(m).startswith(root + os.sep)]
            if not matches:
                say(f"note: {text}: the pattern matches no audio or MIDI file")
            inputs += [BatchInput(m, output_rel(m, base=base), f"glob {text}") for m in matches]
        else:
            inputs.append(BatchInput(text, output_rel(path), "file"))
    for manifest in lists:
        folder = Path(manifest).parent
        entries = read_manifest(manifest)
        if not entries:
            say(f"note: --from-list {manifest}: the list is empty")
        for entry in entries:
            named = Path(entry).expanduser()
            track = named if named.is_absolute() else folder / named
            inputs.append(BatchInput(str(track), output_rel(track, base=folder),
                                     f"list {manifest}"))
    if not inputs:
        raise InputError("nothing to convert: name audio or MIDI files, folders, glob patterns "
                         "or --from-list FILE")
    return inputs


@dataclass(frozen=True)
class BatchPlan:
    """The jobs of a batch and the tracks that could not be planned.

    Attributes:
        out_dir: The output folder.
        jobs: One job per track, in the order named (indices count every track, conflicts
            included).
        rejected: ``(index, source, error line)`` of each track whose output folder collides
            with another's.
    """

    out_dir: Path
    jobs: tuple[Job, ...]
    rejected: tuple[tuple[int, str, str], ...] = ()

    @property
    def total(self) -> int:
        """Number of tracks (planned and rejected)."""
        return len(self.jobs) + len(self.rejected)


def plan_batch(inputs: Sequence[BatchInput], out_dir: str | Path) -> BatchPlan:
    """Give each track its output folder (``OUT/<rel>``); collisions become rejected tracks.

    The same file reached twice (by two arguments) is kept once, as first named.
    """
    out = Path(out_dir)
    seen: set[str] = set()
    unique: list[BatchInput] = []
    for item in inputs:
        key = os.path.realpath(item.track)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    owners: dict[str, list[int]] = {}
    for i, item in enumerate(unique):
        owners.setdefault(item.rel, []).append(i)
    problems: dict[int, str] = {}
    for rel, idx in owners.items():
        if len(idx) > 1:
            for i in idx:
                others = ", ".join(unique[j].track for j in idx if j != i)
                problems[i] = (f"{unique[i].track}: its output folder {out / rel} is also "
                               f"the folder of {others}; rename one, or convert them into "
                               f"different -o folders")
    for rel, idx in owners.items():
        parents = PurePosixPath(rel).parents
        for parent in list(parents)[:-1]:  # every proper ancestor but "."
            for j in owners.get(str(parent), []):
                for i in idx:
                    problems.setdefault(i, f"{unique[i].track}: its output folder {out / rel} "
                                           f"lies inside {out / parent}, the folder of "
                                           f"{unique[j].track}; convert them into different "
                                           f"-o folders")
                    problems.setdefault(j, f"{unique[j].track}: its output folder "
                                           f"{out / parent} would hold {out / rel}, the folder "
                                           f"of {unique[i].track}; convert them into different "
                                           f"-o folders")
    jobs = tuple(Job(i, Path(item.track), out / item.rel) for i, item in enumerate(unique)
                 if i not in problems)
    rejected = tuple((i, unique[i].track, problems[i]) for i in sorted(problems))
    return BatchPlan(out, jobs, rejected)


def plan_jobs(tracks: Sequence[str | Path], out_dir: Path) -> list[Job]:
    """Each track with its output folder ``OUT/<stem>`` (a pure function of its name).

    Raises:
        InputError: two tracks would share a folder (``a/demo.wav`` and ``b/demo.wav``):
            :func:`plan_batch` reports such tracks as failed instead.
    """
    plan = plan_batch([BatchInput(str(t), output_rel(t), "file") for t in tracks], out_dir)
    if plan.rejected:
        raise InputError(plan.rejected[0][2])
    return list(plan.jobs)


@dataclass(frozen=True)
class BatchRequest:
    """What ``convert`` is asked to convert and where its outputs go (each field with the
    command-line argument or option that sets it).

    Attributes:
        tracks: Files, folders and glob patterns, as named.
        out_dir: The output folder.
        from_list: Manifests.
    """

    tracks: tuple[str, ...] = argument(
        default=(), cli_type=list[str] | None, cli_default=None,
        parse=lambda named: tuple(named or ()),
        help="Audio or MIDI files, folders (searched recursively for audio and MIDI files by "
        "extension; hidden files skipped) or glob patterns ('music/**/*.flac').")
    out_dir: Path = flag(
        "-o", "--out", default=Path("out"),
        help="Output folder: OUT/<stem>/ for a file named here; for a folder, glob or list, "
        "the track's path under it without the extension.")
    from_list: tuple[Path, ...] = flag(
        "--from-list", default=(), cli_type=list[Path] | None, cli_default=None,
        parse=lambda lists: tuple(lists or ()),
        help="A manifest: one path per line, or a CSV file with a 'path' column; relative "
        "paths are read from the manifest's folder. Repeatable.")

    def plan(self, warn: Callable[[str], Any] | None = None) -> BatchPlan:
        """The batch's jobs (:func:`collect_inputs`, then :func:`plan_batch`).

        Raises:
            InputError: nothing at all to convert, or an unreadable manifest.
        """
        inputs = collect_inputs(self.tracks, self.from_list, out_dir=self.out_dir, warn=warn)
        return plan_batch(inputs, self.out_dir)


# ---- safety: the lock and what a killed run left -------------------------------------------


class OutLock:
    """An exclusive lock on the output folder for the length of a batch (``flock`` on the folder
    itself: nothing is written, and the kernel releases it when the process dies, even by kill
    -9).

    Raises (on enter):
        OutputError: the folder cannot be created, or another run holds it.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self._fd: int | None = None

    def __enter__(self) -> OutLock:
        import fcntl

        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.out_dir, os.O_RDONLY)
        except OSError as exc:
            raise OutputError(f"cannot write to {self.out_dir}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)  # a file system without locks (some network mounts): go on
                return self
            os.close(fd)
            raise OutputError(f"{self.out_dir} is in use by another midi2img run; wait for it "
                              f"to finish or choose another -o folder") from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def clean_stale(folders: Iterable[Path], names: set[str] | None = None) -> list[str]:
    """Remove what a killed run left in ``folders`` (call it under :class:`OutLock`).

    A staging folder ``.NAME.*.partial`` is deleted; ``.NAME.old-PID`` (the earlier result that a
    swap had moved aside) is put back as ``NAME`` when ``NAME`` is missing, and deleted
    otherwise. With ``names``, only entries for those names are touched.

    Returns:
        One line per entry handled.
    """
    done: list[str] = []
    for folder in sorted(set(folders)):
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if not entry.name.startswith("."):
                continue
            if (m := _PARTIAL.match(entry.name)) and entry.is_dir() and (
                    names is None or m["name"] in names):
                shutil.rmtree(entry, ignore_errors=True)
                done.append(f"removed {entry} (left by a killed run)")
            elif (m := _OLD.match(entry.name)) and entry.is_dir() and (
                    names is None or m["name"] in names):
                target = folder / m["name"]
                if target.exists():
                    shutil.rmtree(entry, ignore_errors=True)
                    done.append(f"removed {entry} (left by a killed run)")
                else:
                    try:
                        os.replace(entry, target)
                        done.append(f"restored {target} from {entry.name} (left by a killed "
                                    f"run)")
                    except OSError:
                        pass
    return done


# ---- the run record -------------------------------------------------------------------------


def record_line(result: TrackResult, out_dir: Path) -> dict[str, Any]:
    """One line of ``run.jsonl``: the track's record with ``output`` relative to ``OUT``."""
    d = result.to_dict()
    if result.output is not None:
        try:
            d["output"] = Path(os.path.relpath(result.output, out_dir)).as_posix()
        except ValueError:
            d["output"] = result.output
    d["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    return d


class RunRecord:
    """``OUT/run.jsonl``, written by the parent process only: started empty for each batch,
    one line appended (a single ``write``, then ``fsync``) per finished track.

    Raises:
        OutputError: the file cannot be written.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / RUN_RECORD
        self._fd: int | None = None

    def __enter__(self) -> RunRecord:
        from midi2img.io import file_mode

        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND,
                               file_mode())
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return self

    def write(self, result: TrackResult) -> dict[str, Any]:
        """Append the record of one finished track; return the line's object."""
        assert self._fd is not None
        line = record_line(result, self.out_dir)
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror or exc}") from exc
        return line

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def read_run_record(out_dir: str | Path) -> list[dict[str, Any]]:
    """The lines of ``OUT/run.jsonl`` (a torn or unreadable line is dropped).

    Raises:
        InputError: there is no run record.
    """
    path = Path(out_dir) / RUN_RECORD
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InputError(f"{path}: no run record (not a midi2img output folder?)") from None
    records = []
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            records.append(obj)
    return records


# ---- the batch ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did.

    Attributes:
        out_dir: The output folder.
        results: Every track's record, in the order named.
        wall_s: Seconds from the start of the batch to its end.
        engine: The runner that ran it.
        workers: How many analysis workers it used (1 in this process).
        notes: Lines about stale staging folders cleaned up, ...
    """

    out_dir: Path
    results: tuple[TrackResult, ...]
    wall_s: float
    engine: str = "sequential"
    workers: int = 1
    notes: tuple[str, ...] = field(default=())

    def count(self, status: str) -> int:
        """Number of tracks with that status."""
        return sum(r.status == status for r in self.results)

    @property
    def failures(self) -> list[TrackResult]:
        """The failed tracks' records."""
        return [r for r in self.results if r.status == "failed"]

    def audio_s(self, status: str = "ok") -> float:
        """Seconds of audio of the tracks with that status."""
        return float(sum(float(r.summary.get("duration_s") or 0.0) for r in self.results
                         if r.status == status))

    @property
    def x_realtime(self) -> float | None:
        """Audio converted per second of wall time (None when nothing was converted)."""
        audio = self.audio_s("ok")
        return audio / self.wall_s if audio > 0 and self.wall_s > 0 else None

    @property
    def exit_code(self) -> int:
        """0 when no track failed; the failures' code when they share one; else 1."""
        codes = {r.exit_code for r in self.failures}
        if not codes:
            return 0
        return codes.pop() if len(codes) == 1 else 1

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (``convert --json``)."""
        x = self.x_realtime
        return {"out": str(self.out_dir), "run_record": str(self.out_dir / RUN_RECORD),
                "engine": self.engine, "workers": self.workers, "tracks": len(self.results),
                "done": self.count("ok"), "skipped": self.count("skipped"),
                "failed": self.count("failed"), "audio_s": round(self.audio_s("ok"), 3),
                "audio_hours": round(self.audio_s("ok") / 3600, 4),
                "wall_s": round(self.wall_s, 3),
                "x_realtime": None if x is None else round(x, 2),
                "failures": [{"source": r.source, "error": r.error, "exit_code": r.exit_code}
                             for r in self.failures],
                "exit_code": self.exit_code}

    def table(self) -> str:
        """The summary as a small table (what ``convert`` prints at the end)."""
        def hours(s: float) -> str:
            return f"{s / 3600:.2f} h" if s >= 3600 else f"{s / 60:.1f} min"

        rows = [("done", self.count("ok"), hours(self.audio_s("ok"))),
                ("skipped", self.count("skipped"), hours(self.audio_s("skipped"))),
                ("failed", self.count("failed"), "")]
        lines = [f"{'':10}{'tracks':>8}{'audio':>12}"]
        lines += [f"{name:10}{n:>8}{audio:>12}" for name, n, audio in rows]
        x = self.x_realtime
        speed = f"{x:.1f}x realtime" if x is not None else "nothing converted"
        how = f"{self.engine}, {self.workers} worker(s)" if self.workers else self.engine
        lines.append(f"wall time {self.wall_s:.1f} s · {speed} · {how} · record "
                     f"{self.out_dir / RUN_RECORD}")
        return "\n".join(lines)


def precheck(job: Job, options: ConvertOptions) -> TrackResult | None:
    """The ``skipped`` record of a job whose folder is complete and up to date (``resume``),
    else None (the job must run). Cheap when the folder does not exist: nothing is hashed."""
    from midi2img.convert import (
        file_sha256,
        output_state,
        read_output,
        skipped_result,
    )

    if not options.resume or not job.out.is_dir():
        return None
    try:
        digest = file_sha256(job.track)
    except OSError:
        return None
    if output_state(job.out, input_sha256=digest, options=options) != "complete":
        return None
    return skipped_result(str(job.track), job.out, read_output(job.out))


def run_batch(plan: BatchPlan, context: ConvertContext, runner: Runner, *,
              engine: str | None = None, workers: int | None = None,
              on_result: Callable[[Job | None, TrackResult], Any] | None = None,
              on_progress: JobProgress | None = None,
              on_start: Callable[[int], Any] | None = None) -> BatchSummary:
    """Run a planned batch: lock ``OUT``, clean what a killed run left, skip what is complete
    (``resume``), run the rest with ``runner``, and record every track in ``OUT/run.jsonl``.

    Args:
        plan: The jobs (:func:`plan_batch`).
        context: The run's options (and, for a runner working in this process, its models).
        runner: Runs the jobs left to do.
        engine: The runner's name, for the summary (default: ``runner.name``).
        workers: Its number of analysis workers, for the summary (default:
            ``runner.local_workers``).
        on_result: Called with each track's record as it is recorded (job None for a track
            rejected at planning).
        on_progress: Passed to the runner.
        on_start: Called with the number of jobs left to run, before they start.

    Raises:
        OutputError: ``OUT`` is locked by another run or cannot be written.
    """
    from midi2img.convert import BATCH_STEPS, TrackResult, batch_step

    started = time.perf_counter()
    results: dict[int, TrackResult] = {}
    report = on_result or (lambda job, result: None)
    with OutLock(plan.out_dir), RunRecord(plan.out_dir) as record:
        folders = {job.out.parent for job in plan.jobs}
        notes = clean_stale(folders, {job.out.name for job in plan.jobs})
        for index, source, line in plan.rejected:
            results[index] = TrackResult(source, "failed", None, line, InputError.exit_code)
            record.write(results[index])
            report(None, results[index])
        todo: list[Job] = []
        for job in plan.jobs:
            skipped = precheck(job, context.options)
            if skipped is None:
                todo.append(job)
                continue
            results[job.index] = skipped
            record.write(skipped)
            report(job, skipped)
        if on_start is not None:
            on_start(len(todo))

        def recorded(job: Job, result: TrackResult) -> None:
            results[job.index] = result
            record.write(result)
            report(job, result)

        if todo:
            runner.run(todo, context, on_result=recorded, on_progress=on_progress)
            # a worker killed mid-track (and retried) may have left its staging folder
            clean_stale(folders, {job.out.name for job in todo})
        steps = [batch_step(n) for n in context.options.post_steps if n in BATCH_STEPS]
        if steps:
            lines = read_run_record(plan.out_dir)
            for step in steps:
                step(plan.out_dir, lines)
    ordered = tuple(results[i] for i in sorted(results))
    return BatchSummary(plan.out_dir, ordered, time.perf_counter() - started,
                        runner.name if engine is None else engine,
                        runner.local_workers if workers is None else workers, tuple(notes))
