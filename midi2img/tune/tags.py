"""``midi2img tune tags``: measure the thresholds of the tag keyword rules (``keywords/tags.toml``).

Every tag of every rule gets its threshold from a measurement on labelled audio: a grid search
over all of the rule's tags at once for the best **F0.5** (precision weighs twice recall: an
honest absence beats a wrong name), scored on held-out groups (no source piece, or no artist,
on both sides), then chosen on all the data. A rule ships only when its held-out precision
reaches :data:`MIN_PRECISION`; the report lists the forms that did not.

* **Instruments** (``renders``): excerpts of 18 real pieces (VGMIDI, EMOPIA) played by one
  General MIDI instrument at a time or arranged for a few (melody, accompaniment, bass, a GM drum
  pattern), rendered with fluidsynth + FluidR3 GM and tagged as the analysis does
  (:mod:`midi2img.tune.corpus`); leave-one-source-piece-out. Renders are cleaner than real mixes, so
  a rule must also stay silent on real clips where its instrument is implausible
  (:data:`REAL_GUARD`: emotion4q clips of genres that seldom feature it): only thresholds that
  fire on at most :data:`GUARD_RATE` of them are candidates, in every fold as in the final
  choice.
* **Voice**: MSD tags on the published MSD taggrams of the fault-filtered GTZAN clips with the
  lead voice of each artist or title (``bench/data/gtzan_artists.csv``), leave-one-artist-out,
  then checked on a corpus never used for tuning (emotion4q clips of artists with a known voice,
  ``bench/data/emotion4q_artists.csv``). MTT tags (which GTZAN has no taggrams for) on those
  emotion4q clips plus the renders (no voice: negatives), leave-one-artist-or-piece-out.
* **Era**: the GTZAN clips with the recording decade from the same table; the era rules are
  tuned *jointly* as the group decision they make (only the era furthest over its threshold is
  named), leave-one-artist-out.

The five shared recordings are never used to choose anything: they are the test
(``tests/test_tag_rules.py``); the report shows what they get.

Writes ``keywords/tag_thresholds.toml`` (thresholds and their figures, read by
``midi2img.tag_rules``) and ``bench/tag_keywords.md`` (the report). Renders and real-clip tags
are cached in ``<cache>/tune``: a run with the cache takes under a minute, a fresh one about 25
minutes on two busy cores (1188 renders, 799 real clips).
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from midi2img.errors import Midi2ImgError
from midi2img.tune import Log, quiet
from midi2img.tune import corpus as tc

#: F-beta of the objective: beta = 0.5 weighs precision twice as much as recall.
BETA = 0.5
#: Candidate thresholds for every tag.
GRID = np.round(np.concatenate([np.arange(0.01, 0.10, 0.01), np.arange(0.10, 0.50, 0.02),
                                np.arange(0.50, 0.951, 0.05)]), 3)
#: Largest share of "implausible" real clips a render-measured rule may fire on.
GUARD_RATE = 0.02
#: A rule ships only when its held-out precision reaches this: at most 3 names in 10 wrong on
#: renders, whose even mix of 50 GM instruments makes confusers (brass, organ, accordion: no tag
#: of their own) far more common than in real music.
MIN_PRECISION = 0.7

#: Instrument rules: rule id -> (instruments that make a render positive, instruments that make
#: it neither positive nor negative). Other renders are negatives. "string quartet" is the
#: arrangement of that name (violin, viola, cello).
_BOWED_SECTIONS = frozenset({"string ensemble", "slow strings", "tremolo strings",
                             "pizzicato strings", "string quartet"})
RENDER_LABELS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "piano": (frozenset({"piano", "bright piano", "electric piano"}), frozenset()),
    "grand-piano": (frozenset({"piano", "bright piano"}), frozenset({"electric piano"})),
    "harpsichord": (frozenset({"harpsichord"}), frozenset()),
    "guitar": (frozenset({"nylon guitar", "steel guitar", "clean electric guitar",
                          "overdriven guitar", "distortion guitar", "jazz guitar"}),
               frozenset({"banjo"})),
    "acoustic-guitar": (frozenset({"nylon guitar", "steel guitar"}),
                        frozenset({"jazz guitar", "banjo"})),
    "electric-guitar": (frozenset({"clean electric guitar", "overdriven guitar",
                                   "distortion guitar"}), frozenset({"jazz guitar"})),
    # a violin in a section or quartet is there, but naming the section is the better answer
    "violin": (frozenset({"violin"}), _BOWED_SECTIONS | {"viola"}),
    "cello": (frozenset({"cello"}), _BOWED_SECTIONS | {"contrabass", "viola"}),
    # "string instruments": any bowed string, soloist or section
    "strings": (_BOWED_SECTIONS | {"violin", "viola", "cello", "contrabass"},
                frozenset({"synth strings"})),
    "string-section": (_BOWED_SECTIONS - {"pizzicato strings"},
                       frozenset({"pizzicato strings", "synth strings", "viola", "contrabass"})),
    "harp": (frozenset({"harp"}), frozenset()),
    "flute": (frozenset({"flute", "piccolo"}), frozenset({"recorder", "pan flute"})),
    "choir": (frozenset({"choir"}), frozenset({"voice oohs"})),
    "drums": (frozenset({"drums"}), frozenset()),
    "synth": (frozenset({"square lead", "saw lead", "new age pad", "polysynth", "synth brass"}),
              frozenset({"synth strings"})),
    "sitar": (frozenset({"sitar"}), frozenset()),
}
#: Voice rules: rule id -> (voice labels that are positive, labels that are neither).
VOICE_LABELS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "female-singer": (frozenset({"female"}), frozenset({"mixed"})),
    "male-singer": (frozenset({"male"}), frozenset({"mixed"})),
    "instrumental": (frozenset({"instrumental"}), frozenset()),
}
#: Era rules: rule id -> the decade that is positive (other labelled decades are negatives).
ERA_LABELS: dict[str, str] = {"era-60s": "60s", "era-70s": "70s", "era-80s": "80s",
                              "era-90s": "90s", "era-00s": "00s"}
#: Real clips where an instrument is implausible (emotion4q AllMusic genres): a clip counts when
#: every one of its genres is in the list. Pop/rock, rap, electronic, R&B and reggae records
#: seldom feature these orchestral or regional instruments as a part one hears.
_POPULAR = frozenset({"Pop/Rock", "Rap", "Electronic", "R&B", "Reggae"})
REAL_GUARD: dict[str, frozenset[str]] = {
    "harpsichord": _POPULAR | {"Country", "Blues", "Latin", "Jazz"},
    "violin": _POPULAR | {"Blues", "Jazz"},
    "cello": _POPULAR | {"Blues", "Jazz", "Country"},
    "strings": frozenset({"Rap", "Electronic", "Reggae", "Blues"}),
    "string-section": frozenset({"Rap", "Electronic", "Reggae", "Blues"}),
    "harp": _POPULAR | {"Country", "Blues", "Jazz"},
    "flute": _POPULAR | {"Country", "Blues"},
    "choir": _POPULAR | {"Country", "Blues", "Jazz", "Latin"},
    "sitar": _POPULAR | {"Country", "Blues", "Jazz", "Latin", "Vocal"},
}
#: "grand piano" names the instrument a picture would show: a leading piano. On band records
#: (pop/rock, rap, electronic, R&B, reggae, country, blues, latin) a piano is at most one part of
#: many, so the rule must stay as silent there as the orchestral rules (the render-trained
#: detector alone fires on 5% of real clips, a real orchestra's celesta and a folk guitar among
#: them: the renders hold no such confusers).
REAL_GUARD["grand-piano"] = _POPULAR | {"Country", "Blues", "Latin"}
#: Detectors for instruments that no single tag separates (MTT hears FluidR3's acoustic grand as
#: much guitar as piano): a logistic model over the log-odds of all 100 MSD and MTT tags, read by
#: the rule forms measured for the report as the pseudo-tag ``detector:<name>``. Not shipped: on
#: renders it names the piano well, but it fires on 5% of all real emotion4q clips (orchestras
#: and folk guitar songs among them) and no labelled real piano corpus exists here to check it.
#: name -> the render label it is trained on.
DETECTORS: dict[str, str] = {"piano": "grand-piano"}
#: Its L2 strength (scikit-learn's C), fixed beforehand (a moderate value), not tuned.
DETECTOR_C = 0.3
#: Probabilities are clipped to [EPS, 1 - EPS] before the log-odds.
DETECTOR_EPS = 1e-4
#: Rule forms measured for the report (not shipped unless tags.toml has them): name ->
#: (rule as in tags.toml, the render labels it is scored against).
ALTERNATIVES: dict[str, tuple[dict[str, Any], str]] = {
    "guitar: MTT guitar alone": ({"when": ["mtt:guitar"]}, "guitar"),
    "guitar: MTT guitar unless harp, piano": (
        {"when": ["mtt:guitar"], "unless": ["mtt:harp", "mtt:piano"]}, "guitar"),
    "guitar: MTT guitar + MSD guitar": ({"when": ["mtt:guitar", "msd:guitar"]}, "guitar"),
    "acoustic: guitar + MSD acoustic": (
        {"when": ["mtt:guitar", "msd:acoustic"]}, "acoustic-guitar"),
    "acoustic: guitar + MSD acoustic unless harp": (
        {"when": ["mtt:guitar", "msd:acoustic"], "unless": ["mtt:harp"]}, "acoustic-guitar"),
    "guitar: MTT guitar unless piano, solo": (
        {"when": ["mtt:guitar"], "unless": ["mtt:piano", "mtt:solo"]}, "guitar"),
    "acoustic: guitar + MSD folk": ({"when": ["mtt:guitar", "msd:folk"]}, "acoustic-guitar"),
    "electric: guitar + MSD rock": ({"when": ["mtt:guitar", "msd:rock"]}, "electric-guitar"),
    "grand piano: MTT piano (electric piano neither)": ({"when": ["mtt:piano"]}, "grand-piano"),
    "grand piano: piano detector": ({"when": ["detector:piano"]}, "grand-piano"),
    "grand piano: piano detector + MTT piano": (
        {"when": ["detector:piano", "mtt:piano"]}, "grand-piano"),
    "piano: MTT piano (electric piano too)": ({"when": ["mtt:piano"]}, "piano"),
    "piano: MTT piano unless harpsichord": (
        {"when": ["mtt:piano"], "unless": ["mtt:harpsichord"]}, "piano"),
    "piano: MTT piano unless guitar": ({"when": ["mtt:piano"], "unless": ["mtt:guitar"]},
                                       "piano"),
    "harp: MTT harp": ({"when": ["mtt:harp"]}, "harp"),
    "harp: MTT harp unless piano": ({"when": ["mtt:harp"], "unless": ["mtt:piano"]}, "harp"),
    "harpsichord: MTT harpsichord": ({"when": ["mtt:harpsichord"]}, "harpsichord"),
    "violin: MTT violin alone": ({"when": ["mtt:violin"]}, "violin"),
    "violin: MTT violin unless cello, solo": (
        {"when": ["mtt:violin"], "unless": ["mtt:cello", "mtt:solo"]}, "violin"),
    "cello: MTT cello": ({"when": ["mtt:cello"]}, "cello"),
    "cello: MTT cello + classical": ({"when": ["mtt:cello", "mtt:classical"]}, "cello"),
    "cello: MTT cello + slow": ({"when": ["mtt:cello", "mtt:slow"]}, "cello"),
    "string section: MTT strings": ({"when": ["mtt:strings"]}, "string-section"),
    "string section: MTT strings unless violin": (
        {"when": ["mtt:strings"], "unless": ["mtt:violin"]}, "string-section"),
    "string section: MTT strings unless solo": (
        {"when": ["mtt:strings"], "unless": ["mtt:solo"]}, "string-section"),
    "string section: MTT strings + classical unless solo": (
        {"when": ["mtt:strings", "mtt:classical"], "unless": ["mtt:solo"]}, "string-section"),
    "string instruments: MTT strings + classical": (
        {"when": ["mtt:strings", "mtt:classical"]}, "strings"),
    "string instruments: MTT violin": ({"when": ["mtt:violin"]}, "strings"),
    "choir: MTT choral": ({"when": ["mtt:choral"]}, "choir"),
    "flute: MTT flute unless choir": ({"when": ["mtt:flute"], "unless": ["mtt:choir"]}, "flute"),
}
#: Era rules measured for the report whether or not tags.toml ships them (tuned jointly).
ERA_CANDIDATES: list[dict[str, Any]] = [
    {"id": "era-60s", "keyword": "1960s vintage photograph", "when": ["msd:60s"]},
    {"id": "era-70s", "keyword": "1970s film photograph", "when": ["msd:70s"]},
    {"id": "era-80s", "keyword": "1980s neon", "when": ["msd:80s"]},
]


@dataclass(frozen=True)
class Dataset:
    """Labelled pooled probabilities for one rule: rows, labels and CV groups."""

    name: str
    probs: dict[str, np.ndarray]  # tagger -> (n, 50)
    positive: np.ndarray  # bool (n,)
    groups: np.ndarray  # str (n,)
    description: str


@dataclass(frozen=True)
class Tuned:
    """A rule's measured thresholds and figures."""

    rule: str
    thresholds: dict[str, float]
    dataset: str
    cv_precision: float
    cv_recall: float
    cv_f: float
    tp: int
    fp: int
    fn: int
    positives: int
    negatives: int
    groups: int
    render_optimum: dict[str, float] | None = None
    guard: str = ""
    check: str = ""
    notes: tuple[str, ...] = ()
    group_precision: float | None = None

    def basis(self) -> str:
        """One line for ``because``: where the thresholds come from and how well they did."""
        what = {
            "renders": "GM renders of 18 pieces, leave-one-piece-out" +
                       (", kept silent on real music where implausible"
                        if self.render_optimum is not None else ""),
            "gtzan-voice": "GTZAN songs by lead voice, leave-one-artist-out",
            "e4-voice": "emotion4q songs by lead voice and GM renders, leave-one-artist-out",
            "gtzan-era": "GTZAN songs by decade, era group tuned jointly, leave-one-artist-out",
        }[self.dataset]
        out = (f"F0.5-best on {what}: held-out precision {self.cv_precision:.2f}, recall "
               f"{self.cv_recall:.2f}")
        return out + (f"; {self.check}" if self.check else "")


# ---- measurement -----------------------------------------------------------------------------


def _tag_names(tagger: str) -> tuple[str, ...]:
    from midi2img.tag_rules import known_tags

    if tagger == "detector":
        return tuple(DETECTORS)
    return known_tags()[tagger]


def _log_odds(probs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The log-odds of every MSD then MTT tag, one row per clip."""
    x = np.clip(np.hstack([probs["msd"], probs["mtt"]]), DETECTOR_EPS, 1 - DETECTOR_EPS)
    return np.log(x / (1 - x))


def fit_detector(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Logistic regression (balanced classes, C = DETECTOR_C) on standardised log-odds, returned
    as ``(bias, weights)`` on the raw log-odds (the standardisation folded in)."""
    from sklearn.linear_model import LogisticRegression

    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    m = LogisticRegression(C=DETECTOR_C, max_iter=5000, class_weight="balanced")
    m.fit((x - mean) / std, y)
    w = m.coef_[0] / std
    return float(m.intercept_[0] - w @ mean), w


def detector_probability(bias: float, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The detector's probability for log-odds rows ``x``."""
    return 1.0 / (1.0 + np.exp(-(x @ w + bias)))


def add_detectors(corp: Corpora) -> dict[str, dict[str, Any]]:
    """Train each detector and add its column ``detector:<name>`` to the corpora: out-of-fold
    on the renders (the model that scores a piece never saw it, so the thresholds measured on
    this column are held out honestly), the final model (all renders) on the real clips."""
    xr, xreal = _log_odds(corp.rprobs), _log_odds(corp.real_probs)
    sources = np.array([p["source"] for p in corp.plan])
    oof = np.zeros((len(corp.plan), len(DETECTORS)))
    real = np.zeros((len(xreal), len(DETECTORS)))
    models = {}
    for k, (name, label) in enumerate(DETECTORS.items()):
        pos_set, dc_set = RENDER_LABELS[label]
        present = [set(p["instruments"]) for p in corp.plan]
        y = np.array([bool(s & pos_set) for s in present])
        usable = np.array([bool(s & pos_set) or not (s & dc_set) for s in present])
        for src in np.unique(sources):
            train = usable & (sources != src)
            bias, w = fit_detector(xr[train], y[train])
            oof[sources == src, k] = detector_probability(bias, w, xr[sources == src])
        bias, w = fit_detector(xr[usable], y[usable])
        real[:, k] = detector_probability(bias, w, xreal)
        names = [f"msd:{t}" for t in _tag_names("msd")] + [f"mtt:{t}" for t in _tag_names("mtt")]
        threshold = 0.9  # the detector's measured operating point is reported with the forms
        e4 = np.array([it["corpus"] == "emotion4q" for it in corp.real_items])
        models[name] = {"real_rate": real[e4, k] >= threshold,
                        "bias": bias, "weights": dict(zip(names, map(float, w), strict=True)),
                        "basis": (f"logistic regression (C = {DETECTOR_C}, balanced classes) "
                                  f"over the log-odds of the 100 MSD and MTT tags (probabilities "
                                  f"clipped to [{DETECTOR_EPS:g}, 1 - {DETECTOR_EPS:g}]), "
                                  f"trained on {int(usable.sum())} FluidR3 renders "
                                  f"({int(y[usable].sum())} with {label.replace('-', ' ')})")}
    corp.rprobs = {**corp.rprobs, "detector": oof}
    corp.real_probs = {**corp.real_probs, "detector": real}
    return models


def _column(probs: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    tagger, _, tag = name.partition(":")
    return probs[tagger][:, _tag_names(tagger).index(tag)]


def fbeta(tp: Any, fp: Any, fn: Any, beta: float = BETA) -> Any:
    """F-beta from counts (0 where nothing was predicted or nothing is positive)."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    b2 = beta * beta
    den = (1 + b2) * tp + b2 * fn + fp
    return np.where(den > 0, (1 + b2) * tp / np.maximum(den, 1e-12), 0.0)


def decisions(cols_when: Sequence[np.ndarray], cols_unless: Sequence[np.ndarray]
              ) -> tuple[np.ndarray, np.ndarray]:
    """Every threshold combination's decisions: ``(combos, n)`` bool and ``(combos, k)``
    thresholds (when tags first, then unless tags), over :data:`GRID`."""
    k = len(cols_when) + len(cols_unless)
    combos = np.array(list(itertools.product(GRID, repeat=k)), dtype=np.float64)
    dec = np.ones((len(combos), cols_when[0].size), dtype=bool)
    for j, col in enumerate(list(cols_when) + list(cols_unless)):
        above = col[None, :] >= combos[:, j:j + 1]
        dec &= above if j < len(cols_when) else ~above
    return dec, combos


def _pick(f: np.ndarray, combos: np.ndarray, n_when: int,
          allowed: np.ndarray | None = None) -> int:
    """Index of the best allowed combination; ties go to the strictest (highest ``when``
    thresholds, lowest ``unless`` thresholds)."""
    f = np.where(allowed, f, -1.0) if allowed is not None else f
    best = np.flatnonzero(f >= f.max() - 1e-9)
    strict = combos[best, :n_when].sum(axis=1) - combos[best, n_when:].sum(axis=1)
    return int(best[np.argmax(strict)])


def _grouped_cv(tp_g: np.ndarray, fp_g: np.ndarray, npos_g: np.ndarray, combos: np.ndarray,
                n_when: int, allowed: np.ndarray | None) -> tuple[int, int, int, list[int]]:
    """Leave-one-group-out: per group, the best combination on the others, scored on it."""
    tp = fp = fn = 0
    chosen = []
    for g in range(tp_g.shape[1]):
        tr_tp = tp_g.sum(axis=1) - tp_g[:, g]
        tr_fp = fp_g.sum(axis=1) - fp_g[:, g]
        tr_fn = (npos_g.sum() - npos_g[g]) - tr_tp
        c = _pick(fbeta(tr_tp, tr_fp, tr_fn), combos, n_when, allowed)
        chosen.append(c)
        tp += int(tp_g[c, g])
        fp += int(fp_g[c, g])
        fn += int(npos_g[g] - tp_g[c, g])
    return tp, fp, fn, chosen


def tune(rule: Mapping[str, Any], data: Dataset,
         guard: Mapping[str, np.ndarray] | None = None) -> Tuned:
    """Grouped cross-validation of a rule's thresholds on ``data``, then the final thresholds
    on all of it.

    Args:
        rule: The rule (``id``, ``when``, ``unless``).
        data: Labelled pooled probabilities with their groups.
        guard: Pooled probabilities of real clips where the rule should stay silent: only
            thresholds that fire on at most :data:`GUARD_RATE` of them may be chosen (in every
            fold as in the final choice, so the held-out figures include the guard).
    """
    when, unless = list(rule["when"]), list(rule.get("unless", []))
    names = when + unless
    dec, combos = decisions([_column(data.probs, n) for n in when],
                            [_column(data.probs, n) for n in unless])
    allowed = rates = None
    if guard is not None:
        gdec, _ = decisions([_column(guard, n) for n in when],
                            [_column(guard, n) for n in unless])
        rates = gdec.mean(axis=1)
        allowed = rates <= GUARD_RATE
    pos = data.positive
    groups = np.unique(data.groups)
    onehot = (data.groups[:, None] == groups[None, :]).astype(np.float32)
    d = dec.astype(np.float32)
    tp_g = d @ (onehot * pos[:, None])  # (combos, groups)
    fp_g = d @ (onehot * ~pos[:, None])
    npos_g = (onehot * pos[:, None]).sum(axis=0)
    tp, fp, fn, _ = _grouped_cv(tp_g, fp_g, npos_g, combos, len(when), allowed)
    all_tp, all_fp = tp_g.sum(axis=1), fp_g.sum(axis=1)
    f_all = fbeta(all_tp, all_fp, npos_g.sum() - all_tp)
    c = _pick(f_all, combos, len(when), allowed)
    tuned = Tuned(str(rule.get("id", "")),
                  {n: float(v) for n, v in zip(names, combos[c], strict=True)}, data.name,
                  tp / max(tp + fp, 1), tp / max(tp + fn, 1), float(fbeta(tp, fp, fn)),
                  tp, fp, fn, int(pos.sum()), int((~pos).sum()), len(groups))
    if rates is not None:
        c0 = _pick(f_all, combos, len(when))
        optimum = {n: float(v) for n, v in zip(names, combos[c0], strict=True)}
        tuned = dataclasses.replace(
            tuned, render_optimum=optimum,
            guard=(f"fires on {rates[c]:.1%} of implausible real clips" if c0 == c else
                   f"render optimum {_fmt_thr(optimum)} fired on "
                   f"{rates[c0]:.1%} of implausible real clips; chosen {rates[c]:.1%}"))
    return tuned


def tune_group(rules: Sequence[Mapping[str, Any]], probs: Mapping[str, np.ndarray],
               labels: np.ndarray, targets: Sequence[str], groups: np.ndarray,
               name: str) -> dict[str, Tuned]:
    """Tune single-tag rules of one group jointly, as the decision they make together: a clip
    gets the rule furthest over its threshold (largest probability / threshold), or none.

    Args:
        rules: The group's rules (one ``when`` tag each, no ``unless``).
        probs: Pooled probabilities of the labelled clips.
        labels: Each clip's label (e.g. its decade).
        targets: The label each rule should name.
        groups: CV groups (artists).
        name: Data set name for the figures.

    Returns:
        Each rule's thresholds with the group decision's held-out figures for that rule.
    """
    if any(len(r["when"]) != 1 or r.get("unless") for r in rules):
        raise Midi2ImgError("group tuning takes rules with one `when` tag and no `unless`")
    cols = np.stack([_column(probs, r["when"][0]) for r in rules], axis=1)  # (n, k)
    combos = np.array(list(itertools.product(GRID, repeat=len(rules))), dtype=np.float64)
    target = np.array([list(targets).index(lab) if lab in targets else -1 for lab in labels])
    ugroups = np.unique(groups)
    onehot = (groups[:, None] == ugroups[None, :]).astype(np.float32)
    k = len(rules)
    # per combination and group: right (named the label) and wrong (named something else)
    right_k = np.zeros((k, len(combos), len(ugroups)), np.float32)
    wrong_k = np.zeros_like(right_k)
    for s in range(0, len(combos), 4096):
        ratio = cols[None, :, :] / combos[s:s + 4096, None, :]  # (c, n, k)
        ratio = np.where(ratio >= 1.0, ratio, 0.0)
        pick = np.where(ratio.max(axis=2) > 0, ratio.argmax(axis=2), -1)  # (c, n)
        for j in range(k):
            named = pick == j
            right_k[j, s:s + 4096] = (named & (target == j)).astype(np.float32) @ onehot
            wrong_k[j, s:s + 4096] = (named & (target != j)).astype(np.float32) @ onehot
    npos_k = np.stack([((target == j).astype(np.float32) @ onehot) for j in range(k)])
    tp_g, fp_g, npos_g = right_k.sum(axis=0), wrong_k.sum(axis=0), npos_k.sum(axis=0)
    tp, fp, fn, chosen = _grouped_cv(tp_g, fp_g, npos_g, combos, k, None)
    f_all = fbeta(tp_g.sum(axis=1), fp_g.sum(axis=1), npos_g.sum() - tp_g.sum(axis=1))
    c = _pick(f_all, combos, k)
    out = {}
    for j, rule in enumerate(rules):
        # this rule's held-out figures inside the group decision
        tpj = sum(int(right_k[j, cg, g]) for g, cg in enumerate(chosen))
        fpj = sum(int(wrong_k[j, cg, g]) for g, cg in enumerate(chosen))
        fnj = int(npos_k[j].sum()) - tpj
        group_precision = tp / max(tp + fp, 1)
        out[rule["id"]] = Tuned(
            rule["id"], {rule["when"][0]: float(combos[c, j])}, name,
            tpj / max(tpj + fpj, 1), tpj / max(tpj + fnj, 1), float(fbeta(tpj, fpj, fnj)),
            tpj, fpj, fnj, int(npos_k[j].sum()), int(len(labels) - npos_k[j].sum()),
            len(ugroups), group_precision=group_precision,
            notes=(f"group decision held out: precision {group_precision:.2f}, "
                   f"recall {tp / max(tp + fn, 1):.2f} over {len(rules)} rules",))
    return out


def _decide(probs: Mapping[str, np.ndarray], thr: Mapping[str, float], when: Sequence[str],
            unless: Sequence[str]) -> np.ndarray:
    n = next(iter(probs.values())).shape[0]
    out = np.ones(n, dtype=bool)
    for name in when:
        out &= _column(probs, name) >= thr[name]
    for name in unless:
        out &= _column(probs, name) < thr[name]
    return out


def _fmt_thr(thr: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in thr.items())


# ---- corpora and data sets -------------------------------------------------------------------


class Corpora:
    """Every corpus, tagged (from the cache when it is there) and labelled."""

    def __init__(self, data: Path, work: Path, labels: Path, *, log: Log = quiet) -> None:
        log("renders ...")
        self.plan, self.rprobs = tc.tag_renders(data, work, log=log)
        log("real clips ...")
        self.real_items, self.real_probs = tc.tag_real(data, work, log=log)
        self.g_items, g_msd = tc.gtzan_taggrams(data)
        self.g_probs = {"msd": g_msd}
        self.g_groups = np.array([it["artist"] or f"?{it['clip']}" for it in self.g_items])
        rows = tc.read_labels_csv(labels / "gtzan_artists.csv")
        by_artist = {r["artist"]: r for r in rows if not r["title"]}
        by_title = {(r["artist"], r["title"]): r for r in rows if r["title"]}
        found = [by_title.get((it["artist"], it["title"])) or by_artist.get(it["artist"])
                 for it in self.g_items]
        self.g_voice = np.array([r["voice"] if r else "" for r in found])
        self.g_decade = np.array([r["decade"] if r else "" for r in found])
        self.e4 = np.array([it["corpus"] == "emotion4q" for it in self.real_items])
        self.e4_genres = [frozenset(g.strip() for g in it["genres"].split(";") if g.strip())
                          for it in self.real_items]
        voice = tc.emotion4q_voices(labels)
        self.e4_voice = np.array([voice.get(it["artist"], "") if e else ""
                                  for it, e in zip(self.real_items, self.e4, strict=True)])

    def renders(self, label: str) -> Dataset:
        """The renders labelled for an instrument (don't-care renders dropped)."""
        pos_set, dc_set = RENDER_LABELS[label]
        pos, keep = [], []
        for item in self.plan:
            present = set(item["instruments"])
            if item["render"] == "string quartet":
                present.add("string quartet")
            is_pos = bool(present & pos_set)
            keep.append(is_pos or not (present & dc_set))
            pos.append(is_pos)
        k, p = np.array(keep), np.array(pos)
        return Dataset("renders", {t: v[k] for t, v in self.rprobs.items()}, p[k],
                       np.array([x["source"] for x in self.plan])[k],
                       f"{int(p[k].sum())} positive / {int((~p[k]).sum())} negative renders")

    def guard(self, rule_id: str) -> dict[str, np.ndarray] | None:
        """Real clips where the instrument of ``rule_id`` is implausible, if it has a guard."""
        if rule_id not in REAL_GUARD:
            return None
        ok = self.e4 & np.array([bool(g) and g <= REAL_GUARD[rule_id] for g in self.e4_genres])
        return {t: v[ok] for t, v in self.real_probs.items()}

    def gtzan_voice(self, rule_id: str) -> Dataset:
        """GTZAN clips with a known voice, for an MSD voice rule."""
        pos_l, dc_l = VOICE_LABELS[rule_id]
        keep = (self.g_voice != "") & ~np.isin(self.g_voice, list(dc_l))
        pos = np.isin(self.g_voice, list(pos_l))[keep]
        return Dataset("gtzan-voice", {"msd": self.g_probs["msd"][keep]}, pos,
                       self.g_groups[keep], f"{int(pos.sum())} positive / {int((~pos).sum())} "
                       f"negative GTZAN clips")

    def e4_voice_and_renders(self, rule_id: str) -> Dataset:
        """emotion4q clips with a known voice plus every render (no voice: negatives)."""
        pos_l, dc_l = VOICE_LABELS[rule_id]
        keep = (self.e4_voice != "") & ~np.isin(self.e4_voice, list(dc_l))
        pos = np.concatenate([np.isin(self.e4_voice, list(pos_l))[keep],
                              np.zeros(len(self.plan), dtype=bool)])
        groups = np.concatenate([np.array([it["artist"] for it in self.real_items])[keep],
                                 np.array([x["source"] for x in self.plan])])
        probs = {t: np.concatenate([self.real_probs[t][keep], self.rprobs[t]])
                 for t in self.rprobs}
        return Dataset("e4-voice", probs, pos, groups,
                       f"{int(pos.sum())} positive / {int((~pos).sum())} negative clips")


def measure(rule: Mapping[str, Any], corp: Corpora) -> Tuned:
    """A shipped rule's thresholds, measured on the data its kind is measured on."""
    rid = rule["id"]
    taggers = {n.partition(":")[0] for n in rule["when"] + rule.get("unless", [])}
    if rid in RENDER_LABELS:
        return tune(rule, corp.renders(rid), corp.guard(rid))
    if rid in VOICE_LABELS:
        if taggers == {"msd"}:
            t = tune(rule, corp.gtzan_voice(rid))
        else:
            t = tune(rule, corp.e4_voice_and_renders(rid))
        return t
    raise Midi2ImgError(f"rule {rid}: midi2img.tune.tags has no measurement for it")


# ---- main ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagsResult:
    """What ``tune tags`` writes: the thresholds file, the report, and the rules under the bar."""

    thresholds_toml: str
    report: str
    weak: tuple[str, ...]


def run(data: Path, *, work: Path, labels: Path, log: Log = quiet) -> TagsResult:
    """Measure every rule of the shipped ``tags.toml`` (see the module docstring).

    Args:
        data: The shared data folder (VGMIDI, EMOPIA, the five recordings, emotion4q, GTZAN).
        work: The cache folder for renders and tags.
        labels: The folder of the hand-made label tables (:func:`corpus.labels_dir`).
        log: Progress printer.
    """
    from importlib import resources

    from midi2img.tag_rules import RULES_FILE, parse_tag_rules

    rules_raw = tomllib.loads((resources.files("midi2img.keywords") / RULES_FILE)
                              .read_text(encoding="utf-8"))
    rules = rules_raw["rule"]
    corp = Corpora(data, work, labels, log=log)
    detectors = add_detectors(corp)  # measured as rule forms for the report, not shipped

    tuned: dict[str, Tuned] = {}
    shipped_eras = {r["id"]: r for r in rules if r["id"] in ERA_LABELS}
    if set(shipped_eras) - {r["id"] for r in ERA_CANDIDATES}:
        raise Midi2ImgError("era rules must be among ERA_CANDIDATES (they are tuned jointly)")
    era_rules = [shipped_eras.get(r["id"], r) for r in ERA_CANDIDATES]
    keep = corp.g_decade != ""
    era_tuned = tune_group(era_rules, {"msd": corp.g_probs["msd"][keep]}, corp.g_decade[keep],
                           [ERA_LABELS[r["id"]] for r in era_rules], corp.g_groups[keep],
                           "gtzan-era")
    tuned.update({rid: t for rid, t in era_tuned.items() if rid in shipped_eras})
    group_precision = era_tuned[era_rules[0]["id"]].group_precision or 0.0
    if shipped_eras and group_precision < MIN_PRECISION:
        raise Midi2ImgError(f"the era group decision's held-out precision "
                            f"{group_precision:.2f} is under the bar {MIN_PRECISION}: ship no "
                            f"era rule")
    for rule in rules:
        if rule["id"] not in tuned:
            tuned[rule["id"]] = measure(rule, corp)
    voice_check = check_voice_on_emotion4q(rules, tuned, corp)
    weak = []
    for rule in rules:
        t = tuned[rule["id"]]
        if t.cv_precision < MIN_PRECISION and t.dataset != "gtzan-era":
            weak.append(rule["id"])
        log(f"  {rule['id']:16s} {_fmt_thr(t.thresholds):52s} P {t.cv_precision:.2f} "
            f"R {t.cv_recall:.2f} ({t.tp}/{t.fp}/{t.fn}) {t.guard}")
    text = thresholds_toml(tuned)
    book = parse_tag_rules(rules_raw, tomllib.loads(text))
    alternatives = {name: tune({"id": name, **rule}, corp.renders(label), corp.guard(label))
                    for name, (rule, label) in ALTERNATIVES.items()}
    lines = report_header(corp)
    lines += summary_section(rules, tuned, alternatives,
                             era_tuned[era_rules[0]["id"]].group_precision or 0.0,
                             float(np.mean(detectors["piano"]["real_rate"])))
    lines += thresholds_section(rules, tuned)
    lines += voice_check
    keep = corp.g_decade != ""
    alone = tune(ERA_CANDIDATES[0], Dataset(
        "gtzan-era", {"msd": corp.g_probs["msd"][keep]},
        corp.g_decade[keep] == ERA_LABELS[ERA_CANDIDATES[0]["id"]], corp.g_groups[keep], ""))
    lines += era_section(era_rules, era_tuned, corp, alone.cv_precision)
    lines += real_section(book, corp)
    lines += alternatives_section(alternatives)
    return TagsResult(text, "\n".join(lines) + "\n", tuple(weak))


def _pooled(probs: Mapping[str, np.ndarray], i: int) -> dict[str, dict[str, float]]:
    return {t: dict(zip(_tag_names(t), map(float, probs[t][i]), strict=True)) for t in probs}


def check_voice_on_emotion4q(rules: Sequence[Mapping[str, Any]], tuned: dict[str, Tuned],
                             corp: Corpora) -> list[str]:
    """The MSD voice rules on emotion4q clips of known voice (never used for tuning them); the
    figures go into the rule's ``check`` (and so into its ``because``)."""
    lines = ["", "## Voice, checked on emotion4q", "",
             "Clips of emotion4q artists with a known lead voice "
             "(`bench/data/emotion4q_artists.csv`), tagged by midi2img; each rule on its own "
             "(without the voice group's choice of one). For the MSD rules this corpus was not "
             "used for tuning; the MTT rule was tuned on it (its figures above are held out by "
             "artist).", "", "| rule | fires on | precision | recall |", "|---|---|---|---|"]
    for rule in rules:
        rid = rule["id"]
        if rid not in VOICE_LABELS:
            continue
        pos_l, dc_l = VOICE_LABELS[rid]
        keep = (corp.e4_voice != "") & ~np.isin(corp.e4_voice, list(dc_l))
        probs = {t: v[keep] for t, v in corp.real_probs.items()}
        fires = _decide(probs, tuned[rid].thresholds, rule["when"], rule.get("unless", []))
        truth = corp.e4_voice[keep]
        pos = np.isin(truth, list(pos_l))
        prec = (fires & pos).sum() / max(fires.sum(), 1)
        rec = (fires & pos).sum() / max(pos.sum(), 1)
        by = Counter(truth[fires])
        lines.append(f"| {rid} | {int(fires.sum())} clips ("
                     f"{', '.join(f'{v} {n}' for v, n in sorted(by.items()))}) | {prec:.2f} | "
                     f"{rec:.2f} |")
        if tuned[rid].dataset == "gtzan-voice":
            tuned[rid] = dataclasses.replace(
                tuned[rid], check=f"on emotion4q songs (not tuned on): precision {prec:.2f}, "
                                  f"recall {rec:.2f}")
    return lines


def thresholds_toml(tuned: Mapping[str, Tuned]) -> str:
    """The measured thresholds as TOML (``keywords/tag_thresholds.toml``; written by hand:
    tomllib only reads)."""

    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    out = ["# Measured thresholds of the tag keyword rules (keywords/tags.toml).",
           "# Written by `midi2img tune tags` (`make tune-tags`): do not edit by hand.",
           "# How they were measured, with every figure: bench/tag_keywords.md.",
           f"beta = {BETA}", f"min_precision = {MIN_PRECISION}", ""]
    for rid, t in tuned.items():
        out += [f"[rule.{q(rid)}]", f"basis = {q(t.basis())}", f"dataset = {q(t.dataset)}",
                f"cv_precision = {t.cv_precision:.4f}", f"cv_recall = {t.cv_recall:.4f}",
                f"cv_f05 = {t.cv_f:.4f}", f"tp = {t.tp}", f"fp = {t.fp}", f"fn = {t.fn}",
                f"positives = {t.positives}", f"negatives = {t.negatives}",
                f"groups = {t.groups}"]
        if t.render_optimum is not None:
            out.append("render_optimum = { " + ", ".join(
                f"{q(k)} = {v:g}" for k, v in t.render_optimum.items()) + " }")
        out += [f"[rule.{q(rid)}.threshold]"] + [f"{q(k)} = {v:g}" for k, v in
                                                 t.thresholds.items()] + [""]
    return "\n".join(out)


# ---- report ----------------------------------------------------------------------------------


def report_header(corp: Corpora) -> list[str]:
    """The report's opening: method and data."""
    sources = sorted({p["source"] for p in corp.plan})

    def counts(a: np.ndarray) -> str:
        return ", ".join(f"{v} {n}" for v, n in sorted(Counter(a[a != ""]).items()))

    return [
        "# Tag keyword thresholds (instruments, voice, era)",
        "",
        "Written by `midi2img tune tags` (`make tune-tags`); the thresholds go to "
        "`keywords/tag_thresholds.toml`, the rules are `keywords/tags.toml`. Tags are pooled "
        "by the mean over 3 s windows, as the analysis does. Each rule's thresholds (all of its "
        "tags at once, grid search) maximise **F0.5** (precision weighs twice recall: an "
        "honest absence beats a wrong name); ties go to the strictest thresholds. Precision "
        "and recall are **held out**: every group (source piece, or artist) is scored with "
        "thresholds chosen without it, and the counts are summed over groups. The final "
        "thresholds are then chosen on all the data. A rule ships only when its held-out "
        f"precision is at least {MIN_PRECISION}.",
        "",
        "## Data",
        "",
        f"- **Renders** (instruments): {len(corp.plan)} renders of {len(sources)} source "
        f"excerpts (15 s from the first note: {', '.join(s.split(':', 1)[1] for s in sources)}),"
        f" {len(tc.SOLO)} one-instrument versions each ({', '.join(tc.SOLO)}; monophonic "
        "instruments play the top line, or the bass line, moved by octaves into their range; "
        "drums play a GM rock, jazz or disco pattern) and "
        f"{len(tc.MIXES)} arrangements ({'; '.join(tc.MIXES)}). fluidsynth + FluidR3 GM, "
        "tagged at the analysis' default hop. Cross-validation leaves one source piece out. "
        "Labels: a render is positive for an instrument rule when the instrument plays in it; "
        "some renders count neither way (`RENDER_LABELS`: e.g. an electric piano for 'grand "
        "piano', a violin inside a string section for 'violin').",
        "- **Real-music guard** (instruments): emotion4q clips whose AllMusic genres all lie in "
        "a list where the instrument is implausible (`REAL_GUARD`, e.g. no harpsichord in "
        "pop/rock, rap, electronic, R&B, reggae, country, blues, latin or jazz). Only "
        f"thresholds firing on at most {GUARD_RATE:.0%} of them are candidates (in every fold "
        "too). The five shared recordings are never used to choose: they are the test "
        "(`tests/test_tag_rules.py`).",
        f"- **Voice** (MSD tags): the published MSD taggrams of {len(corp.g_items)} "
        "fault-filtered GTZAN clips (1 s hop; Pons & Serra's sklearn-audio-transfer-learning), "
        f"lead voice from `bench/data/gtzan_artists.csv` ({counts(corp.g_voice)} clips; the "
        "rest unknown); leave-one-artist-out. MSD's 'male vocalists' does not separate male "
        "singers on these clips (median 0.012 for male singers, 0.013 for female), so the male "
        "voice comes from MTT. **Voice** (MTT tags, no GTZAN taggrams): emotion4q clips of "
        f"artists with a known voice ({counts(corp.e4_voice)} clips, "
        "`bench/data/emotion4q_artists.csv`) plus every render as a voiceless negative (choir "
        "renders included); leave-one-artist-or-piece-out. The MSD rules are checked on the "
        "emotion4q clips afterwards.",
        f"- **Era**: the GTZAN clips with the recording decade ({counts(corp.g_decade)} clips)."
        " The era rules are tuned jointly as one decision (only the era furthest over its "
        "threshold is named; a clip of a decade without a rule counts as wrong when any era is "
        f"named); leave-one-artist-out. The 90s and 00s tags barely separate their decades "
        f"({decade_medians(corp)}), so they have no candidate rule.",
    ]


def decade_medians(corp: Corpora) -> str:
    """Median of the MSD '90s' and '00s' tags over the GTZAN clips of each decade."""
    parts = []
    for tag in ("90s", "00s"):
        col = _column(corp.g_probs, f"msd:{tag}")
        meds = ", ".join(f"{d} {np.median(col[corp.g_decade == d]):.3f}"
                         for d in ("80s", "90s", "00s"))
        parts.append(f"median '{tag}' on clips of the {meds}")
        del meds
    return "; ".join(parts)


def thresholds_section(rules: Sequence[Mapping[str, Any]],
                       tuned: Mapping[str, Tuned]) -> list[str]:
    """The table of shipped rules and their figures."""
    lines = ["", "## Thresholds (shipped rules)", "",
             "| rule | keyword | tags and thresholds | measured on | held-out precision | "
             "held-out recall | F0.5 | TP / FP / FN | notes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for rule in rules:
        t = tuned[rule["id"]]
        cond = ", ".join([f"`{n}` >= {t.thresholds[n]:g}" for n in rule["when"]] +
                         [f"`{n}` < {t.thresholds[n]:g}" for n in rule.get("unless", [])])
        notes = "; ".join(filter(None, [t.guard, t.check, *t.notes])) or "-"
        lines.append(f"| {rule['id']} | {rule['keyword']} | {cond} | {t.dataset} "
                     f"({t.positives}+/{t.negatives}-, {t.groups} groups) | "
                     f"{t.cv_precision:.2f} | {t.cv_recall:.2f} | {t.cv_f:.2f} | "
                     f"{t.tp} / {t.fp} / {t.fn} | {notes} |")
    return lines


def era_section(era_rules: Sequence[Mapping[str, Any]], era_tuned: Mapping[str, Tuned],
                corp: Corpora, era_alone: float) -> list[str]:
    """The era candidates: held-out figures of the joint decision, and its confusion with the
    final thresholds on the labelled clips."""
    lines = ["", "## Era (MSD decade tags on GTZAN, tuned jointly as one decision)", "",
             "| rule | keyword | threshold | held-out precision | held-out recall | "
             "TP / FP / FN |", "|---|---|---|---|---|---|"]
    for r in era_rules:
        t = era_tuned[r["id"]]
        lines.append(f"| {r['id']} | {r['keyword']} | `{r['when'][0]}` >= "
                     f"{t.thresholds[r['when'][0]]:g} | {t.cv_precision:.2f} | "
                     f"{t.cv_recall:.2f} | {t.tp} / {t.fp} / {t.fn} |")
    if era_rules:
        lines += ["", era_tuned[era_rules[0]["id"]].notes[0].capitalize() + ". The eras ship "
                  "only together (each suppresses the others), when this decision reaches the "
                  f"precision bar ({MIN_PRECISION}); alone, the 60s rule's held-out precision is "
                  f"{era_alone:.2f}."]
    keep = np.flatnonzero(corp.g_decade != "")
    cols = np.stack([_column(corp.g_probs, r["when"][0])[keep] for r in era_rules], axis=1)
    thr = np.array([era_tuned[r["id"]].thresholds[r["when"][0]] for r in era_rules])
    ratio = np.where(cols / thr >= 1.0, cols / thr, 0.0)
    pick = np.where(ratio.max(axis=1) > 0, ratio.argmax(axis=1), -1)
    decades = sorted({d for d in corp.g_decade if d})
    lines += ["", "Confusion with the final thresholds (in-sample; rows: the era named, "
              "columns: the decade of the recording):", "",
              "| named | " + " | ".join(decades) + " |", "|---|" + "---|" * len(decades)]
    for j, named in enumerate([*era_rules, None]):
        sel = pick == (j if named is not None else -1)
        row = Counter(corp.g_decade[keep][sel])
        lines.append(f"| {named['keyword'] if named else '(none)'} | " +
                     " | ".join(str(row[d]) for d in decades) + " |")
    return lines


def real_section(book: Any, corp: Corpora) -> list[str]:
    """Every rule on the real clips: the five recordings in full, emotion4q firing rates, and
    the GTZAN firing rates of the MSD rules by genre."""
    from midi2img.tag_rules import tag_keywords

    lines = ["", "## The five shared recordings (the test; never used for tuning)", "",
             "| recording | keywords from tags (weight): evidence |", "|---|---|"]
    per_rule: Counter[str] = Counter()
    per_rule_genre: dict[str, Counter[str]] = defaultdict(Counter)
    n_e4 = 0
    for i, it in enumerate(corp.real_items):
        kws = tag_keywords(_pooled(corp.real_probs, i), book=book)
        if it["corpus"] == "recordings":
            body = "<br>".join(f"**{k.keyword}** ({k.weight:.2f}): "
                               f"{k.because.split(' (thresholds')[0]}" for k in kws) or \
                "(none)"
            lines.append(f"| {Path(it['file']).stem[:60]} | {body} |")
        else:
            n_e4 += 1
            for k in kws:
                per_rule[k.rule] += 1
                for g in corp.e4_genres[i]:
                    per_rule_genre[k.rule][g] += 1
    lines += ["", f"## Firing rates on {n_e4} emotion4q clips (real music, all rules together)",
              "", "| rule | fires on | top genres of those clips |", "|---|---|---|"]
    for r in book.rules:
        n = per_rule[f"tag-{r.id}"]
        counts = per_rule_genre[f"tag-{r.id}"]  # ties by name: genres come from sets
        top = ", ".join(f"{g} {c}" for g, c in sorted(counts.items(),
                                                       key=lambda gc: (-gc[1], gc[0]))[:4])
        lines.append(f"| {r.id} | {n} ({n / max(n_e4, 1):.1%}) | {top or '-'} |")
    return lines


def alternatives_section(alternatives: Mapping[str, Tuned]) -> list[str]:
    """Held-out figures of the rule forms considered (same protocol, guard included)."""
    lines = ["", "## Rule forms compared (renders, same protocol)", "",
             "| form | scored as | thresholds (all renders) | held-out precision | "
             "held-out recall | F0.5 |", "|---|---|---|---|---|---|"]
    for name, t in alternatives.items():
        label = ALTERNATIVES[name][1]
        lines.append(f"| {name} | {label} | {_fmt_thr(t.thresholds)} | {t.cv_precision:.2f} | "
                     f"{t.cv_recall:.2f} | {t.cv_f:.2f} |")
    return lines


def summary_section(rules: Sequence[Mapping[str, Any]], tuned: Mapping[str, Tuned],
                    alternatives: Mapping[str, Tuned], era_precision: float,
                    detector_real_rate: float) -> list[str]:
    """What ships and what was measured and left out, in a few lines."""

    def best(prefix: str, *, tag_forms_only: bool = False) -> str:
        cands = {n: t for n, t in alternatives.items() if n.startswith(prefix + ": ")
                 and not (tag_forms_only and "detector" in n)}
        n, t = max(cands.items(), key=lambda kv: kv[1].cv_precision)
        return f"{t.cv_precision:.2f} ({n.split(': ', 1)[1]})"

    det = alternatives["grand piano: piano detector"]

    shipped = ", ".join(f"{r['keyword']} {tuned[r['id']].cv_precision:.2f}" for r in rules)
    near = sorted((t.cv_precision, r["keyword"]) for r in rules
                  if (t := tuned[r["id"]]).cv_precision < MIN_PRECISION + 0.05 + 1e-9)
    return [
        "", "## Decisions", "",
        f"- **Shipped** (held-out precision): {shipped}.",
        f"- **Measured and left out** (best held-out precision of the forms tried, under the "
        f"bar of {MIN_PRECISION}): piano {best('piano')} and grand piano "
        f"{best('grand piano', tag_forms_only=True)} "
        "(MTT hears FluidR3's acoustic grand as much guitar as piano: median 'piano' 0.28, "
        "'guitar' 0.39 on the one-instrument renders, while real pianos in emotion4q reach "
        "0.5-0.9: a real, labelled piano corpus could set this threshold), cello "
        f"{best('cello')}, harp {best('harp')}, a string *section* apart from a soloist "
        f"{best('string section')} (MTT cannot tell them apart, hence the one keyword 'string "
        f"instruments'), and the decades: the era group's held-out precision is "
        f"{era_precision:.2f} (MSD's decade tags name the decade of a GTZAN song in 6 to 7 "
        "cases out of 10, even in-sample, however strict the thresholds).",
        f"- **The piano detector** (a logistic model over the log-odds of all 100 tags, "
        f"trained on renders; `add_detectors`) names rendered pianos with held-out precision "
        f"{det.cv_precision:.2f} (recall {det.cv_recall:.2f}), but it is not shipped: on real "
        f"music its firing cannot be checked (no labelled real piano corpus here), and it "
        f"fires (p >= 0.9) on {detector_real_rate:.1%} of all "
        f"emotion4q songs, band records of every genre among them, where a piano is seldom the "
        f"instrument a picture should show.",
        "- The bar: within 0.05 of it are " + ", ".join(f"{k} ({p:.2f})" for p, k in near) +
        f"; at a bar of {MIN_PRECISION + 0.05:.2f} the ones under it would not ship. "
        "Render precision is a pessimistic figure for the orchestral rules: the renders "
        "hold every GM instrument equally often, and the confusers (GM brass section, church "
        "organ, accordion, which MTT calls 'strings' and 'violin') are rare in real music; on "
        "real brass- and reed-led emotion4q clips (big bands, Latin bands, jazz horn players) "
        "MTT 'strings' stays under 0.2 except for orchestras that do carry strings.",
        "- **Voice**: one voice keyword at most (group 'voice': female singer, male singer, "
        "choir, instrumental; the rule furthest over its threshold). MSD's 'male vocalists' "
        "does not separate male singers, so the male voice "
        "comes from MTT's 'male' tag, measured on emotion4q songs and renders.",
    ]
