"""Settings read from the environment (:mod:`midi2img.config`): where the shared data is looked
for, the one line a command gives when it is missing, and the data tests that skip with the path
they need (and fail under CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import nonblank_lines, run_cli

ROOT = Path(__file__).resolve().parent.parent


def test_data_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No data folder (installed from a wheel, no MIDI2IMG_DATA): every command that needs
    data fails with one line saying how to point at it, and writes nothing."""
    from midi2img import config
    from midi2img.errors import DataError

    monkeypatch.delenv("MIDI2IMG_DATA", raising=False)
    monkeypatch.setattr(config, "checkout_root", lambda: None)  # as installed from a wheel
    with pytest.raises(DataError, match="MIDI2IMG_DATA=.* or --data"):
        config.data_dir()
    monkeypatch.undo()
    env = {"MIDI2IMG_DATA": str(tmp_path / "nowhere")}
    for args in (("genre", "eval"), ("mood", "eval"), ("mood", "train", "--out", "m"),
                 ("genre", "train", "--out", "m")):
        r = run_cli(*args, env=env, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert len(nonblank_lines(r.stderr)) == 1
        assert "MIDI2IMG_DATA" in r.stderr and "--data" in r.stderr
    assert not (tmp_path / "m").exists()
    for group in ("genre", "mood"):  # --out is required by both, --data optional in both
        r = run_cli(group, "train", cwd=tmp_path)
        assert r.returncode == 2 and "--out" in r.stderr
        help_text = run_cli(group, "train", "--help").stdout
        assert "--data" in help_text and "[required]" in help_text.split("--data")[0]


def test_data_tests_skip_with_a_reason_and_fail_under_ci(tmp_path: Path) -> None:
    """A data test whose data is missing is skipped with the path it needs, and fails
    under ``CI=true``."""
    env = {**os.environ, "MIDI2IMG_DATA": str(tmp_path / "none"), "CI": ""}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
            str(ROOT / "tests" / "test_gtzan_dataset.py")]
    r = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout
    assert "skipped" in r.stdout and "failed" not in r.stdout
    assert f"needs {tmp_path / 'none' / 'gtzan'}" in r.stdout  # the reason names the path
    r = subprocess.run(args, capture_output=True, text=True, env={**env, "CI": "true"},
                       cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "missing data under CI" in r.stdout
