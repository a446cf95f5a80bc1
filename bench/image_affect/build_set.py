"""Build the OASIS rows for the image affect estimator: features, ratings, groups and the split.

Reads the fetched set from ``$MIDI2IMG_IMAGE_AFFECT_DATA`` (default ``/work/image_affect``):
``OASIS.csv`` (the ratings, Kurdi et al. 2017) and ``images/<Theme>.jpg`` (the 900 pictures);
bench/image_affect/README.md says where both come from. Writes

* ``<data>/features_v<FEATURE_VERSION>.json``: per image its features (outside the repository);
* ``bench/image_affect/split.json``: the image ids of the train and held-out parts (ids only).

The split: every image belongs to a theme group (its OASIS theme without the trailing number,
e.g. ``Acorns 1`` -> ``Acorns``; 248 groups), and a group goes to the held-out part when the first
8 hex digits of ``sha256("image_affect-v1:" + group)`` are below 25 % of 2**32. Hashing the group
rather than the image keeps near-identical photos of one theme on one side.

Usage: ``python bench/image_affect/build_set.py``
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from pathlib import Path

from PIL import Image

from midi2img.render.image_affect import FEATURE_NAMES, FEATURE_VERSION, image_features

DATA_ENV = "MIDI2IMG_IMAGE_AFFECT_DATA"
DEFAULT_DATA = "/work/image_affect"
SPLIT_FILE = Path(__file__).with_name("split.json")
SPLIT_SALT = "image_affect-v1:"
HELDOUT_SHARE = 0.25


def data_dir() -> Path:
    """The folder holding ``OASIS.csv`` and ``images/``."""
    return Path(os.environ.get(DATA_ENV, DEFAULT_DATA))


def group_of(theme: str) -> str:
    """The theme group of an OASIS theme (``'Car crash 2'`` -> ``'Car crash'``)."""
    head, _, tail = theme.strip().rpartition(" ")
    return head if tail.isdigit() and head else theme.strip()


def is_heldout(group: str) -> bool:
    """Whether a theme group belongs to the held-out part (seeded hash, see module doc)."""
    digest = hashlib.sha256((SPLIT_SALT + group).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) < HELDOUT_SHARE * 2**32


def read_ratings(folder: Path) -> list[dict[str, str | float]]:
    """The OASIS rows: id, theme, group, category, valence and arousal means (1..7)."""
    path = folder / "OASIS.csv"
    if not path.is_file():
        sys.exit(f"{path} not found; set {DATA_ENV} (see bench/image_affect/README.md)")
    rows: list[dict[str, str | float]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            theme = r["Theme"].strip()
            rows.append({"id": r[""], "theme": theme, "group": group_of(theme),
                         "category": r["Category"], "valence": float(r["Valence_mean"]),
                         "arousal": float(r["Arousal_mean"]),
                         "file": r["Theme"] + ".jpg"})
    return rows


def main() -> None:
    """Measure the features of every image and write the rows and the split."""
    folder = data_dir()
    rows = read_ratings(folder)
    out = []
    for i, row in enumerate(rows):
        img_path = folder / "images" / str(row["file"])
        if not img_path.is_file():
            img_path = folder / "images" / (str(row["theme"]) + ".jpg")
        with Image.open(img_path) as img:
            feats = image_features(img)
        out.append({**row, "features": [feats[f] for f in FEATURE_NAMES]})
        if (i + 1) % 100 == 0:
            print(f"{i + 1}/{len(rows)}", flush=True)
    dest = folder / f"features_v{FEATURE_VERSION}.json"
    dest.write_text(json.dumps({"feature_version": FEATURE_VERSION,
                                "feature_names": list(FEATURE_NAMES), "rows": out}),
                    encoding="utf-8")
    held = sorted((str(r["id"]) for r in rows if is_heldout(str(r["group"]))),
                  key=lambda s: int(s[1:]))
    train = sorted((str(r["id"]) for r in rows if not is_heldout(str(r["group"]))),
                   key=lambda s: int(s[1:]))
    SPLIT_FILE.write_text(json.dumps({
        "dataset": "OASIS (Kurdi et al. 2017)",
        "rule": f"theme group held out when int(sha256('{SPLIT_SALT}' + group)[:8], 16) "
                f"< {HELDOUT_SHARE} * 2**32; group = theme without its trailing number",
        "n_train": len(train), "n_heldout": len(held),
        "train": train, "heldout": held}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {dest} ({len(out)} images) and {SPLIT_FILE} "
          f"(train {len(train)}, held-out {len(held)})")


if __name__ == "__main__":
    main()
