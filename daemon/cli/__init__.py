"""The ``telephrase`` command: one module per group of subcommands, each with its own
argument parsing."""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from ..errors import TelephraseError
from ..station.memory import limit_arenas
from . import admin, bench, files, station


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telephrase",
        description="Speech over links too thin for any voice codec: speech is transcribed, sent as a few "
        "bytes of text and timing, and spoken again at the far end.",
    )
    parser.add_argument("--version", action="version", version=f"telephrase {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (files, bench, station, admin):
        group.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    limit_arenas()
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if level > logging.INFO:
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    try:
        return args.func(args)
    except TelephraseError as e:
        print(f"telephrase: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
