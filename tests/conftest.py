"""Shared fixtures: the demo progression rendered with a soundfont, transcribed once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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
    """Stop the background description if it still runs; remove the session's cache folder."""
    del config
    proc = _BACKGROUND.pop("emotion4q", None)
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    shutil.rmtree(SESSION_CACHE, ignore_errors=True)


# ------------------------------------------------------------------ emotion4q in the background
#
# The audio mood model's evaluation and full retraining need the sound rows and musicnn tags of
# all 794 emotion4q recordings: about 0.8 s of one core each, 11 minutes of CPU, the largest
# part of the suite. Most other tests keep one core busy and leave the other idle, so when the
# session holds a test that needs the rows, one background process describes the recordings
# into the session's cache on that idle core from the start, and those tests run last
# (`emotion4q_described` waits for it). Their own description then finds every recording
# cached: the same rows, computed by the same `describe_clips` as `midi2img mood train` does.

_BACKGROUND: dict[str, subprocess.Popen[bytes]] = {}
_NEEDS_ROWS = "emotion4q_described"
_DESCRIBE = """
from midi2img.config import data_dir
from midi2img.mood.dataset import emotion4q_clips
from midi2img.mood.train_audio import describe_clips
describe_clips(emotion4q_clips(), data_dir(), jobs=1)
"""


def _needs_rows(item: pytest.Item) -> bool:
    return _NEEDS_ROWS in getattr(item, "fixturenames", ())


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that need the emotion4q rows run last (stable order otherwise)."""
    del config
    items[:] = [i for i in items if not _needs_rows(i)] + [i for i in items if _needs_rows(i)]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the background description when a selected test needs it and the data is here."""
    from midi2img.config import data_dir

    if not any(_needs_rows(i) for i in session.items):
        return
    if not (data_dir() / "emotion4q" / "metadata.csv").is_file():
        return  # the tests themselves skip (or fail under CI) with the reason
    log = open(SESSION_CACHE / "emotion4q_describe.log", "wb")  # noqa: SIM115 (the process's)
    _BACKGROUND["emotion4q"] = subprocess.Popen(
        [sys.executable, "-c", _DESCRIBE], stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})
    log.close()


@pytest.fixture(scope="session")
def emotion4q_described() -> None:
    """Wait until the background process has described every emotion4q recording into the
    session's cache (nothing to wait for when it was not started)."""
    proc = _BACKGROUND.get("emotion4q")
    if proc is None:
        return
    if proc.wait() != 0:
        tail = (SESSION_CACHE / "emotion4q_describe.log").read_text(errors="replace")[-2000:]
        pytest.fail(f"describing emotion4q in the background failed:\n{tail}")

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
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised Stable Diffusion pipeline, built and saved once a session."""
    from midi2img.render import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "tiny-sd")


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
