"""Shared fixtures: the demo progression rendered with a soundfont, transcribed once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Each test session gets its own cache folder (feature tables, recordings' rows, taggrams), set
# here, before anything reads it: tests never read or fill the user's ~/.cache/midi2img, and
# what one test extracts from the shared data (the retraining tests' features) the others of
# the session reuse. Removed when the session ends.
SESSION_CACHE = Path(tempfile.mkdtemp(prefix="midi2img-test-cache-"))
os.environ["MIDI2IMG_CACHE"] = str(SESSION_CACHE)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's cache folder."""
    del config
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)

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
