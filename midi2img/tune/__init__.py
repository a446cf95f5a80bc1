"""Measurements that write shipped files: ``midi2img tune tags``, ``genre-floors``, ``sections``.

Each command measures on the shared data, writes one file the analysis reads (in a checkout,
into ``keywords/``) and a markdown report of the measurement (in a checkout, ``bench/<name>.md``).
The heavy work (renders, tags, analyses) is cached under ``<cache>/tune``, so a rerun only
recomputes what is missing.

* :mod:`.corpus` - the corpora: GM renders of real pieces, tagged real recordings, GTZAN
  taggrams, emotion4q analyses, and the hand-made label tables (``bench/data``);
* :mod:`.tags` - thresholds of the tag keyword rules (``keywords/tag_thresholds.toml``);
* :mod:`.genre_floors` - per-genre floors of genre imagery (``keywords/genre_floors.toml``);
* :mod:`.sections` - the fewest tagger windows a storyboard section needs for tags and affect of
  its own (``keywords/sections.toml``).

Heavy libraries are imported inside the functions that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: A progress printer (one line per call).
Log = Callable[[str], None]


def quiet(msg: str) -> None:
    """A :data:`Log` that prints nothing."""
    del msg


def work_dir(cache: Path | None = None) -> Path:
    """The tune commands' cache folder: ``<cache>/tune`` (default cache:
    :func:`midi2img.config.cache_dir`)."""
    from midi2img.config import cache_dir

    return (Path(cache) if cache is not None else cache_dir()) / "tune"


@dataclass(frozen=True)
class Outputs:
    """Where a tune command writes: the shipped file and the report."""

    shipped: Path
    report: Path


def _in_checkout(path: Path | None, rel: str, option: str) -> Path:
    from midi2img.config import checkout_root
    from midi2img.errors import InputError

    if path is not None:
        return Path(path)
    root = checkout_root()
    if root is None:
        raise InputError(f"midi2img is not running from a checkout: name the file with {option}")
    return root / rel


def resolve_outputs(shipped: Path | None, report: Path | None, *, shipped_rel: str,
                    report_rel: str, force: bool) -> Outputs:
    """The output paths (in a checkout, ``shipped_rel`` and ``report_rel`` by default), checked
    before any work is done.

    Raises:
        InputError: a path is not given and midi2img runs outside a checkout.
        OutputError: an output exists and ``force`` is false.
    """
    from midi2img.errors import OutputError

    out = Outputs(_in_checkout(shipped, shipped_rel, "--out"),
                  _in_checkout(report, report_rel, "--report"))
    if not force:
        for p in (out.shipped, out.report):
            if p.exists():
                raise OutputError(f"{p} exists (pass --force to replace it)")
    return out


def write_outputs(out: Outputs, shipped_text: str, report_text: str) -> None:
    """Write both files atomically."""
    from midi2img.io import atomic_write_text

    out.shipped.parent.mkdir(parents=True, exist_ok=True)
    out.report.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.shipped, shipped_text)
    atomic_write_text(out.report, report_text)
