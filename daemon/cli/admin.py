"""Setting a station up: its key, its voices and its models."""

from __future__ import annotations

import argparse

from ..errors import TelephraseError
from .options import add_voice_options, config_from_args


def cmd_keygen(args: argparse.Namespace) -> int:
    from ..link.auth import generate_key

    generate_key(args.file)
    print(f"wrote a new 256-bit key to {args.file} (mode 0600); copy it to the other stations over a "
          "trusted path and set [auth] key_file")
    return 0


def cmd_voices(args: argparse.Namespace) -> int:
    from ..pipeline import Engines
    from ..speech.languages import describe

    engines = Engines(config_from_args(args))
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


def cmd_models(args: argparse.Namespace) -> int:
    from ..codec.lmweights import load_text_model
    from ..registry import Registry

    registry = Registry(config_from_args(args).models)
    failures = 0
    for name in registry.names():
        entry = registry.entry(name)
        if args.prepare:
            try:
                state = f"ok    {registry.resolve(name).directory}"
                if entry.role == "text-nn":
                    load_text_model(registry, name)
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keygen", help="create a pre-shared key file for message authentication",
                       description="Write a new random 256-bit key to FILE with mode 0600; never overwrites.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-v", "--verbose", action="count", default=0)
    p.set_defaults(func=cmd_keygen)

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
