"""Speech recognition: faster-whisper (CTranslate2) with word timestamps.

The model folder comes from the registry, so nothing is looked up on a hub; Silero VAD (the
onnx asset that faster-whisper ships) removes non-speech first, so silence yields no words
instead of Whisper's invented sentences.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import dataclass

import numpy as np

from ..audio.files import STT_RATE
from ..config import SttConfig
from ..errors import ConfigError
from ..registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Word:
    """One recognised word; ``text`` keeps Whisper's leading space so joining is exact."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    words: tuple[Word, ...]
    language: str
    language_probability: float
    seconds: float
    """Length of the audio that was transcribed."""
    compute_seconds: float
    source_language: str = ""
    """Set when the words are Whisper's English translation: the language that was spoken
    (``language`` is then ``en``)."""

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words).strip()


def cuda_available() -> bool:
    import ctranslate2

    try:
        return ctranslate2.get_cuda_device_count() > 0
    except RuntimeError:
        return False


class Transcriber:
    def __init__(self, config: SttConfig, registry: Registry) -> None:
        from faster_whisper import WhisperModel

        self.config = config
        registry.resolve("silero-vad")
        model = registry.resolve(config.model)
        device = config.device
        if device == "auto":
            device = "cuda" if cuda_available() else "cpu"
        threads = config.threads or os.cpu_count() or 1
        log.info("loading %s on %s (%s, %d threads)", config.model, device, config.compute_type, threads)
        self.model = WhisperModel(
            str(model.directory),
            device=device,
            compute_type=config.compute_type,
            cpu_threads=threads,
            local_files_only=True,
        )
        self.device = device
        self.multilingual = self.model.model.is_multilingual
        self._check_task()

    def with_config(self, config: SttConfig) -> Transcriber:
        """This loaded model under other languages or task settings (``config.model`` must
        name the same model)."""
        other = copy.copy(self)
        other.config = config
        other._check_task()
        return other

    def _check_task(self) -> None:
        """Refuse at start, not at the first message, a translation the model cannot do."""
        if self.config.translate and not self.multilingual:
            raise ConfigError(f"stt.translate needs a multilingual model; {self.config.model} knows only English "
                              "(use whisper-base)")

    def _language(self, audio: np.ndarray) -> str | None:
        """The language to decode in: the configured one, the only allowed one, or the most
        likely of the allowed ones; None lets Whisper choose from all."""
        if not self.multilingual:
            return "en"
        if self.config.language:
            return self.config.language
        allowed = [code.strip() for code in self.config.languages.split(",") if code.strip()]
        if self.config.translate and allowed == ["en"]:
            allowed = []  # translating from English alone would be no translation: detect any
        if len(allowed) <= 1:
            return allowed[0] if allowed else None
        _, _, ranked = self.model.detect_language(audio, vad_filter=self.config.vad)
        return max((p, code) for code, p in ranked if code in allowed)[1]

    def transcribe(self, audio: np.ndarray) -> Transcript:
        """What was said; with ``translate``, in English (speech already in English is
        transcribed as it is)."""
        import ctranslate2

        started = time.perf_counter()
        # Where greedy decoding looks wrong, faster-whisper samples again at higher
        # temperatures; a fixed seed makes that, too, give the same words for the same audio.
        ctranslate2.set_random_seed(0)
        language = self._language(audio)
        segments, info = self.model.transcribe(
            audio,
            language=language,
            task="translate" if self.config.translate else "transcribe",
            beam_size=self.config.beam_size,
            word_timestamps=True,
            vad_filter=self.config.vad,
            condition_on_previous_text=False,
        )
        words = tuple(
            Word(w.word, float(w.start), float(w.end), float(w.probability))
            for segment in segments
            for w in (segment.words or ())
            if w.word.strip()
        )
        translated = self.config.translate and info.language != "en"
        return Transcript(
            words=words,
            language="en" if translated else info.language,
            language_probability=float(info.language_probability),
            seconds=len(audio) / STT_RATE,
            compute_seconds=time.perf_counter() - started,
            source_language=info.language if translated else "",
        )
