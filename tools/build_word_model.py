#!/usr/bin/env python3
"""Build the text coder's word model from wordfreq's English frequencies.

Writes ``models/en-words.tsv.gz``: the most frequent English words (lower case, letters with
inner apostrophes) with their frequency per billion words, most frequent first.  The source is
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
from pathlib import Path

import wordfreq

WORD = re.compile(r"^[a-z]+(?:'[a-z]+)*$")
OUT = Path(__file__).resolve().parent.parent / "models" / "en-words.tsv.gz"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--words", type=int, default=50000, help="vocabulary size (default 50000)")
    p.add_argument("-o", "--output", type=Path, default=OUT)
    args = p.parse_args()
    words = [w for w in wordfreq.top_n_list("en", 2 * args.words, wordlist="large") if WORD.match(w)][: args.words]
    lines = [f"{w}\t{max(1, round(wordfreq.word_frequency(w, 'en', wordlist='large') * 1e9))}" for w in words]
    text = ("\n".join(lines) + "\n").encode()
    with open(args.output, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(text)
    data = args.output.read_bytes()
    print(f"{args.output}: {len(words)} words, {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
