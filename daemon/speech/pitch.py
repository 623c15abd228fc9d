"""Fundamental-frequency (F0) tracking: YIN candidates, Viterbi-smoothed, in plain numpy.

Why: the receiver re-synthesises each word in its own voice; to carry the sender's intonation
(a question's rise, a stressed word's peak) it needs the sender's pitch contour, which this
10 ms F0 track provides to ``prosody``.  Only numpy is available on the radio boxes, and the
tracker must cost next to nothing beside Whisper, so the work is batched over frames: one FFT
per frame gives the whole difference function, and no Python loop runs per sample.

Method (de Cheveigné & Kawahara 2002, "YIN", plus the candidate tracking of pYIN):

1. Per frame, the difference function d(τ) = Σⱼ (xⱼ − xⱼ₊τ)², j over a window as long as the
   longest period, from an FFT cross-correlation and running energies.
2. The cumulative-mean-normalised d'(τ) = d(τ)·τ / Σ_{k≤τ} d(k): 0 for a perfectly periodic
   frame, about 1 for noise, whatever the level, so it is the frame's aperiodicity.
3. Candidates: the deepest local minima of d' between the lags of ``fmax`` and ``fmin``, each
   refined to a fraction of a sample by a parabola through its three points.
4. Viterbi over those candidates and an "unvoiced" state.  A candidate costs its d', a step
   between frames costs in proportion to the pitch jump in octaves, and switching voicing costs
   a fixed penalty.  So one frame where the sub-harmonic dips a little deeper than the true
   period (YIN's octave error) is overruled by its neighbours, and voicing does not flicker.
5. Energy gate: frames near the recording's background level, far below its loud frames, or
   below an absolute floor are unvoiced whatever d' says, because mains hum and reverb tails in
   pauses can look perfectly periodic.

Unvoiced frames carry ``nan`` as F0, not 0, so that averaging them into a pitch by mistake
yields ``nan`` instead of a plausible-looking low number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CANDIDATES = 4
"""Lag candidates kept per frame for the Viterbi search (the true period, its multiples, a formant)."""
UNVOICED_COST = 0.35
"""Cost of calling a frame unvoiced: a frame is voiced when its best d' is clearly below this."""
SHORT_LAG_BIAS = 0.1
"""Extra cost per octave a candidate's lag lies above the frame's shortest periodic candidate.
A periodic frame repeats at 2T, 3T… as well as at its period T, with nearly the same d'; like
YIN's "first dip below the threshold" rule, this makes the period itself win such near-ties."""
OCTAVE_COST = 1.0
"""Cost per octave of pitch change between consecutive frames; a one-frame octave error costs 2,
far more than any d' it could save, while a steep but real glide (a few semitones per frame)
costs little."""
SWITCH_COST = 0.15
"""Cost of switching between voiced and unvoiced, so single-frame voicing blips are dropped."""
GATE_FLOOR_DB = -65.0
"""Frames below this level (dB re full scale RMS) are unvoiced: silence, dither, idle hiss."""
GATE_BELOW_LOUD_DB = 40.0
"""Frames this far below the recording's loud frames (95th percentile level) are unvoiced."""
GATE_ABOVE_QUIET_DB = 6.0
"""Frames must be this far above the background (10th percentile level) to be voiced: mains hum
in the pauses of home recordings is perfectly periodic at 50/60 Hz, and only its level tells it
from speech.  On the development corpus this cut the frames three quarters of an octave or more
away from their neighbours' median by about 40 %."""
GATE_QUIET_MARGIN_DB = 10.0
"""The background rule never asks for more than the loud level minus this, so a recording with
no pauses (whose 10th percentile is speech) keeps its soft voiced frames."""
BLOCK_FRAMES = 2048
"""Frames analysed per batch, bounding memory on long recordings (about 10 MB per batch)."""


@dataclass(frozen=True)
class PitchTrack:
    """An F0 contour sampled every ``hop`` seconds; frame ``i``'s analysis window is centred on
    ``times[i] = i·hop``, so frames line up with word timestamps without an offset."""

    times: np.ndarray
    """Frame centres, seconds from the start of the audio."""
    f0: np.ndarray
    """Fundamental frequency in Hz; ``nan`` where the frame is unvoiced."""
    voicing: np.ndarray
    """Periodicity 0..1: one minus the frame's lowest d' (YIN's aperiodicity), 0 where the
    energy gate closed.  The decision itself is ``voiced``; this says how clear-cut it was."""
    hop: float
    """Seconds between frames."""

    @property
    def voiced(self) -> np.ndarray:
        """Boolean mask of voiced frames."""
        return ~np.isnan(self.f0)


def track_pitch(
    audio: np.ndarray, rate: int = 16000, fmin: float = 60.0, fmax: float = 400.0, hop: float = 0.01
) -> PitchTrack:
    """Track the F0 of mono ``audio`` (floats in [-1, 1]) between ``fmin`` and ``fmax`` Hz."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"audio must be mono (1-D), got shape {x.shape}")
    if not 0 < fmin < fmax <= rate / 4:
        raise ValueError(f"need 0 < fmin < fmax <= rate/4, got fmin={fmin}, fmax={fmax}, rate={rate}")
    step = round(hop * rate)
    if step < 1:
        raise ValueError(f"hop {hop} s is shorter than one sample at {rate} Hz")
    lag_min = max(2, math.floor(rate / fmax))
    lag_max = math.ceil(rate / fmin)
    window = lag_max
    length = window + lag_max + 1
    frames = -(-x.size // step)
    times = np.arange(frames) * (step / rate)
    if frames == 0:
        empty = np.zeros(0)
        return PitchTrack(times=empty, f0=empty.copy(), voicing=empty.copy(), hop=step / rate)

    padded = np.pad(x, (window // 2, length))
    starts = np.arange(frames) * step
    gated = energy_gate(frame_level_db(padded, starts, length))

    lags = np.empty((frames, CANDIDATES))
    costs = np.empty((frames, CANDIDATES))
    best = np.empty(frames)
    views = np.lib.stride_tricks.sliding_window_view(padded, length)
    for first in range(0, frames, BLOCK_FRAMES):
        block = views[starts[first : first + BLOCK_FRAMES]]
        cmndf = _cmndf(block, window, lag_max + 1)
        part = slice(first, first + len(block))
        lags[part], costs[part] = _candidates(cmndf, lag_min, lag_max)
        best[part] = cmndf[:, lag_min : lag_max + 1].min(axis=1)
    costs[gated] = np.inf

    choice = _viterbi(lags, costs)
    voiced = choice < CANDIDATES
    rows = np.flatnonzero(voiced)
    f0 = np.full(frames, np.nan)
    f0[rows] = rate / lags[rows, choice[rows]]
    voicing = np.where(gated, 0.0, np.clip(1.0 - best, 0.0, 1.0))
    return PitchTrack(times=times, f0=f0, voicing=voicing, hop=step / rate)


def frame_level_db(padded: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """RMS level of each analysis frame in dB re full scale, from one running sum of squares."""
    energy = np.concatenate(([0.0], np.cumsum(padded * padded)))
    mean_square = np.maximum(energy[starts + length] - energy[starts], 0.0) / length
    return 10.0 * np.log10(np.maximum(mean_square, 1e-20))


def energy_gate(level_db: np.ndarray) -> np.ndarray:
    """Frames to call unvoiced by their level alone (the ``GATE_*`` rules), whatever a
    periodicity measure says of them; shared by every tracker, since hum and reverb fool all."""
    quiet_db, loud_db = np.percentile(level_db, [10, 95])
    above_background = min(quiet_db + GATE_ABOVE_QUIET_DB, loud_db - GATE_QUIET_MARGIN_DB)
    return level_db < max(GATE_FLOOR_DB, loud_db - GATE_BELOW_LOUD_DB, above_background)


def _cmndf(frames: np.ndarray, window: int, top: int) -> np.ndarray:
    """YIN's cumulative-mean-normalised difference d'(τ) for τ = 0..top, one row per frame.

    d(τ) = e(0) + e(τ) − 2·r(τ), where r is the cross-correlation of the first ``window``
    samples with the frame (one FFT product; the FFT is long enough that nothing wraps) and
    e(τ) is the energy of the window shifted by τ (a running sum).  d'(0) is 1 by definition.
    """
    size = 1 << (frames.shape[1] - 1).bit_length()
    spectrum = np.fft.rfft(frames, size)
    head = np.fft.rfft(frames[:, :window], size)
    corr = np.fft.irfft(np.conj(head) * spectrum, size)[:, : top + 1]
    energy = np.concatenate((np.zeros((len(frames), 1)), np.cumsum(frames * frames, axis=1)), axis=1)
    shifted = energy[:, window : window + top + 1] - energy[:, : top + 1]
    diff = np.maximum(corr[:, :1] + shifted - 2.0 * corr, 0.0)
    running = np.cumsum(diff[:, 1:], axis=1)
    taus = np.arange(1, top + 1)
    scaled = diff[:, 1:] * taus
    normalised = np.divide(scaled, running, out=np.ones_like(scaled), where=running > 1e-12 * taus)
    return np.concatenate((np.ones((len(frames), 1)), normalised), axis=1)


def _candidates(cmndf: np.ndarray, lag_min: int, lag_max: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``CANDIDATES`` deepest local minima of d' in [lag_min, lag_max], parabola-refined.

    Depth is ranked with the short-lag preference, so that when a clean period's multiples
    all dip to the same d' the period itself is never crowded out of the shortlist.

    Returns fractional lags (samples) and their costs: the interpolated d' plus the short-lag
    bias.  Missing candidates cost ``inf`` (their lag, ``lag_min``, is never chosen).
    """
    centre = cmndf[:, lag_min : lag_max + 1]
    before = cmndf[:, lag_min - 1 : lag_max]
    after = cmndf[:, lag_min + 1 : lag_max + 2]
    dips = np.where((centre < before) & (centre <= after), centre, np.inf)
    rank = dips + SHORT_LAG_BIAS * np.log2(np.arange(lag_min, lag_max + 1) / lag_min)
    pick = np.argsort(rank, axis=1)[:, :CANDIDATES]
    a = np.take_along_axis(before, pick, axis=1)
    b = np.take_along_axis(dips, pick, axis=1)
    c = np.take_along_axis(after, pick, axis=1)
    found = np.isfinite(b)
    curvature = a - 2.0 * np.where(found, b, 0.0) + c
    shift = np.divide(a - c, 2.0 * curvature, out=np.zeros_like(a), where=found & (curvature > 0))
    shift = np.clip(shift, -0.5, 0.5)
    lags = np.where(found, lag_min + pick + shift, lag_min)
    depth = np.maximum(b - 0.25 * (a - c) * shift, 0.0)
    periodic = found & (depth < UNVOICED_COST)
    shortest = np.min(np.where(periodic, lags, np.inf), axis=1, keepdims=True)
    above = np.maximum(np.log2(lags) - np.log2(shortest), 0.0)
    costs = np.where(found, depth + SHORT_LAG_BIAS * above, np.inf)
    return lags, costs


def _viterbi(lags: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Cheapest path through each frame's candidates plus an unvoiced state (index CANDIDATES).

    The transition matrices for all frames are built at once; only the recursion over frames
    (not samples) is a Python loop, a few microseconds per 10 ms frame.
    """
    frames, k = costs.shape
    local = np.concatenate((costs, np.full((frames, 1), UNVOICED_COST)), axis=1)
    octaves = np.log2(lags)
    step = np.empty((max(frames - 1, 0), k + 1, k + 1))
    step[:, :k, :k] = OCTAVE_COST * np.abs(octaves[:-1, :, None] - octaves[1:, None, :])
    step[:, :k, k] = SWITCH_COST
    step[:, k, :k] = SWITCH_COST
    step[:, k, k] = 0.0
    back = np.empty((frames, k + 1), dtype=np.intp)
    columns = np.arange(k + 1)
    total = local[0]
    for t in range(1, frames):
        paths = total[:, None] + step[t - 1]
        back[t] = np.argmin(paths, axis=0)
        total = paths[back[t], columns] + local[t]
    path = np.empty(frames, dtype=np.intp)
    path[-1] = int(np.argmin(total))
    for t in range(frames - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
