"""Feature vector of the valence-arousal model, in a fixed named order.

:func:`mood_features` is the only function that turns ``Notes`` + ``SymbolicFeatures`` into the
model's input, used both by training and at run time so the two cannot drift. It adds to the
symbolic features what valence needs: a key-normalised pitch-class profile, major/minor template
fit relative to the estimated tonic, third and sixth ratios above the tonic, chord-quality and
chord-root (scale-degree) shares, melodic interval statistics, and note-level timing stats.
All of it is plain numpy: about a millisecond per clip on top of ``features.extract``.
"""

from __future__ import annotations

import numpy as np

from midi2img.constants import PITCH_CLASSES
from midi2img.features import CHORD_QUALITIES, SymbolicFeatures, pitch_class_profile
from midi2img.features.key import _KK_MAJOR, _KK_MINOR
from midi2img.notes import Notes

#: Bump when the feature definitions change (invalidates cached feature files).
FEATURE_VERSION = 4

_QUALITIES = tuple(CHORD_QUALITIES)
_BASE = ("log_tempo_bpm", "log_density_per_s", "pitch_low", "pitch_high", "pitch_median",
         "pitch_range", "mean_velocity", "velocity_std", "articulation", "polyphony",
         "bass_ratio", "treble_ratio", "major_chord_ratio", "minor_chord_ratio", "dissonance",
         "chord_change_rate_per_s", "mode_major", "key_confidence", "key_clarity")
_TONAL = ("major_fit", "minor_fit", "major_minus_minor_fit", "third_major_share",
          "sixth_major_share", "seventh_major_share", "in_major_scale_share",
          "in_minor_scale_share", "pc_entropy", "tonic_share", "dominant_share")
_NOTE = ("pitch_std", "velocity_p90", "velocity_p10", "log_dur_mean", "log_dur_std",
         "log_ioi_median", "ioi_cv", "notes_per_onset", "onset_rate_per_s",
         "melody_pitch_mean", "melody_step_mean", "melody_leap_share", "melody_up_share",
         "melody_repeat_share", "velocity_slope", "density_slope", "pitch_slope")

#: Names of the columns of :func:`mood_features`, in order.
FEATURE_NAMES: tuple[str, ...] = (
    _BASE + _TONAL + _NOTE
    + tuple(f"pc_rel_{i}" for i in range(12))
    + tuple(f"pc_maj_{i}" for i in range(12))
    + tuple(f"chord_q_{q}" for q in _QUALITIES) + ("chord_q_N",)
    + tuple(f"chord_root_rel_{i}" for i in range(12))
    + tuple(f"melody_iv_{i}" for i in range(13))
    + ("local_major_fit_mean", "local_minor_fit_mean", "local_mode_margin_mean",
       "local_mode_margin_std", "local_major_share")
    + tuple(f"vertical_ic_{i}" for i in range(1, 7))
    + ("frame_major_triads", "frame_minor_triads", "frame_dim_triads", "frame_aug_triads",
       "frame_triad_major_share")
    + tuple(f"bass_pc_rel_{i}" for i in range(12))
)

_MAJ_SCALE = np.zeros(12)
_MAJ_SCALE[[0, 2, 4, 5, 7, 9, 11]] = 1
_MIN_SCALE = np.zeros(12)
_MIN_SCALE[[0, 2, 3, 5, 7, 8, 10, 11]] = 1  # natural + harmonic minor


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _share(x: float, y: float) -> float:
    return x / (x + y) if x + y > 0 else 0.5


def _slope(t: np.ndarray, y: np.ndarray) -> float:
    if t.size < 3 or np.ptp(t) == 0:
        return 0.0
    tt = (t - t.mean()) / np.ptp(t)
    return float(np.polyfit(tt, y, 1)[0])


def _local_mode(notes: Notes, dur: float, *, window_s: float = 5.0) -> np.ndarray:
    """Major/minor template fit in ~5 s windows (any tonic): mean fits, margin mean/std."""
    n_win = max(1, int(round(dur / window_s)))
    edges = np.linspace(0.0, dur, n_win + 1)
    rows = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        prof = pitch_class_profile(notes, start_s=float(a), end_s=float(b))
        if prof.sum() <= 0 or prof.std() == 0:
            continue
        z = (prof - prof.mean()) / prof.std()
        mj = max(float(z @ _KKZ_MAJ[t]) for t in range(12)) / 12
        mn = max(float(z @ _KKZ_MIN[t]) for t in range(12)) / 12
        rows.append((mj, mn))
    if not rows:
        return np.array([0.0, 0.0, 0.0, 0.0, 0.5])
    r = np.array(rows)
    margin = r[:, 0] - r[:, 1]
    return np.array([r[:, 0].mean(), r[:, 1].mean(), margin.mean(), margin.std(),
                     float(np.mean(margin > 0))])


def _vertical(notes: Notes, tonic: int, *, frame_s: float = 0.25
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Key-free harmony of simultaneities and the bass line.

    Returns the interval-class vector of pitch-class pairs sounding together (ic1..ic6, shares),
    the share of frames holding a major/minor/diminished/augmented triad plus the major share
    of major+minor triad frames, and the pitch-class profile of the lowest sounding note
    (duration-weighted, relative to the tonic).
    """
    n = int(np.ceil(notes.end_s / frame_s)) + 1
    roll = np.zeros((n, 12), dtype=bool)
    bass = np.full(n, 200, dtype=np.int32)
    a = np.floor(notes.onset_s / frame_s).astype(int)
    b = np.maximum(np.ceil(notes.offset_s / frame_s).astype(int), a + 1)
    for s, e, p in zip(a, b, notes.midi_pitch, strict=True):
        roll[s:e, p % 12] = True
        np.minimum(bass[s:e], int(p), out=bass[s:e])
    pcs = roll.astype(np.float64)
    sounding = pcs.sum(axis=1) > 0
    ic = np.array([float(np.sum(pcs * np.roll(pcs, -i, axis=1))) for i in range(1, 7)])
    ic[5] /= 2.0  # the tritone pair is counted from both notes
    ic = ic / ic.sum() if ic.sum() > 0 else np.zeros(6)
    triads = np.zeros(4)
    for k, (i, j) in enumerate(((4, 7), (3, 7), (3, 6), (4, 8))):
        has = roll & np.roll(roll, -i, axis=1) & np.roll(roll, -j, axis=1)
        triads[k] = float(np.mean(has.any(axis=1)[sounding])) if sounding.any() else 0.0
    tri = np.append(triads, _share(triads[0], triads[1]))
    bass_prof = np.zeros(12)
    ok = bass < 200
    if ok.any():
        np.add.at(bass_prof, (bass[ok] - tonic) % 12, 1.0)
        bass_prof /= bass_prof.sum()
    return ic, tri, bass_prof


def _zscore_rolls(template: np.ndarray) -> np.ndarray:
    z = (template - template.mean()) / template.std()
    return np.stack([np.roll(z, t) for t in range(12)])


_KKZ_MAJ = _zscore_rolls(_KK_MAJOR)
_KKZ_MIN = _zscore_rolls(_KK_MINOR)


def mood_features(notes: Notes, features: SymbolicFeatures) -> np.ndarray:
    """Model input for one clip: a float64 vector ordered as :data:`FEATURE_NAMES`.

    Args:
        notes: The clip's notes (not empty).
        features: ``midi2img.features.extract(notes, ...)`` of the same notes.
    """
    f = features
    if (not len(notes) or f.key is None or f.pitch_low is None or f.pitch_high is None
            or f.density_per_s is None):
        raise ValueError("no notes to describe")
    dur = max(f.duration_s, 1e-3)
    base = [np.log(f.tempo_bpm), np.log1p(f.density_per_s), f.pitch_low, f.pitch_high,
            f.pitch_median, f.pitch_high - f.pitch_low, f.mean_velocity, f.velocity_std,
            f.articulation, f.polyphony, f.bass_ratio, f.treble_ratio, f.major_chord_ratio,
            f.minor_chord_ratio, f.dissonance, f.chord_change_rate_per_s,
            float(f.key.mode == "major"), f.key.confidence, f.key.clarity]

    # --- tonality relative to the estimated tonic (and to the best-fitting major key)
    prof = pitch_class_profile(notes)
    prof = prof / prof.sum() if prof.sum() > 0 else np.full(12, 1 / 12)
    tonic = f.key.tonic_pc
    rel = np.roll(prof, -tonic)
    maj_scores = np.array([_corr(prof, np.roll(_KK_MAJOR, t)) for t in range(12)])
    min_scores = np.array([_corr(prof, np.roll(_KK_MINOR, t)) for t in range(12)])
    maj_tonic = int(np.argmax(maj_scores))
    rel_major = np.roll(prof, -maj_tonic)  # profile in the frame of the relative major
    major_fit, minor_fit = float(maj_scores.max()), float(min_scores.max())
    entropy = float(-(prof[prof > 0] * np.log2(prof[prof > 0])).sum())
    tonal = [major_fit, minor_fit, major_fit - minor_fit, _share(rel[4], rel[3]),
             _share(rel[9], rel[8]), _share(rel[11], rel[10]), float(rel @ _MAJ_SCALE),
             float(rel @ _MIN_SCALE), entropy, rel[0], rel[7]]

    # --- note-level statistics
    pitch = notes.midi_pitch.astype(np.float64)
    vel = notes.velocity.astype(np.float64)
    nd = np.maximum(notes.duration_s, 1e-3)
    onsets, first_idx, counts = np.unique(np.round(notes.onset_s, 2), return_index=True,
                                          return_counts=True)
    ioi = np.diff(onsets)
    ioi = ioi[ioi > 0.01]
    ioi_med = float(np.median(ioi)) if ioi.size else dur
    ioi_cv = float(ioi.std() / ioi.mean()) if ioi.size > 1 else 0.0
    # melody: the highest note at each distinct onset (skyline)
    order = np.lexsort((-pitch, np.round(notes.onset_s, 2)))
    on_sorted = np.round(notes.onset_s, 2)[order]
    top_first = np.r_[True, on_sorted[1:] != on_sorted[:-1]]
    melody = pitch[order][top_first]
    steps = np.diff(melody)
    iv_hist = np.zeros(13)
    if steps.size:
        np.add.at(iv_hist, np.minimum(np.abs(steps), 12).astype(int), 1.0)
        iv_hist /= steps.size
        step_mean = float(np.abs(steps).mean())
        leap = float(np.mean(np.abs(steps) > 4))
        up = float(np.mean(steps > 0))
        repeat = float(np.mean(steps == 0))
    else:
        step_mean, leap, up, repeat = 0.0, 0.0, 0.5, 0.0
    # trends over the clip (time normalised to [-0.5, 0.5])
    n_bins = 8
    edges = np.linspace(0.0, dur, n_bins + 1)
    per_bin = np.histogram(notes.onset_s, bins=edges)[0] / (dur / n_bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    note_stats = [pitch.std(), np.percentile(vel, 90), np.percentile(vel, 10),
                  np.log(nd).mean(), np.log(nd).std(), np.log(ioi_med), ioi_cv,
                  float(counts.mean()), onsets.size / dur, melody.mean(), step_mean, leap, up,
                  repeat, _slope(notes.onset_s, vel), _slope(centres, np.log1p(per_bin)),
                  _slope(notes.onset_s, pitch)]
    del first_idx

    # --- harmony: chord quality and root (relative to the tonic) time shares
    q_hist = np.zeros(len(_QUALITIES) + 1)
    root_hist = np.zeros(12)
    tot = 0.0
    for c in f.chords:
        d = c.end_s - c.start_s
        tot += d
        if c.label in ("N", "X"):
            q_hist[-1] += d
            continue
        root_name, quality = c.label.split(":", 1)
        q_hist[_QUALITIES.index(quality)] += d
        root_hist[(PITCH_CLASSES.index(root_name) - tonic) % 12] += d
    if tot > 0:
        q_hist /= tot
        root_hist /= tot

    vec = np.concatenate([np.asarray(base, dtype=np.float64), np.asarray(tonal),
                          np.asarray(note_stats, dtype=np.float64), rel, rel_major, q_hist,
                          root_hist, iv_hist, _local_mode(notes, dur), *_vertical(notes, tonic)])
    if vec.shape[0] != len(FEATURE_NAMES):  # pragma: no cover - guards edits to this module
        raise AssertionError("feature vector and FEATURE_NAMES disagree")
    return np.nan_to_num(vec, nan=0.0, posinf=0.0, neginf=0.0)
