"""Cutting a transmission into phrases at its pauses, while the operator is still talking.

Why: recognition needs a whole phrase, but waiting for the push-to-talk release before
transcribing anything makes the far end wait for the whole transmission plus its recognition.
So the capture is cut at pauses: as soon as a stretch of speech is followed by a pause of
``pause`` seconds, everything up to it is a phrase that can be transcribed and sent while the
operator goes on.  Once a phrase is ``long_phrase`` seconds long a shorter pause will do
(``short_pause``, a breath between clauses): the last phrase, the one the far end waits for
after the key is released, then stays short and quick to recognise, at the price of one more
message header per cut.  A phrase that runs on without a pause is cut at ``max_phrase``
seconds, at its longest inner pause if it has one.

Speech is found by the Silero VAD that faster-whisper ships (``faster_whisper.vad``), run on the
audio not yet sent; ``cut_point`` is the pure decision, ``PhraseCutter`` keeps the buffer, and
with a ``PitchStream`` the phrase's pitch track is computed as it is captured.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .pitch import PitchTrack
from .pitchstream import PitchStream

RATE = 16000
PAD = int(0.15 * RATE)
"""Audio kept after a phrase's last speech, so its final consonant is not clipped."""
SILENCE_KEPT = int(0.5 * RATE)
"""Of audio with no speech at all, only this much is kept, as the run-up to the next word."""


def cut_point(speech: list[tuple[int, int]], length: int, pause: int, max_phrase: int,
              long_phrase: int = 0, short_pause: int = 0) -> int | None:
    """Where to cut a buffer of ``length`` samples whose speech lies in ``speech`` (sorted
    ``(start, end)`` sample spans), or None to wait for more audio.

    Cut after the last span followed by at least ``pause`` samples of silence, or, once the
    phrase is ``long_phrase`` samples long (0: never), by at least ``short_pause``; when the
    buffer reaches ``max_phrase`` samples, cut at the end of the span before its longest gap,
    or at ``max_phrase`` if the speech has no gap at all."""
    if not speech:
        return None
    following = [start for start, _ in speech[1:]] + [length]
    complete = [end for (_, end), after in zip(speech, following)
                if after - end >= pause or (long_phrase and end >= long_phrase and after - end >= short_pause)]
    if complete:
        return min(complete[-1] + PAD, length)
    if length < max_phrase:
        return None
    gaps = [(b[0] - a[1], a[1]) for a, b in zip(speech, speech[1:])]
    if gaps:
        return max(gaps)[1] + min(PAD, max(gaps)[0] // 2)
    return max_phrase


@dataclass(frozen=True)
class Phrase:
    """One phrase cut from a transmission, with the pitch tracked while it was spoken, so the
    sender need not track it again after the key's release."""

    audio: np.ndarray
    track: PitchTrack | None = None
    """Its pitch track, where the cutter had a ``PitchStream``."""


@dataclass
class PhraseCutter:
    """The audio of one transmission not yet sent; ``feed`` returns the phrases ready to go."""

    pause: float = 0.6
    max_phrase: float = 20.0
    long_phrase: float = 0.0
    short_pause: float = 0.25
    buffer: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    pitch: PitchStream | None = None
    """Tracks the pitch of the buffer as it fills (None: the sender tracks each phrase)."""

    def feed(self, block: np.ndarray) -> list[Phrase]:
        """Add captured 16 kHz audio; return every phrase now complete."""
        self.buffer = np.concatenate([self.buffer, block.astype(np.float32, copy=False)])
        out = []
        while True:
            speech = speech_spans(self.buffer)
            if not speech and len(self.buffer) > SILENCE_KEPT:
                self.buffer = self.buffer[-SILENCE_KEPT:]
                if self.pitch is not None:
                    self.pitch.reset()
                return out
            cut = cut_point(speech, len(self.buffer), int(self.pause * RATE), int(self.max_phrase * RATE),
                            int(self.long_phrase * RATE), int(self.short_pause * RATE))
            if cut is None:
                if self.pitch is not None:
                    self.pitch.update(self.buffer)
                return out
            out.append(self._phrase(self.buffer[:cut]))
            self.buffer = self.buffer[cut:]

    def flush(self) -> Phrase | None:
        """The rest, at the end of a transmission: a phrase if it holds speech."""
        rest, self.buffer = self.buffer, np.zeros(0, dtype=np.float32)
        if speech_spans(rest):
            return self._phrase(rest)
        if self.pitch is not None:
            self.pitch.reset()
        return None

    def _phrase(self, audio: np.ndarray) -> Phrase:
        return Phrase(audio, self.pitch.cut(audio) if self.pitch is not None else None)


def speech_spans(audio: np.ndarray) -> list[tuple[int, int]]:
    """Sample spans of speech in 16 kHz audio (Silero VAD, pauses of 200 ms split spans)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if len(audio) < 512:
        return []
    spans = get_speech_timestamps(audio, VadOptions(min_silence_duration_ms=200, speech_pad_ms=0))
    return [(s["start"], s["end"]) for s in spans]
