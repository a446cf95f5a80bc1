"""``midi2img tune``: measure on the shared data and write the tables the analysis reads.

Beside ``genre train`` and ``mood train``, which write models, these write measured tables into
``keywords/`` (tag thresholds, genre floors, the section length) and a report of the measurement
(``bench/<name>.md`` in a checkout). Like ``train`` they refuse to replace a file without
``--force``. The library code is :mod:`midi2img.tune`; heavy libraries load inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from midi2img.cli.options import CacheOpt, DataOpt, ForceOpt

app = typer.Typer(help="Measure on the shared data and write the tables the analysis reads "
                       "(keywords/): tag thresholds, genre floors, section length.",
                  no_args_is_help=True)

ReportOpt = Annotated[Path | None, typer.Option(
    "--report", help="The markdown report of the measurement (default, in a checkout: "
    "bench/<name>.md).")]
LabelsOpt = Annotated[Path | None, typer.Option(
    "--labels", help="Folder of the hand-made label tables gtzan_artists.csv and "
    "emotion4q_artists.csv (default, in a checkout: bench/data).")]


def _log(msg: str) -> None:
    typer.echo(msg, err=True)


@app.command()
def tags(
    out: Annotated[Path | None, typer.Option(
        "--out", help="The thresholds file to write (default, in a checkout: "
        "keywords/tag_thresholds.toml).")] = None,
    report: ReportOpt = None,
    data: DataOpt = None,
    labels: LabelsOpt = None,
    cache: CacheOpt = None,
    force: ForceOpt = False,
) -> None:
    """Measure the thresholds of the tag keyword rules (keywords/tags.toml) on GM renders,
    GTZAN and emotion4q; fails, after writing, when a rule is under the precision bar."""
    from midi2img.config import require_data_dir
    from midi2img.errors import Midi2ImgError
    from midi2img.tune import resolve_outputs, work_dir, write_outputs
    from midi2img.tune.corpus import labels_dir
    from midi2img.tune.tags import MIN_PRECISION, run

    outs = resolve_outputs(out, report, shipped_rel="keywords/tag_thresholds.toml",
                           report_rel="bench/tag_keywords.md", force=force)
    root = require_data_dir(data, "vgmidi/midi", "emopia/midis.zip", "audio",
                            "emotion4q/metadata.csv", "gtzan/GTZANindex.txt", "gtzan/musicnn")
    result = run(root, work=work_dir(cache), labels=labels_dir(labels), log=_log)
    write_outputs(outs, result.thresholds_toml, result.report)
    typer.echo(f"wrote {outs.shipped} and {outs.report}")
    if result.weak:
        raise Midi2ImgError(f"rules under the precision bar {MIN_PRECISION}: "
                            f"{', '.join(result.weak)} (drop them from keywords/tags.toml or "
                            f"find a better form)")


@app.command("genre-floors")
def genre_floors(
    out: Annotated[Path | None, typer.Option(
        "--out", help="The floors file to write (default, in a checkout: "
        "keywords/genre_floors.toml).")] = None,
    report: ReportOpt = None,
    data: DataOpt = None,
    cache: CacheOpt = None,
    force: ForceOpt = False,
) -> None:
    """Measure per genre how sure the genre network must be for its imagery to match
    AllMusic's genres of the emotion4q recordings (analysed with convert, resumable)."""
    from midi2img.config import require_data_dir
    from midi2img.tune import resolve_outputs, work_dir, write_outputs
    from midi2img.tune.genre_floors import run

    outs = resolve_outputs(out, report, shipped_rel="keywords/genre_floors.toml",
                           report_rel="bench/genre_real.md", force=force)
    root = require_data_dir(data, "emotion4q/metadata.csv", "emotion4q/audio")
    result = run(root, work=work_dir(cache), log=_log)
    write_outputs(outs, result.floors_toml, result.report)
    typer.echo(f"wrote {outs.shipped} and {outs.report}")


@app.command()
def sections(
    out: Annotated[Path | None, typer.Option(
        "--out", help="The section-length file to write (default, in a checkout: "
        "keywords/sections.toml).")] = None,
    report: ReportOpt = None,
    data: DataOpt = None,
    labels: LabelsOpt = None,
    cache: CacheOpt = None,
    force: ForceOpt = False,
) -> None:
    """Measure how many tagger windows a storyboard section needs for tags and affect of its
    own (voice precision, new instrument keywords and affect accuracy by excerpt size)."""
    from midi2img.config import require_data_dir
    from midi2img.tune import resolve_outputs, work_dir, write_outputs
    from midi2img.tune.corpus import labels_dir
    from midi2img.tune.sections import previous_value, run

    outs = resolve_outputs(out, report, shipped_rel="keywords/sections.toml",
                           report_rel="bench/section_evidence.md", force=force)
    root = require_data_dir(data, "emotion4q/metadata.csv", "emotion4q/audio")
    result = run(root, work=work_dir(cache), labels=labels_dir(labels), cache=cache,
                 previous=previous_value(outs.shipped), log=_log)
    write_outputs(outs, result.sections_toml, result.report)
    typer.echo(f"wrote {outs.shipped} and {outs.report}: min_tag_windows = "
               f"{result.min_tag_windows}")
