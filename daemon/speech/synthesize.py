"""Speech synthesis: a Piper (VITS) voice run with onnxruntime.

We build the ``InferenceSession`` ourselves rather than through ``PiperVoice.load`` so that the
thread count and execution providers follow the config (a Jetson shares its cores with the
recogniser).  With ``deterministic`` the sampling noise is switched off, so one message always
gives the same samples: the receiver's output is testable and repeatable.

Timing, with a duration voice (one with the ``duration_scales`` input that
``telephrase-export piper-durations`` adds, such as ``piper-joe-medium-durations``): the
voice's duration predictor runs alone first (a sub-graph, a seventh of a render's time) to learn
how many frames each phoneme id would get; each word's ids are then given frames adding up to
the sender's length for that word (or, with only phrase lengths, every id scaled alike), and
the phrase is rendered once at those lengths.  The vocoder itself speaks at the sender's pace,
so PSOLA afterwards only moves the pitch.  The sampling noise of the durations is left out
then: the sender's timing takes its place.

Timing, with a plain voice: Piper's predicted phoneme durations are multiplied by
``length_scale``, so a phrase's length is nearly proportional to it.  The voice's duration
predictor, cut out of its graph up to the frames per phoneme id (the tensor piper's alignment
output names), gives the phrase's length at the voice's own pace, exactly the length a render
at that pace would have; the phrase is then rendered once, with the length scale that makes it
last as long as the sender's phrase did (1 when it is already within 5 %).  This used to take
a whole first render at the voice's pace: the first phrases of the corpus's first 10 messages
took 17 renders (3.35 s of Piper), now 10 renders and 11 predictor runs of 36 ms (2.97 s).
Predicting the length from the phoneme count was measured 15-20 % off, as commas and sentence
ends add silence.  Word lengths are then reached by PSOLA time-stretching.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime
import onnx
from onnx.utils import Extractor
from piper import PiperVoice
from piper.config import PiperConfig
from piper.const import BOS, EOS, PAD
from piper.patch_voice_with_alignment import add_alignment_output

from ..codec.textcoder import WORD
from ..config import TtsConfig
from ..registry import Registry
from .pitch import track_pitch
from .reshape import Segment, moved, reshape
from .voices import Voice, registry_voice
from .wordmap import align_runs, text_weight

log = logging.getLogger(__name__)

MIN_LENGTH_SCALE = 0.5
MAX_LENGTH_SCALE = 2.0
RETAKE_TOLERANCE = 0.05
PEAK = 0.89
"""Output peak level (−1 dBFS), leaving headroom for a sound card's filters."""
DURATION_SCALES = "duration_scales"
DURATIONS = "durations"
"""Input and output names of a duration voice (``exporters/piper_durations.py`` makes them):
per-phoneme-id factors on the frames, and the frames each id got."""


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


def _matched(u: Utterance, spans: list[list[int]], phonemes: list[int]) -> list[tuple[int, WordTarget]] | None:
    """Targets of the synthesizer's words (by index) run by run (``wordmap``): text words that
    espeak joined share one word, their lengths summed and pitches averaged; a text word spoken
    as several words gives each a share of its length by their natural lengths."""
    tokens = WORD.findall(u.text)
    runs = align_runs([text_weight(w) for w in tokens], phonemes) if len(tokens) == len(u.words) else None
    if runs is None:
        return None
    targets = []
    for text_words, spoken in runs:
        group = [u.words[i] for i in text_words]
        pitches = [w.f0 for w in group if w.f0 is not None]
        f0 = sum(pitches) / len(pitches) if pitches else None
        seconds = sum(w.seconds for w in group) if _has_durations(group) else None
        natural = sum(spans[j][1] - spans[j][0] for j in spoken) or 1
        for j in spoken:
            share = None if seconds is None else seconds * (spans[j][1] - spans[j][0]) / natural
            targets.append((j, WordTarget(share, f0)))
    return targets


Span = tuple[int, int] | None
"""A text word's [start, end) in samples, or None where it has no exact span of its own."""


def _text_spans(text: str, sentences: list[_Sentence], spans: list[list[int]]) -> list[Span]:
    """Each text word's span: its espeak word's, where espeak spoke it as one word of its own."""
    phonemes = Counter(w for s in sentences for w in s.word_of_id if w >= 0)
    tokens = WORD.findall(text)
    runs = align_runs([text_weight(w) for w in tokens], [phonemes[j] for j in range(len(spans))]) or []
    exact: list[Span] = [None] * len(tokens)
    for text_words, spoken in runs:
        if len(text_words) == len(spoken) == 1:
            exact[text_words[0]] = (spans[spoken[0]][0], spans[spoken[0]][1])
    return exact


def _rounded(span: np.ndarray) -> Span:
    return round(float(span[0])), round(float(span[1]))


def allot(natural: np.ndarray, total: int) -> np.ndarray:
    """Integer frames for phoneme ids that had ``natural`` frames, adding up to ``total``, each
    in proportion to its own as ``length_scale`` would scale it, but at least one (a phoneme
    is never dropped).  ``total == natural.sum()`` gives ``natural`` back."""
    share = natural.astype(np.float64) * (max(int(total), len(natural)) / max(int(natural.sum()), 1))
    while (short := share < 1.0).any() and not short.all():
        rest = ~short
        share[rest] *= (share.sum() - short.sum()) / share[rest].sum()
        share[short] = 1.0
    return _round_keeping_sum(np.maximum(share, 1.0))


def allot_word(natural: np.ndarray, total: int) -> np.ndarray:
    """Integer frames for one word's phoneme ids, adding up to ``total``: one each, and the
    rest in proportion to their natural frames.

    This lengthens the shortest ids (consonants, the pads between phonemes) a little against
    the vowels even where a word keeps its length, and that made the words clearer: on the 67
    utterances of the development corpus with expressive prosody the round trip's WER was
    16.4 % with this share, 17.5 % with ``allot``'s plain proportion and 18.4 % sharing only
    the frames beyond each id's first (17.6 % with the plain voice and PSOLA), with about the
    same word duration and pitch correlations for the three shares."""
    count = len(natural)
    extra = max(int(total), count) - count
    return 1 + _round_keeping_sum(natural.astype(np.float64) * (extra / max(int(natural.sum()), 1)))


def _round_keeping_sum(share: np.ndarray) -> np.ndarray:
    """Round each share so that the running sum stays on the exact one: the total is kept and
    no share of one or more rounds to zero."""
    return np.diff(np.floor(np.cumsum(share) + 0.5).astype(np.int64), prepend=0)


class Synthesizer:
    def __init__(self, config: TtsConfig, registry: Registry, voice: Voice | None = None) -> None:
        """``voice``: one from the voices directory; by default the registry's ``config.voice``."""
        self.config = config
        self.voice_info = voice or registry_voice(registry, config.voice)
        with open(self.voice_info.config, encoding="utf-8") as f:
            voice_config = PiperConfig.from_dict(json.load(f))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = config.threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        # The arena keeps the largest activations ever needed (hundreds of MB for one long
        # sentence) for good; without it the memory goes back to malloc after every message
        # and a long-running station stays at its resting size (see ``station.memory``).
        options.enable_cpu_mem_arena = False
        graph = onnx.load(str(self.voice_info.onnx))
        inputs = [i.name for i in graph.graph.input]
        self.duration_control = DURATION_SCALES in inputs
        """A duration voice: each phoneme id's frames can be set (``duration_scales``)."""
        if self.duration_control:
            # onnxruntime notes at every load that an initializer which is also an input (the
            # scales' default) is not constant-folded; that is the point of it.
            options.log_severity_level = 3
            frames = DURATIONS
        else:
            frames = add_alignment_output(graph)
        predictor = Extractor(graph).extract_model([i for i in inputs if i != DURATION_SCALES], [frames])
        self.predictor = onnxruntime.InferenceSession(
            predictor.SerializeToString(), sess_options=options, providers=providers(config.device)
        )
        """The voice's duration predictor alone (measured 36 ms a phrase, a render 260 ms):
        phoneme ids in, frames per id out, as the render would give them."""
        session = onnxruntime.InferenceSession(
            graph.SerializeToString(), sess_options=options, providers=providers(config.device)
        )
        log.info("loaded voice %s (%s%s)", self.voice_info.name, ", ".join(session.get_providers()),
                 ", duration control" if self.duration_control else "")
        self.voice = PiperVoice(session=session, config=voice_config)
        self.rate = voice_config.sample_rate
        self.hop = voice_config.hop_length

    def _feeds(self, ids: list[int], length_scale: float, timed: bool) -> dict[str, np.ndarray]:
        """The voice's inputs; ``timed``: durations without sampling noise, as the sender's
        timing replaces them (and the predictor's frames must be the ones the render gets)."""
        config = self.voice.config
        noise = 0.0 if self.config.deterministic else config.noise_scale
        noise_w = 0.0 if self.config.deterministic or timed else config.noise_w_scale
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([noise, length_scale, noise_w], dtype=np.float32),
        }
        if config.num_speakers > 1:
            feeds["sid"] = np.array([config.default_speaker_id], dtype=np.int64)
        return feeds

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

    def _render(self, sentences: list[_Sentence], length_scale: float = 1.0,
                scales: list[np.ndarray] | None = None) -> tuple[np.ndarray, list[list[int]]]:
        """Audio and, per word, its [start, end) in samples; ``scales``: per sentence, the
        duration voice's factor for each phoneme id's frames."""
        parts, samples = [], []
        for k, sentence in enumerate(sentences):
            feeds = self._feeds(sentence.ids, length_scale, timed=scales is not None)
            if scales is not None:
                feeds[DURATION_SCALES] = scales[k][None, :]
            audio, durations = self.voice.session.run(None, feeds)[:2]
            parts.append(np.asarray(audio, dtype=np.float32).reshape(-1))
            samples.append(np.asarray(durations).reshape(-1).astype(np.int64) * self.hop)
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return audio, self._spans(sentences, samples)

    def _predict(self, sentence: _Sentence) -> np.ndarray:
        """Frames per phoneme id at the voice's own pace, without sampling noise."""
        (frames,) = self.predictor.run(None, self._feeds(sentence.ids, 1.0, timed=True))
        return frames.reshape(-1).astype(np.int64)

    @staticmethod
    def _spans(sentences: list[_Sentence], samples: list[np.ndarray]) -> list[list[int]]:
        """Per word, its [start, end) in samples of the sentences one after another."""
        spans: dict[int, list[int]] = {}
        offset = 0
        for sentence, counts in zip(sentences, samples):
            ends = offset + np.cumsum(counts)
            for i, word in enumerate(sentence.word_of_id):
                if word >= 0:
                    span = spans.setdefault(word, [int(ends[i] - counts[i]), int(ends[i])])
                    span[1] = int(ends[i])
            offset += int(counts.sum())
        return [spans[k] for k in sorted(spans)]

    def _timed_scales(self, u: Utterance, sentences: list[_Sentence]) -> list[np.ndarray] | None:
        """Per sentence, the factors on each phoneme id's frames that give the words (or the
        phrase) the sender's lengths; None when the voice's own pace is already within
        ``RETAKE_TOLERANCE`` of a phrase length."""
        natural = [self._predict(s) for s in sentences]
        frames = [n.copy() for n in natural]
        total = sum(int(n.sum()) for n in natural)
        words = u.words if u.words and _has_durations(u.words) else ()
        matched = None
        if words:
            spans = self._spans(sentences, [n * self.hop for n in natural])
            phonemes = Counter(w for s in sentences for w in s.word_of_id if w >= 0)
            matched = _matched(u, spans, [phonemes[j] for j in range(len(spans))])
        if matched is not None:
            owners = [np.asarray(s.word_of_id) for s in sentences]
            for j, target in matched:
                where = [(k, np.flatnonzero(owner == j)) for k, owner in enumerate(owners)]
                have = sum(int(natural[k][ids].sum()) for k, ids in where)
                stretch = np.clip(target.seconds * self.rate / (have * self.hop), MIN_LENGTH_SCALE, MAX_LENGTH_SCALE)
                counts = allot_word(np.concatenate([natural[k][ids] for k, ids in where]), round(have * float(stretch)))
                for k, ids in where:
                    frames[k][ids], counts = counts[:len(ids)], counts[len(ids):]
        else:
            seconds = _whole(u, total * self.hop / self.rate).seconds if words else u.seconds
            scale = float(np.clip(seconds * self.rate / (total * self.hop), MIN_LENGTH_SCALE, MAX_LENGTH_SCALE))
            if not words and abs(scale - 1.0) <= RETAKE_TOLERANCE:
                return None
            counts = allot(np.concatenate(natural), round(total * scale))
            for k, n in enumerate(natural):
                frames[k], counts = counts[:len(n)], counts[len(n):]
        # ceil(natural × (n − ¼) / natural) = n: a quarter frame of margin against rounding.
        return [((f - 0.25) / n).astype(np.float32) for f, n in zip(frames, natural)]

    def _follow_words(self, audio: np.ndarray, spans: list[list[int]], targets: list[WordTarget],
                      register: float | None) -> tuple[np.ndarray, list[Segment]]:
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
        if all(seg.stretch == 1.0 and seg.semitones == 0.0 for seg in segments):
            return audio, []
        return reshape(audio, self.rate, segments), segments

    def _speak_one(self, u: Utterance, sentences: list[_Sentence]) -> tuple[np.ndarray, list[Span]]:
        """The utterance's audio, and its text words' exact spans (moved where PSOLA stretched
        the words)."""
        follow = self.config.follow_timing
        timed = follow and self.duration_control and bool(u.seconds or (u.words and _has_durations(u.words)))
        length_scale = 1.0
        if follow and not timed and u.seconds and not (u.words and _has_durations(u.words)):
            natural = sum(int(self._predict(s).sum()) for s in sentences) * self.hop
            length_scale = float(np.clip(u.seconds * self.rate / natural, MIN_LENGTH_SCALE, MAX_LENGTH_SCALE))
            if abs(length_scale - 1.0) <= RETAKE_TOLERANCE:
                length_scale = 1.0
        audio, spans = self._render(sentences, length_scale, scales=self._timed_scales(u, sentences) if timed else None)
        exact = _text_spans(u.text, sentences, spans)
        if not (u.words and follow):
            return audio, exact
        phonemes = Counter(w for s in sentences for w in s.word_of_id if w >= 0)
        matched = _matched(u, spans, [phonemes[j] for j in range(len(spans))])
        if matched is None:
            spans, targets = [[0, len(audio)]], [_whole(u, len(audio) / self.rate)]
        else:
            spans, targets = [spans[j] for j, _ in matched], [t for _, t in matched]
        if timed:
            # The words already last as the sender's did (within a frame); PSOLA moves the pitch.
            targets = [WordTarget(None, t.f0) for t in targets]
        out, segments = self._follow_words(audio, spans, targets, u.register)
        if segments:
            exact = [None if span is None else _rounded(moved(span, segments, len(audio))) for span in exact]
        return out, exact

    def speak(self, utterances: list[Utterance]) -> np.ndarray:
        """Render utterances one after another, each with its pause and, if given, its length
        and its words' lengths and pitches."""
        return self.speak_timed(utterances)[0]

    def _rendered(self, utterances: list[Utterance]) -> Iterator[tuple[np.ndarray, list[Span]]]:
        """Each utterance's audio with the pause before it, and its text words' spans in that
        audio; utterances with nothing to say give no audio, only None spans."""
        for u in utterances:
            sentences = self._sentences(u.text)
            if not sentences:
                yield np.zeros(0, dtype=np.float32), [None] * len(WORD.findall(u.text))
                continue
            audio, exact = self._speak_one(u, sentences)
            pause = int(u.pause_before * self.rate) if self.config.follow_timing and u.pause_before > 0 else 0
            if pause:
                audio = np.concatenate([np.zeros(pause, dtype=np.float32), audio])
            yield audio, [None if span is None else (span[0] + pause, span[1] + pause) for span in exact]

    def speak_timed(self, utterances: list[Utterance]) -> tuple[np.ndarray, list[tuple[float, float] | None]]:
        """``speak``, and each word of the utterances' texts (``textcoder.WORD``, in order) as
        [start, end) seconds in the audio, or None where its span is not known exactly: what the
        receiver made, to compare with what the sender said."""
        out: list[np.ndarray] = []
        times: list[tuple[float, float] | None] = []
        offset = 0
        for audio, exact in self._rendered(utterances):
            times += [None if span is None else ((offset + span[0]) / self.rate, (offset + span[1]) / self.rate)
                      for span in exact]
            out.append(audio)
            offset += len(audio)
        if not offset:
            return np.zeros(0, dtype=np.float32), times
        return _normalized(np.concatenate(out)), times

    def pieces(self, utterances: list[Utterance]) -> Iterator[np.ndarray]:
        """``speak`` phrase by phrase, each piece made only when asked for: a speaker can start
        on the first phrase while the next is being rendered, instead of waiting for the whole
        message (the far end hears it sooner by all but the first phrase's rendering time).
        Each piece is scaled to the peak on its own, as the whole could not be known yet."""
        for audio, _ in self._rendered(utterances):
            if audio.size:
                yield _normalized(audio)


def _normalized(audio: np.ndarray) -> np.ndarray:
    """``audio`` scaled to ``PEAK`` (silence left as it is)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return audio * (PEAK / peak) if peak > 1e-6 else audio
