#!/usr/bin/env python3
"""Codec2 baseline: a corpus manifest through Codec2 and the recogniser telephrase uses.

Prints corpus WER and bit rate per Codec2 mode next to the recogniser's WER on the original
audio, to set against ``telephrase bench`` on the same manifest::

    tools/baselines.py --corpus ../shared/corpus/manifest.tsv --json out/baselines.json

Needs ``c2enc`` and ``c2dec`` (Debian's codec2 package).
"""

from __future__ import annotations

import argparse
import logging
import sys

from telephrase.bench.baselines import MODES, format_baselines, run_baselines
from telephrase.bench.corpus import read_manifest, write_json
from telephrase.config import Config
from telephrase.errors import TelephraseError
from telephrase.pipeline import Engines


def _modes(text: str) -> tuple[str, ...]:
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in modes if m not in MODES]
    if not modes:
        raise argparse.ArgumentTypeError("no Codec2 mode given")
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown Codec2 mode(s) {', '.join(unknown)} (choose from {', '.join(MODES)})")
    return modes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", required=True, metavar="MANIFEST", help="tab-separated manifest (id, path, transcript)")
    p.add_argument("--json", metavar="OUT", help="also write the full result, per utterance, as JSON")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N utterances")
    p.add_argument("--modes", type=_modes, default=("3200", "1200", "700C"), metavar="LIST",
                   help="comma-separated Codec2 modes (default 3200,1200,700C)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        utterances = read_manifest(args.corpus)[: args.limit]
        result = run_baselines(Engines(Config()), utterances, args.modes)
    except TelephraseError as e:
        print(f"baselines: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    print(format_baselines(result))
    if args.json:
        write_json(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
