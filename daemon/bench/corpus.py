"""Corpus benchmark: every utterance of a manifest through the whole round trip.

The manifest is tab-separated with a header row and at least the columns ``id``, ``path``
(relative to the manifest) and ``transcript``; quoting is off, since transcripts contain quote
marks.  Figures are corpus-level: word errors and bits are summed over all utterances before
dividing, so long and short utterances weigh by their size.

``wer_source`` scores the recogniser on the original audio against the reference; it is the
floor for ``wer_roundtrip``, which scores the same recogniser on the resynthesized audio.
"""

from __future__ import annotations

import csv
import json
import math
import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..audio.files import STT_RATE, read_audio, resample
from ..codec.message import Message, Phrase
from ..codec.payload import MEDIAN_BINS, TextCoding, encode_payload, header_bytes
from ..codec.textcoder import WORD
from ..errors import TelephraseError
from ..link.base import MemoryLink
from ..pipeline import Engines, Receiver, Sender, round_trip, text_coding
from ..pipeline import utterances as speech_of
from ..speech.synthesize import Synthesizer
from ..speech.synthesize import Utterance as Speech
from ..speech.transcribe import Word
from .fidelity import FidelityPairs
from .normalize import word_errors

VOICE_PROFILE_BITS = math.log2(MEDIAN_BINS + 1)
"""Code space of the voice profile (the median pitch, coded uniformly), counted as voice."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    id: str
    path: Path
    transcript: str
    speaker: str = ""
    """Who speaks it (the manifest's optional ``speaker`` column): one conversation each."""


def read_rows(path: str | Path, columns: set[str]) -> list[dict[str, str]]:
    """A manifest's rows, each with ``path`` made relative to the working folder; refuses a
    manifest without ``columns``."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as e:
        raise TelephraseError(f"cannot read manifest {path}: {e.strerror}") from None
    missing = columns - set(rows[0] if rows else ())
    if missing:
        raise TelephraseError(f"manifest {path} lacks column(s) {', '.join(sorted(missing))}")
    return [r | {"path": str(path.parent / r["path"])} for r in rows]


def read_manifest(path: str | Path) -> list[Utterance]:
    return [Utterance(r["id"], Path(r["path"]), r["transcript"], r.get("speaker", ""))
            for r in read_rows(path, {"id", "path", "transcript"})]


def run_bench(engines: Engines, utterances: list[Utterance], progress: bool = True) -> dict:
    rows = []
    totals = dict(ref_words=0, src_errors=0, rt_errors=0, seconds=0.0, out_seconds=0.0, payload_bytes=0,
                  onair_bytes=0, header_bytes=0.0, text_bytes=0.0, timing_bytes=0, chars=0, bare_bytes=0, bare_chars=0, stt_seconds=0.0, tts_seconds=0.0, failed=0)
    voice_bits = 0.0
    coding = text_coding(engines.config)
    words = engines.word_model if coding in (TextCoding.LM, TextCoding.NEURAL) else None
    neural = engines.neural_text if coding is TextCoding.NEURAL else None
    plain_voice = Synthesizer(replace(engines.config.tts, follow_timing=False), engines.registry)
    fidelity_on, fidelity_off = FidelityPairs(engines.pitch_tracker), FidelityPairs(engines.pitch_tracker)
    exact_on, exact_off = FidelityPairs(), FidelityPairs()
    conversations: dict[str, tuple[Sender, Receiver]] = {}
    for u in tqdm(utterances, desc="bench", unit="utt", disable=not progress, file=sys.stderr):
        audio = read_audio(u.path)
        seconds = len(audio) / STT_RATE
        pair = None
        if engines.config.codec.context_messages:
            pair = conversations.setdefault(u.speaker, (Sender(engines.config, engines),
                                                        Receiver(engines.config, engines)))
        context = pair[0].context() if pair is not None else ()
        carry = pair[0].carry() if pair is not None else None
        try:
            rt = round_trip(engines, audio, MemoryLink(), pair)
        except TelephraseError as e:
            log.warning("%s: %s", u.id, e)
            errors, n = word_errors(u.transcript, "")
            totals.update(failed=totals["failed"] + 1, ref_words=totals["ref_words"] + n,
                          src_errors=totals["src_errors"] + errors, rt_errors=totals["rt_errors"] + errors,
                          seconds=totals["seconds"] + seconds)
            rows.append(dict(id=u.id, seconds=round(seconds, 2), error=str(e)))
            continue
        output = resample(rt.audio, rt.rate, STT_RATE)
        heard_transcript = engines.transcriber.transcribe(output)
        heard = heard_transcript.text
        source_words = rt.transmission.transcript.words
        fidelity_on.add(audio, source_words, output, heard_transcript.words)
        if len(rt.received) == 1 and rt.spoken:
            exact_on.add_durations(source_words, _spoken_words(engines.synthesizer, speech_of(rt.received[0]))[1])
        plain, exact = _spoken_words(plain_voice, [Speech(p.text) for p in rt.transmission.message.phrases])
        exact_off.add_durations(source_words, exact)
        plain = resample(plain, rt.rate, STT_RATE)
        fidelity_off.add(audio, source_words, plain, engines.transcriber.transcribe(plain).words)
        src_errors, n = word_errors(u.transcript, rt.transmission.message.text)
        rt_errors, _ = word_errors(u.transcript, heard)
        report = rt.report()
        message = rt.transmission.message
        header = header_bytes(rt.transmission.payload)
        text_bytes = text_bytes_of(encode_payload(message, coding, False, words, neural=neural, context=context,
                                                carry=carry))
        bare = " " + " ".join(WORD.findall(message.text.lower()))
        bare_bytes = text_bytes_of(encode_payload(Message((Phrase(bare),), message.language), coding, False, words,
                                                neural=neural, context=[" " + " ".join(WORD.findall(c.lower()))
                                                                        for c in context], carry=carry))
        timing_bytes = max(0, report["payload_bytes"] - header - text_bytes)
        if message.f0_median is not None or message.words:
            voice_bits += VOICE_PROFILE_BITS
        for key, value in (("ref_words", n), ("src_errors", src_errors), ("rt_errors", rt_errors),
                           ("header_bytes", header), ("text_bytes", text_bytes), ("timing_bytes", timing_bytes), ("chars", len(message.text)),
                           ("bare_bytes", bare_bytes), ("bare_chars", len(bare.strip())),
                           ("seconds", seconds), ("out_seconds", report["output_seconds"]),
                           ("payload_bytes", report["payload_bytes"]), ("onair_bytes", report["onair_bytes"]),
                           ("stt_seconds", rt.stt_seconds), ("tts_seconds", rt.tts_seconds)):
            totals[key] += value
        rows.append(dict(
            id=u.id, seconds=round(seconds, 2), words=n, payload_bytes=report["payload_bytes"],
            onair_bytes=report["onair_bytes"], onair_bps=report["onair_bps"],
            wer_source=round(src_errors / max(n, 1), 4), wer_roundtrip=round(rt_errors / max(n, 1), 4),
            delivered_exactly=report["delivered_exactly"], sent=report["transcript"], heard=heard,
        ))
    seconds = totals["seconds"] or 1.0
    summary = {
        "utterances": len(utterances),
        "failed": totals["failed"],
        "seconds": round(totals["seconds"], 2),
        "reference_words": totals["ref_words"],
        "wer_source": round(totals["src_errors"] / max(totals["ref_words"], 1), 4),
        "wer_roundtrip": round(totals["rt_errors"] / max(totals["ref_words"], 1), 4),
        "payload_bps": round(8 * totals["payload_bytes"] / seconds, 2),
        "text_bps": round(8 * totals["text_bytes"] / seconds, 2),
        "prosody_bps": round((8 * totals["timing_bytes"] - voice_bits) / seconds, 2),
        "header_bps": round(8 * totals["header_bytes"] / seconds, 2),
        "voice_bps": round(voice_bits / seconds, 2),
        "text_bits_per_char": round(8 * totals["text_bytes"] / max(totals["chars"], 1), 3),
        "text_bits_per_char_bare": round(8 * totals["bare_bytes"] / max(totals["bare_chars"], 1), 3),
        "chars_per_second": round(totals["chars"] / seconds, 2),
        "onair_bps": round(8 * totals["onair_bytes"] / seconds, 2),
        "duration_ratio": round(totals["out_seconds"] / seconds, 3),
        "rtf_stt": round(totals["stt_seconds"] / seconds, 4),
        "rtf_tts": round(totals["tts_seconds"] / seconds, 4),
        "stt_model": engines.config.stt.model,
        "beam_size": engines.config.stt.beam_size,
        "compute_type": engines.config.stt.compute_type,
        "voice": engines.config.tts.voice,
        "text_coding": engines.config.codec.text,
        "prosody": engines.config.codec.prosody,
        "context_messages": engines.config.codec.context_messages,
        "pitch": engines.config.codec.pitch,
    }
    summary |= _fidelity(fidelity_on.summary(), "") | _fidelity(fidelity_off.summary(), "_off")
    summary |= _fidelity(exact_on.summary(), "_exact", DURATION_KEYS)
    summary |= _fidelity(exact_off.summary(), "_exact_off", DURATION_KEYS)
    return {"summary": summary, "utterances": rows}


def text_bytes_of(payload: bytes) -> float:
    """A payload without timing, less its header: the text's bytes."""
    return len(payload) - header_bytes(payload)


DURATION_KEYS = ("duration_corr", "duration_corr_within", "duration_pairs")
FIDELITY_KEYS = ("f0_corr", "f0_corr_within", "f0_pairs", *DURATION_KEYS)


def _fidelity(figures: dict, suffix: str, keys: tuple[str, ...] = FIDELITY_KEYS) -> dict:
    return {k + suffix: (round(figures[k], 4) if isinstance(figures[k], float) else figures[k]) for k in keys}


def _spoken_words(synthesizer: Synthesizer, speech: list[Speech]) -> tuple[np.ndarray, list[Word]]:
    """The audio of ``speech`` and its words with their exact times: the voice is
    deterministic, so for the received message this is the audio that was heard."""
    audio, times = synthesizer.speak_timed(speech)
    tokens = [token for u in speech for token in WORD.findall(u.text)]
    return audio, [Word(token, *span, 1.0) for token, span in zip(tokens, times) if span is not None]


def format_table(result: dict) -> str:
    lines = [f"{'id':<20} {'sec':>6} {'words':>5} {'onair B':>7} {'bit/s':>7} {'WER src':>8} {'WER rt':>7}"]
    for r in result["utterances"]:
        if "error" in r:
            lines.append(f"{r['id']:<20} {r['seconds']:>6.2f}  failed: {r['error']}")
            continue
        lines.append(
            f"{r['id']:<20} {r['seconds']:>6.2f} {r['words']:>5} {r['onair_bytes']:>7} {r['onair_bps']:>7.1f} "
            f"{100 * r['wer_source']:>7.1f}% {100 * r['wer_roundtrip']:>6.1f}%"
        )
    s = result["summary"]
    lines += [
        "",
        f"{'utterances':<16} {s['utterances']} ({s['seconds']:.1f} s of speech, {s['failed']} failed)",
        f"{'wer_source':<16} {100 * s['wer_source']:.1f} %",
        f"{'wer_roundtrip':<16} {100 * s['wer_roundtrip']:.1f} %",
        f"{'payload_bps':<16} {s['payload_bps']:.1f} (text {s['text_bps']:.1f}, timing {s['prosody_bps']:.1f}, "
        f"header {s['header_bps']:.1f})",
        f"{'text bits/char':<16} {s['text_bits_per_char']:.2f} "
        f"({s['text_bits_per_char_bare']:.2f} lowercase, no punctuation)",
        f"{'f0_corr':<16} {_show(s['f0_corr'])} (within utterances {_show(s['f0_corr_within'])}); "
        f"prosody off {_show(s['f0_corr_off'])} ({_show(s['f0_corr_within_off'])})",
        f"{'duration_corr':<16} {_show(s['duration_corr'])} (within {_show(s['duration_corr_within'])}); "
        f"prosody off {_show(s['duration_corr_off'])} ({_show(s['duration_corr_within_off'])})",
        f"{'  exact output':<16} {_show(s['duration_corr_exact'])} (within {_show(s['duration_corr_within_exact'])}); "
        f"prosody off {_show(s['duration_corr_exact_off'])} ({_show(s['duration_corr_within_exact_off'])})",
        f"{'onair_bps':<16} {s['onair_bps']:.1f}",
        f"{'duration_ratio':<16} {s['duration_ratio']:.3f} (output / input)",
        f"{'rtf_stt':<16} {s['rtf_stt']:.3f}",
        f"{'rtf_tts':<16} {s['rtf_tts']:.3f}",
    ]
    return "\n".join(lines)


def _show(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def write_json(result: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
