"""Which of the synthesizer's words speak which words of the text.

Why: the receiver has a target length and pitch for every word of the text, but espeak (Piper's
phonemizer) does not always keep the text's words: it joins short ones ("of the" → ``ʌvðə``,
"had been", "to be"), and spells out numbers as several words ("1998").  Falling back to one
target for the whole phrase then throws away the prosody of every word in it, which happened to
about a quarter of the phrases of the development corpus.  Instead the two word sequences are
aligned in runs: one text word to one spoken word, two or three text words to one, or one text
word to up to four spoken words, choosing the runs whose character counts best match the
phoneme counts.  A run's target is then the sum of its words' lengths and their mean pitch.
Pure functions, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_JOINED = 3
"""Text words espeak joins into one spoken word at most ("as a matter")."""
MAX_SPLIT = 4
"""Spoken words one text word may become at most ("1998" → "nineteen ninety eight")."""
DIGIT_WEIGHT = 4
"""A digit is spoken as a word of its own: about as many phonemes as four letters."""


def text_weight(word: str) -> int:
    """How long a text word should sound, in letters: digits count as several."""
    return len(word) + (DIGIT_WEIGHT - 1) * sum(ch.isdigit() for ch in word)


def align_runs(chars: Sequence[int], phonemes: Sequence[int]) -> list[tuple[range, range]] | None:
    """Runs ``(text words, spoken words)`` covering both sequences in order, or None if they
    cannot be matched within the run sizes.  ``chars``: ``text_weight`` of each text word;
    ``phonemes``: phoneme ids per spoken word."""
    n, m = len(chars), len(phonemes)
    if n == 0 or m == 0:
        return None
    rate = math.log(sum(chars) / sum(phonemes))
    moves = [(k, 1) for k in range(1, MAX_JOINED + 1)] + [(1, k) for k in range(2, MAX_SPLIT + 1)]
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if cost[i][j] == inf:
                continue
            for a, b in moves:
                if i + a > n or j + b > m:
                    continue
                ratio = math.log(max(sum(chars[i : i + a]), 1) / max(sum(phonemes[j : j + b]), 1)) - rate
                # A joined or split run must earn its place: one-to-one wins unless the lengths
                # clearly disagree.
                c = cost[i][j] + ratio * ratio + 1.0 * (a + b - 2)
                if c < cost[i + a][j + b]:
                    cost[i + a][j + b] = c
                    back[i + a][j + b] = (a, b)
    if cost[n][m] == inf:
        return None
    runs = []
    i, j = n, m
    while i or j:
        step = back[i][j]
        assert step is not None
        a, b = step
        runs.append((range(i - a, i), range(j - b, j)))
        i, j = i - a, j - b
    return runs[::-1]
