"""The exploration behind the affect model of recordings: artist-grouped CV on emotion4q's train
part, for the alternatives a training run does not recompute (the model card points to the
report this writes, ``bench/mood_audio_explore.md``).

Usage: python bench/mood_audio_explore.py [--out bench/mood_audio_explore.md]

Rows: the symbolic features of the Basic Pitch transcription (alone, with the audio features,
and the shipped symbolic model's scores), tags as log-odds, per-window tag spread, gradient
boosted trees, an RBF SVM, one 4-way multinomial model, and training on whole clips plus 15 s
halves. Same folds as training (``train_audio.grouped_folds``: 5 artist-grouped folds, seeds
0-2; trees and SVM seed 0 only), plain standardisation as in the exploration. The sound rows
and tags come from the training cache; the transcriptions are cached beside it (about a
second per clip the first time).
"""

from __future__ import annotations

import argparse
import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

Fit = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _symbolic(clips: list, data: Path) -> np.ndarray:  # type: ignore[type-arg]
    """mood_features of each clip's transcription, as the analysis pass computes it."""
    import librosa

    import midi2img.transcribe as tr_mod
    from midi2img.config import cache_dir
    from midi2img.constants import ONSET_HOP
    from midi2img.features import extract, tempo_from_onset_envelope
    from midi2img.mood.audio_features import iter_clip_segments
    from midi2img.mood.dataset import emotion4q_audio
    from midi2img.mood.features import FEATURE_NAMES, mood_features
    from midi2img.mood.train import feature_code_hash
    from midi2img.transcribe import StreamingTranscriber, TranscriptionOptions

    key = hashlib.sha1(f"{feature_code_hash()}|{Path(tr_mod.__file__).read_bytes()!r}"
                       .encode()).hexdigest()[:10]
    cfile = cache_dir() / f"mood_audio_symbolic_{key}.npz"
    if cfile.is_file():
        with np.load(cfile, allow_pickle=False) as z:
            if list(z["ids"]) == [c.song for c in clips]:
                return z["X"]
    rows = []
    for i, c in enumerate(clips):
        st = StreamingTranscriber(TranscriptionOptions())
        envs = []
        end_s = 0.0
        for seg in iter_clip_segments(emotion4q_audio(c, data)):
            end_s = seg.core_end_s
            st.feed(seg)
            env = librosa.onset.onset_strength(y=seg.samples, sr=seg.sr, hop_length=ONSET_HOP)
            a = int(round((seg.core_start_s - seg.start_s) * seg.sr / ONSET_HOP))
            b = a + int(round((seg.core_end_s - seg.core_start_s) * seg.sr / ONSET_HOP))
            envs.append(env[a:b])
        notes = st.notes()
        if not len(notes):
            rows.append(np.zeros(len(FEATURE_NAMES)))
            continue
        tempo = tempo_from_onset_envelope(np.concatenate(envs), hop_length=ONSET_HOP)
        feats = extract(notes, duration_s=end_s, tempo_bpm=tempo, tempo_source="audio")
        rows.append(mood_features(notes, feats))
        if (i + 1) % 100 == 0:
            print(f"  transcribed {i + 1}/{len(clips)}", flush=True)
    X = np.nan_to_num(np.stack(rows))
    cfile.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cfile, ids=np.array([c.song for c in clips]), X=X)
    return X


def main() -> None:  # noqa: PLR0915 - a linear script
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from midi2img.config import data_dir, quiet_libraries
    from midi2img.modeling import load_shipped
    from midi2img.mood import train_audio as TA
    from midi2img.mood.dataset import emotion4q_clips

    quiet_libraries()
    data = data_dir()
    clips = [c for c in emotion4q_clips(data) if c.split == "train"]
    described = TA.describe_clips(clips, data, log=print)
    X = TA.feature_matrix(described)
    halves = [TA.feature_matrix(described, window=w) for w in ((0.0, 15.0), (15.0, 30.0))]
    tag_std = np.stack([np.r_[t.probabilities["msd"].std(0), t.probabilities["mtt"].std(0)]
                        for _, t in described])
    sym = _symbolic(clips, data)
    y = np.array([[c.valence > 0, c.arousal > 0] for c in clips])
    n_sound = len(TA.SOUND_NAMES)

    def lr(C: float = 0.03) -> Fit:
        def fit(Xa: np.ndarray, ya: np.ndarray, Xb: np.ndarray, _: np.ndarray) -> np.ndarray:
            sc = StandardScaler().fit(Xa)
            m = LogisticRegression(C=C, max_iter=5000).fit(sc.transform(Xa), ya)
            return m.predict_proba(sc.transform(Xb))[:, 1]
        return fit

    def hgb(Xa: np.ndarray, ya: np.ndarray, Xb: np.ndarray, _: np.ndarray) -> np.ndarray:
        m = HistGradientBoostingClassifier(learning_rate=0.05, max_leaf_nodes=8, max_iter=200,
                                           l2_regularization=1.0, random_state=0).fit(Xa, ya)
        return m.predict_proba(Xb)[:, 1]

    def svm(Xa: np.ndarray, ya: np.ndarray, Xb: np.ndarray, _: np.ndarray) -> np.ndarray:
        sc = StandardScaler().fit(Xa)
        m = SVC(C=3.0, gamma="scale", probability=True, random_state=0)
        return m.fit(sc.transform(Xa), ya).predict_proba(sc.transform(Xb))[:, 1]

    def cv(M: np.ndarray, fit: Fit, seeds: tuple[int, ...] = (0, 1, 2),
           augment: list[np.ndarray] | None = None, four_way: bool = False
           ) -> tuple[float, float, float]:
        res = []
        for s in seeds:
            P = np.zeros((len(clips), 2))
            for a, b in TA.grouped_folds(clips, k=5, seed=s):
                Xa = np.vstack([M[a], *(A[a] for A in augment or [])])
                reps = 1 + len(augment or [])
                if four_way:
                    q = (2 * (~y[a, 0]) + (~y[a, 1])).astype(int)
                    sc = StandardScaler().fit(Xa)
                    m = LogisticRegression(C=0.03, max_iter=5000).fit(sc.transform(Xa), q)
                    pr = m.predict_proba(sc.transform(M[b]))
                    P[b, 0] = pr[:, [k for k, c in enumerate(m.classes_) if c < 2]].sum(1)
                    P[b, 1] = pr[:, [k for k, c in enumerate(m.classes_) if c % 2 == 0]].sum(1)
                    continue
                for k in range(2):
                    P[b, k] = fit(Xa, np.tile(y[a, k], reps), M[b], y[b, k])
            pred = P > 0.5
            res.append((np.mean(pred[:, 1] == y[:, 1]), np.mean(pred[:, 0] == y[:, 0]),
                        np.mean(np.all(pred == y, axis=1))))
        a, v, q = np.mean(res, axis=0)
        return float(a), float(v), float(q)

    logit = np.log(np.clip(X[:, n_sound:], 1e-4, 1 - 1e-4) / (1 - np.clip(X[:, n_sound:], 1e-4,
                                                                            1 - 1e-4)))
    sym_scores = load_shipped("affect").scores(sym)
    rows: list[tuple[str, tuple[float, float, float]]] = []
    best = max(((cv(sym, lr(c)), c) for c in (0.01, 0.03, 0.1, 0.3)),
               key=lambda r: r[0][2])  # best quadrant accuracy
    rows.append((f"symbolic features of the transcription only (LR, best C = {best[1]})",
                 best[0]))
    pred = sym_scores >= 0
    rows.append(("shipped symbolic model applied to the transcription (no refit)",
                 (float(np.mean(pred[:, 1] == y[:, 1])), float(np.mean(pred[:, 0] == y[:, 0])),
                  float(np.mean(np.all(pred == y, axis=1))))))
    rows.append(("sound + tags + 134 symbolic features (LR)", cv(np.c_[X, sym], lr())))
    rows.append(("sound + tags + symbolic model's two scores (LR)",
                 cv(np.c_[X, sym_scores], lr())))
    rows.append(("sound + tags as log-odds (LR)", cv(np.c_[X[:, :n_sound], logit], lr())))
    rows.append(("sound + tags + per-window tag std (LR)", cv(np.c_[X, tag_std], lr())))
    rows.append(("sound + tags, gradient-boosted trees (seed 0)", cv(X, hgb, seeds=(0,))))
    rows.append(("sound + tags, RBF SVM (C = 3, seed 0)", cv(X, svm, seeds=(0,))))
    rows.append(("sound + tags, one 4-way multinomial LR", cv(X, lr(), four_way=True)))
    rows.append(("sound + tags, trained on whole clips + 15 s halves",
                 cv(X, lr(), augment=halves)))
    rows.append(("sound + tags (reference, plain standardisation)", cv(X, lr())))
    lines = ["# Affect model of recordings: exploration (artist-grouped CV, emotion4q train)", "",
             "| features / model | arousal | valence | quadrant |", "|---|---|---|---|"]
    lines += [f"| {n} | {a:.3f} | {v:.3f} | {q:.3f} |" for n, (a, v, q) in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
