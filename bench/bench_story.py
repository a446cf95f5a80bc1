"""Count prompts that tell more than one mood story.

Usage: python bench/bench_story.py [--out bench/story.md] [--limit N]

Runs the full analysis on every emotion4q clip (794 real recordings), the five real recordings
in ``$MIDI2IMG_DATA/audio`` and the EMOPIA test split (86 MIDI clips), and counts the prompts
whose keywords hold two words pointing opposite ways on a valence or arousal axis
(:func:`midi2img.mood_story.contradictions`), and the mood words per quadrant and band. Prints
a Markdown section on stdout (progress on stderr) and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _inputs(data: Path, limit: int | None) -> list[tuple[str, Path]]:
    from midi2img.mood.dataset import emopia_clips, emotion4q_clips

    items = [("emotion4q", data / "emotion4q" / c.path) for c in emotion4q_clips(data)]
    items += [("recordings", p) for p in sorted((data / "audio").glob("*.ogg"))]
    tmp = Path(tempfile.mkdtemp(prefix="midi2img-story-"))
    with zipfile.ZipFile(data / "emopia" / "midis.zip") as z:
        for c in (c for c in emopia_clips(data) if c.split == "test"):
            out = tmp / Path(c.member).name
            out.write_bytes(z.read(c.member))
            items.append(("emopia test", out))
    return items[:limit] if limit else items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "story.md")
    ap.add_argument("--limit", type=int, default=None, help="only the first N inputs")
    args = ap.parse_args()
    from midi2img.analysis import AnalysisOptions, analyse_track
    from midi2img.config import data_dir, quiet_libraries
    from midi2img.mood_story import contradictions

    quiet_libraries()
    items = _inputs(data_dir(), args.limit)
    opts = AnalysisOptions()
    per = Counter[str]()
    bad = Counter[str]()
    failed = Counter[str]()
    moods = Counter[tuple[str, str]]()
    examples: list[str] = []
    t0 = time.perf_counter()
    for i, (corpus, path) in enumerate(items, 1):
        try:
            a = analyse_track(path, opts)
        except Exception as exc:  # noqa: BLE001 - a clip that cannot be analysed is counted
            failed[corpus] += 1
            print(f"  {path.name}: {exc}", file=sys.stderr)
            continue
        per[corpus] += 1
        used = set(a.prompt.used)
        words = [k.keyword for k in a.keywords if k.keyword in used]
        pairs = contradictions(words)
        mood = [k for k in a.keywords if k.kind == "mood" and k.keyword in used]
        band = mood[0].because.split(" band")[0].rsplit("-> ", 1)[-1] if mood else "none"
        moods[(a.affect.quadrant if a.affect else "-", band)] += 1
        if pairs:
            bad[corpus] += 1
            if len(examples) < 10:
                examples.append(f"- {path.name}: {pairs}")
        if i % 50 == 0:
            print(f"  {i}/{len(items)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    buf = io.StringIO()
    buf.write("| corpus | prompts | with contradicting words | not analysable |\n"
              "|---|---|---|---|\n")
    for corpus in ("emotion4q", "recordings", "emopia test"):
        buf.write(f"| {corpus} | {per[corpus]} | {bad[corpus]} | {failed[corpus]} |\n")
    buf.write("\nMood words by quadrant and band (prompts):\n\n| quadrant | band | prompts |\n"
              "|---|---|---|\n")
    for (q, band), n in sorted(moods.items()):
        buf.write(f"| {q} | {band} | {n} |\n")
    if examples:
        buf.write("\nContradicting prompts:\n\n" + "\n".join(examples) + "\n")
    text = (f"# One mood story per prompt\n\nWritten by `bench/bench_story.py` in "
            f"{time.perf_counter() - t0:.0f} s.\n\n" + buf.getvalue())
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
