"""The text coders on a corpus's reference transcripts, alone and as conversations.

Each speaker's utterances, in manifest order, are one conversation: every message is coded
by the word model (format 4), by the neural model alone (format 6), and by the neural model
fed the speaker's previous 1 … N messages (what ``[codec] context_messages`` does).  Text
only, no timing; the bits are the payload's, header excluded.  Transcripts are given
sentence case (a corpus in capitals would otherwise measure the capitals), and each is also
measured lowercase without punctuation.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tqdm import tqdm

from ..codec.message import Message, Phrase
from ..codec.payload import TextCoding, encode_payload
from ..codec.textcoder import WORD
from ..pipeline import Engines
from .corpus import read_rows, text_bytes_of



def sentence_case(transcript: str) -> str:
    """" Transcripts in capitals" → " Transcripts in capitals", with the pronoun I."""
    text = transcript.strip().lower()
    text = re.sub(r"\bi\b", "I", text)
    return " " + text[:1].upper() + text[1:]


def bare(text: str) -> str:
    return " " + " ".join(WORD.findall(text.lower()))


def run_context(engines: Engines, manifest: str | Path, most: int = 3, progress: bool = True) -> dict:
    rows = read_rows(manifest, {"id", "transcript", "speaker"})
    neural, words = engines.neural_text, engines.word_model
    by_speaker: dict[str, list[str]] = {}
    for r in rows:
        by_speaker.setdefault(r["speaker"], []).append(sentence_case(r["transcript"]))
    ways = ["words", "neural", *(f"context{k}" for k in range(1, most + 1))]
    totals = {form: {way: [0, 0] for way in ways} for form in ("cased", "bare")}
    followers = {form: {way: [0, 0] for way in ways} for form in ("cased", "bare")}
    bar = tqdm(total=len(rows), desc="context", unit="utt", disable=not progress, file=sys.stderr)
    for texts in by_speaker.values():
        for form, shape in (("cased", str), ("bare", bare)):
            shaped = [shape(t) for t in texts]
            for i, text in enumerate(shaped):
                message = Message((Phrase(text),), "en")
                bits = {"words": _bits(encode_payload(message, TextCoding.LM, False, words)),
                        "neural": _bits(encode_payload(message, TextCoding.NEURAL, False, words, neural=neural))}
                for k in range(1, most + 1):
                    bits[f"context{k}"] = _bits(encode_payload(message, TextCoding.NEURAL, False, words, neural=neural,
                                                               context=shaped[max(0, i - k) : i]))
                chars = len(text.strip())
                for way, b in bits.items():
                    totals[form][way][0] += b
                    totals[form][way][1] += chars
                    if i:
                        followers[form][way][0] += b
                        followers[form][way][1] += chars
        bar.update(len(texts))
    bar.close()

    def rate(pair: list[int]) -> float:
        return round(pair[0] / max(pair[1], 1), 3)

    summary = {f"{form}_{way}": rate(totals[form][way]) for form in totals for way in ways}
    summary |= {f"{form}_{way}_followers": rate(followers[form][way]) for form in followers for way in ways}
    summary |= {"utterances": len(rows), "speakers": len(by_speaker),
                "followers": sum(len(t) - 1 for t in by_speaker.values())}
    return {"summary": summary, "ways": ways}


def _bits(payload: bytes) -> float:
    return 8 * text_bytes_of(payload)


def format_context(result: dict) -> str:
    s = result["summary"]
    lines = [f"{s['utterances']} utterances by {s['speakers']} speakers; {s['followers']} follow another of their "
             "speaker's (bits per character, header excluded)",
             f"{'coder':<12} {'all':>8} {'followers':>10} {'bare all':>9} {'bare fol.':>10}"]
    for way in result["ways"]:
        lines.append(f"{way:<12} {s[f'cased_{way}']:>8.3f} {s[f'cased_{way}_followers']:>10.3f} "
                     f"{s[f'bare_{way}']:>9.3f} {s[f'bare_{way}_followers']:>10.3f}")
    return "\n".join(lines)
