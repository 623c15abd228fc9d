"""Audio files in and out: any container, codec and sample rate in; mono wav out.

Decoding goes through PyAV (FFmpeg), which faster-whisper already depends on, so wav, flac,
ogg, mp3 and the rest all work and are resampled to the rate the next stage wants.
"""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np

from ..errors import AudioError
from ..paths import check_input

STT_RATE = 16000
"""Whisper's input rate."""


def read_audio(path: str | Path, rate: int = STT_RATE) -> np.ndarray:
    """Decode ``path`` to mono float32 samples in [-1, 1] at ``rate`` Hz."""
    path = check_input(path, "an audio file", AudioError)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: contains no audio stream")
            for frame in container.decode(audio=0):
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    except av.error.FFmpegError as e:
        raise AudioError(f"{path}: not a readable audio file ({e.strerror or type(e).__name__})") from None
    if not chunks:
        raise AudioError(f"{path}: contains no audio samples")
    return (np.concatenate(chunks).astype(np.float32) / 32768.0).copy()


def pcm16(samples: np.ndarray) -> bytes:
    """Mono float samples as little-endian 16-bit PCM."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def open_wav(path: str | Path, rate: int) -> wave.Wave_write:
    """A 16-bit mono wav file to write to; its header is right after every ``writeframes``."""
    w = wave.open(str(path), "wb")
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    return w


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono float samples as 16-bit PCM wav."""
    with open_wav(path, rate) as w:
        w.writeframes(pcm16(samples))


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample mono float samples with FFmpeg's resampler (the one ``read_audio`` uses)."""
    if from_rate == to_rate or samples.size == 0:
        return samples.astype(np.float32)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = from_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) / 32768.0
