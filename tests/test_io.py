"""Safe output (:mod:`midi2img.io`): what midi2img writes gets the modes the user's umask gives
new files and folders, as every other tool's output does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import cadence_midi
from midi2img.cli import app

runner = CliRunner()


@pytest.mark.parametrize("umask, fmode, dmode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_outputs_follow_the_umask(demo_files, tmp_path: Path, umask: int, fmode: int,
                                  dmode: int) -> None:
    """convert's track folder and files and transcribe's MIDI file: 0755/0644 under umask 022,
    private (0700/0600) under 077."""
    mid = cadence_midi(tmp_path / "song.mid")
    old = os.umask(umask)
    try:
        r = runner.invoke(app, ["convert", str(mid), "-o", str(tmp_path / "out"), "--image",
                                "abstract", "--width", "64", "--height", "64"])
        assert r.exit_code == 0, r.output
        t = runner.invoke(app, ["transcribe", str(demo_files[1]), "-o", str(tmp_path / "t.mid")])
        assert t.exit_code == 0, t.output
    finally:
        os.umask(old)
    folder = tmp_path / "out" / "song"
    assert folder.stat().st_mode & 0o777 == dmode
    for f in folder.iterdir():
        assert f.stat().st_mode & 0o777 == fmode, f.name
    assert (tmp_path / "t.mid").stat().st_mode & 0o777 == fmode
