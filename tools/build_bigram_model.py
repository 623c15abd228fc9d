#!/usr/bin/env python3
"""Build the text coder's word-pair model from public-domain and GPL English text in Debian.

Writes ``models/en-bigrams.tsv.gz``: for each word of ``models/en-words.tsv.gz`` (and ``<s>``,
a sentence start) how often it was seen, and the words that followed it at least twice with
their counts.  The text coder mixes these pairs with the unigram model (absolute discounting,
``textcoder.BigramModel``), which saves about 7 % of the bits of the words.

The text is never our test corpus: the King James Bible (public domain; Debian's
``bible-kjv-text``, printed by its ``bible`` program) and the definitions of the GNU
Collaborative International Dictionary of English (Webster's 1913 and additions, GPL-3+;
Debian's ``dict-gcide``).  So this file is GPL-3+, like telephrase.  Both are 19th-century or
older English, close to the read books and news speech that telephrase meets; modern
colloquial pairs are the unigram's job.  Gzip with a fixed mtime: the build is reproducible
byte for byte, and its sha256 sits in ``models/registry.toml``.

    apt-get install bible-kjv dict-gcide && tools/build_bigram_model.py
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import re
import subprocess
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

MODELS = Path(__file__).resolve().parent.parent / "models"
WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
SENTENCE_END = re.compile(r"(?<=[.?!])\s+")
START = "<s>"
MIN_COUNT = 2


def kjv(bible: str) -> Iterator[str]:
    """Verses, without their references."""
    text = subprocess.run([bible, "-f", "gen1:1-rev22:21"], check=True, capture_output=True).stdout
    for line in text.decode("latin-1").splitlines():
        yield re.sub(r"^\S+\d+:\d+\s*", "", line)


def gcide(path: Path) -> Iterator[str]:
    """Definition paragraphs: the indented lines of each entry, without bracketed
    etymologies and sources, pronunciations between backslashes or quoted authors."""
    para: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("   "):
                if para:
                    yield " ".join(para)
                    para = []
                continue
            t = re.sub(r"\[[^\]]*\]", " ", line.strip())
            t = re.sub(r"--\s*[A-Z][\w. ]*\.?$", " ", t)
            t = re.sub(r"\\[^\\]*\\", " ", t)
            if t.strip():
                para.append(t)
    if para:
        yield " ".join(para)


def tokens(paragraph: str) -> list[str]:
    """Lower-case words with a sentence start before each sentence, as the text coder sees them."""
    out = []
    for sentence in SENTENCE_END.split(paragraph):
        words = [w.lower().replace("’", "'") for w in WORD.findall(sentence)]
        if words:
            out += [START, *words]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bible", default="bible", help="the bible-kjv program (default: bible on PATH)")
    p.add_argument("--gcide", type=Path, default=Path("/usr/share/dictd/gcide.dict.dz"),
                   help="GCIDE's dictd file (default: %(default)s)")
    p.add_argument("--words", type=Path, default=MODELS / "en-words.tsv.gz", help="the unigram model")
    p.add_argument("-o", "--output", type=Path, default=MODELS / "en-bigrams.tsv.gz")
    args = p.parse_args()
    with gzip.open(args.words, "rt", encoding="utf-8") as f:
        vocabulary = {line.split("\t", 1)[0] for line in f if line.strip()}
    seen: Counter[str] = Counter()
    pairs: defaultdict[str, Counter[str]] = defaultdict(Counter)
    n = 0
    for paragraph in (*kjv(args.bible), *gcide(args.gcide)):
        t = tokens(paragraph)
        n += len(t)
        for a, b in zip(t, t[1:]):
            if b in vocabulary and (a in vocabulary or a == START):
                seen[a] += 1
                pairs[a][b] += 1
    singles = sum(1 for c in pairs.values() for v in c.values() if v == 1)
    doubles = sum(1 for c in pairs.values() for v in c.values() if v == 2)
    discount = round(1000 * singles / (singles + 2 * doubles))
    lines = [f"discount\t{discount}"]
    kept = 0
    for a in sorted(seen, key=lambda w: (-seen[w], w)):
        followers = sorted(((b, c) for b, c in pairs[a].items() if c >= MIN_COUNT), key=lambda x: (-x[1], x[0]))
        kept += len(followers)
        lines.append(f"{a}\t{seen[a]}\t" + " ".join(f"{b}:{c}" for b, c in followers))
    with open(args.output, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(("\n".join(lines) + "\n").encode())
    data = args.output.read_bytes()
    print(f"{args.output}: {n} tokens, {len(seen)} contexts, {kept} pairs, discount {discount / 1000}, "
          f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
