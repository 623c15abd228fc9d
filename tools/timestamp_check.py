#!/usr/bin/env python3
"""How well Whisper's word timestamps measure word durations, against speech whose timing is known.

Each utterance of a manifest is transcribed as the sender does; the joe voice speaks that
transcript at its own pace, which gives every word's exact span; the recogniser then times the
synthesized words as ``telephrase bench`` times the received speech.  The correlation between
exact and measured word durations bounds the benchmark's ``duration_corr``: it compares two such
measurements (of the sender's speech and of the receiver's), so even a receiver that reproduced
every word's length exactly would score about the square of this figure::

    tools/timestamp_check.py --corpus ../shared/corpus/manifest.tsv --json out/timestamps.json

Words that espeak joins with a neighbour ("of a") or splits (numbers) have no exact span of
their own: they are skipped and counted.
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
from tqdm import tqdm

from telephrase.audio.files import STT_RATE, read_audio, resample
from telephrase.bench.corpus import read_manifest, write_json
from telephrase.bench.fidelity import align_words
from telephrase.codec.textcoder import WORD
from telephrase.config import Config
from telephrase.errors import TelephraseError
from telephrase.pipeline import Engines
from telephrase.speech.synthesize import Utterance as Speech
from telephrase.speech.transcribe import Word


def check(engines: Engines, manifest: str, limit: int | None = None, progress: bool = True) -> dict:
    """Exact and measured durations of the words of the synthesized transcripts."""
    exact: list[float] = []
    measured: list[float] = []
    skipped = 0
    synthesizer = engines.synthesizer
    for u in tqdm(read_manifest(manifest)[:limit], desc="timestamps", unit="utt", disable=not progress,
                  file=sys.stderr):
        text = engines.transcriber.transcribe(read_audio(u.path)).text
        audio, times = synthesizer.speak_timed([Speech(text)])
        truth = [Word(t, *span, 1.0) for t, span in zip(WORD.findall(text), times) if span is not None]
        skipped += len(times) - len(truth)
        timed = engines.transcriber.transcribe(resample(audio, synthesizer.rate, STT_RATE)).words
        for i, j in align_words(truth, timed):
            exact.append(truth[i].end - truth[i].start)
            measured.append(timed[j].end - timed[j].start)
    a, b = np.array(exact), np.array(measured)
    corr = float(np.corrcoef(a, b)[0, 1]) if len(a) > 2 else None
    return {
        "words": len(a),
        "skipped_words": skipped,
        "duration_corr": None if corr is None else round(corr, 3),
        "duration_corr_squared": None if corr is None else round(corr * corr, 3),
        "mean_abs_error_s": round(float(np.mean(np.abs(a - b))), 4) if len(a) else None,
        "mean_error_s": round(float(np.mean(b - a)), 4) if len(a) else None,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, metavar="MANIFEST", help="tab-separated manifest (id, path, transcript)")
    p.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N utterances")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = check(Engines(Config()), args.corpus, args.limit, not args.no_progress)
    except TelephraseError as e:
        print(f"timestamp_check: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    for key, value in result.items():
        print(f"{key:<24} {value}")
    if args.json:
        write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
