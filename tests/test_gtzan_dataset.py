"""GTZAN dataset handling: the real feature table, the shipped splits, validation, bad inputs."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest

from conftest import require_data
from midi2img.constants import SPLITS
from midi2img.errors import DataError, InputError
from midi2img.gtzan import dataset


def test_feature_table_reads_all_rows() -> None:
    table = dataset.read_feature_table(require_data("gtzan", "features_30_sec.csv"))
    assert len(table) == 1000
    assert table.features.shape == (1000, 57)
    assert np.bincount(table.y()).tolist() == [100] * 10
    assert table.ids[0] == "blues.00000"
    row = table.select(["blues.00000"]).features[0]
    assert row[dataset.FEATURE_COLUMNS.index("tempo")] == pytest.approx(123.046875)


def test_shipped_splits_match_the_shared_lists() -> None:
    for split, n in (("train", 443), ("valid", 197), ("test", 290)):
        shipped = (resources.files("midi2img.gtzan") / "splits" / f"{split}_filtered.txt")
        shared = require_data("gtzan", "splits", f"{split}_filtered.txt")
        assert shipped.read_text().split() == shared.read_text().split()
        assert len(dataset.split_ids(split)) == n
    all_ids = [c for s in SPLITS for c in dataset.split_ids(s)]
    assert len(set(all_ids)) == 930  # artist-disjoint: no clip in two splits


def test_validate_table_against_splits() -> None:
    report = dataset.validate(table=dataset.read_feature_table(
        require_data("gtzan", "features_30_sec.csv")))
    assert report.ok
    assert report.expected == 930 and report.missing == [] and len(report.extra) == 70


@pytest.mark.parametrize("name, cid", [("blues/blues.00000.wav", "blues.00000"),
                                       ("jazz.00054.au", "jazz.00054"),
                                       ("hiphop.00099", "hiphop.00099")])
def test_clip_id(name: str, cid: str) -> None:
    assert dataset.clip_id(name) == cid


def test_clip_id_rejects_unknown_genre() -> None:
    with pytest.raises(DataError, match="not a GTZAN clip"):
        dataset.clip_id("polka/polka.00001.wav")


def _write_table(path, header: list[str], rows: list[list[str]]) -> None:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")


def test_bad_tables(tmp_path) -> None:
    with pytest.raises(InputError, match="no such file"):
        dataset.read_feature_table(tmp_path / "nope.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="missing column"):
        dataset.read_feature_table(wrong)
    header = ["filename", *dataset.FEATURE_COLUMNS, "label"]
    no_label = tmp_path / "no_label.csv"
    _write_table(no_label, header[:-1], [["blues.00000.au", *["1"] * 57]])
    with pytest.raises(DataError, match="label"):
        dataset.read_feature_table(no_label)
    mismatch = tmp_path / "mismatch.csv"
    _write_table(mismatch, header, [["blues.00000.au", *["1"] * 57, "rock"]])
    with pytest.raises(DataError, match="does not match"):
        dataset.read_feature_table(mismatch)
    text = tmp_path / "text.csv"
    _write_table(text, header, [["blues.00000.au", *["x"] * 57, "blues"]])
    with pytest.raises(DataError, match="non-numeric"):
        dataset.read_feature_table(text)
    empty = tmp_path / "empty.csv"
    _write_table(empty, header, [])
    with pytest.raises(DataError, match="no rows"):
        dataset.read_feature_table(empty)


def test_audio_root_index_and_corrupt_clip(tmp_path) -> None:
    import soundfile as sf

    with pytest.raises(InputError, match="no such folder"):
        dataset.index_audio_root(tmp_path / "missing")
    with pytest.raises(DataError, match="no GTZAN audio"):
        dataset.index_audio_root(tmp_path)
    (tmp_path / "blues").mkdir()
    sf.write(tmp_path / "blues" / "blues.00000.wav", np.zeros(22050, np.float32), 22050)
    (tmp_path / "jazz").mkdir()
    (tmp_path / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    index = dataset.index_audio_root(tmp_path)
    assert set(index) == {"blues.00000", "jazz.00054"}
    report = dataset.validate(audio=index)
    assert [c for c, _ in report.unreadable] == ["jazz.00054"]
    assert len(report.missing) == 928 and not report.ok
    (tmp_path / "rock").mkdir()
    sf.write(tmp_path / "rock" / "blues.00001.wav", np.zeros(22050, np.float32), 22050)
    with pytest.raises(DataError, match="in the rock folder"):
        dataset.index_audio_root(tmp_path)
    (tmp_path / "rock" / "blues.00001.wav").unlink()
    (tmp_path / "polka").mkdir()
    with pytest.raises(DataError, match="unknown genre folder 'polka'"):
        dataset.index_audio_root(tmp_path)
