"""Options shared by several commands, and the configuration they make."""

from __future__ import annotations

import argparse
import json

from ..config import Config, load_config, replace
from ..errors import TelephraseError


def add_common(p: argparse.ArgumentParser, stt: bool = True, tts: bool = True) -> None:
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
        p.add_argument("--text-coding", choices=["lm", "neural", "brotli", "utf8"],
                       help="how the text is coded: lm (word language model, default), neural (the neural "
                       "language model, English; fewer bits, more CPU), brotli or utf8")
        p.add_argument("--context-messages", type=int, metavar="N", help="with --text-coding neural: feed the "
                       "text model this station's previous N messages (0-4; default 0); benchmarks keep one "
                       "conversation per speaker")
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


def config_from_args(args: argparse.Namespace) -> Config:
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
    put("codec.context_messages", "--context-messages")
    put("codec.pitch", "--pitch")
    put("link.mtu", "--mtu")
    put("link.fec", "--fec")
    put("link.erasure", "--erasure")
    put("auth.key_file", "--key")
    flag("auth.encrypt", "--encrypt")
    put("codec.prosody", "--prosody")
    flag("tts.follow_timing", "--natural-pace", False)
    return replace(config, labels, **sections)


def print_json(obj: dict) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def channel_config(args: argparse.Namespace):
    """A ``ChannelConfig`` from the options of ``add_channel_options``."""
    from ..link.channel import ChannelConfig

    common = dict(loss=args.loss, bandwidth_bps=args.bandwidth, latency=args.latency, seed=args.seed)
    if args.burst:
        if args.ber <= 0:
            raise TelephraseError("--burst needs an average --ber above 0")
        return ChannelConfig.gilbert_elliott(args.ber, args.burst, **common)
    return ChannelConfig(ber=args.ber, **common)
