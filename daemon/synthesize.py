"""Speech synthesis: a Piper (VITS) voice run with onnxruntime.

We build the ``InferenceSession`` ourselves rather than through ``PiperVoice.load`` so that the
thread count and execution providers follow the config (a Jetson shares its cores with the
recogniser).  With ``deterministic`` the sampling noise is switched off, so one message always
gives the same samples: the receiver's output is testable and repeatable.

Timing: Piper's predicted phoneme durations are multiplied by ``length_scale``, so a phrase's
length is nearly proportional to it.  A phrase with a target length is rendered once at the
voice's own pace, then again with the length scale that makes it last as long as the sender's
phrase did (skipped when the first take is already within 5 %).  Predicting the natural length
from the phoneme count instead was measured 15-20 % off, as commas and sentence ends add
silence; a second take costs little next to recognition.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass

import numpy as np
import onnxruntime
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from .config import TtsConfig
from .registry import Registry

log = logging.getLogger(__name__)

MIN_LENGTH_SCALE = 0.5
MAX_LENGTH_SCALE = 2.0
RETAKE_TOLERANCE = 0.05
PEAK = 0.89
"""Output peak level (−1 dBFS), leaving headroom for a sound card's filters."""


@dataclass(frozen=True)
class Utterance:
    """Text to speak, optionally with the time it should take."""

    text: str
    seconds: float | None = None
    pause_before: float = 0.0


def providers(device: str) -> list[str]:
    available = onnxruntime.get_available_providers()
    if device == "cuda" or (device == "auto" and "CUDAExecutionProvider" in available):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class Synthesizer:
    def __init__(self, config: TtsConfig, registry: Registry) -> None:
        self.config = config
        model = registry.resolve(config.voice)
        onnx_path = next(f.path for f in model.entry.files if f.path.endswith(".onnx"))
        with open(model.file(onnx_path + ".json"), encoding="utf-8") as f:
            voice_config = PiperConfig.from_dict(json.load(f))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = config.threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(model.file(onnx_path)), sess_options=options, providers=providers(config.device)
        )
        log.info("loaded voice %s (%s)", config.voice, ", ".join(session.get_providers()))
        self.voice = PiperVoice(session=session, config=voice_config)
        self.rate = voice_config.sample_rate

    def _syn_config(self, length_scale: float) -> SynthesisConfig:
        noise = {"noise_scale": 0.0, "noise_w_scale": 0.0} if self.config.deterministic else {}
        return SynthesisConfig(length_scale=length_scale, normalize_audio=False, **noise)

    def _sentences(self, text: str) -> list[list[int]]:
        return [self.voice.phonemes_to_ids(p) for p in self.voice.phonemize(text) if p]

    def _render(self, sentences: list[list[int]], length_scale: float) -> np.ndarray:
        config = self._syn_config(length_scale)
        parts = [np.asarray(self.voice.phoneme_ids_to_audio(ids, config), dtype=np.float32).reshape(-1) for ids in sentences]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def speak(self, utterances: list[Utterance]) -> np.ndarray:
        """Render utterances one after another, each with its pause and, if given, its length."""
        out: list[np.ndarray] = []
        for u in utterances:
            sentences = self._sentences(u.text)
            if not sentences:
                continue
            audio = self._render(sentences, 1.0)
            if u.seconds and self.config.follow_timing:
                length_scale = float(np.clip(u.seconds * self.rate / len(audio), MIN_LENGTH_SCALE, MAX_LENGTH_SCALE))
                if abs(length_scale - 1.0) > RETAKE_TOLERANCE:
                    audio = self._render(sentences, length_scale)
            if self.config.follow_timing and u.pause_before > 0:
                out.append(np.zeros(int(u.pause_before * self.rate), dtype=np.float32))
            out.append(audio)
        if not out:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(out)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        return audio * (PEAK / peak) if peak > 1e-6 else audio
