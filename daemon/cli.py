"""The ``telephrase`` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .config import Config, load_config, replace
from .errors import TelephraseError

log = logging.getLogger("telephrase")


def _add_common(p: argparse.ArgumentParser, stt: bool = True, tts: bool = True) -> None:
    p.add_argument("--config", metavar="TOML", help="configuration file (default: built-in defaults)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    if stt:
        p.add_argument("--stt-model", metavar="NAME", help="speech recognition model from the registry "
                       "(whisper-base, whisper-tiny.en)")
        p.add_argument("--beam-size", type=int, metavar="N", help="recogniser beam size (default 5)")
        p.add_argument("--language", metavar="CODE", help="spoken language (default: detect)")
        p.add_argument("--text-coding", choices=["brotli", "utf8"], help="how the text is coded (default brotli)")
        p.add_argument("--no-timing", action="store_true", help="send no phrase timing (text only)")
        p.add_argument("--mtu", type=int, metavar="BYTES", help="largest frame on air (default 237)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads per model (default: all cores)")
    if tts:
        p.add_argument("--natural-pace", action="store_true",
                       help="speak at the voice's own pace instead of the sender's timing")


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    sections: dict[str, dict] = {}

    def put(section: str, key: str, value) -> None:
        if value is not None:
            sections.setdefault(section, {})[key] = value

    put("stt", "model", getattr(args, "stt_model", None))
    put("stt", "beam_size", getattr(args, "beam_size", None))
    put("stt", "language", getattr(args, "language", None))
    put("stt", "threads", getattr(args, "threads", None))
    put("tts", "threads", getattr(args, "threads", None))
    put("codec", "text", getattr(args, "text_coding", None))
    put("link", "mtu", getattr(args, "mtu", None))
    if getattr(args, "no_timing", False):
        put("codec", "timing", False)
    if getattr(args, "natural_pace", False):
        put("tts", "follow_timing", False)
    return replace(config, **sections)


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def cmd_loopback(args: argparse.Namespace) -> int:
    from .audio import read_audio, write_wav
    from .link import MemoryLink
    from .pipeline import Engines, round_trip

    engines = Engines(_config(args))
    audio = read_audio(args.input)
    try:
        rt = round_trip(engines, audio, MemoryLink())
    except TelephraseError as e:
        raise TelephraseError(f"{args.input}: {e}") from None
    write_wav(args.output, rt.audio, rt.rate)
    report = rt.report() | {"output": str(args.output)}
    if args.json:
        _print_json(report)
    else:
        print(f"transcript : {report['transcript']}")
        print(f"received   : {report['received']} ({'exact' if report['delivered_exactly'] else 'NOT exact'})")
        print(f"speech     : {report['seconds']:.2f} s in, {report['output_seconds']:.2f} s out, "
              f"{report['words']} words, language {report['language']}")
        print(f"payload    : {report['payload_bytes']} bytes = {report['payload_bps']:.1f} bit/s")
        print(f"on air     : {report['onair_bytes']} bytes in {report['frames']} frame(s) = "
              f"{report['onair_bps']:.1f} bit/s (headers and CRC included)")
        print(f"compute    : recognition {report['stt_seconds']:.2f} s, synthesis {report['tts_seconds']:.2f} s")
        print(f"wrote      : {args.output}")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from .audio import read_audio
    from .pipeline import Engines, Sender

    engines = Engines(_config(args))
    audio = read_audio(args.input)
    try:
        t = Sender(engines.config, engines.transcriber).transmit(audio)
    except TelephraseError as e:
        raise TelephraseError(f"{args.input}: {e}") from None
    Path(args.output).write_bytes(b"".join(t.frames))
    seconds = t.transcript.seconds
    report = {
        "transcript": t.message.text, "language": t.transcript.language, "seconds": round(seconds, 3),
        "payload_bytes": len(t.payload), "onair_bytes": t.onair_bytes, "frames": len(t.frames),
        "payload_bps": round(8 * len(t.payload) / seconds, 2), "onair_bps": round(8 * t.onair_bytes / seconds, 2),
        "stt_seconds": round(t.transcript.compute_seconds, 3), "output": str(args.output),
    }
    if args.json:
        _print_json(report)
    else:
        print(f"{report['transcript']}")
        print(f"{args.output}: {t.onair_bytes} bytes on air in {len(t.frames)} frame(s), "
              f"{report['onair_bps']:.1f} bit/s for {seconds:.2f} s of speech")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    import numpy as np

    from .audio import write_wav
    from .framing import StreamStats, split_stream
    from .pipeline import Engines, Receiver

    path = Path(args.input)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TelephraseError(f"{path}: {e.strerror}") from None
    stream = StreamStats()
    frames = split_stream(data, stream)
    engines = Engines(_config(args))
    receiver = Receiver(engines.config, engines)
    messages = [m for f in frames if (m := receiver.accept(f.to_bytes())) is not None]
    if not messages:
        raise TelephraseError(
            f"{path}: no complete message in {len(data)} bytes ({stream.frames} valid frames, "
            f"{stream.skipped_bytes} bytes damaged or not telephrase frames)"
        )
    audio = np.concatenate([receiver.speak(m) for m in messages])
    write_wav(args.output, audio, engines.synthesizer.rate)
    report = {
        "messages": [m.text for m in messages], "frames": stream.frames,
        "damaged_bytes": stream.skipped_bytes, "incomplete_messages": receiver.reassembler.incomplete,
        "output_seconds": round(len(audio) / engines.synthesizer.rate, 3), "output": str(args.output),
    }
    if args.json:
        _print_json(report)
    else:
        for text in report["messages"]:
            print(text)
        if stream.skipped_bytes or receiver.reassembler.incomplete:
            print(f"warning: {stream.skipped_bytes} damaged bytes skipped, "
                  f"{receiver.reassembler.incomplete} message(s) incomplete", file=sys.stderr)
        print(f"wrote {args.output} ({report['output_seconds']:.2f} s)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_table, read_manifest, run_bench, write_json
    from .pipeline import Engines

    utterances = read_manifest(args.corpus)[: args.limit]
    engines = Engines(_config(args))
    result = run_bench(engines, utterances, progress=not args.no_progress)
    print(format_table(result))
    print(json.dumps(result["summary"]))
    if args.json:
        write_json(result, args.json)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .registry import Registry

    registry = Registry(_config(args).models)
    failures = 0
    for name in registry.names():
        entry = registry.entry(name)
        if args.prepare:
            try:
                state = f"ok    {registry.resolve(name).directory}"
            except TelephraseError as e:
                failures += 1
                state = f"FAIL  {e}"
        else:
            state = f"{', '.join(entry.packages)}  [{entry.license}]"
        print(f"{name:<17} {entry.role:<4} {state}")
    if not args.prepare:
        print(f"(registry {registry.path}; run 'telephrase models --prepare' to verify and assemble)")
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telephrase",
        description="Speech over links too thin for any voice codec: speech is transcribed, sent as a few "
        "bytes of text and timing, and spoken again at the far end.",
    )
    parser.add_argument("--version", action="version", version=f"telephrase {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("loopback", help="send a recording through the whole path in one process",
                       description="Transcribe IN, code it, frame it, pass it over an in-memory link, "
                       "decode it and speak it into OUT.wav; print what it took.")
    p.add_argument("input", metavar="IN", help="audio file (wav, flac, ogg, mp3; any rate)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="where to write the received speech")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _add_common(p)
    p.set_defaults(func=cmd_loopback)

    p = sub.add_parser("encode", help="turn a recording into on-air bytes (.tph)",
                       description="Transcribe IN and write exactly the bytes that would go on air to FILE.tph.")
    p.add_argument("input", metavar="IN", help="audio file (wav, flac, ogg, mp3; any rate)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.tph")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _add_common(p, tts=False)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="speak the messages in a .tph file",
                       description="Check and reassemble the frames in FILE.tph and speak every complete "
                       "message into OUT.wav; damaged frames are skipped and counted, never spoken.")
    p.add_argument("input", metavar="FILE.tph")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _add_common(p, stt=False)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("bench", help="round-trip a whole corpus and report WER and bit rates",
                       description="Run every utterance of a manifest (tab-separated: id, path, transcript, ...) "
                       "through the round trip and report corpus-level WER, bit rates and real-time factors.")
    p.add_argument("--corpus", required=True, metavar="MANIFEST", help="manifest.tsv")
    p.add_argument("--json", metavar="OUT.json", help="also write all figures, per utterance, to this file")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N utterances")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_common(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("models", help="list the model registry; --prepare verifies and assembles",
                       description="List the models telephrase knows, or with --prepare check every file's "
                       "sha256 and reassemble split models into the cache.")
    p.add_argument("--prepare", action="store_true", help="verify every model and assemble split ones")
    p.add_argument("--config", metavar="TOML", help="configuration file")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    sys.exit(main())
