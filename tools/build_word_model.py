#!/usr/bin/env python3
"""Build the text coder's word model of a language from wordfreq's frequencies.

Writes ``models/en-words.tsv.gz`` (or ``models/LANG-words.tsv.gz`` with ``--language``): the
most frequent words (lower case, letters with
inner apostrophes) with their frequency per billion words, most frequent first.  And
``models/en-letters.tsv.gz``: how the rarer words that follow in wordfreq's list (the words a
message has to spell out: names, rare and foreign words) are spelled, as counts of each
symbol after the two before it (and after one, and none, for contexts too rare to count).
English keeps
the 37-symbol spelling alphabet (a-z, apostrophe, digits); another language adds the letters its
words use beyond those (``é``, ``ñ``, ``ß`` …), most used first, named in the letter file's first
row.  The source is the ``wordfreq`` package's ``large_LANG`` list (subtitles, Wikipedia, news, books, web text; its
data is CC BY-SA 4.0, so this file is too), never our test corpus.  wordfreq is needed only
here, at build time; the daemon reads the small file.  Gzip with a fixed mtime, so the build is
byte-for-byte reproducible and its sha256 can sit in ``models/registry.toml``.

    pip install wordfreq==3.1.1 && tools/build_word_model.py [--language es] [--words 50000]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
from collections import Counter, defaultdict
from pathlib import Path

import wordfreq

ENGLISH_WORD = re.compile(r"^[a-z]+(?:'[a-z]+)*$")
ENGLISH_SPELLED = re.compile(r"^[a-z0-9]+(?:'[a-z0-9]+)*$")
WORD = re.compile(r"^[^\W\d_]+(?:'[^\W\d_]+)*$")
SPELLED = re.compile(r"^[^\W_]+(?:'[^\W_]+)*$")
MODELS = Path(__file__).resolve().parent.parent / "models"
SPELLED_WORDS = 300_000
EXTRA_SHARE = 0.001
FOLDED = {"de": "ß"}
"""Letters wordfreq's case folding removes from its lists (``straße`` is listed as
``strasse``): no vocabulary word has them, so words with them are spelled, and the spelling
alphabet must hold them."""
LETTER_TOTAL = 2000
"""Counts of a context are scaled to about this total: strong enough a prior that a message's
own letters (the adaptive part) refine it without overturning it."""


def write_gzip(path: Path, lines: list[str]) -> bytes:
    """A reproducible gzip file (fixed mtime, no name); returns what was written."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(("\n".join(lines) + "\n").encode())
    return path.read_bytes()


def extra_letters(words: list[str]) -> str:
    """The letters beyond English's spelling alphabet that at least ``EXTRA_SHARE`` of
    ``words`` (the vocabulary) use, most used first (ties by code point, so the build is
    reproducible).  Letters of other scripts in borrowed names stay escapes."""
    from telephrase.codec.textcoder import ENGLISH_ALPHABET

    counts = Counter(ch for w in words for ch in set(w) if ch not in ENGLISH_ALPHABET)
    common = [(ch, n) for ch, n in counts.items() if n >= EXTRA_SHARE * len(words)]
    return "".join(ch for ch, _ in sorted(common, key=lambda item: (-item[1], item[0])))


def letter_lines(rare: list[str], extra: str = "") -> list[str]:
    """One line per context: the context (``^`` before a word's start), then the scaled count
    of every symbol of ``textcoder``'s spelling alphabet (English's, then ``extra``), its end
    mark and the escape for any other character last.  With ``extra``, a first row names it."""
    from telephrase.codec.textcoder import ALPHABET_KEY, ENGLISH_ALPHABET, letter_contexts

    alphabet = ENGLISH_ALPHABET + extra
    counts: dict[str, Counter[int]] = defaultdict(Counter)
    for word in rare:
        for context, symbol in letter_contexts(word, alphabet):
            for key in (context, context[1:], ""):
                counts[key][symbol] += 1
    lines = [f"{ALPHABET_KEY}\t{extra}"] if extra else []
    for key in sorted(counts, key=lambda k: (len(k), k)):
        c = counts[key]
        total = sum(c.values())
        if len(key) == 2 and total < 50:
            continue
        lines.append(key + "\t" + " ".join(str(1 + c[i] * LETTER_TOTAL // total) for i in range(len(alphabet) + 2)))
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--language", default="en", help="wordfreq language code with a large list (default en)")
    p.add_argument("--words", type=int, default=50000, help="vocabulary size (default 50000)")
    p.add_argument("-o", "--output", type=Path, help="default models/LANG-words.tsv.gz")
    p.add_argument("--letters-output", type=Path, help="default models/LANG-letters.tsv.gz")
    args = p.parse_args()
    lang = args.language
    output = args.output or MODELS / f"{lang}-words.tsv.gz"
    letters_output = args.letters_output or MODELS / f"{lang}-letters.tsv.gz"
    word, spelled = (ENGLISH_WORD, ENGLISH_SPELLED) if lang == "en" else (WORD, SPELLED)
    listed = wordfreq.top_n_list(lang, SPELLED_WORDS, wordlist="large")
    words = [w for w in listed if word.match(w)][: args.words]
    lines = [f"{w}\t{max(1, round(wordfreq.word_frequency(w, lang, wordlist='large') * 1e9))}" for w in words]
    data = write_gzip(output, lines)
    print(f"{output}: {len(words)} words, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    known = set(words)
    rare = [w for w in listed if spelled.match(w) and w not in known]
    extra = "" if lang == "en" else extra_letters(words) + FOLDED.get(lang, "")
    data = write_gzip(letters_output, letter_lines(rare, extra))
    print(f"{letters_output}: spelling of {len(rare)} rarer words ({len(extra)} letters beyond English's), "
          f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
