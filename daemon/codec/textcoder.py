"""Text coder: any Unicode text, losslessly, in about 2 bits a character for English.

Text is split into words (letters and digits, with inner apostrophes) and the gaps between
them (spaces, punctuation).  Each part is arithmetic-coded with its own model:

- **gaps** with an adaptive model over the gaps English text uses (" ", ", ", ". ", …), each
  also saying whether the text ends there; anything else is spelled character by character;
- **case** with an adaptive model of lower / Capitalised / UPPER / exact spelling, in two
  contexts: at a sentence start and elsewhere;
- **words** with a unigram language model of 50,000 English words built from ``wordfreq``
  (``models/en-words.tsv.gz``, see ``tools/build_word_model.py``), mixed with the word pairs
  seen in public-domain and GPL books (``models/en-bigrams.tsv.gz``,
  ``tools/build_bigram_model.py``; the previous word, or a sentence start, is the context) and
  with a cache of the words already used in this message, so a repeated name costs a few bits
  the second time; an unknown word is an escape followed by its spelling, and is then in the
  cache too.

The word pairs are mixed in by absolute discounting: a context seen ``n`` times whose pair
``(a, b)`` was seen ``c`` times gives ``b`` the probability ``(c − D)/n`` plus the context's
left-over mass times the unigram's; as integer counts, the pair adds ``(c − D)·T/backoff`` to
the unigram count of ``b`` (``T`` the unigram total).  The unigram keeps at least 1/16 of every
context, and the cache and escape weights grow with the context's total, so they keep their
share.  The cache stops growing after ``CACHE_LIMIT`` uses: every total stays below the
coder's 2**30.

The model state starts fresh with every message, so a lost message never corrupts the next
one: a receiver cannot tell that its context drifted, and would speak garbage if it did.
"""

from __future__ import annotations

import gzip
import itertools
import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from .arith import ArithmeticDecoder, ArithmeticEncoder, FrequencyModel, decode_uniform, encode_uniform

WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
STATIC_TOTAL = 1 << 22
CACHE_WEIGHT = STATIC_TOTAL // 32
"""Probability mass a word gains each time it is used (about 3 % on first reuse)."""
ESCAPE_WEIGHT = STATIC_TOTAL // 40
CACHE_LIMIT = 400
"""Word uses the cache counts; later words of a long message are coded without adding to it."""
MIN_BACKOFF = 16
"""The unigram's share of a context is at least 1/MIN_BACKOFF."""
START = "<s>"
PAIRS_FORMAT = 4
"""The payload format from which a model's ``*-pairs`` file replaces its ``*-bigrams``."""
MAX_CODEPOINT = 0x110000

LOWER, TITLE, UPPER, EXACT = range(4)
_CASE_PRIOR = {True: [10, 60, 2, 1], False: [80, 12, 2, 1]}

ENGLISH_ALPHABET = "etaoinshrdlcumwfgypbvkjxqz'0123456789"
_LETTER_PRIOR = [127, 91, 82, 75, 70, 67, 63, 61, 60, 43, 40, 28, 28, 24, 24, 22, 20, 20, 19, 15, 10, 8, 2, 2, 1, 1,
                 4, 6, 6, 5, 4, 4, 4, 4, 4, 4, 4]

_GAP_CHARS = " ,.?!;:-\"'()—…\n"
_GAPS = [  # (text, text ends here) with prior counts
    (" ", False, 400), (", ", False, 60), (". ", False, 30), ("? ", False, 4), ("! ", False, 3), ("; ", False, 4),
    (": ", False, 3), (" - ", False, 2), ("-", False, 3), (" — ", False, 1), ('," ', False, 3), ('." ', False, 2),
    (' "', False, 3), ('" ', False, 2), ("... ", False, 2), ("", False, 1),
    (".", True, 40), ("", True, 10), ("?", True, 8), ("!", True, 4), ('."', True, 2), ('?"', True, 1), ("...", True, 2),
    (",", True, 1),
]
_GAPS0 = [(" ", False, 200), ("", False, 20), (' "', False, 4), ('"', False, 2), ("", True, 1)]


@dataclass(frozen=True)
class Context:
    """The words seen after one context, ascending by word index, and their cumulative
    counts (scaled to add to the unigram's); one more entry for the total."""

    followers: tuple[int, ...]
    cumulative: tuple[int, ...]

    def prefix(self, i: int) -> int:
        """Counts of the followers before word ``i``."""
        return self.cumulative[bisect_left(self.followers, i)]


@dataclass(frozen=True)
class BigramModel:
    """Word pairs: for a previous word's index (or ``-1``, a sentence start), its context."""

    contexts: dict[int, Context]

    @classmethod
    def load(cls, path: str | Path, index: dict[str, int]) -> BigramModel:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            _, discount = next(f).split("\t")
            d = int(discount)
            contexts = {}
            for line in f:
                word, seen, followers = line.rstrip("\n").split("\t")
                pairs = sorted((index[b], int(c)) for b, c in (item.split(":") for item in followers.split()))
                n = int(seen)
                backoff = (n - sum(c for _, c in pairs)) * 1000 + d * len(pairs)
                denominator = max(backoff, n * 1000 // MIN_BACKOFF)
                counts = [max(1, (c * 1000 - d) * STATIC_TOTAL // denominator) for _, c in pairs]
                contexts[-1 if word == START else index[word]] = Context(
                    tuple(i for i, _ in pairs), tuple(itertools.accumulate(counts, initial=0)))
        return cls(contexts)


def letter_contexts(word: str, alphabet: str = ENGLISH_ALPHABET) -> Iterator[tuple[str, int]]:
    """The symbols that spell ``word`` (its end mark last), each with the two before it.
    ``alphabet``: the spelling alphabet, English's letters and then a language's own."""
    end, other = len(alphabet), len(alphabet) + 1
    context = "^^"
    for ch in word:
        i = alphabet.find(ch)
        yield context, i if i >= 0 else other
        context = context[1] + (ch if i >= 0 else "?")
    yield context, end


ALPHABET_KEY = "#alphabet"
"""A spelling-prior file's optional first row: the letters a language adds to English's (a
context is at most two characters, so no context has this key)."""


def load_letters(path: str | Path) -> tuple[str, dict[str, tuple[int, ...]]]:
    """Spelling priors: the alphabet, and for a context of two, one or no symbols a count per
    symbol."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip("\n")]
    extra = rows.pop(0)[1] if rows and rows[0][0] == ALPHABET_KEY else ""
    return ENGLISH_ALPHABET + extra, {key: tuple(int(c) for c in counts.split()) for key, counts in rows}


@dataclass(frozen=True)
class WordModel:
    """A static unigram model: words, their frequency counts and cumulative counts; and
    optionally word pairs."""

    words: tuple[str, ...]
    index: dict[str, int]
    cumulative: tuple[int, ...]
    """``cumulative[i]`` = sum of counts of words before ``i``; one more entry for the total."""
    bigrams: BigramModel | None = None
    """The word pairs of the newest payload format."""
    letters: dict[str, tuple[int, ...]] | None = None
    alphabet: str = ENGLISH_ALPHABET
    """The spelling alphabet of ``letters``."""
    first_pairs: str = ""
    """The file of the word pairs that payload formats 2 and 3 were coded with, where the
    newest format's differ: loaded only when such a payload arrives."""

    @property
    def lm_id(self) -> int:
        """The payload header's language-model number: 0 unigram, 1 with its word pairs
        and spelling priors, whichever it has."""
        return 0 if self.bigrams is None and self.letters is None else 1

    def unigram(self) -> WordModel:
        return replace(self, bigrams=None, letters=None, alphabet=ENGLISH_ALPHABET, first_pairs="")

    def for_format(self, version: int) -> WordModel:
        """This model as payload format ``version`` codes with it: formats 2 and 3 used the
        first word pairs (``en-bigrams``), format 4 the pairs that replaced them."""
        if version >= PAIRS_FORMAT or not self.first_pairs:
            return self
        return replace(self, bigrams=_first_pairs(self.first_pairs, self.index), first_pairs="")

    @classmethod
    def load(cls, path: str | Path) -> WordModel:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        words = tuple(w for w, _ in rows)
        raw = [int(c) for _, c in rows]
        scale = STATIC_TOTAL / sum(raw)
        counts = [max(1, round(c * scale)) for c in raw]
        return cls(words, {w: i for i, w in enumerate(words)}, tuple(itertools.accumulate(counts, initial=0)))


@lru_cache(maxsize=8)
def load_word_model(path: str, bigrams: str = "", letters: str = "", first_pairs: str = "") -> WordModel:
    """The unigram at ``path``; with the word pairs at ``bigrams`` (English has them) and the
    spelling priors at ``letters`` (needed with word pairs): language model 1.  ``first_pairs``:
    the pairs older payload formats used, where ``bigrams`` replaced them."""
    model = WordModel.load(path)
    if bigrams and not letters:
        raise ValueError("word pairs need the spelling priors beside them")
    if letters:
        alphabet, priors = load_letters(letters)
        model = replace(model, letters=priors, alphabet=alphabet)
    if bigrams:
        model = replace(model, bigrams=BigramModel.load(bigrams, model.index), first_pairs=first_pairs)
    return model


_FIRST_PAIRS: dict[str, BigramModel] = {}


def _first_pairs(path: str, index: dict[str, int]) -> BigramModel:
    if path not in _FIRST_PAIRS:
        _FIRST_PAIRS[path] = BigramModel.load(path, index)
    return _FIRST_PAIRS[path]


def load_model_files(paths: list[str]) -> WordModel:
    """A registry text-lm entry's files, told apart by name: ``*-words``, and optionally
    ``*-letters`` and the word pairs: ``*-pairs`` (payload format 4 on) with ``*-bigrams``
    (formats 2 and 3) beside them, or ``*-bigrams`` alone for every format."""
    def named(part: str) -> str:
        return next((p for p in paths if p.rsplit("/", 1)[-1].split(".")[0].endswith(part)), "")

    pairs, first = named("-pairs"), named("-bigrams")
    if not pairs:
        pairs, first = first, ""
    return load_word_model(named("-words"), pairs, named("-letters"), first)


class _Fenwick:
    def __init__(self, size: int) -> None:
        self.tree = [0] * (size + 1)
        self.total = 0

    def add(self, i: int, delta: int) -> None:
        self.total += delta
        i += 1
        while i < len(self.tree):
            self.tree[i] += delta
            i += i & -i

    def prefix(self, i: int) -> int:
        """Sum of entries before ``i``."""
        s = 0
        while i > 0:
            s += self.tree[i]
            i -= i & -i
        return s


class _WordCoder:
    """Static unigram and word pairs, plus a cache of this message's words, plus an escape
    for new ones."""

    def __init__(self, model: WordModel) -> None:
        self.model = model
        self.vocabulary = len(model.words)
        self.new_words: list[str] = []
        self.new_index: dict[str, int] = {}
        self.cache = _Fenwick(self.vocabulary + CACHE_LIMIT)
        self.previous: str | None = None
        self.context: Context | None = None
        self.scale = 1

    def follow(self, sentence_start: bool) -> None:
        """Take the context of the next word: a sentence start, or the previous word."""
        self.context = None
        if self.model.bigrams is not None:
            key = -1 if sentence_start else self.model.index.get(self.previous or "")
            self.context = None if key is None else self.model.bigrams.contexts.get(key)
        static = self.model.cumulative[-1]
        self.scale = 1 if self.context is None else (static + self.context.cumulative[-1]) // static

    def _static_cum(self, i: int) -> int:
        return self.model.cumulative[min(i, self.vocabulary)]

    def _cum(self, i: int) -> int:
        pairs = 0 if self.context is None else self.context.prefix(i)
        return self._static_cum(i) + pairs + self.scale * CACHE_WEIGHT * self.cache.prefix(i)

    def _total(self) -> int:
        pairs = 0 if self.context is None else self.context.cumulative[-1]
        return self.model.cumulative[-1] + pairs + self.scale * (CACHE_WEIGHT * self.cache.total + ESCAPE_WEIGHT)

    def _escape(self) -> int:
        return self.scale * ESCAPE_WEIGHT

    def _symbols(self) -> int:
        return self.vocabulary + len(self.new_words)

    def lookup(self, word: str) -> int | None:
        i = self.model.index.get(word)
        return i if i is not None else self.new_index.get(word)

    def encode(self, encoder: ArithmeticEncoder, word: str) -> bool:
        """Code ``word``; returns False after coding an escape (the caller spells the word)."""
        i = self.lookup(word)
        total = self._total()
        if i is None:
            encoder.encode(total - self._escape(), total, total)
            return False
        encoder.encode(self._cum(i), self._cum(i + 1), total)
        self.remember(word)
        return True

    def decode(self, decoder: ArithmeticDecoder) -> str | None:
        total = self._total()
        target = decoder.target(total)
        if target >= total - self._escape():
            decoder.consume(total - self._escape(), total, total)
            return None
        lo, hi = 0, self._symbols() - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._cum(mid) <= target:
                lo = mid
            else:
                hi = mid - 1
        decoder.consume(self._cum(lo), self._cum(lo + 1), total)
        word = self.model.words[lo] if lo < self.vocabulary else self.new_words[lo - self.vocabulary]
        self.remember(word)
        return word

    def remember(self, word: str) -> None:
        self.previous = word
        if self.cache.total >= CACHE_LIMIT:
            return
        i = self.lookup(word)
        if i is None:
            i = self.vocabulary + len(self.new_words)
            self.new_index[word] = i
            self.new_words.append(word)
        self.cache.add(i, 1)


def _case_of(token: str) -> int:
    lower = token.lower()
    for case in (LOWER, TITLE, UPPER):
        if _apply_case(lower, case) == token:
            return case
    return EXACT


def _apply_case(word: str, case: int) -> str:
    if case == TITLE:
        return word[:1].upper() + word[1:]
    if case == UPPER:
        return word.upper()
    return word


def _split(text: str) -> tuple[list[str], list[str]]:
    """Gaps and words, alternating: ``gaps[0] words[0] gaps[1] … words[-1] gaps[-1]``."""
    words, gaps, start = [], [], 0
    for m in WORD.finditer(text):
        gaps.append(text[start : m.start()])
        words.append(m.group())
        start = m.end()
    gaps.append(text[start:])
    return gaps, words


def inner_gaps(text: str) -> list[tuple[int, int]]:
    """The spans of the gaps between two words, in order: where ``TextEncoder.encode`` yields."""
    return [(a.end(), b.start()) for a, b in itertools.pairwise(WORD.finditer(text))]


def phrase_boundary(gap: str) -> int:
    """Where in a gap the next phrase starts: at its last run of whitespace, as Whisper's
    words carry their leading space and trailing punctuation."""
    m = re.search(r"\s+(?=\S*$)", gap)
    return m.start() if m else len(gap)


class _TextModels:
    """The adaptive models of one message's text, identical at both ends."""

    def __init__(self, model: WordModel) -> None:
        self.words = _WordCoder(model)
        self.letters = FrequencyModel(_LETTER_PRIOR + [30, 2])
        self.gap_chars = FrequencyModel([4] * len(_GAP_CHARS) + [2, 1])
        self.gaps = FrequencyModel([p for *_, p in _GAPS] + [1, 1])
        self.gaps0 = FrequencyModel([p for *_, p in _GAPS0] + [1, 1])
        self.cases = {start: FrequencyModel(prior) for start, prior in _CASE_PRIOR.items()}
        self.priors = model.letters
        self.alphabet = model.alphabet
        self.spellers: dict[str, FrequencyModel] = {}

    def speller(self, context: str) -> FrequencyModel:
        """The adaptive model of the letter after ``context``, started from the longest
        context the spelling priors know."""
        model = self.spellers.get(context)
        if model is None:
            assert self.priors is not None
            prior = self.priors.get(context) or self.priors.get(context[1:]) or self.priors[""]
            model = self.spellers[context] = FrequencyModel(prior)
        return model


class TextEncoder(_TextModels):
    """Codes one message's text into an arithmetic-coder stream shared with other fields."""

    def __init__(self, model: WordModel, encoder: ArithmeticEncoder) -> None:
        super().__init__(model)
        self.out = encoder

    def encode(self, text: str) -> Iterator[tuple[int, int]]:
        """Code ``text``; yields after each gap between two words its span in ``text``, so
        the caller can interleave per-gap fields (phrase breaks) in the same stream."""
        gaps, words = _split(text)
        self._gap(gaps[0], final=not words, first=True)
        position = len(gaps[0])
        for i, word in enumerate(words):
            self._word(word, sentence_start=i == 0 or gaps[i].rstrip().endswith((".", "?", "!")))
            position += len(word)
            last = i == len(words) - 1
            self._gap(gaps[i + 1], final=last, first=False)
            if not last:
                yield position, position + len(gaps[i + 1])
            position += len(gaps[i + 1])

    def _word(self, token: str, sentence_start: bool) -> None:
        case = _case_of(token)
        self.cases[sentence_start].encode(self.out, case)
        word = token if case == EXACT else token.lower()
        self.words.follow(sentence_start)
        if not self.words.encode(self.out, word):
            if self.priors is None:
                self._spell(word, self.letters, ENGLISH_ALPHABET)
            else:
                self._spell_word(word)
            self.words.remember(word)

    def _gap(self, gap: str, final: bool, first: bool) -> None:
        table, model = (_GAPS0, self.gaps0) if first else (_GAPS, self.gaps)
        for symbol, (text, ends, _) in enumerate(table):
            if text == gap and ends == final:
                model.encode(self.out, symbol)
                return
        model.encode(self.out, len(table) + final)
        self._spell(gap, self.gap_chars, _GAP_CHARS)

    def _spell_word(self, word: str) -> None:
        for (context, symbol), ch in zip(letter_contexts(word, self.alphabet), [*word, ""]):
            self.speller(context).encode(self.out, symbol)
            if symbol == len(self.alphabet) + 1:
                encode_uniform(self.out, ord(ch), MAX_CODEPOINT)

    def _spell(self, text: str, model: FrequencyModel, alphabet: str) -> None:
        end, other = len(alphabet), len(alphabet) + 1
        for ch in text:
            i = alphabet.find(ch)
            if i >= 0:
                model.encode(self.out, i)
            else:
                model.encode(self.out, other)
                encode_uniform(self.out, ord(ch), MAX_CODEPOINT)
        model.encode(self.out, end)


class TextTooLong(ValueError):
    """The stream decodes to more than ``max_chars`` characters: a bomb, or not this coder's
    stream (a decoder past the end of its bytes reads zeros for ever)."""


class TextDecoder(_TextModels):
    """The mirror of ``TextEncoder``."""

    def __init__(self, model: WordModel, decoder: ArithmeticDecoder, max_chars: int = 100_000) -> None:
        super().__init__(model)
        self.inp = decoder
        self.max_chars = max_chars
        self.parts: list[str] = []
        self.length = 0

    def decode(self) -> Iterator[int]:
        """Decode into ``self.parts``; yields after each gap between two words its index in
        ``parts``, like the encoder, so the caller can read its interleaved fields."""
        gap, final = self._gap(first=True)
        self._append(gap)
        sentence_start = True
        while not final:
            self._append(self._word(sentence_start))
            gap, final = self._gap(first=False)
            self._append(gap)
            sentence_start = gap.rstrip().endswith((".", "?", "!"))
            if not final:
                yield len(self.parts) - 1

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def _append(self, part: str) -> None:
        self.length += len(part)
        if self.length > self.max_chars:
            raise TextTooLong(self.max_chars)
        self.parts.append(part)

    def _word(self, sentence_start: bool) -> str:
        case = self.cases[sentence_start].decode(self.inp)
        self.words.follow(sentence_start)
        word = self.words.decode(self.inp)
        if word is None:
            word = self._spell(self.letters, ENGLISH_ALPHABET) if self.priors is None else self._spell_word()
            self.words.remember(word)
        return word if case == EXACT else _apply_case(word, case)

    def _gap(self, first: bool) -> tuple[str, bool]:
        table, model = (_GAPS0, self.gaps0) if first else (_GAPS, self.gaps)
        symbol = model.decode(self.inp)
        if symbol < len(table):
            text, final, _ = table[symbol]
            return text, final
        return self._spell(self.gap_chars, _GAP_CHARS), symbol == len(table) + 1

    def _spell_word(self) -> str:
        chars: list[str] = []
        context = "^^"
        end = len(self.alphabet)
        while (symbol := self.speller(context).decode(self.inp)) != end:
            ch = self.alphabet[symbol] if symbol < end else chr(decode_uniform(self.inp, MAX_CODEPOINT))
            chars.append(ch)
            context = context[1] + (ch if symbol < end else "?")
            if len(chars) > self.max_chars:
                raise TextTooLong(self.max_chars)
        return "".join(chars)

    def _spell(self, model: FrequencyModel, alphabet: str) -> str:
        chars: list[str] = []
        while (i := model.decode(self.inp)) != len(alphabet):
            chars.append(alphabet[i] if i < len(alphabet) else chr(decode_uniform(self.inp, MAX_CODEPOINT)))
            if len(chars) > self.max_chars:
                raise TextTooLong(self.max_chars)
        return "".join(chars)
