"""Voices: which Piper voice speaks a message, by the message's language.

The registry's voice (``[tts] voice``, the shipped English one) is the default.  Any other
Piper voice is a pair of files, ``NAME.onnx`` and ``NAME.onnx.json``, dropped into the voices
directory (``[tts] voices_dir``, ``/var/lib/telephrase/voices`` by default); its language is
the one its ``.onnx.json`` declares (``language.code``, else ``espeak.voice``).  The directory
is read again whenever a message arrives in a language no known voice speaks, so a voice
installed while the station runs is used from its next message on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..registry import Registry
from .languages import base_code

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Voice:
    name: str
    language: str
    """Base language code (``es``), as a message carries it."""
    locale: str
    """What the voice declares (``es_ES``), for people."""
    onnx: Path
    config: Path
    origin: str
    """``registry`` or the directory the voice was found in."""
    sample_rate: int


def read_voice(onnx: Path, config: Path, name: str, origin: str) -> Voice:
    """A voice from its files; raises ``ModelError`` naming the file when its configuration
    cannot be read."""
    try:
        with open(config, encoding="utf-8") as f:
            data = json.load(f)
        locale = (data.get("language") or {}).get("code") or (data.get("espeak") or {}).get("voice") or ""
        rate = int(data["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ModelError(f"voice {name}: cannot read {config} ({e}); it needs Piper's .onnx.json beside the .onnx") from None
    if not locale:
        raise ModelError(f"voice {name}: {config} names no language (language.code or espeak.voice)")
    return Voice(name, base_code(locale), locale, onnx, config, origin, rate)


def registry_voice(registry: Registry, name: str) -> Voice:
    model = registry.resolve(name)
    onnx = next(f.path for f in model.entry.files if f.path.endswith(".onnx"))
    return read_voice(model.file(onnx), model.file(onnx + ".json"), name, "registry")


def scan_directory(directory: Path) -> list[Voice]:
    """The voices in ``directory``, by name; a voice whose files are incomplete or unreadable
    is skipped with a warning, a missing directory holds none."""
    voices = []
    try:
        candidates = sorted(directory.glob("*.onnx"))
    except OSError as e:
        log.warning("cannot read the voices directory %s (%s)", directory, e.strerror)
        return []
    for onnx in candidates:
        config = onnx.with_name(onnx.name + ".json")
        if not config.is_file():
            log.warning("voice %s skipped: %s is missing", onnx.name, config.name)
            continue
        try:
            voices.append(read_voice(onnx, config, onnx.stem, str(directory)))
        except ModelError as e:
            log.warning("%s; skipped", e)
    return voices


class VoiceBook:
    """The default voice and the voices directory."""

    def __init__(self, default: Voice, directory: Path | None) -> None:
        self.default = default
        self.directory = directory
        self.found = scan_directory(directory) if directory else []

    @property
    def voices(self) -> list[Voice]:
        return [self.default, *self.found]

    def for_language(self, language: str) -> Voice | None:
        """The voice for a message in ``language``: a directory voice of that language (the
        operator's choice beats the default), else the default voice if it speaks it; None if
        no voice does.  A message that names no language (older payload formats) gets the
        default voice."""
        if not language:
            return self.default
        voice = self._find(language)
        if voice is None and self.directory is not None:
            self.found = scan_directory(self.directory)
            voice = self._find(language)
        return voice

    def _find(self, language: str) -> Voice | None:
        found = next((v for v in self.found if v.language == language), None)
        return found or (self.default if self.default.language == language else None)
