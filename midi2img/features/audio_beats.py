"""Beats, downbeats and meter of a recording: madmom's downbeat networks and bar DBN in numpy.

The recogniser is Böck, Krebs & Widmer's (ISMIR 2016) as madmom ships it
(``RNNDownBeatProcessor`` + ``DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)``):

- :class:`BeatFrontEnd` is madmom's front end at midi2img's 22050 Hz decode: three STFTs
  (Hann frames of 512/1024/2048 samples, the 1024/2048/4096 of madmom at 44.1 kHz, so the same
  43 Hz bins), 100 frames per second with frame ``i`` centred on sample ``floor(i * 220.5)``
  (madmom's ``signal_frame``: ``int(index * hop_size)``, frame from ``centre - size // 2``),
  magnitudes times 2 (half the frame at half the rate sums half the samples), logarithmic
  filterbanks (3/6/12 bands per octave, 30-17000 Hz, normalised; bands above 11025 Hz are zero,
  as madmom sees a 22050 Hz recording), ``log10(1 + x)``, and the positive difference to the
  frame 1/1/2 frames before; 314 values per frame.
- :class:`BeatModel` holds the eight bidirectional LSTMs (``downbeats_blstm_{1..8}.onnx``, run
  with onnxruntime) and :func:`downbeat_activations` averages their beat and downbeat outputs.
- :func:`track_downbeats` is madmom's bar-pointer DBN (Krebs, Böck & Widmer, ISMIR 2015): one
  HMM per bar length, each decoded with Viterbi, the likelier one wins; beats are moved to the
  activation peak of each beat region (madmom's ``correct=True``).
- :func:`beat_track` gives the result, a :class:`~midi2img.features.rhythm.BeatTrack`: beat
  times, downbeats, meter; the tempo follows from the beats.

madmom's models are CC BY-NC-SA 4.0 (``models/madmom``). Nothing here imports madmom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from midi2img.audio import Segment
from midi2img.errors import InputError, ModelError
from midi2img.features.madmom_models import (
    log_filtered,
    onnx_session,
    verified_bytes,
    verified_npz,
)
from midi2img.features.rhythm import MIN_BEATS, BeatTrack

#: The networks, in madmom's order; :meth:`BeatModel.load` takes the first ``nets`` of them.
NET_FILES = tuple(f"downbeats_blstm_{i}.onnx" for i in range(1, 9))
#: Filterbanks and settings of the front end (written by tools/export_madmom_beats.py).
FRONTEND_FILE = "downbeats_frontend.npz"
#: Feature values per frame (the networks' input width).
N_FEATURES = 314
_LSTM_WIDTH = 25


@dataclass(frozen=True, eq=False)
class FrontEndSpec:
    """madmom's downbeat front end at midi2img's rate, as read from ``downbeats_frontend.npz``.

    Attributes:
        sample_rate_hz: Rate of the samples it takes (22050).
        fps: Frames per second (100).
        frame_sizes: Samples per frame of each resolution (512, 1024, 2048).
        diff_frames: Frames back of each resolution's spectral difference (1, 1, 2).
        filterbanks: One (frame_size // 2, bands) float32 matrix per resolution.
        magnitude_scale: Factor on ``|rfft|`` (2: madmom's magnitudes at 44.1 kHz).
        log_mul: ``log10(log_mul * x + log_add)``.
        log_add: See ``log_mul``.
    """

    sample_rate_hz: int
    fps: int
    frame_sizes: tuple[int, ...]
    diff_frames: tuple[int, ...]
    filterbanks: tuple[np.ndarray, ...]
    magnitude_scale: float
    log_mul: float
    log_add: float

    @classmethod
    def load(cls, folder: Path) -> FrontEndSpec:
        """Read the front end file in ``folder``.

        Raises:
            ModelError: the file is missing, unreadable or inconsistent.
        """
        path = folder / FRONTEND_FILE
        try:
            d = verified_npz(folder, FRONTEND_FILE)
            n = 3
            spec = cls(
                sample_rate_hz=int(d["sample_rate_hz"]), fps=int(d["fps"]),
                frame_sizes=tuple(int(d[f"frame_size_{k}"]) for k in range(n)),
                diff_frames=tuple(int(d[f"diff_frames_{k}"]) for k in range(n)),
                filterbanks=tuple(np.ascontiguousarray(d[f"filterbank_{k}"],
                                                       dtype=np.float32) for k in range(n)),
                magnitude_scale=float(d["magnitude_scale"]), log_mul=float(d["log_mul"]),
                log_add=float(d["log_add"]))
        except (ModelError, KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"cannot read the downbeat front end {path} ({exc})") from exc
        bands = sum(fb.shape[1] for fb in spec.filterbanks)
        shapes_ok = all(fb.shape[0] == size // 2
                        for fb, size in zip(spec.filterbanks, spec.frame_sizes, strict=True))
        if 2 * bands != N_FEATURES or not shapes_ok:
            raise ModelError(f"the downbeat front end {path} gives {2 * bands} features per "
                             f"frame, the networks take {N_FEATURES}")
        return spec

    @property
    def hop(self) -> float:
        """Samples per frame hop (220.5 at 22050 Hz)."""
        return self.sample_rate_hz / self.fps


class BeatModel:
    """The downbeat networks (the first ``nets`` of madmom's eight) and their front end."""

    def __init__(self, frontend: FrontEndSpec, sessions: Sequence[object]) -> None:
        self.frontend = frontend
        self._sessions = list(sessions)

    @property
    def nets(self) -> int:
        """Number of networks averaged."""
        return len(self._sessions)

    @classmethod
    def load(cls, folder: Path, nets: int) -> BeatModel:
        """Load the front end and the first ``nets`` networks from ``folder``.

        Raises:
            ModelError: a file is missing or broken.
            InputError: ``nets`` is not 1..8.
        """
        if not 1 <= nets <= len(NET_FILES):
            raise InputError(f"nets={nets}: madmom's downbeat ensemble has 1 to "
                             f"{len(NET_FILES)} networks")
        folder = Path(folder)
        if not folder.is_dir():
            raise ModelError(f"the downbeat model folder {folder} does not exist")
        frontend = FrontEndSpec.load(folder)
        sessions = []
        for name in NET_FILES[:nets]:
            try:
                # no memory arena: each network's buffers go when its run ends (an arena per
                # session kept 8 x 55 MB for a 4-minute song, growing with the length)
                sessions.append(onnx_session(verified_bytes(folder, name), arena=False))
            except ModelError as exc:
                raise ModelError(f"cannot load the downbeat network {folder / name} ({exc})"
                                 ) from exc
        return cls(frontend, sessions)

    def run(self, features: np.ndarray) -> list[np.ndarray]:
        """Each network's (frames, 3) softmax output: no beat, beat, downbeat."""
        x = np.ascontiguousarray(features, dtype=np.float32)
        outs = []
        for sess in self._sessions:
            feeds: dict[str, np.ndarray] = {}
            for inp in sess.get_inputs():  # type: ignore[attr-defined]
                feeds[inp.name] = x if inp.name == "input" else np.zeros(_LSTM_WIDTH,
                                                                         np.float32)
            out = sess.run([sess.get_outputs()[0].name], feeds)[0]  # type: ignore[attr-defined]
            outs.append(np.asarray(out, dtype=np.float32).reshape(len(x), 3))
        return outs


class BeatFrontEnd:
    """madmom's downbeat features, streamed: feed the segments in order, then read them.

    Each segment contributes the frames centred in its core (frame ``i`` at ``i / fps`` s,
    sample ``floor(i * hop)``), computed with its padding as context; the concatenation equals
    the whole-signal computation (for pads of at least ``frame_size // 2 + 2 * hop`` samples).
    """

    def __init__(self, spec: FrontEndSpec) -> None:
        self.spec = spec
        self._parts: list[np.ndarray] = []
        self._next = 0  # the next frame expected

    def _first_frame(self, sample: int) -> int:
        """Index of the first frame whose centre is at or after ``sample``."""
        sr, fps = self.spec.sample_rate_hz, self.spec.fps
        return -(-sample * fps // sr)  # ceil(sample / hop), hop = sr / fps

    def _centres(self, frames: np.ndarray) -> np.ndarray:
        return (frames * self.spec.sample_rate_hz) // self.spec.fps

    def feed(self, segment: Segment) -> None:
        """Add the frames of ``segment``'s core.

        Raises:
            InputError: the segment is at another rate or out of order.
        """
        spec = self.spec
        if segment.sr != spec.sample_rate_hz:
            raise InputError(f"the downbeat front end takes {spec.sample_rate_hz} Hz audio, "
                             f"got {segment.sr} Hz")
        s0 = int(round(segment.start_s * segment.sr))
        cs = int(round(segment.core_start_s * segment.sr))
        ce = int(round(segment.core_end_s * segment.sr))
        i0, i1 = self._first_frame(cs), self._first_frame(ce)
        if i0 != self._next:
            raise InputError(f"downbeat front end: segment at {segment.core_start_s:.3f} s "
                             f"out of order")
        self._next = i1
        if i1 > i0:
            self._parts.append(self._frames(segment.samples, s0, i0, i1))

    def _frames(self, samples: np.ndarray, s0: int, i0: int, i1: int) -> np.ndarray:
        """Features of frames ``i0 .. i1 - 1`` from ``samples`` (sample 0 at ``s0``), zeros
        beyond them."""
        spec = self.spec
        x = np.asarray(samples, dtype=np.float32)
        out = []
        for size, diff, fb in zip(spec.frame_sizes, spec.diff_frames, spec.filterbanks,
                                  strict=True):
            j0 = max(0, i0 - diff)
            spec_j = self._log_spec(x, s0, j0, i1, size, fb)
            cur = spec_j[i0 - j0:]
            d = np.zeros_like(cur)
            idx = np.arange(i0, i1)
            has_prev = idx - diff >= 0
            d[has_prev] = np.maximum(cur[has_prev] - spec_j[idx[has_prev] - diff - j0], 0.0)
            out.extend([cur, d])
        return np.hstack(out).astype(np.float32, copy=False)

    def _log_spec(self, x: np.ndarray, s0: int, j0: int, j1: int, size: int, fb: np.ndarray
                  ) -> np.ndarray:
        spec = self.spec
        starts = self._centres(np.arange(j0, j1)) - size // 2 - s0
        lo = int(max(0, -starts.min())) if starts.size else 0
        hi = int(max(0, starts.max() + size - x.size)) if starts.size else 0
        xp = np.pad(x, (lo, hi)) if lo or hi else x
        frames = np.lib.stride_tricks.sliding_window_view(xp, size)[starts + lo]
        return log_filtered(frames, fb, magnitude_scale=spec.magnitude_scale,
                            mul=spec.log_mul, add=spec.log_add)

    def features(self) -> np.ndarray:
        """The (frames, 314) float32 features of everything fed so far."""
        if not self._parts:
            return np.zeros((0, N_FEATURES), np.float32)
        return np.concatenate(self._parts)


def downbeat_activations(features: np.ndarray, model: BeatModel) -> np.ndarray:
    """(frames, 2) float32 beat and downbeat activations: the networks' outputs averaged (as
    madmom's ensemble does), the no-beat column dropped."""
    if len(features) == 0:
        return np.zeros((0, 2), np.float32)
    outs = model.run(features)
    mean = outs[0] if len(outs) == 1 else (sum(outs[1:], outs[0]) / len(outs))
    return np.ascontiguousarray(np.asarray(mean, dtype=np.float32)[:, 1:])


# ---------------------------------------------------------------------------------------------
# The bar-pointer DBN (madmom.features.beats_hmm + madmom.ml.hmm's Viterbi), in numpy.


def beat_intervals(min_interval: float, max_interval: float, num_intervals: int | None
                   ) -> np.ndarray:
    """The beat intervals (frames) the HMM models: madmom's ``BeatStateSpace`` intervals."""
    intervals = np.arange(np.round(min_interval), np.round(max_interval) + 1)
    if num_intervals is not None and num_intervals < len(intervals):
        n = num_intervals
        found = np.zeros(0)
        while len(found) < num_intervals:
            found = np.unique(np.round(np.logspace(np.log2(min_interval), np.log2(max_interval),
                                                   n, base=2)))
            n += 1
        intervals = found
    return np.ascontiguousarray(intervals, dtype=int)


def exponential_transition(from_int: np.ndarray, to_int: np.ndarray, transition_lambda: float
                           ) -> np.ndarray:
    """madmom's tempo-change probabilities between beat intervals (rows sum to 1)."""
    ratio = to_int.astype(float) / from_int.astype(float)[:, np.newaxis]
    prob = np.exp(-transition_lambda * abs(ratio - 1.0))
    prob[prob <= np.spacing(1)] = 0
    return prob / np.sum(prob, axis=1)[:, np.newaxis]


@dataclass(frozen=True, eq=False)
class BarHMM:
    """One bar length's HMM, in the sparse form the Viterbi below uses.

    Within a beat every state has one predecessor (the state before it); the first state of
    each beat is entered from the last states of the previous beat (any tempo), with
    ``log_trans[from, to]``.

    Attributes:
        beats: Beats per bar.
        positions: Position of each state in the bar (0 .. beats).
        pointers: Observation column of each state (0 no beat, 1 beat, 2 downbeat).
        first: (beats, intervals) first state of each beat and tempo.
        last: (beats, intervals) last state of each beat and tempo.
        log_trans: (intervals, intervals) log tempo-transition probabilities.
        observation_lambda: madmom's ``observation_lambda``.
    """

    beats: int
    positions: np.ndarray
    pointers: np.ndarray
    first: np.ndarray
    last: np.ndarray
    log_trans: np.ndarray
    observation_lambda: int
    first_beat: np.ndarray = field(repr=False)  # beat of each state if it is a first state
    first_index: np.ndarray = field(repr=False)  # its tempo index (-1 elsewhere)

    @classmethod
    def build(cls, beats: int, min_interval: float, max_interval: float, num_tempi: int | None,
              transition_lambda: float, observation_lambda: int) -> BarHMM:
        """madmom's ``BarStateSpace``, ``BarTransitionModel`` and
        ``RNNDownBeatTrackingObservationModel``."""
        iv = beat_intervals(min_interval, max_interval, num_tempi)
        per_beat = int(iv.sum())
        first0 = np.cumsum(np.r_[0, iv[:-1]])
        last0 = np.cumsum(iv) - 1
        pos0 = np.concatenate([np.linspace(0, 1, i, endpoint=False) for i in iv])
        positions = np.concatenate([pos0 + b for b in range(beats)])
        first = np.stack([first0 + b * per_beat for b in range(beats)])
        last = np.stack([last0 + b * per_beat for b in range(beats)])
        with np.errstate(divide="ignore"):
            log_trans = np.log(exponential_transition(iv, iv, transition_lambda))
        border = 1.0 / observation_lambda
        pointers = np.zeros(len(positions), dtype=np.intp)
        pointers[positions % 1 < border] = 1
        pointers[positions < border] = 2
        first_beat = np.full(len(positions), -1, dtype=np.intp)
        first_index = np.full(len(positions), -1, dtype=np.intp)
        for b in range(beats):
            first_beat[first[b]] = b
            first_index[first[b]] = np.arange(len(iv))
        return cls(beats, positions, pointers, first, last, log_trans, observation_lambda,
                   first_beat, first_index)

    @property
    def num_states(self) -> int:
        """Number of states."""
        return len(self.positions)

    def log_densities(self, act: np.ndarray) -> np.ndarray:
        """(frames, 3) observation log densities: no beat, beat, downbeat (madmom's, in the
        activations' own precision)."""
        ld = np.empty((len(act), 3), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ld[:, 0] = np.log((1.0 - np.sum(act, axis=1)) / (self.observation_lambda - 1))
            ld[:, 1] = np.log(act[:, 0])
            ld[:, 2] = np.log(act[:, 1])
        return ld

    def viterbi_stepwise(self, act: np.ndarray) -> tuple[np.ndarray, float]:
        """Best state path and its log probability (uniform initial distribution), frame by
        frame over every state, summing in madmom's order (the reference for :meth:`viterbi`).

        Ties go to the lowest predecessor state, as in madmom's Viterbi.
        """
        ld = self.log_densities(act)
        n, s = len(act), self.num_states
        prev_last = np.roll(self.last, 1, axis=0)  # beat b is entered from beat b - 1
        first_flat = self.first.ravel()
        prev = np.full(s, np.log(1.0 / s))
        cur = np.empty(s)
        dens = np.empty(s)
        # the scores of the last states of each frame's predecessor: enough to find the best
        # predecessor of a first state again when the path goes through it
        entering = np.empty((n, self.beats, self.first.shape[1]))
        for t in range(n):
            cur[1:] = prev[:-1]
            enter = np.take(prev, prev_last, out=entering[t])
            cur[first_flat] = (enter[:, :, np.newaxis] + self.log_trans).max(axis=1).ravel()
            cur += np.take(ld[t], self.pointers, out=dens)
            prev, cur = cur, prev
        state = int(np.argmax(prev))
        log_p = float(prev[state])
        if not np.isfinite(log_p):
            return np.zeros(0, dtype=np.intp), log_p
        path = np.empty(n, dtype=np.intp)
        for t in range(n - 1, -1, -1):
            path[t] = state
            b = self.first_beat[state]
            if b < 0:
                state -= 1
            else:
                j = self.first_index[state]
                state = int(prev_last[b, np.argmax(entering[t, b] + self.log_trans[:, j])])
        return path, log_p

    def viterbi(self, act: np.ndarray) -> tuple[np.ndarray, float]:
        """Best state path and its log probability: the same decoding as
        :meth:`viterbi_stepwise`, on the first and last states of each beat only.

        Inside a beat the path can only step to the next state, so the score of a beat's last
        state is the score its first state had ``interval - 1`` frames before plus the
        observation densities in between (sums of cumulative sums). Only the entries into a
        beat (a max over the previous beat's tempi) are recursive, and since no beat is
        shorter than ``min(intervals)`` frames, they are computed that many frames at a time.
        Scores agree with the stepwise decoding up to the order of the float sums.
        """
        ld = self.log_densities(act)
        n = len(act)
        nb, ni = self.first.shape
        iv = self.last[0] - self.first[0] + 1  # (intervals,)
        k = np.array([[int(np.sum(self.pointers[f:f + int(i)] >= 1)) for f, i in zip(fb, iv,
                                                                                      strict=True)]
                      for fb in self.first])  # beat-range length of each chain (beats, ints)
        col = np.where(np.arange(nb) == 0, 2, 1)  # density column of each beat's beat range
        init = np.log(1.0 / self.num_states)
        csum, cinf = _cumulative(ld)

        def wsum(c: np.ndarray, a: np.ndarray, e: np.ndarray) -> np.ndarray:
            """Sum of column ``c`` of the log densities over frames [a, e)."""
            out = csum[e, c] - csum[a, c]
            return np.where(cinf[e, c] - cinf[a, c] > 0, -np.inf, out)

        p = (iv - 1)[None, None, :]
        c = col[None, :, None]

        def base_rows(t0: int, t1: int) -> tuple[np.ndarray, np.ndarray]:
            """For frames [t0, t1): whether each chain can have been entered, and the score of
            its last state before adding its entry score (computed a block at a time, so
            memory does not grow with the recording's length)."""
            t = np.arange(t0, t1)[:, None, None]
            te = t - p  # frame the chain was entered at
            entered = te >= 0
            tec = np.maximum(te, 0)
            m = np.minimum(tec + np.minimum(k[None], p + 1), t + 1)
            tail = wsum(c, np.minimum(tec + 1, m), m) + wsum(np.zeros_like(c), m, t + 1)
            mi = np.clip(k[None] - p + t, 0, t + 1)
            head = init + wsum(c, np.zeros_like(mi), mi) + wsum(np.zeros_like(c), mi, t + 1)
            return entered, np.where(entered, tail, head)  # (block, beats, intervals)
        # banded tempo transitions: for each target tempo, the source tempi it can come from
        finite = np.isfinite(self.log_trans)
        lo = np.argmax(finite, axis=0)
        width = int(np.max(ni - lo - np.argmax(finite[::-1], axis=0)))
        jidx = np.minimum(lo[:, None] + np.arange(width)[None, :], ni - 1)  # (to, width)
        band = np.take_along_axis(self.log_trans.T, jidx, axis=1)  # (to, width)
        band[lo[:, None] + np.arange(width)[None, :] >= ni] = -np.inf
        prev_beat = (np.arange(nb) - 1) % nb
        last = np.empty((n + 1, nb, ni))  # last[t + 1]: last states' scores at frame t
        last[0] = init
        enter = np.empty((n, nb, ni))  # first states' scores at frame t
        step = max(1, int(iv.min()) - 1)
        bi = np.arange(nb)[:, None]
        ii = np.arange(ni)[None, :]
        for t0 in range(0, n, step):
            t1 = min(n, t0 + step)
            rows = np.arange(t0, t1)[:, None, None]
            lag = np.maximum(rows - (iv - 1)[None, None, :], 0)
            entered, base = base_rows(t0, t1)
            last[t0 + 1:t1 + 1] = np.where(entered, enter[lag, bi, ii], 0.0) + base
            src = last[t0:t1][:, prev_beat]  # (block, beats, from)
            cand = src[:, :, jidx] + band  # (block, beats, to, width)
            enter[t0:t1] = cand.max(axis=3) + ld[t0:t1][:, col, None]
        # every state's score at the last frame
        tl = n - 1
        chain_b = np.repeat(np.arange(nb), ni)
        chain_i = np.tile(np.arange(ni), nb)
        sb = np.repeat(chain_b, np.tile(iv, nb))
        si = np.repeat(chain_i, np.tile(iv, nb))
        sp = np.concatenate([np.arange(int(iv[i])) for i in chain_i])
        ks, cs = k[sb, si], col[sb]
        te_s = tl - sp
        tec_s = np.maximum(te_s, 0)
        ms = np.minimum(tec_s + np.minimum(ks, sp + 1), n)
        ent = enter[tec_s, sb, si] + wsum(cs, np.minimum(tec_s + 1, ms), ms) + wsum(
            np.zeros_like(cs), ms, np.full_like(ms, n))
        mis = np.clip(ks - sp + tl, 0, n)
        hd = init + wsum(cs, np.zeros_like(mis), mis) + wsum(np.zeros_like(cs), mis,
                                                             np.full_like(mis, n))
        final = np.where(te_s >= 0, ent, hd)
        state = int(np.argmax(final))
        log_p = float(final[state])
        if not np.isfinite(log_p):
            return np.zeros(0, dtype=np.intp), log_p
        path = np.empty(n, dtype=np.intp)
        b, i, pos, t_end = int(sb[state]), int(si[state]), int(sp[state]), tl
        while True:
            f = int(self.first[b, i])
            t_start = t_end - pos
            if t_start <= 0:
                path[: t_end + 1] = f + np.arange(pos - t_end, pos + 1)
                break
            path[t_start: t_end + 1] = f + np.arange(pos + 1)
            pb = int(prev_beat[b])
            j = int(np.argmax(last[t_start, pb] + self.log_trans[:, i]))
            b, i, t_end = pb, j, t_start - 1
            pos = int(iv[j]) - 1
        return path, log_p


def _cumulative(ld: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative sums of the finite log densities (a leading row of zeros) and cumulative
    counts of the others (-inf, or NaN, which madmom's Viterbi never takes either)."""
    bad = ~np.isfinite(ld)
    csum = np.vstack([np.zeros((1, ld.shape[1])), np.cumsum(np.where(bad, 0.0, ld), axis=0)])
    cinf = np.vstack([np.zeros((1, ld.shape[1]), dtype=np.intp),
                      np.cumsum(bad, axis=0, dtype=np.intp)])
    return csum, cinf


def _threshold(act: np.ndarray, threshold: float) -> tuple[np.ndarray, int]:
    """madmom's ``threshold_activations`` (including its quirk: nothing is kept when only
    frame 0 exceeds the threshold)."""
    first = last = 0
    idx = np.nonzero(act >= threshold)[0]
    if idx.any():
        first = max(first, int(np.min(idx)))
        last = min(len(act), int(np.max(idx)) + 1)
    return act[first:last], first


def track_downbeats(act: np.ndarray, *, fps: float = 100, beats_per_bar: Sequence[int] = (3, 4),
                    min_bpm: float = 55.0, max_bpm: float = 215.0, num_tempi: int = 60,
                    transition_lambda: float = 100, observation_lambda: int = 16,
                    threshold: float = 0.05) -> np.ndarray:
    """Beats and their positions in the bar from (frames, 2) beat/downbeat activations.

    madmom's ``DBNDownBeatTrackingProcessor`` (``correct=True``): the activations are cropped
    to the span where any reaches ``threshold``, each bar length's HMM is decoded, the likelier
    path is kept, and each beat is the activation peak of one beat region of that path.

    Returns:
        (beats, 2) float array: beat time in seconds and position in the bar (1 = downbeat).
    """
    empty = np.empty((0, 2))
    act = np.asarray(act)
    if threshold:
        act, first = _threshold(act, threshold)
    else:
        first = 0
    if not act.any():
        return empty
    hmms = [_bar_hmm(int(b), 60.0 * fps / max_bpm, 60.0 * fps / min_bpm, num_tempi,
                     float(transition_lambda), int(observation_lambda)) for b in beats_per_bar]
    results = [h.viterbi(act) for h in hmms]
    best = int(np.argmax([r[1] for r in results]))
    path = results[best][0]
    hmm = hmms[best]
    if path.size == 0:
        return empty
    beat_numbers = hmm.positions[path].astype(int) + 1
    beat_range = hmm.pointers[path] >= 1
    if not beat_range.any():
        return empty
    idx = np.nonzero(np.diff(beat_range.astype(int)))[0] + 1
    if beat_range[0]:
        idx = np.r_[0, idx]
    if beat_range[-1]:
        idx = np.r_[idx, beat_range.size]
    beats = np.empty(0, dtype=int)
    if idx.any():
        beats = np.array([np.argmax(act[left:right]) // 2 + left
                          for left, right in idx.reshape((-1, 2))], dtype=int)
    return np.vstack(((beats + first) / float(fps), beat_numbers[beats])).T


_HMM_CACHE: dict[tuple[int, float, float, int, float, int], BarHMM] = {}


def _bar_hmm(beats: int, min_interval: float, max_interval: float, num_tempi: int,
             transition_lambda: float, observation_lambda: int) -> BarHMM:
    key = (beats, min_interval, max_interval, num_tempi, transition_lambda, observation_lambda)
    if key not in _HMM_CACHE:
        _HMM_CACHE[key] = BarHMM.build(*key)
    return _HMM_CACHE[key]


def beat_track(features: np.ndarray, model: BeatModel, *,
               beats_per_bar: Sequence[int] = (3, 4)) -> BeatTrack:
    """The beats and bars of a recording's downbeat features: the networks' activations
    tracked by the bar DBN choosing between ``beats_per_bar``; no beats (no steady beat: a
    free-time solo, a drone) when it finds fewer than
    :data:`~midi2img.features.rhythm.MIN_BEATS`."""
    out = track_downbeats(downbeat_activations(features, model), beats_per_bar=beats_per_bar)
    per_bar = int(np.max(out[:, 1])) if len(out) else max(beats_per_bar)
    if len(out) < MIN_BEATS:
        return BeatTrack((), (), per_bar, "audio")
    return BeatTrack.of(out[:, 0], out[:, 1].astype(int), per_bar, "audio")
