"""The unit of work of ``convert``: one track in, one output folder and one record out.

:func:`convert_one` analyses a track and writes its folder (MIDI, ``analysis.json``,
``prompt.txt``, images), the way madmom's processors each do one job; the runners in
:mod:`midi2img.runners` call it for every track of a batch. It prints nothing: it reports
progress through a callback and returns a :class:`TrackResult`, and it never raises for a bad
track (the error is in the result), so a batch always goes on.

The folder is built in a hidden staging folder and swapped in only when complete, so a failure
never leaves half-written output nor destroys an earlier result. Images come from the run's
:class:`~midi2img.render.ImageMaker`, so a Stable Diffusion pipeline is loaded once and reused
for every image of every track. With ``segments``, the track is split into sections
(:func:`midi2img.features.structure.section_bounds`), each analysed on its own and drawn with
the track's style and a seed schedule (base seed + section index), plus a labelled contact sheet
``storyboard.png``.

The unit has two halves so that a runner can put them in different processes:
:func:`prepare_track` (the analysis: CPU work, any worker) and :func:`finish_track` (images and
files: the process holding the diffusion pipeline). :func:`convert_one` is both in a row.

Resume: every ``analysis.json`` records ``provenance``, the sha256 of the input file's bytes and
of the options that shape the output (:func:`options_sha256`, which includes the versions of
midi2img and of every model). With ``resume``, a track whose folder is complete
(:func:`output_state`) and carries both hashes unchanged is ``skipped``; a changed input or
option is redone. "Complete" is decided from the folder alone: it exists under its final name
only after the atomic swap of a finished staging folder, its ``analysis.json`` reads, and every
file it names is there.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from midi2img import config
from midi2img.analysis import Analysis, AnalysisOptions, ProgressFn, analyse_track
from midi2img.errors import InputError, Midi2ImgError, OutputError
from midi2img.features.structure import MAX_SECTIONS
from midi2img.io import StagedDir, atomic_write_bytes, atomic_write_text, midi_bytes
from midi2img.registry import load_entry
from midi2img.render.base import RenderOptions

if TYPE_CHECKING:
    from midi2img.render import ImageMaker

#: Track statuses in a :class:`TrackResult`.
STATUSES = ("ok", "skipped", "failed")
#: States of an output folder (:func:`output_state`).
OUTPUT_STATES = ("missing", "complete", "stale", "foreign")
#: The ``analysis.json`` key holding the two resume hashes.
PROVENANCE_KEY = "provenance"


class PostStep(Protocol):
    """A step run on a track's staged folder after its images, MIDI, ``analysis.json`` and
    ``prompt.txt`` are written, before the folder is swapped in (an HTML report, a video).

    Called as ``step(folder, stem=..., source=..., analysis=...)``; returns the names of the
    files it wrote into ``folder``. Raises a :class:`~midi2img.errors.Midi2ImgError` to fail
    the track (the staging folder is then dropped, and an earlier result kept).
    """

    def __call__(self, folder: Path, *, stem: str, source: Path,
                 analysis: dict[str, Any]) -> list[str]: ...


class BatchStep(Protocol):
    """A step run once after a batch, as ``step(out_dir, records)`` with the lines of
    ``OUT/run.jsonl`` (``{source, status, error, output, timings_s, ...}``): a batch index."""

    def __call__(self, out_dir: Path, records: list[dict[str, Any]]) -> Any: ...


#: Output steps by name (``"module:function"``, imported when used), chosen with
#: :attr:`ConvertOptions.post_steps`: ``POST_STEPS`` run on each track's staged folder,
#: ``BATCH_STEPS`` once after the batch (a name may have both: a per-track report and the
#: batch's index). The names enter the options hash, so turning a step on makes ``--resume``
#: redo the tracks that lack it.
POST_STEPS: dict[str, str] = {"report": "midi2img.report.html:report_step",
                              "video": "midi2img.video:video_step"}
BATCH_STEPS: dict[str, str] = {"report": "midi2img.report.index:index_step"}
#: The file each post step writes into a track's folder (``{stem}``: the folder's name), so
#: that a folder missing one is not complete (:func:`expected_files`).
POST_STEP_FILES: dict[str, str] = {"report": "report.html", "video": "{stem}.mp4"}


def _step(registry: dict[str, str], name: str) -> Any:
    if name not in registry:
        raise InputError(f"unknown output step {name!r}; choose from: "
                         f"{', '.join(sorted({*POST_STEPS, *BATCH_STEPS})) or 'none'}")
    return load_entry(registry[name])


def post_step(name: str) -> PostStep:
    """The registered post-image step ``name``.

    Raises:
        InputError: no step has that name.
    """
    step: PostStep = _step(POST_STEPS, name)
    return step


def batch_step(name: str) -> BatchStep:
    """The registered batch step ``name``.

    Raises:
        InputError: no step has that name.
    """
    step: BatchStep = _step(BATCH_STEPS, name)
    return step


def parse_segments(value: str | int | None) -> str | int | None:
    """``--segments``: ``auto`` or a number of equal sections, 2..32 (None: no storyboard).

    Raises:
        InputError: anything else (0, 1 and negative numbers included: one section is the track
            itself, so leave the option out).
    """
    if value is None:
        return None
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        raise InputError(f"--segments {value!r}: give 'auto' or a number of sections "
                         f"(2..{MAX_SECTIONS})") from None
    if not 2 <= n <= MAX_SECTIONS:
        raise InputError(f"--segments {n}: give 'auto' or a number of sections "
                         f"(2..{MAX_SECTIONS})")
    return n


@dataclass(frozen=True)
class ConvertOptions:
    """What ``convert`` does for every track (picklable: a worker process rebuilds its
    :class:`ConvertContext` from it).

    Attributes:
        analysis: Transcription and prompt settings.
        segments: ``"auto"``, a number of sections, or None for no storyboard.
        force: Replace existing output folders.
        resume: Skip tracks whose folder is complete and made from the same input and options;
            replace a stale midi2img folder (another input or options) without ``force``.
        image: The ``--image`` policy: ``auto``, a backend name (``sd``, ``abstract``) or
            ``none``.
        render: The image backends' settings.
        post_steps: Names of :data:`POST_STEPS` to run on each finished folder.
    """

    analysis: AnalysisOptions = field(default_factory=AnalysisOptions)
    segments: str | int | None = None
    force: bool = False
    resume: bool = False
    image: str = "none"
    render: RenderOptions = field(default_factory=RenderOptions)
    post_steps: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        parse_segments(self.segments)
        from midi2img.render.maker import image_modes

        if self.image not in image_modes():
            raise InputError(f"unknown --image {self.image!r}; choose one of: "
                             f"{', '.join(image_modes())}")
        self.render.validate()
        for name in self.post_steps:
            if name not in POST_STEPS and name not in BATCH_STEPS:
                post_step(name)  # InputError naming the steps there are

    @property
    def diffusion(self) -> bool:
        """Whether images may come from a diffusion pipeline (``auto`` or ``sd``): then a
        runner keeps the pipeline in one process per GPU and sends it the analysed tracks."""
        return self.image in ("auto", "sd")


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data (dataclasses as dicts, paths as strings, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def options_fingerprint(options: ConvertOptions) -> dict[str, Any]:
    """Everything that shapes a track's output folder: the analysis (with the user's rule and
    style files by sha256, :meth:`~midi2img.user_rules.UserRules.fingerprint`), segmentation,
    image and post-step options, and the versions of midi2img and of every model (``force`` and
    ``resume`` say how to run, not what to make, and stay out; so do the image settings when
    no image is drawn)."""
    from midi2img.analysis import versions

    render = _plain(options.render) if options.image != "none" else None
    a = options.analysis
    analysis = {f.name: _plain(getattr(a, f.name)) for f in dataclasses.fields(a)
                if f.name != "user"}
    if (user := a.user.fingerprint()) is not None:  # the files' content, not only their names
        analysis["user"] = user
    return {"analysis": analysis, "segments": options.segments,
            "image": options.image, "render": render, "post_steps": list(options.post_steps),
            "versions": versions()}


@functools.lru_cache(maxsize=8)
def options_sha256(options: ConvertOptions) -> str:
    """sha256 of :func:`options_fingerprint` (canonical JSON), as recorded in ``analysis.json``."""
    text = json.dumps(options_fingerprint(options), sort_keys=True, ensure_ascii=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ConvertContext:
    """What every track of a run shares in one process: the options and the loaded models.

    Attributes:
        options: The run's settings.
        images: The image maker (None: no images).
        warn: Where one-line notes go (the image fallback, ...).
    """

    options: ConvertOptions
    images: ImageMaker | None = None
    warn: Callable[[str], Any] = field(default=lambda msg: None)

    @classmethod
    def create(cls, options: ConvertOptions, warn: Callable[[str], Any] | None = None, *,
               images: bool = True) -> ConvertContext:
        """A context whose image maker follows ``options.image`` (not loaded yet: see
        :meth:`prepare`).

        Args:
            options: The run's settings.
            warn: Where one-line notes go.
            images: Build the image maker (False for a process that only analyses).

        Raises:
            InputError: a bad image option.
        """
        from midi2img.render import ImageMaker

        say = warn or (lambda msg: None)
        maker = (ImageMaker(options.image, options.render, warn=say)
                 if images and options.image != "none" else None)
        return cls(options, maker, say)

    def prepare(self) -> None:
        """Load the image backend now (once; later calls do nothing).

        Raises:
            ModelError: the backend cannot be loaded and may not fall back.
        """
        if self.images is not None:
            self.images.prepare()


def warm_models(options: ConvertOptions) -> None:
    """Load every analysis model a track will need (once per process: each loader caches), so
    a worker pays for it before its first track rather than during it
    (:func:`midi2img.analysis.warm_models`).

    Raises:
        ModelError: a shipped model is broken.
    """
    from midi2img.analysis import warm_models as warm

    warm(options.analysis)


@dataclass(frozen=True)
class TrackResult:
    """What became of one track.

    Attributes:
        source: The track as the user named it.
        status: ``ok``, ``skipped`` or ``failed``.
        output: Its output folder (None when it failed).
        error: The error line (None unless it failed).
        exit_code: 0, or the exit code of the error's kind (2 input, 3 model, 4 output).
        summary: A few facts for the console and the batch index (key, tempo, ...).
        timings_s: Seconds per stage.
    """

    source: str
    status: str
    output: str | None = None
    error: str | None = None
    exit_code: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        if (self.status == "failed") != (self.error is not None):
            raise ValueError("a failed track needs an error line, and only a failed one")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (one line of a batch's run record)."""
        return {"source": self.source, "status": self.status, "output": self.output,
                "error": self.error, "exit_code": self.exit_code, "summary": self.summary,
                "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()}}


# ---- outputs ----------------------------------------------------------------------------------


def _png(image: Any, info: dict[str, Any], prompt: str, negative: str, source: str) -> bytes:
    from midi2img import __version__
    from midi2img.render import png_bytes

    meta = {"Software": f"midi2img {__version__}", "Source": source,
            "Renderer": info.get("renderer"), "Prompt": prompt, "Negative prompt": negative,
            "Seed": str(info.get("seed")), "midi2img": info}
    return png_bytes(image, meta)


#: Folder of a track's output that holds the candidates not kept (``--keep-candidates``).
CANDIDATES_DIR = "candidates"


def _picture(maker: ImageMaker, request: Any, folder: Path, stem: str, source: str,
             known: dict[str, float], written: list[Path]) -> tuple[Any, dict[str, Any]]:
    """Draw one image into ``folder/<stem>.png`` - the best of ``--candidates`` when they are
    scored, the others into ``candidates/`` with ``--keep-candidates`` - and return it with
    what its ``analysis.json`` entry records (how it was drawn; ``candidates`` and ``choice``
    when scored). ``known``: the keywords (with their weights) that the prompt may hold."""
    from midi2img.render.weighting import split_prompt

    if not maker.options.judged:
        drawn = maker.draw(request)
        info = drawn.to_dict()
        written.append(atomic_write_bytes(folder / f"{stem}.png", _png(
            drawn.image, info, request.prompt, request.negative_prompt, source)))
        return drawn.image, info
    parts = split_prompt(request.prompt)
    choice = maker.choose(request, sorted((k for k in parts if k in known),
                                          key=lambda k: (-known[k], parts.index(k))))
    for cand in choice.candidates:
        if cand is not choice.kept and maker.options.keep_candidates:
            cand.file = f"{CANDIDATES_DIR}/{stem}-c{cand.index:02d}.png"
            info = cand.drawn.to_dict()
            written.append(atomic_write_bytes(folder / cand.file, _png(
                cand.drawn.image, info, cand.prompt, request.negative_prompt,
                f"{source} candidate {cand.index}")))
    kept = choice.kept
    info = {**kept.drawn.to_dict(), **choice.record()}
    written.append(atomic_write_bytes(folder / f"{stem}.png", _png(
        kept.drawn.image, kept.drawn.to_dict(), kept.prompt, request.negative_prompt, source)))
    return kept.drawn.image, info


def write_images(analysis: Analysis, data: dict[str, Any], folder: Path, stem: str,
                 maker: ImageMaker | None) -> list[Path]:
    """Draw ``<stem>.png`` (and each section's image and ``storyboard.png``) into ``folder``,
    recording ``image``, ``segmentation`` and ``sections`` in ``data``.

    Section ``i`` is drawn with seed ``seed + i``; a pause (a section where no note sounds) with
    the track's prompt, its picture drawn from the track's analysis with nothing sounding. With
    ``--candidates``, each image is the best of its candidates (:func:`_picture`).

    Raises:
        ModelError: the image backend failed and may not fall back.
    """
    from midi2img.render import ImageRequest

    written: list[Path] = []
    drawing = maker is not None and maker.enabled
    base_seed, seed_source = (maker.seed_for(analysis.content_hash) if maker is not None
                              else (None, None))
    if drawing:
        assert maker is not None and base_seed is not None
        image, info = _picture(maker, ImageRequest(data, analysis.prompt.positive,
                                                   analysis.prompt.negative, base_seed),
                               folder, stem, analysis.source,
                               {k.keyword: k.weight for k in analysis.keywords}, written)
        data["image"] = {"file": f"{stem}.png", "seed_source": seed_source, **info}
    else:
        data["image"] = None
        data["omitted"]["image"] = "--image none"
    if analysis.segmentation is None or not analysis.sections:
        return written
    data["segmentation"] = analysis.segmentation.to_dict()
    rows: list[dict[str, Any]] = []
    pics: list[Any] = []
    for sec in analysis.sections:
        seed = None if base_seed is None else base_seed + sec.index
        row = sec.to_dict(track=analysis, seed=seed)
        if drawing:
            assert maker is not None and seed is not None
            name = f"section-{sec.index:02d}.png"
            own = sec.analysis
            request = (ImageRequest(data, row["prompt"], row["negative_prompt"], seed,
                                    anchor=data, silent=True) if own is None else
                       ImageRequest(own.to_dict(), row["prompt"], row["negative_prompt"], seed,
                                    anchor=data))
            image, info = _picture(maker, request, folder, name.removesuffix(".png"),
                                   f"{analysis.source} {sec.label()}",
                                   {k["keyword"]: k["weight"] for k in row["keywords"]},
                                   written)
            row["file"] = name
            row["renderer"] = info["renderer"]
            if "choice" in info:
                row["candidates"], row["choice"] = info["candidates"], info["choice"]
            pics.append(image)
        rows.append(row)
    data["sections"] = rows
    if pics:
        from midi2img.render.abstract import contact_sheet

        sheet = contact_sheet(pics, [s.label() for s in analysis.sections],
                              title=f"{stem}: {len(analysis.sections)} sections, "
                                    f"{data['image']['renderer']}")
        written.append(atomic_write_bytes(folder / "storyboard.png", _png(
            sheet, {"renderer": data["image"]["renderer"], "seed": base_seed}, "", "",
            analysis.source)))
        data["storyboard"] = "storyboard.png"
    return written


def write_outputs(analysis: Analysis, folder: Path, stem: str,
                  data: dict[str, Any] | None = None) -> list[Path]:
    """Write ``<stem>.mid``, ``analysis.json`` (``data`` or the analysis' dict) and
    ``prompt.txt`` into ``folder``."""
    d = data if data is not None else analysis.to_dict()
    return [
        atomic_write_bytes(folder / f"{stem}.mid",
                           midi_bytes(analysis.notes, tempo_bpm=analysis.features.tempo_bpm,
                                      grid=analysis.grid)),
        atomic_write_text(folder / "analysis.json",
                          json.dumps(d, indent=2, ensure_ascii=False) + "\n"),
        atomic_write_text(folder / "prompt.txt", f"{analysis.prompt.positive}\n\nNegative prompt: "
                                                 f"{analysis.prompt.negative}\n"),
    ]


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    image = data.get("image") or {}
    genre = data.get("genre") or {}
    affect = data.get("affect") or {}
    return {"duration_s": data["duration_s"], "key": data["key"], "tempo_bpm": data["tempo_bpm"],
            "genre": genre.get("label"), "quadrant": affect.get("quadrant"),
            "keywords": len(data["keywords"]), "renderer": image.get("renderer"),
            "sections": len(data.get("sections", []))}


def expected_files(data: dict[str, Any], stem: str, post_steps: Sequence[str] = ()
                   ) -> list[str]:
    """The files a complete output folder holds: those its ``analysis.json`` names, and those
    of the ``post_steps`` it was made with."""
    names = ["analysis.json", f"{stem}.mid", "prompt.txt"]
    names += [POST_STEP_FILES[n].format(stem=stem) for n in post_steps if n in POST_STEP_FILES]
    image = data.get("image")
    if isinstance(image, dict) and isinstance(image.get("file"), str):
        names.append(image["file"])
        names += _candidate_files(image)
    for sec in data.get("sections") or []:
        if isinstance(sec, dict) and isinstance(sec.get("file"), str):
            names.append(sec["file"])
            names += _candidate_files(sec)
    if isinstance(data.get("storyboard"), str):
        names.append(data["storyboard"])
    return names


def _candidate_files(entry: dict[str, Any]) -> list[str]:
    """The candidates' files an image entry names (``--keep-candidates``)."""
    cands = entry.get("candidates")
    return [c["file"] for c in cands if isinstance(c, dict) and isinstance(c.get("file"), str)
            ] if isinstance(cands, list) else []


def read_output(out: Path) -> dict[str, Any] | None:
    """The ``analysis.json`` of an output folder, or None when it has no readable one."""
    try:
        data = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def output_state(out: Path, *, input_sha256: str | None, options: ConvertOptions) -> str:
    """What the folder ``out`` is for a run with ``options``, decided from the folder alone.

    Returns:
        ``missing`` (no such folder); ``foreign`` (a folder that is not a midi2img output: no
        readable ``analysis.json``, or it holds folders, which a track's folder never does -
        but for ``candidates/``);
        ``complete`` (every file its ``analysis.json`` names, and every post step's file, is
        there, and both hashes in its ``provenance`` match); ``stale`` (a midi2img output made
        from another input or other options, an older one without provenance, or one with a
        file missing).
    """
    if not out.is_dir():
        return "foreign" if out.exists() else "missing"
    try:
        entries = list(out.iterdir())
    except OSError:
        return "foreign"
    if _other_folders(entries):
        return "foreign"
    data = read_output(out)
    if data is None:
        return "foreign"
    prov = data.get(PROVENANCE_KEY)
    if not isinstance(prov, dict) or input_sha256 is None:
        return "stale"
    if (prov.get("input_sha256") != input_sha256
            or prov.get("options_sha256") != options_sha256(options)):
        return "stale"
    if not all((out / f).is_file() for f in expected_files(data, out.name, options.post_steps)):
        return "stale"
    return "complete"


def _other_folders(entries: Sequence[Path]) -> list[Path]:
    """The folders among a folder's ``entries`` that a track's output folder never holds
    (all but ``candidates/``)."""
    return [e for e in entries if e.is_dir() and e.name != CANDIDATES_DIR]


def _error_line(source: str, exc: BaseException) -> str:
    """One line naming the track once."""
    if isinstance(exc, Midi2ImgError):
        line = " ".join(str(exc).split()) or type(exc).__name__
    else:  # a bug, not the user's doing: say what it was, and go on with the batch
        text = " ".join(str(exc).split())
        line = f"unexpected {type(exc).__name__}{': ' + text if text else ''} (please report it)"
    return line if source in line else f"{source}: {line}"


def failed_result(source: str, exc: BaseException, timings: dict[str, float] | None = None
                  ) -> TrackResult:
    """The ``failed`` record of a track that raised ``exc``."""
    code = exc.exit_code if isinstance(exc, Midi2ImgError) else 1
    return TrackResult(source, "failed", None, _error_line(source, exc), code, {},
                       dict(timings or {}))


def skipped_result(source: str, out: Path, data: dict[str, Any] | None = None) -> TrackResult:
    """The ``skipped`` record of a track whose folder is complete and up to date."""
    summary: dict[str, Any] = {"reason": "complete: same input and options (--resume)"}
    if data is not None:
        try:
            summary.update(_summary(data))
        except (KeyError, TypeError):
            pass
    return TrackResult(source, "skipped", str(out), None, 0, summary, {})


@dataclass(frozen=True)
class PreparedTrack:
    """A track analysed and waiting for its images and files (:func:`finish_track`).

    Attributes:
        source: The track as the user named it.
        out: Its output folder.
        analysis: The track's analysis (with its sections, with ``segments``).
        input_sha256: sha256 of the input file's bytes.
        timings_s: Seconds per stage so far.
    """

    source: str
    out: Path
    analysis: Analysis
    input_sha256: str
    timings_s: dict[str, float]


def _check_existing(out: Path, options: ConvertOptions, input_sha: str | None
                    ) -> tuple[str, dict[str, Any] | None]:
    """The state of ``out`` and whether the run may go on: raises when it may not.

    Raises:
        OutputError: ``out`` exists and may not be replaced.
    """
    if not out.exists():
        return "missing", None
    state = output_state(out, input_sha256=input_sha, options=options)
    if state == "foreign" and out.is_dir() and _other_folders(list(out.iterdir())):
        raise OutputError(f"{out} holds folders (other tracks' outputs?); a track's output "
                          f"folder never does, so it is not replaced, even with --force")
    if state == "complete" and options.resume:
        return state, read_output(out)
    if options.force or (options.resume and state == "stale"):
        return state, None
    hint = "pass --force to replace it" if state == "foreign" or options.resume else (
        "pass --resume to keep it if it is up to date, or --force to replace it")
    raise OutputError(f"{out} exists; {hint}")


def prepare_track(track: str | Path, out: Path, context: ConvertContext, *,
                  progress: ProgressFn | None = None) -> PreparedTrack | TrackResult:
    """The first half of :func:`convert_one`: check the folder, analyse the track (and its
    sections). Writes nothing.

    Returns:
        The analysed track, or its final record: ``skipped`` (``resume`` and an up-to-date
        folder) or ``failed``.
    """
    opts = context.options
    source = str(track)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        try:
            input_sha: str | None = file_sha256(track)
        except OSError:
            input_sha = None  # the analysis says what is wrong with the file
        state, data = _check_existing(out, opts, input_sha)
        if state == "complete" and opts.resume:
            return skipped_result(source, out, data)
        with config.single_threaded_blas():
            analysis = analyse_track(track, opts.analysis, segments=opts.segments,
                                     progress=progress)
        assert input_sha is not None  # the analysis read the file
        timings.update(analysis.timings_s)
    except Exception as exc:  # a bad track is a record, never the end of the batch
        timings["total"] = time.perf_counter() - t0
        return failed_result(source, exc, timings)
    timings["analysis"] = time.perf_counter() - t0
    return PreparedTrack(source, out, analysis, input_sha, timings)


def finish_track(prepared: PreparedTrack | TrackResult, context: ConvertContext, *,
                 progress: ProgressFn | None = None) -> TrackResult:
    """The second half of :func:`convert_one`: draw the images and write the folder (staged,
    then swapped in whole), with the post-image steps of ``context.options``.

    A :class:`TrackResult` (a track already skipped or failed) passes through unchanged.
    """
    if isinstance(prepared, TrackResult):
        return prepared
    opts = context.options
    p = prepared
    timings = dict(p.timings_s)
    t0 = time.perf_counter()
    try:
        _check_existing(p.out, opts, p.input_sha256)  # it may have appeared meanwhile
        if progress is not None:
            progress("writing outputs", 1.0)
        data = p.analysis.to_dict()
        with StagedDir(p.out, force=True) as staging:
            write_images(p.analysis, data, staging, p.out.name, context.images)
            timings["images"] = time.perf_counter() - t0
            data[PROVENANCE_KEY] = {"input_sha256": p.input_sha256,
                                    "options_sha256": options_sha256(opts)}
            if (user := opts.analysis.user.describe()) is not None:
                data[PROVENANCE_KEY]["user_rules"] = user
            write_outputs(p.analysis, staging, p.out.name, data)
            extras: list[str] = []
            for name in (n for n in opts.post_steps if n in POST_STEPS):
                t_step = time.perf_counter()
                extras += post_step(name)(staging, stem=p.out.name, source=Path(p.source),
                                          analysis=data)
                timings[name] = time.perf_counter() - t_step
    except Exception as exc:  # a bad track is a record, never the end of the batch
        timings["total"] = timings.get("analysis", 0.0) + time.perf_counter() - t0
        return failed_result(p.source, exc, timings)
    steps_s = sum(timings.get(n, 0.0) for n in opts.post_steps)
    timings["write"] = time.perf_counter() - t0 - timings.get("images", 0.0) - steps_s
    timings["total"] = timings.get("analysis", 0.0) + time.perf_counter() - t0
    return TrackResult(p.source, "ok", str(p.out), None, 0, {**_summary(data), "extras": extras},
                       timings)


def convert_one(track: str | Path, out: Path, context: ConvertContext, *,
                progress: ProgressFn | None = None) -> TrackResult:
    """Convert one track into the folder ``out`` (named after the track by the runner).

    Args:
        track: Audio or MIDI file, as the user named it.
        out: The track's output folder; replaced only with ``force``, or with ``resume`` when
            it is a midi2img output made from another input or other options.
        context: The run's options and loaded models.
        progress: Receives ``(stage, fraction done)`` for this track.

    Returns:
        What happened; a bad track is a ``failed`` result with its error line, never an
        exception; with ``resume``, an up-to-date folder is a ``skipped`` one.
    """
    return finish_track(prepare_track(track, out, context, progress=progress), context,
                        progress=progress)
