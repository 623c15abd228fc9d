"""The ``telephrase`` command."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__
from .config import Config, load_config, replace
from .errors import ConfigError, TelephraseError
from .files import check_input, check_output

log = logging.getLogger("telephrase")


def _add_common(p: argparse.ArgumentParser, stt: bool = True, tts: bool = True) -> None:
    p.add_argument("--config", metavar="TOML", help="configuration file (default: built-in defaults)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    if stt:
        p.add_argument("--stt-model", metavar="NAME", help="speech recognition model from the registry "
                       "(whisper-base, whisper-tiny.en)")
        p.add_argument("--beam-size", type=int, metavar="N", help="recogniser beam size (default 5)")
        p.add_argument("--language", metavar="CODE", help="spoken language (default: detect among --languages)")
        p.add_argument("--languages", metavar="CODES", help="comma-separated languages detection chooses from "
                       "(default en; an empty string: any of Whisper's)")
        p.add_argument("--translate", action="store_true", help="send English: translate speech in another "
                       "language with Whisper (the message records the language spoken)")
        p.add_argument("--text-coding", choices=["lm", "brotli", "utf8"],
                       help="how the text is coded: lm (language model, default), brotli or utf8")
        p.add_argument("--prosody", choices=["off", "minimal", "balanced", "expressive"],
                       help="what is sent besides the text: off; minimal (phrase pauses and durations, "
                       "the default); balanced (also the speaker's median pitch and each phrase's pitch contour with "
                       "word accents); expressive (every word's pitch and duration instead)")
        add_pitch_option(p)
        p.add_argument("--mtu", type=int, metavar="BYTES", help="largest frame on air (default 237)")
        p.add_argument("--fec", choices=["auto", "none", "low", "medium", "high"],
                       help="Reed-Solomon strength per frame (default auto: by frame length)")
        p.add_argument("--erasure", type=float, metavar="RATIO",
                       help="parity fragments per data fragment against lost frames (default 0)")
    p.add_argument("--key", metavar="FILE", help="authenticate messages with this pre-shared key file "
                   "(telephrase keygen FILE)")
    p.add_argument("--encrypt", action="store_true", help="also encrypt (only where that is legal: "
                   "never on amateur bands)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads per model (default: all cores)")
    if tts:
        p.add_argument("--natural-pace", action="store_true",
                       help="speak at the voice's own pace instead of the sender's timing")
        add_voice_options(p)


def add_voice_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--voices-dir", metavar="DIR", help="folder of other Piper voices, NAME.onnx + NAME.onnx.json "
                   "(default /var/lib/telephrase/voices)")
    p.add_argument("--speak-unknown-languages", action="store_true", help="read a message in a language no voice "
                   "speaks with the default voice instead of delivering it as text only")


def add_pitch_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pitch", metavar="NAME", help="the sender's pitch tracker for word prosody: a pitch model "
                   "from the registry (crepe-tiny, the default) or yin (the DSP tracker)")


def add_channel_options(p: argparse.ArgumentParser) -> None:
    """The simulated channel's options, shared by ``loopback`` and ``tools/channel_sim.py``."""
    g = p.add_argument_group("simulated channel")
    g.add_argument("--ber", type=float, default=0.0, help="bit error rate (average, with --burst)")
    g.add_argument("--burst", type=float, default=0.0, metavar="BITS",
                   help="bursty errors (Gilbert-Elliott) with fades this many bits long on average")
    g.add_argument("--loss", type=float, default=0.0, help="probability that a frame is lost")
    g.add_argument("--bandwidth", type=float, default=0.0, metavar="BPS", help="bit rate on air (air time)")
    g.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="delay added to every frame")
    g.add_argument("--seed", type=int, default=0, help="seed of the channel's random errors")


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    sections: dict[str, dict] = {}
    labels: dict[str, str] = {}

    def put(key: str, option: str, value=None) -> None:
        """``--option`` sets ``section.key`` where given; left off, the file decides."""
        if value is None:
            value = getattr(args, option.lstrip("-").replace("-", "_"), None)
        if value is not None:
            section, name = key.split(".")
            sections.setdefault(section, {})[name] = value
            labels[key] = option

    def flag(key: str, option: str, value: bool = True) -> None:
        """A switch on the command line sets ``key``; left off, the file decides."""
        if getattr(args, option.lstrip("-").replace("-", "_"), False):
            put(key, option, value)

    put("stt.model", "--stt-model")
    put("stt.beam_size", "--beam-size")
    put("stt.language", "--language")
    put("stt.languages", "--languages")
    flag("stt.translate", "--translate")
    put("tts.voices_dir", "--voices-dir")
    flag("tts.speak_unknown_languages", "--speak-unknown-languages")
    put("stt.threads", "--threads")
    put("tts.threads", "--threads")
    put("codec.text", "--text-coding")
    put("codec.pitch", "--pitch")
    put("link.mtu", "--mtu")
    put("link.fec", "--fec")
    put("link.erasure", "--erasure")
    put("auth.key_file", "--key")
    flag("auth.encrypt", "--encrypt")
    put("codec.prosody", "--prosody")
    flag("tts.follow_timing", "--natural-pace", False)
    return replace(config, labels, **sections)


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def channel_config(args: argparse.Namespace):
    """A ``ChannelConfig`` from the options of ``add_channel_options``."""
    from .channel import ChannelConfig

    common = dict(loss=args.loss, bandwidth_bps=args.bandwidth, latency=args.latency, seed=args.seed)
    if args.burst:
        if args.ber <= 0:
            raise TelephraseError("--burst needs an average --ber above 0")
        return ChannelConfig.gilbert_elliott(args.ber, args.burst, **common)
    return ChannelConfig(ber=args.ber, **common)


def loopback_daemons(args: argparse.Namespace) -> int:
    """``loopback --daemons``: the recording spoken into one station, heard from another."""
    import tempfile

    from .pipeline import Engines
    from .stationpair import StationPair

    check_input(args.input, "an audio file")
    check_output(args.output, "out.wav")
    engines = Engines(_config(args))
    work = Path(tempfile.mkdtemp(prefix="telephrase-loopback-"))
    pair = StationPair(engines, work, Path(args.output), channel_config(args))
    try:
        exchange = pair.send(Path(args.input))
    finally:
        pair.close()
    latency = (round(exchange.spoken[0].started_at - exchange.released, 3)
               if exchange.spoken and exchange.released is not None else None)
    report = {"transcript": " ".join(s.message.text for s in exchange.spoken), "seconds": round(exchange.seconds, 2),
              "messages_sent": exchange.sent, "messages_heard": len(exchange.spoken), "latency_s": latency,
              "received_language": exchange.spoken[0].message.language if exchange.spoken else None,
              "received_source_language": exchange.spoken[0].message.source_language if exchange.spoken else None,
              "frames_lost": pair.relay.channel.stats.lost, "bits_flipped": pair.relay.channel.stats.bits_flipped,
              "output": str(args.output)}
    if args.json:
        _print_json(report)
    else:
        print(f"heard      : {report['transcript']}")
        print(f"messages   : {exchange.sent} sent, {len(exchange.spoken)} heard")
        print(f"latency    : {latency} s from the end of the recording to the first sound")
        print(f"wrote      : {args.output}")
    return 0


def cmd_loopback(args: argparse.Namespace) -> int:
    from .audio import read_audio, write_wav
    from .channel import ChannelLink
    from .pipeline import Engines, round_trip

    if args.daemons:
        return loopback_daemons(args)
    audio = read_audio(args.input)
    check_output(args.output, "out.wav")
    engines = Engines(_config(args))
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
        _print_json(report)
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
    from .audio import read_audio
    from .pipeline import Engines, Sender
    from .rawstream import raw_encode

    audio = read_audio(args.input)
    if args.output != "-":
        check_output(args.output, "message.tph")
    engines = Engines(_config(args))
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

    from .audio import write_wav
    from .pipeline import Engines, Receiver
    from .rawstream import RawStreamDecoder

    data = _read_input(args.input)
    check_output(args.output, "out.wav")
    stream = RawStreamDecoder()
    frames = stream.feed(data)
    engines = Engines(_config(args))
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
        _print_json(report)
    else:
        for text in report["messages"]:
            print(text)
        if stats.bad_frames or stats.rejected or stats.bad_payloads or receiver.reassembler.incomplete:
            print(f"warning: dropped, never spoken: {_refusals(receiver)}; "
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


def cmd_bench_latency(args: argparse.Namespace) -> int:
    from .bench import read_manifest, write_json
    from .latency import format_latency, run_latency
    from .pipeline import Engines

    utterances = read_manifest(args.corpus)[: args.limit]
    result = run_latency(Engines(_config(args)), utterances, repeat=args.repeat, progress=not args.no_progress)
    print(format_latency(result))
    print(json.dumps(result["summary"]))
    if args.json:
        write_json(result, args.json)
    return 0


def cmd_bench_pitch(args: argparse.Namespace) -> int:
    from .bench import read_manifest, write_json
    from .pipeline import Engines
    from .pitchbench import format_pitch, run_pitch_bench

    config = _config(args)
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
    from .bench import write_json
    from .langbench import format_languages, run_language_bench
    from .pipeline import Engines

    texts = {}
    for item in args.text or []:
        language, _, path = item.partition("=")
        if not path:
            raise ConfigError(f"--text {item}: give LANG=FILE, for example es=/usr/share/games/fortunes/es/refranes")
        texts[language] = Path(path)
    result = run_language_bench(Engines(_config(args)), args.corpus, args.languages, progress=not args.no_progress,
                                texts=texts)
    print(format_languages(result))
    print(json.dumps({"summary": result["summary"], "bits_per_char": result["bits_per_char"]}, ensure_ascii=False))
    if args.json:
        write_json(result, args.json)
    return 0


def cmd_bench_link(args: argparse.Namespace) -> int:
    from .linkbench import format_grid, fuzz, run_grid

    config = _config(args)
    result = run_grid(args.messages, config.link.mtu, args.seed, config.link.fec, progress=not args.no_progress)
    if args.fuzz:
        result["fuzz"] = fuzz(args.fuzz, args.seed, progress=not args.no_progress)
    if args.json:
        _print_json(result)
    else:
        print(format_grid(result))
        if args.fuzz:
            print("fuzz:", json.dumps(result["fuzz"]))
    return 1 if result["false_accepts_total"] or result.get("fuzz", {}).get("false_accepts") else 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from .auth import generate_key

    generate_key(args.file)
    print(f"wrote a new 256-bit key to {args.file} (mode 0600); copy it to the other stations over a "
          "trusted path and set [auth] key_file")
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
            print(f"{name:<26} {entry.role:<7} {state}")
            continue
        sizes = [registry.file_size(entry, f) for f in entry.files]
        state = "MISSING" if None in sizes else f"{sum(sizes) / 2**20:8.1f} MiB"
        print(f"{name:<26} {entry.role:<7} {state:>12}  {entry.license}")
        for f, size in zip(entry.files, sizes):
            print(f"    {f.path:<36} {'missing' if size is None else f'{size:>11,} B'}  sha256 {f.sha256}")
    if not args.prepare:
        print(f"(registry {registry.path}; sizes as installed; checksums are verified by "
              "'telephrase models --prepare' and before every use)")
    return 1 if failures else 0


def cmd_voices(args: argparse.Namespace) -> int:
    from .languages import describe
    from .pipeline import Engines

    engines = Engines(_config(args))
    book = engines.voices
    for voice in book.voices:
        default = "  (default)" if voice == book.default else ""
        print(f"{voice.name:<28} {describe(voice.language):<18} {voice.locale:<7} {voice.sample_rate:>6} Hz  "
              f"{voice.origin}{default}")
    folder = book.directory
    state = "not found" if folder is not None and not folder.is_dir() else "read"
    print(f"(voices directory {folder or 'none'}: {state}; a message in a language with no voice is delivered as "
          f"text{', read by the default voice' if engines.config.tts.speak_unknown_languages else ''})")
    return 0


DEFAULT_CONFIG = "/etc/telephrase/telephrase.toml"


def cmd_daemon(args: argparse.Namespace) -> int:
    from .service import install_signal_handlers, setup_logging
    from .station import Station

    setup_logging(logging.WARNING - 10 * min(args.verbose + 1, 2))
    path = args.config
    if path == DEFAULT_CONFIG and not Path(path).exists():
        log.warning("%s does not exist: running on the built-in defaults (see packaging/telephrase.toml)", path)
        path = None
    config = load_config(path)
    signals = install_signal_handlers()
    return Station(config, config_path=path).run(signals)


def cmd_devices(args: argparse.Namespace) -> int:
    from .devices import format_devices, list_devices

    print(format_devices(list_devices()))
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from .messagelog import default_path, follow, format_entry

    path = Path(args.log) if args.log else Path(load_config(args.config).daemon.message_log or default_path())
    print(f"following {path} (Ctrl-C to stop)", file=sys.stderr)
    for entry in follow(path, from_start=args.all):
        print(format_entry(entry), flush=True)
    return 0


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
    p.add_argument("--daemons", action="store_true", help="run two stations (the daemon) over UDP on 127.0.0.1, "
                   "IN as the sender's microphone in real time, OUT.wav as the receiver's speaker")
    add_channel_options(p)
    _add_common(p)
    p.set_defaults(func=cmd_loopback)

    p = sub.add_parser("encode", help="turn a recording into on-air bytes (.tph)",
                       description="Transcribe IN and write the frames that would go on air to FILE.tph, each in a "
                       "raw-stream record (sync word, length), exactly what a transparent modem would send.")
    p.add_argument("input", metavar="IN", help="audio file (wav, flac, ogg, mp3; any rate)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.tph", help="output file, or - for stdout")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _add_common(p, tts=False)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="speak the messages in a .tph file",
                       description="Check and reassemble the frames in FILE.tph and speak every complete "
                       "message into OUT.wav; damaged frames are skipped and counted, never spoken.")
    p.add_argument("input", metavar="FILE.tph", help="input file, or - for stdin")
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
    _add_common(p)
    p.set_defaults(func=cmd_bench_latency)

    p = sub.add_parser("bench-pitch", help="the pitch model against the DSP tracker on a corpus",
                       description="Track the pitch of every utterance of a manifest with the exported pitch "
                       "model ([codec] pitch, default crepe-tiny) and with the DSP tracker (YIN), and report how "
                       "well they agree (voicing, cents, word-sized pitch) and what each costs.")
    p.add_argument("--corpus", required=True, metavar="MANIFEST", help="manifest.tsv")
    p.add_argument("--json", metavar="OUT.json", help="also write all figures, per utterance, to this file")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N utterances")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_pitch_option(p)
    _add_common(p, stt=False, tts=False)
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

    p = sub.add_parser("keygen", help="create a pre-shared key file for message authentication",
                       description="Write a new random 256-bit key to FILE with mode 0600; never overwrites.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("daemon", help="run the station: microphone to radio, radio to speaker",
                       description="Transmit what the operator says while the push-to-talk key is down and speak "
                       "what the link brings, until SIGTERM; under systemd with Type=notify, watchdog and journald "
                       "logging. SIGHUP reloads the configuration.")
    p.add_argument("--config", metavar="TOML", default=DEFAULT_CONFIG, help=f"configuration file (default {DEFAULT_CONFIG}; "
                   "built-in defaults if it does not exist)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="debug log output")
    p.set_defaults(func=cmd_daemon)

    p = sub.add_parser("devices", help="list the audio devices the station can use",
                       description="List PortAudio's capture and playback devices with their index, channels, "
                       "rate and host API; [audio] input and output take an index or (part of) a name.")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_devices)

    p = sub.add_parser("monitor", help="print the station's messages as they are sent and received",
                       description="Follow the daemon's message log (JSON lines) like tail -F and print each "
                       "message: time, direction, station, text and bits.")
    p.add_argument("--log", metavar="FILE", help="message log (default: the configured or the service's)")
    p.add_argument("--all", action="store_true", help="start from the beginning of the log, not its end")
    p.add_argument("--config", metavar="TOML", help="configuration file naming the log")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser("voices", help="list the voices and the languages they speak",
                       description="List the default voice and the Piper voices in the voices directory "
                       "([tts] voices_dir): a received message is spoken by a voice of its language.")
    p.add_argument("--config", metavar="TOML", help="configuration file")
    add_voice_options(p)
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_voices)

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
