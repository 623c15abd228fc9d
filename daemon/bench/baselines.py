"""Baseline: the same corpus through Codec2, scored by the same recogniser as ``bench``.

Codec2 is the usual low-bit-rate voice codec on radio links, so it is what telephrase's bit rate
and intelligibility are compared with.  Each utterance is resampled to 8 kHz, coded and decoded
by Debian's ``c2enc`` and ``c2dec`` (headerless bit streams over pipes), resampled back to 16 kHz
and transcribed; the original audio is transcribed in the same run, so the ``source`` row is the
recogniser's floor measured on the same machine and model.

Bit rates are as filed: the size of what ``c2enc`` writes over the audio's duration.  ``c2enc``
stores every frame in whole bytes, so a mode whose frame is not a multiple of eight bits costs
more than its name says (700C's 28-bit frames take 4 bytes: 800 bit/s; 1300's 52 bits take 7:
1400 bit/s), and a radio link would send the same bytes unless it packs the bits itself.
WER is corpus-level, as in ``bench``: errors summed over all utterances over the summed number
of reference words.
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..audio.files import STT_RATE, read_audio, resample
from ..errors import TelephraseError
from ..pipeline import Engines
from .corpus import Utterance
from .normalize import word_errors

CODEC2_RATE = 8000
"""Sample rate of the raw audio ``c2enc`` reads and ``c2dec`` writes."""


@dataclass(frozen=True)
class Mode:
    frame_samples: int
    """Samples per Codec2 frame at 8 kHz: ``c2enc`` drops a trailing partial frame."""
    nominal_bps: int
    """The rate the mode is named after, before ``c2enc`` rounds each frame up to whole bytes."""


MODES = {
    "3200": Mode(160, 3200),
    "2400": Mode(160, 2400),
    "1600": Mode(320, 1600),
    "1400": Mode(320, 1400),
    "1300": Mode(320, 1300),
    "1200": Mode(320, 1200),
    "700C": Mode(320, 700),
    "450": Mode(320, 450),
}
"""The Codec2 modes whose decoder writes 8 kHz audio (450PWB and WB write 16 kHz)."""


class Codec2Error(TelephraseError):
    """``c2enc`` or ``c2dec`` is missing, refused the mode or failed."""


def _codec2(program: str, mode: str, data: bytes) -> bytes:
    """Run ``program MODE - -`` with ``data`` on stdin and return its stdout."""
    try:
        done = subprocess.run([program, mode, "-", "-"], input=data, capture_output=True, check=False)
    except FileNotFoundError:
        raise Codec2Error(f"{program} not found: install Debian's codec2 package: apt-get install codec2") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise Codec2Error(f"{program} {mode} failed: {message[-1] if message else f'exit status {done.returncode}'}")
    return done.stdout


def codec2_round_trip(audio16k: np.ndarray, mode: str) -> tuple[np.ndarray, int]:
    """Code and decode 16 kHz ``audio16k`` with Codec2 ``mode``.

    Returns the decoded audio at 8 kHz, exactly as long as the input resampled to 8 kHz, and the
    number of encoded bytes.  The input is padded with silence to whole frames first, so the
    end of the speech is coded rather than dropped, and the padding's bytes are counted because
    a sender would transmit them too.
    """
    if mode not in MODES:
        raise Codec2Error(f"unknown Codec2 mode '{mode}' (choose from {', '.join(MODES)})")
    audio = resample(audio16k, STT_RATE, CODEC2_RATE)
    frame = MODES[mode].frame_samples
    padded = np.zeros(math.ceil(len(audio) / frame) * frame, dtype=np.float32)
    padded[: len(audio)] = audio
    pcm = (np.clip(padded, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
    bits = _codec2("c2enc", mode, pcm)
    decoded = np.frombuffer(_codec2("c2dec", mode, bits), dtype="<i2").astype(np.float32) / 32768.0
    return decoded[: len(audio)], len(bits)


def run_baselines(engines: Engines, utterances: list[Utterance], modes: tuple[str, ...] = ("3200", "1200", "700C"),
                  progress: bool = True) -> dict:
    """Transcribe every utterance as recorded and after each Codec2 mode; score them all.

    Each file is read once and goes through every mode before the next, so a missing ``c2enc``
    or a bad mode stops the run after one utterance rather than after the whole source pass.
    """
    transcriber = engines.transcriber
    ref_words = 0
    seconds = 0.0
    errors = dict.fromkeys(("source", *modes), 0)
    encoded = dict.fromkeys(modes, 0)
    rows = []
    with tqdm(total=len(utterances) * (1 + len(modes)), desc="baselines", unit="asr", disable=not progress,
              file=sys.stderr) as bar:
        for u in utterances:
            audio = read_audio(u.path)
            length = len(audio) / STT_RATE
            heard = transcriber.transcribe(audio).text
            source_errors, n = word_errors(u.transcript, heard)
            bar.update()
            ref_words += n
            seconds += length
            errors["source"] += source_errors
            row = dict(id=u.id, seconds=round(length, 2), words=n,
                       source=dict(wer=round(source_errors / max(n, 1), 4), heard=heard), codec2={})
            for mode in modes:
                decoded, size = codec2_round_trip(audio, mode)
                heard = transcriber.transcribe(resample(decoded, CODEC2_RATE, STT_RATE)).text
                mode_errors, _ = word_errors(u.transcript, heard)
                bar.update()
                errors[mode] += mode_errors
                encoded[mode] += size
                row["codec2"][mode] = dict(bytes=size, bps=round(8 * size / length, 1),
                                           wer=round(mode_errors / max(n, 1), 4), heard=heard)
            rows.append(row)
    stt = engines.config.stt
    return {
        "summary": {
            "utterances": len(utterances),
            "seconds": round(seconds, 2),
            "reference_words": ref_words,
            "stt_model": stt.model,
            "beam_size": stt.beam_size,
            "compute_type": stt.compute_type,
        },
        "source": {"wer": round(errors["source"] / max(ref_words, 1), 4)},
        "codec2": {
            mode: {
                "wer": round(errors[mode] / max(ref_words, 1), 4),
                "bps": round(8 * encoded[mode] / (seconds or 1.0), 1),
                "nominal_bps": MODES[mode].nominal_bps,
                "bytes": encoded[mode],
            }
            for mode in modes
        },
        "utterances": rows,
    }


def format_baselines(result: dict) -> str:
    """One line per system: bit rate as filed, the mode's nominal rate, corpus WER."""
    s = result["summary"]
    lines = [
        f"{s['utterances']} utterances, {s['seconds']:.1f} s of speech, {s['reference_words']} words; "
        f"{s['stt_model']} ({s['compute_type']}, beam {s['beam_size']})",
        "",
        f"{'system':<14} {'bit/s':>7} {'nominal':>7} {'WER':>7}",
        f"{'source':<14} {'-':>7} {'-':>7} {100 * result['source']['wer']:>6.1f}%",
    ]
    for mode, r in result["codec2"].items():
        lines.append(f"{'codec2 ' + mode:<14} {r['bps']:>7.1f} {r['nominal_bps']:>7} {100 * r['wer']:>6.1f}%")
    return "\n".join(lines)
