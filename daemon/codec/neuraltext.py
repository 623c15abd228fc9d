"""Neural text coder: a message's text as tokens, each arithmetic-coded with the probability
a small language model (SmolLM2-135M, evaluated bit-exactly by ``exactlm``) gives it.

Both ends feed the model the same tokens: a fixed priming prefix (a chat turn's header, so the
model expects a short utterance), then optionally the context (earlier messages of the same
sender that the receiver decoded, each closed by the end marker and a new turn's header), then
the message's tokens.  The text ends with the end marker ``<|im_end|>``, so no length is sent.
The coder is lossless for any UTF-8 text (byte-level tokens): case and punctuation included.

A decoder that drifted would read garbage for ever, so it is bounded: at most
``max_tokens(payload_bytes)`` tokens, no control token inside the text, UTF-8 at the end.  The
encoder checks the same bounds on what it wrote, and reports ``Unsuitable`` for text it cannot
code within them (the payload then falls back to the word model).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .arith import ArithmeticDecoder, ArithmeticEncoder
from .bpe import Tokenizer
from .exactlm import MAX_POSITIONS, Cache, ExactLM

START, END = 1, 2
"""``<|im_start|>`` and ``<|im_end|>``: a turn's start and the end of a message's text."""
PRIMING = "user\n"
"""After ``<|im_start|>``: the header of a user's chat turn."""
TOKENS_PER_BYTE = 4
SLACK_TOKENS = 16
MAX_TOKENS = 512
PREPARED = 4
"""Contexts whose caches are kept (a station's own next one and those of a few senders)."""

log = logging.getLogger(__name__)


def max_tokens(payload_bytes: int) -> int:
    """The most text tokens a payload of ``payload_bytes`` may decode to: 4 a byte (real text
    costs 5 to 8 bits a token) and some slack."""
    return min(MAX_TOKENS, TOKENS_PER_BYTE * payload_bytes + SLACK_TOKENS)


class Unsuitable(ValueError):
    """Text this coder cannot carry (too long for the model's positions, or spelling a
    control token): code it another way."""


@dataclass
class NeuralTextModel:
    lm: ExactLM
    tokenizer: Tokenizer
    _primed: Cache | None = field(default=None, repr=False)
    _prepared: collections.OrderedDict[tuple[str, ...], Cache] = field(default_factory=collections.OrderedDict,
                                                                        repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def turn(self) -> list[int]:
        """A turn's header: ``<|im_start|>user\\n``."""
        return [START, *self.tokenizer.encode(PRIMING)]

    def start(self, context: Sequence[str] = ()) -> tuple[Cache, int]:
        """The model's cache after the priming prefix and ``context``, but for the last token,
        which is returned: feeding it gives the first text token's frequencies."""
        key = tuple(context)
        with self._lock:
            prepared = self._prepared.get(key)
            if prepared is not None:
                self._prepared.move_to_end(key)
        if prepared is None:
            prepared = self._after(key)
        return prepared.copy(), self.turn[-1]

    def _after(self, context: tuple[str, ...]) -> Cache:
        """The cache after the priming prefix and ``context`` (kept for the next use)."""
        turn = self.turn
        if self._primed is None:
            primed = Cache()
            self.lm.forward(turn[:-1], primed)
            self._primed = primed
        cache = self._primed.copy()
        tokens: list[int] = []
        for text in context:
            tokens += [turn[-1], *self._text_tokens(text), END, *self.tokenizer.encode("\n"), *turn[:-1]]
        if tokens:
            self.lm.forward(tokens, cache)
            with self._lock:
                self._prepared[context] = cache
                while len(self._prepared) > PREPARED:
                    self._prepared.popitem(last=False)
        return cache

    def prepare(self, context: Sequence[str]) -> None:
        """Compute the cache after ``context`` now, in a background thread at the lowest CPU
        priority, so that the next message coded or decoded after it does not wait for it:
        a station calls this with the context it expects next, while it is idle.  What it
        computes is exactly what ``start`` would (a cache only saves time)."""
        key = tuple(context)
        if not key:
            return
        with self._lock:
            if key in self._prepared:
                return
        threading.Thread(target=self._prepare, args=(key,), name="context", daemon=True).start()

    def _prepare(self, context: tuple[str, ...]) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass
        try:
            self._after(context)
        except Unsuitable as e:
            log.debug("no cache for that context: %s", e)

    def _text_tokens(self, text: str) -> list[int]:
        tokens = self.tokenizer.encode(text)
        if any(t in self.tokenizer.special for t in tokens):
            raise Unsuitable("the text spells one of the model's control tokens")
        return tokens

    def encode(self, out: ArithmeticEncoder, text: str, context: Sequence[str] = ()) -> int:
        """Code ``text`` after ``context``; returns the number of text tokens (for the bound
        check once the payload's size is known)."""
        tokens = self._text_tokens(text)
        cache, last = self.start(context)
        if cache.length + len(tokens) + 1 > MAX_POSITIONS:
            raise Unsuitable(f"{len(tokens)} tokens after {cache.length} of context pass the model's "
                             f"{MAX_POSITIONS} positions")
        tokens.append(END)
        for row, token in zip(self.lm.forward([last, *tokens[:-1]], cache), tokens):
            high = int(row[: token + 1].sum())
            out.encode(high - int(row[token]), high, int(row.sum()))
        return len(tokens) - 1

    def decode(self, inp: ArithmeticDecoder, limit: int, context: Sequence[str] = ()) -> str:
        """The text, read up to its end marker; ``ValueError`` for a stream that is not a text
        of at most ``limit`` tokens."""
        cache, last = self.start(context)
        tokens: list[int] = []
        while True:
            if cache.length >= MAX_POSITIONS:
                raise ValueError("text runs past the model's positions")
            row = self.lm.forward([last], cache)[0]
            cumulative = np.cumsum(row)
            total = int(cumulative[-1])
            token = int(np.searchsorted(cumulative, inp.target(total), side="right"))
            if token >= len(row):
                raise ValueError("corrupt arithmetic-coded stream")
            inp.consume(int(cumulative[token] - row[token]), int(cumulative[token]), total)
            if token == END:
                break
            if token in self.tokenizer.special:
                raise ValueError("a control token inside the text")
            tokens.append(token)
            if len(tokens) > limit:
                raise TokenLimit(limit)
            last = token
        try:
            return self.tokenizer.decode(tokens)
        except UnicodeDecodeError:
            raise ValueError("the text's bytes are not UTF-8") from None


class TokenLimit(ValueError):
    """More tokens than the payload's size allows."""
