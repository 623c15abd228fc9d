"""File mode and the desk test: ``loopback``, ``encode`` and ``decode``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import TelephraseError
from ..paths import check_input, check_output
from .options import add_channel_options, add_common, channel_config, config_from_args, print_json


def loopback_daemons(args: argparse.Namespace) -> int:
    """``loopback --daemons``: the recording spoken into one station, heard from another."""
    import tempfile

    from ..bench.stationpair import StationPair
    from ..pipeline import Engines

    check_input(args.input, "an audio file")
    check_output(args.output, "out.wav")
    engines = Engines(config_from_args(args))
    work = Path(tempfile.mkdtemp(prefix="telephrase-loopback-"))
    pair = StationPair(engines, work, Path(args.output), channel_config(args))
    try:
        exchange = pair.send(Path(args.input))
    finally:
        pair.close()
    latency = round(exchange.latency, 3) if exchange.latency is not None else None
    timeline = exchange.timeline()
    report = {"transcript": " ".join(s.message.text for s in exchange.spoken), "seconds": round(exchange.seconds, 2),
              "messages_sent": len(exchange.sent), "messages_heard": len(exchange.spoken), "latency_s": latency,
              "stages_s": {k: round(v, 3) for k, v in timeline.items()} if timeline is not None else None,
              "received_language": exchange.spoken[0].message.language if exchange.spoken else None,
              "received_source_language": exchange.spoken[0].message.source_language if exchange.spoken else None,
              "frames_lost": pair.relay.channel.stats.lost, "bits_flipped": pair.relay.channel.stats.bits_flipped,
              "output": str(args.output)}
    if args.json:
        print_json(report)
    else:
        print(f"heard      : {report['transcript']}")
        print(f"messages   : {len(exchange.sent)} sent, {len(exchange.spoken)} heard")
        print(f"latency    : {latency} s from the end of the recording to the first sound")
        print(f"wrote      : {args.output}")
    return 0


def cmd_loopback(args: argparse.Namespace) -> int:
    from ..audio.files import read_audio, write_wav
    from ..link.channel import ChannelLink
    from ..pipeline import Engines, round_trip

    if args.daemons:
        return loopback_daemons(args)
    audio = read_audio(args.input)
    check_output(args.output, "out.wav")
    engines = Engines(config_from_args(args))
    link = ChannelLink(channel_config(args))
    try:
        rt = round_trip(engines, audio, link)
    except TelephraseError as e:
        raise TelephraseError(f"{args.input}: {e}") from None
    _write(args.output, lambda: write_wav(args.output, rt.audio, rt.rate))
    channel = link.channel_stats
    report = rt.report() | {
        "output": str(args.output),
        "channel": {"ber": args.ber, "burst_bits": args.burst, "loss": args.loss, "frames_lost": channel.lost,
                    "bits_flipped": channel.bits_flipped, "air_seconds": round(channel.air_seconds, 3)},
    }
    if args.json:
        print_json(report)
    else:
        print(f"transcript : {report['transcript']}")
        print(f"received   : {report['received']} ({'exact' if report['delivered_exactly'] else 'NOT exact'})")
        print(f"speech     : {report['seconds']:.2f} s in, {report['output_seconds']:.2f} s out, "
              f"{report['words']} words, language {report['language']}"
              + (" (translated to English)" if report["translated"] else ""))
        if report["received_language"] is not None:
            print(f"far end    : language {report['received_language'] or 'not sent'}"
                  + (f", spoken {report['received_source_language']}" if report["received_source_language"] else "")
                  + ("" if report["spoken"] else " - no voice for it: delivered as text only"))
        print(f"payload    : {report['payload_bytes']} bytes = {report['payload_bps']:.1f} bit/s")
        print(f"on air     : {report['onair_bytes']} bytes in {report['frames']} frame(s) = "
              f"{report['onair_bps']:.1f} bit/s (headers and CRC included)")
        print(f"compute    : recognition {report['stt_seconds']:.2f} s, synthesis {report['tts_seconds']:.2f} s")
        if args.ber or args.loss or args.bandwidth:
            print(f"channel    : {channel.bits_flipped} bits flipped, {channel.lost} of {channel.frames} frames lost, "
                  f"{channel.air_seconds:.1f} s on air")
        print(f"wrote      : {args.output}")
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    from ..audio.files import read_audio
    from ..link.rawstream import raw_encode
    from ..pipeline import Engines, Sender

    audio = read_audio(args.input)
    if args.output != "-":
        check_output(args.output, "message.tph")
    engines = Engines(config_from_args(args))
    try:
        t = Sender(engines.config, engines).transmit(audio)
    except TelephraseError as e:
        raise TelephraseError(f"{args.input}: {e}") from None
    stream = b"".join(raw_encode(f) for f in t.frames)
    if args.output == "-":
        sys.stdout.buffer.write(stream)
        sys.stdout.buffer.flush()
    else:
        _write(args.output, lambda: Path(args.output).write_bytes(stream))
    seconds = t.transcript.seconds
    report = {
        "transcript": t.message.text, "language": t.transcript.source_language or t.transcript.language,
        "translated": bool(t.transcript.source_language), "seconds": round(seconds, 3),
        "payload_bytes": len(t.payload), "onair_bytes": t.onair_bytes, "file_bytes": len(stream),
        "frames": len(t.frames),
        "payload_bps": round(8 * len(t.payload) / seconds, 2), "onair_bps": round(8 * t.onair_bytes / seconds, 2),
        "stt_seconds": round(t.transcript.compute_seconds, 3), "output": str(args.output),
    }
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.json:
        print(json.dumps(report, ensure_ascii=False), file=out)
    else:
        print(f"{report['transcript']}", file=out)
        print(f"{args.output}: {t.onair_bytes} bytes on air in {len(t.frames)} frame(s), "
              f"{report['onair_bps']:.1f} bit/s for {seconds:.2f} s of speech", file=out)
    return 0


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    path = check_input(name, "a .tph file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise TelephraseError(f"{name}: cannot be read ({e.strerror or e})") from None


def _write(path: str, write) -> None:
    """Run ``write``; a failure (disk full, a folder removed meanwhile) is one line naming the path."""
    try:
        write()
    except OSError as e:
        raise TelephraseError(f"{path}: cannot be written ({e.strerror or e})") from None


def _refusals(receiver) -> str:
    """What the receiver dropped, for the one line that says why nothing was decoded."""
    stats = receiver.stats
    parts = [f"{stats.bad_frames} beyond repair", f"{stats.rejected} refused by authentication",
             f"{stats.bad_payloads} undecodable payload(s)"]
    if stats.refused:
        parts.append("over a bound: " + ", ".join(f"{n} {reason}" for reason, n in sorted(stats.refused.items())))
    return ", ".join(parts)


def cmd_decode(args: argparse.Namespace) -> int:
    import numpy as np

    from ..audio.files import write_wav
    from ..link.rawstream import RawStreamDecoder
    from ..pipeline import Engines, Receiver

    data = _read_input(args.input)
    check_output(args.output, "out.wav")
    stream = RawStreamDecoder()
    frames = stream.feed(data)
    engines = Engines(config_from_args(args))
    receiver = Receiver(engines.config, engines)
    messages = [m for f in frames if (m := receiver.accept(f)) is not None]
    stats = receiver.stats
    if not messages:
        raise TelephraseError(
            f"{args.input}: no complete message in {len(data)} bytes ({len(frames)} frames found, "
            f"{_refusals(receiver)}, {stream.discarded} bytes of noise)"
        )
    parts = [a for m in messages if (a := receiver.speak(m)) is not None]
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    _write(args.output, lambda: write_wav(args.output, audio, engines.synthesizer.rate))
    report = {
        "messages": [m.text for m in messages], "frames": len(frames), "bad_frames": stats.bad_frames,
        "rejected": stats.rejected, "bad_payloads": stats.bad_payloads, "refused": dict(stats.refused),
        "noise_bytes": stream.discarded, "incomplete_messages": receiver.reassembler.incomplete,
        "output_seconds": round(len(audio) / engines.synthesizer.rate, 3), "output": str(args.output),
    }
    if args.json:
        print_json(report)
    else:
        for text in report["messages"]:
            print(text)
        if stats.bad_frames or stats.rejected or stats.bad_payloads or receiver.reassembler.incomplete:
            print(f"warning: dropped, never spoken: {_refusals(receiver)}; "
                  f"{receiver.reassembler.incomplete} message(s) incomplete", file=sys.stderr)
        print(f"wrote {args.output} ({report['output_seconds']:.2f} s)")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("loopback", help="send a recording through the whole path in one process",
                       description="Transcribe IN, code it, frame it, pass it over an in-memory link, "
                       "decode it and speak it into OUT.wav; print what it took.")
    p.add_argument("input", metavar="IN", help="audio file (wav, flac, ogg, mp3; any rate)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav", help="where to write the received speech")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--daemons", action="store_true", help="run two stations (the daemon) over UDP on 127.0.0.1, "
                   "IN as the sender's microphone in real time, OUT.wav as the receiver's speaker")
    add_channel_options(p)
    add_common(p)
    p.set_defaults(func=cmd_loopback)

    p = sub.add_parser("encode", help="turn a recording into on-air bytes (.tph)",
                       description="Transcribe IN and write the frames that would go on air to FILE.tph, each in a "
                       "raw-stream record (sync word, length), exactly what a transparent modem would send.")
    p.add_argument("input", metavar="IN", help="audio file (wav, flac, ogg, mp3; any rate)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.tph", help="output file, or - for stdout")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_common(p, tts=False)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="speak the messages in a .tph file",
                       description="Check and reassemble the frames in FILE.tph and speak every complete "
                       "message into OUT.wav; damaged frames are skipped and counted, never spoken.")
    p.add_argument("input", metavar="FILE.tph", help="input file, or - for stdin")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_common(p, stt=False)
    p.set_defaults(func=cmd_decode)
