"""The voices directory: Piper voices dropped into a folder speak the messages of their language."""

import json
import logging
import os
from pathlib import Path

import pytest

from telephrase.codec.message import Message, Phrase
from telephrase.config import Config, replace
from telephrase.errors import ModelError
from telephrase.pipeline import Receiver
from telephrase.registry import Registry
from telephrase.speech.voices import VoiceBook, read_voice, registry_voice, scan_directory

from conftest import run_cli


def add_voice(folder: Path, name: str, locale: str) -> Path:
    """A voice for ``locale``: the shipped joe model (linked, not copied) with a configuration
    that declares the language and espeak-ng's pronunciation of it, as a Piper voice of that
    language would."""
    joe = registry_voice(Registry(), "piper-joe-medium")
    data = json.loads(joe.config.read_text())
    data["language"] = {"code": locale, "family": locale.split("_")[0]}
    data["espeak"] = {"voice": locale.split("_")[0]}
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(joe.onnx, folder / f"{name}.onnx")
    (folder / f"{name}.onnx.json").write_text(json.dumps(data))
    return folder / f"{name}.onnx"


def test_a_voice_is_found_by_the_language_its_configuration_declares(tmp_path):
    add_voice(tmp_path, "es_ES-test-medium", "es_ES")
    book = VoiceBook(registry_voice(Registry(), "piper-joe-medium"), tmp_path)
    assert book.for_language("es").name == "es_ES-test-medium"
    assert book.for_language("es").locale == "es_ES" and book.for_language("es").sample_rate == 22050
    assert book.for_language("en").origin == "registry"
    assert book.for_language("") == book.default
    assert book.for_language("fr") is None


def test_a_voice_added_while_running_is_picked_up(tmp_path):
    book = VoiceBook(registry_voice(Registry(), "piper-joe-medium"), tmp_path / "voices")
    assert book.for_language("fr") is None
    add_voice(tmp_path / "voices", "fr_FR-test-medium", "fr_FR")
    assert book.for_language("fr").name == "fr_FR-test-medium"


def test_incomplete_or_broken_voices_are_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "lonely.onnx").write_bytes(b"")
    (tmp_path / "broken.onnx").write_bytes(b"")
    (tmp_path / "broken.onnx.json").write_text("{not json")
    with caplog.at_level(logging.WARNING):
        assert scan_directory(tmp_path) == []
    assert "lonely.onnx.json is missing" in caplog.text and "broken.onnx.json" in caplog.text
    with pytest.raises(ModelError, match="names no language"):
        (tmp_path / "quiet.onnx.json").write_text(json.dumps({"audio": {"sample_rate": 16000}}))
        read_voice(tmp_path / "quiet.onnx", tmp_path / "quiet.onnx.json", "quiet", str(tmp_path))


def test_voices_command_lists_them(tmp_path):
    add_voice(tmp_path, "de_DE-test-medium", "de_DE")
    result = run_cli("voices", "--voices-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("piper-joe-medium") and "English (en)" in lines[0] and "(default)" in lines[0]
    assert lines[1].startswith("de_DE-test-medium") and "German (de)" in lines[1] and str(tmp_path) in lines[1]


def test_receiver_speaks_a_message_with_the_voice_of_its_language(engines, tmp_path):
    add_voice(tmp_path, "es_ES-test-medium", "es_ES")
    config = replace(Config(), tts={"voices_dir": str(tmp_path)})
    receiver = Receiver(config, engines.derived(config))
    message = Message((Phrase(" Hola, buenos días."),), "es")
    audio = receiver.speak(message)
    voice = receiver.engines.synthesizer_for("es")
    assert voice.voice_info.name == "es_ES-test-medium"
    assert audio is not None and len(audio) > 0.5 * engines.synthesizer.rate
    # Spanish pronunciation: "días" read by espeak-ng's Spanish, not its English
    assert voice._sentences(message.text)[0].ids != engines.synthesizer._sentences(message.text)[0].ids


def test_without_a_voice_the_message_is_text_only_unless_configured(engines, tmp_path, caplog):
    message = Message((Phrase(" Bonjour à tous."),), "fr")
    config = replace(Config(), tts={"voices_dir": str(tmp_path)})
    with caplog.at_level(logging.WARNING):
        assert Receiver(config, engines.derived(config)).speak(message) is None
    assert "no voice for French (fr)" in caplog.text and "Bonjour à tous." in caplog.text
    config = replace(config, tts={"speak_unknown_languages": True})
    receiver = Receiver(config, engines.derived(config))
    audio = receiver.speak(message)
    assert audio is not None and len(audio) > 0.3 * engines.synthesizer.rate
    assert receiver.engines.synthesizer_for("fr") is engines.synthesizer
