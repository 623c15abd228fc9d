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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime
import onnx
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig
from piper.const import BOS, EOS, PAD
from piper.patch_voice_with_alignment import add_alignment_output

from .config import TtsConfig
from .pitch import track_pitch
from .registry import Registry
from .reshape import Segment, reshape
from .textcoder import WORD
from .wordmap import align_runs, text_weight

log = logging.getLogger(__name__)

MIN_LENGTH_SCALE = 0.5
MAX_LENGTH_SCALE = 2.0
RETAKE_TOLERANCE = 0.05
PEAK = 0.89
"""Output peak level (−1 dBFS), leaving headroom for a sound card's filters."""


SEMITONES_RE_100HZ = 12.0
REGISTER_SHARE = 0.6
MAX_REGISTER = 10.0
"""The voice moves ``REGISTER_SHARE`` of the way toward the sender's register, at most this
many semitones; the words' movement around the register is kept in full on top of it.  A male
voice lifted by the whole distance to a soprano (18 semitones and more) sounds like no one and
leaves PSOLA's one-octave range no room for the intonation; a share rather than a cut-off keeps
higher senders higher, so listeners can still tell them apart."""
PUNCTUATION = set(",.;:?!¡¿—…\"'()")


@dataclass(frozen=True)
class WordTarget:
    """How long one word should last (None: as the phrase's pace gives it) and at what pitch
    (semitones re 100 Hz, None: any)."""

    seconds: float | None
    f0: float | None = None


@dataclass(frozen=True)
class Utterance:
    """Text to speak, optionally with the time it should take and per-word targets."""

    text: str
    seconds: float | None = None
    pause_before: float = 0.0
    words: tuple[WordTarget, ...] = ()
    """One target per word of ``text`` (as ``textcoder.WORD`` splits it), or none."""
    register: float | None = None
    """The sender's median pitch (semitones re 100 Hz), which the words' pitches are heard
    against; None: take the median of the words' own."""


@dataclass(frozen=True)
class _Sentence:
    ids: list[int]
    word_of_id: list[int]
    """For each phoneme id, the index of the word it belongs to in the utterance, or −1."""


def providers(device: str) -> list[str]:
    available = onnxruntime.get_available_providers()
    if device == "cuda" or (device == "auto" and "CUDAExecutionProvider" in available):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _whole(u: Utterance, natural: float) -> WordTarget:
    """One target for a whole phrase, for when espeak's words cannot be matched to the
    text's: the phrase's length and its words' median pitch."""
    pitches = sorted(w.f0 for w in u.words if w.f0 is not None)
    seconds = (u.seconds or natural) if _has_durations(u.words) else None
    return WordTarget(seconds, pitches[len(pitches) // 2] if pitches else None)


def _has_durations(words: Sequence[WordTarget]) -> bool:
    return all(w.seconds is not None for w in words)


def _matched(u: Utterance, spans: list[list[int]], phonemes: list[int]) -> tuple[list[list[int]], list[WordTarget]] | None:
    """Spans and targets run by run (``wordmap``): text words that espeak joined share one
    span, their lengths summed and pitches averaged; a text word spoken as several words
    gives each a share of its length by their natural lengths."""
    tokens = WORD.findall(u.text)
    runs = align_runs([text_weight(w) for w in tokens], phonemes) if len(tokens) == len(u.words) else None
    if runs is None:
        return None
    out_spans, targets = [], []
    for text_words, spoken in runs:
        group = [u.words[i] for i in text_words]
        pitches = [w.f0 for w in group if w.f0 is not None]
        f0 = sum(pitches) / len(pitches) if pitches else None
        seconds = sum(w.seconds for w in group) if _has_durations(group) else None
        natural = sum(spans[j][1] - spans[j][0] for j in spoken) or 1
        for j in spoken:
            out_spans.append(spans[j])
            share = None if seconds is None else seconds * (spans[j][1] - spans[j][0]) / natural
            targets.append(WordTarget(share, f0))
    return out_spans, targets


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
        # The arena keeps the largest activations ever needed (hundreds of MB for one long
        # sentence) for good; without it the memory goes back to malloc after every message
        # and a long-running station stays at its resting size (see ``station.release_memory``).
        options.enable_cpu_mem_arena = False
        graph = onnx.load(str(model.file(onnx_path)))
        add_alignment_output(graph)
        session = onnxruntime.InferenceSession(
            graph.SerializeToString(), sess_options=options, providers=providers(config.device)
        )
        log.info("loaded voice %s (%s)", config.voice, ", ".join(session.get_providers()))
        self.voice = PiperVoice(session=session, config=voice_config)
        self.rate = voice_config.sample_rate

    def _syn_config(self, length_scale: float) -> SynthesisConfig:
        noise = {"noise_scale": 0.0, "noise_w_scale": 0.0} if self.config.deterministic else {}
        return SynthesisConfig(length_scale=length_scale, normalize_audio=False, **noise)

    def _sentences(self, text: str) -> list[_Sentence]:
        """Phoneme ids per sentence, each id tagged with its word (espeak puts a space
        phoneme between words; punctuation stays with the word before it)."""
        id_map = self.voice.config.phoneme_id_map
        out, word, started = [], -1, False
        for phonemes in self.voice.phonemize(text):
            if not phonemes:
                continue
            ids = list(id_map[BOS]) + list(id_map[PAD])
            owners = [-1] * len(ids)
            for ph in phonemes:
                if ph not in id_map:
                    continue
                if ph == " ":
                    started = False
                elif not started and ph not in PUNCTUATION:
                    word, started = word + 1, True
                chunk = list(id_map[ph]) + list(id_map[PAD])
                ids += chunk
                owners += [word if ph != " " else -1] * len(chunk)
            ids += list(id_map[EOS])
            owners += [-1] * len(id_map[EOS])
            started = False
            out.append(_Sentence(ids, owners))
        return out

    def _render(self, sentences: list[_Sentence], length_scale: float) -> tuple[np.ndarray, list[list[int]]]:
        """Audio and, per word, its [start, end) in samples."""
        config = self._syn_config(length_scale)
        parts, spans, offset = [], {}, 0
        for sentence in sentences:
            audio, samples = self.voice.phoneme_ids_to_audio(sentence.ids, config, include_alignments=True)
            audio = np.asarray(audio, dtype=np.float32).reshape(-1)
            ends = offset + np.cumsum(samples)
            for i, word in enumerate(sentence.word_of_id):
                if word >= 0:
                    start = int(ends[i] - samples[i])
                    span = spans.setdefault(word, [start, int(ends[i])])
                    span[1] = int(ends[i])
            parts.append(audio)
            offset += len(audio)
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return audio, [spans[k] for k in sorted(spans)]

    def _follow_words(self, audio: np.ndarray, spans: list[list[int]], targets: list[WordTarget],
                      register: float | None) -> np.ndarray:
        """Stretch each word to its target length, and give it the sender's pitch movement
        around the voice's own register, moved toward the sender's (``REGISTER_SHARE``)."""
        track = track_pitch(audio, rate=self.rate)
        natural: list[float | None] = []
        for start, end in spans:
            voiced = track.f0[(track.times >= start / self.rate) & (track.times < end / self.rate)]
            voiced = voiced[~np.isnan(voiced)]
            natural.append(SEMITONES_RE_100HZ * float(np.log2(np.median(voiced) / 100.0)) if len(voiced) >= 3 else None)
        pairs = [(t.f0, n) for t, n in zip(targets, natural) if t.f0 is not None and n is not None]
        shifts: list[float | None] = [None] * len(targets)
        if pairs and self.config.follow_pitch:
            sender = register if register is not None else float(np.median([t for t, _ in pairs]))
            own = float(np.median([n for _, n in pairs]))
            lift = float(np.clip(REGISTER_SHARE * (sender - own), -MAX_REGISTER, MAX_REGISTER))
            shifts = [None if t.f0 is None or n is None else own + lift + (t.f0 - sender) - n
                      for t, n in zip(targets, natural)]
        known = [x for x in shifts if x is not None]
        default = float(np.mean(known)) if known else 0.0
        segments = [
            Segment(start, end, 1.0 if t.seconds is None else float(np.clip(t.seconds * self.rate / max(end - start, 1),
                                                                            MIN_LENGTH_SCALE, MAX_LENGTH_SCALE)),
                    default if shift is None else shift)
            for (start, end), t, shift in zip(spans, targets, shifts)
        ]
        return reshape(audio, self.rate, segments)

    def speak(self, utterances: list[Utterance]) -> np.ndarray:
        """Render utterances one after another, each with its pause and, if given, its length
        and its words' lengths and pitches."""
        out: list[np.ndarray] = []
        for u in utterances:
            sentences = self._sentences(u.text)
            if not sentences:
                continue
            audio, spans = self._render(sentences, 1.0)
            if u.seconds and self.config.follow_timing and not (u.words and _has_durations(u.words)):
                length_scale = float(np.clip(u.seconds * self.rate / len(audio), MIN_LENGTH_SCALE, MAX_LENGTH_SCALE))
                if abs(length_scale - 1.0) > RETAKE_TOLERANCE:
                    audio, spans = self._render(sentences, length_scale)
            if u.words and self.config.follow_timing:
                phonemes = Counter(w for s in sentences for w in s.word_of_id if w >= 0)
                matched = _matched(u, spans, [phonemes[j] for j in range(len(spans))])
                if matched is None:
                    spans, targets = [[0, len(audio)]], [_whole(u, len(audio) / self.rate)]
                else:
                    spans, targets = matched
                audio = self._follow_words(audio, spans, targets, u.register)
            if self.config.follow_timing and u.pause_before > 0:
                out.append(np.zeros(int(u.pause_before * self.rate), dtype=np.float32))
            out.append(audio)
        if not out:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(out)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        return audio * (PEAK / peak) if peak > 1e-6 else audio
