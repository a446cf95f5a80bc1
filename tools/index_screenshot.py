"""The README's screenshot of a batch index's map: the first five emotion4q recordings of each
labelled quadrant (by song id), converted with ``--report --image abstract``, the index's first
screen taken by the browser tests' headless Chromium.

Usage: python tools/index_screenshot.py OUT_FOLDER docs/index.png   (needs $MIDI2IMG_DATA)
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from browser import write_screenshot  # noqa: E402
from midi2img.config import data_dir  # noqa: E402


def main() -> int:
    out, png = Path(sys.argv[1]), Path(sys.argv[2])
    root = data_dir() / "emotion4q"
    with open(root / "metadata.csv", newline="", encoding="utf-8") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["song"])
    picked = [r for q in ("Q1", "Q2", "Q3", "Q4")
              for r in [x for x in rows if x["quadrant"] == q][:5]]
    subprocess.run([sys.executable, "-m", "midi2img.cli", "convert",
                    *(str(root / r["file"]) for r in picked), "-o", str(out), "--force",
                    "--report", "--image", "abstract", "--segments", "auto", "--quiet"],
                   check=True)
    write_screenshot(out / "index.html", png, width=1100, height=1000, full_page=False)
    print(png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
