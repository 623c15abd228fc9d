"""Languages benchmark: detection, same-language round trip, translation and bits per character.

The manifest is the corpus format with two more columns: ``language`` (what is spoken) and
``keywords`` (for speech in another language than English: English content words that a
faithful translation carries, alternatives joined by ``/``).  ``tools/samples/languages``
ships one made of synthetic speech.

For every utterance:

- **normal mode**: the sender detects the language among the manifest's languages (or the
  ones given), the payload carries it and the text is coded with that language's model; the
  receiver speaks it with a voice of that language, or, with none installed, the default voice
  (reported as such: an English voice reading another language); the recogniser, told the
  language, scores what was heard against the reference (``wer_roundtrip``), beside its score
  on the input (``wer_source``);
- **translate mode** (speech not in English): the sender sends Whisper's English translation;
  ``translation_keywords`` is the share of key words in the text sent, ``heard_keywords`` in
  what the recogniser hears from the English voice at the far end.

Bits per character are measured on text, so they do not depend on the recogniser: the
reference transcripts, or a text file per language (``--text es=FILE``: paragraphs, or the
entries of a fortune-cookie file); every language with its own model, and English with the
same kind of model (words and spelling, no word pairs) and with its whole model.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from ..audio.files import STT_RATE, read_audio, resample
from ..codec.message import Message, Phrase
from ..codec.payload import TextCoding, encode_payload
from ..config import replace
from ..errors import TelephraseError
from ..link.base import MemoryLink
from ..pipeline import Engines, round_trip
from .corpus import read_rows
from .normalize import normalize, word_errors

MAX_TEXTS = 500


def keyword_recall(keywords: str, text: str) -> tuple[int, int]:
    """(key words found, key words) in ``text``; a key word is found when any of its
    ``/``-separated forms is one of the text's normalised words."""
    words = set(normalize(text).split())
    wanted = [k.split("/") for k in keywords.split()]
    return sum(any(form in words for form in forms) for forms in wanted), len(wanted)


def read_texts(path: str | Path) -> list[str]:
    """The messages of a text file: fortune-cookie entries (between ``%`` lines) or
    paragraphs, whitespace collapsed, those of 20 to 400 characters; at most ``MAX_TEXTS``,
    spread evenly over the file."""
    try:
        raw = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise TelephraseError(f"cannot read {path}: {e.strerror}") from None
    entries = re.split(r"^%$", raw, flags=re.M) if re.search(r"^%$", raw, flags=re.M) else re.split(r"\n\s*\n", raw)
    texts = [t for t in (" ".join(e.split()) for e in entries) if 20 <= len(t) <= 400]
    step = max(1, len(texts) // MAX_TEXTS)
    return texts[::step][:MAX_TEXTS]


def text_bits_per_char(engines: Engines, texts: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Bits per character of ``(language, text)`` messages, by language and model: the
    language's own, English's without word pairs (the same kind as the others'), and the
    configured English model (the escape path) for the other languages."""
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for language, text in texts:
        text = " " + text.strip()
        message = Message((Phrase(text),), language)
        own = engines.word_model_for(language)
        models = {"own": own} if own is not None else {}
        if own is not None and own.bigrams is not None:
            models["own_without_pairs"] = dataclasses.replace(own, bigrams=None)
        models["english_model"] = engines.word_model
        for name, model in models.items():
            data = encode_payload(message, TextCoding.LM, False, model, own_model=name != "english_model")
            totals[(language, name)][0] += 8 * (len(data) - 1)
            totals[(language, name)][1] += len(text.strip())
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for (language, name), (bits, chars) in sorted(totals.items()):
        out[language][name] = round(bits / chars, 3)
        out[language]["chars"] = chars
    return dict(out)


def _heard(engines: Engines, audio, rate: int, language: str) -> str:
    """What the recogniser, told the language, hears in the far end's audio."""
    transcriber = engines.transcriber.with_config(replace(engines.config, stt={"language": language,
                                                                                "translate": False}).stt)
    return transcriber.transcribe(resample(audio, rate, STT_RATE)).text if len(audio) else ""


def run_language_bench(engines: Engines, manifest: str | Path, languages: str | None = None,
                       progress: bool = True, texts: dict[str, Path] | None = None) -> dict:
    """``texts``: a text file per language whose bits per character are measured instead of
    the manifest's transcripts' (more text than a few sentences)."""
    rows = read_rows(manifest, {"id", "path", "transcript", "language", "keywords"})
    if languages is None:
        languages = ",".join(sorted({r["language"] for r in rows}))
    normal = engines.derived(replace(engines.config, stt={"languages": languages, "translate": False},
                                     tts={"speak_unknown_languages": True}))
    translating = engines.derived(replace(engines.config, stt={"languages": languages, "translate": True}))
    results = []
    for row in tqdm(rows, desc="bench-languages", unit="utt", disable=not progress, file=sys.stderr):
        audio = read_audio(row["path"])
        language = row["language"]
        result: dict = {"id": row["id"], "language": language, "seconds": round(len(audio) / STT_RATE, 3)}
        try:
            rt = round_trip(normal, audio, MemoryLink())
        except TelephraseError as e:
            results.append(result | {"error": str(e)})
            continue
        t = rt.transmission
        voice = normal.voices.for_language(t.message.language)
        heard = _heard(engines, rt.audio, rt.rate, t.message.language or language)
        result |= {
            "detected": t.transcript.language, "transcript": t.message.text, "heard": heard,
            "voice": voice.name if voice else f"{engines.synthesizer.voice_info.name} (no {t.message.language} voice)",
            "source_errors": word_errors(row["transcript"], t.message.text),
            "roundtrip_errors": word_errors(row["transcript"], heard),
            "payload_bits": 8 * len(t.payload), "onair_bits": 8 * t.onair_bytes,
            "received_language": rt.received[0].language if rt.received else None,
        }
        if language != "en":
            rt = round_trip(translating, audio, MemoryLink())
            english = rt.transmission.message.text
            heard = _heard(engines, rt.audio, rt.rate, "en")
            result |= {"translation": english, "translation_heard": heard,
                       "translation_keywords": keyword_recall(row["keywords"], english),
                       "heard_keywords": keyword_recall(row["keywords"], heard),
                       "translation_source_language": rt.received[0].source_language if rt.received else None,
                       "translation_payload_bits": 8 * len(rt.transmission.payload)}
        results.append(result)
    read = {language: read_texts(path) for language, path in (texts or {}).items()}
    sources = {language: f"{texts[language]} ({len(entries)} messages)" for language, entries in read.items()}
    coded = [(language, text) for language, entries in read.items() for text in entries]
    coded += [(r["language"], r["transcript"]) for r in rows if r["language"] not in sources]
    return {"summary": _summarise(results), "bits_per_char": text_bits_per_char(engines, coded),
            "bits_per_char_text": sources | {r["language"]: "the manifest's transcripts" for r in rows
                                             if r["language"] not in sources},
            "utterances": results}


def _ratio(pairs: list[tuple[int, int]]) -> float | None:
    total = sum(n for _, n in pairs)
    return round(sum(k for k, _ in pairs) / total, 4) if total else None


def _summarise(results: list[dict]) -> dict[str, dict]:
    by_language: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        by_language[r["language"]].append(r)
    summary = {}
    for language, group in sorted(by_language.items()):
        done = [r for r in group if "error" not in r]
        seconds = sum(r["seconds"] for r in done) or 1.0
        translated = [r for r in done if "translation" in r]
        summary[language] = {
            "utterances": len(group), "failed": len(group) - len(done),
            "detection_accuracy": round(sum(r["detected"] == language for r in done) / len(done), 4) if done else None,
            "language_received": all(r["received_language"] == r["detected"] for r in done),
            "wer_source": _ratio([r["source_errors"] for r in done]),
            "wer_roundtrip": _ratio([r["roundtrip_errors"] for r in done]),
            "payload_bps": round(sum(r["payload_bits"] for r in done) / seconds, 2),
            "onair_bps": round(sum(r["onair_bits"] for r in done) / seconds, 2),
            "voice": sorted({r["voice"] for r in done}),
            "translation_keywords": _ratio([r["translation_keywords"] for r in translated]) if translated else None,
            "heard_keywords": _ratio([r["heard_keywords"] for r in translated]) if translated else None,
            "translation_payload_bps": round(sum(r["translation_payload_bits"] for r in translated) / seconds, 2)
            if translated else None,
        }
    return summary


def format_languages(result: dict) -> str:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.0f} %"

    lines = [f"{'language':<9} {'utts':>4} {'detected':>8} {'WER src':>8} {'WER rt':>7} {'bit/s':>6} "
             f"{'bits/char':>9} {'EN bits/char':>12} {'transl. keys':>12} {'heard keys':>10}  voice"]
    bits = result["bits_per_char"]
    for language, s in result["summary"].items():
        own = bits.get(language, {}).get("own")
        english_family = bits.get("en", {}).get("own_without_pairs")
        lines.append(
            f"{language:<9} {s['utterances']:>4} {pct(s['detection_accuracy']):>8} {pct(s['wer_source']):>8} "
            f"{pct(s['wer_roundtrip']):>7} {s['payload_bps']:>6.1f} {own if own is not None else 'n/a':>9} "
            f"{english_family if english_family is not None else 'n/a':>12} {pct(s['translation_keywords']):>12} "
            f"{pct(s['heard_keywords']):>10}  {', '.join(s['voice'])}")
    for language, source in result["bits_per_char_text"].items():
        lines.append(f"bits/char of {language}: {source}, {bits[language]['chars']} characters")
    lines.append("EN bits/char: English with the same kind of model (words and spelling, no word pairs)")
    return "\n".join(lines)
