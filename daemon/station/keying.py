"""What keys the transmitter, as the station's main loop sees it: ``pressed(block)`` per block.

The station polls once per captured block, so every source answers the same question: is the
key down now?  Hardware keys (serial control lines, input devices, GPIO, stdin) come from
``ptt``; two more live here because they need the audio itself:

- ``vad``: voice-activated.  Speech keys it; it releases after ``HANG`` seconds without speech,
  so the short pauses inside a sentence do not cut the transmission.
- ``file``: pressed while a ``wav:`` input plays, for the loopback tool and the benchmarks.
"""

from __future__ import annotations

import numpy as np

from ..config import PttConfig
from ..speech.segment import RATE, speech_spans

HANG = 1.5
"""Seconds of silence after which voice-activated keying releases."""
WINDOW = 0.5
"""Seconds of the latest audio the voice detector looks at."""


class VoiceKey:
    """Keyed while the last ``WINDOW`` seconds hold speech, and ``HANG`` seconds after."""

    def __init__(self, hang: float = HANG) -> None:
        self.hang = int(hang * RATE)
        self.recent = np.zeros(0, dtype=np.float32)
        self.silent = self.hang
        """Samples since speech was last heard."""

    def pressed(self, block: np.ndarray | None) -> bool:
        if block is None:
            return False
        self.recent = np.concatenate([self.recent, block])[-int(WINDOW * RATE):]
        spans = speech_spans(self.recent)
        self.silent = len(self.recent) - spans[-1][1] if spans else self.silent + len(block)
        return self.silent < self.hang

    def close(self) -> None:
        pass


class FileKey:
    """Pressed while the recording that stands in for the microphone is playing."""

    def __init__(self, source) -> None:
        self.source = source

    def pressed(self, block: np.ndarray | None) -> bool:
        return block is not None

    def close(self) -> None:
        pass


class HardwareKey:
    """A ``ptt`` source (serial line, input key, GPIO, stdin) behind the same question."""

    def __init__(self, config: PttConfig) -> None:
        from .ptt import from_config

        self.source = from_config(config)

    def pressed(self, block: np.ndarray | None) -> bool:
        return self.source.pressed()

    def close(self) -> None:
        self.source.close()


def open_key(config: PttConfig, source) -> VoiceKey | FileKey | HardwareKey:
    if config.source == "vad":
        return VoiceKey()
    if config.source == "file":
        return FileKey(source)
    return HardwareKey(config)
