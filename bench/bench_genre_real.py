"""Genre imagery on real recordings: does it agree with the genres AllMusic gives them?

Usage: python bench/bench_genre_real.py [--out bench/genre_real.md] [--work bench/work/texture]

The genre network and its decision thresholds were chosen on GTZAN. Here they meet 794 other
recordings: the emotion4q clips, whose metadata lists AllMusic's genres for each song. The
analyses are the ones ``bench/bench_texture.py`` writes (``convert --image none --resume``
into ``--work``); for each, the genres whose imagery entered the keywords (rules ``genre-*``:
the confident top genre, or the blended top two) are compared with AllMusic's genres.

AllMusic's genres are coarser than GTZAN's (metal and rock are both "Pop/Rock") and some GTZAN
genres have no AllMusic twin, so each GTZAN genre is compared with the AllMusic genres it may
fairly stand for (:data:`COMPATIBLE`). The share that agrees is an upper bound on precision for
the coarse genres (metal, pop) and a fair figure for the distinct ones (blues, country, jazz,
reggae, classical, hiphop). Nothing here is tuned: it reports.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: AllMusic genres (emotion4q metadata) each GTZAN genre's imagery may fairly stand for.
COMPATIBLE: dict[str, set[str]] = {
    "blues": {"Blues", "R&B"},
    "classical": {"Classical", "Stage & Screen", "New Age", "Avant-Garde", "Religious"},
    "country": {"Country", "Folk"},
    "disco": {"Electronic", "R&B", "Pop/Rock", "Latin", "International"},
    "hiphop": {"Rap", "R&B", "Electronic"},
    "jazz": {"Jazz", "Easy Listening", "Vocal"},
    "metal": {"Pop/Rock"},
    "pop": {"Pop/Rock", "Electronic", "R&B", "Vocal", "International", "Latin",
            "Easy Listening", "Stage & Screen", "Children's"},
    "reggae": {"Reggae", "International", "Latin"},
    "rock": {"Pop/Rock"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "genre_real.md")
    ap.add_argument("--work", type=Path, default=HERE / "work" / "texture")
    args = ap.parse_args()
    from bench_texture import convert

    from midi2img.config import data_dir

    data = data_dir()
    t0 = time.perf_counter()
    convert(data / "emotion4q" / "audio", args.work / "emotion4q")
    with (data / "emotion4q" / "metadata.csv").open(encoding="utf-8") as f:
        meta = {Path(r["file"]).stem: r for r in csv.DictReader(f)}
    fired, agree = Counter[str](), Counter[str]()
    decisions = Counter[str]()
    wrong: dict[str, list[str]] = defaultdict(list)
    n = 0
    for path in sorted((args.work / "emotion4q").rglob("analysis.json")):
        a = json.loads(path.read_text(encoding="utf-8"))
        row = meta[path.parent.name]
        allmusic = {g.strip() for g in row["allmusic_genres"].split(";") if g.strip()}
        genres = sorted({k["rule"].removeprefix("genre-") for k in a["keywords"]
                         if k["rule"].startswith("genre-")})
        decisions[{0: "silent", 1: "one genre"}.get(len(genres), "blend")] += 1
        n += 1
        for g in genres:
            fired[g] += 1
            if allmusic & COMPATIBLE[g]:
                agree[g] += 1
            else:
                wrong[g].append(f"{row['artist']} ({'; '.join(sorted(allmusic))})")
    lines = ["# Genre imagery on real recordings (`make bench-genre-real`)", "",
             f"Written by `bench/bench_genre_real.py` in {time.perf_counter() - t0:.0f} s on "
             f"{n} emotion4q recordings (AllMusic previews; genres from their metadata). "
             "Method and the genre correspondence in the script's docstring.", "",
             f"Genre decision: {decisions['one genre']} recordings got one genre's imagery, "
             f"{decisions['blend']} a blend of two, {decisions['silent']} none.", "",
             "| genre imagery | recordings | AllMusic agrees | share | AllMusic genres it may "
             "stand for | disagreeing (first 4) |", "|---|---|---|---|---|---|"]
    total_f = total_a = 0
    for g in sorted(fired, key=lambda g: (agree[g] / fired[g], g)):
        total_f += fired[g]
        total_a += agree[g]
        lines.append(f"| {g} | {fired[g]} | {agree[g]} | {agree[g] / fired[g]:.2f} | "
                     f"{', '.join(sorted(COMPATIBLE[g]))} | {'; '.join(wrong[g][:4]) or '-'} |")
    lines += [f"| all | {total_f} | {total_a} | {total_a / max(total_f, 1):.2f} | | |", ""]
    text = "\n".join(lines)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
