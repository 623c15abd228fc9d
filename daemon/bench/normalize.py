"""Text normalisation for scoring recognisers fairly.

Word error rate should count words that were misheard, not the recogniser's writing habits:
"Mr. Hale" and "MISTER HALE", "1998" and "nineteen ninety eight", "colour" and "color" are the
same words.  Rules: lower case; digits spelled out (years as pairs, ordinals, decimals);
common abbreviations expanded; a few British spellings made American; hyphens split words;
punctuation dropped except apostrophes inside words.
"""

from __future__ import annotations

import re
import unicodedata

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")]
_ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}
_ABBREVIATIONS = {
    "mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "vs": "versus", "etc": "et cetera",
    "ok": "okay",
}
_SPELLINGS = {
    "colour": "color", "favour": "favor", "honour": "honor", "labour": "labor", "neighbour": "neighbor",
    "harbour": "harbor", "humour": "humor", "centre": "center", "theatre": "theater", "grey": "gray",
    "realise": "realize", "recognise": "recognize", "travelled": "traveled", "jewellery": "jewelry",
    "behaviour": "behavior", "armour": "armor", "splendour": "splendor", "vigour": "vigor",
}


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (" " + _ONES[ones] if ones else "")
    for value, name in _SCALES:
        if n >= value:
            high, rest = divmod(n, value)
            return number_words(high) + " " + name + (" " + number_words(rest) if rest else "")
    raise AssertionError(n)


def _year_words(n: int) -> str:
    high, low = divmod(n, 100)
    if low == 0:
        return number_words(high) + " hundred"
    return number_words(high) + " " + ("oh " + _ONES[low] if low < 10 else number_words(low))


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def _spell_number(match: re.Match) -> str:
    digits, decimals, suffix = match.group(1).replace(",", ""), match.group(2), (match.group(3) or "").lower()
    n = int(digits)
    if suffix in ("st", "nd", "rd", "th"):
        return " " + _ordinal(number_words(n)) + " "
    if decimals is None and len(digits) == 4 and 1100 <= n <= 2099 and not 2000 <= n <= 2009:
        words = _year_words(n)
    else:
        words = number_words(n)
    if decimals is not None:
        words += " point " + " ".join(_ONES[int(d)] for d in decimals)
    return f" {words}{' ' + suffix if suffix == 's' else ''} "


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("’", "'").replace("‘", "'").replace("%", " percent ").replace("&", " and ")
    text = re.sub(r"\$(\d[\d,]*)", r"\1 dollars", text)
    text = re.sub(r"(\d[\d,]*)(?:\.(\d+))?(st|nd|rd|th|s)?\b", _spell_number, text)
    text = re.sub(r"[-–—/]", " ", text)
    text = re.sub(r"[^\w\s']", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    words = []
    for word in text.split():
        word = _ABBREVIATIONS.get(word, word)
        words.extend(_SPELLINGS.get(word, word).split())
    return " ".join(words)


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, reference words) after normalising both."""
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1], len(ref)
