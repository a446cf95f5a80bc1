"""What a recording sounds like, for the affect model: streamed, in small rows, for any window.

The symbolic mood features describe a transcription, which a mix (voice, drums, distortion,
reverb) corrupts: calm songs with sustained harmony transcribe into many notes, loud distorted
ones into few. The affect model of recordings therefore reads the sound itself:

* loudness (A-weighted) and its dynamics: level percentiles, range, low-energy share, how much
  the level moves from one 2 s block to the next;
* spectral shape: brightness (centroid, roll-off, energy above 1.5 kHz and 4 kHz), bass weight,
  flatness and tonalness (noise against partials), entropy, zero-crossing rate, MFCC 1-13;
* sensory roughness: Sethares' (1993) fit of Plomp and Levelt's dissonance curve summed over
  pairs of the 20 strongest spectral peaks of each frame;
* rhythm: a spectral-flux onset envelope (64 mel bands, dB), its onset rate, and the
  autocorrelation of the envelope, giving pulse clarity and a tempo estimate;
* tonality from the audio's chroma: major and minor key-profile fits, key clarity, the chroma
  relative to the best key's tonic, chroma flux;
* and, from :mod:`midi2img.tagger`, the musicnn MSD and MTT tag probabilities (moods such as
  happy, sad, mellow, chill, party; fast, slow, loud, quiet, soft; genres and instruments).

:class:`AudioMoodStream` is fed the analysis pass's :class:`~midi2img.audio.Segment` objects. It
computes one STFT frame per 512 samples (2048-point Hann, the hop of the pass's onset envelope)
at absolute positions, so how the audio is cut into segments changes nothing, and it keeps one
row of sufficient statistics (sums, sums of squares, a loudness histogram, chroma sums, onset
count, envelope autocorrelation) per block of :data:`BLOCK_FRAMES` frames (about 2 s).
:class:`SoundRows` holds those rows; :meth:`SoundRows.window` selects the blocks of a section and
:meth:`SoundRows.describe` pools them into the named :data:`SOUND_NAMES` vector.
:func:`affect_features` joins that vector with the pooled tags of the same window: it is the
only function that builds the affect model's input, in training and at run time alike.
Memory: the rows (about 1.6 kB per 2 s) plus one segment's frames.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from midi2img.constants import ONSET_HOP, SAMPLE_RATE_HZ
from midi2img.errors import InputError

if TYPE_CHECKING:
    from midi2img.audio import Segment
    from midi2img.tagger import TagResult

#: Bump when the definitions below change (the training cache is also keyed by this file).
AUDIO_FEATURE_VERSION = 2
#: STFT size of the frame descriptors (samples at 22050 Hz); the hop is the pass's onset hop.
N_FFT = 2048
HOP = ONSET_HOP
#: Mel bands of the onset envelope and the MFCCs.
N_MELS = 64
N_MFCC = 13
#: Frames per block row (86 x 512 samples = 1.997 s).
BLOCK_FRAMES = 86
#: Frames described per call of :func:`frame_descriptors` (bounds the working set to ~4 MB).
CHUNK_FRAMES = 128
#: Autocorrelation lags of the onset envelope kept per block (0 .. 96 frames = 2.23 s).
ACF_LAGS = 96
#: Half-width (frames) of the moving mean removed from the envelope before autocorrelation.
DETREND_HALF = 21
#: Onset peak picking: local maximum within +-PEAK_HALF frames, above the mean of
#: +-PEAK_MEAN_HALF frames by PEAK_DELTA_DB.
PEAK_HALF = 3
PEAK_MEAN_HALF = 16
PEAK_DELTA_DB = 1.0
#: Frames quieter than this (A-weighted level, dB re full scale) count as silent: they enter the
#: loudness statistics but not the spectral ones.
SILENT_DB = -70.0
#: Loudness histogram: bins of 2.5 dB from -80 dB to 0 dB (levels outside go to the end bins).
HIST_LOW_DB, HIST_STEP_DB, HIST_BINS = -80.0, 2.5, 32
#: Spectral peaks per frame for roughness and tonalness, and their frequency range (Hz).
N_PEAKS = 20
PEAK_FMIN_HZ, PEAK_FMAX_HZ = 30.0, 5000.0
#: Tempo range (BPM) searched in the envelope autocorrelation.
TEMPO_MIN_BPM, TEMPO_MAX_BPM = 40.0, 215.0

_LOOKAHEAD = ACF_LAGS + DETREND_HALF + PEAK_MEAN_HALF  # frames a block waits for

#: Frame descriptors summed per block (mean and standard deviation in :data:`SOUND_NAMES`).
FRAME_NAMES: tuple[str, ...] = (
    "loudness_db", "rms_db", "log2_centroid_hz", "log2_bandwidth_hz", "log2_rolloff_hz",
    "flatness_db", "bright_1500", "bright_4000", "bass_150", "zcr", "flux_db", "roughness",
    "tonalness", "spectral_entropy", "chroma_flux",
    *(f"mfcc_{i}" for i in range(1, N_MFCC + 1)))
_NF = len(FRAME_NAMES)

# layout of a block row
_N, _NACT = 0, 1
_SUM = slice(2, 2 + _NF)
_SQ = slice(_SUM.stop, _SUM.stop + _NF)
_CHROMA = slice(_SQ.stop, _SQ.stop + 12)
_HIST = slice(_CHROMA.stop, _CHROMA.stop + HIST_BINS)
_PEAKS = _HIST.stop
_ACF = slice(_PEAKS + 1, _PEAKS + 2 + ACF_LAGS)
#: Width of one block row.
ROW_WIDTH = _ACF.stop

#: Names of :meth:`SoundRows.describe`, in order.
SOUND_NAMES: tuple[str, ...] = (
    *(f"{n}_mean" for n in FRAME_NAMES), *(f"{n}_std" for n in FRAME_NAMES),
    "loudness_p10", "loudness_p50", "loudness_p90", "loudness_range", "low_energy_share",
    "silent_share", "block_loudness_std", "block_loudness_slope",
    "major_fit", "minor_fit", "mode_margin", "key_clarity", "chroma_entropy",
    *(f"chroma_rel_{i}" for i in range(12)),
    "onset_rate_per_s", "pulse_clarity", "log2_tempo_rel_120", "pulse_half", "pulse_double")


# ---- constant tables ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _tables() -> dict[str, np.ndarray]:
    """Window, frequencies, A-weighting, mel and chroma filterbanks, DCT matrix (read-only)."""
    import librosa
    import scipy.fft

    freqs = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE_HZ)
    n = np.arange(N_FFT)
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / N_FFT)).astype(np.float32)
    # one-sided power -> mean square of the signal (Parseval, Hann power gain removed)
    scale = 2.0 / (N_FFT * float(np.sum(window.astype(np.float64) ** 2)))
    a_weight = 10.0 ** (librosa.A_weighting(np.maximum(freqs, 1.0)) / 10.0)
    mel = librosa.filters.mel(sr=SAMPLE_RATE_HZ, n_fft=N_FFT, n_mels=N_MELS)
    chroma = librosa.filters.chroma(sr=SAMPLE_RATE_HZ, n_fft=N_FFT)
    dct = scipy.fft.dct(np.eye(N_MELS), type=2, norm="ortho", axis=0)[1: N_MFCC + 1]
    peak_band = (freqs >= PEAK_FMIN_HZ) & (freqs <= PEAK_FMAX_HZ)
    flat_band = (freqs >= 60.0) & (freqs <= 10000.0)
    out = {"freqs": freqs, "window": window, "scale": np.array(scale),
           "a_weight": a_weight * scale, "mel": mel.astype(np.float64), "chroma": chroma,
           "dct": dct, "peak_band": peak_band, "flat_band": flat_band,
           "log2_freqs": np.log2(np.maximum(freqs, 20.0))}
    for v in out.values():
        v.setflags(write=False)
    return out


@functools.lru_cache(maxsize=1)
def _key_profiles() -> np.ndarray:
    """Krumhansl-Kessler major (rows 0-11) and minor (12-23) profiles, z-scored, every tonic."""
    from midi2img.features.key import _KK_MAJOR, _KK_MINOR

    rows: list[np.ndarray] = []
    for prof in (_KK_MAJOR, _KK_MINOR):
        z = (np.asarray(prof, float) - np.mean(prof)) / np.std(prof)
        rows.extend(np.roll(z, t) for t in range(12))
    out = np.stack(rows)
    out.setflags(write=False)
    return out


# ---- frame descriptors -------------------------------------------------------------------------


def _frames(padded: np.ndarray, first: int, count: int) -> np.ndarray:
    """``count`` frames of ``N_FFT`` samples starting every ``HOP`` from ``first``."""
    view = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)
    return view[first: first + count * HOP: HOP]


def _roughness(mag: np.ndarray, t: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sethares roughness (normalised by peak energy) and tonalness of each frame."""
    band = np.flatnonzero(t["peak_band"])
    m = mag[:, band[0] - 1: band[-1] + 2]
    inner = m[:, 1:-1]
    is_peak = (inner > m[:, :-2]) & (inner >= m[:, 2:])
    cand = np.where(is_peak, inner, 0.0)
    k = min(N_PEAKS, cand.shape[1])
    idx = np.argpartition(-cand, k - 1, axis=1)[:, :k]
    amp = np.take_along_axis(cand, idx, axis=1)
    freq = t["freqs"][band][idx]
    fi, fj = freq[:, :, None], freq[:, None, :]
    lo = np.minimum(fi, fj)
    s = 0.24 / (0.0207 * lo + 18.96)
    d = np.abs(fj - fi)
    curve = np.exp(-3.5 * s * d) - np.exp(-5.75 * s * d)
    pair = amp[:, :, None] * amp[:, None, :] * curve
    energy = np.sum(amp**2, axis=1)
    rough = 0.5 * pair.sum(axis=(1, 2)) / np.maximum(energy, 1e-20)
    band_energy = np.sum(inner**2, axis=1)
    tonal = energy / np.maximum(band_energy, 1e-20)
    return rough, tonal


def frame_descriptors(padded: np.ndarray, first: int, count: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Descriptors of ``count`` consecutive frames of ``padded``, and one frame before them.

    Args:
        padded: Mono 22050 Hz samples; frame ``i`` covers ``padded[first + i * HOP:][:N_FFT]``.
        first: Start of the frame *before* the first frame described (its mel spectrum gives the
            first frame's flux and chroma flux).
        count: Frames described.

    Returns:
        ``(descriptors (count, len(FRAME_NAMES)), chroma (count, 12) normalised to sum 1,
        loudness (count,) in dB)``.
    """
    import scipy.fft

    t = _tables()
    x = _frames(padded, first, count + 1).astype(np.float32)
    spec = scipy.fft.rfft(x * t["window"], axis=1, workers=1)
    power = (spec.real.astype(np.float64) ** 2 + spec.imag.astype(np.float64) ** 2)
    mag = np.sqrt(power)
    mel_db = 10.0 * np.log10(np.maximum(power @ t["mel"].T, 1e-10))
    flux = np.mean(np.maximum(mel_db[1:] - mel_db[:-1], 0.0), axis=1)
    chroma_all = power @ t["chroma"].T
    chroma_all /= np.maximum(chroma_all.sum(axis=1, keepdims=True), 1e-20)
    cflux = 0.5 * np.sum(np.abs(chroma_all[1:] - chroma_all[:-1]), axis=1)
    power, mag, mel_db, chroma, xs = power[1:], mag[1:], mel_db[1:], chroma_all[1:], x[1:]

    loud = 10.0 * np.log10(np.maximum(power @ t["a_weight"], 1e-10))
    rms = 10.0 * np.log10(np.maximum(np.mean(xs.astype(np.float64) ** 2, axis=1), 1e-10))
    freqs = t["freqs"]
    # spectral shape from the magnitude spectrum (as librosa's spectral features)
    p = mag / np.maximum(mag.sum(axis=1), 1e-20)[:, None]
    centroid = p @ freqs
    bandwidth = np.sqrt(np.maximum(p @ freqs**2 - centroid**2, 0.0))
    cum = np.cumsum(p, axis=1)
    rolloff = freqs[np.minimum(np.argmax(cum >= 0.85, axis=1), freqs.size - 1)]
    fb = power[:, t["flat_band"]] + 1e-12
    flat = 10.0 * (np.mean(np.log10(fb), axis=1) - np.log10(np.mean(fb, axis=1)))
    bright = p[:, freqs > 1500.0].sum(axis=1)
    bright4 = p[:, freqs > 4000.0].sum(axis=1)
    bass = p[:, freqs < 150.0].sum(axis=1)
    entropy = -np.sum(p * np.log(p + 1e-20), axis=1) / np.log(freqs.size)
    signs = np.signbit(xs)
    zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)
    rough, tonal = _roughness(mag, t)
    mfcc = mel_db @ t["dct"].T
    desc = np.column_stack([
        loud, rms, np.log2(np.maximum(centroid, 20.0)), np.log2(np.maximum(bandwidth, 20.0)),
        np.log2(np.maximum(rolloff, 20.0)), flat, bright, bright4, bass, zcr, flux, rough, tonal,
        entropy, cflux, mfcc])
    return desc, chroma, loud


# ---- the block rows ----------------------------------------------------------------------------


def _block_rows(desc: np.ndarray, chroma: np.ndarray, loud: np.ndarray, peaks: np.ndarray,
                acf: np.ndarray) -> np.ndarray:
    """One row of sufficient statistics per block (frames already grouped by block)."""
    active = (loud >= SILENT_DB).astype(np.float64)
    d = desc * active[:, None]
    hist_idx = np.clip(np.floor((loud - HIST_LOW_DB) / HIST_STEP_DB), 0, HIST_BINS - 1)
    hist = np.zeros(HIST_BINS)
    np.add.at(hist, hist_idx.astype(np.int64), 1.0)
    row = np.zeros(ROW_WIDTH)
    row[_N] = loud.size
    row[_NACT] = active.sum()
    row[_SUM] = d.sum(axis=0)
    row[_SQ] = (d * desc).sum(axis=0)
    row[_CHROMA] = (chroma * active[:, None]).sum(axis=0)
    row[_HIST] = hist
    row[_PEAKS] = peaks.sum()
    row[_ACF] = acf
    return row


def _envelope_stats(flux: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Onset peaks in ``flux[lo:hi]`` and the block's envelope autocorrelation.

    ``flux`` is the envelope buffer; it must reach ``_LOOKAHEAD`` frames past ``hi`` or to the
    end of the recording. Returns ``(peak flags (hi - lo,), acf (ACF_LAGS + 1,))``.
    """
    n = flux.size
    # local maxima above the local mean
    idx = np.arange(lo, hi)
    pad = np.concatenate([np.full(PEAK_HALF, -np.inf), flux, np.full(PEAK_HALF, -np.inf)])
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * PEAK_HALF + 1)[idx]
    mean = _window_mean(flux, idx, PEAK_MEAN_HALF)
    prev = np.where(idx > 0, flux[np.maximum(idx - 1, 0)], -np.inf)
    peaks = (flux[idx] >= win.max(axis=1)) & (flux[idx] > prev) & (
        flux[idx] > mean + PEAK_DELTA_DB)
    # autocorrelation of the detrended envelope over the block (zeros past the end)
    stop = min(hi + ACF_LAGS, n)
    j = np.arange(lo, stop)
    d = flux[j] - _window_mean(flux, j, DETREND_HALF)
    d = np.concatenate([d, np.zeros(hi + ACF_LAGS - stop)])
    m = hi - lo
    acf = np.array([float(d[:m] @ d[k: k + m]) for k in range(ACF_LAGS + 1)])
    return peaks.astype(np.float64), acf


def _window_mean(x: np.ndarray, idx: np.ndarray, half: int) -> np.ndarray:
    """Mean of ``x[i - half: i + half + 1]`` for each ``i`` in ``idx``, truncated at the ends of
    ``x`` (the buffer starts at least ``half`` before ``idx``, except at the recording's start,
    and ends ``half`` after it, except at the recording's end)."""
    c = np.concatenate([[0.0], np.cumsum(x)])
    lo = np.maximum(idx - half, 0)
    hi = np.minimum(idx + half + 1, x.size)
    return (c[hi] - c[lo]) / (hi - lo)


@dataclass(frozen=True, eq=False)
class SoundRows:
    """Block rows of a recording (or of a window of it): sufficient statistics of the sound.

    Attributes:
        rows: ``(blocks, ROW_WIDTH)`` float64, read-only; one row per :data:`BLOCK_FRAMES` STFT
            frames (the last block may be shorter).
        starts_s: Start of each block in seconds from the start of the recording.
        ends_s: End of each block.
        duration_s: Length of the recording.
    """

    rows: np.ndarray
    starts_s: np.ndarray
    ends_s: np.ndarray
    duration_s: float

    def __post_init__(self) -> None:
        rows = np.array(self.rows, dtype=np.float64)
        starts = np.array(self.starts_s, dtype=np.float64)
        ends = np.array(self.ends_s, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != ROW_WIDTH or rows.shape[0] == 0:
            raise ValueError(f"rows must be (blocks >= 1, {ROW_WIDTH}), got {rows.shape}")
        if starts.shape != (rows.shape[0],) or ends.shape != starts.shape:
            raise ValueError("starts_s and ends_s need one entry per row")
        if np.any(ends <= starts) or np.any(np.diff(starts) < 0):
            raise ValueError("blocks must be non-empty and in time order")
        if not np.all(np.isfinite(rows)):
            raise ValueError("rows must be finite")
        if self.duration_s < 0:
            raise ValueError("duration_s must be >= 0")
        for a in (rows, starts, ends):
            a.setflags(write=False)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "starts_s", starts)
        object.__setattr__(self, "ends_s", ends)

    @property
    def n_blocks(self) -> int:
        """Number of block rows."""
        return int(self.rows.shape[0])

    def window(self, start_s: float, end_s: float) -> SoundRows:
        """The blocks of a section: those whose centre lies in ``[start_s, end_s)``, or the block
        nearest to the section's middle when none does (as :meth:`TagResult.window`).

        Raises:
            InputError: ``end_s <= start_s``.
        """
        if not end_s > start_s:
            raise InputError(f"section end ({end_s} s) must come after its start ({start_s} s)")
        centres = 0.5 * (self.starts_s + self.ends_s)
        keep = np.flatnonzero((centres >= start_s) & (centres < end_s))
        if keep.size == 0:
            keep = np.array([int(np.argmin(np.abs(centres - (start_s + end_s) / 2)))])
        return SoundRows(self.rows[keep], self.starts_s[keep], self.ends_s[keep],
                         self.duration_s)

    def describe(self) -> np.ndarray:
        """The pooled sound descriptors, ordered as :data:`SOUND_NAMES` (float64)."""
        return _describe(self.rows)


def _describe(rows: np.ndarray) -> np.ndarray:
    tot = rows.sum(axis=0)
    n_all = max(tot[_N], 1.0)
    n_act = tot[_NACT]
    if n_act > 0:
        mean = tot[_SUM] / n_act
        std = np.sqrt(np.maximum(tot[_SQ] / n_act - mean**2, 0.0))
    else:
        mean = np.zeros(_NF)
        mean[0] = mean[1] = HIST_LOW_DB
        std = np.zeros(_NF)
    # loudness from the histogram (bin centres), dynamics across blocks
    hist = tot[_HIST]
    centres = HIST_LOW_DB + HIST_STEP_DB * (np.arange(HIST_BINS) + 0.5)
    cdf = np.cumsum(hist) / max(hist.sum(), 1.0)

    def pct(q: float) -> float:
        return float(centres[min(int(np.searchsorted(cdf, q)), HIST_BINS - 1)])

    mean_level = float(hist @ centres / max(hist.sum(), 1.0))
    low_energy = float(hist[centres < mean_level].sum() / max(hist.sum(), 1.0))
    n_blk = np.maximum(rows[:, _NACT], 1.0)
    blk_loud = np.where(rows[:, _NACT] > 0, rows[:, _SUM.start] / n_blk, HIST_LOW_DB)
    if rows.shape[0] > 1:
        blk_std = float(blk_loud.std())
        pos = np.linspace(-0.5, 0.5, rows.shape[0])
        blk_slope = float(np.polyfit(pos, blk_loud, 1)[0])
    else:
        blk_std = blk_slope = 0.0
    loudness = [pct(0.10), pct(0.50), pct(0.90), pct(0.95) - pct(0.10), low_energy,
                1.0 - n_act / n_all, blk_std, blk_slope]
    # tonality from the pooled chroma
    chroma = tot[_CHROMA]
    if chroma.sum() > 0 and chroma.std() > 0:
        c = chroma / chroma.sum()
        z = (c - c.mean()) / c.std()
        fits = _key_profiles() @ z / 12.0
        best = int(np.argmax(fits))
        major, minor = float(fits[:12].max()), float(fits[12:].max())
        rel = np.roll(c, -(best % 12))
        ent = float(-(c[c > 0] * np.log2(c[c > 0])).sum() / np.log2(12))
        tonal = [major, minor, major - minor, float(fits[best]), ent, *rel]
    else:
        tonal = [0.0, 0.0, 0.0, 0.0, 1.0, *np.full(12, 1 / 12)]
    # rhythm: onset rate, pulse clarity and tempo from the pooled autocorrelation
    acf = tot[_ACF]
    fps = SAMPLE_RATE_HZ / HOP
    onset_rate = tot[_PEAKS] / (n_all / fps)
    lag_lo = int(np.floor(60.0 * fps / TEMPO_MAX_BPM))
    lag_hi = min(int(np.ceil(60.0 * fps / TEMPO_MIN_BPM)), ACF_LAGS)
    if acf[0] > 0:
        norm = acf / acf[0]
        lags = np.arange(lag_lo, lag_hi + 1)
        bpm = 60.0 * fps / lags
        prior = np.exp(-0.5 * (np.log2(bpm / 120.0)) ** 2)
        k = int(lags[np.argmax(norm[lags] * prior)])
        pulse = float(norm[lags].max())
        tempo = float(np.log2(60.0 * fps / k / 120.0))
        half = float(norm[k // 2]) if k // 2 >= 1 else 0.0
        double = float(norm[2 * k]) if 2 * k <= ACF_LAGS else 0.0
    else:
        pulse, tempo, half, double = 0.0, 0.0, 0.0, 0.0
    rhythm = [onset_rate, pulse, tempo, half, double]
    vec = np.concatenate([mean, std, loudness, tonal, rhythm])
    if vec.shape[0] != len(SOUND_NAMES):  # pragma: no cover - guards edits to this module
        raise AssertionError("sound descriptors and SOUND_NAMES disagree")
    return np.nan_to_num(vec, nan=0.0, posinf=0.0, neginf=0.0)


class AudioMoodStream:
    """Sound descriptors of a recording fed as the analysis pass's segments, in bounded memory.

    Example::

        stream = AudioMoodStream()
        for seg in iter_segments(...):      # the pass's Segments, in order
            stream.feed(seg)
        rows = stream.result()              # SoundRows; rows.window(a, b).describe()

    Each call describes the STFT frames centred in the segment's core (frame ``j`` is centred
    on sample ``j * 512``), using the segment's context for the frames near its edges, so the
    result does not depend on where segments are cut. Between calls it keeps the block rows
    (1.6 kB per 2 s), and the frame descriptors (28 numbers a frame) and onset envelope of the
    frames not yet in a row: at most one segment's frames plus about 220 (a block and the
    envelope's look-ahead). Within a call, frames are described 128 at a time.
    """

    def __init__(self, *, sr: int = SAMPLE_RATE_HZ) -> None:
        """Set up a stream for ``sr`` Hz segments (the pass's rate, 22050 Hz).

        Raises:
            InputError: another sample rate.
        """
        if sr != SAMPLE_RATE_HZ:
            raise InputError(f"AudioMoodStream expects {SAMPLE_RATE_HZ} Hz audio, got {sr} Hz")
        self.sr = sr
        self._next_frame = 0  # absolute index of the next frame to describe
        self._n_samples = 0  # end of the last core fed (samples)
        self._desc = np.zeros((0, _NF))
        self._chroma = np.zeros((0, 12))
        self._loud = np.zeros(0)
        self._flux = np.zeros(0)
        self._flux_start = 0  # absolute frame index of self._flux[0]
        self._buf_start = 0  # absolute frame index of self._desc[0]
        self._rows: list[np.ndarray] = []
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._result: SoundRows | None = None

    @property
    def duration_s(self) -> float:
        """Seconds of audio fed so far."""
        return self._n_samples / self.sr

    def feed(self, segment: Segment) -> None:
        """Describe the next segment (its core must follow the previous one's).

        Raises:
            InputError: a segment at another rate, out of order, or fed after :meth:`result`.
        """
        if self._result is not None:
            raise InputError("this AudioMoodStream is finished: result() was already called")
        if segment.sr != self.sr:
            raise InputError(f"segment at {segment.sr} Hz, expected {self.sr} Hz")
        start = int(round(segment.start_s * self.sr))
        core_start = int(round(segment.core_start_s * self.sr))
        core_end = int(round(segment.core_end_s * self.sr))
        if core_start != self._n_samples:
            raise InputError(f"segment core starts at sample {core_start}, expected "
                             f"{self._n_samples} (segments must be fed in order)")
        samples = np.asarray(segment.samples, dtype=np.float32)
        if samples.ndim != 1 or start > core_start or start + samples.size < core_end:
            raise InputError("segment samples do not cover its core")
        self._n_samples = core_end
        j0 = self._next_frame
        j1 = -(-core_end // HOP)  # frames centred before core_end
        if j1 <= j0:
            return
        # frame j covers samples [j*HOP - N_FFT/2, j*HOP + N_FFT/2); one frame before j0 too
        half = N_FFT // 2
        lo = (j0 - 1) * HOP - half
        hi = (j1 - 1) * HOP + half
        buf = np.zeros(hi - lo, dtype=np.float32)
        a, b = max(lo, start), min(hi, start + samples.size)
        if b > a:
            buf[a - lo: b - lo] = samples[a - start: b - start]
        # in chunks of frames: twice as fast as one batch (cache), and a small working set
        for c in range(0, j1 - j0, CHUNK_FRAMES):
            desc, chroma, loud = frame_descriptors(buf, c * HOP, min(CHUNK_FRAMES, j1 - j0 - c))
            if j0 + c == 0:  # no frame precedes the first: no flux
                desc[0, FRAME_NAMES.index("flux_db")] = 0.0
                desc[0, FRAME_NAMES.index("chroma_flux")] = 0.0
            self._append(desc, chroma, loud)
        self._next_frame = j1
        self._emit(final=False)

    def _append(self, desc: np.ndarray, chroma: np.ndarray, loud: np.ndarray) -> None:
        self._pending.append((desc, chroma, loud))

    def _collect(self) -> None:
        """Join the chunks described since the last call onto the frame buffers."""
        if not self._pending:
            return
        descs, chromas, louds = zip(*self._pending, strict=True)
        self._pending = []
        self._desc = np.concatenate([self._desc, *descs])
        self._chroma = np.concatenate([self._chroma, *chromas])
        self._loud = np.concatenate([self._loud, *louds])
        self._flux = np.concatenate([self._flux,
                                     *(d[:, FRAME_NAMES.index("flux_db")] for d in descs)])

    def _emit(self, *, final: bool) -> None:
        """Turn every block that has enough frames after it into a row."""
        self._collect()
        n_frames = self._next_frame
        while True:
            b0 = len(self._rows) * BLOCK_FRAMES
            b1 = min(b0 + BLOCK_FRAMES, n_frames)
            if b1 <= b0:
                break
            if not final and b0 + BLOCK_FRAMES + _LOOKAHEAD > n_frames:
                break
            lo, hi = b0 - self._buf_start, b1 - self._buf_start
            f0 = self._flux_start
            peaks, acf = _envelope_stats(self._flux, b0 - f0, b1 - f0)
            self._rows.append(_block_rows(self._desc[lo:hi], self._chroma[lo:hi],
                                          self._loud[lo:hi], peaks, acf))
            # drop what no later block needs
            nb = b1 - self._buf_start
            self._desc, self._chroma, self._loud = (self._desc[nb:], self._chroma[nb:],
                                                    self._loud[nb:])
            self._buf_start = b1
            keep_from = max(b1 - max(DETREND_HALF, PEAK_MEAN_HALF, PEAK_HALF), 0)
            if keep_from > self._flux_start:
                self._flux = self._flux[keep_from - self._flux_start:]
                self._flux_start = keep_from

    def result(self) -> SoundRows:
        """Finish the stream and return its block rows (idempotent).

        Raises:
            InputError: nothing (or less than one frame) was fed.
        """
        if self._result is not None:
            return self._result
        if self._next_frame == 0:
            raise InputError("no audio was fed to the sound descriptors")
        self._emit(final=True)
        n = len(self._rows)
        frames = self._next_frame
        starts = np.arange(n) * BLOCK_FRAMES * HOP / self.sr
        ends = np.minimum((np.arange(n) + 1) * BLOCK_FRAMES, frames) * HOP / self.sr
        self._result = SoundRows(np.stack(self._rows), starts, ends, self.duration_s)
        self._desc = np.zeros((0, _NF))
        self._flux = np.zeros(0)
        return self._result


def sound_rows(samples: np.ndarray, sr: int = SAMPLE_RATE_HZ) -> SoundRows:
    """Block rows of a whole clip at once (one segment covering everything).

    Raises:
        InputError: not mono 22050 Hz audio, or empty.
    """
    from midi2img.audio import Segment

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1 or x.size == 0:
        raise InputError("expected a non-empty mono clip")
    stream = AudioMoodStream(sr=sr)
    stream.feed(Segment(0.0, 0.0, x.size / sr, x, sr))
    return stream.result()


# ---- the model input ---------------------------------------------------------------------------


def tag_names(tags: TagResult) -> tuple[str, ...]:
    """``tagger:tag`` names of a tag result's columns, taggers in :data:`TAGGERS` order."""
    from midi2img.tagger import TAGGERS

    return tuple(f"{name}:{t}" for name in TAGGERS for t in tags.tags[name])


def affect_feature_names(tags: TagResult | None = None) -> tuple[str, ...]:
    """Names of :func:`affect_features`' columns (the tag columns from the shipped taggers'
    cards when ``tags`` is None)."""
    if tags is None:
        from midi2img.tagger import TAGGERS, model_card

        card = model_card()
        names = tuple(f"{n}:{t}" for n in TAGGERS for t in card["models"][f"{n}_musicnn"]["tags"])
    else:
        names = tag_names(tags)
    return SOUND_NAMES + names


def affect_features(sound: SoundRows, tags: TagResult, *, start_s: float | None = None,
                    end_s: float | None = None) -> np.ndarray:
    """The affect model's input for a recording or for ``[start_s, end_s)`` of it.

    Args:
        sound: :meth:`AudioMoodStream.result` of the recording.
        tags: The taggers' :class:`~midi2img.tagger.TagResult` of the same recording.
        start_s: Start of the section (None: the whole recording).
        end_s: End of the section (None: the whole recording).

    Returns:
        float64 vector ordered as :func:`affect_feature_names`: the pooled sound descriptors
        (:data:`SOUND_NAMES`) then the mean probability of every MSD and MTT tag.

    Raises:
        InputError: only one of ``start_s``/``end_s`` given, or ``end_s <= start_s``.
    """
    from midi2img.tagger import TAGGERS

    if (start_s is None) != (end_s is None):
        raise InputError("give both start_s and end_s, or neither")
    if start_s is not None and end_s is not None:
        sound = sound.window(start_s, end_s)
        tags = tags.window(start_s, end_s)
    probs = [tags.probabilities[name].astype(np.float64).mean(axis=0) for name in TAGGERS]
    return np.concatenate([sound.describe(), *probs])


def iter_clip_segments(path: str | Path) -> Iterator[Segment]:
    """A recording's segments exactly as the analysis pass cuts them."""
    from midi2img.audio import iter_blocks, iter_segments, probe
    from midi2img.constants import SEGMENT_PAD_SAMPLES, SEGMENT_SAMPLES

    return iter_segments(iter_blocks(probe(path)), core_samples=SEGMENT_SAMPLES,
                         pad_samples=SEGMENT_PAD_SAMPLES)


def describe_file(path: str | Path, *, segments: Iterable[Segment] | None = None
                  ) -> tuple[SoundRows, TagResult]:
    """Sound rows and tags of a recording, computed as the analysis pass computes them.

    Raises:
        InputError: the file cannot be decoded.
    """
    from midi2img.tagger import TagStream

    sound, tagger = AudioMoodStream(), TagStream()
    for seg in segments if segments is not None else iter_clip_segments(path):
        sound.feed(seg)
        tagger.feed(seg.core)
    return sound.result(), tagger.result()
