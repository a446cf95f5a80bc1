"""Keyword rules: each keyword carries its evidence; genre and affect enter as specified."""

from __future__ import annotations

import numpy as np
import pytest

from midi2img.constants import GTZAN_GENRES
from midi2img.gtzan.model import GenrePrediction
from midi2img.mood.model import AffectEstimate
from midi2img.rules import apply_rules, default_rules, genre_decision

BASE = {"mode": "major", "key_confidence": 0.9, "tempo_bpm": 100.0, "pitch_median": 64.0,
        "mean_velocity": 70.0, "velocity_std": 5.0, "articulation": 0.7, "density_per_s": 4.0,
        "polyphony": 2.5, "bass_ratio": 0.1, "treble_ratio": 0.1, "dissonance": 0.2,
        "chord_change_rate_per_s": 0.5}


def _kw(features: dict, **kw) -> dict[str, object]:  # type: ignore[no-untyped-def]
    return {k.keyword: k for k in apply_rules(features, **kw)}


def test_every_rule_cites_a_source() -> None:
    book = default_rules()
    assert len(book.rules) >= 15
    assert all("[" in r.source for r in book.rules)


def test_major_vs_minor_mode() -> None:
    major = _kw(BASE)
    minor = _kw({**BASE, "mode": "minor"})
    assert "bright" in major and "bright" not in minor
    assert "deep blue shadows" in minor and "deep blue shadows" not in major
    because = major["bright"].because
    assert "mode = major" in because and "mode-major" in because and "key_confidence = 0.9" \
        in because
    # weight scales with the key confidence
    assert major["bright"].weight == pytest.approx(0.9 * 0.9)


def test_cue_rules_give_imagery_not_moods() -> None:
    fast = _kw({**BASE, "tempo_bpm": 170.0})
    assert "motion blur" in fast and "tempo_bpm = 170" in fast["motion blur"].because
    loud = _kw({**BASE, "mean_velocity": 110.0, "articulation": 0.3, "pitch_median": 80.0})
    assert {"bold", "crisp", "airy"} <= set(loud)
    soft = _kw({**BASE, "mean_velocity": 40.0, "articulation": 1.0, "pitch_median": 45.0})
    assert {"soft focus", "smooth"} <= set(soft)
    for kws in (fast, loud, soft):  # without an affect estimate there is no mood word
        assert not [k for k in kws.values() if k.kind == "mood"]


def test_sorted_heaviest_first_and_deterministic() -> None:
    a = apply_rules(BASE)
    b = apply_rules(dict(BASE))
    assert [k.keyword for k in a] == [k.keyword for k in b]
    assert all(x.weight >= y.weight for x, y in zip(a, a[1:], strict=False))


def _genre(probs: dict[str, float]) -> GenrePrediction:
    v = np.array([probs.get(g, 0.0) for g in GTZAN_GENRES])
    rest = (1 - v.sum()) / np.sum(v == 0)
    v[v == 0] = rest
    return GenrePrediction.from_probabilities(v)


def test_confident_genre_contributes_its_keywords() -> None:
    g = _genre({"jazz": 0.8})
    kws = _kw(BASE, genre=g)
    assert genre_decision(g) == "confident"
    assert "late-night jazz club" in kws and "confident" in kws["late-night jazz club"].because
    assert kws["late-night jazz club"].weight == pytest.approx(0.8)


def test_uncertain_genre_blends_top_two() -> None:
    g = _genre({"rock": 0.4, "metal": 0.35})
    kws = _kw(BASE, genre=g)
    assert genre_decision(g) == "blend"
    assert "roaring stage lights" in kws and "storm over dark mountains" in kws
    assert kws["roaring stage lights"].weight > kws["storm over dark mountains"].weight
    assert "blend of the top two" in kws["roaring stage lights"].because


def test_flat_genre_stays_silent() -> None:
    g = GenrePrediction.from_probabilities(np.full(10, 0.1))
    assert genre_decision(g) == "silent"
    assert not any(k.rule.startswith("genre") for k in apply_rules(BASE, genre=g))


@pytest.mark.parametrize(("v", "a", "quadrant", "words"), [
    (0.8, 0.7, "Q1", {"euphoric", "exhilarated"}),
    (-0.8, 0.7, "Q2", {"angry", "furious"}),
    (-0.45, -0.3, "Q3", {"melancholic", "somber"}),
    (0.3, -0.1, "Q4", {"calm", "gentle"}),
])
def test_affect_tells_one_story(v: float, a: float, quadrant: str, words: set[str]) -> None:
    aff = AffectEstimate(v, a)
    assert aff.quadrant == quadrant
    kws = {k.keyword: k for k in apply_rules(BASE, affect=aff) if k.kind == "mood"}
    assert set(kws) == words
    assert all(k.rule == f"affect-{quadrant}" for k in kws.values())
    assert f"valence {v:+.2f}" in next(iter(kws.values())).because


def test_near_the_centre_or_unsure_the_words_are_mild_or_absent() -> None:
    from dataclasses import replace

    centre = apply_rules(BASE, affect=AffectEstimate(0.1, 0.1))
    assert not [k for k in centre if k.kind == "mood"]
    strong = AffectEstimate(0.8, 0.7)
    sure = {k.keyword for k in apply_rules(BASE, affect=strong) if k.kind == "mood"}
    assert "euphoric" in sure
    if hasattr(strong, "confidence"):  # a calibrated estimate that is unsure stays mild
        unsure = replace(strong, confidence=0.6)
        words = {k.keyword for k in apply_rules(BASE, affect=unsure) if k.kind == "mood"}
        assert "euphoric" not in words and words <= {"cheerful", "lively"}


def test_cues_are_evidence_and_contradicting_imagery_is_left_out() -> None:
    sad_cues = {**BASE, "mode": "minor", "pitch_median": 45.0, "dissonance": 0.4}
    kws = _kw(sad_cues, affect=AffectEstimate(0.5, -0.4))  # the model hears it as serene
    mood = [k for k in kws.values() if k.kind == "mood"]
    assert {k.keyword for k in mood} == {"serene", "tender"}
    because = mood[0].because
    assert "against: mode = minor" in because and "pitch_median = 45" in because
    # minor-mode shadows, low-register heaviness, dissonant jags would tell another story
    assert not {"deep blue shadows", "heavy", "cavernous depths", "jagged shapes"} & set(kws)
    assert "supported by" in because or "no musical cue points this way" in because


def test_no_shipped_rule_can_contradict_the_story() -> None:
    """For every quadrant, every cue rule that may add imagery, the tag rules and every band's
    words: no two words of a prompt contradict each other (opposite signs on an axis)."""
    from midi2img.mood_story import default_moods
    from midi2img.rules import contradictions

    book, moods = default_rules(), default_moods()
    for q, (vs, as_) in {"Q1": (1, 1), "Q2": (-1, 1), "Q3": (-1, -1), "Q4": (1, -1)}.items():
        signs = {"valence": vs, "arousal": as_}
        imagery = [s.text for r in book.rules
                   if all(signs[a] == d for a, d in r.directions().items()) for s in r.keywords]
        for band in moods.bands:
            words = [*band.words[q], *imagery]
            assert not contradictions(words, rules=book), (q, band.name)


def test_near_duplicates_merge() -> None:
    from midi2img.rules import Keyword, merge_keywords

    kws = merge_keywords([Keyword("flowing", 0.6, "tempo", "motion", "tempo-moderate"),
                          Keyword("flowing lines", 0.5, "legato", "motion", "legato"),
                          Keyword("strings", 0.4, "a", "subject", "x"),
                          Keyword("string instruments", 0.7, "b", "subject", "y")])
    assert [k.keyword for k in kws] == ["string instruments", "flowing lines"]
    assert kws[1].weight == 0.6 and "tempo" in kws[1].because and "legato" in kws[1].because


def test_a_rule_on_an_unknown_feature_fails_at_load_time() -> None:
    import tomllib
    from importlib import resources

    from midi2img.errors import Midi2ImgError
    from midi2img.features import SymbolicFeatures
    from midi2img.rules import parse_rules

    data = tomllib.loads((resources.files("midi2img.keywords") / "rules.toml").read_text())
    book = parse_rules(data)  # every shipped rule names a real feature
    assert {r.feature for r in book.rules} <= SymbolicFeatures.feature_names()
    data["rule"][0] = {**data["rule"][0], "feature": "tempo_bmp"}  # a typo
    with pytest.raises(Midi2ImgError, match="rule mode-major: feature 'tempo_bmp' is not a "
                                            "feature"):
        parse_rules(data)


def test_genre_decision_uses_the_models_measured_thresholds() -> None:
    import dataclasses

    book = dataclasses.replace(default_rules(), genre_floors={}, genre_floor_basis={})
    probs = np.array([0.45, 0.3] + [0.25 / 8] * 8)
    measured = {"confident": 0.62, "blend_pair": 1.0, "blend_second": 1.0}
    silent = GenrePrediction.from_probabilities(probs, thresholds=measured)
    assert genre_decision(silent, book) == "silent" and not [
        k for k in apply_rules(BASE, genre=silent, rules=book) if k.rule.startswith("genre-")]
    sure = GenrePrediction.from_probabilities(np.array([0.7, 0.2] + [0.1 / 8] * 8),
                                              thresholds=measured)
    kws = [k for k in apply_rules(BASE, genre=sure, rules=book) if k.rule.startswith("genre-")]
    assert genre_decision(sure, book) == "confident" and kws
    assert all("measured on the genre network's out-of-fold predictions" in k.because
               for k in kws)
    # without measured thresholds, the rule table's apply (0.58 + 0.3 >= 0.6: a blend)
    assert genre_decision(GenrePrediction.from_probabilities(probs), book) == "blend"


def test_decision_thresholds_demand_the_precision() -> None:
    from midi2img.gtzan.train import decision_thresholds

    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 10, n)
    sure = rng.random(n) < 0.6
    p = np.full((n, 10), 0.02)
    for i in range(n):  # confident rows are right, the rest flat-ish and often wrong
        top = y[i] if sure[i] or rng.random() < 0.3 else (y[i] + 1) % 10
        p[i, top] = 0.8 if sure[i] else 0.35
        p[i] /= p[i].sum()
    d = decision_thresholds(p, y)
    assert d["confident_precision"] >= 0.9 and 0.35 < d["confident"] <= 0.8


def test_a_rule_weighed_by_a_null_feature_stays_silent() -> None:
    """A recording without pitched notes has key_confidence None: a rule weighed by it must
    neither crash nor fire (a custom rule file may weigh any rule by it)."""
    import tomllib
    from importlib import resources

    from midi2img.rules import parse_rules

    data = tomllib.loads((resources.files("midi2img.keywords") / "rules.toml").read_text())
    data["rule"] = [{"id": "t", "feature": "tempo_bpm", "min": 60, "scale_by": "key_confidence",
                     "source": "test", "keywords": [{"text": "steady", "weight": 1.0,
                                                     "kind": "light"}]}]
    book = parse_rules(data)
    assert [k.keyword for k in apply_rules({"tempo_bpm": 100.0, "key_confidence": 0.5},
                                           rules=book)] == ["steady"]
    assert apply_rules({"tempo_bpm": 100.0, "key_confidence": None}, rules=book) == []


def _heard(**probs: float) -> dict[str, dict[str, float]]:
    """Tagger output with every tag silent except ``mtt_<tag>`` / ``msd_<tag>`` given."""
    from midi2img.tag_rules import known_tags

    tags = {t: dict.fromkeys(names, 0.0) for t, names in known_tags().items()}
    for key, p in probs.items():
        tagger, _, tag = key.partition("_")
        tags[tagger][tag.replace("_", " ")] = p
    return tags


def test_heard_sources_counts_what_the_taggers_name() -> None:
    from midi2img.rules import heard_sources

    assert heard_sources(set(), 40) == 0
    assert heard_sources({"tag-instrumental"}, 40) == 0
    assert heard_sources({"tag-female-singer"}, 40) == 1
    assert heard_sources({"tag-choir"}, 40) == 2  # an ensemble itself
    assert heard_sources({"tag-female-singer", "tag-acoustic-guitar"}, 40) == 2
    # a drum kit is unpitched: the transcribed notes come from another, unnamed instrument
    assert heard_sources({"tag-drums"}, 40) == 2
    assert heard_sources({"tag-drums", "tag-instrumental"}, 40) == 2
    assert heard_sources({"tag-drums"}, 0) == 1
    assert heard_sources({"tag-drums", "tag-electric-guitar"}, 40) == 2


def test_a_texture_rule_the_taggers_contradict_is_left_out() -> None:
    """Thin, sparse transcription: 'solitary figure' and 'minimalist' from MIDI, or from a
    recording where the taggers name nothing; neither when they hear a drum kit, whose hits the
    transcription lacks, beside the transcribed notes."""
    thin = {**BASE, "polyphony": 1.2, "density_per_s": 1.5, "note_count": 45}
    calm = AffectEstimate(0.4, -0.5, 0.8)  # a calm story: the sparse cue points its way
    assert {"solitary figure", "minimalist"} <= set(_kw(thin, affect=calm))
    quiet = _kw(thin, affect=calm, tags=_heard())
    assert {"solitary figure", "minimalist"} <= set(quiet)
    drums = _kw(thin, affect=calm, tags=_heard(mtt_drums=0.5))
    assert "drum kit" in drums
    assert not {"solitary figure", "minimalist", "vast empty space"} & set(drums)
    # the sparse cue is gone from the mood words' evidence too
    assert "density-sparse" in quiet["serene"].because
    assert "density-sparse" not in drums["serene"].because
    # a singer alone may be one line; a singer with a guitar is not
    alone = _kw(thin, affect=calm, tags=_heard(msd_female_vocalists=0.5))
    assert {"female singer", "solitary figure", "minimalist"} <= set(alone)
    duo = _kw(thin, affect=calm, tags=_heard(msd_female_vocalists=0.5, mtt_guitar=0.5,
                                              mtt_rock=0.2))
    assert "electric guitar" in duo and "solitary figure" not in duo and "minimalist" in duo


def test_an_unknown_unless_heard_fails_at_load_time() -> None:
    import tomllib
    from importlib import resources

    from midi2img.errors import Midi2ImgError
    from midi2img.rules import parse_rules

    data = tomllib.loads((resources.files("midi2img.keywords") / "rules.toml").read_text())
    assert {r.unless_heard for r in parse_rules(data).rules} == {None, "drums", "ensemble"}
    data["rule"][0] = {**data["rule"][0], "unless_heard": "drum"}
    with pytest.raises(Midi2ImgError, match=r"unless_heard 'drum' is not an unless_heard "
                                            r"condition \(known: drums, ensemble\)"):
        parse_rules(data)


def _floored(**floors: float):  # type: ignore[no-untyped-def]
    """The shipped rules with the given genre floors (every other genre at 0)."""
    import dataclasses

    book = default_rules()
    f = {g: floors.get(g, 0.0) for g in GTZAN_GENRES}
    return dataclasses.replace(book, genre_floors=f,
                               genre_floor_basis={g: f"measured {g}" for g in GTZAN_GENRES})


def test_a_genre_under_its_real_recording_floor_gives_no_imagery_and_says_why() -> None:
    from midi2img.rules import genre_silenced_by_floor

    measured = {"confident": 0.62, "blend_pair": 0.7, "blend_second": 0.3}
    book = _floored(blues=float("inf"), rock=0.8)
    blues = GenrePrediction.from_probabilities(np.array([0.9] + [0.1 / 9] * 9),
                                               thresholds=measured)
    assert genre_decision(blues, book) == "silent"
    assert not [k for k in apply_rules(BASE, genre=blues, rules=book)
                if k.rule.startswith("genre-")]
    why = genre_silenced_by_floor(blues, book)
    assert why is not None and why.startswith("blues imagery is never given: on emotion4q's ")
    assert "it matched AllMusic's genres measured blues" in why

    def rock(p: float) -> GenrePrediction:
        v = np.full(10, (1 - p) / 9)
        v[GTZAN_GENRES.index("rock")] = p
        return GenrePrediction.from_probabilities(v, thresholds=measured)

    assert genre_decision(rock(0.7), book) == "silent"  # over 0.62, under rock's floor 0.8
    assert "rock imagery needs p >= 0.8: on emotion4q" in genre_silenced_by_floor(rock(0.7), book)
    kws = {k.keyword: k for k in apply_rules(BASE, genre=rock(0.85), rules=book)}
    assert genre_decision(rock(0.85), book) == "confident" and "rock music" in kws
    assert "rock imagery needs p >= 0.8" in kws["rock music"].because
    assert "measured rock" in kws["rock music"].because
    assert genre_silenced_by_floor(rock(0.85), book) is None
    # a genre that never gives imagery enters no blend; two others still blend
    v = np.full(10, 0.25 / 8)
    v[GTZAN_GENRES.index("blues")], v[GTZAN_GENRES.index("jazz")] = 0.45, 0.3
    pair = GenrePrediction.from_probabilities(v, thresholds=measured)
    assert genre_decision(pair, _floored()) == "blend"
    assert genre_decision(pair, book) == "silent"
    assert "blues imagery is never given" in genre_silenced_by_floor(pair, book)
    # silent for want of confidence is no floor's doing
    flat = GenrePrediction.from_probabilities(np.full(10, 0.1), thresholds=measured)
    assert genre_silenced_by_floor(flat, book) is None


def test_the_shipped_genre_floors_load_and_bad_ones_fail() -> None:
    import tomllib
    from importlib import resources

    from midi2img.errors import Midi2ImgError
    from midi2img.rules import parse_genre_floors

    data = tomllib.loads((resources.files("midi2img.keywords") / "genre_floors.toml").read_text())
    floors, basis = parse_genre_floors(data)
    assert set(floors) == set(basis) == set(GTZAN_GENRES)
    assert default_rules().genre_floors == floors
    assert all("held out by artist" in b for b in basis.values())
    bad = {**data, "floor": {**data["floor"], "rock": 1.5}}
    with pytest.raises(Midi2ImgError, match=r"floor: rock 1.5 is out of range \(expected a "
                                            r"number in \[0, 1\] or inf\)"):
        parse_genre_floors(bad)
    missing = {**data, "floor": {g: v for g, v in data["floor"].items() if g != "pop"}}
    with pytest.raises(Midi2ImgError, match="floor: missing key 'pop'"):
        parse_genre_floors(missing)


def test_a_keyword_rule_is_one_entry_in_the_rule_table() -> None:
    """The README's "where to touch" row: a ``[[rule]]`` appended to the shipped rules.toml
    loads with the others and fires on the features of a real analysis record, with its value
    and source in ``because``."""
    import tomllib
    from importlib import resources

    from midi2img.features import extract
    from midi2img.notes import Notes
    from midi2img.rules import parse_rules

    text = resources.files("midi2img.keywords").joinpath("rules.toml").read_text(encoding="utf-8")
    text += ('\n[[rule]]\nid = "dense-chords"\nfeature = "chord_change_rate_per_s"\nmin = 0.5\n'
             'source = "a rule added in a test"\n'
             'keywords = [{ text = "restless patterns", weight = 0.7, kind = "texture" }]\n')
    book = parse_rules(tomllib.loads(text))
    assert book.rules[-1].id == "dense-chords"
    onsets = np.arange(16) * 0.5
    pitches = np.array([[60, 64, 67], [57, 60, 64], [53, 57, 60], [55, 59, 62]] * 4)
    notes = Notes.from_arrays(np.repeat(onsets, 3), np.repeat(onsets + 0.45, 3),
                              pitches.ravel(), np.full(48, 90))
    flat = extract(notes).flat()
    assert flat["chord_change_rate_per_s"] >= 0.5
    hit = next(k for k in apply_rules(flat, rules=book) if k.keyword == "restless patterns")
    assert hit.rule == "dense-chords" and "a rule added in a test" in hit.because
