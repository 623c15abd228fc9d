"""Recordings standing in for the microphone and the speaker (``wav:PATH`` in ``[audio]``).

Why: the loopback tool, the latency benchmark and the tests run the real daemon, and need a
microphone that says a known utterance and a speaker whose output can be checked.  The source
plays its file in real time (or faster, for benchmarks), so the daemon's streaming and timing
behave as with a person talking; the sink rewrites its wav after every message, so what was
played can be read while the daemon runs.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from .files import STT_RATE, open_wav, pcm16, read_audio, resample

BLOCK = 0.1
"""Seconds of audio per block: the capture granularity a sound card gives at this latency."""


class WavSource:
    """A recording as the microphone: 16 kHz blocks, paced like a sound card."""

    def __init__(self, path: str | Path, speed: float = 1.0, lead: float = 0.0) -> None:
        self.audio = read_audio(path)
        self.speed = speed
        self.lead = int(lead * STT_RATE)
        """Samples of silence before the recording starts."""
        self.emitted = 0
        self.started = time.monotonic()
        self.finished_at: float | None = None
        """``time.monotonic()`` when the last sample was captured: the end of the utterance."""

    @property
    def playing(self) -> bool:
        return self.emitted < self.lead + len(self.audio)

    def read(self, timeout: float = BLOCK) -> np.ndarray | None:
        """The next block, once its time has come; None after the end of the file."""
        if not self.playing:
            time.sleep(min(timeout, BLOCK))
            return None
        n = int(BLOCK * STT_RATE)
        time.sleep(max(0.0, self.started + (self.emitted + n) / STT_RATE / self.speed - time.monotonic()))
        at = self.emitted - self.lead
        self.emitted += n
        block = np.zeros(n, dtype=np.float32)
        piece = self.audio[max(at, 0) : max(at + n, 0)]
        block[n - len(piece) if at < 0 else 0 :][: len(piece)] = piece
        if not self.playing:
            self.finished_at = time.monotonic()
            block = block[: len(piece) if at >= 0 else n]
        return block

    def close(self) -> None:
        self.emitted = self.lead + len(self.audio)


class WavSink:
    """The speaker as a wav file: everything played, in order, appended as it is played."""

    def __init__(self, path: str | Path, rate: int = 22050) -> None:
        self.path = Path(path)
        self.rate = rate
        self._wav = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def play(self, samples: np.ndarray, rate: int) -> None:
        """"Play": append the piece to the file, then take as long as playing it would."""
        with self._lock:
            if self._wav is None:
                self._wav = open_wav(self.path, self.rate)
            self._wav.writeframes(pcm16(resample(samples, rate, self.rate)))
        self._stop.wait(len(samples) / rate)

    def stop(self) -> None:
        """Cut short the piece playing now."""
        self._stop.set()

    def close(self) -> None:
        self.stop()
        with self._lock:
            if self._wav is not None:
                self._wav.close()
