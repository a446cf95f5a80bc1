"""Warm-up run at install time: compiles librosa's numba kernels and checks the Basic Pitch model.

librosa compiles numba code on its first call (about 20 s on a fresh install); doing it once here
keeps the first real analysis fast. Run with ``python -m midi2img.warmup``.
"""

from __future__ import annotations

import time

import numpy as np

from midi2img.constants import SAMPLE_RATE_HZ


def main() -> None:
    """Run every audio stage once on a short synthetic signal."""
    from midi2img.config import quiet_libraries

    quiet_libraries()
    t0 = time.perf_counter()
    import librosa

    from midi2img.features import tempo_from_onset_envelope
    from midi2img.transcribe import load_backend, transcribe_clip

    sr = SAMPLE_RATE_HZ
    t = np.arange(sr * 4) / sr
    y = (0.3 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(np.float32)
    env = librosa.onset.onset_strength(y=y, sr=sr, hop_length=512)
    tempo_from_onset_envelope(env)
    librosa.feature.chroma_stft(y=y, sr=sr)
    librosa.feature.mfcc(y=y, sr=sr)
    from midi2img.gtzan.features import extract_features

    extract_features(y)  # compiles and caches the numba HPSS kernel
    transcribe_clip(y, backend=load_backend())
    print(f"midi2img warm-up done in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
