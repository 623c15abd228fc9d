#!/usr/bin/env python3
"""Build the text coder's word-pair models from public English text in Debian and PyPI packages.

Writes ``models/en-bigrams.tsv.gz`` (payload formats 2 and 3): for each word of
``models/en-words.tsv.gz`` (and ``<s>``, a sentence start) how often it was seen, and the words
that followed it at least twice with their counts.  The text coder mixes these pairs with the
unigram model (absolute discounting, ``textcoder.BigramModel``), which saves about 7 % of the
bits of the words.

With ``--web`` it also writes ``models/en-pairs.tsv.gz`` (payload format 4 on): for each word,
the probability of each follower (per million) mixed two to one from the 286,358 most frequent
word pairs of Google's trillion-word web corpus as Peter Norvig counted them
(``count_2w.txt``, shipped with their word counts in the ``wordsegment`` package, Apache-2.0)
and from the pairs above; the sentence-start context is the books'.  Modern web English fills
in what the two old books lack: on the development corpus the text costs 2.9 % fewer bits
(4.0 % on Debian's English fortunes).

The text is never our test corpus: the King James Bible (public domain; Debian's
``bible-kjv-text``, printed by its ``bible`` program) and the definitions of the GNU
Collaborative International Dictionary of English (Webster's 1913 and additions, GPL-3+;
Debian's ``dict-gcide``).  So this file is GPL-3+, like telephrase.  Both are 19th-century or
older English, close to the read books and news speech that telephrase meets; modern
colloquial pairs are the unigram's job.  Gzip with a fixed mtime: the build is reproducible
byte for byte, and its sha256 sits in ``models/registry.toml``.

    apt-get install bible-kjv dict-gcide && pip install wordsegment==1.3.1 && tools/build_bigram_model.py --web
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
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
WEB_WEIGHT, BOOK_WEIGHT = 2, 1
"""How the two sources' follower probabilities are mixed in ``en-pairs``."""
PER_MILLION = 1_000_000


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
    p.add_argument("--web", nargs="?", const=Path(), type=Path,
                   help="also write en-pairs from wordsegment's unigrams.txt and bigrams.txt in this folder "
                        "(default: the installed wordsegment package)")
    p.add_argument("--pairs-output", type=Path, default=MODELS / "en-pairs.tsv.gz")
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
        followers = {b: c for b, c in pairs[a].items() if c >= MIN_COUNT}
        kept += len(followers)
        lines.append(f"{a}\t{seen[a]}\t" + _followers(followers))
    print(f"{n} tokens, {len(seen)} contexts, {kept} pairs, discount {discount / 1000}: " + write(args.output, lines))
    if args.web is not None:
        folder = args.web if args.web != Path() else Path(importlib.util.find_spec("wordsegment").origin).parent
        books = {a: (seen[a], {b: c - discount / 1000 for b, c in pairs[a].items() if c >= MIN_COUNT}) for a in seen}
        print("en-pairs: " + write(args.pairs_output, mixed_lines(books, *web_pairs(folder, vocabulary))))


def web_pairs(folder: Path, vocabulary: set[str]) -> tuple[dict[str, int], defaultdict[str, dict[str, int]]]:
    """Norvig's word counts and the counts of the pairs of vocabulary words."""
    with open(folder / "unigrams.txt", encoding="utf-8") as f:
        counts = {w: int(c) for w, c in (line.split("\t") for line in f)}
    pairs: defaultdict[str, dict[str, int]] = defaultdict(dict)
    with open(folder / "bigrams.txt", encoding="utf-8") as f:
        for line in f:
            words, c = line.rstrip("\n").split("\t")
            a, b = words.split(" ")
            if a in vocabulary and b in vocabulary and a in counts:
                pairs[a][b] = int(c)
    return counts, pairs


def mixed_lines(books: dict[str, tuple[int, dict[str, float]]], counts: dict[str, int],
                web: dict[str, dict[str, int]]) -> list[str]:
    """Lines of ``en-pairs``: each context seen "a million times", its followers' probabilities
    per million (the rest is the unigram's), no discount; the sentence start as the books have it."""
    lines = ["discount\t0"]
    seen, followers = books[START]
    lines.append(f"{START}\t{seen}\t" + _followers({b: round(c) for b, c in followers.items()}))
    for a in sorted((set(web) | set(books)) - {START}):
        mixed: Counter[str] = Counter()
        weight = 0
        for source, share in ((web.get(a, {}), WEB_WEIGHT), (books.get(a, (1, {}))[1], BOOK_WEIGHT)):
            if source:
                total = counts[a] if share == WEB_WEIGHT else books[a][0]
                for b, c in source.items():
                    mixed[b] += share * c / total
                weight += share
        per_million = {b: max(1, round(p / weight * PER_MILLION)) for b, p in mixed.items()}
        if per_million:
            lines.append(f"{a}\t{PER_MILLION}\t" + _followers(per_million))
    return lines


def _followers(counts: dict[str, int]) -> str:
    return " ".join(f"{b}:{c}" for b, c in sorted(counts.items(), key=lambda x: (-x[1], x[0])))


def write(path: Path, lines: list[str]) -> str:
    """Gzip with a fixed mtime, so the build is reproducible byte for byte."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
        f.write(("\n".join(lines) + "\n").encode())
    data = path.read_bytes()
    return f"{path}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"


if __name__ == "__main__":
    main()
