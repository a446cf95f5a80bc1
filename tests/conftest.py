"""Shared fixtures: the demo progression rendered with a soundfont, transcribed once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEMO_BARS = 8


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_data(*parts: str) -> Path:
    """Path of a file or folder in the shared data (``$MIDI2IMG_DATA``), for a data test.

    When it is missing the test is skipped with a reason naming the path - except under CI
    (``CI=true``), where missing data is a failure, so CI can never pass by skipping.
    """
    from midi2img.config import data_dir

    path = data_dir().joinpath(*parts)
    if not path.exists():
        why = (f"needs {path} (shared data; set MIDI2IMG_DATA to the folder holding "
               f"{'/'.join(parts)})")
        if _under_ci():
            pytest.fail(f"missing data under CI: {why}")
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """demo.mid and demo.wav: I-V-vi-IV in C major at 120 BPM, 8 bars, rendered by fluidsynth."""
    from midi2img.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo"), bars=DEMO_BARS)


@pytest.fixture(scope="session")
def demo_analysis(demo_files: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    """The full analysis of the rendered demo audio (Basic Pitch runs once per session)."""
    from midi2img.analysis import analyse_track

    return analyse_track(demo_files[1])
