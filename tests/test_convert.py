"""Converting one track (:mod:`midi2img.convert`): two runs write the same bytes, and the outputs
hold no detail of the machine (absolute paths, timings)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from helpers import cadence_midi, run_cli


def test_outputs_are_reproducible_and_private(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    cadence_midi(src / "song.mid")
    for out in ("o1", "o2"):
        r = run_cli("convert", "in/song.mid", "-o", out, "--image", "abstract", "--width", "64",
                 "--height", "64", "--segments", "2", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    a, b = tmp_path / "o1" / "song", tmp_path / "o2" / "song"
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and "analysis.json" in names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    d = json.loads((a / "analysis.json").read_text())
    assert d["source"] == "in/song.mid" and "timings_s" not in d
    meta = Image.open(a / "song.png").text
    assert meta["Source"] == "in/song.mid" and "render_s" not in meta["midi2img"]
    assert str(tmp_path) not in (a / "analysis.json").read_text()
