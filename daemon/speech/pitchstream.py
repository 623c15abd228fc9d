"""The pitch track of a phrase, computed while the operator is still saying it.

Why: with word prosody (``balanced``, ``expressive``) the sender needs each phrase's pitch
track before it can code the phrase, and CREPE on a whole phrase took 0.68 s after the key's
release on 2 cores (median, ``bench-latency`` on the corpus's first 20 utterances), nearly as
long as recognising it.  The track does not depend on the words, so it can be computed as the
audio comes in, while the CPU would otherwise wait for the speaker; after the release only the
last few frames are left.

Same track as offline: frame ``i`` of a phrase is centred on its sample ``hop · i`` and sees
the 1024 samples around it, zeros beyond the phrase's ends (``pitchmodel.frames``).  While the
phrase grows, only frames whose window lies inside the audio captured so far are computed.  At
the cut, those whose window still lies inside the phrase are kept and the rest are computed on
the phrase as cut, with its zero padding.  So the result is ``PitchModel.track`` of the
phrase, frame by frame, up to onnxruntime's batching (the tests compare the two).
"""

from __future__ import annotations

import numpy as np

from .pitch import PitchTrack
from .pitchmodel import BINS, RATE, WINDOW, PitchModel, frames

BATCH = 32
"""Frames (0.32 s of audio at the 10 ms hop) gathered before a run: fewer, larger runs of the
model cost less than one a captured block."""


class PitchStream:
    """CREPE's frame probabilities of the phrase being captured; ``PhraseCutter`` drives it."""

    def __init__(self, model: PitchModel, hop: float = 0.01) -> None:
        self.model = model
        self.step = round(hop * RATE)
        self.done = np.zeros((0, BINS), dtype=np.float32)
        """Probabilities of the first frames of the phrase being captured."""

    def complete(self, length: int) -> int:
        """How many frames of ``length`` samples lie wholly inside them."""
        return max(0, (length - WINDOW // 2) // self.step + 1)

    def update(self, buffer: np.ndarray) -> None:
        """``buffer`` is the phrase so far (its start as at the last call): compute the frames
        it now completes, once there are enough of them."""
        ready = self.complete(len(buffer))
        if ready - len(self.done) >= BATCH:
            self.done = np.concatenate([self.done, self._compute(buffer, len(self.done), ready)])

    def cut(self, phrase: np.ndarray) -> PitchTrack:
        """The track of ``phrase`` (the buffer's start, cut); the next phrase starts afresh."""
        if len(phrase) == 0:
            return self.model.track(phrase)
        keep = min(len(self.done), self.complete(len(phrase)))
        probabilities = np.concatenate([self.done[:keep], self._compute(phrase, keep, 1 + len(phrase) // self.step)])
        self.reset()
        return PitchModel.track_from(phrase, probabilities, self.step)

    def reset(self) -> None:
        """The buffer's start moved (a cut, or silence dropped): nothing computed still applies."""
        self.done = self.done[:0]

    def _compute(self, audio: np.ndarray, first: int, stop: int) -> np.ndarray:
        return self.model.probabilities(frames(audio, self.step)[first:stop])
