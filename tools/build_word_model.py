#!/usr/bin/env python3
"""Build the text coder's word model from wordfreq's English frequencies.

Writes ``models/en-words.tsv.gz``: the most frequent English words (lower case, letters with
inner apostrophes) with their frequency per billion words, most frequent first.  And
``models/en-letters.tsv.gz``: how the rarer words that follow in wordfreq's list (the words a
message has to spell out: names, rare and foreign words) are spelled, as counts of each
symbol after the two before it (and after one, and none, for contexts too rare to count).
The source is
the ``wordfreq`` package's ``large_en`` list (subtitles, Wikipedia, news, books, web text; its
data is CC BY-SA 4.0, so this file is too), never our test corpus.  wordfreq is needed only
here, at build time; the daemon reads the small file.  Gzip with a fixed mtime, so the build is
byte-for-byte reproducible and its sha256 can sit in ``models/registry.toml``.

    pip install wordfreq==3.1.1 && tools/build_word_model.py [--words 50000]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
from collections import Counter, defaultdict
from pathlib import Path

import wordfreq

WORD = re.compile(r"^[a-z]+(?:'[a-z]+)*$")
SPELLED = re.compile(r"^[a-z0-9]+(?:'[a-z0-9]+)*$")
MODELS = Path(__file__).resolve().parent.parent / "models"
OUT = MODELS / "en-words.tsv.gz"
LETTERS_OUT = MODELS / "en-letters.tsv.gz"
SPELLED_WORDS = 300_000
LETTER_TOTAL = 2000
"""Counts of a context are scaled to about this total: strong enough a prior that a message's
own letters (the adaptive part) refine it without overturning it."""


def write_gzip(path: Path, lines: list[str]) -> bytes:
    """A reproducible gzip file (fixed mtime, no name); returns what was written."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(("\n".join(lines) + "\n").encode())
    return path.read_bytes()


def letter_lines(rare: list[str]) -> list[str]:
    """One line per context: the context (``^`` before a word's start), then the scaled count
    of every symbol of ``textcoder``'s spelling alphabet, its end mark last."""
    from telephrase.textcoder import LETTER_SYMBOLS, letter_contexts

    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for word in rare:
        for context, symbol in letter_contexts(word):
            for key in (context, context[1:], ""):
                counts[key][symbol] += 1
    lines = []
    for key in sorted(counts, key=lambda k: (len(k), k)):
        c = counts[key]
        total = sum(c.values())
        if len(key) == 2 and total < 50:
            continue
        lines.append(key + "\t" + " ".join(str(1 + c[i] * LETTER_TOTAL // total) for i in range(LETTER_SYMBOLS)))
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--words", type=int, default=50000, help="vocabulary size (default 50000)")
    p.add_argument("-o", "--output", type=Path, default=OUT)
    p.add_argument("--letters-output", type=Path, default=LETTERS_OUT)
    args = p.parse_args()
    listed = wordfreq.top_n_list("en", SPELLED_WORDS, wordlist="large")
    words = [w for w in listed if WORD.match(w)][: args.words]
    lines = [f"{w}\t{max(1, round(wordfreq.word_frequency(w, 'en', wordlist='large') * 1e9))}" for w in words]
    data = write_gzip(args.output, lines)
    print(f"{args.output}: {len(words)} words, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    known = set(words)
    rare = [w for w in listed if SPELLED.match(w) and w not in known]
    data = write_gzip(args.letters_output, letter_lines(rare))
    print(f"{args.letters_output}: spelling of {len(rare)} rarer words, {len(data)} bytes, "
          f"sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
