"""The benchmark commands: each prints a table and JSON figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import ConfigError
from .options import add_common, add_pitch_option, config_from_args, print_json


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench.corpus import format_table, read_manifest, run_bench, write_json
    from ..pipeline import Engines

    utterances = read_manifest(args.corpus)[: args.limit]
    engines = Engines(config_from_args(args))
    result = run_bench(engines, utterances, progress=not args.no_progress)
    print(format_table(result))
    print(json.dumps(result["summary"]))
    if args.json:
        write_json(result, args.json)
    return 0


def cmd_bench_latency(args: argparse.Namespace) -> int:
    from ..bench.corpus import read_manifest, write_json
    from ..bench.latency import format_latency, run_latency
    from ..pipeline import Engines

    utterances = read_manifest(args.corpus)[: args.limit]
    result = run_latency(Engines(config_from_args(args)), utterances, repeat=args.repeat, progress=not args.no_progress)
    print(format_latency(result))
    print(json.dumps(result["summary"]))
    if args.json:
        write_json(result, args.json)
    return 0


def cmd_bench_context(args: argparse.Namespace) -> int:
    from ..bench.context import format_context, run_context
    from ..bench.corpus import write_json
    from ..pipeline import Engines

    result = run_context(Engines(config_from_args(args)), args.corpus, most=args.most, progress=not args.no_progress)
    print(format_context(result))
    print(json.dumps(result["summary"]))
    if args.json:
        write_json(result, args.json)
    return 0


def cmd_bench_pitch(args: argparse.Namespace) -> int:
    from ..bench.corpus import read_manifest, write_json
    from ..bench.pitch import format_pitch, run_pitch_bench
    from ..pipeline import Engines

    config = config_from_args(args)
    if config.codec.pitch == "yin":
        raise ConfigError("bench-pitch compares a pitch model with the DSP tracker; choose a model with --pitch")
    result = run_pitch_bench(Engines(config).pitch_tracker, read_manifest(args.corpus)[: args.limit],
                             progress=not args.no_progress)
    print(format_pitch(result))
    print(json.dumps(result["summary"]))
    if args.json:
        write_json(result, args.json)
    return 0


def cmd_bench_languages(args: argparse.Namespace) -> int:
    from ..bench.corpus import write_json
    from ..bench.languages import format_languages, run_language_bench
    from ..pipeline import Engines

    texts = {}
    for item in args.text or []:
        language, _, path = item.partition("=")
        if not path:
            raise ConfigError(f"--text {item}: give LANG=FILE, for example es=/usr/share/games/fortunes/es/refranes")
        texts[language] = Path(path)
    result = run_language_bench(Engines(config_from_args(args)), args.corpus, args.languages, progress=not args.no_progress,
                                texts=texts)
    print(format_languages(result))
    print(json.dumps({"summary": result["summary"], "bits_per_char": result["bits_per_char"]}, ensure_ascii=False))
    if args.json:
        write_json(result, args.json)
    return 0


def cmd_bench_link(args: argparse.Namespace) -> int:
    from ..bench.link import format_grid, fuzz, run_grid

    config = config_from_args(args)
    result = run_grid(args.messages, config.link.mtu, args.seed, config.link.fec, progress=not args.no_progress)
    if args.fuzz:
        result["fuzz"] = fuzz(args.fuzz, args.seed, progress=not args.no_progress)
    if args.json:
        print_json(result)
    else:
        print(format_grid(result))
        if args.fuzz:
            print("fuzz:", json.dumps(result["fuzz"]))
    return 1 if result["false_accepts_total"] or result.get("fuzz", {}).get("false_accepts") else 0


def cmd_bench_direwolf(args: argparse.Namespace) -> int:
    import tempfile

    from ..bench.corpus import write_json
    from ..bench.direwolf import format_direwolf, run_direwolf_bench

    levels = tuple(float(x) for x in args.noise.split(",")) if args.noise else None
    with tempfile.TemporaryDirectory(prefix="telephrase-direwolf-") as work:
        result = run_direwolf_bench(Path(work), args.messages, args.baud, *([levels] if levels else []),
                                    seed=args.seed, fec=args.fec, progress=not args.no_progress)
    print(format_direwolf(result))
    print(json.dumps(result["rows"]))
    if args.json:
        write_json(result, args.json)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="round-trip a whole corpus and report WER and bit rates",
                       description="Run every utterance of a manifest (tab-separated: id, path, transcript, ...) "
                       "through the round trip and report corpus-level WER, bit rates and real-time factors.")
    p.add_argument("--corpus", required=True, metavar="MANIFEST", help="manifest.tsv")
    p.add_argument("--json", metavar="OUT.json", help="also write all figures, per utterance, to this file")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N utterances")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("bench-latency", help="time from key release to the first sound at the far end",
                       description="Two stations in this process over UDP on 127.0.0.1: each utterance of the "
                       "manifest is spoken into one in real time and the time from its end to the first sample "
                       "played by the other is measured; also resident memory and its growth.")
    p.add_argument("--corpus", required=True, metavar="MANIFEST", help="manifest.tsv")
    p.add_argument("--json", metavar="OUT.json", help="also write all figures to this file")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N utterances")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="send the utterances N times over "
                   "(memory steadiness over many messages)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p)
    p.set_defaults(func=cmd_bench_latency)

    p = sub.add_parser("bench-context", help="text bits per character: word model, neural model, and the neural "
                       "model fed each speaker's previous messages",
                       description="Code every reference transcript of the manifest (columns id, transcript, "
                       "speaker) with the word model, the neural model alone and the neural model after the same "
                       "speaker's previous 1 to N transcripts; report bits per character, cased and bare.")
    p.add_argument("--corpus", required=True, metavar="MANIFEST", help="manifest.tsv")
    p.add_argument("--most", type=int, default=3, choices=range(1, 5), metavar="N",
                   help="the most previous messages fed (1-4, default 3)")
    p.add_argument("--json", metavar="OUT.json", help="also write the figures to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common(p)
    p.set_defaults(func=cmd_bench_context)

    p = sub.add_parser("bench-pitch", help="the pitch model against the DSP tracker on a corpus",
                       description="Track the pitch of every utterance of a manifest with the exported pitch "
                       "model ([codec] pitch, default crepe-tiny) and with the DSP tracker (YIN), and report how "
                       "well they agree (voicing, cents, word-sized pitch) and what each costs.")
    p.add_argument("--corpus", required=True, metavar="MANIFEST", help="manifest.tsv")
    p.add_argument("--json", metavar="OUT.json", help="also write all figures, per utterance, to this file")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N utterances")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_pitch_option(p)
    add_common(p, stt=False, tts=False)
    p.set_defaults(func=cmd_bench_pitch)

    p = sub.add_parser("bench-languages", help="language detection, same-language round trip, translation and "
                       "bits per character, by language",
                       description="Each utterance of a manifest with 'language' and 'keywords' columns (the corpus "
                       "format plus those; tools/samples/languages has synthetic ones) goes through the round trip in "
                       "its own language and, when not English, in translate mode.")
    p.add_argument("--corpus", required=True, metavar="MANIFEST", help="manifest.tsv with language and keywords")
    p.add_argument("--languages", metavar="CODES", help="languages detection chooses from (default: the manifest's)")
    p.add_argument("--text", action="append", metavar="LANG=FILE", help="measure LANG's bits per character on this "
                   "text (paragraphs, or fortune-cookie entries) instead of the manifest's transcripts; repeatable")
    p.add_argument("--json", metavar="OUT.json", help="also write all figures, per utterance, to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--config", metavar="TOML", help="configuration file (default: built-in defaults)")
    p.add_argument("--voices-dir", metavar="DIR", help="folder of other Piper voices")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_bench_languages)

    p = sub.add_parser("bench-link", help="FEC settings against a simulated channel; delivery and false accepts",
                       description="Send a fixed, seeded set of payloads through the channel simulator across a "
                       "grid of bit error rates, burst and loss settings for every FEC setting, and report per cell "
                       "the messages delivered exactly, lost and falsely accepted, and the overhead.")
    p.add_argument("--json", action="store_true", help="print one JSON object (with a 'cells' list)")
    p.add_argument("--messages", type=int, default=200, metavar="N", help="messages per cell (default 200)")
    p.add_argument("--mtu", type=int, metavar="BYTES", help="largest frame on air (default 237)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fuzz", type=int, default=0, metavar="FRAMES", help="also fuzz the decoder with this many "
                   "mutated frames")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--config", metavar="TOML", help="configuration file")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_bench_link)

    p = sub.add_parser("bench-direwolf", help="messages through two Dire Wolf TNCs' AFSK modems, with noise",
                       description="Start two Dire Wolf instances joined by their audio (A's modulator into B's "
                       "demodulator, white noise mixed in at each level), send seeded telephrase messages in AX.25 "
                       "over KISS TCP and report, per noise level, the AX.25 frames Dire Wolf decoded, the messages "
                       "delivered exactly and the air time of a message. Needs direwolf (apt-get install direwolf).")
    p.add_argument("--messages", type=int, default=20, metavar="N", help="messages per noise level (default 20)")
    p.add_argument("--baud", type=int, default=1200, choices=[300, 1200], help="AFSK rate: 1200 (VHF packet) or "
                   "300 (HF)")
    p.add_argument("--fec", choices=["auto", "none", "low", "medium", "high"], default="auto",
                   help="telephrase's FEC inside the AX.25 frames: auto (default) is the "
                   "by-length choice of links without AX.25; a station in AX.25 uses none")
    p.add_argument("--noise", metavar="LEVELS", help="comma-separated noise RMS as a multiple of the signal's "
                   "(default 0,0.5,1,1.5,2)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", metavar="OUT.json", help="also write all figures to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_bench_direwolf)
